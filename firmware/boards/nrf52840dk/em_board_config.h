/* nRF52840-DK (nRF52840, Cortex-M4F at 64 MHz). Build-only: untested on hardware. */
#ifndef EM_BOARD_CONFIG_H
#define EM_BOARD_CONFIG_H

#define EM_BOARD_NAME "nrf52840dk"
#define EM_BOARD_CORE "cortex-m4"
#define EM_BOARD_CLOCK_HZ 64000000u
#define EM_UART_BAUD 115200u

#endif

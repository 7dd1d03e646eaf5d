/* NUCLEO-H743ZI (STM32H743ZI, Cortex-M7 with double-precision FPU). Build-only:
 * untested on hardware. Runs from the 64 MHz HSI as after reset (no PLL set-up). */
#ifndef EM_BOARD_CONFIG_H
#define EM_BOARD_CONFIG_H

#define EM_BOARD_NAME "nucleo-h743zi"
#define EM_BOARD_CORE "cortex-m7"
#define EM_BOARD_CLOCK_HZ 64000000u /* HSI after reset */
#define EM_UART_BAUD 115200u

#endif

/* NUCLEO-H743ZI (STM32H743ZI, Cortex-M7 with double-precision FPU). Build-only:
 * untested on hardware. Core at 480 MHz from PLL1 on the HSI (clock.c), APB at 120 MHz. */
#ifndef EM_BOARD_CONFIG_H
#define EM_BOARD_CONFIG_H

#define EM_BOARD_NAME "nucleo-h743zi"
#define EM_BOARD_CORE "cortex-m7"
#define EM_BOARD_CLOCK_HZ 480000000u /* PLL1 P output (clock.c) */
#define EM_PCLK1_HZ 120000000u       /* APB1: USART3's kernel clock (rcc_pclk1, the reset choice) */
#define EM_UART_BAUD 115200u

#endif

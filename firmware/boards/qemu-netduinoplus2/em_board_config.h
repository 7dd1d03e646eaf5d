/* Netduino Plus 2 (STM32F405RG, Cortex-M4F) as QEMU models it. */
#ifndef EM_BOARD_CONFIG_H
#define EM_BOARD_CONFIG_H

#define EM_BOARD_NAME "qemu-netduinoplus2"
#define EM_BOARD_CORE "cortex-m4"
#define EM_BOARD_CLOCK_HZ 168000000u    /* the F405's maximum SYSCLK, QEMU's nominal clock */
#define EM_STM32_USART_BASE 0x40011000u /* USART1 */
#define EM_USART_PCLK_HZ 84000000u      /* APB2 at SYSCLK/2 */
#define EM_UART_BAUD 115200u

#endif

/* MPS2 FPGA image AN500 (Cortex-M7) as QEMU models it. */
#ifndef EM_BOARD_CONFIG_H
#define EM_BOARD_CONFIG_H

#define EM_BOARD_NAME "qemu-mps2-an500"
#define EM_BOARD_CORE "cortex-m7"
#define EM_BOARD_CLOCK_HZ 25000000u     /* QEMU's MPS2 SYSCLK */
#define EM_CMSDK_UART_BASE 0x40004000u  /* UART0 */
#define EM_CMSDK_TIMER_BASE 0x40000000u /* TIMER0 */
#define EM_INSNS_PER_TIMER_TICK 40u     /* 1e9 ns / 25 MHz, at 1 ns per instruction */
#define EM_UART_BAUD 115200u

#endif

/* Board glue: the 168 MHz clock tree (stm32f4_clock.c), USART1 + TIM2 (drivers in ../common). */
#include <stdint.h>

#include "em_board.h"
#include "em_board_config.h"
#include "em_board_drivers.h"
#include "stm32f4_clock.h"

#define RCC_APB1ENR (*(volatile uint32_t *)0x40023840u)
#define RCC_APB2ENR (*(volatile uint32_t *)0x40023844u)

void em_board_init(void) {
  /* SYSCLK 168 MHz, APB2 84 MHz (the USART's EM_UART_CLOCK_HZ) first, then clock the
   * peripherals as a real F405 needs (QEMU ignores these writes). */
  (void)em_stm32f4_clock_168mhz(EM_STM32F4_RCC, EM_STM32F4_PWR, EM_STM32F4_FLASH_ACR);
  RCC_APB1ENR |= 1u << 0; /* TIM2EN */
  RCC_APB2ENR |= 1u << 4; /* USART1EN */
  em_stm32_usart_init(EM_UART_CLOCK_HZ, EM_UART_BAUD);
  em_stm32_tim2_init();
}

const char *em_board_name(void) {
  return EM_BOARD_NAME;
}
const char *em_board_core(void) {
  return EM_BOARD_CORE;
}
uint32_t em_board_clock_hz(void) {
  return EM_BOARD_CLOCK_HZ;
}

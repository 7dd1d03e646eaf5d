/*
 * STM32F4 USART (the F405's USART1 at 0x40011000; QEMU's first -serial).
 * Registers: SR 0x00 (bit7 TXE, bit5 RXNE), DR 0x04, BRR 0x08,
 * CR1 0x0C (bit13 UE, bit3 TE, bit2 RE).
 */
#include <stdint.h>

#include "em_board.h"
#include "em_board_config.h"

#define USART_SR (*(volatile uint32_t *)(EM_UART_BASE + 0x00u))
#define USART_DR (*(volatile uint32_t *)(EM_UART_BASE + 0x04u))
#define USART_BRR (*(volatile uint32_t *)(EM_UART_BASE + 0x08u))
#define USART_CR1 (*(volatile uint32_t *)(EM_UART_BASE + 0x0Cu))

#define SR_TXE (1u << 7)
#define SR_RXNE (1u << 5)
#define CR1_UE (1u << 13)
#define CR1_TE (1u << 3)
#define CR1_RE (1u << 2)

void em_stm32_usart_init(uint32_t pclk_hz, uint32_t baud) {
  USART_BRR = (pclk_hz + baud / 2u) / baud; /* 16x oversampling: mantissa.fraction */
  USART_CR1 = CR1_UE | CR1_TE | CR1_RE;
}

void em_uart_write(const uint8_t *buf, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    while (!(USART_SR & SR_TXE)) {
    }
    USART_DR = buf[i];
  }
}

int em_uart_read(uint8_t *byte) {
  if (!(USART_SR & SR_RXNE)) {
    return 0;
  }
  *byte = (uint8_t)USART_DR;
  return 1;
}

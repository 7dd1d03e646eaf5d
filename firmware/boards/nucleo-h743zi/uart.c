/*
 * USART3 on PD8 (TX) / PD9 (RX), AF7: the ST-LINK virtual COM port of the
 * NUCLEO-H743ZI. Register map from RM0433 (STM32H742/743/750/753):
 * USART3 0x40004800: CR1 0x00 (bit0 UE, bit2 RE, bit3 TE), BRR 0x0C,
 * ISR 0x1C (bit5 RXNE, bit7 TXE), RDR 0x24, TDR 0x28.
 * RCC 0x58024400: AHB4ENR 0xE0 (bit3 GPIODEN), APB1LENR 0xE8 (bit18 USART3EN).
 * GPIOD 0x58020C00: MODER 0x00, AFRH 0x24.
 * Build-only: untested on hardware.
 */
#include <stdint.h>

#include "em_board.h"
#include "em_board_config.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define RCC_AHB4ENR REG(0x580244E0u)
#define RCC_APB1LENR REG(0x580244E8u)
#define GPIOD_MODER REG(0x58020C00u)
#define GPIOD_AFRH REG(0x58020C24u)
#define USART3_CR1 REG(EM_UART_BASE + 0x00u)
#define USART3_BRR REG(EM_UART_BASE + 0x0Cu)
#define USART3_ISR REG(EM_UART_BASE + 0x1Cu)
#define USART3_RDR REG(EM_UART_BASE + 0x24u)
#define USART3_TDR REG(EM_UART_BASE + 0x28u)

void em_h7_uart_init(void) {
  RCC_AHB4ENR |= 1u << 3;   /* GPIOD */
  RCC_APB1LENR |= 1u << 18; /* USART3 */
  (void)RCC_APB1LENR;       /* read back: the clock is on before the first access */
  /* PD8, PD9: alternate function (MODER = 0b10), AF7. */
  GPIOD_MODER = (GPIOD_MODER & ~(0xFu << 16)) | (0xAu << 16);
  GPIOD_AFRH = (GPIOD_AFRH & ~0xFFu) | 0x77u;
  USART3_CR1 = 0u;
  USART3_BRR = (EM_UART_CLOCK_HZ + EM_UART_BAUD / 2u) / EM_UART_BAUD; /* kernel clock = PCLK1 */
  USART3_CR1 = (1u << 0) | (1u << 2) | (1u << 3);
}

void em_uart_write(const uint8_t *buf, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    while (!(USART3_ISR & (1u << 7))) {
    }
    USART3_TDR = buf[i];
  }
}

int em_uart_read(uint8_t *byte) {
  if (!(USART3_ISR & (1u << 5))) {
    return 0;
  }
  *byte = (uint8_t)USART3_RDR;
  return 1;
}

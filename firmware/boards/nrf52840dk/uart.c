/*
 * UART0 (the legacy, non-EasyDMA UART at 0x40002000) on P0.06 (TX) / P0.08 (RX),
 * the nRF52840-DK's J-Link virtual COM port. Register map from the nRF52840
 * Product Specification v1.x: TASKS_STARTRX 0x000, TASKS_STARTTX 0x008,
 * EVENTS_RXDRDY 0x108, EVENTS_TXDRDY 0x11C, ENABLE 0x500 (4 = UART),
 * PSEL.TXD 0x50C, PSEL.RXD 0x514, RXD 0x518, TXD 0x51C, BAUDRATE 0x524.
 * Build-only: untested on hardware.
 */
#include <stdint.h>

#include "em_board.h"
#include "em_board_config.h"

#define REG(off) (*(volatile uint32_t *)(EM_UART_BASE + (off)))
#define UART_TASKS_STARTRX REG(0x000u)
#define UART_TASKS_STARTTX REG(0x008u)
#define UART_EVENTS_RXDRDY REG(0x108u)
#define UART_EVENTS_TXDRDY REG(0x11Cu)
#define UART_ENABLE REG(0x500u)
#define UART_PSEL_TXD REG(0x50Cu)
#define UART_PSEL_RXD REG(0x514u)
#define UART_RXD REG(0x518u)
#define UART_TXD REG(0x51Cu)
#define UART_BAUDRATE REG(0x524u)

#define BAUDRATE_115200 0x01D7E000u

void em_nrf_uart_init(void) {
  UART_PSEL_TXD = 6u; /* P0.06 */
  UART_PSEL_RXD = 8u; /* P0.08 */
  UART_BAUDRATE = BAUDRATE_115200;
  UART_ENABLE = 4u;
  UART_EVENTS_RXDRDY = 0u;
  UART_EVENTS_TXDRDY = 0u;
  UART_TASKS_STARTRX = 1u;
  UART_TASKS_STARTTX = 1u;
}

void em_uart_write(const uint8_t *buf, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    UART_EVENTS_TXDRDY = 0u;
    UART_TXD = buf[i];
    while (UART_EVENTS_TXDRDY == 0u) {
    }
  }
}

int em_uart_read(uint8_t *byte) {
  if (UART_EVENTS_RXDRDY == 0u) {
    return 0;
  }
  UART_EVENTS_RXDRDY = 0u;
  *byte = (uint8_t)UART_RXD;
  return 1;
}

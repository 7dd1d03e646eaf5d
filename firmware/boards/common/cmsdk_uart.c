/*
 * ARM CMSDK APB UART (the MPS2 FPGA images' UART0, as QEMU models it).
 * Registers: DATA 0x00, STATE 0x04 (bit0 TX full, bit1 RX full),
 * CTRL 0x08 (bit0 TX enable, bit1 RX enable), BAUDDIV 0x10.
 */
#include <stdint.h>

#include "em_board.h"
#include "em_board_config.h"

#define UART_DATA (*(volatile uint32_t *)(EM_UART_BASE + 0x00u))
#define UART_STATE (*(volatile uint32_t *)(EM_UART_BASE + 0x04u))
#define UART_CTRL (*(volatile uint32_t *)(EM_UART_BASE + 0x08u))
#define UART_BAUDDIV (*(volatile uint32_t *)(EM_UART_BASE + 0x10u))

#define STATE_TX_FULL 0x1u
#define STATE_RX_FULL 0x2u
#define CTRL_TX_EN 0x1u
#define CTRL_RX_EN 0x2u

void em_cmsdk_uart_init(uint32_t pclk_hz, uint32_t baud) {
  UART_BAUDDIV = pclk_hz / baud; /* must be >= 16 */
  UART_CTRL = CTRL_TX_EN | CTRL_RX_EN;
}

void em_uart_write(const uint8_t *buf, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    while (UART_STATE & STATE_TX_FULL) {
    }
    UART_DATA = buf[i];
  }
}

int em_uart_read(uint8_t *byte) {
  if (!(UART_STATE & STATE_RX_FULL)) {
    return 0;
  }
  *byte = (uint8_t)UART_DATA;
  return 1;
}

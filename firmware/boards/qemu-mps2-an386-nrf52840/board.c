/* Board glue: CMSDK UART0 + CMSDK TIMER0 (drivers in ../common), as qemu-mps2-an386. */
#include "em_board.h"
#include "em_board_config.h"
#include "em_board_drivers.h"

void em_board_init(void) {
  em_cmsdk_uart_init(EM_UART_CLOCK_HZ, EM_UART_BAUD);
  em_cmsdk_timer_init();
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

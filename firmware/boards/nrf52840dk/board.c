/* Board glue: UART0 (./uart.c) + DWT cycle counter (../common). Build-only: untested on hardware.
 */
#include "em_board.h"
#include "em_board_config.h"
#include "em_board_drivers.h"

void em_nrf_uart_init(void);

/* NVMC ICACHECNF (nRF52840 PS, NVMC registers): CACHEEN, the flash instruction cache the memory
 * model (export/memory_model.py, NRF52840_MEMORY) assumes enabled. */
#define EM_NVMC_ICACHECNF (*(volatile uint32_t *)0x4001E540u)

void em_board_init(void) {
  EM_NVMC_ICACHECNF |= 1u; /* CACHEEN */
  em_nrf_uart_init();
  em_dwt_cycles_init();
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

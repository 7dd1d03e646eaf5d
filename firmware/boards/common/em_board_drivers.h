/* Initialisers of the shared drivers in firmware/boards/common/ (board.c calls them). */
#ifndef EM_BOARD_DRIVERS_H
#define EM_BOARD_DRIVERS_H

#include <stdint.h>

void em_cmsdk_uart_init(uint32_t pclk_hz, uint32_t baud);
void em_cmsdk_timer_init(void);
void em_stm32_usart_init(uint32_t pclk_hz, uint32_t baud);
void em_stm32_tim2_init(void);
void em_dwt_cycles_init(void);

#endif

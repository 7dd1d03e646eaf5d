/* STM32F405 168 MHz clock set-up (stm32f4_clock.c). */
#ifndef STM32F4_CLOCK_H
#define STM32F4_CLOCK_H

#include <stdint.h>

#define EM_CLOCK_NO_PLL 0  /* a ready flag never came (QEMU): the clock is unchanged */
#define EM_CLOCK_PLL_HSE 1 /* 168 MHz from the 25 MHz crystal */
#define EM_CLOCK_PLL_HSI \
  2 /* 168 MHz from the 16 MHz internal oscillator (the crystal did not start) */

/* Polls per ready flag: ~5 ms at the 16 MHz HSI the chip starts on (HSE needs ~2 ms). */
#define EM_CLOCK_WAIT_TRIES 20000u

#define EM_STM32F4_RCC ((volatile uint32_t *)0x40023800u)
#define EM_STM32F4_PWR ((volatile uint32_t *)0x40007000u)
#define EM_STM32F4_FLASH_ACR ((volatile uint32_t *)0x40023C00u)

int em_stm32f4_clock_168mhz(volatile uint32_t *rcc, volatile uint32_t *pwr,
                            volatile uint32_t *flash_acr);

#endif

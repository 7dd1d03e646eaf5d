/*
 * em_board.h -- the board support contract (owner: boards).
 *
 * Every board under firmware/boards/<board>/ implements this header; apps
 * (serial_main.c, selftest_main.c) and the generated engine use nothing else
 * of the hardware. No heap: _sbrk always fails, so any malloc returns NULL.
 *
 * Timing. em_board_ticks() is a free-running 32-bit counter; take differences
 * with unsigned arithmetic (wrap-safe for intervals under 2^32 ticks).
 *  - On QEMU boards, run with `-icount shift=0` (1 ns of virtual time per
 *    instruction), the ticks are INSTRUCTIONS executed, deterministic from run
 *    to run: em_board_ticks_are_instructions() returns 1. Report them as
 *    instructions, never as cycles or time.
 *  - On real boards the ticks are core clock cycles (DWT CYCCNT) and
 *    em_board_clock_hz() converts them to seconds.
 */
#ifndef EM_BOARD_H
#define EM_BOARD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Clocks, UART and timer; call once at the start of main(). */
void em_board_init(void);

/* Board name as in export/boards.py ("qemu-mps2-an386") and core ("cortex-m4"). */
const char *em_board_name(void);
const char *em_board_core(void);

/* Core clock in Hz (the emulated/nominal clock on QEMU boards). */
uint32_t em_board_clock_hz(void);

/* Free-running tick counter (see "Timing" above). */
uint32_t em_board_ticks(void);

/* 1 when em_board_ticks() counts instructions (QEMU with -icount shift=0), 0 for cycles. */
int em_board_ticks_are_instructions(void);

/* Call right before the first em_board_ticks() of a measurement. Where one tick spans
 * several instructions (QEMU's 25 MHz MPS2 timer: 40), it restarts the tick phase at this
 * instruction, so a measured interval no longer depends on when the last UART byte
 * arrived and repeated runs report identical counts. A no-op where a tick is one
 * instruction or cycle. Loses less than one tick of free-running time. */
void em_board_ticks_sync(void);

/* Blocking write of n bytes to the board's UART (the protocol link). */
void em_uart_write(const uint8_t *buf, uint32_t n);

/* Non-blocking read: returns 1 and stores a byte when one was waiting, else 0. */
int em_uart_read(uint8_t *byte);

/* End the program: SYS_EXIT_EXTENDED under QEMU semihosting (QEMU exits with
 * `code`); on real boards it stops in a low-power loop. Never returns. */
void em_board_exit(int code) __attribute__((noreturn));

/* NUL-terminated text to the host's console through semihosting SYS_WRITE0
 * (QEMU boards only; a no-op on real boards, where a BKPT would halt the core). */
void em_semihost_write(const char *s);

/* Stack measurement by painting: em_stack_paint() fills the unused part of the
 * stack with a pattern (call it early in main); em_stack_high_water() returns
 * the bytes of stack ever used since, found by the first overwritten word. */
void em_stack_paint(void);
uint32_t em_stack_high_water(void);

/* Size in bytes of the stack region reserved by the linker script. */
uint32_t em_board_stack_size(void);

#ifdef __cplusplus
}
#endif

#endif /* EM_BOARD_H */

/*
 * em_tflm_port.cc -- the TFLM target port for every board (owner: export/tflm_runtime.py).
 *
 * TFLM leaves three things to a target (its cortex_m_generic port reads the DWT counter and
 * prints through a callback); here they go through em_board.h like everything else:
 *  - tflite::GetCurrentTimeTicks() / ticks_per_second(): em_board_ticks() and em_board_clock_hz()
 *    (under QEMU -icount shift=0 the ticks are instructions: see em_board.h);
 *  - DebugLog / DebugVsnprintf: MicroPrintf's text to the semihosting console (a no-op on real
 *    boards, where a BKPT would halt the core), formatted with newlib's vsnprintf.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "em_board.h"
#include "tensorflow/lite/micro/debug_log.h"
#include "tensorflow/lite/micro/micro_time.h"

namespace tflite {

uint32_t ticks_per_second() {
  return em_board_clock_hz();
}

uint32_t GetCurrentTimeTicks() {
  return em_board_ticks();
}

}  // namespace tflite

extern "C" int DebugVsnprintf(char *buffer, size_t buf_size, const char *format, va_list vlist) {
  return vsnprintf(buffer, buf_size, format, vlist);
}

extern "C" void DebugLog(const char *format, va_list args) {
  static char line[160];
  vsnprintf(line, sizeof(line), format, args);
  em_semihost_write(line);
}

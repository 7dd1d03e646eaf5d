/*
 * On-target engine check (semihosting): the generated engine (model_engine.h) runs every input of
 * engine_inputs.h and prints "out <i> <status> <hex of the output bytes>" per input; the host
 * compares them with tflite-micro's. Exits 0 when every invoke returned 0.
 */
#include <stdint.h>
#include <string.h>

#include "em_board.h"
#include "em_fmt.h"
#include "engine_inputs.h"
#include "model_engine.h"

static int8_t out_buf[EM_OUTPUT_BYTES];

int main(void) {
  em_board_init();
  int all_ok = 1;
  for (int32_t i = 0; i < ENGINE_N_INPUTS; ++i) {
    memcpy(em_model_input(), engine_inputs[i], EM_INPUT_BYTES);
    const int s = em_model_invoke(out_buf, 0);
    all_ok &= s == 0;
    static char line[16 + 2 * EM_OUTPUT_BYTES];
    int n = 0;
    em_fmt_cat(line, &n, "out ");
    n += em_fmt_u32(line + n, (uint32_t)i);
    line[n++] = ' ';
    n += em_fmt_i32(line + n, s);
    line[n++] = ' ';
    for (int32_t k = 0; k < EM_OUTPUT_BYTES; ++k) {
      static const char hex[] = "0123456789abcdef";
      line[n++] = hex[(uint8_t)out_buf[k] >> 4];
      line[n++] = hex[(uint8_t)out_buf[k] & 15];
    }
    line[n++] = '\n';
    line[n] = 0;
    em_semihost_write(line);
  }
  em_board_exit(all_ok ? 0 : 1);
}

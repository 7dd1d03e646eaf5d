/*
 * On-target kernel sweep (semihosting): every layer that kernel_sweep.py generated into
 * sweep_cases.h -- random CONV_2D layers (int8 and int16-expanded weights, whole tensors and one
 * output row at a time), FULLY_CONNECTED and MAX_POOL_2D layers converted by TensorFlow -- runs
 * through the kernels built for the board (on a Cortex-M4/M7: the real SXTB16/SMLAD path) and
 * prints "<kind> <case> <variant> <status> <fnv1a of the output bytes>" per run. The host
 * compares the hashes with tflite-micro's outputs. Exits 0 when every kernel returned EM_OK.
 */
#include <stdint.h>

#include "em_board.h"
#include "em_fmt.h"
#include "em_kernels.h"
#include "sweep_cases.h"

static int8_t out_buf[SWEEP_MAX_OUTPUT];
static int32_t scratch[SWEEP_MAX_SCRATCH / 4 + 1];

static uint32_t fnv1a(const int8_t *p, int32_t n) {
  uint32_t h = 2166136261u;
  for (int32_t i = 0; i < n; ++i) h = (h ^ (uint8_t)p[i]) * 16777619u;
  return h;
}

static void report(const char *kind, int32_t index, const char *variant, int status,
                   uint32_t hash) {
  char line[80];
  int n = 0;
  em_fmt_cat(line, &n, kind);
  line[n++] = ' ';
  n += em_fmt_u32(line + n, (uint32_t)index);
  line[n++] = ' ';
  em_fmt_cat(line, &n, variant);
  line[n++] = ' ';
  n += em_fmt_i32(line + n, status);
  line[n++] = ' ';
  n += em_fmt_u32(line + n, hash);
  line[n++] = '\n';
  line[n] = 0;
  em_semihost_write(line);
}

enum { VARIANT_S8 = 0, VARIANT_W16 = 1, VARIANT_TILED = 2 };

/* One output row per call, each from just the input rows it reads (the smallest line buffer). */
static int conv_by_rows(const sweep_conv *c, int variant) {
  const int32_t eff_h = (c->f.h - 1) * c->p.dilation_h + 1;
  const int32_t row_bytes = c->out.w * c->out.c;
  for (int32_t oy = 0; oy < c->out.h; ++oy) {
    int32_t first, end;
    em_rows_needed(oy, oy + 1, c->p.stride_h, c->p.pad_top, eff_h, c->in.h, &first, &end);
    const em_rows rows = {first, end - first, oy, oy + 1, oy};
    const int8_t *x = c->input + first * c->in.w * c->in.c;
    int8_t *y = out_buf + oy * row_bytes; /* out_row_base = oy: y's row 0 is global row oy */
    const int s = variant == VARIANT_W16
                      ? em_conv2d_s8_w16(&c->p, &c->q, &c->in, x, &c->f, c->filter_w16, c->bias,
                                         &c->out, y, &rows, scratch)
                  : variant == VARIANT_TILED
                      ? em_conv2d_s8_tiled(&c->p, &c->q, &c->in, x, &c->f, c->filter, c->bias,
                                           &c->out, y, &rows, c->out.w, scratch)
                      : em_conv2d_s8(&c->p, &c->q, &c->in, x, &c->f, c->filter, c->bias, &c->out, y,
                                     &rows, scratch);
    if (s != EM_OK) return s;
  }
  return EM_OK;
}

/* Winograd two output rows per call (the pairs it computes), each from the input rows they read. */
static int conv_wino_by_two_rows(const sweep_conv *c) {
  const int32_t row_bytes = c->out.w * c->out.c;
  for (int32_t oy = 0; oy < c->out.h; oy += 2) {
    const int32_t end = oy + 2 < c->out.h ? oy + 2 : c->out.h;
    int32_t first, last;
    em_rows_needed(oy, end, 1, c->p.pad_top, 3, c->in.h, &first, &last);
    const em_rows rows = {first, last - first, oy, end, oy};
    const int s =
        em_conv2d_s8_wino(&c->p, &c->q, &c->in, c->input + first * c->in.w * c->in.c, &c->f,
                          c->filter, c->bias, &c->out, out_buf + oy * row_bytes, &rows, 1, scratch);
    if (s != EM_OK) return s;
  }
  return EM_OK;
}

int main(void) {
  em_board_init();
  int all_ok = 1;
  for (int32_t i = 0; i < SWEEP_N_CONV; ++i) {
    const sweep_conv *c = &sweep_convs[i];
    const em_rows full = em_rows_full(c->in.h, c->out.h);
    const int32_t n = c->out.h * c->out.w * c->out.c;
    int s = em_conv2d_s8(&c->p, &c->q, &c->in, c->input, &c->f, c->filter, c->bias, &c->out,
                         out_buf, &full, scratch);
    report("conv", i, "s8", s, fnv1a(out_buf, n));
    all_ok &= s == EM_OK;
    s = em_conv2d_s8_w16(&c->p, &c->q, &c->in, c->input, &c->f, c->filter_w16, c->bias, &c->out,
                         out_buf, &full, scratch);
    report("conv", i, "w16", s, fnv1a(out_buf, n));
    all_ok &= s == EM_OK;
    s = em_conv2d_s8_tiled(&c->p, &c->q, &c->in, c->input, &c->f, c->filter, c->bias, &c->out,
                           out_buf, &full, SWEEP_TILED_PASS_PIXELS, scratch);
    report("conv", i, "tiled", s, fnv1a(out_buf, n));
    all_ok &= s == EM_OK;
    if (c->f.h == 3 && c->f.w == 3 && c->p.stride_h == 1 && c->p.stride_w == 1 &&
        c->p.dilation_h == 1 && c->p.dilation_w == 1 && c->in.c % 8 == 0 && c->in.c <= 192) {
      s = em_conv2d_s8_wino(&c->p, &c->q, &c->in, c->input, &c->f, c->filter, c->bias, &c->out,
                            out_buf, &full, SWEEP_WINO_PASS_TILE_ROWS, scratch);
      report("conv", i, "wino", s, fnv1a(out_buf, n));
      all_ok &= s == EM_OK;
      s = conv_wino_by_two_rows(c);
      report("conv", i, "wino_rows2", s, fnv1a(out_buf, n));
      all_ok &= s == EM_OK;
    }
    static const char *const rows_names[] = {"s8_rows", "w16_rows", "tiled_rows"};
    for (int variant = 0; variant < 3; ++variant) {
      s = conv_by_rows(c, variant);
      report("conv", i, rows_names[variant], s, fnv1a(out_buf, n));
      all_ok &= s == EM_OK;
    }
  }
  for (int32_t i = 0; i < SWEEP_N_FC; ++i) {
    const sweep_fc *f = &sweep_fcs[i];
    const int s = em_fully_connected_s8(&f->p, &f->q, f->batches, f->in_features, f->input,
                                        f->out_features, f->filter, f->bias, out_buf);
    report("fc", i, "s8", s, fnv1a(out_buf, f->batches * f->out_features));
    all_ok &= s == EM_OK;
  }
  for (int32_t i = 0; i < SWEEP_N_POOL; ++i) {
    const sweep_pool *m = &sweep_pools[i];
    const em_rows full = em_rows_full(m->in.h, m->out.h);
    const int s = em_max_pool2d_s8(&m->p, &m->in, m->input, &m->out, out_buf, &full);
    report("pool", i, "s8", s, fnv1a(out_buf, m->out.h * m->out.w * m->out.c));
    all_ok &= s == EM_OK;
  }
  em_board_exit(all_ok ? 0 : 1);
}

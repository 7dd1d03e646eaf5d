/*
 * conv2d_sparse_s8.c -- int8 CONV_2D over pruned weights in a compact sparse format; the same
 * op and the same bytes as em_conv2d_s8 (see conv2d_s8.c for the arithmetic).
 *
 * Weights (em_sparse_filter): the nonzeros of the whole OHWI filter in row-major order, as
 * int8 values plus a Rice-coded bit stream of the gaps between their flat positions (gap =
 * position - previous position - 1, the first one from -1): gap >> k as that many 0 bits and
 * a 1, then the k low bits, most significant bit first. With k picked per layer (the code
 * generator measures every k), that is ~1.4-1.9 bytes per nonzero for 75-98 % sparse 3x3
 * layers, indices included, against 1 byte per weight dense.
 *
 * Execution, per pass of at most filter->pass_rows output rows:
 *   1. the input rows the pass reads are re-laid out in scratch as int8 (x itself; padding
 *      holds the input zero point, -input_offset, so that it adds 0), one row of W pixels per
 *      (input row, channel), the columns of a stride_w > 1 conv sorted by phase -- so the
 *      pixels one weight meets across an output row are contiguous and no pixel needs a
 *      border test. The input offset is folded into each channel's bias (input_offset times
 *      the sum of its weights, taken while decoding), as the dense kernel does; int8 halves
 *      the scratch of an int16 relayout;
 *   2. per output channel, its nonzeros are decoded once into a table of words
 *      (weight << 16 | offset in the relayout), in scratch;
 *   3. per output row, blocks of 8 output pixels keep 8 accumulators in registers while the
 *      table is walked: one table load and one address add per nonzero are shared by 8 MACs.
 *      The portable path does 8 multiply-adds per nonzero; the EM_USE_DSP path loads four
 *      pixels per word, widens them with SXTB16 (bytes 0, 2) and SXTB16 ROR 8 (bytes 1, 3)
 *      and uses SMLATB / SMLATT (the weight sits in the top half of the table word). Blocks
 *      of 4 and of 1 pixel finish a row.
 * Decoding and the table entry cost ~56 instructions per nonzero and pass on the M4 (the cost
 * model's SPARSE_INSTR_PER_DECODE), amortised over the pass's output pixels; the
 * requantisation is per output as in the dense kernel. Bigger passes decode less often and
 * need more scratch: em_conv2d_sparse_s8_get_buffer_size() says how much.
 */
#include <string.h>

#include "em_kernels.h"
#include "em_common.h"
#include "em_window.h"
#if defined(EM_USE_DSP)
#include "em_dsp.h"
#if EM_DSP_NATIVE
/* acc + top16(a) * bottom16(b) / top16(a) * top16(b) (signed): one instruction each. */
static inline int32_t sp_smlatb(int32_t a, int32_t b, int32_t acc) {
  return __smlatb(a, b, acc);
}
static inline int32_t sp_smlatt(int32_t a, int32_t b, int32_t acc) {
  return __smlatt(a, b, acc);
}
#else
static inline int32_t sp_smlatb(int32_t a, int32_t b, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)((a >> 16) * (int32_t)(int16_t)(b & 0xFFFF)));
}
static inline int32_t sp_smlatt(int32_t a, int32_t b, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)((a >> 16) * (b >> 16)));
}
#endif
#endif

/* ---- geometry shared by the scratch-size function and the kernel ---------------------- */
typedef struct {
  int32_t eff_h, eff_w;
  int32_t cols;      /* relayout columns per phase: ceil(span / stride_w) */
  int32_t row_len;   /* int8 per (input row, channel): stride_w * cols */
  int32_t pass_rows; /* output rows per pass */
  int32_t pass_in_rows;
} sparse_geometry;

static int sparse_geometry_of(const em_conv_params *p, const em_dims *f_d, const em_dims *out_d,
                              const em_sparse_filter *f, sparse_geometry *g) {
  if (p->stride_h < 1 || p->stride_w < 1 || p->dilation_h < 1 || p->dilation_w < 1 ||
      f->pass_rows < 1)
    return EM_ERR_ARG;
  g->eff_h = (f_d->h - 1) * p->dilation_h + 1;
  g->eff_w = (f_d->w - 1) * p->dilation_w + 1;
  const int32_t span = (out_d->w - 1) * p->stride_w + g->eff_w; /* columns one row reads */
  g->cols = (span + p->stride_w - 1) / p->stride_w;
  g->row_len = p->stride_w * g->cols;
  g->pass_rows = f->pass_rows < out_d->h ? f->pass_rows : out_d->h;
  g->pass_in_rows = (g->pass_rows - 1) * p->stride_h + g->eff_h;
  /* Table offsets are 16-bit: every tap of one output row must lie within 65536 bytes. */
  if ((int64_t)((g->eff_h - 1) * f_d->c + f_d->c) * g->row_len > 65536) return EM_ERR_ARG;
  return EM_OK;
}

int32_t em_conv2d_sparse_s8_get_buffer_size(const em_conv_params *params,
                                            const em_dims *filter_dims, const em_dims *output_dims,
                                            const em_sparse_filter *filter) {
  sparse_geometry g;
  if (params == 0 || filter == 0 || !em_dims_valid(filter_dims) || !em_dims_valid(output_dims) ||
      sparse_geometry_of(params, filter_dims, output_dims, filter, &g) != EM_OK)
    return 0;
  return EM_CONV2D_SPARSE_S8_BUFFER_BYTES(g.pass_in_rows, filter_dims->c, g.row_len,
                                          filter->max_channel_nnz);
}

/* ---- the Rice-coded gap stream -------------------------------------------------------- */
/* The reader keeps the next unread bits left-aligned in buf (n of them valid); next is the
 * flat OHWI position of the nonzero read ahead (INT32_MAX: none left). */
typedef struct {
  const uint8_t *p, *end;
  uint32_t buf;
  int32_t n, k;
  int32_t left;  /* gaps not yet read */
  int32_t next;  /* flat position of the next nonzero */
  int32_t index; /* its index in value[] */
} sparse_stream;

static inline void stream_refill(sparse_stream *s) {
  while (s->n <= 24 && s->p < s->end) {
    s->buf |= (uint32_t)*s->p++ << (24 - s->n);
    s->n += 8;
  }
}

/* Reads the next gap into s->next; EM_ERR_ARG when the stream ends early or runs past 2^31.
 * Works on a local copy so that the state lives in registers. */
static inline int stream_step(sparse_stream *st) {
  sparse_stream s = *st;
  if (s.left == 0) {
    st->next = INT32_MAX;
    return EM_OK;
  }
  --s.left;
  ++s.index;
  uint32_t q = 0;
  if (s.n <= 24) stream_refill(&s);
  while (s.buf == 0) { /* a run of zeros longer than the buffer: a long gap (rare) */
    if (s.n == 0 || q > 0x40000000u) return EM_ERR_ARG;
    q += (uint32_t)s.n;
    s.n = 0;
    stream_refill(&s);
  }
  const int32_t z = __builtin_clz(s.buf);
  q += (uint32_t)z;
  s.buf = (s.buf << z) << 1;
  s.n -= z + 1;
  uint32_t r = 0;
  if (s.k) {
    if (s.n < s.k) {
      stream_refill(&s);
      if (s.n < s.k) return EM_ERR_ARG;
    }
    r = s.buf >> (32 - s.k);
    s.buf <<= s.k;
    s.n -= s.k;
  }
  if (q >= (0x40000000u >> s.k)) return EM_ERR_ARG; /* gap >= 2^30: no filter is that big */
  const uint32_t next = (uint32_t)s.next + 1u + ((q << s.k) | r);
  if (next >= 0x7FFFFFFFu) return EM_ERR_ARG;
  s.next = (int32_t)next;
  *st = s;
  return EM_OK;
}

static int stream_start(sparse_stream *s, const em_sparse_filter *f) {
  s->p = f->index;
  s->end = f->index + f->index_bytes;
  s->buf = 0;
  s->n = 0;
  s->k = f->rice_k;
  s->left = f->nnz;
  s->next = -1;
  s->index = -1;
  return stream_step(s);
}

/* Decodes the nonzeros of one output channel (flat positions below ch_end) into table words
 * weight << w_shift | (tap_offset[tap] + ic * row_len); -> how many (EM_ERR_ARG: a corrupt
 * stream or more than max_nnz), their weight sum in *weight_sum. The common gap -- its code
 * within the bits already buffered, a word refill when fewer than 25 are -- is read here on
 * locals, positions relative to the channel (the kernel bounds a filter below 2^30 weights, so
 * no sum here overflows); the rest (a code longer than the buffer, the stream's last bytes) goes
 * through stream_step. Not inlined: in the kernel's frame the loop spills more. */
__attribute__((noinline)) static int32_t decode_channel(sparse_stream *st, int32_t ch_begin,
                                                        int32_t ch_end, int32_t in_c,
                                                        int32_t row_len, const int32_t *tap_offset,
                                                        const int8_t *value, int32_t w_shift,
                                                        int32_t max_nnz, int32_t *table,
                                                        int32_t *weight_sum) {
  const uint8_t *p = st->p;
  const uint8_t *const end = st->end;
  uint32_t buf = st->buf;
  int32_t n = st->n, left = st->left;
  const int32_t k = st->k, len = ch_end - ch_begin;
  int32_t j = st->next == INT32_MAX ? INT32_MAX : st->next - ch_begin;
  const int8_t *v = value + st->index;
  int32_t *t = table;
  int32_t *const t_end = table + max_nnz;
  int32_t sum = 0;
  while (j < len) {
    if (t == t_end) return EM_ERR_ARG;
    const int32_t tap = j / in_c, w = *v;
    sum += w;
    *t++ = (int32_t)((uint32_t)w << w_shift) | (tap_offset[tap] + (j - tap * in_c) * row_len);
    if (left == 0) {
      j = INT32_MAX;
      break;
    }
    if (n <= 24) {
      if (end - p >= 4) { /* buf holds true stream bits beyond n, or zeros: OR-ing is safe */
        uint32_t word;
        memcpy(&word, p, 4);
        buf |= __builtin_bswap32(word) >> n;
        const int32_t bytes = (32 - n) >> 3;
        p += bytes;
        n += bytes << 3;
      } else {
        while (n <= 24 && p < end) {
          buf |= (uint32_t)*p++ << (24 - n);
          n += 8;
        }
      }
    }
    const int32_t z = buf ? __builtin_clz(buf) : 32;
    if (z + 1 + k <= n) {
      buf = (buf << z) << 1;
      uint32_t r = 0;
      if (k) {
        r = buf >> (32 - k);
        buf <<= k;
      }
      n -= z + 1 + k;
      --left;
      ++v;
      j += 1 + (int32_t)(((uint32_t)z << k) | r); /* z < 32, k <= 24: below 2^29 */
    } else { /* the slow reader keeps only the n bits it counts */
      st->p = p;
      st->buf = n > 0 ? buf & (~0u << (32 - n)) : 0u;
      st->n = n;
      st->left = left;
      st->next = j + ch_begin;
      st->index = (int32_t)(v - value);
      if (stream_step(st) != EM_OK) return EM_ERR_ARG;
      p = st->p;
      buf = st->buf;
      n = st->n;
      left = st->left;
      j = st->next == INT32_MAX ? INT32_MAX : st->next - ch_begin;
      v = value + st->index;
    }
  }
  st->p = p;
  st->buf = buf;
  st->n = n;
  st->left = left;
  st->next = j == INT32_MAX ? INT32_MAX : j + ch_begin;
  st->index = (int32_t)(v - value);
  *weight_sum = sum;
  return (int32_t)(t - table);
}

/* ---- the relayout -------------------------------------------------------------------- */
/* Input rows y0 .. y0 + n_rows - 1 (global; outside [0, H) = padding, the zero point) into
 * dst[(row * in_c + c) * row_len + phase * cols + idx], column x_rel = x + pad_left =
 * idx * stride_w + phase. */
static void sparse_relayout(const em_conv_params *p, const em_dims *in_d, const int8_t *input,
                            int32_t in_row_begin, const sparse_geometry *g, int32_t y0,
                            int32_t n_rows, int8_t *dst) {
  const int32_t in_c = in_d->c, sw = p->stride_w, row_len = g->row_len;
  const int8_t pad = (int8_t)(-p->input_offset);
  for (int32_t j = 0; j < n_rows; ++j) {
    const int32_t y = y0 + j;
    int8_t *rows = dst + j * in_c * row_len;
    const int y_in = y >= 0 && y < in_d->h;
    for (int32_t xr = 0; xr < row_len; ++xr) {
      const int32_t x = xr - p->pad_left;
      int8_t *d = sw == 1 ? rows + xr : rows + (xr % sw) * g->cols + xr / sw;
      if (!y_in || x < 0 || x >= in_d->w) {
        for (int32_t c = 0; c < in_c; ++c) d[c * row_len] = pad;
        continue;
      }
      const int8_t *src = input + ((y - in_row_begin) * in_d->w + x) * in_c;
      int32_t c = 0;
      for (; c + 4 <= in_c; c += 4, d += 4 * row_len) { /* one word load per 4 channels */
        uint32_t v; /* little-endian (Cortex-M, the host tests): byte 0 is channel c */
        memcpy(&v, src + c, 4);
        d[0] = (int8_t)v;
        d[row_len] = (int8_t)(v >> 8);
        d[2 * row_len] = (int8_t)(v >> 16);
        d[3 * row_len] = (int8_t)(v >> 24);
      }
      for (; c < in_c; ++c, d += row_len) *d = src[c];
    }
  }
}

/* ---- requantisation ------------------------------------------------------------------- */
/* TFLM's MultiplyByQuantizedMultiplier (double rounding), exactly, in a handful of
 * instructions, for the usual channel ("fast": multiplier in [0, 2^31), shift < 0, and
 * every partial sum |accumulator| < 2^30, guaranteed by |bias| + nonzeros * 128 * 256 < 2^30:
 * the folded bias adds at most 128 * 128 per nonzero, each raw product another 128 * 128):
 *   SaturatingRoundingDoublingHighMul(a, m) = floor((a * m + 2^30) / 2^31) (the nudge of a
 *     negative product, 1 - 2^30, and the division's truncation toward zero give the same
 *     floor; the saturating case needs m == INT32_MIN) = SMMULR(2a, m), so the table holds
 *     2 * weight and the accumulators start at 2 * bias;
 *   RoundingDivideByPOT(x, e), e >= 1 = (x + 2^(e-1) + (x < 0 ? -1 : 0)) >> e.
 * Other channels keep single weights and call em_requantize_s8. */
typedef struct {
  int32_t mult, right, round;
  int32_t output_offset, act_min, act_max;
  int32_t shift; /* the original */
  int32_t fast;
} sparse_requant;

static inline sparse_requant requant_of(const em_conv_params *p, int32_t mult, int32_t shift,
                                        int32_t bias, int32_t n_nz) {
  sparse_requant r;
  r.mult = mult;
  r.shift = shift;
  r.right = -shift;
  r.round = shift < 0 ? (int32_t)1 << (r.right - 1) : 0;
  r.output_offset = p->output_offset;
  r.act_min = p->activation_min;
  r.act_max = p->activation_max;
  const int64_t bound = (bias < 0 ? -(int64_t)bias : bias) + (int64_t)n_nz * 128 * 256;
  r.fast = mult >= 0 && shift < 0 && shift > -32 && bound < ((int64_t)1 << 30);
  return r;
}

static inline int32_t smmulr(int32_t a, int32_t b) {
#if defined(EM_USE_DSP) && EM_DSP_NATIVE
  int32_t r;
  __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
  return r;
#else
  return (int32_t)(((int64_t)a * b + ((int64_t)1 << 31)) >> 32);
#endif
}

/* n accumulators -> n outputs out[i * step]. */
static inline void requant_store(const int32_t *acc, int32_t n, const sparse_requant *r,
                                 int8_t *out, int32_t step) {
  if (!r->fast) {
    for (int32_t i = 0; i < n; ++i)
      out[i * step] =
          em_requantize_s8(acc[i], r->mult, r->shift, r->output_offset, r->act_min, r->act_max);
    return;
  }
  const int32_t mult = r->mult, right = r->right, round = r->round;
  const int32_t offset = r->output_offset, lo = r->act_min, hi = r->act_max;
  for (int32_t i = 0; i < n; ++i) {
    const int32_t x = smmulr(acc[i], mult);
    int32_t y = ((x + round + (x >> 31)) >> right) + offset;
    y = y < lo ? lo : y;
    out[i * step] = (int8_t)(y > hi ? hi : y);
  }
}

/* ---- the MAC loops --------------------------------------------------------------------- */
/* n output pixels (8, 4 or 1) starting at x[0] of the relayout, output stride out_step; each
 * table word is weight << 16 | offset (in the int8 relayout). */
#if defined(EM_USE_DSP) && EM_DSP_NATIVE
/* The 8-pixel block on the core, as one assembly routine: the MAC loop needs 14 registers (8
 * accumulators, the table pointer, x, the table word, its address and two temporaries), which
 * leaves the compiler nothing to spill into between statements, so the routine owns them all.
 *
 * One nonzero into 8 accumulators (SP_NZ): table word, its relayout address (UXTAH), 2 word
 * loads (four pixels each), 4 SXTB16 (pixels 0, 2 and 1, 3 of each word as int16 pairs), 8
 * SMLATB / SMLATT (weight = top half of the table word): 16 instructions. The loop does 8
 * nonzeros per trip; a TBB into the unrolled body takes the n % 8 first, so the loop test (the
 * end lives on the stack: 3 instructions) is paid once per 8 nonzeros.
 *
 * Then, when `requant` is set (the fast requantisation of requant_store with an output range of
 * the whole int8, see sparse_requant): per output SMMULR, the rounding of RoundingDivideByPOT as
 * x + (x >> 31) + k with k = round + (output_offset << right) (exact: adding a multiple of
 * 2^right before an arithmetic shift adds output_offset after it), ASR, SSAT #8, STRB: 7
 * instructions with the pointer step. Otherwise the 8 accumulators are stored to acc[]. */
typedef struct {
  const int32_t *tab, *end; /*  0,  4 */
  const int8_t *x;          /*  8: advanced by the routine */
  int32_t bias;             /* 12 */
  int32_t mult, k, right;   /* 16, 20, 24 */
  int8_t *out;              /* 28: advanced by the routine */
  int32_t step;             /* 32 */
  int32_t requant;          /* 36 */
  int32_t *acc;             /* 40 */
  int32_t blocks;           /* 44: 8-pixel blocks to do (1 unless requant) */
  int32_t bias8[8];         /* 48: the bias, once per accumulator (one LDM starts a block) */
} sp_block_args;

void em_conv2d_sparse_s8_mac8(sp_block_args *args);

__asm__(
    "  .syntax unified\n"
    "  .thumb\n"
    "  .section .text.em_conv2d_sparse_s8_mac8,\"ax\",%progbits\n"
    "  .align 2\n"
    "  .global em_conv2d_sparse_s8_mac8\n"
    "  .thumb_func\n"
    "  .type em_conv2d_sparse_s8_mac8, %function\n"
    /* r4-r11 a0-a7, r1 tab, r2 x, r3 table word, r12 address / second word, lr first word,
     * r0 the unpacked pair; [sp] end, [sp, #4] the TBB index, [sp, #8] args */
    "  .macro SP_NZ\n"
    "  ldr    r3, [r1], #4\n"
    "  uxtah  r12, r2, r3\n"
    "  ldr    lr, [r12]\n"
    "  ldr    r12, [r12, #4]\n"
    "  sxtb16 r0, lr\n"
    "  smlatb r4, r3, r0, r4\n"
    "  smlatt r6, r3, r0, r6\n"
    "  sxtb16 r0, lr, ror #8\n"
    "  smlatb r5, r3, r0, r5\n"
    "  smlatt r7, r3, r0, r7\n"
    "  sxtb16 r0, r12\n"
    "  smlatb r8, r3, r0, r8\n"
    "  smlatt r10, r3, r0, r10\n"
    "  sxtb16 r0, r12, ror #8\n"
    "  smlatb r9, r3, r0, r9\n"
    "  smlatt r11, r3, r0, r11\n"
    "  .endm\n"
    "em_conv2d_sparse_s8_mac8:\n"
    "  push   {r0, r4-r11, lr}\n"
    "  sub    sp, sp, #8\n"
    "  ldrd   r1, r3, [r0]\n" /* tab, end */
    "  str    r3, [sp]\n"
    "  subs   r3, r1, r3\n"     /* -4 * n */
    "  ubfx   r3, r3, #2, #3\n" /* (8 - n % 8) % 8: unrolled copies to skip */
    "  str    r3, [sp, #4]\n"
    "6:\n" /* one block of 8 pixels */
    "  ldr    r0, [sp, #8]\n"
    "  ldr    r2, [r0, #8]\n" /* x */
    "  ldr    r1, [r0]\n"
    "  add    r3, r0, #48\n"
    "  ldm    r3, {r4-r11}\n" /* the bias */
    "  ldr    r3, [sp]\n"
    "  cmp    r1, r3\n"
    "  beq    9f\n"
    "  ldr    r3, [sp, #4]\n"
    "  tbb    [pc, r3]\n"
    "0:\n"
    "  .byte  (10f - 0b) / 2, (11f - 0b) / 2, (12f - 0b) / 2, (13f - 0b) / 2\n"
    "  .byte  (14f - 0b) / 2, (15f - 0b) / 2, (16f - 0b) / 2, (17f - 0b) / 2\n"
    "  .align 1\n"
    "10: SP_NZ\n"
    "11: SP_NZ\n"
    "12: SP_NZ\n"
    "13: SP_NZ\n"
    "14: SP_NZ\n"
    "15: SP_NZ\n"
    "16: SP_NZ\n"
    "17: SP_NZ\n"
    "  ldr    r3, [sp]\n"
    "  cmp    r1, r3\n"
    "  bne    10b\n"
    "9:\n"
    "  ldr    lr, [sp, #8]\n" /* args */
    "  ldr    r0, [lr, #36]\n"
    "  cbnz   r0, 8f\n"
    "  ldr    r3, [lr, #40]\n"
    "  stm    r3, {r4-r11}\n"
    "  b      7f\n"
    "8:\n"
    "  add    r0, lr, #16\n"
    "  ldm    r0, {r0-r3, r12}\n" /* mult, k, right, out, step */
    "  .irp   a, r4, r5, r6, r7, r8, r9, r10, r11\n"
    "  smmulr \\a, \\a, r0\n"
    "  add    \\a, \\a, \\a, asr #31\n"
    "  add    \\a, \\a, r1\n"
    "  asr    \\a, \\a, r2\n"
    "  ssat   \\a, #8, \\a\n"
    "  .endr\n"
    "  strb   r4, [r3]\n" /* two outputs per pointer step */
    "  strb   r5, [r3, r12]\n"
    "  add    r3, r3, r12, lsl #1\n"
    "  strb   r6, [r3]\n"
    "  strb   r7, [r3, r12]\n"
    "  add    r3, r3, r12, lsl #1\n"
    "  strb   r8, [r3]\n"
    "  strb   r9, [r3, r12]\n"
    "  add    r3, r3, r12, lsl #1\n"
    "  strb   r10, [r3]\n"
    "  strb   r11, [r3, r12]\n"
    "  add    r3, r3, r12, lsl #1\n"
    "  str    r3, [lr, #28]\n" /* the next block's outputs follow */
    "  ldr    r2, [lr, #8]\n"
    "  adds   r2, r2, #8\n"
    "  str    r2, [lr, #8]\n"
    "  ldr    r2, [lr, #44]\n"
    "  subs   r2, r2, #1\n"
    "  str    r2, [lr, #44]\n"
    "  bne    6b\n"
    "7:\n"
    "  add    sp, sp, #12\n" /* the end, the index and the saved r0 */
    "  pop    {r4-r11, pc}\n"
    "  .purgem SP_NZ\n"
    "  .size em_conv2d_sparse_s8_mac8, . - em_conv2d_sparse_s8_mac8\n"
    "  .text\n");

/* The blocks of 8 pixels of one output row: one call for all of them on the common channel. */
static inline void sparse_row8(sp_block_args *args, int32_t blocks, const int8_t *x, int8_t *out,
                               int32_t out_step, const sparse_requant *r) {
  args->x = x;
  args->out = out;
  if (args->requant) {
    args->blocks = blocks;
    em_conv2d_sparse_s8_mac8(args);
    return;
  }
  for (int32_t b = 0; b < blocks; ++b, x += 8, out += 8 * out_step) {
    args->x = x;
    args->blocks = 1;
    em_conv2d_sparse_s8_mac8(args);
    requant_store(args->acc, 8, r, out, out_step);
  }
}
#else
static void sparse_block8(const int32_t *tab, int32_t n_nz, const int8_t *x, int32_t bias,
                          const sparse_requant *r, int8_t *out, int32_t out_step) {
  int32_t a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias, a6 = bias, a7 = bias;
  const int32_t *end = tab + n_nz;
  while (tab < end) {
    const int32_t e = *tab++;
    const int8_t *s = x + (uint16_t)e;
#if defined(EM_USE_DSP)
    const int32_t s0123 = em_read_s8x4(s), s4567 = em_read_s8x4(s + 4);
    const int32_t s02 = em_sxtb16(s0123), s13 = em_sxtb16_ror8(s0123);
    const int32_t s46 = em_sxtb16(s4567), s57 = em_sxtb16_ror8(s4567);
    a0 = sp_smlatb(e, s02, a0);
    a2 = sp_smlatt(e, s02, a2);
    a1 = sp_smlatb(e, s13, a1);
    a3 = sp_smlatt(e, s13, a3);
    a4 = sp_smlatb(e, s46, a4);
    a6 = sp_smlatt(e, s46, a6);
    a5 = sp_smlatb(e, s57, a5);
    a7 = sp_smlatt(e, s57, a7);
#else
    const int32_t w = e >> 16;
    a0 += w * s[0];
    a1 += w * s[1];
    a2 += w * s[2];
    a3 += w * s[3];
    a4 += w * s[4];
    a5 += w * s[5];
    a6 += w * s[6];
    a7 += w * s[7];
#endif
  }
  const int32_t acc[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
  requant_store(acc, 8, r, out, out_step);
}
#endif

#if !(defined(EM_USE_DSP) && EM_DSP_NATIVE)
static inline void sparse_row8(const int32_t *tab, int32_t n_nz, int32_t blocks, const int8_t *x,
                               int32_t bias, const sparse_requant *r, int8_t *out,
                               int32_t out_step) {
  for (int32_t b = 0; b < blocks; ++b, x += 8, out += 8 * out_step)
    sparse_block8(tab, n_nz, x, bias, r, out, out_step);
}
#endif

static inline void sparse_block4(const int32_t *tab, int32_t n_nz, const int8_t *x, int32_t bias,
                                 const sparse_requant *r, int8_t *out, int32_t out_step) {
  int32_t a0 = bias, a1 = bias, a2 = bias, a3 = bias;
  for (int32_t i = 0; i < n_nz; ++i) {
    const int32_t e = tab[i];
    const int8_t *s = x + (uint16_t)e;
#if defined(EM_USE_DSP)
    const int32_t s0123 = em_read_s8x4(s);
    const int32_t s02 = em_sxtb16(s0123), s13 = em_sxtb16_ror8(s0123);
    a0 = sp_smlatb(e, s02, a0);
    a2 = sp_smlatt(e, s02, a2);
    a1 = sp_smlatb(e, s13, a1);
    a3 = sp_smlatt(e, s13, a3);
#else
    const int32_t w = e >> 16;
    a0 += w * s[0];
    a1 += w * s[1];
    a2 += w * s[2];
    a3 += w * s[3];
#endif
  }
  const int32_t acc[4] = {a0, a1, a2, a3};
  requant_store(acc, 4, r, out, out_step);
}

static inline void sparse_block1(const int32_t *tab, int32_t n_nz, const int8_t *x, int32_t acc,
                                 const sparse_requant *r, int8_t *out) {
  const int32_t *end = tab + n_nz;
  for (; tab < end; ++tab) acc += (*tab >> 16) * x[(uint16_t)*tab];
  requant_store(&acc, 1, r, out, 1);
}

int em_conv2d_sparse_s8(const em_conv_params *p, const em_quant *q, const em_dims *in_d,
                        const int8_t *input, const em_dims *f_d, const em_sparse_filter *filter,
                        const int32_t *bias, const em_dims *out_d, int8_t *output,
                        const em_rows *rows, void *scratch) {
  sparse_geometry g;
  if (p == 0 || q == 0 || q->multiplier == 0 || q->shift == 0 || input == 0 || filter == 0 ||
      output == 0 || scratch == 0 || !em_dims_valid(in_d) || !em_dims_valid(f_d) ||
      !em_dims_valid(out_d) || f_d->c != in_d->c || p->activation_min > p->activation_max ||
      p->input_offset < -127 || p->input_offset > 128 || filter->nnz < 0 ||
      filter->index_bytes < 0 || filter->max_channel_nnz < 0 || filter->rice_k < 0 ||
      filter->rice_k > 24 || (filter->nnz > 0 && (filter->value == 0 || filter->index == 0)) ||
      sparse_geometry_of(p, f_d, out_d, filter, &g) != EM_OK)
    return EM_ERR_ARG;
  const int status = em_check_window(rows, in_d->h, out_d->h, p->stride_h, p->pad_top, g.eff_h);
  if (status != EM_OK) return status;

  const int32_t in_c = in_d->c, out_c = out_d->c, out_w = out_d->w;
  const int32_t taps = f_d->h * f_d->w, per_channel = taps * in_c;
  const int32_t max_nnz = filter->max_channel_nnz;
  const int32_t plane = in_c * g.row_len; /* int8 per relayout row */
  int32_t *table = (int32_t *)scratch;
  int8_t *relayout = (int8_t *)(table + max_nnz);
  /* Offset of each filter tap (ky, kx) in the relayout, input channel 0. */
  int32_t tap_offset[EM_SPARSE_MAX_FILTER_TAPS];
  if (taps > EM_SPARSE_MAX_FILTER_TAPS) return EM_ERR_ARG;
  /* positions fit int32 with room for a gap (decode_channel adds them unchecked) */
  if ((int64_t)out_c * per_channel >= ((int64_t)1 << 30)) return EM_ERR_ARG;
  for (int32_t ky = 0; ky < f_d->h; ++ky)
    for (int32_t kx = 0; kx < f_d->w; ++kx) {
      const int32_t xr = kx * p->dilation_w;
      tap_offset[ky * f_d->w + kx] =
          ky * p->dilation_h * plane + (xr % p->stride_w) * g.cols + xr / p->stride_w;
    }

  for (int32_t r0 = rows->out_row_begin; r0 < rows->out_row_end; r0 += g.pass_rows) {
    const int32_t r1 = r0 + g.pass_rows < rows->out_row_end ? r0 + g.pass_rows : rows->out_row_end;
    sparse_relayout(p, in_d, input, rows->in_row_begin, &g, r0 * p->stride_h - p->pad_top,
                    (r1 - r0 - 1) * p->stride_h + g.eff_h, relayout);
    sparse_stream st;
    if (stream_start(&st, filter) != EM_OK) return EM_ERR_ARG;
    for (int32_t oc = 0, ch_begin = 0; oc < out_c; ++oc, ch_begin += per_channel) {
      const int32_t b = bias ? bias[oc] : 0;
      /* the bound of the fast requantisation uses the densest channel's count */
      const sparse_requant rq = requant_of(p, q->multiplier[q->per_channel ? oc : 0],
                                           q->shift[q->per_channel ? oc : 0], b, max_nnz);
      /* fast channels: doubled weights and bias (see requant_store) */
      const int32_t w_shift = rq.fast ? 17 : 16;
      int32_t weight_sum = 0;
      const int32_t n_nz =
          decode_channel(&st, ch_begin, ch_begin + per_channel, in_c, g.row_len, tap_offset,
                         filter->value, w_shift, max_nnz, table, &weight_sum);
      if (n_nz < 0) return EM_ERR_ARG;
      /* the input offset, folded: sum(w * (x + offset)) = sum(w * x) + offset * sum(w) */
      const int32_t b_folded = b + p->input_offset * weight_sum;
      const int32_t b2 = rq.fast ? 2 * b_folded : b_folded;
      const int32_t blocks8 = out_w / 8;
#if defined(EM_USE_DSP) && EM_DSP_NATIVE
      int32_t acc8[8];
      sp_block_args args = {
          .tab = table,
          .end = table + n_nz,
          .bias = b2,
          .bias8 = {b2, b2, b2, b2, b2, b2, b2, b2},
          .mult = rq.mult,
          .k = rq.round + (int32_t)((uint32_t)rq.output_offset << rq.right),
          .right = rq.right,
          .step = out_c,
          /* the routine's requantisation: the fast one with a whole-int8 output range and an
           * output_offset << right that cannot overflow (|x| <= 2^30 after SMMULR) */
          .requant = rq.fast && rq.act_min == -128 && rq.act_max == 127 && rq.right <= 22,
          .acc = acc8,
      };
#endif
      for (int32_t oy = r0; oy < r1; ++oy) {
        const int8_t *x = relayout + (oy - r0) * p->stride_h * plane;
        int8_t *out = output + (oy - rows->out_row_base) * out_w * out_c + oc;
        int32_t ox = 8 * blocks8;
        if (blocks8 > 0)
#if defined(EM_USE_DSP) && EM_DSP_NATIVE
          sparse_row8(&args, blocks8, x, out, out_c, &rq);
#else
          sparse_row8(table, n_nz, blocks8, x, b2, &rq, out, out_c);
#endif
        for (; ox + 4 <= out_w; ox += 4)
          sparse_block4(table, n_nz, x + ox, b2, &rq, out + ox * out_c, out_c);
        for (; ox < out_w; ++ox) sparse_block1(table, n_nz, x + ox, b2, &rq, out + ox * out_c);
      }
    }
    if (st.next != INT32_MAX) return EM_ERR_ARG; /* nonzeros beyond the filter */
  }
  return EM_OK;
}

/* ---- packing on the device (benchmarks, weights made at run time) ---------------------- */
int32_t em_conv2d_sparse_s8_pack(const int8_t *filter, int32_t out_c, const em_dims *filter_dims,
                                 int32_t rice_k, uint8_t *index, int32_t index_capacity,
                                 int8_t *value, int32_t value_capacity, int32_t pass_rows,
                                 em_sparse_filter *out) {
  if (filter == 0 || out == 0 || index == 0 || value == 0 || out_c < 1 ||
      !em_dims_valid(filter_dims) || rice_k < 0 || rice_k > 24 || index_capacity < 0)
    return EM_ERR_ARG;
  const int32_t per_channel = filter_dims->h * filter_dims->w * filter_dims->c;
  int32_t nnz = 0, max_nnz = 0, bits = 0, prev = -1;
  for (int32_t i = 0; i < index_capacity; ++i) index[i] = 0;
  for (int32_t oc = 0; oc < out_c; ++oc) {
    int32_t channel_nnz = 0;
    for (int32_t j = 0; j < per_channel; ++j) {
      const int32_t pos = oc * per_channel + j;
      if (filter[pos] == 0) continue;
      const uint32_t gap = (uint32_t)(pos - prev - 1);
      const int32_t q = (int32_t)(gap >> rice_k);
      if ((bits + q + 1 + rice_k + 7) / 8 > index_capacity || nnz >= value_capacity)
        return EM_ERR_ARG;
      bits += q; /* q zero bits (already zero), then a one */
      index[bits >> 3] |= (uint8_t)(0x80u >> (bits & 7));
      ++bits;
      for (int32_t b = rice_k - 1; b >= 0; --b, ++bits)
        if ((gap >> b) & 1u) index[bits >> 3] |= (uint8_t)(0x80u >> (bits & 7));
      value[nnz++] = filter[pos];
      ++channel_nnz;
      prev = pos;
    }
    if (channel_nnz > max_nnz) max_nnz = channel_nnz;
  }
  out->index = index;
  out->value = value;
  out->index_bytes = (bits + 7) / 8;
  out->nnz = nnz;
  out->rice_k = rice_k;
  out->max_channel_nnz = max_nnz;
  out->pass_rows = pass_rows;
  return out->index_bytes;
}

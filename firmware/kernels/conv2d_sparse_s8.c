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
 * locals; the rest (a code longer than the buffer, the stream's last bytes) goes through
 * stream_step. Not inlined: in the kernel's frame the loop spills more. */
__attribute__((noinline)) static int32_t decode_channel(sparse_stream *st, int32_t ch_begin,
                                                        int32_t ch_end, int32_t in_c,
                                                        int32_t row_len, const int32_t *tap_offset,
                                                        const int8_t *value, int32_t w_shift,
                                                        int32_t max_nnz, int32_t *table,
                                                        int32_t *weight_sum) {
  const uint8_t *p = st->p;
  const uint8_t *const end = st->end;
  uint32_t buf = st->buf;
  int32_t n = st->n, left = st->left, next = st->next, index = st->index;
  const int32_t k = st->k;
  int32_t n_nz = 0, sum = 0;
  while (next < ch_end) {
    if (n_nz >= max_nnz) return EM_ERR_ARG;
    const int32_t j = next - ch_begin;
    const int32_t tap = j / in_c, ic = j - tap * in_c;
    const int32_t w = value[index];
    sum += w;
    table[n_nz++] = (int32_t)((uint32_t)w << w_shift) | (tap_offset[tap] + ic * row_len);
    if (left == 0) {
      next = INT32_MAX;
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
      ++index;
      const uint32_t after = (uint32_t)next + 1u + (((uint32_t)z << k) | r); /* z < 32, k <= 24 */
      if (after >= 0x7FFFFFFFu) return EM_ERR_ARG;
      next = (int32_t)after;
    } else { /* the slow reader keeps only the n bits it counts */
      st->p = p;
      st->buf = n > 0 ? buf & (~0u << (32 - n)) : 0u;
      st->n = n;
      st->left = left;
      st->next = next;
      st->index = index;
      if (stream_step(st) != EM_OK) return EM_ERR_ARG;
      p = st->p;
      buf = st->buf;
      n = st->n;
      left = st->left;
      next = st->next;
      index = st->index;
    }
  }
  st->p = p;
  st->buf = buf;
  st->n = n;
  st->left = left;
  st->next = next;
  st->index = index;
  *weight_sum = sum;
  return n_nz;
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
/* One nonzero into 8 accumulators: table word, its relayout address (UXTAH), 2 word loads
 * (four pixels each), 4 SXTB16 (pixels 0, 2 and 1, 3 of each word as int16 pairs), 8 SMLATB /
 * SMLATT (weight = top half of the table word): 16 instructions; the loop end is reloaded
 * once per 4 nonzeros. Written out because the compiler spills some of the 14 live registers
 * otherwise. */
#define SP_ASM_NZ                       \
  "ldr   %[e], [%[tab]], #4\n\t"        \
  "uxtah %[s], %[x], %[e]\n\t"          \
  "ldr   %[t], [%[s]]\n\t"              \
  "sxtb16 %[u], %[t]\n\t"               \
  "sxtb16 %[t], %[t], ror #8\n\t"       \
  "smlatb %[a0], %[e], %[u], %[a0]\n\t" \
  "smlatt %[a2], %[e], %[u], %[a2]\n\t" \
  "smlatb %[a1], %[e], %[t], %[a1]\n\t" \
  "smlatt %[a3], %[e], %[t], %[a3]\n\t" \
  "ldr   %[t], [%[s], #4]\n\t"          \
  "sxtb16 %[u], %[t]\n\t"               \
  "sxtb16 %[t], %[t], ror #8\n\t"       \
  "smlatb %[a4], %[e], %[u], %[a4]\n\t" \
  "smlatt %[a6], %[e], %[u], %[a6]\n\t" \
  "smlatb %[a5], %[e], %[t], %[a5]\n\t" \
  "smlatt %[a7], %[e], %[t], %[a7]\n\t"
#define SP_ASM_OUT                                                                             \
  [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [a4] "+r"(a4), [a5] "+r"(a5),    \
      [a6] "+r"(a6), [a7] "+r"(a7), [tab] "+r"(tab), [e] "=&r"(e), [t] "=&r"(t), [u] "=&r"(u), \
      [s] "=&r"(s)
#endif

#if defined(EM_USE_DSP) && EM_DSP_NATIVE
__attribute__((noinline)) /* its own frame: the loop needs 14 registers */
#endif
static void
sparse_block8(const int32_t *tab, int32_t n_nz, const int8_t *x, int32_t bias,
              const sparse_requant *r, int8_t *out, int32_t out_step) {
  int32_t a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias, a6 = bias, a7 = bias;
  const int32_t *end = tab + n_nz;
#if defined(EM_USE_DSP) && EM_DSP_NATIVE
  /* 1 + 2 nonzeros, then 4 per trip: the loop test is shared. */
  {
    int32_t e, t, u;
    const int8_t *s;
    if (n_nz & 1) __asm__ volatile(SP_ASM_NZ:SP_ASM_OUT : [x] "r"(x) : "memory");
    if (n_nz & 2) __asm__ volatile(SP_ASM_NZ SP_ASM_NZ:SP_ASM_OUT : [x] "r"(x) : "memory");
    if (tab < end)
      __asm__ volatile("1:\n\t" SP_ASM_NZ SP_ASM_NZ SP_ASM_NZ SP_ASM_NZ
                       "ldr   %[e], %[end]\n\t"
                       "cmp   %[tab], %[e]\n\tbne   1b\n\t"
                       : SP_ASM_OUT
                       : [x] "r"(x), [end] "m"(end)
                       : "memory", "cc");
  }
#else
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
#endif
  if (!r->fast) {
    const int32_t acc[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
    requant_store(acc, 8, r, out, out_step);
    return;
  }
  /* requant_store's fast path, unrolled on the accumulators in registers */
  const int32_t mult = r->mult, right = r->right, round = r->round;
  const int32_t offset = r->output_offset, lo = r->act_min, hi = r->act_max;
#define SP_REQUANT(a)                                           \
  do {                                                          \
    const int32_t x_ = smmulr(a, mult);                         \
    int32_t y_ = ((x_ + round + (x_ >> 31)) >> right) + offset; \
    y_ = y_ < lo ? lo : y_;                                     \
    *out = (int8_t)(y_ > hi ? hi : y_);                         \
    out += out_step;                                            \
  } while (0)
  SP_REQUANT(a0);
  SP_REQUANT(a1);
  SP_REQUANT(a2);
  SP_REQUANT(a3);
  SP_REQUANT(a4);
  SP_REQUANT(a5);
  SP_REQUANT(a6);
  SP_REQUANT(a7);
#undef SP_REQUANT
}

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
      for (int32_t oy = r0; oy < r1; ++oy) {
        const int8_t *x = relayout + (oy - r0) * p->stride_h * plane;
        int8_t *out = output + (oy - rows->out_row_base) * out_w * out_c + oc;
        int32_t ox = 0;
        for (; ox + 8 <= out_w; ox += 8)
          sparse_block8(table, n_nz, x + ox, b2, &rq, out + ox * out_c, out_c);
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

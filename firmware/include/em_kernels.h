/*
 * em_kernels.h -- the int8 kernels of edgel3-mote (public API).
 *
 * Bit-exact with TensorFlow Lite Micro's reference int8 kernels (the tflite-micro wheel
 * pinned in pyproject.toml is the oracle). Conventions, CMSIS-NN style:
 *   - one op per file firmware/kernels/<op>_s8.c, functions em_<op>_s8(...);
 *   - every kernel that needs scratch memory has em_<op>_s8_get_buffer_size(...) and a
 *     compile-time twin macro EM_<OP>_S8_BUFFER_BYTES(...) for static arenas; the caller
 *     owns all memory (no malloc anywhere);
 *   - tensors are NHWC with N = 1 (em_dims), weights OHWI (conv) / [out][in] (fully connected);
 *   - the portable C path and the Cortex-M DSP path (compile with -DEM_USE_DSP) give
 *     identical bytes.
 *   - return value: EM_OK (0) or a negative EM_ERR_* code.
 *
 * Row windows (em_rows): spatial kernels compute output rows [out_row_begin, out_row_end)
 * from an input buffer that holds only some input rows, so that conv -> conv -> pool chains
 * can stream through small line buffers. Row indices are GLOBAL (0..H-1 of the full tensor):
 *   input buffer row r    holds global input row  in_row_begin + r  (r < in_rows),
 *   output buffer row r   receives global output row out_row_base + r.
 * Rows outside [0, H_in) are padding (worth the input zero point: they contribute nothing,
 * as in TFLM). Rows inside [0, H_in) that an output row needs but the buffer does not hold
 * are a caller bug: the kernel checks the window up front and returns EM_ERR_WINDOW.
 * em_rows_full() gives full-tensor execution; em_rows_needed() says which input rows a
 * range of output rows reads.
 */
#ifndef EM_KERNELS_H
#define EM_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EM_KERNELS_API_VERSION 1

#define EM_OK 0
#define EM_ERR_ARG (-1)    /* a null pointer, a non-positive size, an unsupported shape */
#define EM_ERR_WINDOW (-2) /* the row window lacks input rows the requested outputs need */

/* Image / tensor shape, NHWC with N = 1. */
typedef struct {
  int32_t h, w, c;
} em_dims;

/* Which rows a call computes and which rows its buffers hold (global row indices). */
typedef struct {
  int32_t in_row_begin;  /* global row index held at input buffer row 0 */
  int32_t in_rows;       /* number of input rows present in the buffer */
  int32_t out_row_begin; /* first global output row to compute */
  int32_t out_row_end;   /* one past the last */
  int32_t out_row_base;  /* global output row index stored at output buffer row 0 */
} em_rows;

/* Full-tensor execution: the buffers hold every row. */
static inline em_rows em_rows_full(int32_t in_h, int32_t out_h) {
  em_rows r;
  r.in_row_begin = 0;
  r.in_rows = in_h;
  r.out_row_begin = 0;
  r.out_row_end = out_h;
  r.out_row_base = 0;
  return r;
}

/* The input rows [*first, *end) (clipped to [0, in_h)) that output rows
 * [out_row_begin, out_row_end) of a conv / pool read. effective_filter_h is
 * (filter_h - 1) * dilation_h + 1. An empty output range gives *first == *end. */
static inline void em_rows_needed(int32_t out_row_begin, int32_t out_row_end, int32_t stride_h,
                                  int32_t pad_top, int32_t effective_filter_h, int32_t in_h,
                                  int32_t *first, int32_t *end) {
  int32_t lo = out_row_begin * stride_h - pad_top;
  int32_t hi = (out_row_end - 1) * stride_h - pad_top + effective_filter_h;
  if (lo < 0) lo = 0;
  if (hi > in_h) hi = in_h;
  if (out_row_end <= out_row_begin || hi < lo) hi = lo;
  *first = lo;
  *end = hi;
}

/* Requantisation of the int32 accumulators, TFLM's convention: for output channel c,
 * real_multiplier = input_scale * filter_scale[c] / output_scale (double), then
 * QuantizeMultiplier -> (multiplier[c] Q31 in [2^30, 2^31), shift[c] > 0 = left shift).
 * edgel3_mote.export.quant_params computes them exactly like TFLM does. */
typedef struct {
  const int32_t *multiplier;
  const int32_t *shift;
  int32_t per_channel; /* 1: one entry per output channel; 0: entry [0] for every channel */
} em_quant;

/* ------------------------------------------------------------------------------------ */
/* CONV_2D, int8 activations, int8 per-channel weights OHWI, int32 bias.                  */
/* ------------------------------------------------------------------------------------ */
typedef struct {
  int32_t stride_h, stride_w;
  int32_t pad_top, pad_left; /* TFLM padding: SAME -> (total pad) / 2, VALID -> 0 */
  int32_t dilation_h, dilation_w;
  int32_t input_offset;   /* = -input zero point */
  int32_t output_offset;  /* = +output zero point */
  int32_t activation_min; /* fused activation clamp in the int8 domain: */
  int32_t activation_max; /* none -> [-128, 127], ReLU -> [max(zp,-128), 127], ... */
} em_conv_params;

/* Scratch of the DSP path: the im2col columns of two output pixels, int16, each padded to a
 * multiple of 8 taps (0 on the portable path). Engines that build one arena for both paths
 * may always reserve the DSP amount. */
#define EM_CONV2D_S8_PADDED_TAPS(filter_h, filter_w, in_c) \
  ((int32_t)((((filter_h) * (filter_w) * (in_c)) + 7) / 8 * 8))
#define EM_CONV2D_S8_DSP_BUFFER_BYTES(filter_h, filter_w, in_c) \
  ((int32_t)(2 * EM_CONV2D_S8_PADDED_TAPS(filter_h, filter_w, in_c) * 2 + 4))
#if defined(EM_USE_DSP)
#define EM_CONV2D_S8_BUFFER_BYTES(filter_h, filter_w, in_c) \
  EM_CONV2D_S8_DSP_BUFFER_BYTES(filter_h, filter_w, in_c)
#else
#define EM_CONV2D_S8_BUFFER_BYTES(filter_h, filter_w, in_c) ((int32_t)0)
#endif

/* filter_dims = {filter_h, filter_w, in_c}; out channels = output_dims->c. */
int32_t em_conv2d_s8_get_buffer_size(const em_dims *input_dims, const em_dims *filter_dims,
                                     const em_dims *output_dims);

/* input_dims / output_dims are the FULL tensor shapes; rows says which part is present.
 * bias may be NULL. scratch: em_conv2d_s8_get_buffer_size() bytes, 4-byte aligned
 * (NULL allowed when that size is 0). */
int em_conv2d_s8(const em_conv_params *params, const em_quant *quant, const em_dims *input_dims,
                 const int8_t *input, const em_dims *filter_dims, const int8_t *filter,
                 const int32_t *bias, const em_dims *output_dims, int8_t *output,
                 const em_rows *rows, void *scratch);

/* The same op with the weights pre-expanded to int16 (twice the flash of OHWI int8, no
 * sign extension at run time): "w16" layout, one int32 word per pair of int16 weights,
 * low half first. Output channels go in fours (missing last channels are zeros), taps
 * t = (ky * filter_w + kx) * in_c + ic are padded with zeros to
 * P = EM_CONV2D_S8_PADDED_TAPS, and word [(oc / 4) * 2P + 4k + (oc % 4)] holds the weights
 * of channel oc at taps 2k and 2k + 1. em_conv2d_s8_w16_pack() writes it. */
#define EM_CONV2D_S8_W16_WORDS(out_c, filter_h, filter_w, in_c) \
  ((int32_t)(((out_c) + 3) / 4 * 2 * EM_CONV2D_S8_PADDED_TAPS(filter_h, filter_w, in_c)))
void em_conv2d_s8_w16_pack(const int8_t *filter, int32_t out_c, const em_dims *filter_dims,
                           int32_t *filter_w16);
int em_conv2d_s8_w16(const em_conv_params *params, const em_quant *quant, const em_dims *input_dims,
                     const int8_t *input, const em_dims *filter_dims, const int32_t *filter_w16,
                     const int32_t *bias, const em_dims *output_dims, int8_t *output,
                     const em_rows *rows, void *scratch);

/* The same op, weights-stationary: int8 OHWI weights (where they are: flash), four output
 * channels at a time expanded once per pass into a RAM tile in the w16 layout, which the w16
 * 4x2 blocks of every pixel pair of the pass then read -- the MAC loop never reads flash, and
 * flash holds int8 weights. A pass is pass_pixels output pixels of the call (their int16
 * im2col columns are built once per pass): the weights are read ceil(call pixels / pass) times
 * per call. Portable path: em_conv2d_s8 on the same weights (no scratch). Scratch on the DSP
 * path: the tile (2P words) and ceil(pass_pixels / 2) pixel pairs' columns (P words each);
 * with one input channel, every channel group's tile and the one-channel path's columns. */
#define EM_CONV2D_S8_TILED_DSP_BUFFER_BYTES(out_c, filter_h, filter_w, in_c, pass_pixels) \
  ((int32_t)((in_c) == 1 ? 4 * EM_CONV2D_S8_W16_WORDS(out_c, filter_h, filter_w, 1) +     \
                               EM_CONV2D_S8_DSP_BUFFER_BYTES(filter_h, filter_w, 1)       \
                         : 4 * EM_CONV2D_S8_PADDED_TAPS(filter_h, filter_w, in_c) *       \
                               (2 + ((pass_pixels) + 1) / 2)))
#if defined(EM_USE_DSP)
#define EM_CONV2D_S8_TILED_BUFFER_BYTES(out_c, filter_h, filter_w, in_c, pass_pixels) \
  EM_CONV2D_S8_TILED_DSP_BUFFER_BYTES(out_c, filter_h, filter_w, in_c, pass_pixels)
#else
#define EM_CONV2D_S8_TILED_BUFFER_BYTES(out_c, filter_h, filter_w, in_c, pass_pixels) ((int32_t)0)
#endif
/* 0 on the portable path, and for bad arguments (null dims, pass_pixels < 1). */
int32_t em_conv2d_s8_tiled_get_buffer_size(const em_dims *filter_dims, const em_dims *output_dims,
                                           int32_t pass_pixels);
/* scratch: em_conv2d_s8_tiled_get_buffer_size() bytes, 4-byte aligned (NULL when 0). */
int em_conv2d_s8_tiled(const em_conv_params *params, const em_quant *quant,
                       const em_dims *input_dims, const int8_t *input, const em_dims *filter_dims,
                       const int8_t *filter, const int32_t *bias, const em_dims *output_dims,
                       int8_t *output, const em_rows *rows, int32_t pass_pixels, void *scratch);

/* The same op by Winograd F(2x2, 3x3), integer-exact (see conv2d_s8.c): 3x3 filters, stride and
 * dilation 1, in_c a multiple of 8 up to 192 (else EM_ERR_ARG); int8 OHWI weights where they are
 * (flash), transformed at run time four output channels at a time into a RAM tile; 16 instead of
 * 36 multiplications per 2x2 outputs and channel pair. Output rows go in pairs: a call of two (or
 * more) rows gets the full saving, a one-row call computes a pair and keeps one. Portable path:
 * em_conv2d_s8 on the same weights. The call's output rows go in passes of pass_tile_rows tile rows
 * (2 x pass_tile_rows output rows): the weights are transformed once per pass and channel group.
 * Scratch (DSP path): the input transforms of a pass's tiles and one group's weight transforms. */
#define EM_CONV2D_S8_WINO_DSP_BUFFER_BYTES(in_c, out_w, pass_tile_rows) \
  ((int32_t)(64 * (in_c) * ((((out_w) + 3) / 4) * (pass_tile_rows) + 2)))
#if defined(EM_USE_DSP)
#define EM_CONV2D_S8_WINO_BUFFER_BYTES(in_c, out_w, pass_tile_rows) \
  EM_CONV2D_S8_WINO_DSP_BUFFER_BYTES(in_c, out_w, pass_tile_rows)
#else
#define EM_CONV2D_S8_WINO_BUFFER_BYTES(in_c, out_w, pass_tile_rows) ((int32_t)0)
#endif
int32_t em_conv2d_s8_wino_get_buffer_size(const em_dims *filter_dims, const em_dims *output_dims,
                                          int32_t pass_tile_rows);
/* scratch: em_conv2d_s8_wino_get_buffer_size() bytes, 4-byte aligned (NULL when 0). */
int em_conv2d_s8_wino(const em_conv_params *params, const em_quant *quant,
                      const em_dims *input_dims, const int8_t *input, const em_dims *filter_dims,
                      const int8_t *filter, const int32_t *bias, const em_dims *output_dims,
                      int8_t *output, const em_rows *rows, int32_t pass_tile_rows, void *scratch);

/* ------------------------------------------------------------------------------------ */
/* CONV_2D with sparse weights: the same op, the same bytes as em_conv2d_s8, pruned weights */
/* stored compact (<= 2 bytes per nonzero, indices included). The generator picks it per   */
/* layer. Format and execution: see conv2d_sparse_s8.c.                                   */
/* ------------------------------------------------------------------------------------ */
#define EM_SPARSE_MAX_FILTER_TAPS 64 /* filter_h * filter_w limit of the sparse kernel */

typedef struct {
  const uint8_t *index;    /* Rice-coded gaps between the nonzeros' flat OHWI positions */
  const int8_t *value;     /* [nnz] the nonzero weights, in OHWI order */
  int32_t index_bytes;     /* length of index */
  int32_t nnz;             /* nonzero weights in the whole filter */
  int32_t rice_k;          /* Rice parameter: low bits stored verbatim per gap, 0..24 */
  int32_t max_channel_nnz; /* the most nonzeros of one output channel (scratch table size) */
  int32_t pass_rows;       /* output rows computed per pass (scratch holds their input rows) */
} em_sparse_filter;

/* Scratch: a table of max_channel_nnz words, then pass_in_rows * in_c * row_len int8 of
 * re-laid-out input, where pass_in_rows = (min(pass_rows, out_h) - 1) * stride_h +
 * effective filter height and row_len = stride_w * ceil(((out_w - 1) * stride_w +
 * effective filter width) / stride_w). */
#define EM_CONV2D_SPARSE_S8_BUFFER_BYTES(pass_in_rows, in_c, row_len, max_channel_nnz) \
  ((int32_t)(4 * (max_channel_nnz) + (pass_in_rows) * (in_c) * (row_len)))
/* 0 when the layer cannot run sparse (a null pointer, bad params, or one output row's taps
 * spanning more than 65536 bytes of relayout). */
int32_t em_conv2d_sparse_s8_get_buffer_size(const em_conv_params *params,
                                            const em_dims *filter_dims, const em_dims *output_dims,
                                            const em_sparse_filter *filter);

/* Packs a dense OHWI filter (out_c x filter_dims) into the format, on the device: index
 * (index_capacity bytes) and value (value_capacity, one per nonzero) are the caller's; fills
 * *out. Returns the index bytes used, or EM_ERR_ARG (bad arguments, a buffer too small). */
int32_t em_conv2d_sparse_s8_pack(const int8_t *filter, int32_t out_c, const em_dims *filter_dims,
                                 int32_t rice_k, uint8_t *index, int32_t index_capacity,
                                 int8_t *value, int32_t value_capacity, int32_t pass_rows,
                                 em_sparse_filter *out);

/* scratch: em_conv2d_sparse_s8_get_buffer_size() bytes, 4-byte aligned, never NULL. */
int em_conv2d_sparse_s8(const em_conv_params *params, const em_quant *quant,
                        const em_dims *input_dims, const int8_t *input, const em_dims *filter_dims,
                        const em_sparse_filter *filter, const int32_t *bias,
                        const em_dims *output_dims, int8_t *output, const em_rows *rows,
                        void *scratch);

/* ------------------------------------------------------------------------------------ */
/* MAX_POOL_2D (input and output share scale and zero point, as TFLM requires).          */
/* ------------------------------------------------------------------------------------ */
typedef struct {
  int32_t stride_h, stride_w;
  int32_t filter_h, filter_w;
  int32_t pad_top, pad_left; /* SAME or VALID, computed as TFLM does */
  int32_t activation_min, activation_max;
} em_pool_params;

int em_max_pool2d_s8(const em_pool_params *params, const em_dims *input_dims, const int8_t *input,
                     const em_dims *output_dims, int8_t *output, const em_rows *rows);

/* ------------------------------------------------------------------------------------ */
/* REDUCE_MAX over H and W (GlobalMaxPooling2D): output[c] = max over rows and columns.   */
/* TFLM requires equal input/output quantisation for int8 REDUCE_MAX, so none is done.    */
/* Streams: the buffer holds in_rows full rows; accumulate = 0 starts the maximum,        */
/* accumulate = 1 folds these rows into the maximum already in output.                    */
/* ------------------------------------------------------------------------------------ */
int em_reduce_max_s8(const em_dims *input_dims, const int8_t *input, int32_t in_rows,
                     int32_t accumulate, int8_t *output);

/* ------------------------------------------------------------------------------------ */
/* FULLY_CONNECTED: filter [out_features][in_features], per-tensor or per-channel quant.   */
/* ------------------------------------------------------------------------------------ */
typedef struct {
  int32_t input_offset;  /* = -input zero point */
  int32_t filter_offset; /* = -filter zero point (0 for symmetric int8 weights) */
  int32_t output_offset; /* = +output zero point */
  int32_t activation_min, activation_max;
} em_fc_params;

#define EM_FULLY_CONNECTED_S8_BUFFER_BYTES(in_features, out_features) ((int32_t)0)
int32_t em_fully_connected_s8_get_buffer_size(int32_t in_features, int32_t out_features);

int em_fully_connected_s8(const em_fc_params *params, const em_quant *quant, int32_t batches,
                          int32_t in_features, const int8_t *input, int32_t out_features,
                          const int8_t *filter, const int32_t *bias, int8_t *output);

/* ------------------------------------------------------------------------------------ */
/* QUANTIZE (float32 -> int8) and DEQUANTIZE (int8 -> float32), TFLM's reference rounding. */
/* ------------------------------------------------------------------------------------ */
int em_quantize_s8(const float *input, int32_t count, float scale, int32_t zero_point,
                   int8_t *output);
int em_dequantize_s8(const int8_t *input, int32_t count, float scale, int32_t zero_point,
                     float *output);

#ifdef __cplusplus
}
#endif

#endif /* EM_KERNELS_H */

/* The size macros of em_kernels.h as functions, so tests can hold the Python mirrors to them. */
#include "em_kernels.h"

int32_t macro_padded_taps(int32_t h, int32_t w, int32_t c) {
  return EM_CONV2D_S8_PADDED_TAPS(h, w, c);
}
int32_t macro_dsp_buffer_bytes(int32_t h, int32_t w, int32_t c) {
  return EM_CONV2D_S8_DSP_BUFFER_BYTES(h, w, c);
}
int32_t macro_w16_words(int32_t oc, int32_t h, int32_t w, int32_t c) {
  return EM_CONV2D_S8_W16_WORDS(oc, h, w, c);
}
int32_t macro_sparse_max_filter_taps(void) {
  return EM_SPARSE_MAX_FILTER_TAPS;
}
int32_t macro_sparse_buffer_bytes(int32_t rows, int32_t c, int32_t len, int32_t nnz) {
  return EM_CONV2D_SPARSE_S8_BUFFER_BYTES(rows, c, len, nnz);
}
int32_t macro_status(int32_t which) {
  return which == 0 ? EM_OK : which == 1 ? EM_ERR_ARG : EM_ERR_WINDOW;
}

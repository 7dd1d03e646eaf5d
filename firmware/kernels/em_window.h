/*
 * em_window.h -- argument and row-window checks shared by the spatial kernels (internal).
 */
#ifndef EM_WINDOW_H
#define EM_WINDOW_H

#include "em_kernels.h"

static inline int em_dims_valid(const em_dims *d) {
  return d != 0 && d->h > 0 && d->w > 0 && d->c > 0;
}

/* Checks that the output rows requested exist and fit the output buffer's numbering, and
 * that the input buffer holds every in-image input row they read. effective_filter_h =
 * (filter_h - 1) * dilation_h + 1. Returns EM_OK, EM_ERR_ARG or EM_ERR_WINDOW. */
static inline int em_check_window(const em_rows *rows, int32_t in_h, int32_t out_h,
                                  int32_t stride_h, int32_t pad_top, int32_t effective_filter_h) {
  int32_t first, end;
  if (rows == 0) return EM_ERR_ARG;
  if (rows->out_row_begin < 0 || rows->out_row_end > out_h ||
      rows->out_row_begin > rows->out_row_end || rows->out_row_base > rows->out_row_begin ||
      rows->in_rows < 0)
    return EM_ERR_ARG;
  em_rows_needed(rows->out_row_begin, rows->out_row_end, stride_h, pad_top, effective_filter_h,
                 in_h, &first, &end);
  if (first < end && (first < rows->in_row_begin || end > rows->in_row_begin + rows->in_rows))
    return EM_ERR_WINDOW;
  return EM_OK;
}

#endif /* EM_WINDOW_H */

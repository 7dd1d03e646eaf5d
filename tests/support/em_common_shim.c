/* Exported wrappers of em_common.h's static inline arithmetic, for host tests (ctypes). */
#include "em_common.h"

int32_t shim_srdhm(int32_t a, int32_t b) {
  return em_saturating_rounding_doubling_high_mul(a, b);
}
int32_t shim_rdbpot(int32_t x, int32_t e) {
  return em_rounding_divide_by_pot(x, e);
}
int32_t shim_mbqm(int32_t x, int32_t m, int32_t s) {
  return em_multiply_by_quantized_multiplier(x, m, s);
}

/* TEST DOUBLE copy of the front-end contract (docs/ARCHITECTURE.md, firmware/frontend/em_logmel.h). */
#ifndef EM_LOGMEL_H
#define EM_LOGMEL_H
#include <stdint.h>
int32_t em_logmel_get_buffer_size(void);
int em_logmel_s8(const int16_t *pcm, int32_t n_samples, int8_t *out, void *scratch);
int32_t em_logmel_get_buffer_size_one_pass(void);
int em_logmel_s8_scratch(const int16_t *pcm, int32_t n_samples, int8_t *out, void *scratch,
                         int32_t scratch_bytes);
#endif

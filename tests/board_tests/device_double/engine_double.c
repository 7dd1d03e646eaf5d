/*
 * TEST DOUBLE: a fake front-end and engine with the contract's signatures (em_logmel.h,
 * model_engine.h). Linked with the fake board on the host (board_double.c) and with the
 * REAL board support under QEMU (tests/board_tests/test_protocol_qemu.py), around the real
 * protocol server. Its maths is mirrored in numpy in device_double.py.
 */
#include <stdint.h>
#include <string.h>

#include "em_frontend_tables.h"
#include "em_logmel.h"
#include "model_engine.h"

/* ---- fake front-end: out[i] from a strided PCM sample, zero-padded past n ---- */
int32_t em_logmel_get_buffer_size(void) { return 128; }
int em_logmel_s8(const int16_t *pcm, int32_t n_samples, int8_t *out, void *scratch) {
    memset(scratch, 0xAB, 128); /* uses its scratch, as the real one does */
    for (int32_t i = 0; i < EM_INPUT_BYTES; ++i) {
        int32_t k = (i * 7) % EM_FE_WINDOW_SAMPLES;
        int32_t s = k < n_samples ? pcm[k] : 0;
        out[i] = (int8_t)(uint8_t)(((s >> 8) + i * 3) & 0xFF);
    }
    return 0;
}
/* no one-pass path in the double: it never has the scratch for one, so it is em_logmel_s8 */
int32_t em_logmel_get_buffer_size_one_pass(void) { return INT32_MAX; }
int em_logmel_s8_scratch(const int16_t *pcm, int32_t n_samples, int8_t *out, void *scratch,
                         int32_t scratch_bytes) {
    if (scratch_bytes < em_logmel_get_buffer_size()) return -1;
    return em_logmel_s8(pcm, n_samples, out, scratch);
}

/* ---- fake engine: output[j] = wrapped sum of input[k], k % 16 == j; clobbers its input ---- */
static int8_t arena[EM_ARENA_BYTES];
const char *const em_layer_names[EM_NUM_LAYERS] = {"conv_0", "max_pool_1", "dense_2"};
int8_t *em_model_input(void) { return arena; }
void *em_model_scratch(uint32_t *bytes) {
    *bytes = EM_ARENA_BYTES - EM_INPUT_BYTES;
    return arena + EM_INPUT_BYTES;
}
int em_model_invoke(int8_t *output, uint32_t *layer_ticks) {
    int32_t acc[EM_OUTPUT_BYTES] = {0};
    for (int32_t k = 0; k < EM_INPUT_BYTES; ++k) acc[k % EM_OUTPUT_BYTES] += arena[k];
    for (int32_t j = 0; j < EM_OUTPUT_BYTES; ++j) output[j] = (int8_t)(uint8_t)(acc[j] & 0xFF);
    memset(arena, 0x55, EM_INPUT_BYTES); /* a planner may reuse the input's space */
    if (layer_ticks) {
        for (int32_t l = 0; l < EM_NUM_LAYERS; ++l) layer_ticks[l] = 100u * (uint32_t)(l + 1);
    }
    return 0;
}


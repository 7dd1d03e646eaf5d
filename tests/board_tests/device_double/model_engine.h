/* TEST DOUBLE of a generated engine header (export/codegen writes the real one).
 * Small shapes so the host protocol tests run in milliseconds; the spectrogram is
 * larger than one frame's payload so GET_SPECTROGRAM chunking is exercised. */
#ifndef MODEL_ENGINE_H
#define MODEL_ENGINE_H
#include <stdint.h>
#define EM_MODEL_NAME "double-16"
#define EM_MODEL_SHA256 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define EM_INPUT_H 40
#define EM_INPUT_W 50
#define EM_INPUT_C 1
#define EM_INPUT_BYTES (EM_INPUT_H * EM_INPUT_W * EM_INPUT_C)
#define EM_OUTPUT_BYTES 16
#define EM_INPUT_SCALE 0.25f
#define EM_INPUT_ZERO_POINT (-3)
#define EM_OUTPUT_SCALE 0.0625f
#define EM_OUTPUT_ZERO_POINT (-128)
#define EM_NUM_LAYERS 3
#define EM_ARENA_BYTES 4096
#define EM_WEIGHT_BYTES 1234
extern const char *const em_layer_names[];
int8_t *em_model_input(void);
void *em_model_scratch(uint32_t *bytes);
int em_model_invoke(int8_t *output, uint32_t *layer_ticks);
#endif

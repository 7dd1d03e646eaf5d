/*
 * em_tflm_engine.cc -- the model_engine.h contract on TensorFlow Lite Micro (owner:
 * export/tflm_runtime.py).
 *
 * One MicroInterpreter over the model's C array (model_data.h), the resolver of exactly its
 * operators (em_tflm_model.h) and one static arena of EM_ARENA_BYTES; built on the first call
 * (placement new into static storage: the startup code runs no C++ constructors). A profiler
 * (MicroProfilerInterface) records em_board_ticks() per operator for layer_ticks.
 */
#include <new>
#include <stdint.h>
#include <string.h>

#include "em_board.h"
#include "em_tflm_model.h"
#include "model_data.h"
#include "model_engine.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_log.h"
#include "tensorflow/lite/micro/micro_profiler_interface.h"
#include "tensorflow/lite/schema/schema_generated.h"

extern "C" const char *const em_layer_names[EM_NUM_LAYERS] = {EM_TFLM_LAYER_NAMES};

namespace {

/* Ticks per operator of the current Invoke, in the interpreter's order (one subgraph). */
class LayerTicksProfiler : public tflite::MicroProfilerInterface {
 public:
  void Reset(uint32_t *ticks) {
    ticks_ = ticks;
    next_ = 0;
  }
  uint32_t BeginEvent(const char *tag) override {
    (void)tag;
    uint32_t handle = next_++;
    if (handle < EM_NUM_LAYERS) start_[handle] = em_board_ticks();
    return handle;
  }
  void EndEvent(uint32_t handle) override {
    uint32_t now = em_board_ticks();
    if (ticks_ != nullptr && handle < EM_NUM_LAYERS) ticks_[handle] = now - start_[handle];
  }

 private:
  uint32_t *ticks_ = nullptr;
  uint32_t next_ = 0;
  uint32_t start_[EM_NUM_LAYERS] = {0};
};

alignas(16) uint8_t g_arena[EM_ARENA_BYTES];
alignas(4) uint8_t g_scratch[EM_TFLM_SCRATCH_BYTES];
alignas(alignof(EmTflmResolver)) uint8_t g_resolver_mem[sizeof(EmTflmResolver)];
alignas(alignof(LayerTicksProfiler)) uint8_t g_profiler_mem[sizeof(LayerTicksProfiler)];
alignas(alignof(tflite::MicroInterpreter)) uint8_t
    g_interpreter_mem[sizeof(tflite::MicroInterpreter)];
tflite::MicroInterpreter *g_interpreter = nullptr;
LayerTicksProfiler *g_profiler = nullptr;
int g_state = 0; /* 0: not built, 1: ready, -1: failed */

int ensure_ready() {
  if (g_state != 0) return g_state;
  g_state = -1;
  const tflite::Model *model = tflite::GetModel(g_model_data);
  if (model->version() != TFLITE_SCHEMA_VERSION) {
    MicroPrintf("tflm: model schema %d, TFLM expects %d", (int)model->version(),
                TFLITE_SCHEMA_VERSION);
    return g_state;
  }
  EmTflmResolver *resolver = new (g_resolver_mem) EmTflmResolver();
  if (em_tflm_add_ops(*resolver) != kTfLiteOk) return g_state;
  g_profiler = new (g_profiler_mem) LayerTicksProfiler();
  g_interpreter = new (g_interpreter_mem)
      tflite::MicroInterpreter(model, *resolver, g_arena, EM_ARENA_BYTES, nullptr, g_profiler);
  if (g_interpreter->AllocateTensors() != kTfLiteOk) {
    MicroPrintf("tflm: AllocateTensors failed in a %d-byte arena", EM_ARENA_BYTES);
    return g_state;
  }
  TfLiteTensor *in = g_interpreter->input(0);
  TfLiteTensor *out = g_interpreter->output(0);
  if (in->type != kTfLiteInt8 || in->bytes != EM_INPUT_BYTES || out->type != kTfLiteInt8 ||
      out->bytes != EM_OUTPUT_BYTES) {
    MicroPrintf("tflm: input/output tensors are not int8 of %d/%d bytes", EM_INPUT_BYTES,
                EM_OUTPUT_BYTES);
    return g_state;
  }
  MicroPrintf("tflm: arena_used_bytes %u of %u", (unsigned)g_interpreter->arena_used_bytes(),
              (unsigned)EM_ARENA_BYTES);
  g_state = 1;
  return g_state;
}

}  // namespace

extern "C" int8_t *em_model_input(void) {
  if (ensure_ready() != 1) return reinterpret_cast<int8_t *>(g_scratch); /* invoke reports it */
  return g_interpreter->input(0)->data.int8;
}

extern "C" void *em_model_scratch(uint32_t *bytes) {
  *bytes = sizeof(g_scratch);
  return g_scratch;
}

extern "C" int em_model_invoke(int8_t *output, uint32_t *layer_ticks) {
  if (ensure_ready() != 1) return -1;
  if (layer_ticks != nullptr) memset(layer_ticks, 0, sizeof(uint32_t) * EM_NUM_LAYERS);
  g_profiler->Reset(layer_ticks);
  TfLiteStatus status = g_interpreter->Invoke();
  g_profiler->Reset(nullptr);
  if (status != kTfLiteOk) return -1;
  memcpy(output, g_interpreter->output(0)->data.int8, EM_OUTPUT_BYTES);
  return 0;
}

extern "C" uint32_t em_model_arena_used_bytes(void) {
  return g_state == 1 ? (uint32_t)g_interpreter->arena_used_bytes() : 0u;
}

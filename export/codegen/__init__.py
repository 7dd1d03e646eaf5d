"""The code generator: int8 .tflite -> graph IR -> memory plan -> a self-contained C99 engine.

``generate_engine(tflite_bytes, out_dir, model_name=...)`` writes ``model_engine.h``,
``model_engine.c`` and ``model_weights.c`` (templates in ``export/templates/engine/``, one
emitter per op in ``export/codegen/ops/``) and returns an :class:`EngineInfo` (arena and
weight bytes, per-layer MACs, streaming groups).
"""

from edgel3_mote.export.codegen.engine import (
    DEFAULT_SYMBOL_PREFIX,
    ENGINE_FILES,
    EngineInfo,
    EngineSymbols,
    LayerInfo,
    engine_symbols,
    generate_engine,
)

__all__ = [
    "DEFAULT_SYMBOL_PREFIX",
    "ENGINE_FILES",
    "EngineInfo",
    "EngineSymbols",
    "LayerInfo",
    "engine_symbols",
    "generate_engine",
]

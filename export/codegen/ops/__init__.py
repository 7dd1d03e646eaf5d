"""One emitter per op kind; ``EMITTERS[kind]`` builds the emitter for an IR op."""

from __future__ import annotations

from edgel3_mote.export.codegen.ops.base import CArray, OpEmitter
from edgel3_mote.export.codegen.ops.conv2d import Conv2DEmitter
from edgel3_mote.export.codegen.ops.fully_connected import FullyConnectedEmitter
from edgel3_mote.export.codegen.ops.max_pool2d import MaxPool2DEmitter
from edgel3_mote.export.codegen.ops.reduce_max import ReduceMaxEmitter
from edgel3_mote.export.codegen.ops.reshape import ReshapeEmitter

EMITTERS: dict[str, type[OpEmitter]] = {
    e.kind: e for e in (Conv2DEmitter, MaxPool2DEmitter, ReduceMaxEmitter, FullyConnectedEmitter, ReshapeEmitter)
}

__all__ = ["CArray", "Conv2DEmitter", "OpEmitter", "EMITTERS"]

"""edgel3-mote: the EdgeL3 audio embedding from Keras to a microcontroller mote.

Sub-packages (each a top-level folder of the repository):

- ``edgel3_mote.compress``    Keras models of the L3 family, the kapre-exact front-end,
                              original weight loading, pruning, retraining, evaluation.
- ``edgel3_mote.export``      int8 TFLite conversion, C arrays, the C engine generator.
- ``edgel3_mote.firmware``    the C side: kernels, on-device front-end, boards, protocol.
- ``edgel3_mote.board_tests`` the serial host harness and on-target tests.
"""

import os as _os

# TF-MOT only accepts tf_keras (Keras 2) models; this must be set before TensorFlow is
# imported anywhere, and every module of the project is imported through this package.
_os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from importlib import metadata as _metadata

try:  # one source: pyproject.toml's version, as installed
    __version__ = _metadata.version("edgel3-mote")
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

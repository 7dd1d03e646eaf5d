#!/usr/bin/env python
"""Serial bench of a board (or QEMU): a thin script over ``edgel3_mote.board_tests.harness.bench``.

Same arguments as ``edgel3-mote bench`` (``--help`` lists them), e.g.::

    tools/serial_bench.py --board qemu-mps2-an386 --model sea-64 --clips ../shared/audio/cc0_animals --hop-size 0.5
    tools/serial_bench.py --board nucleo-h743zi --port /dev/ttyACM0 --baud 921600 --clips my_clips/
"""

import sys

import edgel3_mote  # noqa: F401  (legacy Keras before TensorFlow)
from edgel3_mote.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))

"""TEST DOUBLE loader: the real protocol server C code around a fake board/front-end/engine.

Not a test module (no ``test_`` prefix); imported by test_protocol_device.py and
test_protocol_client.py. The fake maths (front-end, engine) is mirrored here in numpy.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from edgel3_mote.export.hostbuild import FIRMWARE_DIR, load_shared

HERE = Path(__file__).resolve().parent / "device_double"

WINDOW = 3000
INPUT_BYTES = 40 * 50
OUTPUT_BYTES = 16
LAYER_NAMES = ["conv_0", "max_pool_1", "dense_2"]
CLOCK_HZ = 1_000_000


def build() -> ctypes.CDLL:
    lib = load_shared(
        [
            HERE / "board_double.c",
            HERE / "engine_double.c",
            FIRMWARE_DIR / "app" / "serial_main.c",
            FIRMWARE_DIR / "protocol" / "em_protocol.c",
        ],
        include_dirs=[HERE, FIRMWARE_DIR / "protocol"],
        defines={"EM_SERIAL_NO_MAIN": None},
        name="protocol-device-double",
    )
    lib.double_feed.argtypes = [ctypes.c_char_p, ctypes.c_uint32]
    lib.double_take.argtypes = [ctypes.c_char_p, ctypes.c_uint32]
    lib.double_take.restype = ctypes.c_uint32
    lib.double_advance.argtypes = [ctypes.c_uint32]
    lib.em_crc32.argtypes = [ctypes.c_uint32, ctypes.c_char_p, ctypes.c_uint32]
    lib.em_crc32.restype = ctypes.c_uint32
    return lib


class DoubleDevice:
    """The C double as a byte pipe: ``feed`` bytes in, ``take`` the answers out."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        lib.double_boot()

    def feed(self, data: bytes) -> None:
        if data:
            self.lib.double_feed(data, len(data))

    def take(self) -> bytes:
        buf = ctypes.create_string_buffer(1 << 20)
        n = self.lib.double_take(buf, len(buf))
        return buf.raw[:n]

    def stall(self, seconds: float) -> None:
        """Let device time pass with no byte arriving, then poll (partial-frame timeout)."""
        self.lib.double_advance(int(seconds * CLOCK_HZ))
        self.lib.double_poll()


class DoubleLink:
    """Duck-types SerialLink over the C double, so DeviceClient runs against the real server."""

    url = "double://"

    def __init__(self, device: DoubleDevice, corrupt_first_writes: int = 0) -> None:
        self.device = device
        self.corrupt_first_writes = corrupt_first_writes
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        if self.writes <= self.corrupt_first_writes:  # a flipped bit on the wire
            data = bytearray(data)
            data[-5] ^= 0x10
            data = bytes(data)
        self.device.feed(data)

    def read(self, timeout: float, max_bytes: int = 65536) -> bytes:
        return self.device.take()


def fake_spectrogram(pcm: np.ndarray) -> np.ndarray:
    """Mirror of em_logmel_s8 in device_double.c."""
    padded = np.zeros(WINDOW, dtype=np.int32)
    padded[: len(pcm)] = pcm
    i = np.arange(INPUT_BYTES)
    s = padded[(i * 7) % WINDOW]
    return (((s >> 8) + i * 3) & 0xFF).astype(np.uint8).view(np.int8)


def fake_embedding(spectrogram: np.ndarray) -> np.ndarray:
    """Mirror of em_model_invoke in device_double.c."""
    acc = spectrogram.astype(np.int32).reshape(-1, OUTPUT_BYTES).sum(axis=0)
    return (acc & 0xFF).astype(np.uint8).view(np.int8)

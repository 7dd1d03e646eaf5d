"""A typed client of the serial protocol: one method per command, retries on a lost or
corrupted exchange, and the window-level operation the bench is made of.

>>> with SerialLink("socket://127.0.0.1:4444") as link:
...     dev = DeviceClient(link)
...     info = dev.info()
...     result, spectrogram = dev.run_window(pcm_int16, layer_ticks=True)
...     result, _ = dev.run_window(pcm_int16, classify=True, spectrogram=False)  # a head compiled in
...     result.logits, result.head_ticks

INFER flag bit 1 (classify) adds the classifier head's fields after the layer ticks (PROTOCOL.md,
``INFER_CLASSIFIED`` in the generated tables); a firmware without a head answers byte for byte as before.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass

import numpy as np

from edgel3_mote.board_tests.harness import protocol as P
from edgel3_mote.board_tests.harness.link import SerialLink
from edgel3_mote.errors import DeviceError, InvalidInputError

# Statuses that mean "the frame was damaged or cut in transit": send it again.
# Answers that mean "the frame was damaged on the line": send it again. TOO_LONG too: this host never
# sends a payload over the maximum (exchange checks), so a TOO_LONG header is one whose length field a
# dropped byte or a flipped bit has changed (found by the fault-injected soak). A real TOO_LONG (audio past
# the window) is raised all the same once the retries are spent.
_RETRYABLE = {P.Status.BAD_CRC, P.Status.TIMEOUT, P.Status.TOO_LONG}


def _cmd_name(cmd: int) -> str:
    try:
        return P.Cmd(cmd).name
    except ValueError:
        return f"command {cmd:#04x}"


@dataclass
class ClassifiedResult(P.InferResult):
    """INFER with flag bit 1: the embedding's result plus the head's int8 logits and ticks."""

    head_ticks: int = 0
    logits: np.ndarray | None = None  # int8 (num_classes,); the class is their argmax


def decode_infer_classified(payload: bytes) -> ClassifiedResult:
    """An INFER answer to flag bit 1: the usual fields, then head_ticks u32 | n u16 | logits int8[n]."""
    base = P.infer_payload_bytes(payload)
    tail = P.INFER_CLASSIFIED
    if len(payload) < base + tail.size:
        raise ValueError(f"INFER payload is {len(payload)} bytes: no classifier fields after byte {base}")
    head_ticks, n_classes = struct.unpack_from(tail.format, payload, base)
    if len(payload) != base + tail.size + n_classes:
        raise ValueError(f"INFER payload is {len(payload)} bytes, header says {base + tail.size + n_classes}")
    r = P.decode_infer(payload[:base])
    logits = np.frombuffer(payload, dtype=np.int8, count=n_classes, offset=base + tail.size).copy()
    return ClassifiedResult(
        r.frontend_ticks, r.engine_ticks, r.samples, r.embedding, r.layer_ticks, int(head_ticks), logits
    )


def decode_head_info(info: dict) -> dict:
    """INFO with ``num_classes`` always present (``protocol.decode_info`` names the head's tags)."""
    out = dict(info)
    out.setdefault("num_classes", 0)  # firmware older than the head: none
    return out


class CommandError(DeviceError):
    """The device answered a command with an error status."""

    def __init__(self, cmd: int, status: int, message: str) -> None:
        super().__init__(message)
        self.cmd = cmd
        self.status = status


class DeviceClient:
    def __init__(self, link: SerialLink, timeout: float = 10.0, infer_timeout: float = 600.0, retries: int = 3) -> None:
        self.link = link
        self.timeout = float(timeout)
        self.infer_timeout = float(infer_timeout)
        self.retries = int(retries)
        self.parser = P.ResponseParser()
        self._seq = 0
        self.ready_seen = False
        self.max_payload = P.MAX_PAYLOAD
        self._info: dict | None = None
        self._slide_id = 0
        self.resends = 0  # requests sent again (no answer, BAD_CRC or TIMEOUT)
        self.faults_recovered = 0  # faults of a FaultyLink that hit an exchange which still succeeded

    # ---- transport -------------------------------------------------------------------
    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFF
        return self._seq

    def _pending(self, deadline: float) -> list[P.Response]:
        data = self.link.read(max(0.0, deadline - time.monotonic()))
        responses = self.parser.feed(data) if data else []
        for r in responses:
            if r.cmd == P.Cmd.READY:
                self.ready_seen = True
        return responses

    def wait_ready(self, timeout: float = 30.0) -> bool:
        """Wait for the boot-time READY frame (QEMU started with wait=on sends it first)."""
        deadline = time.monotonic() + timeout
        while not self.ready_seen and time.monotonic() < deadline:
            self._pending(deadline)
        return self.ready_seen

    def exchange(self, cmd: int, payload: bytes = b"", timeout: float | None = None, check: bool = True) -> P.Response:
        """Send one request and return its response (matched by cmd and sequence number).

        A missing answer, or BAD_CRC/TIMEOUT/TOO_LONG for this frame, sends it again (up to
        ``retries`` times): every command is idempotent. Other error statuses raise
        CommandError when ``check``.
        """
        if len(payload) > self.max_payload:
            raise InvalidInputError(
                f"payload of {len(payload)} bytes exceeds the protocol maximum {self.max_payload}: split it into chunks"
            )
        timeout = self.timeout if timeout is None else float(timeout)
        seq = self._next_seq()
        frame = P.encode_request(cmd, seq, payload)
        last: P.Response | None = None
        faults_before = getattr(self.link, "faults_injected", 0)
        for attempt in range(self.retries + 1):
            self.resends += attempt > 0
            self.link.write(frame)
            deadline = time.monotonic() + timeout
            answered = False
            while time.monotonic() < deadline and not answered:
                for r in self._pending(deadline):
                    if r.seq != seq or r.cmd != (cmd & 0xFF):
                        continue  # a stale answer (to an earlier, retried frame) or READY
                    last = r
                    answered = True
                    break
            if answered and last is not None and last.status not in _RETRYABLE:
                break
        else:
            if last is None:
                raise DeviceError(
                    f"no answer to {_cmd_name(cmd)} "
                    f"from {self.link.url} after {self.retries + 1} tries of {timeout:.0f} s: "
                    f"check the port, the baud rate and that the firmware is the serial app"
                )
        if check and last.status != P.Status.OK:
            raise CommandError(cmd, last.status, f"device answered {_cmd_name(cmd)} with {last.status_name()}")
        if last.status == P.Status.OK:
            self.faults_recovered += getattr(self.link, "faults_injected", 0) - faults_before
        return last

    # ---- commands ----------------------------------------------------------------------
    def ping(self, data: bytes = b"") -> bytes:
        return self.exchange(P.Cmd.PING, data).payload

    def info(self, refresh: bool = False) -> dict:
        if self._info is None or refresh:
            self._info = decode_head_info(P.decode_info(self.exchange(P.Cmd.INFO).payload))
            self.max_payload = int(self._info.get("max_payload", P.MAX_PAYLOAD))
        return dict(self._info)

    def layers(self) -> list[str]:
        names: list[str] = []
        total = None
        while total is None or len(names) < total:
            total, first, chunk = P.decode_layers(self.exchange(P.Cmd.LAYERS, P.encode_layers(len(names))).payload)
            if first != len(names) or (not chunk and len(names) < total):
                raise DeviceError(f"LAYERS answered from index {first} with {len(chunk)} names: protocol error")
            names += chunk
        return names

    def reset(self) -> None:
        self.exchange(P.Cmd.RESET)

    def mem(self) -> dict:
        return P.decode_mem(self.exchange(P.Cmd.MEM).payload)

    def load_audio(self, pcm: np.ndarray, offset: int = 0) -> int:
        """Send int16 PCM in chunks, starting at sample ``offset`` (0 starts a new window);
        returns the samples the device holds."""
        pcm = np.asarray(pcm)
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise InvalidInputError(f"load_audio wants 1-D int16 PCM, got {pcm.dtype} {pcm.shape}")
        step = P.load_audio_chunk_samples(self.max_payload)
        loaded = None
        for start in range(0, max(len(pcm), 1), step):
            chunk = pcm[start : start + step]
            r = self.exchange(P.Cmd.LOAD_AUDIO, P.encode_load_audio(offset + start, chunk))
            loaded, _window = P.decode_load_audio(r.payload)
        if loaded != offset + len(pcm):
            raise DeviceError(f"device holds {loaded} samples after loading {offset + len(pcm)}: protocol error")
        return loaded

    def slide_audio(self, drop: int) -> int:
        """Drop the oldest ``drop`` samples on the device; returns the samples it still holds."""
        self._slide_id = self._slide_id % 0xFFFFFFFF + 1  # ids 1..2^32-1; a resend repeats the id
        r = self.exchange(P.Cmd.SLIDE_AUDIO, P.encode_slide_audio(self._slide_id, drop))
        return P.decode_load_audio(r.payload)[0]

    def load_window(self, pcm: np.ndarray, previous: np.ndarray | None = None, hop: int = 0) -> int:
        """Load one window; when it is ``previous`` moved on by ``hop`` samples (consecutive
        windows of one clip), only the hop's new samples cross the link."""
        n = len(pcm)
        if (
            previous is not None
            and 0 < hop < n
            and len(previous) == n
            and np.array_equal(previous[hop:], pcm[: n - hop])
        ):
            if self.slide_audio(hop) != n - hop:
                raise DeviceError("device lost track of the audio window after SLIDE_AUDIO: protocol error")
            return self.load_audio(pcm[n - hop :], offset=n - hop)
        return self.load_audio(pcm)

    def infer(self, layer_ticks: bool = False, classify: bool = False) -> P.InferResult:
        """INFER; ``classify`` (a firmware with a head only) returns a ClassifiedResult."""
        r = self.exchange(P.Cmd.INFER, P.encode_infer(layer_ticks, classify), timeout=self.infer_timeout)
        return decode_infer_classified(r.payload) if classify else P.decode_infer(r.payload)

    def get_spectrogram(self) -> np.ndarray:
        """The int8 model input the device computed in the last INFER (flat, row-major)."""
        data = bytearray()
        total = None
        while total is None or len(data) < total:
            r = self.exchange(P.Cmd.GET_SPECTROGRAM, P.encode_get_spectrogram(len(data)))
            total, offset, chunk = P.decode_get_spectrogram(r.payload)
            if offset != len(data) or (not chunk and len(data) < total):
                raise DeviceError("GET_SPECTROGRAM returned a chunk out of order: protocol error")
            data += chunk
        return np.frombuffer(bytes(data), dtype=np.int8).copy()

    def run_window(
        self,
        pcm: np.ndarray,
        layer_ticks: bool = False,
        spectrogram: bool = True,
        previous: np.ndarray | None = None,
        hop: int = 0,
        classify: bool = False,
    ) -> tuple[P.InferResult, np.ndarray | None]:
        self.load_window(pcm, previous, hop)
        result = self.infer(layer_ticks=layer_ticks, classify=classify)
        return result, (self.get_spectrogram() if spectrogram else None)

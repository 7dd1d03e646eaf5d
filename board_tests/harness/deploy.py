"""From command-line arguments to a connected device: the generated project, QEMU or a port.

``resolve_deployment`` finds (or builds) the firmware project and gathers what the bench
needs from it (int8 .tflite, export manifest, ELF memory use); ``open_board`` yields a
``DeviceClient`` talking to QEMU (started here, always killed by pid) or to a real board.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from edgel3_mote.board_tests.harness.bench import BenchSetup, HeadSetup
from edgel3_mote.board_tests.harness.client import DeviceClient
from edgel3_mote.board_tests.harness.link import FaultyLink, SerialLink
from edgel3_mote.errors import DeviceError, InvalidInputError


def resolve_deployment(
    board: str,
    model: str,
    weights: str | None,
    project: str | None = None,
    clips: str | None = None,
    need_elf: bool = True,
    classifier: str | None = None,
    log=print,
    runtime: str = "engine",
) -> tuple[BenchSetup, Path | None]:
    """The firmware under test: ``project`` (a generated directory) or the project built (or
    reused when its inputs are unchanged) by ``export.project.build_firmware_project``, with the
    ``classifier`` head when given, on ``runtime`` ("engine" or "tflm": TFLite Micro + CMSIS-NN).
    A project with a head gives ``BenchSetup.head``.

    A real board (``need_elf=False``) runs the firmware flashed on it: without ``project`` the
    board's default project (``build/<board>/<model>``) is used as it is -- never rebuilt, so a
    bench cannot replace the build that was flashed with another model."""
    from edgel3_mote.export.boards import get_board
    from edgel3_mote.export.project import build_firmware_project, default_project_dir, load_project
    from edgel3_mote.export.tflite import load_export

    spec = get_board(board)
    if weights is not None and not Path(weights).is_file():
        raise InvalidInputError(f"weights file {weights} not found: give the path of a trained .h5 file")
    if not project and not need_elf:
        project = default_project_dir(spec.name, model, runtime)
        if not (project / "project.json").is_file():
            raise InvalidInputError(
                f"no firmware project in {project} for the board at the port: build it "
                f"(edgel3-mote export firmware --board {spec.name} --model {model} --runtime {runtime} --weights ...), "
                f"flash it, then rerun; or pass --project DIR of the firmware that is flashed"
            )
        _check_flashed_model(Path(project), weights, classifier)
    if project:
        info = load_project(project)
        if info.board != spec.name or info.model != model:
            raise InvalidInputError(
                f"project {project} is {info.model} for {info.board}, not {model} for "
                f"{spec.name}: pass matching --board/--model or another --project"
            )
        if classifier is not None and not info.head:
            raise InvalidInputError(
                f"project {project} has no classifier head: rebuild it with "
                f"edgel3-mote export firmware --classifier {classifier}"
            )
    else:
        info = build_firmware_project(
            spec, model, weights=weights, clips=clips, classifier=classifier, runtime=runtime, log=log
        )
    project_dir = Path(info.project_dir)
    tflite, manifest = load_export(project_dir / "export")
    elf = info.firmware_elf
    if need_elf and info.serial_app_skipped:
        raise InvalidInputError(
            f"no firmware.elf in {project_dir}: {info.serial_app_skipped}; "
            f"run `edgel3-mote selftest` there, or use a board with more RAM"
        )
    if need_elf and (elf is None or not Path(elf).is_file()):
        raise InvalidInputError(f"no firmware.elf in {project_dir}: rebuild it (make -C {project_dir} firmware.elf)")
    # the caller's copy of the weights first: a reused project may name a file that is gone
    weights_used = (str(weights) if weights is not None else info.weights) if not info.random_weights else None
    setup = BenchSetup(
        model=model,
        weights=weights_used,
        tflite=tflite,
        manifest=manifest,
        board=spec.name,
        clock_hz=int(spec.clock_hz),
        emulated=spec.runnable_in_qemu,
        memory=dict(info.memory.get("firmware", {})),
        project_dir=str(project_dir),
        seed=int(info.seed or 0),
        head=_head_setup(project_dir, info.head),
        runtime=info.runtime,
    )
    log(f"project {project_dir}: {model} on {spec.name}; {info.weights_line}")
    return setup, (Path(elf) if elf else None)


def _sha256(path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _check_flashed_model(project: Path, weights: str | None, classifier: str | None) -> None:
    """The bench's --weights / --classifier must be what the flashed project was built with (when given)."""
    import json

    inputs = json.loads((project / "project.json").read_text()).get("inputs", {})
    if weights is not None and inputs.get("weights") != _sha256(weights):
        raise InvalidInputError(
            f"{project} was not built with --weights {weights}: flash a build of those weights "
            f"(edgel3-mote export firmware --weights {weights}), or leave --weights out to bench "
            f"the build that is there"
        )
    if classifier is not None and (inputs.get("classifier") or {}).get("h5") != _sha256(classifier):
        raise InvalidInputError(
            f"{project} was not built with --classifier {classifier}: rebuild and flash it "
            f"(edgel3-mote export firmware --classifier {classifier}), or leave --classifier out"
        )


def _head_setup(project_dir: Path, head: dict | None) -> HeadSetup | None:
    if not head:
        return None
    tflite, h5 = project_dir / head["tflite"], project_dir / head["h5"]
    if not tflite.is_file() or not h5.is_file():
        raise InvalidInputError(
            f"project {project_dir} lists a classifier head but {head['tflite']} or {head['h5']} "
            f"is missing: regenerate it (edgel3-mote export firmware --classifier ... --force)"
        )
    return HeadSetup(tflite.read_bytes(), str(h5), list(head["classes"]), head["sha256"], head["classes_sha256"])


@contextlib.contextmanager
def open_board(
    setup: BenchSetup,
    elf: Path | None,
    port: str | None = None,
    baud: int = 115200,
    infer_timeout: float = 600.0,
    log=print,
    faults: float = 0.0,
    fault_seed: int = 0,
    plugin: str | None = None,
) -> Iterator[DeviceClient]:
    """A connected client: to ``port`` if given, else to the firmware in QEMU (killed on exit).
    ``faults`` > 0 (QEMU only): the line is damaged on purpose at that rate (``FaultyLink``, the soak);
    ``plugin``: a QEMU ``-plugin`` argument (``bench.cycle_trace_plugin``, the cycle estimate).

    A port that does not open, or a board that does not answer, fails within ``infer_timeout``
    (40 % of it to open the port, 10 % to drain boot text, half to the INFO handshake and its retries)."""
    if port:
        budget = min(infer_timeout, 40.0)
        with SerialLink(port, baud, connect_timeout=0.4 * budget) as link:
            client = DeviceClient(link, infer_timeout=infer_timeout)
            command_timeout, client.timeout = client.timeout, budget / 2 / (client.retries + 1)
            client.link.drain(limit=min(0.5, 0.1 * budget))  # boot text / a READY from before we connected
            _handshake(client, port)
            client.timeout = min(command_timeout, infer_timeout)
            yield client
        return
    if not setup.emulated:
        raise InvalidInputError(f"board '{setup.board}' does not run in QEMU: connect it and pass --port URL")
    from edgel3_mote.board_tests.harness.qemu import QemuBoard

    with QemuBoard(setup.board, elf, serial=True, icount=True, plugin=plugin) as qemu:
        log(f"QEMU pid {qemu.pid} running {elf.name} on {qemu.url}")
        try:
            link = (
                FaultyLink(qemu.url, connect_timeout=20, rate=faults, seed=fault_seed)
                if faults
                else SerialLink(qemu.url, connect_timeout=20)
            )
            with link:
                client = DeviceClient(link, infer_timeout=infer_timeout)
                if faults:  # a lost answer costs one short wait, and a request survives 8 hits in a row
                    client.timeout, client.retries = 2.0, 8
                # READY may have come before pyserial's open() flushed its input: INFO decides
                client.wait_ready(timeout=1.0)
                _handshake(client, qemu.url)
                if faults:  # what hit the boot-time READY was recovered by this successful handshake
                    client.faults_recovered = link.faults_injected
                yield client
        except DeviceError as exc:
            out = qemu.output.strip()
            raise DeviceError(f"{exc} [QEMU output: {out[-300:]}]" if out else str(exc)) from exc


def _handshake(client: DeviceClient, where: str) -> None:
    from edgel3_mote.board_tests.harness import protocol as P

    info = client.info()
    if info.get("protocol_version") != P.PROTOCOL_VERSION:
        raise DeviceError(
            f"the device at {where} speaks protocol {info.get('protocol_version')}, this host "
            f"{P.PROTOCOL_VERSION}: rebuild the firmware from this checkout"
        )

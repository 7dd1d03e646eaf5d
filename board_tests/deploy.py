"""From command-line arguments to a connected device: the generated project, QEMU or a port.

``resolve_deployment`` finds (or builds) the firmware project and gathers what the bench
needs from it (int8 .tflite, export manifest, ELF memory use); ``open_board`` yields a
``DeviceClient`` talking to QEMU (started here, always killed by pid) or to a real board.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from edgel3_mote.board_tests.bench import BenchSetup, HeadSetup
from edgel3_mote.board_tests.client import DeviceClient
from edgel3_mote.board_tests.link import SerialLink
from edgel3_mote.errors import DeviceError, InvalidInputError

def resolve_deployment(board: str, model: str, weights: str | None, project: str | None = None,
                       clips: str | None = None, need_elf: bool = True, classifier: str | None = None,
                       log=print) -> tuple[BenchSetup, Path | None]:
    """The firmware under test: ``project`` (a generated directory) or the project built (or
    reused when its inputs are unchanged) by ``export.project.build_firmware_project``, with the
    ``classifier`` head when given. A project with a head gives ``BenchSetup.head``."""
    from edgel3_mote.export.boards import get_board
    from edgel3_mote.export.project import build_firmware_project, load_project
    from edgel3_mote.export.tflite import load_export

    spec = get_board(board)
    if weights is not None and not Path(weights).is_file():
        raise InvalidInputError(f"weights file {weights} not found: give the path of a trained .h5 file")
    if project:
        info = load_project(project)
        if info.board != spec.name or info.model != model:
            raise InvalidInputError(f"project {project} is {info.model} for {info.board}, not {model} for "
                                    f"{spec.name}: pass matching --board/--model or another --project")
        if classifier is not None and not info.head:
            raise InvalidInputError(f"project {project} has no classifier head: rebuild it with "
                                    f"edgel3-mote export firmware --classifier {classifier}")
    else:
        info = build_firmware_project(spec, model, weights=weights, clips=clips, classifier=classifier, log=log)
    project_dir = Path(info.project_dir)
    tflite, manifest = load_export(project_dir / "export")
    elf = info.firmware_elf
    if need_elf and info.serial_app_skipped:
        raise InvalidInputError(f"no firmware.elf in {project_dir}: {info.serial_app_skipped}; "
                                f"run `edgel3-mote selftest` there, or use a board with more RAM")
    if need_elf and (elf is None or not Path(elf).is_file()):
        raise InvalidInputError(f"no firmware.elf in {project_dir}: rebuild it (make -C {project_dir} firmware.elf)")
    # the caller's copy of the weights first: a reused project may name a file that is gone
    weights_used = (str(weights) if weights is not None else info.weights) if not info.random_weights else None
    setup = BenchSetup(model=model, weights=weights_used, tflite=tflite, manifest=manifest, board=spec.name,
                       clock_hz=int(spec.clock_hz), emulated=spec.runnable_in_qemu,
                       memory=dict(info.memory.get("firmware", {})), project_dir=str(project_dir),
                       seed=int(info.seed or 0), head=_head_setup(project_dir, info.head))
    log(f"project {project_dir}: {model} on {spec.name}; {info.weights_line}")
    return setup, (Path(elf) if elf else None)


def _head_setup(project_dir: Path, head: dict | None) -> HeadSetup | None:
    if not head:
        return None
    tflite, h5 = project_dir / head["tflite"], project_dir / head["h5"]
    if not tflite.is_file() or not h5.is_file():
        raise InvalidInputError(f"project {project_dir} lists a classifier head but {head['tflite']} or {head['h5']} "
                                f"is missing: regenerate it (edgel3-mote export firmware --classifier ... --force)")
    return HeadSetup(tflite.read_bytes(), str(h5), list(head["classes"]), head["sha256"], head["classes_sha256"])


@contextlib.contextmanager
def open_board(setup: BenchSetup, elf: Path | None, port: str | None = None, baud: int = 115200,
               infer_timeout: float = 600.0, log=print, plugin: str | None = None) -> Iterator[DeviceClient]:
    """A connected client: to ``port`` if given, else to the firmware in QEMU (killed on exit;
    ``plugin``: a QEMU ``-plugin`` argument, e.g. ``bench.cycle_trace_plugin``)."""
    if port:
        with SerialLink(port, baud) as link:
            client = DeviceClient(link, infer_timeout=infer_timeout)
            client.link.drain(limit=0.5)  # boot text / a READY from before we connected
            _handshake(client, port)
            yield client
        return
    if not setup.emulated:
        raise InvalidInputError(f"board '{setup.board}' does not run in QEMU: connect it and pass --port URL")
    from edgel3_mote.board_tests.harness.qemu import QemuBoard

    with QemuBoard(setup.board, elf, serial=True, icount=True, plugin=plugin) as qemu:
        log(f"QEMU pid {qemu.pid} running {elf.name} on {qemu.url}")
        try:
            with SerialLink(qemu.url, connect_timeout=20) as link:
                client = DeviceClient(link, infer_timeout=infer_timeout)
                # READY may have come before pyserial's open() flushed its input: INFO decides
                client.wait_ready(timeout=1.0)
                _handshake(client, qemu.url)
                yield client
        except DeviceError as exc:
            out = qemu.output.strip()
            raise DeviceError(f"{exc} [QEMU output: {out[-300:]}]" if out else str(exc)) from exc


def _handshake(client: DeviceClient, where: str) -> None:
    from edgel3_mote.board_tests import protocol as P

    info = client.info()
    if info.get("protocol_version") != P.PROTOCOL_VERSION:
        raise DeviceError(f"the device at {where} speaks protocol {info.get('protocol_version')}, this host "
                          f"{P.PROTOCOL_VERSION}: rebuild the firmware from this checkout")

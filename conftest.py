"""Root pytest configuration: the board-test options and the ``figure`` fixture.

``figure(key, measured)`` holds a measured figure to the value that ``results/results.json``
(and so the README) states for it, within that figure's tolerance; with
``EDGEL3_MOTE_RECORD_RESULTS=PATH`` (``make results``) it records the measurement into PATH instead,
so the README's figures and the tests' checks are one measurement (see ``tools/results.py``).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

import edgel3_mote  # noqa: F401  (legacy Keras before any TensorFlow import)
from edgel3_mote.tools.results import RECORD_ENV, allowed_deviation, load

_recorded: dict[str, float] = {}


def pytest_configure(config):
    # The user's weights cache (`edgel3-mote weights fetch`) must not change what the tests see: an empty
    # one per run, unless a test sets its own (tests/compress/test_weights_fetch.py).
    import tempfile

    config._edgel3_cache = os.environ["EDGEL3_MOTE_CACHE"] = tempfile.mkdtemp(prefix="edgel3-mote-test-cache-")
    os.chmod(config._edgel3_cache, 0o755)  # tests that run a command as another user read it too


def pytest_unconfigure(config):
    import shutil

    if getattr(config, "_edgel3_cache", None):
        shutil.rmtree(config._edgel3_cache, ignore_errors=True)


def pytest_addoption(parser):
    group = parser.getgroup("edgel3-mote board tests")
    group.addoption(
        "--board", default="qemu-mps2-an386", help="board name (qemu-* boards are started in QEMU by the tests)"
    )
    group.addoption(
        "--port", default=None, help="pyserial URL of a real board (e.g. /dev/ttyACM0); default: start QEMU"
    )
    group.addoption("--baud", type=int, default=115200, help="baud rate for --port")


@pytest.fixture(scope="session")
def _results_figures():
    return load()["figures"]


@pytest.fixture
def figure(request, _results_figures):
    """``figure(key, measured)``: assert (or, under make results, record) one README figure."""

    def check(key: str, measured: float) -> None:
        fig = _results_figures.get(key)
        assert fig is not None, f"figure {key!r} is not declared in results/results.json"
        node = request.node.nodeid.split("[")[0]
        assert node == fig["test"], f"figure {key!r} is declared as measured by {fig['test']}, not {node}"
        measured = float(measured)
        assert math.isfinite(measured), f"figure {key!r}: measured {measured}"
        if os.environ.get(RECORD_ENV):
            _recorded[key] = (
                int(measured) if float(measured).is_integer() and isinstance(fig["value"], int) else measured
            )
            return
        tol = allowed_deviation(fig)
        assert abs(measured - fig["value"]) <= tol, (
            f"figure {key!r}: measured {measured}, README states {fig['value']} +- {tol:g} "
            f"(run `make results` if the change is intended)"
        )

    return check


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get(RECORD_ENV)
    if path and _recorded:
        out = Path(path)
        old = json.loads(out.read_text() or "{}") if out.exists() else {}
        old.update(_recorded)
        out.write_text(json.dumps(old, indent=1, sort_keys=True) + "\n")

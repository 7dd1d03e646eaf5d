"""The README's quick start, run verbatim on a fresh clone.

The lines come from README.md itself -- the ``sh`` block after the ``<!-- fresh-clone-test`` marker -- so the README
cannot drift from what is tested. They run in order, in one bash (``-e``: the first failing line fails the test), in a
``git clone`` of this checkout (its working tree as it is, uncommitted edits included, nothing ignored: no build/,
no .venv) placed beside the workplace's ``../shared`` as the README assumes.

Two things are prepared so the test is fast and needs no network, and both are visible here:
- the clone's ``.venv`` is a new virtual environment that reuses this environment's installed dependencies (a
  ``.pth`` to their site-packages) and installs the clone's own code editable (setuptools' editable finder, pointed
  at the clone), stamped so ``make setup`` finds it complete instead of calling pip;
- the weights cache (``EDGEL3_MOTE_CACHE``) already holds the published SEA-64 file, placed by
  ``weights fetch sea-64 --from ../shared/...``; the README's own ``weights fetch sea-64`` line then runs verbatim,
  re-checks the cached file's SHA-256 and downloads nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import SHARED

REPO = Path(__file__).resolve().parents[2]
MARKER = "<!-- fresh-clone-test"


def quick_start_lines(readme: str) -> list[str]:
    """The lines of the first ``sh`` block after the marker (blank lines dropped, comments kept for bash)."""
    at = readme.index(MARKER)
    m = re.search(r"^```sh\n(.*?)^```", readme[at:], re.S | re.M)
    assert m, "README.md: no ```sh block after the fresh-clone-test marker"
    return [line for line in m.group(1).splitlines() if line.strip()]


def test_readme_marks_its_quick_start():
    lines = quick_start_lines((REPO / "README.md").read_text())
    commands = [line.split("#")[0].strip() for line in lines]
    assert "make setup" in commands and ". .venv/bin/activate" in commands and "edgel3-mote --help" in commands
    assert any(c.startswith("edgel3-mote weights fetch sea-64") for c in commands)
    assert any(c.startswith("make demo") for c in commands)


def _clone(dst: Path) -> Path:
    """A clone of this checkout's working tree: committed history + uncommitted and new (non-ignored) files."""
    git = ["git", "-C", str(REPO)]
    snapshot = subprocess.run([*git, "stash", "create"], capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run(["git", "clone", "-q", "--shared", str(REPO), str(dst)], check=True)
    if snapshot:  # tracked files as they are now
        subprocess.run(["git", "-C", str(dst), "checkout", "-q", "--detach", snapshot], check=True)
    new = subprocess.run(
        [*git, "ls-files", "-z", "--others", "--exclude-standard"], capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for rel in filter(None, new):
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dst / rel)
    return dst


def _venv_reusing_this_one(clone: Path) -> None:
    """clone/.venv: this interpreter, this environment's dependencies, the clone's code (editable)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(clone / ".venv")], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(clone / ".venv"), "platbase": str(clone / ".venv")}))
    deps = [p for p in sys.path if p.endswith("site-packages")]
    (site / "zz_reused_dependencies.pth").write_text("\n".join(deps) + "\n")
    import edgel3_mote

    installed_root = Path(edgel3_mote.__file__).resolve().parents[1]  # the checkout this environment maps
    finder_py = next(  # setuptools' editable finder of this environment (its MAPPING names installed_root)
        f
        for p in deps
        for f in Path(p).glob("__editable___edgel3_mote_*_finder.py")
        if f"{installed_root}/compress" in f.read_text()
    )
    finder = finder_py.parent
    (site / finder_py.name).write_text(finder_py.read_text().replace(str(installed_root), str(clone)))
    (site / f"__editable__.{finder_py.stem.split('___')[1]}.pth").write_text(
        f"import {finder_py.stem}; {finder_py.stem}.install()\n"
    )
    for info in finder.glob("edgel3_mote-*.dist-info"):
        shutil.copytree(info, site / info.name)
    script = clone / ".venv" / "bin" / "edgel3-mote"
    script.write_text(f"#!{clone}/.venv/bin/python\nimport sys\nfrom edgel3_mote.cli import main\nsys.exit(main())\n")
    script.chmod(0o755)
    (clone / ".venv" / ".edgel3-mote-installed").touch()  # tools/setup.sh: installed, no pip run


@pytest.mark.slow
@pytest.mark.qemu
def test_quick_start_verbatim_on_a_fresh_clone(tmp_path):
    lines = quick_start_lines((REPO / "README.md").read_text())
    clone = _clone(tmp_path / "edgel3-mote")
    (tmp_path / "shared").symlink_to(SHARED)  # ../shared beside the clone, as in the workplace
    assert not (clone / "build").exists() and not (clone / ".venv").exists()
    _venv_reusing_this_one(clone)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(str(REPO)))
    env["EDGEL3_MOTE_CACHE"] = str(tmp_path / "cache")
    subprocess.run(
        [
            str(clone / ".venv/bin/python"),
            "-m",
            "edgel3_mote",
            "weights",
            "fetch",
            "sea-64",
            "--from",
            str(SHARED / "models/edgel3_sea_ust_audio_emb_64.h5.gz"),
        ],
        cwd=clone,
        env=env,
        check=True,
        capture_output=True,
    )
    # the README's lines, verbatim, in one shell; `set -x` echoes each before it runs
    script = "set -ex\n" + "\n".join(lines) + "\n"
    run = subprocess.run(["bash", "-c", script], cwd=clone, env=env, capture_output=True, text=True, timeout=1500)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-6000:]
    assert "edgel3-mote: command not found" not in log
    assert "usage: edgel3-mote" in run.stdout and "weights" in run.stdout  # --help, with the weights command
    assert "sea-64: already cached, SHA-256 verified" in run.stdout
    report = clone / "build/report/qemu-mps2-an386/sea-64/bench.md"
    assert report.is_file(), log[-3000:]
    text = report.read_text()
    assert "RANDOM WEIGHTS" not in text and str(tmp_path / "cache") in text  # the cached published weights
    assert re.search(r"(\d+)/\1 windows identical", text), text[:2000]  # every window int8-exact on QEMU


def test_make_path_puts_the_cli_on_the_path():
    """The README's alternative to activating: eval "$(make -s path)" finds .venv/bin/edgel3-mote."""
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"  # no venv on it
    run = subprocess.run(
        ["bash", "-c", 'eval "$(make -s path)" && command -v edgel3-mote && edgel3-mote --version'],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == str(REPO / ".venv/bin/edgel3-mote")
    assert run.stdout.splitlines()[1].startswith("edgel3-mote ")

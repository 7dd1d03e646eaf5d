"""make bench-sparsity / bench-kernels never replace a file of the user's in their output folder: a foreign
file with one of their names is refused in one line, before any QEMU run, and left as it was."""

from __future__ import annotations

import pytest

from edgel3_mote.board_tests.harness import kernel_bench, sparsity_sweep


@pytest.mark.parametrize(
    ("main", "name", "argv"),
    [
        (sparsity_sweep.main, "sweep.json", ["--small"]),
        (sparsity_sweep.main, "l3_layers.md", ["--l3-layers"]),
        (kernel_bench.main, "kernel_bench.png", []),
    ],
)
def test_a_foreign_file_is_refused_before_the_work(main, name, argv, tmp_path, capsys, monkeypatch):
    def no_qemu(*args, **kwargs):
        raise AssertionError("the output folder must be checked before any QEMU run")

    monkeypatch.setattr(sparsity_sweep, "run_point", no_qemu)
    monkeypatch.setattr(kernel_bench, "run_bench", no_qemu)
    (tmp_path / name).write_text("the user's")
    assert main([*argv, "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and name in err[0] and err[0].startswith("edgel3-mote: error: ")
    assert (tmp_path / name).read_text() == "the user's"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]

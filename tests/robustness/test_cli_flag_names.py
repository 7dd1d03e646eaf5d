"""One set of flag names: -o/--output for every output folder, --hop-size for every hop; the old
spellings still parse (hidden, with a one-line deprecation warning); default outputs lie under the
working directory, never inside the installed package."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

import edgel3_mote
from edgel3_mote.cli import build_parser
from edgel3_mote.cli_types import DeprecatedAlias

OLD_SPELLINGS = {"--out": "output", "--report": "output", "--output-dir": "output", "--hop": "hop_size"}
# the spellings each command used before the names were unified: they must keep working
LEGACY = {
    "export tflite": ("--out",),
    "export report": ("--out",),
    "export carrays": ("--out",),
    "export firmware": ("--out",),
    "selftest": ("--out",),
    "bench": ("--report", "--hop"),
    "emulate": ("--report", "--hop"),
    "demo": ("--report", "--hop"),
    "embed": ("--output-dir",),
    "kernel_bench": ("--out",),
    "sparsity_sweep": ("--out",),
}
CANONICAL = {"output": ("-o", "--output"), "hop_size": ("--hop-size",)}


def _standalone_parsers() -> dict[str, argparse.ArgumentParser]:
    from edgel3_mote.board_tests.harness import kernel_bench, sparsity_sweep

    return {"kernel_bench": kernel_bench.build_parser(), "sparsity_sweep": sparsity_sweep.build_parser()}


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """(argv prefix, parser) of every command and sub-command of ``parser``."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix, parser
    for sub in subs:
        for name, child in sub.choices.items():
            yield from _commands(child, (*prefix, name))


def _all_commands():
    yield from _commands(build_parser())
    for name, parser in _standalone_parsers().items():
        yield (name,), parser


ALL = list(_all_commands())
IDS = [" ".join(argv) for argv, _ in ALL]


@pytest.mark.parametrize(("argv", "parser"), ALL, ids=IDS)
def test_output_and_hop_flags_have_the_canonical_names(argv, parser):
    for action in parser._actions:
        if action.dest not in CANONICAL:
            continue
        if isinstance(action, DeprecatedAlias):
            assert action.help == argparse.SUPPRESS, f"{' '.join(argv)}: {action.option_strings} shown in --help"
            assert set(action.option_strings) <= set(OLD_SPELLINGS), action.option_strings
        else:
            assert tuple(action.option_strings) == CANONICAL[action.dest], (
                f"{' '.join(argv)}: {action.option_strings} instead of {'/'.join(CANONICAL[action.dest])}"
            )
    shown = {s for a in parser._actions if a.help != argparse.SUPPRESS for s in a.option_strings}
    assert not shown & set(OLD_SPELLINGS), f"{' '.join(argv)} shows {sorted(shown & set(OLD_SPELLINGS))}"


def _output_commands():
    for argv, parser in ALL:
        actions = {a.dest: a for a in parser._actions if not isinstance(a, DeprecatedAlias)}
        if "output" in actions:
            yield argv, parser, actions


OUTPUT_IDS = [" ".join(argv) for argv, _, _ in _output_commands()]


@pytest.mark.parametrize(("argv", "parser", "actions"), list(_output_commands()), ids=OUTPUT_IDS)
def test_old_spellings_still_work_with_one_warning_line(argv, parser, actions, capsys):
    required = [a for a in parser._actions if a.required and a.dest != "output" and a.option_strings]
    base = [x for a in required for x in (a.option_strings[0], "X")]
    base += ["X"] * sum(1 for a in parser._actions if not a.option_strings and a.nargs in ("+", None))
    aliases = {s for a in parser._actions if isinstance(a, DeprecatedAlias) for s in a.option_strings}
    for old in LEGACY.get(" ".join(argv), ()):
        assert old in aliases, f"{' '.join(argv)} no longer accepts its old {old}"
    for old, dest in OLD_SPELLINGS.items():
        if old not in aliases:
            continue
        value = "0.5" if dest == "hop_size" else "some/dir"
        args = parser.parse_args([*base, old, value])
        assert str(getattr(args, dest)) == value
        err = capsys.readouterr().err.strip().splitlines()
        canonical = "/".join(CANONICAL[dest])
        assert len(err) == 1 and f"{old} is deprecated, use {canonical}" in err[0], err


@pytest.mark.parametrize(("argv", "parser", "actions"), list(_output_commands()), ids=OUTPUT_IDS)
def test_default_outputs_are_under_the_working_directory(argv, parser, actions, tmp_path, monkeypatch):
    """Every command that has a default output folder names one relative to the working directory."""
    monkeypatch.chdir(tmp_path)
    action = actions["output"]
    if action.required or any(g.required and action in g._group_actions for g in parser._mutually_exclusive_groups):
        return  # no default: the user names the folder
    required = [a for a in parser._actions if a.required and a.option_strings]
    base = [x for a in required for x in (a.option_strings[0], "X")]
    base += ["X"] * sum(1 for a in parser._actions if not a.option_strings and a.nargs in ("+", None))
    args = parser.parse_args(base)
    default = Path(args.output) if args.output is not None else None
    if default is None and hasattr(args, "output_default"):
        default = args.output_default(args)
    if default is None:  # `embed` writes next to each input unless told otherwise
        assert argv == ("embed",), f"{' '.join(argv)} has no default output folder and does not require one"
        return
    assert not default.is_absolute() and default.parts[0] == "build", f"{' '.join(argv)}: default {default}"
    package = Path(edgel3_mote.__file__).resolve().parent
    assert package not in default.resolve().parents


def test_project_and_cache_defaults_are_relative():
    from edgel3_mote.export.project import DEFAULT_CACHE_DIR, default_project_dir

    assert default_project_dir("qemu-mps2-an386", "sea-64") == Path("build/qemu-mps2-an386/sea-64")
    assert not DEFAULT_CACHE_DIR.is_absolute()


def test_commands_with_an_output_exist():
    """The parametrised tests above see the commands the issue names (not an empty list)."""
    named = {" ".join(argv) for argv, _, _ in _output_commands()}
    expected = {"export tflite", "export report", "export carrays", "export firmware", "selftest", "bench"}
    expected |= {"emulate", "demo", "embed", "kernel_bench", "sparsity_sweep", "sweep"}
    assert expected <= named, expected - named

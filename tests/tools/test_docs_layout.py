"""The layout sections of README.md and docs/ARCHITECTURE.md list exactly the tree's folders.

A layout section is a ``## Layout`` heading followed by a fenced block with one row per top-level
folder (``name/`` at the start of a line, continuation lines indented). Within a row, every path
ending in ``/`` names a sub-folder of that top-level folder by its first component
(``kernels/<op>_s8.c`` -> ``kernels``, ``tests/support/`` -> ``support``); ``(+ fuzz/)`` names a
folder inside the one before it and is not compared; ``name.py`` must exist. The tree is what git
tracks (plus new files it does not ignore): hidden folders and ``__pycache__`` do not count.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "docs/ARCHITECTURE.md")
_FOLDER_PATH = re.compile(r"(?<![\w<>./-])((?:[\w<>.-]+/)+)")
_MODULE = re.compile(r"(?<![\w/.-])([A-Za-z_]\w*\.py)\b")


def layout_rows(text: str, source: str = "the document") -> dict[str, str]:
    """{top-level folder: its row's text} from the ``## Layout`` section's fenced block."""
    section = re.search(r"^## Layout\b.*?^```[^\n]*\n(.*?)^```", text, re.M | re.S)
    if section is None:
        raise AssertionError(f"{source} has no '## Layout' section with a fenced block of folders")
    rows: dict[str, str] = {}
    current = None
    for line in section.group(1).splitlines():
        head = re.match(r"([\w.-]+)/\s*(.*)", line)
        if head and not line[0].isspace():
            current = head.group(1)
            rows[current] = head.group(2)
        elif current is not None and line.strip():
            rows[current] += " " + line.strip()
    return rows


def listed_subfolders(top: str, row: str) -> set[str]:
    row = re.sub(r"\(\+[^)]*\)", "", row)  # '(+ fuzz/)': a folder inside the one before it
    out = set()
    for path in _FOLDER_PATH.findall(row):
        parts = [p for p in path.split("/") if p]
        if parts[0] == top and len(parts) > 1:  # 'tests/support/' in the tests/ row
            parts = parts[1:]
        out.add(parts[0])
    return out


def tree_folders(repo: Path = REPO) -> dict[str, set[str]]:
    """{top-level folder: its sub-folders} of the files git tracks or would track."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    tree: dict[str, set[str]] = {}
    for f in files:
        parts = f.split("/")
        if len(parts) < 2 or parts[0].startswith(".") or not (repo / f).exists():
            continue
        subs = tree.setdefault(parts[0], set())
        if len(parts) > 2 and parts[1] != "__pycache__" and not parts[1].startswith("."):
            subs.add(parts[1])
    return tree


def layout_differences(text: str, source: str, repo: Path = REPO) -> list[str]:
    """What the layout section of ``text`` lists that the tree lacks, and the reverse."""
    rows, tree = layout_rows(text, source), tree_folders(repo)
    problems = [f"{source} lists {top}/, which is not in the tree" for top in sorted(set(rows) - set(tree))]
    problems += [f"{source} does not list the folder {top}/" for top in sorted(set(tree) - set(rows))]
    for top in sorted(set(rows) & set(tree)):
        listed = listed_subfolders(top, rows[top])
        problems += [f"{source} lists {top}/{s}/, which is not in the tree" for s in sorted(listed - tree[top])]
        problems += [f"{source} does not list {top}/{s}/" for s in sorted(tree[top] - listed)]
        for module in _MODULE.findall(rows[top]):
            if not list((repo / top).glob(f"**/{module}")):
                problems.append(f"{source} lists {top}/ .../{module}, which is not in the tree")
    return problems


def test_layout_parser_finds_missing_and_extra_entries(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "sub" / "a.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text("")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.c").write_text("")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    good = "## Layout\n\n```\npkg/     mod.py, sub/\nother/   C\n```\n"
    assert layout_differences(good, "doc", tmp_path) == []
    bad = "## Layout\n\n```\npkg/     mod.py, gone.py,\n         sub/, ghost/\nextra/   nothing\n```\n"
    assert layout_differences(bad, "doc", tmp_path) == [
        "doc lists extra/, which is not in the tree",
        "doc does not list the folder other/",
        "doc lists pkg/ghost/, which is not in the tree",
        "doc lists pkg/ .../gone.py, which is not in the tree",
    ]
    with pytest.raises(AssertionError, match="no '## Layout' section"):
        layout_rows("# nothing here\n", "doc")


@pytest.mark.parametrize("doc", DOCS)
def test_docs_layout_equals_the_tree(doc):
    problems = layout_differences((REPO / doc).read_text(), doc)
    assert not problems, "\n".join(problems)

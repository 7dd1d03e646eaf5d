"""The README's results table is generated from results/results.json, and every figure in it names
the test that measures it (tools/results.py; the ``figure`` fixture in the root conftest)."""

from __future__ import annotations

import ast
import json

import pytest

from edgel3_mote.tools import results


def test_readme_table_is_the_rendered_results_json():
    data = results.load()
    text = results.README.read_text()
    assert results.readme_with_table(text, results.render_table(data)) == text, (
        "README.md's results table differs from results/results.json: run `python -m edgel3_mote.tools.results render`"
    )
    assert results.main(["check"]) == 0


def test_every_figure_is_shown_and_names_a_real_test():
    data = results.load()
    assert results.unused_figures(data) == []
    for key, fig in data["figures"].items():
        path, _, func = fig["test"].partition("::")
        source = results.REPO / path
        assert source.is_file(), f"figure {key!r}: {path} does not exist"
        names = {n.name for n in ast.walk(ast.parse(source.read_text())) if isinstance(n, ast.FunctionDef)}
        assert func in names, f"figure {key!r}: {path} has no {func}"
        assert "figure" in source.read_text(), f"figure {key!r}: {path} never calls the figure fixture"


def test_render_formats_and_refuses_unknown_figures():
    data = {
        "figures": {
            "a": {"value": 1234567, "tolerance": 0, "test": "t"},
            "b": {"value": 0.123456, "tolerance": 0, "test": "t"},
        },
        "rows": [{"what": "w", "result": "{a:,} B, {b:.3f}", "command": "cmd"}],
    }
    assert results.render_table(data).splitlines()[2] == "| w | 1,234,567 B, 0.123 | `cmd` |"
    data["rows"].append({"what": "x", "result": "{c}", "command": "c"})
    with pytest.raises(results.ResultsError, match="'c'"):
        results.render_table(data)


def test_update_takes_recorded_values_and_names_missing_ones():
    data = {
        "figures": {"a": {"value": 1, "tolerance": 0, "test": "t"}, "b": {"value": 2.0, "tolerance": 0, "test": "t"}},
        "rows": [],
    }
    new, missing = results.update(json.loads(json.dumps(data)), {"a": 5})
    assert new["figures"]["a"]["value"] == 5 and missing == ["b"]
    with pytest.raises(results.ResultsError, match="'zz'"):
        results.update(data, {"zz": 1.0})


def test_readme_markers_are_required():
    with pytest.raises(results.ResultsError, match="markers"):
        results.readme_with_table("no table here\n", "| x |\n")


def test_tolerance_is_absolute_or_relative_and_required(tmp_path):
    assert results.allowed_deviation({"value": 200.0, "rel_tolerance": 0.01}) == pytest.approx(2.0)
    assert results.allowed_deviation({"value": 200.0, "tolerance": 0.5}) == 0.5
    bad = tmp_path / "r.json"
    bad.write_text(json.dumps({"figures": {"x": {"value": 1, "test": "t"}}, "rows": []}))
    with pytest.raises(results.ResultsError, match="'x'"):
        results.load(bad)

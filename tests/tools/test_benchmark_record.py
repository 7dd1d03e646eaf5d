"""The README's labelled-benchmark figures are the recorded run results/labelled_benchmark_sea64.json: the class
table (clips per class and per package) and the dense SEA-64 teacher's accuracy with its interval, float and
int8 (the run embeds 883 clips twice and trains 10 MLPs: about 40 minutes of CPU here, so it is recorded:
`python tools/make_labelled_benchmark.py` + `edgel3-mote evaluate`; the protocol itself is tested end
to end on a miniature benchmark in tests/tools/test_make_labelled_benchmark.py)."""

from __future__ import annotations

import json

from edgel3_mote.tools.results import README, REPO

RECORD = REPO / "results" / "labelled_benchmark_sea64.json"


def _record() -> dict:
    return json.loads(RECORD.read_text())


def class_row(name: str, bench: dict) -> str:
    per = sorted(bench["clips_per_class_and_package"][name].items(), key=lambda kv: (-kv[1], kv[0]))
    return f"| {name} | {bench['clips_per_class'][name]} | " + ", ".join(f"{p} {n}" for p, n in per) + " |"


LABELS = {"float": "float", "int8": "int8 (host engine, bit-exact with tflite-micro)"}


def accuracy_row(numeric: str, r: dict) -> str:
    lo, hi = r["accuracy_ci95"]
    return (
        f"| {LABELS[numeric]} | {100 * r['accuracy_mean']:.1f} % | {100 * lo:.1f}-{100 * hi:.1f} % | "
        f"{100 * r['accuracy_std']:.1f} | {100 * r['majority_baseline']:.1f} % |"
    )


def test_readme_benchmark_tables_are_the_recorded_run():
    record, text = _record(), README.read_text()
    bench = record["benchmark"]
    assert len(bench["classes"]) >= 10 and bench["clips"] >= 600 and len(bench["packages"]) >= 5  # issue 21
    assert sum(bench["clips_per_class"].values()) == bench["clips"]
    assert f"**{bench['clips']} clips, {len(bench['classes'])} classes, {bench['sources']}" in text
    for name in bench["classes"]:
        assert class_row(name, bench) in text, class_row(name, bench)
        assert all(n > 0 for n in bench["clips_per_class_and_fold"][name])  # every class in every fold
    assert set(record["results"]) == {"float", "int8"}
    for numeric, r in record["results"].items():
        assert accuracy_row(numeric, r) in text, accuracy_row(numeric, r)


def test_recorded_accuracy_is_consistent():
    """The interval holds the pooled accuracy, the teacher beats the majority class by far, the fold
    mean is the recorded mean, and the int8 export keeps the float model's accuracy (it keeps its
    embeddings to a cosine of 0.999)."""
    results = _record()["results"]
    for r in results.values():
        lo, hi = r["accuracy_ci95"]
        assert lo <= r["accuracy_pooled"] <= hi and hi - lo < 0.25  # 883 clips from 375 recordings
        assert r["n_clips"] == _record()["benchmark"]["clips"]
        assert lo > 2 * r["majority_baseline"]
        mean = sum(r["accuracy_per_fold"]) / len(r["accuracy_per_fold"])
        assert abs(mean - r["accuracy_mean"]) < 1e-9
    if "int8" in results:
        assert abs(results["float"]["accuracy_mean"] - results["int8"]["accuracy_mean"]) < 0.05


def test_readme_per_class_and_fold_figures_are_the_recorded_ones():
    text, r = README.read_text(), _record()["results"]["float"]
    per = r["per_class_accuracy"]
    for name, label in (("voice", "Voices"), ("music", "music"), ("weapon", "weapons")):
        assert f"{label} ({100 * per[name]:.0f} %)" in text
    assert f"(hi-hat {100 * per['hihat']:.0f} %, bell {100 * per['bell']:.0f} %)" in text
    folds = r["accuracy_per_fold"]
    assert f"the folds differ ({100 * min(folds):.0f}-{100 * max(folds):.0f} %)" in text

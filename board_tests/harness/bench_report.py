"""Bench reports: raw JSON evidence, a Markdown summary, PNG charts (each written atomically)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgel3_mote.atomic import atomic_write_text, save_png

JSON_NAME = "bench.json"
MD_NAME = "bench.md"
LAYERS_PNG = "layers.png"
PARITY_PNG = "parity.png"


def _ticks(n: float, results: dict) -> str:
    unit = results["ticks_unit"]
    hz = results["clock_hz"]
    if unit == "instructions":
        # QEMU counts instructions; a time only follows under an assumed 1 instruction/cycle
        return f"{n:,.0f} instructions (~{1e3 * n / hz:.1f} ms at {hz / 1e6:g} MHz if 1 instr/cycle)"
    return f"{n:,.0f} cycles = {1e3 * n / hz:.2f} ms at {hz / 1e6:g} MHz"


def _kib(n) -> str:
    return "n/a" if n in (None, 0) else f"{int(n):,} B ({int(n) / 1024:.1f} KiB)"


def _repeat(s: dict, results: dict) -> str:
    if not s.get("repeat_checks"):
        return "not checked"
    unit = results["ticks_unit"]
    step = results.get("device_info", {}).get("tick_resolution")
    if s["repeat_identical"]:
        return f"identical {unit} (front-end, engine, every layer) in all {s['repeat_checks']} checks"
    return (
        f"{s.get('repeat_identical_count', 0)}/{s['repeat_checks']} checks identical; the others differ by at most "
        f"{s.get('repeat_max_tick_diff', 0)} {unit}" + (f" (the tick counter's step is {step})" if step else "")
    )


def _cycles_section(results: dict) -> list[str]:
    """Estimated cycles of the traced window (results["cycles"], QEMU only) and the real-time verdict."""
    c = results.get("cycles")
    if not c:
        return []
    mhz = c["clock_hz"] / 1e6
    lines = [
        "",
        f"## Estimated cycles ({c['core']} timing table, traced window)",
        "",
        f"**real time on zero-wait memory only: {'yes' if c['real_time_zero_wait'] else 'no'}** -- one "
        f"{c['window_s']:g} s window takes an estimated {c['total']['cycles']:,} cycles = "
        f"{1e3 * c['estimated_time_s']:.1f} ms at {mhz:g} MHz with zero-wait-state memory: real-time factor "
        f"{c['real_time_factor_zero_wait']:.2f} (window length / estimated time). Flash wait states and cache "
        f"misses are not in this figure, so it is not the hardware's verdict.",
        "",
        f"| part | instructions (trace) | device ticks | estimated cycles | cycles/instruction | time at {mhz:g} MHz |",
        "|---|---|---|---|---|---|",
    ]
    for label, key in (("front-end", "frontend"), ("engine", "engine"), ("total", "total")):
        p = c[key]
        cpi = p["cycles"] / p["instructions"] if p["instructions"] else 0.0
        lines.append(
            f"| {label} | {p['instructions']:,} | {p['ticks']:,} | {p['cycles']:,} | {cpi:.2f} | "
            f"{1e3 * p['cycles'] / c['clock_hz']:.1f} ms |"
        )
    lo, hi = c["total"].get("cycles_p_range") or (c["total"]["cycles"],) * 2
    if lo != hi:
        lines += [
            "",
            f"With the TRM's whole refill range P = 1..3 cycles per taken branch "
            f"({c['total']['branches_taken']:,} taken): {lo:,} .. {hi:,} cycles, real-time factor "
            f"{c['window_s'] * c['clock_hz'] / hi:.2f} .. {c['window_s'] * c['clock_hz'] / lo:.2f}.",
        ]
    lines += [
        "",
        f"Traced: window {c['traced_window']['index']} of `{Path(c['traced_window']['clip']).name}`. "
        f"Trace instructions equal the device's ticks (within the {c['tick_resolution']}-instruction tick): "
        f"{'yes' if c['instructions_match_ticks'] else '**NO**'}. Model: {c['timing_source']}; "
        f"taken-branch refill P = {c['pipeline_refill']}. Assumes {c['assumption']}.",
    ]
    return lines


def _memory_section(results: dict) -> list[str]:
    """The memory-aware figures of the traced window (results["cycles"]["memory"]) and the hardware verdict."""
    c = results.get("cycles") or {}
    m = c.get("memory")
    if not m:
        return []
    clock, w = m.get("clock_hz") or c["clock_hz"], m["window"]
    model = m["model"]
    lines = [
        "",
        f"## Memory-aware cycles ({model['chip']}: {model['flash_wait_states']} flash wait states)",
        "",
        f"**real time (on the upper bound): {'yes' if c['real_time'] else 'no'}** -- upper bound "
        f"{w['upper_bound']:,} cycles = {1e3 * w['upper_bound'] / clock:.1f} ms per {c['window_s']:g} s window at "
        f"{clock / 1e6:g} MHz, real-time factor {m['real_time_factor']['upper_bound']:.2f}.",
        "",
        "| figure | cycles per window | time | real-time factor | assumes |",
        "|---|---|---|---|---|",
    ]
    for key, label in (
        ("zero_wait", "zero-wait"),
        ("estimate", "memory-aware estimate"),
        ("upper_bound", "upper bound"),
    ):
        lines.append(
            f"| {label} | {w[key]:,} | {1e3 * w[key] / clock:.1f} ms | {m['real_time_factor'][key]:.2f} | "
            f"{m['assumptions'][key]} |"
        )
    f = m["flash"]
    lines += [
        "",
        f"Flash traffic of the window: {f['data_reads']:,} data reads ({f['data_misses']:,} data-cache misses), "
        f"{f['instr_lines']:,} instruction lines ({f['instr_misses']:,} instruction-cache misses, "
        f"{f['instr_misses_sequential']:,} of them sequential). Data cache: {model['dcache'] or 'none'}; "
        f"instruction cache: {model['icache'] or 'none'}; prefetch: {'yes' if model['prefetch'] else 'no'}. "
        f"Source: {model['source']}. {model['notes']}",
    ]
    layers = [layer for layer in c.get("layers") or [] if layer.get("memory_cycles") and layer["cycles"]]
    if layers:
        lines += [
            "",
            "| layer | zero-wait cycles | estimate | upper bound | flash data reads | data misses | instr. misses |",
            "|---|---|---|---|---|---|---|",
        ]
        for layer in layers:
            mc, fl = layer["memory_cycles"], layer["flash"]
            lines.append(
                f"| {layer.get('name', '')} | {mc['zero_wait']:,} | {mc['estimate']:,} | {mc['upper_bound']:,} | "
                f"{fl['data_reads']:,} | {fl['data_misses']:,} | {fl['instr_misses']:,} |"
            )
    return lines


def _energy_section(results: dict) -> list[str]:
    """Energy per window and battery life (results["cycles"]["energy"]: the board's datasheet currents)."""
    c = results.get("cycles") or {}
    e = c.get("energy")
    if not c.get("memory"):
        return []
    if not e:
        return ["", "## Energy", "", "No power model for this board (an FPGA image stands for no chip).", ""]
    pm = e["power_model"]
    lines = [
        "",
        f"## Energy per window ({pm['chip']}: {pm['run_ma']:g} mA run, {1e3 * pm['sleep_ma']:g} uA sleep, "
        f"{pm['volts']:g} V)",
        "",
        "| figure | busy per window | energy per 1-s window | "
        + " | ".join(
            f"{cell} life, hop {h} s"
            for cell in next(iter(e["figures"].values()))["battery_life_days"]
            for h in ("1", "10")
        )
        + " |",
        "|---|---|---|" + "---|" * 4,
    ]
    for label, fig in e["figures"].items():
        life = fig["battery_life_days"]
        lines.append(
            f"| {label.replace('_', ' ')} | {1e3 * fig['busy_s']:.1f} ms | {fig['energy_per_window_mj']:.2f} mJ | "
            + " | ".join(
                f"{life[cell][h]:,.1f} d" if life[cell][h] is not None else "does not keep up"
                for cell in life
                for h in ("1", "10")
            )
            + " |"
        )
    lines += [
        "",
        f"Energy = {pm['volts']:g} V x run current x busy time + sleep current for the rest of the hop; a "
        f"window longer than the hop does not keep up (no battery life). Run current: {pm['source']}. "
        f"Sleep: {pm['sleep_source']}. "
        f"Datasheet table read in this session: {'yes' if pm['verified'] else 'no'}. {pm['notes']}",
    ]
    return lines


def _head_section(results: dict) -> list[str]:
    """The classifier head on the device (summary["head"], only when the firmware has one)."""
    h = results["summary"].get("head")
    if not h or not h.get("windows"):
        return []
    ok = h["logits_exact_windows"] == h["windows"]
    lines = [
        "",
        "## Classifier head (int8, on the device)",
        "",
        f"Classes: {', '.join(f'`{c}`' for c in h['classes'])}; head sha256 `{h['sha256'][:16]}...`",
        "",
        "| check | result |",
        "|---|---|",
        f"| int8 logits (device vs tflite-micro on the device's embedding) | {h['logits_exact_windows']}/"
        f"{h['windows']} windows identical ({h['logits_exact_percent']:.1f} %){'' if ok else ' **FAIL**'} |",
        f"| class agreement, device int8 vs float classifier (per window) | {h['class_agreement_pct']:.1f} % |",
        f"| class agreement, majority vote per clip | {h['clip_vote_agreement_pct']:.1f} % of {h['clips']} clip(s) |",
        f"| head per window | {_ticks(h['head_ticks_mean'], results)} |",
        "",
        "| clip | device vote | float vote |",
        "|---|---|---|",
    ]
    for c in results["clips"]:
        if "device_vote" in c:
            lines.append(f"| {Path(c['path']).name} | `{c['device_vote']}` | `{c['float_vote']}` |")
    return lines


def markdown(results: dict) -> str:
    s = results["summary"]
    info = results["device_info"]
    mem = results.get("device_mem", {})
    elf = results.get("memory", {})
    unit = results["ticks_unit"]
    lines = [f"# edgel3-mote bench: {results['model']} on {results['board']}", ""]
    if results["random_weights"]:
        lines += [
            "> **RANDOM WEIGHTS**: no `--weights` were given, so this model has seeded random "
            "weights. Parity, latency and memory are real measurements; the embeddings mean nothing.",
            "",
        ]
    lines += [
        f"- model: `{info.get('model_name')}` sha256 `{info.get('model_sha256', '')[:16]}...`, weights: "
        f"`{results['weights'] or 'random (seed 0)'}`",
        f"- board: `{info.get('board')}` ({info.get('core')}, {results['clock_hz'] / 1e6:g} MHz), "
        f"ticks are **{unit}**" + (" (QEMU `-icount shift=0`)" if unit == "instructions" else ""),
        f"- {s.get('clips', 0)} clip(s), {s['windows']} window(s) of {results['window_samples']} samples "
        f"at {results['model_sample_rate']} Hz, hop {results['hop_s']} s; bench took {results['elapsed_s']:.0f} s",
        "",
    ]
    if not s["windows"]:
        return "\n".join(lines + ["No windows were run.", ""])
    exact_ok = s["int8_exact_windows"] == s["windows"]
    lines += [
        "## Summary",
        "",
        "| check | result |",
        "|---|---|",
        f"| int8 exactness (device vs tflite-micro on the device's own spectrogram) | "
        f"{s['int8_exact_windows']}/{s['windows']} windows identical ({s['int8_exact_percent']:.1f} %)"
        f"{'' if exact_ok else ' **FAIL**'} |",
        f"| front-end vs numpy reference (int8 input values) | {s['frontend_identical_percent']:.3f} % identical, "
        f"max {s['frontend_max_lsb']} LSB |",
        f"| end-to-end vs float Keras: cosine | mean {s['cosine_mean']:.5f}, median {s['cosine_median']:.5f}, "
        f"min {s['cosine_min']:.5f} |",
        f"| end-to-end vs float Keras: L2-relative error | mean {s['l2_relative_mean']:.4f}, "
        f"max {s['l2_relative_max']:.4f} |",
        f"| end-to-end vs float Keras: MAE | {s['mae_mean']:.5f} |",
        f"| front-end per window | {_ticks(s['frontend_ticks_mean'], results)} |",
        f"| engine per window | {_ticks(s['engine_ticks_mean'], results)} |",
        f"| total per window | {_ticks(s['total_ticks_mean'], results)} |",
        f"| engine {unit} range over windows | {s['engine_ticks_min']:,} .. {s['engine_ticks_max']:,} |",
        "| repeatability (second INFER of a clip's first window) | " + _repeat(s, results) + " |",
        "",
        "## Memory",
        "",
        "| item | bytes |",
        "|---|---|",
        f"| flash (ELF: text + rodata + data) | {_kib(elf.get('flash_bytes') or info.get('flash_bytes'))} |",
        f"| static RAM (ELF: stack + data + bss) | {_kib(elf.get('ram_bytes') or info.get('static_ram_bytes'))} |",
        f"| board limits (flash / RAM) | {_kib(elf.get('flash_size'))} / {_kib(elf.get('ram_size'))} |",
        f"| engine arena (static) | {_kib(mem.get('arena_bytes'))} |",
        f"| stack reserved / high-water (painted) | {_kib(mem.get('stack_bytes'))} / "
        f"{_kib(mem.get('stack_high_water'))} |",
        f"| PCM window buffer | {_kib(mem.get('pcm_buffer_bytes'))} |",
        f"| heap | {mem.get('heap_bytes', 0)} B (no malloc) |",
        "",
        "## Per clip",
        "",
        f"| clip | windows | int8-exact | front-end identical | max LSB | cosine mean | cosine min | "
        f"front-end {unit} | engine {unit} |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in results["clips"]:
        ws = c["windows"]
        if not ws:
            continue
        n = len(ws)
        lines.append(
            f"| {Path(c['path']).name} | {n} | {sum(w['int8_exact'] for w in ws)}/{n} | "
            f"{100 * sum(w['frontend_identical_fraction'] for w in ws) / n:.3f} % | "
            f"{max(w['frontend_max_lsb'] for w in ws)} | {sum(w['cosine'] for w in ws) / n:.5f} | "
            f"{min(w['cosine'] for w in ws):.5f} | {sum(w['frontend_ticks'] for w in ws) / n:,.0f} | "
            f"{sum(w['engine_ticks'] for w in ws) / n:,.0f} |"
        )
    lines += _cycles_section(results)
    lines += _memory_section(results)
    lines += _energy_section(results)
    if s["layers"]:
        total = sum(layer["mean_ticks"] for layer in s["layers"]) or 1.0
        est = (results.get("cycles") or {}).get("layers") or []
        head = f"| # | layer | {unit} | share of engine |" + (
            " est. cycles (traced window) | cycles/instr | instr/MAC | cycles/MAC |" if est else ""
        )
        lines += [
            "",
            "## Per layer (mean over windows)",
            "",
            head,
            "|---|---|---|---|" + ("---|---|---|---|" if est else ""),
        ]
        for j, layer in enumerate(s["layers"]):
            row = (
                f"| {j} | `{layer['name']}` | {layer['mean_ticks']:,.0f} | {100 * layer['mean_ticks'] / total:.1f} % |"
            )
            if j < len(est):
                e = est[j]
                row += f" {e['cycles']:,} | {e['cycles'] / e['instructions'] if e['instructions'] else 0:.2f} |"
                row += (
                    f" {e['instructions_per_mac']:.2f} | {e['cycles_per_mac']:.2f} |" if e.get("macs") else " - | - |"
                )
            lines.append(row)
    lines += _head_section(results)
    cmp = results.get("comparison")
    if cmp:
        lines += [
            "",
            "## Against a previous run",
            "",
            f"{cmp['windows_compared']} windows matched by clip and start sample: "
            f"{cmp['ticks_identical_windows']} with identical {unit} (front-end, engine, every layer), "
            f"max difference {cmp['max_tick_diff']} {unit}; {cmp['embedding_identical_windows']} identical "
            f"embeddings.",
        ]
    for w in results.get("warnings", []):
        lines += ["", f"> warning: {w}"]
    lines.append("")
    return "\n".join(lines)


def compare_runs(results: dict, previous: dict) -> dict:
    """Ticks of the same windows in two bench runs (e.g. two QEMU sessions): how many are identical."""

    def key(c, w):
        return (Path(c["path"]).name, w["start_sample"])

    old = {key(c, w): w for c in previous.get("clips", []) for w in c["windows"]}
    same = total = 0
    max_diff = 0
    emb_same = 0
    for c in results["clips"]:
        for w in c["windows"]:
            o = old.get(key(c, w))
            if o is None:
                continue
            total += 1
            d = max(
                abs(a - b)
                for a, b in zip(
                    [w["frontend_ticks"], w["engine_ticks"], *w["layer_ticks"]],
                    [o["frontend_ticks"], o["engine_ticks"], *o["layer_ticks"]],
                )
            )
            same += d == 0
            max_diff = max(max_diff, d)
            emb_same += w["embedding_int8"] == o["embedding_int8"]
    return {
        "windows_compared": total,
        "ticks_identical_windows": same,
        "max_tick_diff": max_diff,
        "embedding_identical_windows": emb_same,
    }


def _ticks_per_second(results: dict) -> tuple[float, str]:
    """Device ticks one second of the board's clock gives, and how that was derived (for the plot's legend)."""
    clock = float(results["clock_hz"])
    if results["ticks_unit"] == "cycles":
        return clock, f"{clock / 1e6:g} MHz"
    cpi = (results.get("cycles") or {}).get("cpi")
    if cpi:  # QEMU: ticks are instructions; the traced window's cycles per instruction converts the clock
        return clock / cpi, f"{clock / 1e6:g} MHz at the traced {cpi:.2f} cycles/instruction"
    return clock, f"{clock / 1e6:g} MHz at 1 instruction/cycle"


def _layers_plot(results: dict, plt):
    """Per-layer ticks, their running total (front-end first), and the budgets: one 1-s window per second
    (real time) and one window per hop."""
    from matplotlib.ticker import FuncFormatter

    s, unit = results["summary"], results["ticks_unit"]
    names = ["front-end"] + [layer["name"] for layer in s["layers"]]
    vals = [s.get("frontend_ticks_mean", 0.0)] + [layer["mean_ticks"] for layer in s["layers"]]
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(names) + 2.2))
    y = np.arange(len(names))
    ax.barh(y, vals, color="#3b7dd8", label=f"{unit} per layer (mean per window)")
    ax.plot(np.cumsum(vals), y, color="#555555", marker=".", label="running total")
    per_s, how = _ticks_per_second(results)
    window_s = results["window_samples"] / results["model_sample_rate"]
    ax.axvline(
        per_s * window_s,
        color="#d62828",
        linestyle="--",
        label=f"real time: one {window_s:g}-s window per second ({how})",
    )
    hop = float(results.get("hop_s") or 0)
    if 0 < hop < window_s:
        ax.axvline(per_s * hop, color="#f77f00", linestyle=":", label=f"one window every hop ({hop:g} s)")
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1e6:g} M"))
    ax.set_xlabel(f"{unit} per window (mean)")
    ax.set_title(f"{results['model']} on {results['board']}: per-layer {unit} against the real-time budget")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=2, frameon=False)  # below: no overlap
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def _plots(results: dict, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    written = []
    s = results["summary"]
    if s.get("layers"):
        written.append(save_png(_layers_plot(results, plt), out_dir / LAYERS_PNG))
    ws = [w for c in results["clips"] for w in c["windows"]]
    if ws:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        axes[0].hist([w["cosine"] for w in ws], bins=30, color="#2a9d8f")
        axes[0].set_xlabel("cosine(device, float Keras) per window")
        axes[1].hist([w["l2_relative"] for w in ws], bins=30, color="#e76f51")
        axes[1].set_xlabel("L2-relative error per window")
        for ax in axes:
            ax.set_ylabel("windows")
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5))  # few ticks: the values differ in the 4th digit
            ax.xaxis.set_major_formatter(ScalarFormatter(useOffset=False))
            ax.tick_params(axis="x", labelrotation=30)
        fig.suptitle(f"{results['model']} on {results['board']}: end-to-end parity ({len(ws)} windows)")
        fig.tight_layout()
        written.append(save_png(fig, out_dir / PARITY_PNG))
    return written


def write_reports(results: dict, out_dir: str | Path) -> dict[str, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": atomic_write_text(out_dir / JSON_NAME, json.dumps(results, indent=1) + "\n"),
        "markdown": atomic_write_text(out_dir / MD_NAME, markdown(results)),
    }
    for p in _plots(results, out_dir):
        paths[p.stem] = p
    return paths

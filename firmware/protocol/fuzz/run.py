"""``make fuzz [FUZZ_SECONDS=N]``: coverage-guided fuzzing of the device's protocol parser.

Builds ``fuzz_em_protocol.c`` + ``em_protocol.c`` for the host with clang's libFuzzer under
AddressSanitizer and UndefinedBehaviorSanitizer, runs it for N seconds starting from the kept corpus
(``corpus/`` beside this file), replays every kept regression input (``corpus/`` and ``crashes/``),
and measures the coverage of ``em_protocol.c`` reached by the corpus with llvm-cov (a second,
source-instrumented build). Prints executions, coverage and crashes; writes ``build/fuzz/fuzz.json``.
Exit status 1 when an input crashed (it is copied to ``crashes/``: commit it as a regression test).

``--merge`` adds the new corpus inputs (minimised by libFuzzer) to the kept ``corpus/``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTOCOL_DIR = HERE.parent
CORPUS = HERE / "corpus"
CRASHES = HERE / "crashes"
SOURCES = [PROTOCOL_DIR / "em_protocol.c", HERE / "fuzz_em_protocol.c"]
HEADERS = [PROTOCOL_DIR / "em_protocol.h", PROTOCOL_DIR / "em_protocol_spec.h"]  # part of the rebuild key
MAX_LEN = 1100  # the largest frame (1034 bytes) with garbage around it, plus the two timing bytes
SANITIZE = ["-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all"]


def _clang() -> str:
    clang = shutil.which("clang")
    if clang is None:
        sys.exit(
            "edgel3-mote: error: clang is not installed: run tools/setup.sh (it installs clang, "
            "libclang-rt-dev and llvm)"
        )
    return clang


def build(out: Path, coverage: bool = False) -> Path:
    """The fuzzer binary (sanitised; or source-coverage instrumented), rebuilt when a source changed."""
    out.mkdir(parents=True, exist_ok=True)
    flags = ["-g", "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{PROTOCOL_DIR}"]
    flags += ["-fsanitize=fuzzer", "-fprofile-instr-generate", "-fcoverage-mapping"] if coverage else SANITIZE
    key = hashlib.sha256(
        json.dumps(flags).encode() + b"".join(s.read_bytes() for s in (*SOURCES, *HEADERS))
    ).hexdigest()[:12]
    binary = out / f"fuzz_em_protocol{'-cov' if coverage else ''}-{key}"
    if not binary.exists():
        tmp = binary.with_suffix(".tmp")
        done = subprocess.run([_clang(), *flags, *map(str, SOURCES), "-o", str(tmp)], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"edgel3-mote: error: building the fuzzer failed:\n{done.stderr}")
        tmp.replace(binary)
    return binary


def _inputs(*folders: Path) -> list[Path]:
    return sorted(p for folder in folders if folder.is_dir() for p in folder.iterdir() if p.is_file())


def replay(binary: Path, inputs: list[Path]) -> None:
    """Run every input once; any failure is a regression."""
    for start in range(0, len(inputs), 200):
        chunk = inputs[start : start + 200]
        done = subprocess.run([str(binary), *map(str, chunk)], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"edgel3-mote: error: a kept fuzz input fails again:\n{done.stderr[-3000:]}")


def _executions(log: str) -> int:
    """Executions reported by libFuzzer: its final stats, or (-fork) the last status line ``#N: cov: ...``."""
    forked = re.findall(r"^#(\d+): cov:", log, re.M)
    if forked:
        return max(int(n) for n in forked)
    return sum(int(n) for n in re.findall(r"stat::number_of_executed_units:\s*(\d+)", log))


def fuzz(binary: Path, seconds: int, work: Path, jobs: int = 1) -> dict:
    """libFuzzer for ``seconds``: executions, coverage counters, new inputs and crashes."""
    work_corpus, artifacts = work / "corpus", work / "artifacts"
    for d in (work_corpus, artifacts):
        d.mkdir(parents=True, exist_ok=True)
    before = set(artifacts.iterdir())
    cmd = [
        str(binary),
        f"-max_total_time={seconds}",
        f"-max_len={MAX_LEN}",
        "-print_final_stats=1",
        f"-artifact_prefix={artifacts}/",
        "-timeout=10",
        # ASan's shadow memory and quarantine alone took the RSS past libFuzzer's 2 GB default in an 8-s run on
        # a loaded 2-core machine (24 MB live heap): allow 4 GB, and call any single allocation over 64 MB a bug
        "-rss_limit_mb=4096",
        "-malloc_limit_mb=64",
        str(work_corpus),
        str(CORPUS),
    ]
    if jobs > 1:
        cmd[1:1] = [f"-fork={jobs}", "-ignore_crashes=0"]
    start = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True)
    log = done.stderr
    (work / "fuzz.log").write_text(log)
    execs = _executions(log)
    cov = re.findall(r"cov: (\d+) ft: (\d+)", log)
    crashes = sorted(set(artifacts.iterdir()) - before)
    for c in crashes:
        CRASHES.mkdir(exist_ok=True)
        shutil.copy2(c, CRASHES / c.name)
    return {
        "seconds": round(time.monotonic() - start, 1),
        "executions": execs,
        "edges_covered": int(cov[-1][0]) if cov else 0,
        "features": int(cov[-1][1]) if cov else 0,
        "crashes": [c.name for c in crashes],
        "exit_code": done.returncode,
        "corpus_files": len(_inputs(work_corpus, CORPUS)),
    }


def coverage(work: Path, inputs: list[Path]) -> dict:
    """Line / branch / function coverage of em_protocol.c reached by ``inputs`` (llvm-cov)."""
    profdata, llvm_cov = shutil.which("llvm-profdata"), shutil.which("llvm-cov")
    if profdata is None or llvm_cov is None:
        sys.exit("edgel3-mote: error: llvm-profdata / llvm-cov missing: run tools/setup.sh (it installs llvm)")
    binary = build(work / "bin", coverage=True)
    raw = work / "cov.profraw"
    listing = work / "cov-inputs"
    shutil.rmtree(listing, ignore_errors=True)
    listing.mkdir()
    for i, p in enumerate(inputs):  # one folder: libFuzzer runs each file of it once with -runs=0
        (listing / f"{i:06d}").write_bytes(p.read_bytes())
    subprocess.run(
        [str(binary), "-runs=0", str(listing)], capture_output=True, check=True, env={"LLVM_PROFILE_FILE": str(raw)}
    )
    merged = work / "cov.profdata"
    subprocess.run([profdata, "merge", "-sparse", str(raw), "-o", str(merged)], check=True)
    report = subprocess.run(
        [
            llvm_cov,
            "export",
            "-summary-only",
            str(binary),
            f"-instr-profile={merged}",
            str(PROTOCOL_DIR / "em_protocol.c"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    files = json.loads(report.stdout)["data"][0]["files"]
    summary = next(f["summary"] for f in files if f["filename"].endswith("em_protocol.c"))
    return {
        k: {"covered": summary[k]["covered"], "count": summary[k]["count"], "percent": round(summary[k]["percent"], 2)}
        for k in ("lines", "branches", "functions", "regions")
    }


def merge(binary: Path, work: Path) -> int:
    """Add the new inputs of ``work``'s corpus that reach new coverage to the kept corpus."""
    before = len(_inputs(CORPUS))
    subprocess.run(
        [str(binary), "-merge=1", f"-max_len={MAX_LEN}", str(CORPUS), str(work / "corpus")],
        capture_output=True,
        check=True,
    )
    return len(_inputs(CORPUS)) - before


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="make fuzz", description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=60, help="fuzzing time (default 60)")
    ap.add_argument("--jobs", type=int, default=1, help="parallel fuzzing processes (libFuzzer -fork)")
    ap.add_argument("--work", type=Path, default=Path("build") / "fuzz", help="build / work folder")
    ap.add_argument("--merge", action="store_true", help="add the new corpus inputs to the kept corpus")
    args = ap.parse_args(argv)
    if args.seconds < 1 or args.jobs < 1:
        ap.error("--seconds and --jobs must be positive")
    binary = build(args.work / "bin")
    kept = _inputs(CORPUS, CRASHES)
    replay(binary, kept)
    print(f"fuzz: replayed {len(kept)} kept inputs (corpus + crashes): all pass")
    result = fuzz(binary, args.seconds, args.work, args.jobs)
    result["kept_inputs_replayed"] = len(kept)
    result["coverage"] = coverage(args.work, _inputs(args.work / "corpus", CORPUS))
    if args.merge:
        result["merged_into_corpus"] = merge(binary, args.work)
    (args.work / "fuzz.json").write_text(json.dumps(result, indent=1) + "\n")
    c = result["coverage"]
    print(
        f"fuzz: {result['executions']:,} executions in {result['seconds']} s "
        f"({result['executions'] / max(result['seconds'], 1e-9):,.0f}/s), {len(result['crashes'])} crashes; "
        f"libFuzzer edges {result['edges_covered']}, features {result['features']}; corpus {result['corpus_files']}"
    )
    print(
        f"fuzz: em_protocol.c coverage: lines {c['lines']['percent']} % ({c['lines']['covered']}/"
        f"{c['lines']['count']}), branches {c['branches']['percent']} % ({c['branches']['covered']}/"
        f"{c['branches']['count']}), functions {c['functions']['percent']} %"
    )
    if result["crashes"] or result["exit_code"] != 0:
        print(f"fuzz: CRASH: inputs copied to {CRASHES} (commit them); log {args.work / 'fuzz.log'}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

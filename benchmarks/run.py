#!/usr/bin/env python3
"""Time every script in scripts/ on generated xetrack-layout files, beside the reference aggregate pass.

For each size (default 1 M and 10 M rows) and engine, this generates the file once (benchmarks/data/, not
committed), then runs, as separate processes and interleaved so machine noise hits both alike:
- the reference (benchmarks/reference.py: one GROUP BY configuration pass with a distinct count);
- each script that exists: validate_benchmark.py, analyze_cache_hits.py, export_summary.py.
It reports wall seconds, CPU seconds (user + system: less sensitive to other processes on a shared machine)
and peak RSS (each process's own, from wait4), the median of --repeat runs, the wall-time ratio to the
reference, the script's exit code and the load average. Results also go to benchmarks/data/results.json.

Usage:
  python benchmarks/run.py                         # 1 M and 10 M rows, both engines, 1 repeat
  python benchmarks/run.py --rows 1000000 --repeat 3 --engine sqlite
Targets (shared/DESIGN.md, issue 3): wall <= 3x the reference at 1 M and 10 M rows; peak RSS < 1 GB at 10 M
rows and not growing with row count.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from generate import generate, table_columns

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
SCRIPTS = ("validate_benchmark.py", "analyze_cache_hits.py", "export_summary.py")


def measure(cmd: list[str], timeout: float | None = None) -> dict:
    """Wall seconds, peak RSS (MB) and exit code of one process, its output discarded. A process still running
    after `timeout` seconds is killed and reported with `timed_out` (its wall time is then the timeout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    timed_out = False
    while True:
        pid, status, usage = os.wait4(proc.pid, 0 if timeout is None else os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - start > timeout:
            proc.kill()
            timed_out = True
            _, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace").strip().splitlines()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
            "exit": proc.returncode, "stderr": err[-1] if err else "", "timed_out": timed_out}


def median_of(runs: list[dict]) -> dict:
    return {"wall_s": round(statistics.median(r["wall_s"] for r in runs), 2),
            "cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 2),
            "rss_mb": round(max(r["rss_mb"] for r in runs)), "exit": runs[-1]["exit"], "stderr": runs[-1]["stderr"],
            "timed_out": any(r.get("timed_out") for r in runs)}


def bench_file(rows: int) -> Path:
    path = DATA / f"bench_{rows}.db"
    if path.exists() and table_columns(path) != table_columns():  # written by an older generate.py
        print(f"{path} has an older layout: regenerating", file=sys.stderr, flush=True)
        path.unlink()
    if not path.exists():
        print(f"generating {path} ...", file=sys.stderr, flush=True)
        print(f"  {generate(path, rows)}", file=sys.stderr, flush=True)
    return path


def run(rows_list: list[int], engines: list[str], repeat: int) -> list[dict]:
    scripts = [s for s in SCRIPTS if (ROOT / "scripts" / s).exists()]
    missing = [s for s in SCRIPTS if s not in scripts]
    if missing:
        print(f"not present, skipped: {', '.join(missing)}", file=sys.stderr)
    results = []
    for rows in rows_list:
        db = bench_file(rows)
        for engine in engines:
            commands = {"reference": [sys.executable, str(HERE / "reference.py"), str(db), "--engine", engine]}
            for s in scripts:
                commands[s] = [sys.executable, str(ROOT / "scripts" / s), str(db), "--engine", engine]
            runs: dict[str, list] = {name: [] for name in commands}
            measure(commands["reference"])  # warm the page cache once, so no run pays the first read from disk
            for _ in range(repeat):
                for name, cmd in commands.items():  # interleaved: noise from other processes hits all alike
                    runs[name].append(measure(cmd))
            ref = median_of(runs["reference"])
            for name in commands:
                m = median_of(runs[name])
                row = {"rows": rows, "engine": engine, "program": name, **m,
                       "x_reference": round(m["wall_s"] / ref["wall_s"], 2) if ref["wall_s"] else None,
                       "file_mb": round(db.stat().st_size / 2**20), "load_avg": round(os.getloadavg()[0], 1)}
                results.append(row)
                print(_line(row), flush=True)
    return results


def _line(r: dict) -> str:
    return (f"| {r['rows']:>10,} | {r['engine']:6} | {r['program']:22} | {r['wall_s']:7.2f} | {r['x_reference']:5.2f}x "
            f"| {r['cpu_s']:7.2f} | {r['rss_mb']:6} | {r['exit']} | {r['load_avg']} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--engine", nargs="+", choices=("sqlite", "duckdb"), default=["sqlite", "duckdb"])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    print("| rows | engine | program | wall s | vs reference | CPU s | peak RSS MB | exit | load avg |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|")
    results = run(args.rows, args.engine, args.repeat)
    DATA.mkdir(exist_ok=True)
    (DATA / "results.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

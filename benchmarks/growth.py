#!/usr/bin/env python3
"""How each script's time grows with the row count, per layout and engine: the growth exponent.

For each layout and size, this generates the file once (benchmarks/data/, not committed) and times the
reference pass (reference.py) and each script, as separate processes, interleaved, with peak RSS from wait4
(run.py's `measure`). The exponent is the slope of log(wall seconds) against log(rows), least squares over the
sizes: 1.0 is linear, 2.0 quadratic. A script whose exponent is well above the reference's has a super-linear
path (the reference itself is slightly above 1: its COUNT(DISTINCT) b-trees grow as n log n).

Layouts (benchmarks/generate.py):
  default     8 configurations on every input, one later run replays 2 of them (20 % of rows), no args/kwargs
  r0          20 runs computing distinct calls, nothing replayed (function_name/args/kwargs as xetrack writes)
  r5m / r50m  5 % / 50 % of rows replayed, each from the run that computed the same call (lineage matched)
  r5u / r50u  5 % / 50 % replayed, `cache` naming run 0 but args unique, so no origin is found (unmatched)

Usage:
  python benchmarks/growth.py                          # 1 M, 2 M, 4 M rows; every layout; both engines
  python benchmarks/growth.py --quick                  # 50 k, 100 k, 200 k rows: a minute or two
  python benchmarks/growth.py --rows 1000000 2000000 --layout r5u r50m --engine sqlite --timeout 120
  python benchmarks/growth.py --report                 # the last run's table again (benchmarks/data/growth.json)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from generate import generate, generate_replays
from run import DATA, HERE, ROOT, SCRIPTS, measure, median_of

LAYOUTS = {
    "default": {},
    "r0": {"replayed": 0, "lineage": "matched"},
    "r5m": {"replayed": 5, "lineage": "matched"},
    "r5u": {"replayed": 5, "lineage": "unmatched"},
    "r50m": {"replayed": 50, "lineage": "matched"},
    "r50u": {"replayed": 50, "lineage": "unmatched"},
}
PROGRAMS = ("reference", *SCRIPTS)


def layout_file(layout: str, rows: int) -> Path:
    path = DATA / f"growth_{layout}_{rows}.db"
    if not path.exists():
        print(f"generating {path} ...", file=sys.stderr, flush=True)
        spec = LAYOUTS[layout]
        info = generate(path, rows) if not spec else generate_replays(path, rows, **spec)
        print(f"  {info}", file=sys.stderr, flush=True)
    return path


def exponent(points: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of log(seconds) on log(rows); None with fewer than two sizes or a timed-out size."""
    pts = [(math.log(r), math.log(s)) for r, s in points if s and s > 0]
    if len(pts) < 2 or len(pts) < len(points):
        return None
    mx, my = sum(x for x, _ in pts) / len(pts), sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return round(sum((x - mx) * (y - my) for x, y in pts) / sxx, 2) if sxx else None


def run(rows_list: list[int], layouts: list[str], engines: list[str], repeat: int, timeout: float) -> list[dict]:
    results = []
    for layout in layouts:
        for rows in rows_list:
            db = layout_file(layout, rows)
            for engine in engines:
                commands = {"reference": [sys.executable, str(HERE / "reference.py"), str(db), "--engine", engine]}
                for s in SCRIPTS:
                    commands[s] = [sys.executable, str(ROOT / "scripts" / s), str(db), "--engine", engine]
                runs: dict[str, list] = {name: [] for name in commands}
                measure(commands["reference"])  # warm the page cache
                for _ in range(repeat):
                    for name, cmd in commands.items():
                        runs[name].append(measure(cmd, timeout))
                ref = median_of(runs["reference"])
                for name in commands:
                    m = median_of(runs[name])
                    row = {"rows": rows, "layout": layout, "engine": engine, "program": name, **m,
                           "x_reference": round(m["wall_s"] / ref["wall_s"], 2) if ref["wall_s"] else None,
                           "load_avg": round(os.getloadavg()[0], 1)}
                    results.append(row)
                    print(_line(row), flush=True)
    return results


def _line(r: dict) -> str:
    wall = f">{r['wall_s']:.0f}" if r.get("timed_out") else f"{r['wall_s']:.2f}"
    return (f"| {r['rows']:>10,} | {r['layout']:7} | {r['engine']:6} | {r['program']:22} | {wall:>7} "
            f"| {r['x_reference']:5.2f} | {r['rss_mb']:6} | {r['exit']} | {r['load_avg']} |")


def exponents(results: list[dict]) -> list[dict]:
    out = []
    keys = sorted({(r["layout"], r["engine"], r["program"]) for r in results},
                  key=lambda k: (list(LAYOUTS).index(k[0]), k[1], PROGRAMS.index(k[2])))
    for layout, engine, program in keys:
        pts = sorted((r["rows"], None if r.get("timed_out") else r["wall_s"]) for r in results
                     if (r["layout"], r["engine"], r["program"]) == (layout, engine, program))
        rss = [r["rss_mb"] for r in results if (r["layout"], r["engine"], r["program"]) == (layout, engine, program)]
        out.append({"layout": layout, "engine": engine, "program": program, "exponent": exponent(pts),
                    "rss_mb_min": min(rss), "rss_mb_max": max(rss)})
    return out


def pivot(results: list[dict]) -> list[str]:
    """One Markdown row per layout x engine x program: seconds and ratio to the reference at each size, the
    largest peak RSS, and the exponent."""
    sizes = sorted({r["rows"] for r in results})
    by = {(r["layout"], r["engine"], r["program"], r["rows"]): r for r in results}
    head = ("| layout | engine | program | " + " | ".join(f"{n / 1e6:g} M s (x ref)" for n in sizes)
            + " | peak RSS MB | exponent |")
    lines = [head, "|---|---|---|" + "---:|" * len(sizes) + "---:|---:|"]
    for e in exponents(results):
        cells = []
        for n in sizes:
            r = by.get((e["layout"], e["engine"], e["program"], n))
            wall = "" if r is None else (f">{r['wall_s']:.0f}" if r.get("timed_out") else f"{r['wall_s']:.2f}")
            cells.append("" if r is None else f"{wall} ({r['x_reference']:.2f})")
        lines.append(f"| {e['layout']} | {e['engine']} | {e['program']} | {' | '.join(cells)} | "
                     f"{e['rss_mb_max']} | {e['exponent']} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="growth.py", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 2_000_000, 4_000_000])
    parser.add_argument("--quick", action="store_true", help="50 k, 100 k and 200 k rows")
    parser.add_argument("--layout", nargs="+", choices=list(LAYOUTS), default=list(LAYOUTS))
    parser.add_argument("--engine", nargs="+", choices=("sqlite", "duckdb"), default=["sqlite", "duckdb"])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before a run is stopped (default 300)")
    parser.add_argument("--report", action="store_true", help="print the table of the last run (data/growth.json)")
    args = parser.parse_args(argv)
    if args.report:
        print("\n".join(pivot(json.loads((DATA / "growth.json").read_text())["runs"])))
        return 0
    rows = [50_000, 100_000, 200_000] if args.quick else args.rows
    print("| rows | layout | engine | program | wall s | x ref | peak RSS MB | exit | load avg |")
    print("|---:|---|---|---|---:|---:|---:|---:|---:|")
    results = run(rows, args.layout, args.engine, args.repeat, args.timeout)
    slopes = exponents(results)
    print()
    print("\n".join(pivot(results)))
    DATA.mkdir(exist_ok=True)
    (DATA / "growth.json").write_text(json.dumps({"runs": results, "exponents": slopes}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

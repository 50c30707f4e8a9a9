#!/usr/bin/env python3
"""Time `export_summary.py --pairs all` on many configurations beside the reference aggregate pass.

Writes a xetrack-layout file (SQL, like generate.py) with CONFIGS configurations (model m00..m19 x one
temperature) on the same inputs, 0/1 correctness drawn per row with accuracies spread from 0.70 to 0.89, and
times, as separate processes and interleaved: reference.py, export_summary.py (best vs each), and
export_summary.py --pairs all (k(k-1)/2 pairs, each an exact McNemar test). Prints one Markdown table.

Usage: python benchmarks/pairs.py [--rows 1000000] [--configs 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from generate import SCHEMA  # noqa: E402 - xetrack's layout, as the main harness writes it

INSERT = """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :inputs - 1)
INSERT INTO "default"
SELECT :run, strftime('%Y-%m-%d %H:%M:%S', 1767225600 + i / 1000, 'unixepoch') || printf('.%06d', i % 1000),
       'e1', :model, 0.0, 'predict', '', 0.001, NULL, '', i,
       CASE WHEN abs(random() % 1000) < :permille THEN i % 2 ELSE 1 - i % 2 END, i % 2, 1.0 + (i % 97) * 0.25
FROM n
"""


def write(path: Path, rows: int, configs: int) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=OFF")
    con.executescript(SCHEMA.format(table="default"))
    for k in range(configs):
        con.execute(INSERT, {"inputs": rows // configs, "run": f"run-{k}", "model": f"m{k:02d}",
                             "permille": 700 + k * 10})
    con.commit()
    con.close()


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{argv[0]} failed: {proc.stderr.strip()}")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pairs.py", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--configs", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    path = HERE / "data" / f"pairs_{args.configs}x{args.rows}.db"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        write(path, args.rows, args.configs)
    export = str(HERE.parent / "scripts" / "export_summary.py")
    programs = {"reference": [str(HERE / "reference.py"), str(path)],
                "export_summary (best)": [export, str(path), "--json"],
                "export_summary --pairs all": [export, str(path), "--json", "--pairs", "all"]}
    times: dict[str, list[float]] = {name: [] for name in programs}
    for _ in range(args.repeat):
        for name, program in programs.items():
            times[name].append(timed(program))
    ref = statistics.median(times["reference"])
    pairs = args.configs * (args.configs - 1) // 2
    print(f"{args.rows:,} rows, {args.configs} configurations ({pairs} pairs), load {os.getloadavg()[0]:.1f}")
    print("| program | wall s (median) | x reference |\n|---|---:|---:|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} | {statistics.median(values) / ref:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

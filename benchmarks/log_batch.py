#!/usr/bin/env python3
"""How fast rows are written: xetrack's own Tracker.log_batch against benchkit.log_batch_verified.

xetrack 0.7.0's SQLite engine reads the table's schema (PRAGMA table_info) once for every text value it inserts;
benchkit reads it once per batch (schema_read_once). Rows like the templates' (provenance parameters on every
row, a text column or two), written by a real Tracker into a fresh file per run, interleaved, in one process
each so nothing is shared. Prints the median seconds and rows per second of each.

Usage:
  python benchmarks/log_batch.py                       # 10,000 rows, 8 text parameters, 3 repeats
  python benchmarks/log_batch.py --rows 50000 --params 4 --repeat 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ASSETS = HERE.parent / "assets"

ONE_RUN = """
import sys, time
sys.path.insert(0, {assets!r})
import benchkit
from xetrack import Tracker
how, rows_n, params_n, db = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
tracker = Tracker(db, table="t", params={{f"p{{i}}": f"value-{{i}}" for i in range(params_n)}})
rows = [{{"dataset": "digits", "seed": 1, "fold": i % 5, "input_id": i, "split": "test" if i % 5 == 0 else "train"}}
        for i in range(rows_n)]
tracker.log_batch(rows[:1])  # the table and its columns exist before the timed batch, as in a resumed run
start = time.perf_counter()
tracker.log_batch(rows[1:]) if how == "xetrack" else benchkit.log_batch_verified(tracker, rows[1:])
print(time.perf_counter() - start)
"""


def one(how: str, rows: int, params: int, folder: Path, k: int) -> float:
    db = folder / f"{how}_{k}.db"
    proc = subprocess.run([sys.executable, "-c", ONE_RUN.format(assets=str(ASSETS)), how, str(rows), str(params),
                           str(db)], capture_output=True, text=True, check=True)
    return float(proc.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="log_batch.py", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--params", type=int, default=8, help="text parameters on every row (Tracker params)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {"xetrack": [], "benchkit": []}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeat):
            for how in times:  # interleaved: machine noise hits both alike
                times[how].append(one(how, args.rows, args.params, Path(tmp), k))
    print(f"{args.rows:,} rows, {args.params} text parameters each, median of {args.repeat}:")
    for how, ts in times.items():
        median = statistics.median(ts)
        name = "xetrack Tracker.log_batch" if how == "xetrack" else "benchkit.log_batch_verified"
        print(f"  {name:28} {median:7.3f} s  {args.rows / median:10,.0f} rows/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

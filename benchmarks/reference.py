#!/usr/bin/env python3
"""The reference every script is timed against: one aggregate pass over the benchmark file.

Per configuration (the parameter columns model, temperature): row count, distinct inputs, error count and
cache-hit count. This is the least a person would run to summarise the table by hand, so a script's cost is
reported as a multiple of it. Read-only, through the same reader as the scripts (scripts/_bench/reader.py).

Usage: python benchmarks/reference.py DB [DB ...] [--table default] [--engine sqlite|duckdb]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from _bench.reader import Benchmark  # noqa: E402

SQL = """SELECT model, temperature, COUNT(*), COUNT(DISTINCT input_id),
       SUM(CASE WHEN error <> '' THEN 1 ELSE 0 END), SUM(CASE WHEN cache <> '' THEN 1 ELSE 0 END)
FROM bench GROUP BY model, temperature ORDER BY model, temperature"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reference.py", description=__doc__.splitlines()[0])
    parser.add_argument("db", nargs="+", help="one file, or several read as one (as the scripts do)")
    parser.add_argument("--table", default="default")
    parser.add_argument("--engine", choices=("sqlite", "duckdb"), default="sqlite")
    args = parser.parse_args(argv)
    with Benchmark(args.db, table=args.table, engine=args.engine) as bench:
        for row in bench.query(SQL):
            print(*row, sep="\t")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

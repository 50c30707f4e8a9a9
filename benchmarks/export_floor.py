#!/usr/bin/env python3
"""How much of export_summary's time on a large file is work it cannot skip: timed parts of its own path.

    python benchmarks/export_floor.py benchmarks/data/bench_10000000.db --engine duckdb --part distinct
    python benchmarks/export_floor.py benchmarks/data/bench_10000000.db --engine duckdb --part fetch

`distinct`: the configurations (enumerate_groups, the query export runs first). `fetch`: export's own scan
query, every chunk fetched into Python as export fetches it (stream_chunks) and dropped: no records, no files,
no statistics. Both through the scripts' reader and layout inference, so the numbers are export's own floor:
a faster export has to fetch fewer rows or columns. Each part runs alone in this process; run.py-style
interleaving is done by the caller (see benchmarks/README.md). Prints the part's wall seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from _bench.layout import infer_layout  # noqa: E402
from _bench.reader import Benchmark  # noqa: E402
from _bench.summary.plan import build_plan  # noqa: E402
from _bench.summary.scan import enumerate_groups, scan_query, stream_chunks  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="export_floor.py", description=__doc__.splitlines()[0])
    parser.add_argument("db", nargs="+")
    parser.add_argument("--table", default="default")
    parser.add_argument("--engine", choices=("sqlite", "duckdb"), default="duckdb")
    parser.add_argument("--part", choices=("distinct", "fetch"), required=True)
    args = parser.parse_args(argv)
    with Benchmark(args.db, table=args.table, engine=args.engine) as bench:
        layout = infer_layout(bench, None, None)
        plan = build_plan(layout, bench.engine, None, None)
        start = time.perf_counter()
        groups = enumerate_groups(bench, layout, "", [])
        if args.part == "fetch":
            scan = scan_query(bench, layout, plan, groups, "", [])
            start, rows = time.perf_counter(), 0
            for cols in stream_chunks(bench, scan.sql, scan.params, scan.numeric_only):
                rows += len(cols[0])
            print(f"rows\t{rows}", file=sys.stderr)
        print(f"{args.part}\t{time.perf_counter() - start:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

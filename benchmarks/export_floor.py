#!/usr/bin/env python3
"""How much of export_summary's time on a large file is work it cannot skip: timed parts of its own path.

    python benchmarks/export_floor.py benchmarks/data/bench_10000000.db --engine duckdb --part distinct
    python benchmarks/export_floor.py benchmarks/data/bench_10000000.db --engine duckdb --part fetch
    python benchmarks/export_floor.py benchmarks/data/bench_10000000.db --engine duckdb --part dedupe-sql

`distinct`: the configurations (enumerate_groups, the query export runs first). `fetch`: export's own scan
query, every chunk fetched into Python as export fetches it (stream_chunks) and dropped: no records, no files,
no statistics. Both through the scripts' reader and layout inference, so the numbers are export's own floor:
a faster export has to fetch fewer rows or columns. `dedupe-sql` (DuckDB only): the first step of a design
that fetches no rows, computing the statistics in SQL: one row per (configuration, item) chosen as export
chooses it (a success before a failure, computed before replayed, then the first logged), with the counts
its report needs and the kept row's 0/1 metric and latency, into a temporary table, memory capped as the
scripts cap it. Each part runs alone in this process; run.py-style
interleaving is done by the caller (see benchmarks/README.md). Prints the part's wall seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from _bench.layout import Layout, infer_layout  # noqa: E402
from _bench.reader import Benchmark  # noqa: E402
from _bench.sql import numeric, q  # noqa: E402
from _bench.summary.plan import Plan, build_plan  # noqa: E402
from _bench.summary.scan import enumerate_groups, scan_query, stream_chunks  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="export_floor.py", description=__doc__.splitlines()[0])
    parser.add_argument("db", nargs="+")
    parser.add_argument("--table", default="default")
    parser.add_argument("--engine", choices=("sqlite", "duckdb"), default="duckdb")
    parser.add_argument("--part", choices=("distinct", "fetch", "dedupe-sql"), required=True)
    args = parser.parse_args(argv)
    with Benchmark(args.db, table=args.table, engine=args.engine) as bench:
        layout = infer_layout(bench, None, None)
        plan = build_plan(layout, bench.engine, None, None)
        if args.part == "dedupe-sql":
            return dedupe_in_sql(bench, layout, plan)
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


def dedupe_in_sql(bench: Benchmark, layout: Layout, plan: Plan) -> int:
    """Times export's per-item deduplication done by DuckDB: the tie-break needs each row's file and rowid,
    which the reader's view leaves out, so the shards' tables are read directly."""
    if bench.engine != "duckdb":
        raise SystemExit("export_floor.py: --part dedupe-sql runs on --engine duckdb")
    bench.bound_memory()
    bench.execute("SET preserve_insertion_order = false")
    failed, replayed = f"CAST({layout.failed} AS BIGINT)", f"CAST({layout.replayed} AS BIGINT)"
    order = f"(({failed} * 2 + {replayed}) << 48) + (_shard << 40) + _rowid"  # tables stay below 2^40 rows
    keys = ", ".join(q(c) for c in layout.versions + layout.config)
    rows = " UNION ALL BY NAME ".join(f"SELECT *, rowid AS _rowid, {i} AS _shard FROM "
                                      f"{q(bench.shard_schema(i))}.{q(bench.table)}"
                                      for i in range(len(bench.shard_columns)))
    start = time.perf_counter()
    bench.execute(f"""CREATE TEMP TABLE kept AS SELECT {keys}, {q(layout.input_id)} AS item, COUNT(*) AS rows_,
        SUM({failed}) AS failed_, SUM({replayed} * (1 - {failed})) AS replayed_ok, MIN({order}) AS rank_,
        arg_min({plan.metrics[0].sql}, {order}) AS metric, arg_min({numeric(q(plan.latency), "duckdb")}, {order})
        AS latency FROM ({rows}) GROUP BY ALL""")
    print(f"rows\t{bench.query('SELECT COUNT(*) FROM kept')[0][0]}", file=sys.stderr)
    print(f"dedupe-sql\t{time.perf_counter() - start:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""List every query a script runs, with its wall time: how many passes over the rows it makes, and which cost.

Runs one script of scripts/ in this process with the reader's `query`, `execute` and `iterate` wrapped, then
prints one line per statement on stderr (seconds, rows returned, the SQL's first 150 characters) and a total.
Statements that read `bench` (or the filtered view) are counted as scans, the one-row emptiness probe is not;
schema look-ups and settings are listed but cost milliseconds. The export scan is logged when its cursor opens
(its rows are fetched afterwards, so its time is not in the log). The script's own output is discarded.

Usage: python benchmarks/queries.py validate_benchmark.py DB --engine sqlite
       python benchmarks/queries.py export_summary.py DB --engine duckdb
"""

from __future__ import annotations

import contextlib
import importlib
import io
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from _bench.reader import Benchmark  # noqa: E402

LOG: list[tuple[float, int, str, str]] = []  # (seconds, rows, thread, sql)
_lock = threading.Lock()


def _log(seconds: float, rows: int, sql: str) -> None:
    with _lock:
        LOG.append((seconds, rows, threading.current_thread().name, " ".join(sql.split())))


def _wrap() -> None:
    query, execute, iterate = Benchmark.query, Benchmark.execute, Benchmark.iterate

    def logged_query(self, sql, params=()):
        start = time.perf_counter()
        rows = query(self, sql, params)
        _log(time.perf_counter() - start, len(rows), sql)
        return rows

    def logged_execute(self, sql, params=()):
        start = time.perf_counter()
        cur = execute(self, sql, params)
        _log(time.perf_counter() - start, -1, sql)
        return cur

    def logged_iterate(self, sql, params=(), batch=10_000):
        start, n = time.perf_counter(), 0
        for row in iterate(self, sql, params, batch):
            n += 1
            yield row
        _log(time.perf_counter() - start, n, "[iterate] " + sql)

    Benchmark.query, Benchmark.iterate = logged_query, logged_iterate
    Benchmark.execute = logged_execute
    # iterate() calls execute(): its statement is logged twice, once as the cursor's open (cheap in sqlite3).


def _scans(sql: str) -> bool:
    """The statement reads the rows: it selects from `bench` (or the filtered view), including a temp table
    created from it, and is not the one-row emptiness probe or the view's own definition."""
    reads = any(f"FROM {view}" in sql for view in ("bench ", "bench_filtered")) or sql.endswith("FROM bench")
    return reads and not sql.startswith("CREATE TEMP VIEW") and not sql.endswith("LIMIT 1")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    script, args = argv[0], argv[1:]
    _wrap()
    module = importlib.import_module(Path(script).stem)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = module.main(args)
    wall = time.perf_counter() - start
    scans = 0
    for seconds, rows, thread, sql in LOG:
        reads = _scans(sql)
        scans += reads
        print(f"{seconds:7.3f}s {rows:>8} {'scan' if reads else '    '} {thread[:10]:10} {sql[:150]}",
              file=sys.stderr)
    print(f"{script}: exit {code}, {wall:.2f} s wall, {len(LOG)} statements, {scans} reading the rows",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Write a large xetrack-layout SQLite file for timing the scripts, in seconds rather than hours.

xetrack itself writes a few thousand rows a second (log_batch), so 10 M rows through `Tracker` would take
about half an hour. This writes the *same layout* directly with SQL: the `"default"`-style table keyed by
(track_id, timestamp), xetrack's `assets`/`keys`/`counts` tables, TEXT timestamps, `error` '' on success,
`cache` '' on computed rows and the computing run's track_id on replays, `function_time` 0.0 on replays,
`function_result` NULL on success (the function returned a dict, merged into the row as columns) and 'None' on
a failed row (xetrack 0.7.0 writes that when the function *raised*: such failures are not cached).

What is in it (rows = 10 x inputs):
- 8 configurations (model m0..m3 x temperature 0.0/0.7), each computed once on every input, one run each;
- a later run that replays configurations m0/0.0 and m0/0.7 from the cache (2 x inputs replay rows);
- 1 % of computed rows fail (`error` = 'timeout', raised, so `function_result` = 'None'); a realistic,
  clean-enough benchmark.

Usage: python benchmarks/generate.py OUT.db --rows 1000000
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from pathlib import Path

CONFIGS = [(f"m{m}", t) for m in range(4) for t in (0.0, 0.7)]
REPLAYED = 2  # the first two configurations are re-run later and served from the cache
ROWS_PER_INPUT = len(CONFIGS) + REPLAYED
EPOCH = 1767225600  # 2026-01-01, so timestamps look like xetrack's 'YYYY-MM-DD HH:MM:SS.ffffff'

SCHEMA = """
CREATE TABLE "assets" (key TEXT PRIMARY KEY, value BLOB);
CREATE TABLE "keys" (key TEXT PRIMARY KEY, value BLOB);
CREATE TABLE "counts" (key TEXT PRIMARY KEY, value BLOB);
CREATE TABLE "{table}" (track_id TEXT, timestamp TEXT, experiment_version TEXT, model TEXT, temperature REAL,
  function_name TEXT, error TEXT, function_time REAL, function_result TEXT, cache TEXT, input_id INTEGER,
  prediction INTEGER, ground_truth INTEGER, latency_ms REAL, PRIMARY KEY (track_id, timestamp));
"""

# One INSERT per run, rows generated inside SQLite (a recursive CTE): ~1 M rows/s, no Python loop.
INSERT = """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :inputs - 1)
INSERT INTO "{table}"
SELECT :run,
       strftime('%Y-%m-%d %H:%M:%S', :epoch + i / 1000, 'unixepoch') || printf('.%06d', (i % 1000) * 1000),
       'e1', :model, :temperature, 'predict',
       CASE WHEN :replay = 0 AND i % 100 = 7 THEN 'timeout' ELSE '' END,
       CASE WHEN :replay = 1 THEN 0.0 ELSE 0.001 + (i % 13) * 0.0001 END,
       CASE WHEN :replay = 0 AND i % 100 = 7 THEN 'None' END,
       CASE WHEN :replay = 1 THEN :source ELSE '' END,
       i,
       CASE WHEN :replay = 0 AND i % 100 = 7 THEN NULL ELSE (i + :offset) % 2 END,
       i % 2,
       CASE WHEN :replay = 1 THEN 0.0 ELSE 1.0 + (i % 97) * 0.25 END
FROM n
"""


def table_columns(path: Path | str = ":memory:", table: str = "default") -> list[str]:
    """The benchmark table's columns in `path`, or (the default) the ones this generator writes now."""
    con = sqlite3.connect(path if path == ":memory:" else f"file:{path}?mode=ro", uri=path != ":memory:")
    try:
        if path == ":memory:":
            con.executescript(SCHEMA.format(table=table.replace('"', '""')))
        return [r[1] for r in con.execute(f'PRAGMA table_info("{table.replace(chr(34), chr(34) * 2)}")')]
    finally:
        con.close()


def generate(path: Path, rows: int, table: str = "default") -> dict:
    """Create `path` (must not exist) holding about `rows` rows; return what was written."""
    if path.exists():
        raise FileExistsError(f"{path} exists; remove it first")
    path.parent.mkdir(parents=True, exist_ok=True)
    inputs = max(1, rows // ROWS_PER_INPUT)
    started = time.perf_counter()
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.executescript(SCHEMA.format(table=table.replace('"', '""')))
        sql = INSERT.format(table=table.replace('"', '""'))
        runs = [(f"run-{model}-{temp}", model, temp, 0, "") for model, temp in CONFIGS]
        runs += [(f"replay-{model}-{temp}", model, temp, 1, f"run-{model}-{temp}") for model, temp in CONFIGS[:REPLAYED]]
        for k, (run, model, temp, replay, source) in enumerate(runs):
            con.execute(sql, {"inputs": inputs, "run": run, "epoch": EPOCH + k * 100_000_000, "model": model,
                              "temperature": temp, "replay": replay, "source": source, "offset": k})
        con.commit()
    finally:
        con.close()
    return {"path": str(path), "rows": inputs * ROWS_PER_INPUT, "inputs": inputs, "configurations": len(CONFIGS),
            "bytes": path.stat().st_size, "seconds": round(time.perf_counter() - started, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="generate.py", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--table", default="default")
    args = parser.parse_args(argv)
    try:
        info = generate(args.out, args.rows, args.table)
    except FileExistsError as exc:
        print(f"generate.py: error: {exc}", file=sys.stderr)
        return 2
    print(info)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

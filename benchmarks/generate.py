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

Replay-heavy layouts (`--replayed PCT`, used by benchmarks/growth.py) are what `track()` writes when many calls
are replays: `function_name`, `args` and `kwargs` identify each call, as in xetrack.
- `--runs K` computing runs (default 20), each its own configuration (model m<k>, temperature 0.0/0.7, also in
  `kwargs`), computing the same inputs (`args` = '[input]'), 1 % of them failed;
- then PCT % of all rows are replays, in later runs of at most one computing run's size each:
  - `--lineage matched`: replayed row j's `cache` names computing run j % K, and its (function_name, args,
    kwargs) are those of a call that run computed, so every replay's origin is found;
  - `--lineage unmatched`: every replayed row's `cache` names run 0, but its `args` are unique (an input no
    run computed), so no origin is found.

Usage: python benchmarks/generate.py OUT.db --rows 1000000
       python benchmarks/generate.py OUT.db --rows 1000000 --replayed 5 --lineage unmatched
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


# The replay layouts: xetrack's call identity (function_name, args, kwargs), many runs, a given share replayed.
REPLAY_SCHEMA = SCHEMA.replace("function_name TEXT,", "function_name TEXT, args TEXT, kwargs TEXT,")
COMPUTE = """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :inputs - 1)
INSERT INTO "{table}"
SELECT :run,
       strftime('%Y-%m-%d %H:%M:%S', :epoch + i / 1000, 'unixepoch') || printf('.%06d', (i % 1000) * 1000),
       'e1', :model, :temperature, 'predict', '[' || i || ']', :kwargs,
       CASE WHEN i % 100 = 7 THEN 'timeout' ELSE '' END,
       0.001 + (i % 13) * 0.0001,
       CASE WHEN i % 100 = 7 THEN 'None' END,
       '', i,
       CASE WHEN i % 100 = 7 THEN NULL ELSE (i + :offset) % 2 END,
       i % 2, 1.0 + (i % 97) * 0.25
FROM n
"""
# Replayed row j (0-based over all replays): its origin is computing run s = j % K, input (j // K) % inputs,
# moved off the failed inputs (a raised failure is not cached); unmatched: run 0 and an input no run computed.
REPLAY = """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :count - 1),
j(i, s, x) AS (SELECT i, CASE WHEN :matched THEN (:first + i) % :runs ELSE 0 END,
       CASE WHEN :matched THEN ((:first + i) / :runs) % :inputs ELSE :inputs + :first + i END FROM n),
v(i, s, x) AS (SELECT i, s, CASE WHEN x % 100 = 7 AND x + 1 < :inputs THEN x + 1 ELSE x END FROM j)
INSERT INTO "{table}"
SELECT :run,
       strftime('%Y-%m-%d %H:%M:%S', :epoch + i / 1000, 'unixepoch') || printf('.%06d', (i % 1000) * 1000),
       'e1', 'm' || s, CASE WHEN s % 2 = 1 THEN 0.7 ELSE 0.0 END, 'predict', '[' || x || ']',
       '{{''model'': ''m' || s || ''', ''temperature'': ' || CASE WHEN s % 2 = 1 THEN '0.7' ELSE '0.0' END || '}}',
       '', 0.0, NULL, 'run-' || printf('%03d', s), x, (x + s) % 2, x % 2, 0.0
FROM v
"""


def table_columns(path: Path | str = ":memory:", table: str = "default", replay: bool = False) -> list[str]:

    """The benchmark table's columns in `path`, or (the default) the ones this generator writes now."""
    con = sqlite3.connect(path if path == ":memory:" else f"file:{path}?mode=ro", uri=path != ":memory:")
    try:
        if path == ":memory:":
            con.executescript((REPLAY_SCHEMA if replay else SCHEMA).format(table=table.replace('"', '""')))
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


def generate_replays(path: Path, rows: int, replayed: float, lineage: str = "matched", runs: int = 20,
                     table: str = "default") -> dict:
    """Create `path` (must not exist): `runs` computing runs, then `replayed` % of about `rows` rows replayed
    (the module doc describes both lineages); return what was written."""
    if path.exists():
        raise FileExistsError(f"{path} exists; remove it first")
    if lineage not in ("matched", "unmatched"):
        raise ValueError(f"lineage must be matched or unmatched, not {lineage!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    replays = round(rows * replayed / 100)
    inputs = max(1, (rows - replays) // runs)
    started = time.perf_counter()
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        quoted = table.replace('"', '""')
        con.executescript(REPLAY_SCHEMA.format(table=quoted))
        for k in range(runs):
            temp = 0.7 if k % 2 else 0.0
            con.execute(COMPUTE.format(table=quoted), {
                "inputs": inputs, "run": f"run-{k:03d}", "epoch": EPOCH + k * 100_000_000, "model": f"m{k}",
                "temperature": temp, "kwargs": f"{{'model': 'm{k}', 'temperature': {temp}}}", "offset": k})
        first, r = 0, 0
        while first < replays:  # replay runs of at most one computing run's size
            count = min(inputs, replays - first)
            con.execute(REPLAY.format(table=quoted), {
                "count": count, "first": first, "runs": runs, "inputs": inputs, "matched": lineage == "matched",
                "run": f"replay-{r:03d}", "epoch": EPOCH + (runs + r) * 100_000_000})
            first, r = first + count, r + 1
        con.commit()
    finally:
        con.close()
    return {"path": str(path), "rows": inputs * runs + replays, "replayed": replays, "lineage": lineage,
            "runs": runs, "replay_runs": r, "inputs": inputs, "bytes": path.stat().st_size,
            "seconds": round(time.perf_counter() - started, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="generate.py", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--table", default="default")
    parser.add_argument("--replayed", type=float, help="a replay-heavy layout: this %% of the rows replayed")
    parser.add_argument("--lineage", choices=("matched", "unmatched"), default="matched")
    parser.add_argument("--runs", type=int, default=20, help="computing runs of a replay layout (default 20)")
    args = parser.parse_args(argv)
    try:
        if args.replayed is None:
            info = generate(args.out, args.rows, args.table)
        else:
            info = generate_replays(args.out, args.rows, args.replayed, args.lineage, args.runs, args.table)
    except FileExistsError as exc:
        print(f"generate.py: error: {exc}", file=sys.stderr)
        return 2
    print(info)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

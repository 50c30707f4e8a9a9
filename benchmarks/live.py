#!/usr/bin/env python3
"""Measure what a long validation does to a benchmark that is still writing (SQLite locking).

A xetrack writer (SQLite engine, one commit per log(), 2 ms of "work" between logs) appends to a copy of a
generated file while validate_benchmark.py reads it. SQLite in rollback-journal mode (xetrack's default) lets
a writer commit only when no reader holds a SHARED lock; every query holds one while it runs, and xetrack's
connection waits at most 5 s (sqlite3's default busy timeout) before log() raises "database is locked".
Reports the writer's slowest log(), its failures, and the validator's time and exit code.

Usage: python benchmarks/live.py --rows 1000000 [--engine sqlite|duckdb] [--wal] [--snapshot]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import time

from run import DATA, ROOT, bench_file

WRITER = r"""
import json, sys, time
from xetrack import Tracker
db, stop = sys.argv[1], sys.argv[2]
tracker = Tracker(db, table="default", params={"experiment_version": "e1", "model": "m9", "temperature": 0.0})
latencies, failures, i = [], [], 0
print("ready", flush=True)
import os
while not os.path.exists(stop):
    start = time.perf_counter()
    try:
        tracker.log({"function_name": "predict", "error": "", "cache": "", "input_id": i, "prediction": i % 2,
                     "ground_truth": i % 2, "latency_ms": 1.0})
    except Exception as exc:  # what a benchmark would die of
        failures.append(f"{type(exc).__name__}: {exc}")
    latencies.append(time.perf_counter() - start)
    i += 1
    time.sleep(0.002)
latencies.sort()
print(json.dumps({"logs": len(latencies), "failures": len(failures), "first_failure": failures[:1],
                  "worst_log_s": round(latencies[-1], 3), "p99_log_s": round(latencies[int(0.99 * len(latencies))], 3)}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="live.py", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--engine", choices=("sqlite", "duckdb"), default="sqlite")
    parser.add_argument("--wal", action="store_true", help="switch the copy to WAL journaling first")
    parser.add_argument("--snapshot", action="store_true", help="validate with --snapshot")
    args = parser.parse_args(argv)
    copy = DATA / f"live_{args.rows}.db"
    stop = DATA / "live.stop"
    shutil.copyfile(bench_file(args.rows), copy)
    stop.unlink(missing_ok=True)
    if args.wal:  # what a user does once, before the run: readers then never block the writer
        with sqlite3.connect(copy) as con:
            con.execute("PRAGMA journal_mode=WAL")
    try:
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(copy), str(stop)], stdout=subprocess.PIPE,
                                  text=True, cwd=ROOT)
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(1)  # the writer is in its stride
        start = time.perf_counter()
        validate = subprocess.run([sys.executable, str(ROOT / "scripts" / "validate_benchmark.py"), str(copy),
                                   "--engine", args.engine, "--json", *(["--snapshot"] if args.snapshot else [])],
                                  capture_output=True, text=True)
        wall = time.perf_counter() - start
        time.sleep(1)
        stop.touch()
        out, _ = writer.communicate(timeout=120)
        result = {"rows": args.rows, "engine": args.engine, "wal": args.wal, "snapshot": args.snapshot, "validate_s": round(wall, 1),
                  "validate_exit": validate.returncode, "validate_stderr": validate.stderr.strip()[-200:],
                  "writer": json.loads(out.strip().splitlines()[-1])}
        print(json.dumps(result, indent=1))
    finally:
        stop.unlink(missing_ok=True)
        for leftover in (copy, copy.with_name(copy.name + "-wal"), copy.with_name(copy.name + "-shm")):
            leftover.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

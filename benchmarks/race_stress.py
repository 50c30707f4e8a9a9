#!/usr/bin/env python3
"""Stress validate_benchmark.py on damaged databases under CPU contention; count crashes and exit codes.

Regression check for the two-connection race in validate_benchmark._passes: when the global pass fails on a
damaged page while the per-configuration pass is still querying its own connection, that connection must not
be closed under it (a sqlite3 use-after-close is a SIGSEGV, exit code -11). One real xetrack file is written,
then RUNS copies are damaged (pages overwritten with random bytes or zeros, or the file truncated, at
offsets spread over the file) and each is validated in a fresh subprocess while LOAD busy-loop processes
keep every core busy.

    python benchmarks/race_stress.py                       # the scripts in this checkout
    python benchmarks/race_stress.py --scripts /tmp/old/scripts --runs 200 --load 2

Prints one line per outcome (exit code -> runs) and a JSON summary; exits 1 if any run crashed.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE = "predictions"
PAGE = 4096


def write_base(db: Path, rows: int) -> None:
    from xetrack import Tracker

    models = ("logreg", "tree", "svm", "knn")
    batch = [{"input_id": i % (rows // len(models)), "model": models[i % len(models)], "prediction": i % 2,
              "ground_truth": (i // 3) % 2, "latency_ms": 1.0 + (i % 7) * 0.25, "error": ""}
             for i in range(rows)]
    for start in range(0, rows, 5000):  # several runs, each one transaction
        tracker = Tracker(str(db), table=TABLE, params={"experiment_version": "e1"})
        tracker.log_batch(batch[start:start + 5000])


def damage(base: bytes, out: Path, rng: random.Random, index: int) -> str:
    data = bytearray(base)
    pages = len(data) // PAGE
    kind = ("random", "zeros", "truncate")[index % 3]
    page = rng.randrange(1, pages)  # never page 0: the header and schema stay readable, the table does not
    if kind == "truncate":
        cut = page * PAGE + rng.randrange(0, PAGE)
        out.write_bytes(bytes(data[:cut]))
        return f"truncate@{cut}"
    n = rng.randrange(1, 4)
    for p in range(page, min(page + n, pages)):
        fill = bytes(rng.getrandbits(8) for _ in range(PAGE)) if kind == "random" else bytes(PAGE)
        data[p * PAGE:(p + 1) * PAGE] = fill
    out.write_bytes(bytes(data))
    return f"{kind}@page{page}x{n}"


def _spin() -> None:
    while True:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scripts", default=str(ROOT / "scripts"), help="folder holding validate_benchmark.py")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--load", type=int, default=2, help="busy-loop processes running meanwhile")
    parser.add_argument("--rows", type=int, default=40000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args(argv)
    script = Path(args.scripts) / "validate_benchmark.py"
    work = Path(tempfile.mkdtemp(prefix="race-stress-"))
    spinners = []
    try:
        base = work / "base.db"
        write_base(base, args.rows)
        data = base.read_bytes()
        rng = random.Random(args.seed)
        spinners = [multiprocessing.get_context("spawn").Process(target=_spin, daemon=True) for _ in range(args.load)]
        for s in spinners:
            s.start()
        codes: collections.Counter = collections.Counter()
        crashes = []
        t0 = time.monotonic()
        for i in range(args.runs):
            db = work / f"damaged-{i}.db"
            how = damage(data, db, rng, i)
            try:
                proc = subprocess.run([sys.executable, str(script), str(db), TABLE], capture_output=True, text=True,
                                      timeout=args.timeout, env={**os.environ, "PYTHONFAULTHANDLER": "1"})
                code = proc.returncode
            except subprocess.TimeoutExpired:
                code = "timeout"
            codes[code] += 1
            if code == "timeout" or code < 0:
                name = signal.Signals(-code).name if isinstance(code, int) else code
                crashes.append({"run": i, "damage": how, "signal": name})
                print(f"run {i}: {how}: CRASH {name}", flush=True)
            db.unlink()
        wall = time.monotonic() - t0
    finally:
        for s in spinners:
            s.terminate()
            s.join()
        shutil.rmtree(work, ignore_errors=True)
    for code, n in sorted(codes.items(), key=lambda kv: str(kv[0])):
        print(f"exit {code}: {n} runs")
    summary = {"script": str(script), "runs": args.runs, "rows": args.rows, "load_processes": args.load,
               "cpus": os.cpu_count(), "crashes": len(crashes), "exit_codes": {str(k): v for k, v in codes.items()},
               "wall_seconds": round(wall, 1), "crashed_runs": crashes}
    print(json.dumps(summary))
    return 1 if crashes else 0


if __name__ == "__main__":
    raise SystemExit(main())

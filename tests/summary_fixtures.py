"""Benchmarks for export_summary and analyze_cache_hits, written by xetrack itself (Tracker.log_batch/track).

Outcomes are given per item, so every expected number in the tests can be computed independently from the
same lists (by formula), never read back from the script under test.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from scipy import stats
from xetrack import Tracker
from xetrack_fixtures import log_rows


def correctness(n: int, accuracy: float, seed: int) -> list[int]:
    """Exactly round(n * accuracy) correct items, in a seeded random order."""
    k = round(n * accuracy)
    flags = np.array([1] * k + [0] * (n - k))
    np.random.default_rng(seed).shuffle(flags)
    return flags.tolist()


def prediction_rows(model: str, outcomes: list[int], *, start: int = 0, extra: dict | None = None) -> list[dict]:
    """One row per item: ground truth alternates 0/1; the prediction is right exactly where outcomes say."""
    rows = []
    for i, ok in enumerate(outcomes, start=start):
        truth = i % 2
        rows.append({"model": model, "input_id": i, "prediction": truth if ok else 1 - truth,
                     "ground_truth": truth, "latency_ms": 10.0 + (i * 7 + len(model)) % 13, **(extra or {})})
    return rows


def predictions_db(db: Path, engine: str, outcomes: dict[str, list[int]], *, table: str = "predictions",
                   version: str = "e1", failed: dict[str, list[int]] | None = None) -> Path:
    """One run per model; `failed[model]` lists items whose row has an error (and no prediction)."""
    for model, oks in outcomes.items():
        rows = prediction_rows(model, oks)
        for i in (failed or {}).get(model, []):
            rows[i] = {"model": model, "input_id": i, "ground_truth": i % 2, "error": "TimeoutError: timed out",
                       "latency_ms": 30.0}
        for r in rows:
            r.setdefault("error", "")
        log_rows(db, rows, engine=engine, table=table, params={"experiment_version": version})
    return db


def scores_db(db: Path, engine: str, scores: dict[str, list[float]], *, table: str = "predictions",
              column: str = "score") -> Path:
    for model, values in scores.items():
        rows = [{"model": model, "input_id": i, column: float(v)} for i, v in enumerate(values)]
        log_rows(db, rows, engine=engine, table=table, params={"experiment_version": "e1"})
    return db


def clustered_db(db: Path, engine: str, outcomes: dict[str, dict[tuple[int, int], list[int]]],
                 table: str = "predictions") -> Path:
    """outcomes[model][(seed, fold)] = per-item correctness of that fold (input ids distinct per fold)."""
    for model, per_fold in outcomes.items():
        rows = []
        for (seed, fold), oks in per_fold.items():
            rows += prediction_rows(model, oks, start=fold * 1000, extra={"seed": seed, "fold": fold})
        log_rows(db, rows, engine=engine, table=table, params={"experiment_version": "e1"})
    return db


def seeded_db(db: Path, engine: str, outcomes: dict[str, dict[int, list[int]]], table: str = "predictions") -> Path:
    """outcomes[model][seed] = per-item correctness of one independent run (the same input ids every seed,
    no fold column): replicate runs, not cross-validation."""
    for model, per_seed in outcomes.items():
        rows = []
        for seed, oks in per_seed.items():
            rows += prediction_rows(model, oks, extra={"seed": seed})
        log_rows(db, rows, engine=engine, table=table, params={"experiment_version": "e1"})
    return db


# --- caching situations, each produced by xetrack's own cache --------------------------------------------

CALLS_MODULE = '''
from dataclasses import dataclass


@dataclass(frozen=True)
class Prompt:
    model: str
    temperature: float


def answer(prompt, i):
    return {"answer": f"{prompt.model}-{i}"}


def score(i, model):
    return {"score": (i * 7) % 10 / 10}


def ask(i):
    if i % 4 == 3:
        return {"error": "RateLimitError: 429"}  # a *returned* failure: xetrack caches it
    return {"answer": i}


def total(values):
    return {"total": sum(values)}
'''

RUN_SCRIPT = '''
import sys
from xetrack import Tracker
import calls

db, cache, kind, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
tracker = Tracker(db, cache=cache if cache != "-" else None, params={"experiment_version": "e1"})
for i in range(n):
    if kind == "object":
        tracker.track(calls.answer, args=[calls.Prompt("gpt", 0.0), i])
    elif kind == "primitive":
        tracker.track(calls.score, kwargs={"i": i, "model": "m1"}, params={"model": "m1"})
    elif kind == "returned_error":
        tracker.track(calls.ask, args=[i])
    elif kind == "unhashable":
        tracker.track(calls.total, args=[[i, 1, 2]])
    elif kind == "mixed":
        tracker.track(calls.score, kwargs={"i": i, "model": "m1"}, params={"model": "m1"})
        tracker.track(calls.total, args=[[i, 1, 2]])
print(tracker.track_id)
'''


def run_in_new_process(workdir: Path, db: Path, cache: Path | None, kind: str, n: int = 6,
                       hash_seed: int | None = None) -> str:
    """Run tracked calls in a fresh Python process (as a re-run would); returns the run's track_id.

    `hash_seed` fixes PYTHONHASHSEED: two different seeds reproduce, deterministically, what two ordinary
    processes do by chance (Python randomises str hashes per process)."""
    (workdir / "calls.py").write_text(textwrap.dedent(CALLS_MODULE))
    (workdir / "run_calls.py").write_text(textwrap.dedent(RUN_SCRIPT))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", str(workdir)),
           "PYTHONPATH": str(workdir)}
    if hash_seed is not None:
        env["PYTHONHASHSEED"] = str(hash_seed)
    proc = subprocess.run([sys.executable, str(workdir / "run_calls.py"), str(db), str(cache) if cache else "-",
                           kind, str(n)], capture_output=True, text=True, env=env, cwd=workdir, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def slow_square(i: int) -> dict:
    return {"square": i * i}


def cached_runs(db: Path, engine: str, cache: Path, runs: int = 2, n: int = 5, table: str = "default") -> list[str]:
    """The same primitive calls in `runs` runs through one cache: the first computes, later ones replay."""
    ids = []
    for _ in range(runs):
        tracker = Tracker(str(db), engine=engine, table=table, cache=str(cache), params={"experiment_version": "e1"})
        for i in range(n):
            tracker.track(slow_square, kwargs={"i": i}, params={"model": "sq"})
        ids.append(tracker.track_id)
    return ids


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson's 95 % interval for k of n, computed here by hand: what the report's must equal."""
    z = stats.norm.ppf(0.975)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half

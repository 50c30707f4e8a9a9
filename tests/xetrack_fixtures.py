"""Benchmark databases written by xetrack itself, so fixtures cannot drift from the real layout.

Every builder takes `engine` ('sqlite' or 'duckdb') and writes through `xetrack.Tracker`. Clean builders
produce what a careful benchmark leaves behind; planted-defect builders (added by the checks that need them)
start from a clean one and add exactly one defect, so a check that fires on it fires for that reason.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from xetrack import Tracker

ENGINES = ("sqlite", "duckdb")
MODELS = ("logreg", "tree")


def log_rows(db: Path, rows: list[dict], *, engine: str, table: str = "default", params: dict | None = None,
             track_id: str | None = None) -> Tracker:
    """Log rows in one run. log_batch is one transaction: fast enough for fixtures of thousands of rows."""
    tracker = Tracker(str(db), engine=engine, table=table, params=params or {}, track_id=track_id)
    if rows:
        tracker.log_batch(rows)
    assert tracker.count_run() == len(rows), "xetrack silently dropped a batch"
    return tracker


def true_label(input_id: int) -> int:
    return input_id % 2


def predict(model: str, input_id: int) -> dict:
    """A deterministic stand-in model: 'logreg' is right on 9 of 10 inputs, 'tree' on 7 of 10."""
    wrong_every = {"logreg": 10, "tree": 3}.get(model, 2)
    label = true_label(input_id)
    prediction = 1 - label if input_id % wrong_every == 0 else label
    return {"input_id": input_id, "prediction": prediction, "ground_truth": label,
            "latency_ms": 1.0 + (input_id % 7) * 0.25}


def clean_benchmark(db: Path, engine: str, *, table: str = "predictions", models=MODELS, n_items: int = 20,
                    cache_dir: Path | None = None, replay: bool = False) -> Path:
    """Each model evaluated once on the same inputs through `track()`, configuration on every row.

    With `cache_dir`, calls go through xetrack's cache with primitive arguments (stable keys across
    processes); `replay=True` then runs everything a second time in a new run, so every second-run row is a
    cache replay (`cache` = the first run's track_id), which is legitimate and not a duplicate execution.
    """
    runs = 2 if replay else 1
    for _ in range(runs):
        tracker = Tracker(str(db), engine=engine, table=table, cache=str(cache_dir) if cache_dir else None,
                          params={"experiment_version": "e1"})
        for model in models:
            for i in range(n_items):
                tracker.track(predict, kwargs={"model": model, "input_id": i}, params={"model": model})
    return db


def read_rows(db: Path, sql: str, params=()) -> list[tuple]:
    """Run one query against a database file opened read-only, as the scripts do (never writes, never creates)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def read_dicts(db: Path, sql: str, params=()) -> list[dict]:
    """read_rows, each row a dict keyed by column name."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(sql, params)]
    finally:
        con.close()

"""Planted-defect benchmarks for validate_benchmark, written by xetrack itself (either engine).

Each builder starts from what a careful benchmark leaves behind and adds exactly one defect, so the check
that fires on it fires for that reason. `DEFECTS` maps a builder to the check ids it must raise (all of them,
and nothing else: the checks are orthogonal).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from xetrack import Tracker
from xetrack_fixtures import clean_benchmark, log_rows, predict, true_label

TABLE = "predictions"
N = 12  # inputs per configuration: small, because xetrack's DuckDB engine writes ~100 rows/s


def _run(db: Path, engine: str, models=("logreg", "tree"), items=range(N), *, cache: Path | None = None,
         version: str = "e1") -> Tracker:
    """One run: every model on every item through track(), configuration logged as track params."""
    tracker = Tracker(str(db), engine=engine, table=TABLE, cache=str(cache) if cache else None,
                      params={"experiment_version": version})
    for model in models:
        for i in items:
            tracker.track(predict, kwargs={"model": model, "input_id": i}, params={"model": model})
    return tracker


def clean(tmp: Path, engine: str) -> Path:
    """Computed once, then replayed in full from the cache by a second run: legitimate, not duplicated."""
    return clean_benchmark(tmp / "clean.db", engine, table=TABLE, n_items=N, cache_dir=tmp / "cache", replay=True)


def clean_with_seeds(tmp: Path, engine: str) -> Path:
    """Intended replicates: the same configuration and input under two seeds (a replicate column)."""
    db = tmp / "seeds.db"
    for seed in (0, 1):
        tracker = Tracker(str(db), engine=engine, table=TABLE, params={"seed": seed})
        for model in ("logreg", "tree"):
            for i in range(N):
                tracker.track(predict, kwargs={"model": model, "input_id": i}, params={"model": model})
    return db


def clean_model_families(tmp: Path, engine: str) -> Path:
    """Two model families with their own hyperparameters (C for one, max_depth for the other): not a rename."""
    db = tmp / "families.db"
    for model, params in (("logreg", {"C": 1.0}), ("tree", {"max_depth": 3})):
        rows = [{**predict(model, i), "model": model, **params} for i in range(N)]
        log_rows(db, rows, engine=engine, table=TABLE)
    return db


def clean_with_split(tmp: Path, engine: str) -> Path:
    """Training and test rows on disjoint inputs."""
    db = tmp / "split.db"
    rows = [{**predict(m, i), "model": m, "split": "train" if i < N // 2 else "test"} for m in ("a", "b")
            for i in range(N)]
    log_rows(db, rows, engine=engine, table=TABLE)
    return db


def clean_interleaved_families(tmp: Path, engine: str) -> Path:
    """Two model families in the same runs, each with its own hyperparameters: C and gamma only on svm rows,
    n_estimators and learning_rate only on boosting rows. gamma and learning_rate are never set together,
    are both floats and share the value 0.1, and still are not a rename: every run sets both."""
    db = tmp / "interleaved.db"
    families = (("svm", {"C": 1.0, "gamma": 0.1}), ("boosting", {"n_estimators": 100, "learning_rate": 0.1}))
    for run, items in (("run-1", range(N // 2)), ("run-2", range(N // 2, N))):
        rows = [{**predict(model, i), "model": model, **params} for i in items for model, params in families]
        log_rows(db, rows, engine=engine, table=TABLE, track_id=run)
    return db


def _sharded(tmp: Path, engine: str, name: str, shards: tuple[int, ...], n: int = 3) -> Path:
    """Inputs split over n shards by input id (what a split by input does), each shard its own run on its own
    host, gathered into one file; only `shards` are present."""
    db = tmp / name
    for k in shards:
        rows = [{**predict(m, i), "model": m} for m in ("logreg", "tree") for i in range(N) if i % n == k - 1]
        log_rows(db, rows, engine=engine, table=TABLE,
                 params={"experiment_version": "e1", "shard": f"{k}/{n}", "host": f"node-{k}"})
    return db


def clean_sharded(tmp: Path, engine: str) -> Path:
    """All three shards of a sharded run, gathered: one benchmark, whatever host computed each part."""
    return _sharded(tmp, engine, "sharded.db", (1, 2, 3))


def clean_text_labels(tmp: Path, engine: str) -> Path:
    """Labels that are digit strings ('7', '12'), stored as text on purpose: compared for equality, never
    averaged, so not numbers stored as text (the function template's prediction and ground_truth)."""
    db = tmp / "text_labels.db"
    rows = [{**predict(m, i), "model": m} for m in ("logreg", "tree") for i in range(N)]
    log_rows(db, [{**r, "prediction": str(r["prediction"] + 7), "ground_truth": str(r["ground_truth"] + 7)}
                  for r in rows], engine=engine, table=TABLE)
    return db


CLEAN = {"clean": clean, "clean_with_seeds": clean_with_seeds, "clean_model_families": clean_model_families,
         "clean_with_split": clean_with_split, "clean_interleaved_families": clean_interleaved_families,
         "clean_sharded": clean_sharded, "clean_text_labels": clean_text_labels}


# --- planted defects ---------------------------------------------------------------------------------

def duplicated(tmp: Path, engine: str) -> Path:
    """The run was started again without a cache, so every (model, input) was computed twice."""
    db = tmp / "dup.db"
    _run(db, engine)
    _run(db, engine)
    return db


def uneven_coverage(tmp: Path, engine: str) -> Path:
    """'tree' was stopped early: it never saw the last three inputs."""
    db = tmp / "coverage.db"
    _run(db, engine, models=("logreg",))
    _run(db, engine, models=("tree",), items=range(N - 3))
    return db


def _flaky(model: str, input_id: int) -> dict:
    if input_id % 3 == 0:
        raise TimeoutError("endpoint timed out")
    return predict(model, input_id)


def failing(tmp: Path, engine: str) -> Path:
    """A third of the calls raise (xetrack logs the row with `error` and does not cache it)."""
    db = tmp / "fail.db"
    tracker = Tracker(str(db), engine=engine, table=TABLE, raise_on_error=False)
    for model in ("logreg", "tree"):
        for i in range(N):
            tracker.track(_flaky, kwargs={"model": model, "input_id": i}, params={"model": model, "input_id": i})
    return db


def unattributed_rows(tmp: Path, engine: str) -> Path:
    """A helper script logged extra predictions without any configuration."""
    db = _run_clean(tmp, engine, "noparams.db")
    log_rows(db, [predict("logreg", i) for i in range(3)], engine=engine, table=TABLE)
    return db


@dataclasses.dataclass(frozen=True)
class Config:
    depth: int
    rate: float


def _predict_cfg(cfg: Config, input_id: int) -> dict:
    return {"input_id": input_id, "prediction": input_id % cfg.depth, "ground_truth": true_label(input_id)}


def replay_lost_parameters(tmp: Path, engine: str) -> Path:
    """A dataclass argument is unpacked into cfg_depth/cfg_rate when computed, not on the cache hit."""
    db = tmp / "replay.db"
    for _ in range(2):
        tracker = Tracker(str(db), engine=engine, table=TABLE, cache=str(tmp / "cache"))
        for depth in (2, 3):
            for i in range(N):
                tracker.track(_predict_cfg, args=[Config(depth, 0.5), i])
    return db


def replay_carried_parameters(tmp: Path, engine: str) -> Path:
    """As replay_lost_parameters, but the configuration is also passed as track(params=...): it is on every
    row, replayed ones included, so the replayed rows lack only the dataclass-unpacked cfg_* columns."""
    db = tmp / "replay-params.db"
    for _ in range(2):
        tracker = Tracker(str(db), engine=engine, table=TABLE, cache=str(tmp / "cache"))
        for depth in (2, 3):
            for i in range(N):
                tracker.track(_predict_cfg, args=[Config(depth, 0.5), i], params={"depth": depth, "rate": 0.5})
    return db


def replay_lost_despite_constant_params(tmp: Path, engine: str) -> Path:
    """track(params=...) puts a column on every row, but one that is the same for every configuration: the
    replayed rows still cannot be told apart, so their lost cfg_* columns are a real loss."""
    db = tmp / "replay-constant.db"
    for _ in range(2):
        tracker = Tracker(str(db), engine=engine, table=TABLE, cache=str(tmp / "cache"))
        for depth in (2, 3):
            for i in range(N):
                tracker.track(_predict_cfg, args=[Config(depth, 0.5), i], params={"rate": 0.5})
    return db


def renamed_parameter(tmp: Path, engine: str) -> Path:
    """'lr' was renamed 'learning_rate' between two runs of the same models."""
    db = tmp / "rename.db"
    for name, models in (("lr", ("logreg", "tree")), ("learning_rate", ("logreg", "tree"))):
        rows = [{**predict(m, i), "model": m, name: 0.1} for m in models for i in range(N)]
        log_rows(db, rows, engine=engine, table=TABLE, track_id=f"run-{name}")
    return db


def renamed_with_another_change(tmp: Path, engine: str) -> Path:
    """'lr' was renamed 'learning_rate' in the second run, which also changed batch_size: the other
    parameters are not equal, but one column stops being set when the other starts."""
    db = tmp / "rename2.db"
    for name, batch in (("lr", 32), ("learning_rate", 64)):
        rows = [{**predict(m, i), "model": m, name: 0.1, "batch_size": batch} for m in ("logreg", "tree")
                for i in range(N)]
        log_rows(db, rows, engine=engine, table=TABLE, track_id=f"run-{name}")
    return db


def numbers_as_text(tmp: Path, engine: str) -> Path:
    """The first logged 'score' was None, so the column is text and every later number is stored as text."""
    db = tmp / "text.db"
    tracker = Tracker(str(db), engine=engine, table=TABLE)
    for m in ("logreg", "tree"):
        tracker.log({"input_id": -1, "model": m, "score": None})
    for m in ("logreg", "tree"):
        for i in range(N):
            tracker.log({**predict(m, i), "model": m, "score": 0.25 + i})
    return db


def numpy_scalars(tmp: Path, engine: str) -> Path:
    """Accuracy logged as np.float64: xetrack stores an asset hash, not the number."""
    db = tmp / "numpy.db"
    tracker = Tracker(str(db), engine=engine, table=TABLE)
    for m in ("logreg", "tree"):
        for i in range(N):
            tracker.log({**predict(m, i), "model": m, "accuracy": np.float64(i / N)})
    return db


def mixed_versions(tmp: Path, engine: str) -> Path:
    """Half of the grid was run under experiment_version e1, the rest under e2."""
    db = tmp / "versions.db"
    _run(db, engine, models=("logreg",), version="e1")
    _run(db, engine, models=("tree",), version="e2")
    return db


def train_test_overlap(tmp: Path, engine: str) -> Path:
    """Inputs 4 and 5 are in both the training and the test split."""
    db = tmp / "overlap.db"
    rows = [{**predict(m, i), "model": m, "split": split} for m in ("a", "b")
            for split, items in (("train", range(0, 6)), ("test", range(4, N))) for i in items]
    log_rows(db, rows, engine=engine, table=TABLE)
    return db


def inconsistent_ground_truth(tmp: Path, engine: str) -> Path:
    """'tree' was evaluated on a reshuffled dataset but with positional ids: labels disagree."""
    db = tmp / "gt.db"
    rows = [{**predict(m, i), "model": m} for m in ("logreg", "tree") for i in range(N)]
    for row in rows:
        if row["model"] == "tree" and row["input_id"] < 4:
            row["ground_truth"] = 1 - row["ground_truth"]
    log_rows(db, rows, engine=engine, table=TABLE)
    return db


def _returns_error(model: str, input_id: int) -> dict:
    if input_id == 0:
        return {"input_id": input_id, "error": "rate limited"}  # returned, not raised: xetrack caches it
    return predict(model, input_id)


def _twice_through_a_cache(db: Path, engine: str, func, **extra) -> Path:
    """Two runs (two processes' worth of trackers) over the grid, both with the same cache directory."""
    for _ in range(2):
        tracker = Tracker(str(db), engine=engine, table=TABLE, cache=str(db.parent / "cache"))
        for m in ("logreg", "tree"):
            for i in range(N):
                tracker.track(func, kwargs={"model": m, "input_id": i, **extra}, params={"model": m})
    return db


def cached_failures(tmp: Path, engine: str) -> Path:
    """A function that returns its failure instead of raising: the failure is cached and replayed."""
    return _twice_through_a_cache(tmp / "cachedfail.db", engine, _returns_error)


def _predict_with_options(model: str, input_id: int, options: list) -> dict:
    return predict(model, input_id)


def uncacheable(tmp: Path, engine: str) -> Path:
    """A cache is configured, but a list argument makes every call uncacheable: the re-run recomputes."""
    return _twice_through_a_cache(tmp / "uncacheable.db", engine, _predict_with_options, options=[1, 2])


def missing_input_id(tmp: Path, engine: str) -> Path:
    """Some successful rows were logged without their input id."""
    db = _run_clean(tmp, engine, "noinput.db")
    rows = [{"model": "logreg", "prediction": 1, "ground_truth": 1} for _ in range(2)]
    log_rows(db, rows, engine=engine, table=TABLE)
    return db


def missing_shard(tmp: Path, engine: str) -> Path:
    """Shard 3 of 3 was never gathered: both models miss the same inputs, so coverage still looks equal."""
    return _sharded(tmp, engine, "missing_shard.db", (1, 2))


def _run_clean(tmp: Path, engine: str, name: str) -> Path:
    db = tmp / name
    _run(db, engine)
    return db


# builder -> check ids it must raise, and no others. Co-findings are listed where one defect really is two.
DEFECTS = {
    duplicated: {"duplicate-executions", "cache-ineffective"},  # no cache: the re-run recomputed everything
    uneven_coverage: {"unequal-coverage"},
    failing: {"failed-executions"},
    unattributed_rows: {"missing-parameters"},
    replay_lost_parameters: {"missing-parameters.replayed-rows"},
    replay_lost_despite_constant_params: {"missing-parameters.replayed-rows"},
    renamed_parameter: {"schema-drift.renamed-parameter"},
    renamed_with_another_change: {"schema-drift.renamed-parameter"},
    numbers_as_text: {"schema-drift.mixed-types"},
    numpy_scalars: {"schema-drift.asset-hashes"},
    mixed_versions: {"mixed-versions"},
    train_test_overlap: {"train-test-overlap"},
    inconsistent_ground_truth: {"inconsistent-ground-truth"},
    cached_failures: {"cached-failures", "failed-executions"},  # the first, computed call failed too
    uncacheable: {"duplicate-executions", "cache-ineffective"},
    missing_input_id: {"missing-input-id"},
    missing_shard: {"missing-shards"},
}

# check id -> the planted builder that raises it (every id in validate_benchmark.CHECKS has one).
PLANTED = {
    "duplicate-executions": duplicated,
    "unequal-coverage": uneven_coverage,
    "failed-executions": failing,
    "missing-parameters": unattributed_rows,
    "missing-parameters.replayed-rows": replay_lost_parameters,
    "missing-input-id": missing_input_id,
    "schema-drift.renamed-parameter": renamed_with_another_change,
    "schema-drift.mixed-types": numbers_as_text,
    "schema-drift.asset-hashes": numpy_scalars,
    "mixed-versions": mixed_versions,
    "train-test-overlap": train_test_overlap,
    "inconsistent-ground-truth": inconsistent_ground_truth,
    "cached-failures": cached_failures,
    "cache-ineffective": uncacheable,
    "missing-shards": missing_shard,
}

# planted builder -> a clean builder on which every check the planted one raises *runs* (is not skipped) and
# finds nothing. `clean` has an input id, two configurations, a cache with replays, xetrack's error column,
# a version column and a ground truth; the others add what it lacks (a split, several parameters, seeds).
COUNTERPART = {
    **{build: clean for build in DEFECTS},
    duplicated: clean_with_seeds,  # intended repeats under a replicate column are not duplicates
    renamed_parameter: clean_model_families,
    renamed_with_another_change: clean_interleaved_families,
    train_test_overlap: clean_with_split,
    missing_shard: clean_sharded,
}

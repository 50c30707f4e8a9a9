#!/usr/bin/env python
"""Compare scikit-learn classifiers, or regressors, on identical cross-validation folds, cached, resumable and
tracked in xetrack.

Edit the EDIT block below (the model menu, the datasets, the defaults); the rest is machinery.
  python sklearn_benchmark_template.py                  # offline, under a minute on 2 cores
  python sklearn_benchmark_template.py --limit 150 --seeds 0 --experiment-version dev   # smoke run
  python sklearn_benchmark_template.py --shard 2/4   # a 4th of the work, into sklearn_benchmark.shard-2-of-4.db
  python sklearn_benchmark_template.py --dataset diabetes --models ridge forest_regressor   # a regression
Writes sklearn_benchmark.db (`predictions`: a row per test example; `scores`: per model x seed x fold, with the
fitted model; `fold_inputs`: which inputs trained and tested each fold), then the results as tables
(sklearn_benchmark_results.db) and as CSV per --experiment-version (_e1_results.csv: a row per model with its
fit time; _e1_pairs.csv: a row per pair), and prints the next commands. A second run trains nothing; a killed
run resumes. Your own CSV, your own model, every column, --no-model-assets: references/templates.md of the
xetrack-benchmark skill. Needs benchkit.py beside it (scripts/new_benchmark.py copies both).
"""

# ruff: noqa: E402 - the EDIT block comes before the machinery's imports
from __future__ import annotations

# ====================================== EDIT: what to compare, on what =======================================
# The model menu (add yours: an import and one line), the datasets (add yours: a function returning X, y and
# optionally input ids; recipe in references/templates.md), the defaults the command line starts from.
from sklearn import datasets
from sklearn.calibration import CalibratedClassifierCV
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

MODELS = {  # name -> factory(**hyperparameters); `--models forest:n_estimators=300,max_depth=4` passes them
    "logreg": lambda **hp: make_pipeline(StandardScaler(), LogisticRegression(**{"max_iter": 2000, **hp})),
    "forest": lambda **hp: RandomForestClassifier(**{"n_estimators": 100, **hp}),
    "hist_gboost": lambda **hp: HistGradientBoostingClassifier(**hp),  # fast gradient boosting
    "knn": lambda **hp: make_pipeline(StandardScaler(), KNeighborsClassifier(**hp)),
    "gboost": lambda **hp: GradientBoostingClassifier(**hp),  # slow on many classes (digits: ~5 s a fit)
    "tree": lambda **hp: DecisionTreeClassifier(**hp),
    "naive_bayes": lambda **hp: GaussianNB(**hp),
    "dummy": lambda **hp: DummyClassifier(**{"strategy": "most_frequent", **hp}),  # the bar: the majority class
    # RBF SVM with probabilities from one calibrated SVC (hyperparameters go to SVC: `svm:C=10,gamma=0.01`);
    # its fit_seconds include the calibration's internal cross-validation (about 6 SVC fits), not one SVC.
    # It predicts the label of highest calibrated probability, not SVC's one-vs-one vote (they can differ on a
    # few examples); for the plain SVC's decisions add SVC(**hp) in a pipeline (no probabilities: NULL nll).
    "svm": lambda **hp: make_pipeline(StandardScaler(), CalibratedClassifierCV(SVC(**hp), ensemble=False)),
    # Regressors (a run compares one kind: folds are stratified by class for classifiers, plain for regressors)
    "ridge": lambda **hp: make_pipeline(StandardScaler(), Ridge(**hp)),
    "forest_regressor": lambda **hp: RandomForestRegressor(**{"n_estimators": 100, **hp}),
    "hist_gboost_regressor": lambda **hp: HistGradientBoostingRegressor(**hp),
    "knn_regressor": lambda **hp: make_pipeline(StandardScaler(), KNeighborsRegressor(**hp)),
    "dummy_regressor": lambda **hp: DummyRegressor(**hp),  # the bar: the training mean
}
DATASETS = {  # name -> () -> (X, y), (X, y, input_ids) or (X, y, input_ids, {"region": one value per row}): a
    # dict of the rows' own fields, never features, puts columns on every row to slice results by (--by region)
    "breast_cancer": lambda: datasets.load_breast_cancer(return_X_y=True),
    "iris": lambda: datasets.load_iris(return_X_y=True),
    "wine": lambda: datasets.load_wine(return_X_y=True),
    "digits": lambda: datasets.load_digits(return_X_y=True),
    "diabetes": lambda: datasets.load_diabetes(return_X_y=True),  # a regression target (disease progression)
}
DEFAULT_MODELS = ("logreg", "forest", "hist_gboost")
DEFAULT_DATASET = "breast_cancer"
FOLDS, SEEDS = 5, (0, 1, 2)  # repeated (stratified, for classifiers) k-fold: one shuffled k-fold split per seed
DB = "sklearn_benchmark.db"  # the cache goes beside it: <name>_cache; the results tables: <name>_results.db
MODEL_ASSETS = True  # store each fitted model; part of every fit's cache key: decide before the first real run
TARGET = None  # a bar every model must reach, e.g. "accuracy>=0.95": its verdict in the results table (--target)
CACHE_VERSION = "1"  # change it whenever fit_and_predict changes: cached results are recomputed, not replayed
# ================================================ END EDIT ===================================================
# isort: split

import argparse
import csv
import functools
import io
import json
import pickle
import re
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from statistics import mean, stdev

import numpy as np
import sklearn
from benchkit import (
    ArgumentParser,
    Shard,
    add_common_options,
    added_later,
    check_common_options,
    completed,
    config_columns,
    config_id,
    connect_readonly,
    field_columns,
    fingerprint,
    into_csv,
    log_batch_verified,
    next_steps,
    placement,
    planned_steps,
    progress,
    provenance,
    quote_ident,
    script_command,
    shard_files,
    shown_path,
    skill_file,
    stored_configurations,
    stored_name,
    tables_stem,
    track_cached,
    unsharded_stem,
    varying_columns,
    version_drift,
)
from benchkit import cache_version as benchkit_cache_version
from sklearn.base import is_regressor
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
)
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from xetrack import Tracker

PREDICTIONS, SCORES, FOLD_INPUTS = "predictions", "scores", "fold_inputs"  # no column may contain these names
SLICE_SCORES = "slice_scores"  # a fold's scores per value of each field of the data (balanced accuracy by site)


@dataclass(frozen=True)
class Config:
    """Everything that decides a result except seed and fold, the replicates that every model shares."""

    model: str  # a key of MODELS
    hyperparameters: tuple = ()  # sorted (name, value) pairs passed to MODELS[model]
    dataset: str = DEFAULT_DATASET
    subsample: int = 0  # 0 = every example; N = a fixed subsample of N examples (--limit), stratified by class
    k_folds: int = FOLDS


# ---- Data and folds: identical for every model, so comparisons are paired -----------------------------------
def read_data(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X, y and one stable input_id per row (the row number unless the dataset gives ids)."""
    X, y, ids, _ = dataset_parts(name)
    return X, y, ids


@cache
def dataset_parts(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """X, y, the ids and each id's own fields ({input_id: {field: value}}; trial K sliced by region by hand)."""
    data = DATASETS[name]()
    X, y, *rest = data
    ids = np.asarray(rest[0]) if rest else np.arange(len(y))
    given = rest[1] if len(rest) > 1 else {}
    columns = {k: np.asarray(v).tolist() for k, v in given.items()}  # plain values, never numpy scalars
    short = [k for k, v in columns.items() if len(v) != len(y)]
    if short:
        raise ValueError(f"dataset {name!r}: the field{'s' * (len(short) > 1)} {', '.join(short)} must hold one "
                         f"value per row ({len(y)})")
    by_id = {i: {k: v[n] for k, v in columns.items()} for n, i in enumerate(ids.tolist())}
    return np.asarray(X), np.asarray(y), ids, by_id


def fields_of(config: Config, input_id) -> dict:
    """The row's own fields of the dataset (DATASETS' fourth item), as stored columns: none without them."""
    return dataset_parts(config.dataset)[3].get(input_id, {})


MAX_SLICE_FIELDS, MAX_SLICE_VALUES = 3, 20  # fields the printed commands and saved tables slice by, in order


def slice_fields(dataset: str) -> list[str]:
    """The dataset's own fields that group its rows (2 to MAX_SLICE_VALUES values): a `--by` table each."""
    rows = dataset_parts(dataset)[3].values()
    names = list(next(iter(rows), {}))
    return [n for n in names if 2 <= len({repr(r[n]) for r in rows}) <= MAX_SLICE_VALUES][:MAX_SLICE_FIELDS]


# Columns a per-example row has besides the dataset's fields, which must not take their names
ROW_COLUMNS = {"config_id", "seed", "fold", "cache", "error", "input_id", "prediction", "probability",
               "ground_truth", "correct", "p_true", "nll", "brier", "abs_error", "squared_error", "split"}


@cache
def regression(model: str) -> bool:
    """Whether MODELS[model] is a regressor: its rows score errors, and its folds are not stratified by class."""
    return is_regressor(MODELS[model]())


@cache
def load_dataset(name: str, subsample: int = 0, stratified: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The data, or a fixed subsample of it (stratified by class for classifiers); a subsample keeps each row's
    input_id."""
    X, y, ids = read_data(name)
    if 0 < subsample < len(y):
        keep = np.sort(train_test_split(np.arange(len(y)), train_size=subsample, stratify=y if stratified else None,
                                        random_state=0)[0])
        X, y, ids = X[keep], y[keep], ids[keep]
    return X, y, ids


def data_of(config: Config) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return load_dataset(config.dataset, config.subsample, not regression(config.model))


def fold_indices(config: Config, seed: int, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test positions of one fold; they depend on data, k, seed and the kind of model (classifier or
    regressor: a run compares one kind) only, never on the model itself."""
    X, y, _ = data_of(config)
    kind = KFold if regression(config.model) else StratifiedKFold
    return list(kind(n_splits=config.k_folds, shuffle=True, random_state=seed).split(X, y))[fold]


# ---- The single-execution function: one (configuration, seed, fold) ------------------------------------------
def stable_copy(model):
    """The fitted model after one pickle round trip. xetrack names an asset by the hash of its pickle, and a freshly
    fitted forest pickles to other bytes than a copy of it does (a replay from the cache is a copy), whereas its
    copies pickle alike. Stored as a copy, a version that replays the earlier fits stores no second copy of such a
    model (trial X: 11 MB to 25 MB to add one model). A hist_gboost copy still pickles differently in another
    process (strings shared in one, not the other), so it is stored again."""
    return pickle.loads(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))


def fit_and_predict(config: Config, seed: int, fold: int, data_fingerprint: str, keep_model: bool) -> dict:
    """Fit on the fold's training part, score both parts, predict the test part. Raise on failure: a raised
    error is logged as an error row and not cached, whereas a returned one would be cached forever.

    `data_fingerprint` is unused here on purpose: as an argument it is part of the cache key, so changed data
    never replays results computed on other data. `keep_model` is an argument for the same reason: a cached
    result without the fitted model must not be replayed into a run that asked for it.
    """
    X, y, ids = data_of(config)
    train, test = fold_indices(config, seed, fold)
    model = MODELS[config.model](**dict(config.hyperparameters))
    model.set_params(**{k: seed for k in model.get_params() if k.endswith("random_state")})
    start = time.perf_counter()
    model.fit(X[train], y[train])
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predicted = model.predict(X[test])
    proba = model.predict_proba(X[test]) if hasattr(model, "predict_proba") else None
    predict_seconds = time.perf_counter() - start
    common = {
        # the scores table's item: one row per (seed, fold) and model, so validate pairs them without flags
        "item_id": f"seed{seed}/fold{fold}", "seed": seed, "fold": fold,
        "fit_seconds": fit_seconds, "predict_seconds": predict_seconds, "n_train": len(train), "n_test": len(test),
        "train_inputs_hash": fingerprint(ids[train]),  # the fold_inputs rows of this fold hash to the same
        "model_bytes": len(pickle.dumps(model)),
        # xetrack stores the object as an asset; the column holds its hash
        **({"model_asset": stable_copy(model)} if keep_model else {}),
    }
    if regression(config.model):
        return {**common, **regression_scores(model, X, y, train, test, predicted),
                "raw_predictions": {"input_id": ids[test].tolist(), "prediction": predicted.tolist(),
                                    "ground_truth": y[test].tolist()}}
    if proba is None:  # NaN is stored as NULL: "no probability", not a number that looks like one
        probability, loss = [float("nan")] * len(test), float("nan")
        calibration = dict.fromkeys(("p_true", "nll", "brier"), probability)
    else:
        probability = proba[np.arange(len(test)), np.searchsorted(model.classes_, predicted)].tolist()
        loss = log_loss(y[test], proba, labels=model.classes_)
        calibration = per_example_calibration(proba, y[test], model.classes_)
    return {
        **common,
        "accuracy": accuracy_score(y[test], predicted),
        "balanced_accuracy": balanced_accuracy_score(y[test], predicted),
        "log_loss": loss, **training_scores(model, X[train], y[train]),
        # The per-example results travel inside the cached value, so a cache replay can log them again.
        "raw_predictions": {"input_id": ids[test].tolist(), "prediction": predicted.tolist(),
                            "probability": probability, "ground_truth": y[test].tolist(), **calibration},
    }


def regression_scores(model, X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
                      predicted: np.ndarray) -> dict:
    """A regressor's fold: mean absolute error, RMSE and R^2 on the test part, and the same MAE and R^2 on the
    training part (a large train-test gap is overfitting)."""
    fitted = model.predict(X[train])
    return {"mae": mean_absolute_error(y[test], predicted), "rmse": mean_squared_error(y[test], predicted) ** 0.5,
            "r2": r2_score(y[test], predicted), "train_mae": mean_absolute_error(y[train], fitted),
            "train_r2": r2_score(y[train], fitted)}


def training_scores(model, X_train: np.ndarray, y_train: np.ndarray) -> dict:
    """The same metrics on the training part: a large train-test gap is overfitting."""
    predicted = model.predict(X_train)
    proba = model.predict_proba(X_train) if hasattr(model, "predict_proba") else None
    return {"train_accuracy": accuracy_score(y_train, predicted),
            "train_balanced_accuracy": balanced_accuracy_score(y_train, predicted),
            "train_log_loss": float("nan") if proba is None else log_loss(y_train, proba, labels=model.classes_)}


def per_example_calibration(proba: np.ndarray, truth: np.ndarray, classes: np.ndarray) -> dict[str, list]:
    """p_true, nll and brier of every example, so calibration can be compared paired per example.

    nll clips exactly as sklearn.metrics.log_loss does, so its mean over a fold equals that fold's log_loss.
    brier follows sklearn.metrics.brier_score_loss: (p_positive - y)^2 when binary, else the sum over classes.
    """
    onehot = (truth[:, None] == classes[None, :]).astype(proba.dtype)
    p_true = (proba * onehot).sum(axis=1)
    eps = np.finfo(proba.dtype).eps
    nll = -np.log(np.clip(p_true, eps, 1 - eps))
    squared = (proba - onehot) ** 2
    brier = squared[:, 1] if len(classes) == 2 else squared.sum(axis=1)
    return {"p_true": p_true.tolist(), "nll": nll.tolist(), "brier": brier.tolist()}


# ---- Tracking: resume from the database, then the cache, then compute ---------------------------------------
def scored_units(db: Path) -> dict[tuple, tuple[str, str]]:
    """(config_id, data_fingerprint, experiment_version, seed, fold) -> (lineage, raw_predictions) of every
    successful per-fold row.

    A run killed between its per-fold row and its per-example rows is finished from this row: no refit, and no
    second per-fold row for the same unit.
    """
    if not db.exists():
        return {}
    con = connect_readonly(db)
    try:
        rows = con.execute(f'SELECT config_id, data_fingerprint, experiment_version, seed, fold, track_id, cache, '
                           f'raw_predictions FROM "{SCORES}" WHERE raw_predictions IS NOT NULL').fetchall()
    except sqlite3.OperationalError:  # no table or columns yet: nothing scored
        return {}
    finally:
        con.close()
    return {(c, d, v, s, f): (cache or track_id, raw) for c, d, v, s, f, track_id, cache, raw in rows}


def unit_columns(config: Config, seed: int, fold: int, lineage: str, error: str) -> dict:
    """What every per-example row of one unit carries: its full configuration, replicate and outcome."""
    return {"config_id": config_id(config), **config_columns(config), "seed": seed, "fold": fold, "cache": lineage,
            "error": error}


def per_example_rows(config: Config, seed: int, fold: int, lineage: str, raw_predictions: str) -> list[dict]:
    """One row per test example; `cache` is '' if computed by this run, else the track_id of the run that
    computed it (a replay, not a second execution)."""
    raw = json.loads(raw_predictions)
    fixed = unit_columns(config, seed, fold, lineage, error="")
    # the dataset's own fields join here, not in the cached result: adding one later recomputes nothing
    if regression(config.model):  # each example's error, the metric export_summary compares paired
        return [{**fixed, "input_id": i, **fields_of(config, i), "prediction": p, "ground_truth": t,
                 "abs_error": abs(p - t), "squared_error": (p - t) ** 2}
                for i, p, t in zip(raw["input_id"], raw["prediction"], raw["ground_truth"], strict=True)]
    columns = zip(raw["input_id"], raw["prediction"], raw["probability"], raw["ground_truth"], raw["p_true"],
                  raw["nll"], raw["brier"], strict=True)
    return [{**fixed, "input_id": i, **fields_of(config, i), "prediction": p, "probability": pr, "ground_truth": t,
             "correct": int(p == t), "p_true": pt, "nll": nll, "brier": brier}
            for i, p, pr, t, pt, nll, brier in columns]


def error_rows(config: Config, seed: int, fold: int, error: str) -> list[dict]:
    """A failed unit still gets one row per test example, so failures show up per configuration and input."""
    _, test = fold_indices(config, seed, fold)
    ids = data_of(config)[2][test]
    fixed = unit_columns(config, seed, fold, lineage="", error=error)
    return [{**fixed, "input_id": i, **fields_of(config, i)} for i in ids.tolist()]  # tolist: never numpy


SLICE_METRICS = {"classifier": ("balanced_accuracy", "accuracy"), "regressor": ("rmse",)}
SLICE_COLUMNS = {"item_id", "slice_field", "n_test", *(m for names in SLICE_METRICS.values() for m in names)}


def kind_of(regressors: bool) -> str:
    return "regressor" if regressors else "classifier"


def log_slice_scores(tracker: Tracker, db: Path, configs: list[Config], version: dict) -> None:
    """One row per model x seed x fold x value of each field of the data (slice_fields), with that fold's scores
    over its test examples of that value: balanced accuracy by site is a fold's score, which the per-example rows
    cannot give (trial N computed it by hand). Read from this version's per-example rows, so replayed and resumed
    units get theirs too; a unit's rows already here are not written again."""
    fields = [stored_name(name) for name in slice_fields(configs[0].dataset)]
    if not fields:
        return
    by_id = {config_id(c): c for c in configs}
    key = ["config_id", "data_fingerprint", "experiment_version", "seed", "fold", "slice_field"]
    done = completed(db, SLICE_SCORES, key)
    con = connect_readonly(db)
    try:
        shown = ", ".join(quote_ident(f) for f in fields)
        rows = con.execute(f"SELECT config_id, seed, fold, cache, prediction, ground_truth, {shown} FROM {PREDICTIONS} "
                           "WHERE data_fingerprint = ? AND experiment_version = ? AND (error IS NULL OR error = '') "
                           "AND prediction IS NOT NULL",
                           [version["data_fingerprint"], version["experiment_version"]]).fetchall()
    finally:
        con.close()
    groups: dict[tuple, list] = {}
    for cid, seed, fold, lineage, predicted, truth, *values in rows:
        for field, value in zip(fields, values, strict=True):
            if cid in by_id and (cid, version["data_fingerprint"], version["experiment_version"], seed, fold,
                                 field) not in done:
                groups.setdefault((cid, seed, fold, lineage, field, value), []).append((predicted, truth))
    log_batch_verified(tracker, [
        {**unit_columns(by_id[cid], seed, fold, lineage, error=""), "item_id": f"seed{seed}/fold{fold}",
         "slice_field": field, field: value, "n_test": len(pairs), **slice_metrics(by_id[cid], pairs)}
        for (cid, seed, fold, lineage, field, value), pairs in sorted(groups.items(), key=lambda kv: repr(kv[0]))])


def slice_metrics(config: Config, pairs: list[tuple]) -> dict:
    predicted, truth = (np.asarray(v) for v in zip(*pairs, strict=True))
    if regression(config.model):
        return {"rmse": float(np.sqrt(np.mean((predicted - truth) ** 2)))}
    # balanced accuracy: the mean recall over the classes this slice's test examples have (as sklearn's, which
    # warns when a prediction names a class absent there)
    recalls = [float(np.mean(predicted[truth == c] == c)) for c in np.unique(truth)]
    return {"balanced_accuracy": float(np.mean(recalls)), "accuracy": float(np.mean(predicted == truth))}


def log_fold_inputs(tracker: Tracker, db: Path, config: Config, seeds: list[int], version: dict,
                    shard: Shard | None) -> None:
    """One row per input, seed and fold with split = 'train' or 'test': which inputs trained and tested each
    fold, so validate_benchmark's train-test-overlap check runs (on this table). Written once per version;
    under --shard, each (seed, fold) by one shard only, so the shards' union holds it once."""
    key = ["data_fingerprint", "experiment_version", "subsample", "k_folds", "seed", "fold"]
    done = completed(db, FOLD_INPUTS, key)
    fixed = {"dataset": config.dataset, "subsample": config.subsample, "k_folds": config.k_folds}
    ids = data_of(config)[2]
    for seed in seeds:
        for fold in range(config.k_folds):
            if shard and not shard.deals("fold_inputs", seed * config.k_folds + fold):
                continue
            if (version["data_fingerprint"], version["experiment_version"], config.subsample, config.k_folds,
                    seed, fold) in done:
                continue
            train, test = fold_indices(config, seed, fold)
            log_batch_verified(tracker, [{**fixed, "seed": seed, "fold": fold, "input_id": i, "split": split}
                                         for split, part in (("train", train), ("test", test))
                                         for i in ids[part].tolist()])


def run(configs: list[Config], seeds: list[int], db: Path, cache: Path, experiment_version: str,
        keep_models: bool, shard: Shard | None = None, add_to_version: bool = False, target: str | None = None) -> int:
    first = configs[0]
    X, y, ids = data_of(first)
    data_fp = fingerprint(X, y, ids)
    # The git commit of the current directory: the user's project, not the folder this template sits in.
    version = provenance(data_fingerprint=data_fp, root=Path.cwd(), sklearn_version=sklearn.__version__,
                         experiment_version=experiment_version, cache_version=benchkit_cache_version(CACHE_VERSION),
                         **placement(shard))  # host (and shard): provenance the scripts neither compare nor pool
    # A unit is done in this experiment version; another version gets its own rows (replayed from the cache).
    done = completed(db, PREDICTIONS, ["config_id", "data_fingerprint", "experiment_version", "seed", "fold"])
    scored = scored_units(db)
    # Each (seed, fold) runs every model back to back, so a machine that speeds up or slows down during the run
    # (warming up, another job) shifts every model's fit times alike (trial X2: model by model, it did not).
    units = [(c, s, f) for s in seeds for f in range(max((c.k_folds for c in configs), default=0)) for c in configs
             if f < c.k_folds]
    # A shard's units: each configuration's (seed, fold) units dealt in turn, numbered seed x k_folds + fold, from
    # a start its content hash picks: the same in every process, and every shard gets its share of every model's
    # fits (benchkit.dealt_shard). A new seed or model moves no unit already split.
    units = [(c, s, f) for c, s, f in units if shard is None or shard.deals(config_id(c), s * c.k_folds + f)]
    todo = [(c, s, f) for c, s, f in units if (config_id(c), data_fp, experiment_version, s, f) not in done]
    part = f" in shard {shard}" if shard else ""
    print(f"{len(units)} units (model x seed x fold){part}: {len(units) - len(todo)} already in {db}, "
          f"{len(todo)} to run", file=sys.stderr)
    drift = version_drift(db, PREDICTIONS, version) if todo else None
    if drift and not add_to_version:  # before anything is written: no row, no overwritten CSV (trial X)
        print(f"{Path(__file__).name}: error: {drift}", file=sys.stderr)
        return 2
    if drift:
        print(f"{Path(__file__).name}: warning: {drift}", file=sys.stderr)
    scores = Tracker(str(db), table=SCORES, cache=str(cache), params=version)
    predictions = Tracker(str(db), table=PREDICTIONS, params=version, track_id=scores.track_id)
    log_fold_inputs(Tracker(str(db), table=FOLD_INPUTS, params=version, track_id=scores.track_id), db, first,
                    seeds, version, shard)
    failures, replayed = [], 0
    for config, seed, fold in progress(todo, label="units"):
        unit = (config_id(config), data_fp, experiment_version, seed, fold)
        if unit in scored:
            lineage, raw = scored[unit]
        else:
            try:
                result = track_cached(scores, fit_and_predict, config, cache_salt=CACHE_VERSION, seed=seed, fold=fold,
                                      data_fingerprint=data_fp, keep_model=keep_models)
            except Exception as exc:  # xetrack logged an error row and cached nothing; the other units go on
                failures.append(f"{config.model} {dict(config.hyperparameters)} seed={seed} fold={fold}: {exc}")
                log_batch_verified(predictions, error_rows(config, seed, fold, str(exc)))
                continue
            # xetrack's lineage convention: '' = computed now, else the track_id of the run that computed it
            lineage, raw = scores.latest["cache"], result["raw_predictions"]
        replayed += bool(lineage)
        log_batch_verified(predictions, per_example_rows(config, seed, fold, lineage, raw))
    if todo:  # the cache proof at a glance (analyze_cache_hits.py gives it per run and configuration)
        print(f"{len(todo) - replayed - len(failures)} units computed, {replayed} replayed from the cache"
              f"{f', {len(failures)} failed' if failures else ''}", file=sys.stderr)
    log_slice_scores(Tracker(str(db), table=SLICE_SCORES, params=version, track_id=scores.track_id), db, configs,
                     version)
    summarise(db, cache, configs, (data_fp, experiment_version), failures, keep_models, shard, target)
    return 1 if failures else 0


# ---- The summary ----------------------------------------------------------------------------------------------
def per_fold(db: Path, config: Config, version: tuple[str, str]) -> list[dict]:
    """The successful per-fold rows of one configuration in this data and experiment version: `test` and
    `train` hold its accuracy (a classifier) or mean absolute error (a regressor)."""
    test, train = ("mae", "train_mae") if regression(config.model) else ("accuracy", "train_accuracy")
    con = connect_readonly(db)
    con.row_factory = sqlite3.Row
    try:
        columns = {row[1] for row in con.execute(f"SELECT * FROM pragma_table_info('{SCORES}')")}
        if not {test, train, "model_bytes"} <= columns:
            return []
        wanted = [f"{test} AS test", f"{train} AS train", "model_bytes"]
        rows = con.execute(f"SELECT seed, fold, {', '.join(wanted)} FROM {SCORES} WHERE config_id = ? "
                           "AND data_fingerprint = ? AND experiment_version = ? AND error = '' ORDER BY timestamp",
                           [config_id(config), *version]).fetchall()
    finally:
        con.close()
    return list({(r["seed"], r["fold"]): dict(r) for r in rows}.values())  # a replay of a unit counts once


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{mean(values):.4f} ± {stdev(values):.4f}" if len(values) > 1 else f"{values[0]:.4f}"


def summarise(db: Path, cache: Path, configs: list[Config], version: tuple[str, str], failures: list[str],
              keep_models: bool, shard: Shard | None = None, target: str | None = None) -> None:
    """A quick look: test and training accuracy (a regressor: mean absolute error) over folds and their gap.
    Descriptive only (folds share training data): the real comparison is export_summary's paired test on the
    per-example rows."""
    regressors = regression(configs[0].model)
    measure = "test MAE" if regressors else "test accuracy"
    width = max(12, *(len(c.model) for c in configs))
    print(f"\n{'model':<{width}} {'hyperparameters':<24} {'folds':>5}  {measure:>17}  {'train':>6}  {'gap':>6}"
          f"  {'model size':>10}")
    for config in configs:
        rows = per_fold(db, config, version)
        test, train = [r["test"] for r in rows], [r["train"] for r in rows]
        gap = f"{(mean(test) - mean(train)) * (1 if regressors else -1):+.3f}" if rows else "-"
        size = human_size(mean(r["model_bytes"] for r in rows)) if rows else "-"
        hp = json.dumps(dict(config.hyperparameters)) if config.hyperparameters else "default"
        print(f"{config.model:<{width}} {hp:<24} {len(rows):>5}  {spread(test):>17}  "
              f"{f'{mean(train):.4f}' if rows else '-':>6}  {gap:>6}  {size:>10}")
    print(f"(gap = {'test minus training MAE' if regressors else 'training minus test accuracy'}: large means "
          "overfitting; model size = one pickled fitted model)")
    for failure in failures:
        print(f"FAILED {failure}")
    if failures:
        print(f"{len(failures)} unit(s) failed: see the error column of both tables; re-run to retry only them.")
    print(f"\nDatabase: {db.resolve()} ({megabytes(db)})  (tables: {PREDICTIONS} = one row per test example, "
          f"{SCORES} = one row per model x seed x fold, {FOLD_INPUTS} = the inputs of every fold"
          + (f", {SLICE_SCORES} = a fold's scores per value of each field of your data" if
             slice_fields(configs[0].dataset) else "") + ")")
    hint = "; fitted models take most of both: --no-model-assets skips them" if keep_models else ""
    print(f"Cache: {cache.resolve()} ({megabytes(cache)}{hint})")
    # Only the columns that tell configurations apart make the configuration label of the report.
    # ...of every configuration the report covers: this run's and those of its version already in the database
    stored = stored_configurations(db, PREDICTIONS, configs[0], data_fingerprint=version[0],
                                   experiment_version=version[1])
    label = ",".join(varying_columns(configs, stored=stored) or ["model"])
    # a regressor's rows are scored by their error: export derives no accuracy from predicted values; a TARGET
    # (trial X2 added export calls of its own for "which models reach 95 %") goes into the tables and commands
    # trial D: a bar on balanced accuracy, a per-fold score, broke the tables; trial N: a classifier's balanced
    # accuracy had no command or table unless a bar named it
    fold_score = fold_metric(target) or (None if regressors else "balanced_accuracy:higher")
    metric = (("--metric", "abs_error:lower") if regressors else ()) + (("--target", target) if target and
                                                                       not fold_metric(target) else ())
    # the fit time as the per-fold tables' latency (trial K: xetrack's function_time there, and a replayed
    # model's '-'), the same as the fit-time command below
    fit_time = ("--latency-col", "fit_seconds", "--latency-of-replays")
    bar = ("--target", target) if fold_metric(target) else ()
    # the per-slice rows have no fit time of their own: their tables go without it
    fold_core = ("--config-cols", label, "--version", version[1], "--metric", fold_score, *bar, "--pairs",
                 "all") if fold_score else ()
    fold_args = (*fold_core, *fit_time) if fold_score else ()
    slices = slice_fields(configs[0].dataset)  # trial K: "per region, which model leads?" by hand
    if shard is None:
        save_results(db, label, version[1], metric, slices)
        if fold_score:
            save_fold_target(db, fold_args, fold_score, fold_core, [stored_name(name) for name in slices]
                             if fold_score.split(":")[0] in SLICE_METRICS[kind_of(regressors)] else [])
    else:  # one shard's results are a part of the benchmark: analyse the union once every shard is done
        print(f"\nShard {shard}: this file holds one part of the benchmark; run the commands below on all "
              f"{shard.n} shard files once every shard has finished.")
    files = shard_files(db, shard)
    only = f"experiment_version={version[1]}"  # this run's rows: a --limit smoke run may share the database
    later = added_later(db, PREDICTIONS, label.split(","), "abs_error" if regressors else "correct",
                        higher=not regressors, data_fingerprint=version[0], experiment_version=version[1])
    score_name = fold_score.split(":")[0] if fold_score else None
    print(next_steps([
        ("can the per-example rows be trusted? (duplicates, coverage, failures, versions)",
         script_command("validate_benchmark.py", files, PREDICTIONS, "--filter", only)),
        ("the per-fold rows, and whether any input trained and tested the same fold",
         script_command("validate_benchmark.py", files, SCORES, "--filter", only)),
        ("", script_command("validate_benchmark.py", files, FOLD_INPUTS, "--filter", only)),
        ("compare the models paired on the same examples: every pair, intervals, tests, verdicts (the best against "
         "each other alone, a smaller family: without --pairs all)" + ("; saved as tables (the latest save wins)"
                                                                       if shard else ""),
         script_command("export_summary.py", files, PREDICTIONS, "--config-cols", label, "--version", version[1],
                        *metric, "--pairs", "all",
                        *(("--save", Path(f"{unsharded_stem(db)}_results.db")) if shard else ()))),
        # trial K: "does the model added later beat the previous best?", one planned comparison, built by hand
        *planned_steps(later, "mean absolute error" if regressors else "accuracy", functools.partial(
            script_command, "export_summary.py", files, PREDICTIONS, "--config-cols", label, "--version", version[1],
            *metric), functools.partial(into_csv, tables_stem(db, version[1]))),
        *((f"per {stored_name(name)}, a field of your data: every table and verdict per value, and which model "
           "leads each", script_command("export_summary.py", files, PREDICTIONS, "--config-cols", label, "--version",
                                        version[1], *metric, "--pairs", "all", "--by", stored_name(name)))
          for name in slices),
        ("squared error, paired per example (penalises large misses more)" if regressors else
         "calibration, paired per example (lower nll = better probabilities)",
         script_command("export_summary.py", files, PREDICTIONS, "--config-cols", label, "--version", version[1],
                        "--metric", "squared_error:lower" if regressors else "nll:lower")),
        # trial H: RMSE, a regression's usual headline beside MAE, is per fold only (the root of a fold's mean)
        *([("RMSE and R^2 per model over its folds, every pair (folds share training data: the corrected resampled t)",
            script_command("export_summary.py", files, SCORES, "--config-cols", label, "--version", version[1],
                           "--metric", "rmse:lower", "--metric", "r2:higher", "--pairs", "all", *fit_time))]
          if regressors and not (fold_score and fold_score.startswith(("rmse", "r2"))) else []),
        *([((f"the bar {target} on the per-fold scores: " if bar else "") + f"each model's {score_name} over its "
            "folds" + (", whether it meets the bar" if bar else "") + ", every pair (folds share training data: the "
            "corrected resampled t)", script_command("export_summary.py", files, SCORES, *fold_args))]
          if fold_score else []),
        # trial N: a fold's score per value of a field of the data (slice_scores): balanced accuracy by site
        *((f"the same per {name}: each model's {score_name} over its folds within each value, every pair",
           script_command("export_summary.py", files, SLICE_SCORES, *fold_core, "--filter", f"slice_field={name}",
                          "--by", name)) for name in (map(stored_name, slices) if score_name in
                                                      SLICE_METRICS[kind_of(regressors)] else ())),
        ("fit time per model: p50 and p95 with intervals, one row per model (join on `configuration`)",
         script_command("export_summary.py", files, SCORES, "--config-cols", label, "--version", version[1],
                        "--latency-col", "fit_seconds", "--latency-of-replays", "--csv", "--wide")),
    ]))


# Scores only the per-fold table holds (one value per model x seed x fold, not per example), with the direction
# that is better. A bar on one of them is judged there; accuracy and a regressor's errors stay per example.
FOLD_METRICS = {"balanced_accuracy": "higher", "log_loss": "lower", "train_accuracy": "higher",
                "train_balanced_accuracy": "higher", "train_log_loss": "lower", "mae": "lower", "rmse": "lower",
                "r2": "higher", "train_mae": "lower", "train_r2": "higher"}


def fold_metric(target: str | None) -> str | None:
    """'balanced_accuracy:higher' when TARGET names a per-fold score, else None."""
    name = re.match(r"\s*([A-Za-z_][\w.]*)", target or "")
    return f"{name[1]}:{FOLD_METRICS[name[1]]}" if name and name[1] in FOLD_METRICS else None


def save_fold_target(db: Path, fold_args: tuple, fold_score: str, fold_core: tuple = (),
                     slices: list[str] = ()) -> None:
    """<name>_<version>_<metric>_results.csv: one row per model, the per-fold score with its interval (and, with a
    bar on it, its verdict: target_0_verdict), from export_summary on the per-fold table; its pairs
    (_<metric>_pairs.csv), and the same per value of each field of the data (slice_scores), _<metric>_by_<field>.csv:
    named as the run's other tables are, so new_benchmark.py's patterns name them to commit."""
    script = skill_file("scripts", "export_summary.py")
    if not Path(script).is_file():
        return
    name = fold_score.split(":")[0]
    stem = f"{tables_stem(db, fold_args[3])}_{name}"
    tables = [(db.with_name(f"{stem}_results.csv"), SCORES, (*fold_args, "--csv", "--wide")),
              (db.with_name(f"{stem}_pairs.csv"), SCORES, (*fold_args, "--csv", "--comparisons"))]  # trial K
    tables += [(db.with_name(f"{stem}_by_{field}.csv"), SLICE_SCORES,
                (*fold_core, "--filter", f"slice_field={field}", "--by", field, "--csv", "--wide")) for field in slices]
    saved = []
    for path, table, args in tables:
        proc = subprocess.run([sys.executable, script, str(db), table, *args], capture_output=True, text=True)
        if proc.returncode not in (0, 1):
            print(f"\n{name} per fold: {shown_path(path)} not written "
                  f"({(proc.stderr.strip().splitlines() or ['?'])[-1]})")
            continue
        path.write_text(proc.stdout)
        saved.append(shown_path(path))
    if saved:
        verdict = ", target_0_verdict meets / fails / undecided" if "--target" in fold_args else ""
        print(f"{name} over folds as tables: {', '.join(saved)} (one row per model: {name} with its interval over "
              f"folds{verdict}; one row per pair{'; per value of each field of your data' if slices else ''})")


def results_path(db: Path) -> Path:
    return db.with_name(db.stem + "_results.db")


def save_results(db: Path, label: str, version: str, metric: tuple = (), slices: list[str] = ()) -> None:
    """The summary and every pairwise comparison as tables (export_summary.py --pairs all --save), beside the
    benchmark. Unchanged results add no rows; the latest save wins. Then the two CSV tables a report asks for
    (trial P wrote its own glue for them): <name>_<version>_results.csv, one row per model with each metric, its
    interval and verdict and the fit time's p50/p95 with intervals, and <name>_<version>_pairs.csv, one per pair."""
    out = results_path(db)
    args = [db, PREDICTIONS, "--config-cols", label, "--version", version, *metric, "--pairs", "all"]
    command = script_command("export_summary.py", *args, "--save", out)
    script = skill_file("scripts", "export_summary.py")
    if not Path(script).is_file():
        print(f"\nResults as tables: not saved (the skill's scripts were not found). Run:\n  {command}")
        return

    def export(*more) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, script, *map(str, more)], capture_output=True, text=True)

    proc = export(*args, "--save", out, "--csv", "--wide")
    if proc.returncode not in (0, 1) or not out.exists():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"\nResults as tables: not saved ({last}). Run:\n  {command}")
        return
    if proc.returncode == 1:  # saved, but the report found a problem with the rows: never silently (trial T)
        print(f"\nwarning: export_summary.py found a problem in these rows (exit 1); before using the tables, "
              f"read it:\n  {script_command('export_summary.py', *args)}")
    print(f"\nResults as tables: {shown_path(out)} (summary = one row per model x metric, comparisons = one row "
          "per pair x metric; the latest save wins). Both at once, in SQL:")
    print(f"  {RESULTS_SQL}")
    # a replayed fold's fit_seconds is its original fit's time (the cached result): in a version that replays
    # the models already fitted, their fit times are those (trial X: empty without the flag)
    fit = export(db, SCORES, "--config-cols", label, "--version", version, "--latency-col", "fit_seconds",
                 "--latency-of-replays", "--csv", "--wide")
    pairs = export(*args, "--csv", "--comparisons")
    stem = tables_stem(db, version)  # one pair of tables per version: a later version's run keeps the earlier's
    table, pairs_csv = db.with_name(f"{stem}_results.csv"), db.with_name(f"{stem}_pairs.csv")
    table.write_text(with_fit_times(proc.stdout, fit.stdout if fit.returncode in (0, 1) else ""))
    if pairs.returncode in (0, 1):
        pairs_csv.write_text(pairs.stdout)
    print(f"As CSV: {shown_path(table)} (one row per model: each metric with its interval and verdict, fit time "
          f"p50/p95 with intervals){f', {shown_path(pairs_csv)} (one row per pair)' if pairs_csv.exists() else ''}")
    for name in slices:  # the dataset's own fields: the same table per value, a `name` column telling them apart
        by = export(*args, "--by", stored_name(name), "--csv", "--wide")
        if by.returncode in (0, 1):
            path = db.with_name(f"{stem}_by_{stored_name(name)}.csv")
            path.write_text(by.stdout)
            print(f"As CSV per {stored_name(name)}: {shown_path(path)} (one row per model and value)")


FIT_COLUMNS = [f"latency_{p}{end}" for p in ("p50", "p95") for end in ("", "_ci_low", "_ci_high")]


def with_fit_times(results: str, fit_times: str) -> str:
    """The results table with each model's fit-time percentiles (from the scores table) joined on
    `configuration`, as fit_seconds_p50, fit_seconds_p50_ci_low, ...: one table for a report, without the
    columns no row fills."""
    fit = {row["configuration"]: row for row in csv.DictReader(io.StringIO(fit_times))}
    rows = list(csv.DictReader(io.StringIO(results)))
    if not rows:
        return results
    names = [c.replace("latency_", "fit_seconds_") for c in FIT_COLUMNS]
    rows = [{**row, **{n: fit.get(row["configuration"], {}).get(c, "") for n, c in zip(names, FIT_COLUMNS,
                                                                                      strict=True)}}
            for row in rows]
    # the fit times, and the columns with a value somewhere (trial R: 14 always-empty ones, such as the latency
    # of a table without any); an interval end the fits cannot bound stays, empty (few fits: references/analysis.md)
    kept = [c for c in rows[0] if c in names or any(row[c] != "" for row in rows)]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=kept, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


RESULTS_SQL = ("SELECT s.configuration, s.metric, s.estimate, s.ci_low, s.ci_high, c.reference, c.difference, "
               "c.p_adjusted, c.verdict FROM summary s LEFT JOIN comparisons c ON c.track_id = s.track_id AND "
               "c.metric = s.metric AND c.configuration = s.configuration WHERE s.track_id = (SELECT track_id FROM "
               "summary ORDER BY timestamp DESC LIMIT 1) ORDER BY s.metric, s.rank, c.reference;")


def human_size(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.1f} MB" if n_bytes >= 2**20 else f"{n_bytes / 2**10:.0f} KB"


def megabytes(path: Path) -> str:
    """A file's or folder's size. SQLite's write-ahead logs (-wal, -shm) are said apart: they grow while a
    connection is open and fold into the database at a checkpoint, so the total jumps between runs (trial T)."""
    if path.is_file():  # a database: its -wal and -shm sit beside it
        files = [path, *(p for p in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
                         if p.is_file())]
    else:
        files = [p for p in path.rglob("*") if p.is_file()]
    log = sum(p.stat().st_size for p in files if p.name.endswith(("-wal", "-shm")))
    data = sum(p.stat().st_size for p in files) - log
    return f"{data / 2**20:.1f} MB" + (f" + {log / 2**20:.1f} MB of SQLite write-ahead log, folded in at the next "
                                       "checkpoint" if log >= 2**20 / 10 else "")


# ---- Command line ---------------------------------------------------------------------------------------------
def model_spec(text: str) -> tuple[str, tuple]:
    """`forest:n_estimators=300,max_depth=4` -> ('forest', (('max_depth', 4), ('n_estimators', 300)))."""
    name, _, settings = text.partition(":")
    if name not in MODELS:
        raise argparse.ArgumentTypeError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    pairs = []
    for item in filter(None, settings.split(",")):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise argparse.ArgumentTypeError(f"expected name:key=value,key=value; got {text!r}")
        try:
            pairs.append((key, json.loads(value)))
        except json.JSONDecodeError:
            pairs.append((key, value))  # a bare word such as `weights=distance` is a string
    return name, tuple(sorted(pairs))


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=Path(__file__).name, description=__doc__,
        epilog="exit codes: 0 every unit succeeded; 1 some unit failed (re-run to retry only those); 2 usage error")
    add_common_options(parser, db=DB, cache_dir="<db name>_cache beside the database; the shards of one machine "
                       "share it", shard=True,
                       limit_help="a fixed subsample of N examples (stratified for classifiers), for smoke runs "
                                  "(default: all)")
    parser.add_argument("--cache", dest="cache_dir", type=Path, help=argparse.SUPPRESS)  # the old name of --cache-dir
    parser.add_argument("--dataset", choices=sorted(DATASETS), default=DEFAULT_DATASET,
                        help=f"a dataset of DATASETS (default: {DEFAULT_DATASET})")
    parser.add_argument("--models", nargs="+", type=model_spec, default=[model_spec(m) for m in DEFAULT_MODELS],
                        metavar="NAME[:KEY=VALUE,...]",
                        help=f"models to compare, from {', '.join(MODELS)}; values are JSON or bare words "
                             f"(default: {' '.join(DEFAULT_MODELS)})")
    parser.add_argument("--folds", type=int, default=FOLDS,
                        help=f"k of the k-fold split, stratified for classifiers (default: {FOLDS})")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS),
                        help="one shuffled k-fold split, and the models' random_state, per seed "
                             f"(default: {' '.join(map(str, SEEDS))})")
    parser.add_argument("--no-model-assets", action="store_true", default=not MODEL_ASSETS,
                        help="do not store the fitted models (they dominate the database and cache size; see "
                             "references/templates.md for when to pass it). Part of every fit's cache key: set "
                             f"MODEL_ASSETS in the EDIT block once rather than remembering this flag (default: "
                             f"{'store them' if MODEL_ASSETS else 'do not store them'})")
    parser.add_argument("--target", default=TARGET, metavar="METRIC>=VALUE",
                        help="a bar every model must reach, e.g. accuracy>=0.95 or accuracy>=95%%: the results table "
                             "and the printed comparison say which models meet it (export_summary --target; "
                             f"default: TARGET in the EDIT block, {TARGET!r})")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_common_options(parser, args)
    if args.folds < 2:
        parser.error("--folds must be at least 2")
    if args.target is not None and not re.fullmatch(r"\s*[A-Za-z_][\w.]*\s*(>=|<=|>|<)\s*-?\d+(\.\d+)?\s*%?\s*", args.target):
        parser.error(f"--target {args.target!r}: write METRIC>=VALUE or METRIC<=VALUE (or > / <), e.g. "
                     "accuracy>=0.95")
    kinds = {name: "regressor" if regression(name) else "classifier" for name, _ in args.models}
    if len(set(kinds.values())) > 1:  # the folds differ (stratified by class or not): no paired comparison
        parser.error("--models mixes classifiers and regressors ("
                     f"{', '.join(f'{n}: {k}' for n, k in kinds.items())}); compare one kind per run")
    try:
        target = load_dataset(args.dataset)[1]
    except Exception as exc:  # noqa: BLE001 - your own loader: any failure is a one-line error
        parser.error(f"cannot load dataset {args.dataset!r}: {type(exc).__name__}: {exc}")
    n_examples = len(target)
    own = list(next(iter(dataset_parts(args.dataset)[3].values()), {}))
    try:  # xetrack renames some names and cannot store others (`order`, `group`): before any fit
        columns = field_columns(own, PREDICTIONS)
        field_columns(own, SLICE_SCORES)
    except ValueError as exc:
        parser.error(f"dataset {args.dataset!r}: {exc}")
    taken = [n for n, c in columns.items() if c in ROW_COLUMNS | SLICE_COLUMNS | {f.name for f in fields(Config)}
             or c.endswith(("_version", "_fingerprint")) or c in ("git_commit", "host", "shard")]
    if taken:
        parser.error(f"dataset {args.dataset!r}: the field{'s' * (len(taken) > 1)} {', '.join(taken)} would "
                     "overwrite columns this template writes; rename them")
    if "classifier" in kinds.values():  # a regression target (diabetes: integers stored as floats) fails every fold
        regressors = ", ".join(n for n in MODELS if regression(n))
        values, members = np.unique(target, return_counts=True)
        if members.min() < args.folds:
            parser.error(f"dataset {args.dataset!r}: {np.count_nonzero(members < args.folds)} of its {len(values)} "
                         f"target values occur fewer than {args.folds} times, too few for stratified folds; a "
                         f"regression target? compare regressors ({regressors}), or use fewer --folds")
    if args.limit is not None and args.limit < 4 * args.folds:
        parser.error(f"--limit must be at least {4 * args.folds} (or absent: all {n_examples} examples)")
    args.limit = 0 if args.limit is None or args.limit >= n_examples else args.limit  # same data, same config_id
    # Named without the shard suffix: the shards on one machine share one cache (diskcache is process-safe).
    args.cache_dir = args.cache_dir or args.db.with_name(unsharded_stem(args.db) + "_cache")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configs = [Config(name, hp, args.dataset, args.limit, args.folds) for name, hp in dict.fromkeys(args.models)]
    return run(configs, args.seeds, args.db, args.cache_dir, args.experiment_version, not args.no_model_assets,
               args.shard, args.add_to_version, args.target)


if __name__ == "__main__":
    raise SystemExit(main())

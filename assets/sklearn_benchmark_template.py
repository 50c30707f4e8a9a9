#!/usr/bin/env python
"""Compare scikit-learn models on identical cross-validation folds, cached, resumable and tracked in xetrack.

What it does
  Every model is fitted on exactly the same folds (repeated stratified k-fold: one shuffled k-fold split per
  seed), so models can be compared example by example (paired). It writes two tables to one SQLite file:
    predictions  one row per test example: input_id (row of the dataset), seed, fold, prediction,
                 probability (of the predicted label), ground_truth, correct, and calibration: p_true
                 (probability of the true class), nll (its log loss, clipped as sklearn's log_loss, so a
                 fold's mean nll is its log_loss) and brier (binary: (p_positive - y)^2; multiclass: sum over
                 classes of (p_k - [y = k])^2); all three NULL for a model without predict_proba
    scores       one row per model x seed x fold: accuracy, balanced_accuracy, log_loss, fit_seconds,
                 predict_seconds, and the fitted model as a xetrack asset (model_asset = its hash; skip it
                 with --no-model-assets: fitted forests take tens of MB in the database and in the cache)
  Every row carries the configuration (config_id + its fields) and the versions: --experiment-version ("dev"
  while developing, a tag such as "e1" for the real run; the analysis scripts never pool versions), the git
  commit of the current directory, the data fingerprint and library versions. Work is cached by content: a second run trains nothing, a changed
  configuration retrains only itself, a killed run resumes where it stopped, and a model that raises leaves
  an error row, is not cached, and is retried on the next run (the exit code is then 1).

Run (offline; the default takes well under a minute on 2 cores)
  python sklearn_benchmark_template.py                         # breast_cancer, logreg/knn/forest, 5 folds x 3 seeds
  python sklearn_benchmark_template.py --limit 150 --seeds 0 --experiment-version dev   # smoke run
  python sklearn_benchmark_template.py --dataset wine --models logreg:C=0.1 forest:n_estimators=300,max_depth=4 gboost
  python scripts/validate_benchmark.py sklearn_benchmark.db predictions
  python scripts/export_summary.py sklearn_benchmark.db predictions --config-cols model
  python scripts/export_summary.py sklearn_benchmark.db predictions --config-cols model --metric nll:lower
                                                               # calibration, compared paired per example

Adapt it (copy benchkit.py beside this file)
  1. MODELS: add your estimator factory (anything with fit/predict; predict_proba is optional). Also there,
     not run by default: gboost, tree, naive_bayes, svm (RBF SVC, calibrated probabilities).
  2. DATASETS / read_data: return your X, y and input ids (see "Your own CSV" below).
  3. Changed the code of fit_and_predict? Use a new --db and --cache: the cache key covers the configuration,
     the data fingerprint, the seed and the fold, but not your code.

Your own CSV
  Replace the body of read_data(name): return X (2-D numeric array, one row per example), y (1-D labels) and
  input_ids (1-D, a stable id per row such as your CSV's id column: it pairs the models' predictions, so it
  must not change between runs). `name` is the --dataset value, logged as the `dataset` column: add it to
  DATASETS (`"my_data": None`) and make it --dataset's default. For example:
      frame = pandas.read_csv("my_data.csv")
      X = frame.drop(columns=["label", "id"]).to_numpy(float)
      return X, frame["label"].to_numpy(), frame["id"].to_numpy()
  --limit and the folds keep working (they use positions, not ids). The data fingerprint covers X, y and the
  ids, so an edited CSV never replays results cached for the old one.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from statistics import mean, stdev

import numpy as np
import sklearn
from benchkit import (
    completed,
    config_columns,
    config_id,
    fingerprint,
    log_batch_verified,
    progress,
    provenance,
    track_cached,
    varying_columns,
)
from sklearn import datasets
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score, log_loss
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier
from xetrack import Tracker

# ---- 1. What to compare: edit these ------------------------------------------------------------------------
MODELS = {  # name -> factory(**hyperparameters); `--models name:key=value,...` passes the hyperparameters
    "logreg": lambda **hp: make_pipeline(StandardScaler(), LogisticRegression(**{"max_iter": 2000, **hp})),
    "knn": lambda **hp: make_pipeline(StandardScaler(), KNeighborsClassifier(**hp)),
    "forest": lambda **hp: RandomForestClassifier(**{"n_estimators": 100, **hp}),
    "gboost": lambda **hp: GradientBoostingClassifier(**hp),  # slower on many classes (digits: ~5 s a fit)
    "tree": lambda **hp: DecisionTreeClassifier(**hp),
    "naive_bayes": lambda **hp: GaussianNB(**hp),
    # RBF SVM; probabilities by calibrating one SVC with internal CV (SVC(probability=True) is deprecated in
    # scikit-learn 1.9). Hyperparameters go to SVC: `svm:C=10,gamma=0.01`.
    "svm": lambda **hp: make_pipeline(StandardScaler(), CalibratedClassifierCV(SVC(**hp), ensemble=False)),
}
DATASETS = {  # shipped with scikit-learn, so the default run is offline
    "breast_cancer": datasets.load_breast_cancer,
    "iris": datasets.load_iris,
    "wine": datasets.load_wine,
    "digits": datasets.load_digits,
}
DEFAULT_MODELS = ("logreg", "knn", "forest")
PREDICTIONS, SCORES = "predictions", "scores"  # no column may contain a table name (xetrack 0.7.0 bug)


@dataclass(frozen=True)
class Config:
    """Everything that decides a result except seed and fold, the replicates that every model shares."""

    model: str  # a key of MODELS
    hyperparameters: tuple = ()  # sorted (name, value) pairs passed to MODELS[model]
    dataset: str = "breast_cancer"
    subsample: int = 0  # 0 = every example; N = a fixed stratified subsample of N examples (--limit)
    k_folds: int = 5


# ---- 2. Data and folds: identical for every model, so comparisons are paired --------------------------------
def read_data(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X, y and one stable input_id per row (here the row number). Replace this body for your own data."""
    X, y = DATASETS[name](return_X_y=True)
    return X, y, np.arange(len(y))


@cache
def load_dataset(name: str, subsample: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The data, or a fixed stratified subsample of it; a subsample keeps each row's input_id."""
    X, y, ids = read_data(name)
    if 0 < subsample < len(y):
        keep = np.sort(train_test_split(np.arange(len(y)), train_size=subsample, stratify=y, random_state=0)[0])
        X, y, ids = X[keep], y[keep], ids[keep]
    return X, y, ids


def fold_indices(config: Config, seed: int, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test positions of one fold; they depend on data, k and seed only, never on the model."""
    X, y, _ = load_dataset(config.dataset, config.subsample)
    splitter = StratifiedKFold(n_splits=config.k_folds, shuffle=True, random_state=seed)
    return list(splitter.split(X, y))[fold]


# ---- 3. The single-execution function: one (configuration, seed, fold) --------------------------------------
def fit_and_predict(config: Config, seed: int, fold: int, data_fingerprint: str, keep_model: bool) -> dict:
    """Fit on the fold's training part, predict its test part. Raise on failure: a raised error is logged as
    an error row and not cached, whereas a returned one would be cached forever.

    `data_fingerprint` is unused here on purpose: as an argument it is part of the cache key, so changed data
    never replays results computed on other data. `keep_model` is an argument for the same reason: a cached
    result without the fitted model must not be replayed into a run that asked for it.
    """
    X, y, ids = load_dataset(config.dataset, config.subsample)
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
    if proba is None:  # NaN is stored as NULL: "no probability", not a number that looks like one
        probability, loss = [float("nan")] * len(test), float("nan")
        calibration = dict.fromkeys(("p_true", "nll", "brier"), probability)
    else:
        probability = proba[np.arange(len(test)), np.searchsorted(model.classes_, predicted)].tolist()
        loss = log_loss(y[test], proba, labels=model.classes_)
        calibration = per_example_calibration(proba, y[test], model.classes_)
    return {
        "seed": seed, "fold": fold,
        "accuracy": accuracy_score(y[test], predicted),
        "balanced_accuracy": balanced_accuracy_score(y[test], predicted),
        "log_loss": loss, "fit_seconds": fit_seconds, "predict_seconds": predict_seconds,
        "n_train": len(train), "n_test": len(test),
        # xetrack stores the object as an asset; the column holds its hash
        **({"model_asset": model} if keep_model else {}),
        # The per-example results travel inside the cached value, so a cache replay can log them again.
        "raw_predictions": {"input_id": ids[test].tolist(), "prediction": predicted.tolist(),
                            "probability": probability, "ground_truth": y[test].tolist(), **calibration},
    }


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


# ---- 4. Tracking: resume from the database, then the cache, then compute ------------------------------------
def scored_units(db: Path) -> dict[tuple, tuple[str, str]]:
    """(config_id, data_fingerprint, experiment_version, seed, fold) -> (lineage, raw_predictions) of every
    successful per-fold row.

    A run killed between its per-fold row and its per-example rows is finished from this row: no refit, and no
    second per-fold row for the same unit.
    """
    if not db.exists():
        return {}
    con = sqlite3.connect(f"file:{db.resolve()}?mode=ro", uri=True)
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
    columns = zip(raw["input_id"], raw["prediction"], raw["probability"], raw["ground_truth"], raw["p_true"],
                  raw["nll"], raw["brier"], strict=True)
    return [{**fixed, "input_id": i, "prediction": p, "probability": pr, "ground_truth": t, "correct": int(p == t),
             "p_true": pt, "nll": nll, "brier": brier} for i, p, pr, t, pt, nll, brier in columns]


def error_rows(config: Config, seed: int, fold: int, error: str) -> list[dict]:
    """A failed unit still gets one row per test example, so failures show up per configuration and input."""
    _, test = fold_indices(config, seed, fold)
    ids = load_dataset(config.dataset, config.subsample)[2][test]
    fixed = unit_columns(config, seed, fold, lineage="", error=error)
    return [{**fixed, "input_id": i} for i in ids.tolist()]  # tolist: plain ints or strings, never numpy


def run(configs: list[Config], seeds: list[int], db: Path, cache: Path, experiment_version: str,
        keep_models: bool) -> int:
    first = configs[0]
    X, y, ids = load_dataset(first.dataset, first.subsample)
    data_fp = fingerprint(X, y, ids)
    # The git commit of the current directory: the user's project, not the folder this template sits in.
    version = provenance(data_fingerprint=data_fp, root=Path.cwd(), sklearn_version=sklearn.__version__,
                         experiment_version=experiment_version)
    scores = Tracker(str(db), table=SCORES, cache=str(cache), params=version)
    predictions = Tracker(str(db), table=PREDICTIONS, params=version, track_id=scores.track_id)

    # A unit is done in this experiment version; another version gets its own rows (replayed from the cache).
    done = completed(db, PREDICTIONS, ["config_id", "data_fingerprint", "experiment_version", "seed", "fold"])
    scored = scored_units(db)
    units = [(c, s, f) for c in configs for s in seeds for f in range(c.k_folds)]
    todo = [(c, s, f) for c, s, f in units if (config_id(c), data_fp, experiment_version, s, f) not in done]
    print(f"{len(units)} units (model x seed x fold): {len(units) - len(todo)} already in {db}, {len(todo)} to run",
          file=sys.stderr)
    failures = []
    for config, seed, fold in progress(todo, label="units"):
        unit = (config_id(config), data_fp, experiment_version, seed, fold)
        if unit in scored:
            lineage, raw = scored[unit]
        else:
            try:
                result = track_cached(scores, fit_and_predict, config, seed=seed, fold=fold, data_fingerprint=data_fp,
                                      keep_model=keep_models)
            except Exception as exc:  # xetrack logged an error row and cached nothing; the other units go on
                failures.append(f"{config.model} {dict(config.hyperparameters)} seed={seed} fold={fold}: {exc}")
                log_batch_verified(predictions, error_rows(config, seed, fold, str(exc)))
                continue
            # xetrack's lineage convention: '' = computed now, else the track_id of the run that computed it
            lineage, raw = scores.latest["cache"], result["raw_predictions"]
        log_batch_verified(predictions, per_example_rows(config, seed, fold, lineage, raw))
    summarise(db, cache, configs, (data_fp, experiment_version), failures, keep_models)
    return 1 if failures else 0


# ---- 5. The summary ------------------------------------------------------------------------------------------
def accuracy(raw_predictions: str) -> float:
    raw = json.loads(raw_predictions)
    return mean(p == t for p, t in zip(raw["prediction"], raw["ground_truth"], strict=True))


def summarise(db: Path, cache: Path, configs: list[Config], version: tuple[str, str], failures: list[str],
              keep_models: bool) -> None:
    """A quick look: mean and spread of fold accuracies. Descriptive only (folds share training data), so the
    real comparison is export_summary's paired test on the per-example rows."""
    scored = scored_units(db)
    print(f"\n{'model':<12} {'hyperparameters':<28} {'config_id':<17} {'folds':>5}  accuracy: mean ± sd over folds")
    for config in configs:
        accs = [accuracy(raw) for (c, d, v, _, _), (_, raw) in scored.items() if (c, (d, v)) == (config_id(config), version)]
        spread = f"{mean(accs):.4f} ± {stdev(accs):.4f}" if len(accs) > 1 else (f"{accs[0]:.4f}" if accs else "-")
        hp = json.dumps(dict(config.hyperparameters)) if config.hyperparameters else "default"
        print(f"{config.model:<12} {hp:<28} {config_id(config):<17} {len(accs):>5}  {spread}")
    for failure in failures:
        print(f"FAILED {failure}")
    if failures:
        print(f"{len(failures)} unit(s) failed: see the error column of both tables; re-run to retry only them.")
    scripts = Path(__file__).resolve().parent.parent / "scripts"
    scripts = scripts if (scripts / "validate_benchmark.py").exists() else Path("scripts")
    print(f"\nDatabase: {db.resolve()} ({megabytes(db)})  (tables: {PREDICTIONS} = one row per test example, "
          f"{SCORES} = one row per model x seed x fold)")
    hint = "; fitted models take most of both: --no-model-assets skips them" if keep_models else ""
    print(f"Cache: {cache.resolve()} ({megabytes(cache)}{hint})")
    # Only the columns that tell configurations apart make the configuration label of the report.
    label = ",".join(varying_columns(configs) or ["model"])
    print("Next: check the benchmark, then compare the models paired on the same examples:")
    print(f"  python {scripts / 'validate_benchmark.py'} {db.resolve()} {PREDICTIONS}")
    print(f"  python {scripts / 'export_summary.py'} {db.resolve()} {PREDICTIONS} --config-cols {label}")
    print("Calibration, paired per example (lower nll = better probabilities):")
    print(f"  python {scripts / 'export_summary.py'} {db.resolve()} {PREDICTIONS} --config-cols {label} "
          "--metric nll:lower")


def megabytes(path: Path) -> str:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return f"{sum(p.stat().st_size for p in files) / 2**20:.1f} MB"


# ---- 6. Command line -----------------------------------------------------------------------------------------
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="sklearn_benchmark_template.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit codes: 0 every unit succeeded; 1 some unit failed (re-run to retry only those); 2 usage error")
    parser.add_argument("--db", type=Path, default=Path("sklearn_benchmark.db"),
                        help="xetrack database file (default: sklearn_benchmark.db in the current directory)")
    parser.add_argument("--cache", type=Path, help="cache directory (default: <db name>_cache beside the database)")
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="breast_cancer",
                        help="a dataset shipped with scikit-learn (default: breast_cancer)")
    parser.add_argument("--models", nargs="+", type=model_spec, default=[model_spec(m) for m in DEFAULT_MODELS],
                        metavar="NAME[:KEY=VALUE,...]",
                        help=f"models to compare, from {', '.join(MODELS)}; values are JSON or bare words "
                             f"(default: {' '.join(DEFAULT_MODELS)})")
    parser.add_argument("--folds", type=int, default=5, help="k of the stratified k-fold split (default: 5)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="one shuffled k-fold split, and the models' random_state, per seed (default: 0 1 2)")
    parser.add_argument("--limit", type=int, default=0, metavar="N",
                        help="use a fixed stratified subsample of N examples, for smoke runs (default: 0 = all)")
    parser.add_argument("--experiment-version", default="e1", metavar="VALUE",
                        help='logged on every row of both tables: "dev" while developing, a tag such as "e1" for '
                             "the real run; the scripts never pool versions (default: e1)")
    parser.add_argument("--no-model-assets", action="store_true",
                        help="do not store the fitted models (they dominate the database and cache size)")
    args = parser.parse_args(argv)
    n_examples = len(load_dataset(args.dataset)[1])
    if args.folds < 2:
        parser.error("--folds must be at least 2")
    if args.limit < 0 or 0 < args.limit < 4 * args.folds:
        parser.error(f"--limit must be 0 (all {n_examples} examples) or at least {4 * args.folds}")
    if not args.experiment_version.strip():
        parser.error("--experiment-version must not be empty")
    args.limit = 0 if args.limit >= n_examples else args.limit  # the same data must get the same config_id
    args.cache = args.cache or args.db.with_name(args.db.stem + "_cache")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configs = [Config(name, hp, args.dataset, args.limit, args.folds) for name, hp in dict.fromkeys(args.models)]
    return run(configs, args.seeds, args.db, args.cache, args.experiment_version, not args.no_model_assets)


if __name__ == "__main__":
    raise SystemExit(main())

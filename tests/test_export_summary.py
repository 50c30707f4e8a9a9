"""export_summary.py on benchmarks written by xetrack: numbers checked against independent computations,
verdicts against known truth, every output format, and the script contract (exit codes, one-line errors)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

import export_summary
import numpy as np
import pytest
from helpers import ROOT, call_main, digest, run_python
from scipy import stats
from summary_fixtures import (
    clustered_db,
    correctness,
    prediction_rows,
    predictions_db,
    scores_db,
    seeded_db,
    wilson,
)
from xetrack_fixtures import clean_benchmark, log_rows

SCRIPT = ROOT / "scripts" / "export_summary.py"
pytestmark = pytest.mark.usefixtures("reading")  # every test whole and in slices (conftest.py)


ACCURACY = {"name": "accuracy", "better": "higher"}  # a metric as the report describes it


def summary(capsys, *argv) -> tuple[int, str, str]:
    return call_main(export_summary.main, capsys, *argv)


def doc(capsys, *argv) -> dict:
    code, out, err = summary(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def only_version(d: dict) -> dict:
    assert len(d["versions"]) == 1
    return d["versions"][0]


def mcnemar(other: list[int], reference: list[int]) -> float:
    b = sum(o and not r for o, r in zip(other, reference, strict=True))
    c = sum(r and not o for o, r in zip(other, reference, strict=True))
    k = min(b, c)
    return min(1.0, 2 * sum(math.comb(b + c, i) for i in range(k + 1)) / 2 ** (b + c)) if b + c else 1.0


# --- the numbers ------------------------------------------------------------------------------------------

THREE = {"alpha": correctness(60, 0.90, 1), "beta": correctness(60, 0.85, 2), "gamma": correctness(60, 0.55, 3)}


@pytest.fixture(scope="module")
def three_models_by_engine() -> dict[str, Path]:
    return {}


@pytest.fixture
def three_models(three_models_by_engine, tmp_path_factory, engine) -> Path:
    """Built once per engine for this module: every test that takes it only reads it (and one checks that the
    script never changes it), so sharing it saves a DuckDB-engine write per test and hides nothing."""
    if engine not in three_models_by_engine:
        folder = tmp_path_factory.mktemp(f"three-models-{engine}")
        three_models_by_engine[engine] = predictions_db(folder / "bench.db", engine, THREE)
    return three_models_by_engine[engine]


def test_accuracy_and_wilson_intervals_match_the_formula(three_models, capsys, engine):
    v = only_version(doc(capsys, three_models, "predictions", "--engine", engine))
    by = {c["label"]: c for c in v["configurations"]}
    assert [c["label"] for c in v["configurations"]] == ["model=alpha", "model=beta", "model=gamma"]
    for model, oks in THREE.items():
        acc = by[f"model={model}"]["metrics"]["accuracy"]
        low, high = wilson(sum(oks), len(oks))
        assert acc["n"] == 60 and acc["interval"] == "wilson"
        assert acc["estimate"] == pytest.approx(sum(oks) / 60, abs=1e-6)
        assert (acc["ci_low"], acc["ci_high"]) == pytest.approx((low, high), abs=1e-6)


def test_each_configuration_is_compared_with_the_best_by_exact_mcnemar_with_holm(three_models, capsys):
    v = only_version(doc(capsys, three_models, "predictions"))
    comps = {c["configuration"]: c for c in v["comparisons"]}
    assert set(comps) == {"model=beta", "model=gamma"} and all(c["reference"] == "model=alpha" for c in comps.values())
    raw = {m: mcnemar(THREE[m], THREE["alpha"]) for m in ("beta", "gamma")}
    ordered = sorted(raw, key=raw.get)  # Holm by hand, two comparisons
    holm = {ordered[0]: min(1, 2 * raw[ordered[0]])}
    holm[ordered[1]] = max(holm[ordered[0]], min(1, raw[ordered[1]]))
    for m in ("beta", "gamma"):
        c = comps[f"model={m}"]
        assert c["test"] == "mcnemar-exact"
        assert c["p_value"] == pytest.approx(raw[m], rel=1e-3)
        assert c["p_adjusted"] == pytest.approx(holm[m], rel=1e-3)
        assert c["delta"] == pytest.approx((sum(THREE[m]) - sum(THREE["alpha"])) / 60, abs=1e-6)
        assert c["shared_items"] == 60
    assert comps["model=gamma"]["verdict"] == "worse"  # 0.55 vs 0.90 on 60 items: a big real effect
    assert comps["model=beta"]["verdict"] == "no detectable difference"  # 0.85 vs 0.90: too close for n=60


def test_both_engines_give_the_same_summary(tmp_path, capsys):
    docs = []
    for engine in ("sqlite", "duckdb"):
        db = predictions_db(tmp_path / f"{engine}.db", engine, THREE)
        for reader in ("sqlite", "duckdb"):
            d = doc(capsys, db, "predictions", "--engine", reader)
            d["summary"]["files"] = []
            assert d["summary"].pop("engine") == reader and d["summary"].pop("engine_reason") == f"--engine {reader}"
            docs.append(d)
    assert all(d == docs[0] for d in docs[1:])


def test_an_a_a_comparison_is_no_detectable_difference(tmp_path, capsys, engine):
    same = correctness(80, 0.8, 4)
    db = predictions_db(tmp_path / "aa.db", engine, {"a": same, "b": list(same)})
    v = only_version(doc(capsys, db, "predictions", "--engine", engine))
    (c,) = v["comparisons"]
    assert c["verdict"] == "no detectable difference" and c["p_value"] == 1.0 and c["delta"] == 0


def test_a_a_with_fresh_noise_is_rarely_called_different(tmp_path, capsys):
    """Twelve A/A benchmarks (same accuracy, independent errors): at alpha 0.05 expect ~0.6 false calls; the
    bound of 2 has probability < 2.5% of being exceeded by chance, and the seeds are fixed."""
    calls = 0
    for seed in range(12):
        rng = np.random.default_rng(500 + seed)
        p = rng.uniform(0.5, 0.95, size=100)
        db = predictions_db(tmp_path / f"aa{seed}.db", "sqlite", {
            "a": (rng.random(100) < p).astype(int).tolist(), "b": (rng.random(100) < p).astype(int).tolist()})
        (c,) = only_version(doc(capsys, db, "predictions"))["comparisons"]
        calls += c["verdict"] != "no detectable difference"
    assert calls <= 2


def test_a_known_large_effect_on_scores_is_reported_with_direction(tmp_path, capsys):
    rng = np.random.default_rng(6)
    base = rng.normal(size=90)
    db = scores_db(tmp_path / "s.db", "sqlite", {"fast": (base + 2).tolist(), "slow": (base + 3).tolist()},
                   column="loss")
    v = only_version(doc(capsys, db, "predictions", "--metric", "loss:lower"))
    (c,) = v["comparisons"]
    assert v["configurations"][0]["label"] == "model=fast"
    assert c["configuration"] == "model=slow" and c["test"] == "wilcoxon"
    assert c["verdict"] == "worse" and c["p_adjusted"] < 0.001
    assert c["delta"] == pytest.approx(1.0, abs=1e-6)  # slow - fast, in the metric's units
    assert c["ci_low"] == pytest.approx(1.0, abs=1e-6)


def test_lower_is_better_is_guessed_from_the_name_and_said_so(tmp_path, capsys):
    db = scores_db(tmp_path / "s.db", "sqlite", {"a": [1.0, 2, 3], "b": [2.0, 3, 4]}, column="val_loss")
    d = doc(capsys, db, "predictions", "--metric", "val_loss")
    (metric,) = d["inferred"]["measures"]["metrics"]
    assert (metric["better"], metric["direction_from"]) == ("lower", "name")
    assert only_version(d)["configurations"][0]["label"] == "model=a"


def test_continuous_scores_get_a_bootstrap_interval_of_the_mean(tmp_path, capsys):
    values = np.random.default_rng(1).normal(10, 2, size=50)
    db = scores_db(tmp_path / "s.db", "sqlite", {"a": values.tolist()})
    m = only_version(doc(capsys, db, "predictions", "--metric", "score:higher"))["configurations"][0]["metrics"]
    score = m["score"]
    assert score["interval"] == "bootstrap over items" and score["estimate"] == pytest.approx(values.mean())
    half = 1.96 * values.std(ddof=1) / math.sqrt(50)
    assert score["ci_high"] - score["ci_low"] == pytest.approx(2 * half, rel=0.2)


# --- what counts as an item ------------------------------------------------------------------------------

def test_cache_replays_are_counted_once_so_a_rerun_does_not_double_n(tmp_path, capsys, engine):
    db = clean_benchmark(tmp_path / "b.db", engine, n_items=30, cache_dir=tmp_path / "cache", replay=True)
    d = doc(capsys, db, "predictions", "--engine", engine)
    configs = only_version(d)["configurations"]
    assert [(c["rows"], c["items"], c["replays_dropped"]) for c in configs] == [(60, 30, 30), (60, 30, 30)]
    assert [c["metrics"]["accuracy"]["estimate"] for c in configs] == pytest.approx([27 / 30, 20 / 30])
    assert any(f["check_id"] == "replays-counted-once" for f in d["findings"])


def test_failed_rows_are_excluded_from_metrics_and_counted(tmp_path, capsys):
    db = predictions_db(tmp_path / "f.db", "sqlite", THREE, failed={"beta": [0, 1, 2]})
    v = only_version(doc(capsys, db, "predictions"))
    beta = next(c for c in v["configurations"] if c["label"] == "model=beta")
    assert beta["failed"] == 3 and beta["items"] == 60
    assert beta["metrics"]["accuracy"]["n"] == 57
    assert beta["metrics"]["accuracy"]["estimate"] == pytest.approx(sum(THREE["beta"][3:]) / 57, abs=1e-6)
    comp = next(c for c in v["comparisons"] if c["configuration"] == "model=beta")
    assert (comp["shared_items"], comp["only_reference"], comp["only_other"]) == (57, 3, 0)


def test_items_missing_on_one_side_are_excluded_from_the_paired_test_and_counted(tmp_path, capsys):
    db = predictions_db(tmp_path / "m.db", "sqlite", {"a": correctness(50, 0.9, 1)})
    log_rows(db, [r for r in prediction_rows("b", correctness(60, 0.5, 2)) if r["input_id"] >= 10],
             engine="sqlite", table="predictions", params={"experiment_version": "e1"})
    (c,) = only_version(doc(capsys, db, "predictions"))["comparisons"]
    assert (c["shared_items"], c["only_reference"], c["only_other"]) == (40, 10, 10)


def test_no_shared_items_is_not_comparable(tmp_path, capsys):
    db = predictions_db(tmp_path / "n.db", "sqlite", {"a": [1, 1, 0]})
    log_rows(db, prediction_rows("b", [1, 0, 1], start=100), engine="sqlite", table="predictions",
             params={"experiment_version": "e1"})
    (c,) = only_version(doc(capsys, db, "predictions"))["comparisons"]
    assert c["verdict"] == "not comparable" and c["shared_items"] == 0


def test_seed_and_fold_make_the_item_and_the_cluster(tmp_path, capsys):
    folds = [(s, f) for s in (0, 1) for f in range(5)]
    outcomes = {"a": {k: correctness(20, 0.9, 10 + i) for i, k in enumerate(folds)},
                "b": {k: correctness(20, 0.6, 30 + i) for i, k in enumerate(folds)}}
    db = clustered_db(tmp_path / "c.db", "sqlite", outcomes)
    d = doc(capsys, db, "predictions")
    assert d["inferred"]["layout"]["item"] == ["input_id", "seed", "fold"]
    v = only_version(d)
    a = v["configurations"][0]
    assert a["items"] == 200 and a["clusters"] == 10
    assert a["metrics"]["accuracy"]["interval"] == "corrected resampled t over 10 folds"
    (c,) = v["comparisons"]
    assert c["test"] == "corrected-resampled-t" and c["shared_items"] == 200 and c["verdict"] == "worse"
    # d_z standardises per-item differences while the test compares fold means: the markdown says which it is
    markdown = summary(capsys, db, "predictions")[1]
    assert "d_z here is per item (one input in one fold)" in " ".join(markdown.split())


def nadeau_bengio(per_fold_diffs: list[float], ratio: float) -> tuple[float, float, float]:
    """The corrected resampled t-test from its definition: (p, interval low, interval high)."""
    d = np.asarray(per_fold_diffs)
    j = len(d)
    se = math.sqrt((1 / j + ratio) * d.var(ddof=1))
    half = stats.t.ppf(0.975, j - 1) * se
    return 2 * stats.t.sf(abs(d.mean() / se), j - 1), d.mean() - half, d.mean() + half


def test_repeated_cv_is_compared_by_the_nadeau_bengio_corrected_t_computed_by_hand(tmp_path, capsys, engine):
    folds = [(s, f) for s in (0, 1, 2) for f in range(4)]  # 3 seeds x 4 folds of 15 items: 60 inputs
    outcomes = {"a": {k: correctness(15, 0.85, 40 + i) for i, k in enumerate(folds)},
                "b": {k: correctness(15, [0.8, 0.73, 0.67][k[0]], 60 + i) for i, k in enumerate(folds)}}
    db = clustered_db(tmp_path / "cv.db", engine, outcomes)
    d = doc(capsys, db, "predictions", "--engine", engine)
    v = only_version(d)
    ratio = 15 / 45  # a fold's 15 items against the other 45 of its seed
    assert [c["test_train_ratio"] for c in v["configurations"]] == pytest.approx([ratio, ratio])
    diffs = [np.mean(outcomes["b"][k]) - np.mean(outcomes["a"][k]) for k in folds]
    p, low, high = nadeau_bengio(diffs, ratio)
    (c,) = v["comparisons"]
    assert (c["configuration"], c["reference"], c["test"]) == ("model=b", "model=a", "corrected-resampled-t")
    assert c["p_value"] == pytest.approx(p, rel=1e-3)
    assert (c["delta"], c["ci_low"], c["ci_high"]) == pytest.approx((np.mean(diffs), low, high), abs=1e-6)
    a_folds = np.array([np.mean(outcomes["a"][k]) for k in folds])
    se = math.sqrt((1 / 12 + ratio) * a_folds.var(ddof=1))
    acc = v["configurations"][0]["metrics"]["accuracy"]
    assert (acc["estimate"], acc["ci_low"], acc["ci_high"]) == pytest.approx(
        (a_folds.mean(), a_folds.mean() - stats.t.ppf(0.975, 11) * se, a_folds.mean() + stats.t.ppf(0.975, 11) * se),
        abs=1e-6)
    _, out, _ = summary(capsys, db, "predictions", "--engine", engine)
    assert "Nadeau-Bengio corrected resampled t" in out and "n_test/n_train = 0.333" in out


def test_seed_only_replicates_keep_the_cluster_robust_t(tmp_path, capsys):
    outcomes = {"a": {s: correctness(30, 0.9, 70 + s) for s in range(4)},
                "b": {s: correctness(30, 0.6, 80 + s) for s in range(4)}}
    d = doc(capsys, seeded_db(tmp_path / "s.db", "sqlite", outcomes), "predictions")
    v = only_version(d)
    assert d["inferred"]["layout"]["fold"] is None
    assert [c["test_train_ratio"] for c in v["configurations"]] == [None, None]
    assert v["configurations"][0]["metrics"]["accuracy"]["interval"] == "cluster-robust t over 4 clusters"
    assert v["comparisons"][0]["test"] == "cluster-robust-t"
    _, out, _ = summary(capsys, tmp_path / "s.db", "predictions")
    assert "Nadeau-Bengio" not in out


@pytest.mark.parametrize("shape", ["seed x fold", "seed only"])
def test_a_0_1_metrics_interval_near_1_stays_within_0_1_and_says_it_was_clipped(tmp_path, capsys, shape):
    # fold accuracies of 1.0 with one weak fold: a t interval centred near 0.98 reaches past 1
    weak = [0] * 6 + [1] * 9
    if shape == "seed x fold":
        per = {(s, f): ([1] * 15 if (s, f) != (0, 0) else weak) for s in (0, 1) for f in range(3)}
        db = clustered_db(tmp_path / "c.db", "sqlite", {"a": per})
    else:
        per = {s: ([1] * 15 if s else weak) for s in range(4)}
        db = seeded_db(tmp_path / "c.db", "sqlite", {"a": per})
    acc = only_version(doc(capsys, db, "predictions"))["configurations"][0]["metrics"]["accuracy"]
    assert acc["ci_high"] == 1.0 and 0 <= acc["ci_low"] < acc["estimate"] < 1
    assert acc["interval"].endswith(", clipped to [0, 1]")
    assert "were clipped to [0, 1]" in summary(capsys, db, "predictions")[1]


def test_a_0_1_metric_well_inside_0_1_is_not_clipped(tmp_path, capsys):
    per = {(s, f): correctness(15, 0.7, 90 + 3 * s + f) for s in (0, 1) for f in range(3)}
    acc = only_version(doc(capsys, clustered_db(tmp_path / "c.db", "sqlite", {"a": per}), "predictions")
                       )["configurations"][0]["metrics"]["accuracy"]
    assert acc["interval"] == "corrected resampled t over 6 folds" and acc["ci_high"] < 1
    assert "clipped" not in summary(capsys, tmp_path / "c.db", "predictions")[1]


# --- versions ---------------------------------------------------------------------------------------------

@pytest.fixture
def two_versions(tmp_path) -> Path:
    db = predictions_db(tmp_path / "v.db", "sqlite", {"a": correctness(40, 0.9, 1), "b": correctness(40, 0.5, 2)},
                        version="e1")
    return predictions_db(db, "sqlite", {"a": correctness(40, 0.6, 3)}, version="e2")


def test_different_versions_are_reported_separately_never_pooled(two_versions, capsys):
    d = doc(capsys, two_versions, "predictions")
    assert [v["label"] for v in d["versions"]] == ["experiment_version=e1", "experiment_version=e2"]
    e1, e2 = d["versions"]
    assert [c["items"] for c in e1["configurations"]] == [40, 40]
    assert [c["items"] for c in e2["configurations"]] == [40] and e2["comparisons"] == []
    assert any(f["check_id"] == "versions-separated" for f in d["findings"])


def test_version_option_selects_one_version(two_versions, capsys):
    d = doc(capsys, two_versions, "predictions", "--version", "e2")
    assert [v["label"] for v in d["versions"]] == ["experiment_version=e2"]


def test_an_unknown_version_is_an_input_error_listing_the_versions(two_versions, capsys):
    code, out, err = summary(capsys, two_versions, "predictions", "--version", "e9")
    assert code == 2 and out == ""
    assert err == ("export_summary.py: error: no rows with version 'e9'; available: experiment_version=e1; "
                   "experiment_version=e2\n")


# --- findings on odd data ---------------------------------------------------------------------------------

def test_numpy_scalars_logged_as_asset_hashes_are_reported_not_averaged(tmp_path, capsys):
    from xetrack import Tracker

    db = tmp_path / "np.db"
    tracker = Tracker(str(db), table="predictions", params={"experiment_version": "e1"})
    tracker.log_batch([{"model": "a", "input_id": i, "score": float(i)} for i in range(5)])
    tracker.log_batch([{"model": "b", "input_id": i, "score": np.float64(i)} for i in range(5)])  # the trap
    d = doc(capsys, db, "predictions", "--metric", "score:higher")
    f = next(f for f in d["findings"] if f["check_id"] == "non-numeric-metric")
    assert f["severity"] == "warning" and f["examples_omitted"] == 0 and len(f["examples"]) == 5
    b = next(c for c in only_version(d)["configurations"] if c["label"] == "model=b")
    assert b["metrics"]["score"]["n"] == 0


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
@pytest.mark.parametrize("path", ["in the scan", "keys matched in Python", "a pass of its own"])
def test_values_that_are_not_numbers_are_counted_in_the_chosen_version_only(tmp_path, capsys, monkeypatch,
                                                                            engine, path):
    """The scan flags metric and latency values that are not numbers as it reads them (scan.number_checks);
    keys matched in Python (many configurations) carry the same flags, and a column beyond the flags' room
    is counted by a query of its own. Each way, only rows of the version asked for count."""
    from _bench import reader
    from _bench.summary import scan

    if path == "keys matched in Python":
        monkeypatch.setattr(scan, "CASE_LIMIT", 1)
    if path == "a pass of its own":
        monkeypatch.setattr(scan, "MAX_CHECKS", 1)  # room for `score`; latency_ms is counted by a query
    db = tmp_path / "np.db"
    for version, hashed in (("e1", 2), ("e2", 3)):  # numpy scalars: xetrack stores each as a 16-hex asset hash
        rows = [{"model": m, "input_id": i, "score": np.float64(i) if i < hashed else float(i),
                 "latency_ms": np.float64(1.5) if (m, i) == ("b", 9) else 2.0 + i} for m in "ab" for i in range(10)]
        log_rows(db, sorted(rows, key=lambda r: isinstance(r["score"], np.float64)), engine="sqlite",
                 table="predictions", params={"experiment_version": version})
    counts = []
    original = reader.Benchmark.query
    monkeypatch.setattr(reader.Benchmark, "query", lambda self, sql, params=(): counts.append(sql) or original(
        self, sql, params) if sql.startswith("SELECT COUNT(") else original(self, sql, params))
    d = doc(capsys, db, "predictions", "--metric", "score:higher", "--version", "e2", "--engine", engine)
    messages = {f["message"]: f["examples"] for f in d["findings"] if f["check_id"] == "non-numeric-metric"}
    assert list(messages) == ["6 of 20 values of 'score' are not numbers and were left out.",
                              "1 of 20 values of 'latency_ms' are not numbers and were left out."]
    # each distinct hash once: np.float64 0, 1 and 2 in score, 1.5 in latency_ms
    assert [len(set(e)) for e in messages.values()] == [3, 1] and all(len(h) == 16 for e in messages.values() for h in e)
    assert len(counts) == (1 if path == "a pass of its own" else 0)


def test_fail_on_warning_turns_a_warning_into_exit_1(tmp_path, capsys):
    db = log_rows(tmp_path / "x.db", [{"model": "a", "input_id": 1, "latency_ms": 2.0}], engine="sqlite").db
    assert summary(capsys, db)[0] == 0  # no metric: a warning, and by default a summary still exits 0
    code, out, _ = summary(capsys, db, "--fail-on", "warning", "--json")
    assert code == 1 and json.loads(out)["status"] == "findings"


def test_a_clean_numeric_metric_raises_no_such_finding(tmp_path, capsys):
    db = scores_db(tmp_path / "s.db", "sqlite", {"a": [1.0, 2.0]})
    assert doc(capsys, db, "predictions", "--metric", "score")["findings"] == []


def test_replayed_rows_without_configuration_are_left_out_and_named(tmp_path, capsys):
    """xetrack 0.7.0 does not unpack dataclass arguments on cache hits: their parameter columns are NULL."""
    from dataclasses import dataclass

    from xetrack import Tracker

    @dataclass(frozen=True)
    class Cfg:
        depth: int

    def predict(cfg, input_id):
        return {"prediction": input_id % 2, "ground_truth": input_id % 2}

    for _ in range(2):
        tracker = Tracker(str(tmp_path / "d.db"), cache=str(tmp_path / "cache"), params={"experiment_version": "e1"})
        for i in range(6):
            tracker.track(predict, args=[Cfg(3), i])
    d = doc(capsys, tmp_path / "d.db", "--config-cols", "cfg_depth")
    f = next(f for f in d["findings"] if f["check_id"] == "rows-without-configuration")
    assert f["message"].startswith("6 rows carry no configuration")
    assert [c["items"] for c in only_version(d)["configurations"]] == [6]


def test_no_metric_is_a_warning_and_the_rest_is_still_summarised(tmp_path, capsys):
    db = log_rows(tmp_path / "x.db", [{"model": "a", "input_id": i, "latency_ms": float(i)} for i in range(9)],
                  engine="sqlite").db
    d = doc(capsys, db)
    assert any(f["check_id"] == "no-metric" for f in d["findings"])
    lat = only_version(d)["configurations"][0]["latency"]
    assert (lat["p50"], lat["p95"], lat["p99"]) == pytest.approx((4.0, 7.6, 7.92))


def test_with_no_metric_the_outcome_columns_that_could_be_one_are_named_and_nothing_is_ranked(tmp_path, capsys):
    db = tmp_path / "hits.db"
    log_rows(db, [{"model": m, "query_id": i, "hit_at_10": i % 2, "ndcg_at_10": i / 20, "perplexity": 3.0,
                   "steps": 3 * i + 1, "latency_ms": 5.0, "total_tokens": 9, "error": ""} for m in "ab" for i in range(20)],
             engine="sqlite")
    d = doc(capsys, str(db))
    (f,) = [f for f in d["findings"] if f["check_id"] == "no-metric"]
    assert f["hint"] == ("Name one: --metric hit_at_10:higher, --metric ndcg_at_10:higher, "
                        "--metric perplexity:lower, --metric steps:higher or :lower (the name does not say which).")
    code, out, _ = summary(capsys, str(db))
    rows = [line for line in out.splitlines() if "| model=" in line]
    assert len(rows) == 2 and all(line.startswith("| - | model=") for line in rows)


def test_without_an_input_id_nothing_is_paired_and_that_is_said(tmp_path, capsys):
    rows = [{"model": m, "prediction": 1, "ground_truth": i % 2} for m in "ab" for i in range(10)]
    db = log_rows(tmp_path / "x.db", rows, engine="sqlite").db
    d = doc(capsys, db)
    assert any(f["check_id"] == "no-item-id" for f in d["findings"])
    assert only_version(d)["comparisons"] == []


def test_several_files_are_one_benchmark(tmp_path, capsys):
    a = predictions_db(tmp_path / "w1.db", "sqlite", {"a": correctness(30, 0.9, 1)})
    b = predictions_db(tmp_path / "w2.db", "sqlite", {"b": correctness(30, 0.5, 2)})
    d = doc(capsys, a, b, "predictions")
    assert d["summary"]["files"] == ["w1.db", "w2.db"]
    assert [c["comparisons"] for c in d["versions"]][0][0]["shared_items"] == 30


def test_latency_percentiles_use_computed_rows_only(tmp_path, capsys):
    db = clean_benchmark(tmp_path / "b.db", "sqlite", n_items=20, cache_dir=tmp_path / "cache", replay=True)
    d = doc(capsys, db, "predictions", "--latency-col", "function_time")
    lat = only_version(d)["configurations"][0]["latency"]
    assert lat["n"] == 20 and lat["unit"] == "s"  # 20 computed rows; the 20 replays have function_time 0.0


# --- output formats ---------------------------------------------------------------------------------------

GOLDEN = Path(__file__).parent / "golden"


def golden_db(tmp_path: Path) -> Path:
    """Three models on the same 60 items, one with two failed rows: a clear loser, a close call, failures."""
    db = predictions_db(tmp_path / "golden.db", "sqlite", THREE, failed={"gamma": [5, 17]})
    return db


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if not path.exists():  # first run writes it; review it and commit it
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; if intended, delete it and re-run to regenerate"


def test_markdown_report_matches_the_golden_file(tmp_path, capsys):
    code, out, err = summary(capsys, golden_db(tmp_path), "predictions")
    assert code == 0, err
    check_golden("export_summary.md", out)


def test_json_report_matches_the_golden_file(tmp_path, capsys):
    code, out, err = summary(capsys, golden_db(tmp_path), "predictions", "--json")
    assert code == 0, err
    check_golden("export_summary.json", out)


def test_markdown_has_the_verdict_table_and_a_pasteable_headline(three_models, capsys):
    _, out, _ = summary(capsys, three_models, "predictions")
    assert "| model=gamma | 60 | 0 / 0 |" in out
    headline = next(line for line in out.splitlines() if line.startswith("**Headline:**"))
    assert headline.startswith("**Headline:** model=alpha has the best accuracy (higher is better): 0.900 [")
    assert "detectably better than model=gamma" in headline and "not detectably different from model=beta" in headline


def test_csv_has_one_row_per_configuration_and_metric(three_models, capsys):
    code, out, _ = summary(capsys, three_models, "predictions", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [(r["configuration"], r["metric"], r["verdict"]) for r in rows] == [
        ("model=alpha", "accuracy", "best"), ("model=beta", "accuracy", "no detectable difference"),
        ("model=gamma", "accuracy", "worse")]
    assert float(rows[2]["p_adjusted"]) < 0.05


def test_plot_writes_a_png(three_models, tmp_path, capsys):
    png = tmp_path / "summary.png"
    code, _, err = summary(capsys, three_models, "predictions", "--plot", png)
    assert code == 0 and f"wrote {png}" in err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_the_output_is_deterministic(three_models, capsys):
    first = summary(capsys, three_models, "predictions", "--metric", "latency_ms:lower")[1]
    assert first == summary(capsys, three_models, "predictions", "--metric", "latency_ms:lower")[1]


# --- the script contract ----------------------------------------------------------------------------------

def test_cli_runs_on_a_file_and_never_changes_it(three_models):
    before = digest(three_models)
    proc = run_python(SCRIPT, three_models, "predictions", cwd=ROOT)
    assert proc.returncode == 0 and proc.stdout.startswith("# Benchmark summary") and proc.stderr == ""
    assert digest(three_models) == before


@pytest.mark.parametrize(("argv", "message"), [
    (["{tmp}/missing.db"], "export_summary.py: error: no such file: {tmp}/missing.db\n"),
    (["{db}", "nope"], "export_summary.py: error: no table 'nope' in {db}; available: predictions\n"),
    (["{db}", "predictions", "--metric", "nope"],
     "export_summary.py: error: --metric column 'nope' not found; available: "),
    (["{db}", "predictions", "--metric", "latency_ms:up"],
     "export_summary.py: error: --metric 'latency_ms:up': direction must be 'higher' or 'lower'\n"),
    (["{db}", "predictions", "--json", "--csv"], "export_summary.py: error: --json and --csv cannot be combined\n"),
    (["{db}", "predictions", "--plot", "{tmp}/no/dir/x.png"],
     "export_summary.py: error: --plot: folder {tmp}/no/dir does not exist\n"),
    (["{db}", "predictions", "--alpha", "0.7"], "export_summary.py: error: --alpha must be between 0 and 0.5\n"),
    (["{db}", "predictions", "--plot", "{tmp}/x.nope"], "export_summary.py: error: --plot {tmp}/x.nope: Format "),
], ids=["missing-file", "missing-table", "unknown-metric", "bad-direction", "json-and-csv", "plot-folder",
        "bad-alpha", "plot-format"])
def test_bad_input_is_one_line_and_exit_2(three_models, tmp_path, capsys, argv, message):
    fill = {"tmp": tmp_path, "db": three_models}
    code, out, err = summary(capsys, *[a.format(**fill) for a in argv])
    assert code == 2 and out == ""
    assert err.startswith(message.format(**fill)) and err.count("\n") == 1


def test_an_empty_table_exits_1(tmp_path, capsys):
    from xetrack import Tracker

    Tracker(str(tmp_path / "e.db"))
    code, _, err = summary(capsys, tmp_path / "e.db")
    assert code == 1 and "has no rows" in err


def test_a_hostile_table_name_is_only_ever_quoted(tmp_path, capsys):
    import sqlite3

    name = 'x"; DROP TABLE y; --'
    db = predictions_db(tmp_path / "h.db", "sqlite", {"a": [1, 0, 1]})
    with sqlite3.connect(db) as con:  # xetrack itself cannot write this name; the readers must still cope
        con.execute(f'CREATE TABLE "{name.replace(chr(34), chr(34) * 2)}" AS SELECT * FROM predictions')
    con.close()
    before = digest(db)
    assert only_version(doc(capsys, db, "--table", name))["configurations"][0]["items"] == 3
    assert digest(db) == before


def test_labels_name_only_what_differs_and_stay_on_one_line():
    from _bench.layout import short_labels

    prompts = [{"model": m, "prompt_name": p, "prompt_user": f"Review:\n{p} text " * 9, "k_folds": 5}
               for m in ("large", "small") for p in ("one_word", "open")]
    assert short_labels(prompts) == ["model=large, prompt_name=one_word", "model=large, prompt_name=open",
                                     "model=small, prompt_name=one_word", "model=small, prompt_name=open"]
    (only,) = short_labels([{"note": "line one\nline two " + "x" * 60}])
    assert "\n" not in only and only.endswith("…") and len(only) == len("note=") + 40


# --- reading the verdicts: ties, adjusted p-values, the picture -------------------------------------------

def test_tied_configurations_share_a_rank_and_the_headline_says_tied(tmp_path, capsys):
    same = correctness(50, 0.8, 5)
    db = predictions_db(tmp_path / "t.db", "sqlite", {"a": same, "b": list(same), "c": correctness(50, 0.5, 6)})
    v = only_version(doc(capsys, db, "predictions"))
    assert [(c["label"], c["rank"], c["tied"]) for c in v["configurations"]] == [
        ("model=a", 1, True), ("model=b", 1, True), ("model=c", 3, False)]
    assert v["headline"].startswith("model=a is tied for best accuracy with model=b (higher is better): 0.800")
    _, out, _ = summary(capsys, db, "predictions")
    assert "| 1= | model=a |" in out and "| 1= | model=b |" in out and "| 3 | model=c |" in out


def test_different_estimates_are_ranked_without_ties(three_models, capsys):
    v = only_version(doc(capsys, three_models, "predictions"))
    assert [(c["rank"], c["tied"]) for c in v["configurations"]] == [(1, False), (2, False), (3, False)]
    assert "tied" not in v["headline"]


def test_the_picture_colours_every_tied_configuration_as_best(tmp_path, capsys):
    from _bench.summary.render import _verdicts_for_plot

    same = correctness(50, 0.8, 5)
    db = predictions_db(tmp_path / "t.db", "sqlite", {"a": same, "b": list(same), "c": correctness(50, 0.5, 6)})
    v = only_version(doc(capsys, db, "predictions"))
    assert _verdicts_for_plot(v, ACCURACY) == {"model=a": "best", "model=b": "best", "model=c": "worse"}


def test_a_difference_lost_to_the_adjustment_is_said_to_be_so_in_the_headline(tmp_path, capsys):
    # alpha is right on all 40 items; beta wrong on 6 of them (McNemar p = 2/64 = 0.031, below 0.05), gamma on
    # 2 (p = 0.5): Holm doubles the smaller p-value to 0.0625, so beta's verdict is no detectable difference
    # although its unadjusted interval may exclude zero.
    outcomes = {"alpha": [1] * 40, "beta": [0] * 6 + [1] * 34, "gamma": [0] * 2 + [1] * 38}
    db = predictions_db(tmp_path / "adj.db", "sqlite", outcomes)
    v = only_version(doc(capsys, db, "predictions"))
    beta = next(c for c in v["comparisons"] if c["configuration"] == "model=beta")
    assert beta["p_value"] == pytest.approx(mcnemar(outcomes["beta"], outcomes["alpha"]), rel=1e-3)
    assert beta["p_value"] < 0.05 <= beta["p_adjusted"] and beta["verdict"] == "no detectable difference"
    assert "no detectable difference from model=beta (+0.150 [" in v["headline"]
    assert "; differences are model=alpha minus each; " in v["headline"]
    assert "after adjusting for the 2 comparisons of its family" in v["headline"]
    gamma_part = v["headline"].split("model=gamma")[0]
    assert gamma_part.count("after adjusting") == 1  # gamma was never significant: it keeps the plain wording


def test_markdown_says_intervals_are_unadjusted_and_verdicts_follow_adjusted_p(three_models, capsys):
    _, out, _ = summary(capsys, three_models, "predictions")
    assert "Intervals: 95%, unadjusted" in out and "verdicts follow Holm-adjusted p-values" in out
    assert "difference vs best [95% CI, unadjusted]" in out and "verdict (from adjusted p)" in out
    _, out, _ = summary(capsys, three_models, "predictions", "--adjust", "none")
    assert "verdicts follow unadjusted p-values" in out and "verdict (from unadjusted p)" in out


@pytest.mark.parametrize("n_metrics", [1, 2])
def test_no_text_of_the_picture_is_cut_off_even_with_long_labels_and_names(tmp_path, capsys, n_metrics):
    import matplotlib.pyplot as plt
    from _bench.summary.render import figure

    long_metric = "validation_balanced_accuracy_macro_averaged_over_all_classes"  # xetrack keeps 64 characters
    rows = [{"model": m, "hyperparameters": f"[['n_estimators', 300], ['max_depth', {k}], ['criterion', 'gini']]",
             "input_id": i, long_metric: float((i * k) % 7) / 7, "latency_ms": 1.0 + i % 5} for k, m in enumerate(("forest", "tree", "knn"))
            for i in range(30)]
    db = log_rows(tmp_path / "long.db", rows, engine="sqlite", params={"experiment_version": "e1"}).db
    log_rows(db, [{**r, "model": r["model"] + "_v2"} for r in rows], engine="sqlite",
             params={"experiment_version": "e2-with-a-long-name-to-make-the-version-label-long"})
    metrics = ["--metric", f"{long_metric}:higher", "--metric", "latency_ms:lower"][:2 * n_metrics]
    fig = figure(doc(capsys, db, *metrics))
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        assert any(long_metric[:20] in ax.get_title() for ax in fig.axes)
        for ax in fig.axes:  # a title stays over its own panel, not over its neighbour's
            title, panel = ax.title.get_window_extent(renderer), ax.get_window_extent(renderer)
            assert panel.x0 - 2 <= title.x0 and title.x1 <= panel.x1 + 2, ax.get_title()
        drawn = fig.get_tightbbox(renderer)  # everything drawn, in inches
        width, height = fig.get_size_inches()
        assert drawn.x0 >= -0.01 and drawn.y0 >= -0.01, drawn
        assert drawn.x1 <= width + 0.01 and drawn.y1 <= height + 0.01, (drawn, width, height)
    finally:
        plt.close(fig)


# --- fresh-reader fixes: accuracy as a named metric, --reference, inputs x seeds, 0/1 effect sizes -----------

def test_help_names_accuracy_as_a_metric_and_documents_reference(capsys):
    code, out, _ = summary(capsys, "--help")
    flat = " ".join(out.split())
    assert code == 0
    assert "'accuracy' is also a valid name" in flat and "--metric accuracy:higher" in flat
    assert "--pairs best|all|none|CONFIG" in flat and "--reference CONFIG" in flat and "every pair" in flat


def correct_db(db: Path, outcomes: dict[str, list[int]]) -> Path:
    """A stored 0/1 `correct` column and no prediction/ground truth: accuracy is the mean of `correct`."""
    for model, oks in outcomes.items():
        log_rows(db, [{"model": model, "input_id": i, "correct": ok} for i, ok in enumerate(oks)],
                 engine="sqlite", table="predictions", params={"experiment_version": "e1"})
    return db


@pytest.mark.parametrize("spec", ["correct", "correct:higher", "accuracy:higher"])
def test_metric_correct_is_the_accuracy_it_derives_reported_once(tmp_path, capsys, spec):
    db = correct_db(tmp_path / "c.db", THREE)
    d = doc(capsys, db, "predictions", "--metric", spec)
    assert [m["name"] for m in d["inferred"]["measures"]["metrics"]] == ["accuracy"]
    v = only_version(d)
    assert len(v["comparisons"]) == 2  # one family of 2 p-values, not 4
    assert v["configurations"][0]["metrics"]["accuracy"]["estimate"] == pytest.approx(np.mean(THREE["alpha"]))


def test_metric_correct_lower_contradicts_accuracy_and_is_an_input_error(tmp_path, capsys):
    code, _, err = summary(capsys, correct_db(tmp_path / "c.db", THREE), "predictions", "--metric", "correct:lower")
    assert code == 2 and err.count("\n") == 1 and "higher-is-better" in err


def test_reference_compares_every_configuration_with_the_named_one(three_models, capsys):
    v = only_version(doc(capsys, three_models, "predictions", "--reference", "model=beta"))
    assert v["reference"] == "model=beta"
    comps = {c["configuration"]: c for c in v["comparisons"]}
    assert set(comps) == {"model=alpha", "model=gamma"}
    assert {c["reference"] for c in comps.values()} == {"model=beta"}
    for name in ("alpha", "gamma"):
        c = comps[f"model={name}"]
        assert c["delta"] == pytest.approx(np.mean(THREE[name]) - np.mean(THREE["beta"]), abs=1e-6)
        assert c["p_value"] == pytest.approx(mcnemar(THREE[name], THREE["beta"]), rel=1e-3)
    assert v["headline"].startswith("model=beta (the reference, rank 2)")


def test_reference_shows_in_markdown_csv_and_best_is_still_the_default(three_models, capsys):
    _, out, _ = summary(capsys, three_models, "predictions", "--reference", "model=beta")
    assert "vs the reference (model=beta)" in out and "vs the best" not in out
    _, out, _ = summary(capsys, three_models, "predictions", "--reference", "model=beta", "--csv")
    verdicts = {r["configuration"]: r["verdict"] for r in csv.DictReader(io.StringIO(out))}
    assert verdicts["model=beta"] == "reference"
    v = only_version(doc(capsys, three_models, "predictions"))
    assert v["reference"] is None and {c["reference"] for c in v["comparisons"]} == {"model=alpha"}


def test_reference_can_be_a_config_id(tmp_path, capsys):
    for cid, model in (("cfg-1", "alpha"), ("cfg-2", "beta")):
        rows = [{"config_id": cid, "model": model, **r} for r in prediction_rows(model, THREE[model])]
        log_rows(tmp_path / "id.db", rows, engine="sqlite", table="predictions", params={"experiment_version": "e1"})
    v = only_version(doc(capsys, tmp_path / "id.db", "predictions", "--reference", "cfg-2"))
    (c,) = v["comparisons"]
    assert (c["reference"], c["configuration"]) == ("model=beta", "model=alpha")


def test_an_unknown_reference_is_one_line_listing_the_labels_exit_2(three_models, capsys):
    code, out, err = summary(capsys, three_models, "predictions", "--reference", "model=delta")  # --pairs' alias
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("export_summary.py: error: --pairs 'model=delta' matches no configuration")
    assert "model=alpha; model=beta; model=gamma" in err


SEEDED = {"a": {s: correctness(30, 0.9, 70 + s) for s in range(4)},
          "b": {s: correctness(30, 0.6, 80 + s) for s in range(4)}}


def test_with_seeds_the_sample_size_says_inputs_times_seeds(tmp_path, capsys):
    db = seeded_db(tmp_path / "s.db", "sqlite", SEEDED)
    v = only_version(doc(capsys, db, "predictions"))
    inputs, seeds = len(SEEDED["a"][0]), len(SEEDED["a"])
    a = v["configurations"][0]
    assert (a["items"], a["inputs"], a["replicates"]) == (inputs * seeds, inputs, seeds)
    assert (a["metrics"]["accuracy"]["inputs"], a["metrics"]["accuracy"]["replicates"]) == (inputs, seeds)
    assert f"on {inputs} inputs x {seeds} seeds ({inputs * seeds} items)" in v["headline"]
    _, out, _ = summary(capsys, db, "predictions")
    assert "| items (inputs x seeds) |" in out and f"| {inputs * seeds} ({inputs} x {seeds}) |" in out


def test_without_replicates_the_sample_size_stays_items(three_models, capsys):
    v = only_version(doc(capsys, three_models, "predictions"))
    assert v["configurations"][0]["inputs"] is None and "on 60 items" in v["headline"]


def dz(diffs: np.ndarray) -> float:
    return float(diffs.mean() / diffs.std(ddof=1))


def test_a_0_1_metric_gets_no_cohen_size_word_for_its_effect(tmp_path, capsys):
    # error rate 4.4% vs 2.2% on 500 items: the error halves, yet d_z on 0/1 differences is "negligible" (< 0.2)
    outcomes = {"new": correctness(500, 0.978, 11), "old": correctness(500, 0.956, 12)}
    db = predictions_db(tmp_path / "b.db", "sqlite", outcomes)
    (c,) = only_version(doc(capsys, db, "predictions"))["comparisons"]
    expected = dz(np.array(outcomes["old"]) - np.array(outcomes["new"]))
    assert abs(expected) < 0.2  # the planted trap: Cohen's word would be "negligible"
    assert c["effect_size"]["value"] == pytest.approx(expected, abs=1e-6) and c["effect_size"]["magnitude"] is None
    _, out, _ = summary(capsys, db, "predictions")
    assert "(negligible)" not in out and "without Cohen's size words" in out


def test_continuous_scores_keep_the_cohen_size_word(tmp_path, capsys):
    rng = np.random.default_rng(3)
    base = rng.normal(size=80)
    other = base + 0.3 + rng.normal(size=80)
    db = scores_db(tmp_path / "s.db", "sqlite", {"a": base.tolist(), "b": other.tolist()})
    (c,) = only_version(doc(capsys, db, "predictions", "--metric", "score:higher"))["comparisons"]
    size = abs(dz(other - base)) if c["configuration"] == "model=b" else abs(dz(base - other))
    word = "negligible" if size < 0.2 else "small" if size < 0.5 else "medium" if size < 0.8 else "large"
    assert c["effect_size"]["magnitude"] == word


def nll_db(path: Path, models: tuple[str, ...]) -> Path:
    """Log loss per input and seed; model 'spiky' gives two inputs of seed 0 a loss of 40 (p = 4e-18)."""
    rng = np.random.default_rng(3)
    rows = [{"model": m, "input_id": i, "seed": s,
             "nll": 40.0 if (m == "spiky" and s == 0 and i < 2) else float(rng.uniform(0.05, 0.3))}
            for m in models for s in range(3) for i in range(50)]
    log_rows(path, rows, engine="sqlite", table="predictions")
    return path


def test_an_interval_past_every_observed_value_is_a_finding_naming_it(tmp_path, capsys):
    d = doc(capsys, nll_db(tmp_path / "spiky.db", ("calm", "spiky")), "predictions", "--metric", "nll:lower")
    (finding,) = [f for f in d["findings"] if f["check_id"] == "interval-beyond-data"]
    assert len(finding["examples"]) == 1 and finding["examples"][0].startswith("model=spiky: nll [-")
    assert "a few extreme items dominate" in finding["message"]
    spiky = next(c for c in only_version(d)["configurations"] if c["label"] == "model=spiky")
    assert spiky["metrics"]["nll"]["ci_low"] < 0  # the t interval over 3 seeds, as computed


def test_intervals_inside_the_observed_values_raise_no_such_finding(tmp_path, capsys):
    d = doc(capsys, nll_db(tmp_path / "calm.db", ("calm", "steady")), "predictions", "--metric", "nll:lower")
    assert d["counts"]["warning"] == 0 and "interval-beyond-data" not in {f["check_id"] for f in d["findings"]}


def test_a_mean_resting_on_a_few_items_is_a_finding_where_no_interval_says_so(tmp_path, capsys):
    """Trial X: an SVM's mean log loss 0.306, of which 43 confident mistakes among 5,391 items (nll 5 to 29) held
    0.119; its bootstrap interval stayed inside the data, so nothing said so. Planted: 1 % of 'spiky' items at
    5-29; a log-normal (sigma 1, a latency's skew) and a calm model stay quiet, as does a 0/1 metric."""
    rng = np.random.default_rng(8)
    spiky = rng.exponential(0.1, 2000)
    spiky[rng.choice(2000, 20, replace=False)] = rng.uniform(5, 29, 20)
    values = {"calm": rng.exponential(0.1, 2000), "skewed": rng.lognormal(-2, 1, 2000), "spiky": spiky}
    db = scores_db(tmp_path / "nll.db", "sqlite", {m: v.tolist() for m, v in values.items()}, column="nll")
    d = doc(capsys, db, "predictions", "--metric", "nll:lower")
    (finding,) = [f for f in d["findings"] if f["check_id"] == "mean-from-few-items"]
    share = np.sort(spiky)[-20:].sum() / spiky.sum()
    assert finding["examples"] == [f"model=spiky: nll: the largest 20 of 2,000 items hold {share:.0%} of its total"]
    assert finding["severity"] == "warning" and "interval-beyond-data" not in {f["check_id"] for f in d["findings"]}
    assert np.sort(values["skewed"])[-20:].sum() / values["skewed"].sum() < 0.25  # the quiet one is near: 9 %
    accuracy = doc(capsys, predictions_db(tmp_path / "acc.db", "sqlite", {"a": correctness(400, 0.03, 1)}),
                   "predictions")
    assert "mean-from-few-items" not in {f["check_id"] for f in accuracy["findings"]}  # 12 right of 400: 0/1


def test_a_metric_over_fewer_items_than_its_configuration_says_how_many_in_the_table(tmp_path, capsys):
    # unparsed answers, NULL scores: the interval is over the items that have a value, and the table says so
    rows = [{"model": m, "input_id": i, "score": None if (m == "b" and i < 2) else 0.5 + 0.01 * i}
            for m in ("a", "b") for i in range(20)]
    log_rows(tmp_path / "s.db", rows, engine="sqlite", table="predictions")
    code, out, _ = summary(capsys, tmp_path / "s.db", "predictions", "--metric", "score:higher")
    row = {line.split("|")[2].strip(): line for line in out.splitlines() if line.startswith("| ") and "model=" in line}
    assert code == 0 and "(n=18)" in row["model=b"] and "(n=" not in row["model=a"], out


def test_a_failure_retried_successfully_is_scored_on_its_success_and_a_repeat_keeps_the_first_logged(tmp_path,
                                                                                                      capsys):
    db = tmp_path / "retry.db"
    rows = [{"model": m, "input_id": i, "prediction": i % 2, "ground_truth": i % 2, "error": ""}
            for m in ("a", "b") for i in range(20)]
    rows[3] = {**rows[3], "error": "timeout", "prediction": None}  # a, input 3: failed in the first run
    log_rows(db, rows, engine="sqlite", track_id="run-1")
    log_rows(db, [{"model": "a", "input_id": 3, "prediction": 1, "ground_truth": 1, "error": ""},  # retried: right
                  {"model": "b", "input_id": 5, "prediction": 0, "ground_truth": 1, "error": ""}],  # repeat: wrong
             engine="sqlite", track_id="run-2")
    d = doc(capsys, str(db))
    configs = {c["label"]: c for c in d["versions"][0]["configurations"]}
    a, b = configs["model=a"], configs["model=b"]
    assert (a["failed"], a["retries_superseded"], a["duplicates_dropped"], a["items"]) == (0, 1, 0, 20)
    assert (b["failed"], b["retries_superseded"], b["duplicates_dropped"]) == (0, 0, 1)
    assert a["failures_repeated"] == b["failures_repeated"] == 0
    assert a["metrics"]["accuracy"]["estimate"] == b["metrics"]["accuracy"]["estimate"] == 1.0  # b's first row kept
    (comparison,) = d["versions"][0]["comparisons"]
    assert comparison["shared_items"] == 20
    found = {f["check_id"] for f in d["findings"]}
    assert {"retries-counted-once", "duplicates-counted-once"} <= found and "failures-excluded" not in found
    # every item right: the Wilson interval reaches below 1.0, as it must; that is not an extreme-items warning
    assert "interval-beyond-data" not in found


def test_p_values_keep_two_significant_digits_below_0_001_and_say_when_they_underflow():
    from _bench.summary.model import fmt_p
    assert [fmt_p(p) for p in (0.0123, 0.001, 5.7e-05, 2e-317, 0.0, None)] == \
        ["0.012", "0.001", "5.7e-05", "<1e-300", "<1e-300", "-"]


def test_failures_wrong_counts_a_failed_call_as_a_wrong_answer_in_accuracy_only(tmp_path, capsys):
    db = tmp_path / "fail.db"
    rows = [{"model": m, "input_id": i, "prediction": i % 2, "ground_truth": i % 2, "score": 0.5, "error": ""}
            for m in ("a", "b") for i in range(20)]
    for i in (3, 4):  # model a failed twice; its other answers are all right
        rows[i] = {**rows[i], "error": "RateLimitError: 429", "prediction": None, "score": None}
    log_rows(db, rows, engine="sqlite")
    common = (str(db), "--metric", "accuracy", "--metric", "score:higher")

    def by_label(d: dict) -> tuple[dict, dict]:
        version = only_version(d)
        return {c["label"]: c for c in version["configurations"]}, version["comparisons"]

    excluded, pairs = by_label(doc(capsys, *common))
    assert excluded["model=a"]["metrics"]["accuracy"]["estimate"] == 1.0 and excluded["model=a"]["metrics"]["accuracy"]["n"] == 18
    assert {c["shared_items"] for c in pairs} == {18}
    d = doc(capsys, *common, "--failures", "wrong")
    wrong, pairs = by_label(d)
    a = wrong["model=a"]["metrics"]
    assert (a["accuracy"]["estimate"], a["accuracy"]["n"]) == (0.9, 20)  # 18 of 20: the failures are wrong answers
    assert a["score"]["n"] == 18  # not a right/wrong metric: failures stay excluded
    accuracy = [c for c in pairs if c["metric"] == "accuracy"]
    assert accuracy[0]["shared_items"] == 20 and accuracy[0]["discordant"] in ([0, 2], [2, 0])
    assert d["options"]["failures"] == "wrong"
    (f,) = [f for f in d["findings"] if f["check_id"] == "failures-counted-wrong"]
    assert "count as wrong answers in accuracy (--failures wrong) and are excluded from score" in f["message"]


def test_failures_wrong_counts_a_miss_in_a_named_metric_holding_only_0_and_1(tmp_path, capsys):
    """A retrieval hit@10 named with --metric: its values are 0 or 1, so a timed-out query is a miss; a
    latency-like score beside it is not right/wrong and keeps excluding it."""
    db = tmp_path / "hits.db"
    rows = [{"model": m, "query_id": i, "hit_at_10": int(i % 3 > 0), "recall": (i % 5) / 4, "error": ""}
            for m in ("a", "b") for i in range(30)]
    for i in (1, 2, 4):  # model a timed out on three queries it would have hit
        rows[i] = {**rows[i], "error": "TimeoutError", "hit_at_10": None, "recall": None}
    log_rows(db, rows, engine="sqlite")
    common = (str(db), "--metric", "hit_at_10:higher", "--metric", "recall:higher")
    d = doc(capsys, *common, "--failures", "wrong")
    a = {c["label"]: c for c in only_version(d)["configurations"]}["model=a"]["metrics"]
    assert a["hit_at_10"]["n"] == 30 and a["hit_at_10"]["estimate"] == pytest.approx(17 / 30, abs=1e-6)  # 20 - 3
    assert a["recall"]["n"] == 27
    (f,) = [f for f in d["findings"] if f["check_id"] == "failures-counted-wrong"]
    assert "wrong answers in hit_at_10 (--failures wrong) and are excluded from recall" in f["message"]
    # only the non-0/1 metric: --failures wrong changes nothing, and the report says so
    d = doc(capsys, str(db), "--metric", "recall:higher", "--failures", "wrong")
    (f,) = [f for f in d["findings"] if f["check_id"] == "failures-excluded"]
    assert f["severity"] == "warning" and "--failures wrong was given, but no metric" in f["message"]
    excluded = {c["label"]: c for c in only_version(doc(capsys, *common))["configurations"]}["model=a"]["metrics"]
    assert excluded["hit_at_10"]["n"] == 27


@pytest.mark.parametrize("retried", [("a",), ("a", "b"), ()])
def test_failures_retried_in_some_configurations_only_are_a_warning(tmp_path, capsys, retried):
    db = tmp_path / "retries.db"
    rows = [{"model": m, "input_id": i, "correct": None if i < 3 else 1, "error": "Timeout" if i < 3 else ""}
            for m in "abc" for i in range(20)]
    rows = [r for r in rows if not (r["model"] == "c" and r["error"])]  # c never failed
    rows += [{"model": m, "input_id": i, "correct": 1, "error": ""} for m in retried for i in range(3)]
    log_rows(db, rows, engine="sqlite")
    found = [f for f in doc(capsys, str(db))["findings"] if f["check_id"] == "uneven-retries"]
    if len(retried) != 1:  # all failing configurations retried, or none: nothing uneven
        assert found == []
        return
    (f,) = found
    assert f["severity"] == "warning" and "retried in 1 configurations but not in 1 others" in f["message"]
    assert f["examples"] == ["model=a: 3 failures retried successfully", "model=b: 3 failures, none retried"]


def test_a_small_cost_per_item_is_printed_in_plain_decimals(tmp_path, capsys):
    """Trial G: the cost per review read 6.659e-05, which a reader multiplies out by hand."""
    db = tmp_path / "cheap.db"
    log_rows(db, [{"model": m, "input_id": i, "passed": int(i % 3 > 0), "cost_usd": cost, "error": ""}
                  for m, cost in (("a", 6.659e-05), ("b", 0.15)) for i in range(40)], engine="sqlite")
    out = summary(capsys, str(db), "--metric", "passed:higher")[1]
    assert "cost_usd (total, per item)" in out and "e-0" not in out
    assert ", 0.00006659 |" in out and ", 0.15 |" in out


def test_cost_per_right_answer_is_the_spend_over_the_right_answers_with_the_rates_interval(tmp_path, capsys):
    db = tmp_path / "spend.db"
    log_rows(db, [{"model": m, "problem_id": i, "passed": int(i < (30 if m == "a" else 10)),
                   "cost_usd": 0.5 if m == "a" else 0.1, "error": ""} for m in "ab" for i in range(40)],
             engine="sqlite")
    d = doc(capsys, str(db), "--metric", "passed:higher")
    by = {c["label"]: c for c in only_version(d)["configurations"]}
    a, b = by["model=a"], by["model=b"]
    assert a["cost_per_right"]["estimate"] == pytest.approx(20.0 / 30) and b["cost_per_right"]["estimate"] == 0.4
    low, high = wilson(30, 40)  # the right-answer rate's interval, the spend taken as fixed
    assert (a["cost_per_right"]["ci_low"], a["cost_per_right"]["ci_high"]) == pytest.approx(
        (20.0 / (high * 40), 20.0 / (low * 40)), rel=1e-5)
    out = summary(capsys, str(db), "--metric", "passed:higher")[1]
    assert "cost_usd per right answer (passed) [95% CI]" in out and "| 0.666667 [" in out
    # and in the results table (trial N: analysis.md said so; only the JSON had it); `cost` is the total
    rows = {r["configuration"]: r for r in csv.DictReader(io.StringIO(
        summary(capsys, str(db), "--metric", "passed:higher", "--csv", "--wide")[1]))}
    for label, c in by.items():
        per_right = c["cost_per_right"]
        assert [rows[label][f] for f in ("cost_per_right_metric", "cost_per_right", "cost_per_right_ci_low",
                                         "cost_per_right_ci_high")] == [
            "passed", *(str(per_right[k]) for k in ("estimate", "ci_low", "ci_high"))]
        assert float(rows[label]["cost"]) == pytest.approx(c["cost"])
        # and per item (trial Z2: "cost per ticket" was a total or per right answer): the spend over the items
        assert c["cost_per_item"] == pytest.approx({"model=a": 0.5, "model=b": 0.1}[label])
        assert float(rows[label]["cost_per_item"]) == pytest.approx(c["cost_per_item"])
    scores = tmp_path / "scores.db"  # a score is not right/wrong: no cost per right answer
    log_rows(scores, [{"model": "a", "problem_id": i, "bleu": i / 40, "cost_usd": 0.5, "error": ""}
                      for i in range(40)], engine="sqlite")
    assert only_version(doc(capsys, str(scores), "--metric", "bleu:higher"))["configurations"][0][
        "cost_per_right"] is None


def test_completion_tokens_are_the_tokens_column_when_no_total_is_logged(tmp_path, capsys):
    db = tmp_path / "gen.db"
    log_rows(db, [{"model": m, "problem_id": i, "passed": i % 2, "completion_tokens": 10 * (m == "b") + i,
                   "error": ""} for m in "ab" for i in range(4)], engine="sqlite")
    d = doc(capsys, str(db), "--metric", "passed:higher")
    assert d["inferred"]["measures"]["tokens"] == "completion_tokens"
    assert [c["tokens"] for c in only_version(d)["configurations"]] in ([6.0, 46.0], [46.0, 6.0])
    for shape in ([], ["--wide"]):  # a benchmark that records tokens has the column, one without cost has none
        assert export_summary.main([str(db), "--metric", "passed:higher", "--csv", *shape]) == 0
        header = next(csv.reader(io.StringIO(capsys.readouterr().out)))
        assert "tokens" in header and "cost" not in header


def test_a_detectable_difference_beyond_a_0_1_metrics_range_is_reported_as_none_detectable(tmp_path, capsys):
    """Two seeds leave the cluster-robust t one degree of freedom: it would take a difference above 1, which a
    0/1 metric cannot have. The report says no possible difference would be detected, not 'mdd 1.4'."""
    db = tmp_path / "two_seeds.db"
    wrong_b = {0: {1, 2}, 1: {1, 2, 3, 4, 5, 6}}  # b misses 2 items under seed 0, 6 under seed 1
    log_rows(db, [{"model": m, "seed": s, "input_id": i, "correct": int(m == "a" or i not in wrong_b[s])}
                  for m in "ab" for s in (0, 1) for i in range(20)], engine="sqlite")
    (comp,) = only_version(doc(capsys, str(db)))["comparisons"]
    assert comp["test"] == "cluster-robust-t" and comp["detectable"]["difference"] is None
    assert comp["detectable"]["note"].startswith("no possible difference of a 0/1 metric would be detected")
    code, out, _ = summary(capsys, str(db))
    assert "n/a: no possible difference of a 0/1 metric would be detected" in out


def test_configurations_scored_on_fewer_items_are_a_warning_and_the_items_column_does_not_multiply(tmp_path,
                                                                                                   capsys):
    db = tmp_path / "seeds.db"
    rows = [{"model": m, "seed": s, "input_id": i, "prediction": i % 2, "ground_truth": i % 2, "error": "",
             "latency_ms": 10.0 + i}  # a latency column with its unit (ms): the seeds' unit must stay "seeds"
            for m in ("a", "b") for s in range(3) for i in range(20) if not (m == "b" and s == 2 and i >= 12)]
    log_rows(db, rows, engine="sqlite")
    code, out, _ = summary(capsys, str(db))
    assert code == 0 and "| 52 (20 inputs, 3 seeds; not all crossed) |" in out and "| 60 (20 x 3) |" in out
    d = doc(capsys, str(db))
    (f,) = [f for f in d["findings"] if f["check_id"] == "unequal-items"]
    assert f["severity"] == "warning" and f["examples"] == ["model=b: 52 of 60 items"]
    full = tmp_path / "full.db"
    log_rows(full, [r for r in rows if r["model"] == "a"] + [{**r, "model": "b"} for r in rows if r["model"] == "a"],
             engine="sqlite")
    assert "unequal-items" not in {f["check_id"] for f in doc(capsys, str(full))["findings"]}


def test_three_seeds_on_the_same_items_say_what_their_intervals_measure(tmp_path, capsys):
    db = tmp_path / "seeds3.db"
    # seed 1 answers input 3 otherwise: the seeds re-draw results (identical seeds only re-measure, see
    # test_replicates_that_repeat_every_score_make_the_input_the_unit)
    rows = [{"model": m, "seed": s, "input_id": i, "prediction": (i + (s == 1 and i == 3)) % 2,
             "ground_truth": (i + (m == "b")) % 2, "error": ""} for m in ("a", "b") for s in range(3) for i in range(20)]
    log_rows(db, rows, engine="sqlite")
    (f,) = [f for f in doc(capsys, str(db))["findings"] if f["check_id"] == "few-seeds"]
    assert f["severity"] == "info" and "rest on 3 seeds (2 degrees of freedom)" in f["message"]
    assert "--filter seed=K" in f["hint"]
    many = tmp_path / "seeds6.db"
    log_rows(many, [{**r, "seed": s} for r in rows if r["seed"] == 0 for s in range(6)], engine="sqlite")
    assert "few-seeds" not in {f["check_id"] for f in doc(capsys, str(many))["findings"]}


def test_an_item_that_failed_on_every_attempt_counts_as_one_failure_and_the_repeats_are_said(tmp_path, capsys):
    db = tmp_path / "again.db"
    rows = [{"model": m, "input_id": i, "prediction": i % 2, "ground_truth": i % 2, "error": ""}
            for m in ("a", "b") for i in range(10)]
    rows[2] = {**rows[2], "error": "timeout", "prediction": None}
    log_rows(db, rows, engine="sqlite", track_id="run-1")
    log_rows(db, [{**rows[2]}, {**rows[2]}], engine="sqlite", track_id="run-2")  # retried twice, failed again
    d = doc(capsys, str(db))
    a = {c["label"]: c for c in d["versions"][0]["configurations"]}["model=a"]
    assert (a["failed"], a["failures_repeated"], a["duplicates_dropped"], a["retries_superseded"]) == (1, 2, 0, 0)
    (f,) = [f for f in d["findings"] if f["check_id"] == "failures-excluded"]
    assert f["message"].startswith("1 items that only failed (non-empty error) (2 more failed rows are repeated")


def per_fold_db(path: Path) -> Path:
    """One row per (model, seed, fold), as the sklearn template's `scores` table: item_id names the fold, and
    model a's balanced accuracy sits near 1, so its t interval over 15 folds passes 1."""
    rng = np.random.default_rng(5)
    rows = [{"model": m, "seed": s, "fold": f, "item_id": f"seed{s}/fold{f}",
             "balanced_accuracy": float(min(1.0, (0.97 if m == "a" else 0.9) + rng.choice([0.03, 0.0, -0.06])))}
            for m in ("a", "b") for s in range(3) for f in range(5)]
    log_rows(path, rows, engine="sqlite", table="scores")
    return path


def test_a_per_fold_table_counts_folds_not_inputs_and_plans_in_examples(tmp_path, capsys):
    db = per_fold_db(tmp_path / "folds.db")
    code, out, _ = summary(capsys, db, "scores", "--metric", "balanced_accuracy:higher", "--items-needed", "0.001")
    rows = [line for line in out.splitlines() if line.startswith("| ") and "model=" in line and "folds (" in line]
    assert code == 0 and len(rows) == 2 and all("15 folds (3 seeds x 5 folds)" in r for r in rows), out
    assert "items (inputs x seeds)" not in out and "on 15 folds (3 seeds x 5 folds)" in out
    assert "a data set about" in out and "x the inputs" not in out
    assert "| corrected resampled t |" in out and "d_z here is per item" not in out  # here d_z is over folds


def test_an_interval_past_the_edge_of_its_values_names_that_cause_not_extreme_items(tmp_path, capsys):
    d = doc(capsys, per_fold_db(tmp_path / "folds.db"), "scores", "--metric", "balanced_accuracy:higher")
    (finding,) = [f for f in d["findings"] if f["check_id"] == "interval-beyond-data"]
    a = next(c for c in only_version(d)["configurations"] if c["label"] == "model=a")
    assert a["metrics"]["balanced_accuracy"]["ci_high"] > 1.0  # the corrected t interval, as computed
    assert "near the edge" in finding["message"] and "extreme items" not in finding["message"]
    assert any(e.startswith("model=a: balanced_accuracy [") for e in finding["examples"])


def test_replicates_that_repeat_every_score_make_the_input_the_unit(tmp_path, capsys):
    """Trial T: 5 timed repeats of a deterministic parser; with the repeat as the unit every repeat had the same
    accuracy, so the interval had no width (0.733 [0.733, 0.733]) and p was 0."""
    rows = [{"parser": p, "repeat": r, "input_id": i, "prediction": i % 2 if p == "a" or i % 4 else 1 - i % 2,
             "ground_truth": i % 2, "latency_ms": 1.0 + (i * 7 + r) % 5} for p in ("a", "b") for r in range(5)
            for i in range(80)]
    log_rows(tmp_path / "repeats.db", rows, engine="sqlite")
    d = doc(capsys, tmp_path / "repeats.db")
    (f,) = [f for f in d["findings"] if f["check_id"] == "replicates-remeasure"]
    assert "Every input scored the same in each of its repeat values" in f["message"]
    assert "interval-without-width" not in {f["check_id"] for f in d["findings"]}
    b = next(c for c in only_version(d)["configurations"] if c["label"] == "parser=b")["metrics"]["accuracy"]
    assert b["n"] == 80 and b["ci_low"] < 0.75 < b["ci_high"] and b["ci_high"] - b["ci_low"] > 0.1
    (c,) = only_version(d)["comparisons"]
    assert c["ci_low"] < c["delta"] < c["ci_high"] and c["p_value"] > 1e-10
    forced = doc(capsys, tmp_path / "repeats.db", "--unit", "replicate")
    found = {f["check_id"]: f for f in forced["findings"]}
    assert "replicates-remeasure" not in found and "interval-without-width" in found  # said, not silent
    assert any(e.startswith("parser=b: accuracy 0.75 [0.75, 0.75]") for e in found["interval-without-width"]["examples"])
    # trial V: latency as a metric varies between repeats by nature; the scores still only re-measure
    timed = doc(capsys, tmp_path / "repeats.db", "--metric", "latency_ms:lower", "--metric", "accuracy:higher")
    assert "replicates-remeasure" in {f["check_id"] for f in timed["findings"]}


def test_latency_per_input_takes_each_inputs_median_first_and_needs_repeats(tmp_path, capsys):
    """Trial T: 5 timings of each (parser, input); the user wanted the p95 of each input's median."""
    rng = np.random.default_rng(9)
    base = rng.lognormal(3, 0.5, size=60)
    rows = [{"parser": p, "repeat": r, "input_id": i, "prediction": 1, "ground_truth": 1,
             "latency_us": float(base[i] * (2 if p == "b" else 1) * rng.lognormal(0, 0.3))}
            for p in ("a", "b") for r in range(5) for i in range(60)]
    log_rows(tmp_path / "t.db", rows, engine="sqlite")
    d = doc(capsys, tmp_path / "t.db", "--latency-per-input", "median")
    a = next(c for c in only_version(d)["configurations"] if c["label"] == "parser=a")["latency"]
    medians = [np.median([r["latency_us"] for r in rows if r["parser"] == "a" and r["input_id"] == i])
               for i in range(60)]
    assert (a["n"], a["per_input"]) == (60, "median")
    assert a["p95"] == pytest.approx(np.percentile(medians, 95), rel=1e-6)
    code, out, _ = summary(capsys, tmp_path / "t.db", "--latency-per-input", "median")
    assert code == 0 and "latency_us, of each input's median p50" in out
    single = tmp_path / "single.db"
    log_rows(single, [{k: v for k, v in r.items() if k != "repeat"} for r in rows if r["repeat"] == 0],
             engine="sqlite")  # one timing per (parser, input): nothing to take a median of
    code, _, err = call_main(export_summary.main, capsys, str(single), "--latency-per-input", "min")
    assert code == 2 and err.count("\n") == 1 and "needs repeated rows of an input" in err


@pytest.mark.parametrize("calls, p95_open, p99_open", [(40, True, True), (80, False, True), (400, False, False)])
def test_an_open_percentile_end_is_explained_with_the_calls_it_would_need(tmp_path, engine, capsys, calls, p95_open,
                                                                         p99_open):
    """Trial: 'p95 [229.960, ?]' was printed and nowhere explained. Below 72 calls the upper end of p95's 95 %
    interval is beyond the data, below 368 p99's (trial L: p99's interval is in the table too); the table says so
    and how many calls would bound each; with enough, no note."""
    db = predictions_db(tmp_path / "few.db", engine, {"a": correctness(calls, 0.8, 1), "b": correctness(calls, 0.6, 2)})
    d = doc(capsys, str(db), "predictions")
    for p, is_open in (("p95", p95_open), ("p99", p99_open)):
        assert {c["latency"][f"{p}_ci"][1] is None for c in only_version(d)["configurations"]} == {is_open}
    _, out, _ = summary(capsys, str(db), "predictions")
    assert ("its upper end for p95 needs at least 72 independent calls" in out) == p95_open
    assert ("its upper end for p99 needs at least 368 independent calls" in out) == p99_open
    assert ("A '?' end: the data cannot bound it at 95% (" in out) == p99_open and ("?]" in out) == p99_open


def test_text_item_keys_hash_the_same_in_every_process_and_environment_whatever_the_string_hash_seed():
    """Trial O: with text input ids, export_summary's output changed with PYTHONHASHSEED: items were keyed by
    Python's str hash(), which changes per process, and their order (per-input means, sums, bootstrap draws)
    followed it: a mean's last digit moved, and once whether a p99 had an upper end. The keys are now hashed
    the same in every process (checked here in three, each with its own seed) and without pandas (the third
    cannot import it: pandas' hash had been used where present, Python's hash() where not, so a report still
    depended on the environment). Keys apart stay apart: trailing NUL, non-ASCII, longer than keyhash.LONG."""
    keys = ["payload-001", "payload-002|3|1", "", "é", "a", "a\x00", "x" * 70, "x" * 69 + "y", "x" * 64]
    code = ("import json, sys; sys.path.insert(0, 'scripts'); {block}"
            "from _bench.summary.scan import stable_hashes; "
            f"print(json.dumps([int(h) for h in stable_hashes({keys!r})]))")
    printed = set()
    for seed, block in (("1", ""), ("2", ""), ("3", "sys.modules['pandas'] = None; ")):
        proc = run_python("-c", code.format(block=block), cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": seed})
        assert proc.returncode == 0, proc.stderr
        printed.add(proc.stdout)
    (one,) = printed
    assert len(set(json.loads(one))) == len(keys)  # every key its own hash
    # and a key's hash does not depend on the keys read with it (a chunk's longest key sets numpy's width)
    from _bench.summary.scan import stable_hashes

    alone = [int(stable_hashes([k])[0]) for k in keys]
    assert alone == json.loads(one) == [int(h) for h in stable_hashes([*keys, "z" * 50])[:-1]]


def test_the_open_end_note_comes_only_with_an_open_end_shown(tmp_path, capsys):
    """Trial H: replayed configurations read '-' for latency, and the note on '?' ends came although no '?' was
    in the table. A configuration without latencies adds no open end."""
    db = tmp_path / "replayed.db"
    rows = [{"model": "a", "input_id": i, "correct": int(i % 3 > 0), "latency_ms": 10 + i % 7, "error": "",
             "cache": ""} for i in range(400)]
    rows += [{"model": "b", "input_id": i, "correct": int(i % 4 > 0), "latency_ms": 0.0, "error": "",
              "cache": "run-0"} for i in range(400)]
    log_rows(db, rows, engine="sqlite", table="predictions")
    code, out, err = call_main(export_summary.main, capsys, str(db), "predictions", "--metric", "correct:higher")
    assert code == 0, err
    table = out.split("## Results")[1].split("\n\n")[1]
    assert "| model=b |" in table and "?" not in table and "A '?' end" not in out
    few = tmp_path / "few.db"  # 20 calls: p95's upper end is open, and shown as '?', so the note stays
    log_rows(few, [r for r in rows if r["input_id"] < 20], engine="sqlite", table="predictions")
    code, out, err = call_main(export_summary.main, capsys, str(few), "predictions", "--metric", "correct:higher")
    assert "?]" in out.split("## Results")[1] and "A '?' end" in out


def test_xetracks_function_time_as_the_latency_is_said_to_be_the_whole_tracked_call(tmp_path, capsys):
    """Trial H read the sklearn template's per-fold summary's latency (function_time, the fit, predictions and
    scoring together) as the fit time. When it is picked for want of another, an info finding says what it is."""
    db = tmp_path / "tracked.db"
    log_rows(db, [{"model": m, "input_id": i, "correct": int((i + k) % 3 > 0), "function_time": 0.01 * (1 + i % 5),
                   "error": ""} for k, m in enumerate(("a", "b")) for i in range(40)], engine="sqlite", table="scores")
    found = {}
    for name, extra in (("picked", []), ("named", ["--latency-col", "function_time"])):
        code, out, err = call_main(export_summary.main, capsys, str(db), "scores", "--metric", "correct:higher",
                                   "--json", *extra)
        assert code == 0, err
        doc = json.loads(out)
        assert doc["inferred"]["measures"]["latency"] == "function_time"
        found[name] = [f for f in doc["findings"] if f["check_id"] == "latency-is-function-time"]
    (finding,) = found["picked"]
    assert finding["severity"] == "info" and "--latency-col fit_seconds" in finding["hint"]
    assert found["named"] == []

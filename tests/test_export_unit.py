"""export_summary.py --unit input: with replicates (seeds, K samples per question) and no fold, each input's mean
over its replicates is the unit. Checked against pandas/scipy on the same rows, written by xetrack."""

from __future__ import annotations

import json

import export_summary
import numpy as np
import pandas as pd
import pytest
from helpers import call_main
from scipy import stats
from xetrack_fixtures import log_rows

pytestmark = pytest.mark.usefixtures("reading")  # every test whole and in slices (conftest.py)

MODELS = {"arima": 0.0, "ets": 0.12, "theta": 0.30}  # true offsets of the error over every series


def forecasts(series: int = 40, seeds: int = 3, drop: set | None = None) -> list[dict]:
    """MAE per (model, series, seed): a series' difficulty shared by every model, the model's offset, and fit
    noise that each seed re-draws. `drop`: (model, series, seed) rows that were never logged."""
    rng = np.random.default_rng(7)
    hard = rng.gamma(2.0, 1.0, series)
    rows = []
    for model, offset in MODELS.items():
        for s in range(series):
            for seed in range(seeds):
                if drop and (model, s, seed) in drop:
                    continue
                rows.append({"model": model, "series_id": s, "seed": seed, "error": "",
                             "mae": float(hard[s] + offset + rng.normal(0, 0.25))})
    return rows


def report(capsys, *argv) -> dict:
    code, out, err = call_main(export_summary.main, capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def by_label(d: dict) -> tuple[dict, dict]:
    (v,) = d["versions"]
    configs = {c["label"]: c for c in v["configurations"]}
    pairs = {(c["configuration"], c["reference"]): c for c in v["comparisons"]}
    return configs, pairs


def test_each_input_is_its_mean_over_the_seeds_and_the_tests_pair_those_means(tmp_path, capsys, engine):
    db = tmp_path / "forecasts.db"
    rows = forecasts()
    log_rows(db, rows, engine=engine, table="runs")
    d = report(capsys, str(db), "runs", "--metric", "mae:lower", "--pairs", "all", "--unit", "input")
    configs, pairs = by_label(d)
    means = pd.DataFrame(rows).groupby(["model", "series_id"])["mae"].mean().unstack("model")
    for model in MODELS:
        m = configs[f"model={model}"]["metrics"]["mae"]
        assert m["n"] == 40 and m["estimate"] == pytest.approx(means[model].mean())
    c = pairs[("model=ets", "model=arima")]
    diff = means["ets"] - means["arima"]
    assert c["shared_items"] == 40 and c["delta"] == pytest.approx(diff.mean(), abs=1e-6)
    assert c["test"] == "wilcoxon" and c["p_value"] == pytest.approx(stats.wilcoxon(diff).pvalue, rel=1e-3)
    assert c["verdict"] == "worse" and d["options"]["unit"] == "input"
    assert "on 40 inputs (each the mean over its seeds, 3 in all)" in d["versions"][0]["headline"]
    ids = {f["check_id"] for f in d["findings"]}
    assert "unit-input" in ids and "few-seeds" not in ids


def test_by_default_a_seed_is_the_unit_and_its_finding_names_the_other_choice(tmp_path, capsys):
    db = tmp_path / "forecasts.db"
    log_rows(db, forecasts(), engine="sqlite", table="runs")
    d = report(capsys, str(db), "runs", "--metric", "mae:lower", "--pairs", "all")
    configs, pairs = by_label(d)
    assert configs["model=ets"]["metrics"]["mae"]["n"] == 120
    assert pairs[("model=ets", "model=arima")]["test"] != "wilcoxon"  # the cluster-robust t over 3 seeds
    (f,) = [f for f in d["findings"] if f["check_id"] == "few-seeds"]
    assert "--unit input" in f["hint"]
    # what the choice is for: three seeds leave 2 degrees of freedom; forty series detect a far smaller offset
    by_seed = pairs[("model=ets", "model=arima")]["detectable"]["difference"]
    by_input = by_label(report(capsys, str(db), "runs", "--metric", "mae:lower", "--pairs", "all", "--unit",
                               "input"))[1][("model=ets", "model=arima")]["detectable"]["difference"]
    assert by_input < by_seed / 3, (by_input, by_seed)


def test_a_pair_averages_only_the_seeds_both_sides_have(tmp_path, capsys):
    db = tmp_path / "gaps.db"
    drop = {("ets", s, 2) for s in range(0, 40, 2)}  # ets lacks seed 2 on every other series
    rows = forecasts(drop=drop)
    log_rows(db, rows, engine="sqlite", table="runs")
    d = report(capsys, str(db), "runs", "--metric", "mae:lower", "--pairs", "all", "--unit", "input")
    frame = pd.DataFrame(rows)
    shared = frame[frame.model == "ets"].merge(frame[frame.model == "theta"], on=["series_id", "seed"])
    diff = (shared.mae_x - shared.mae_y).groupby(shared.series_id).mean()
    c = by_label(d)[1][("model=theta", "model=ets")]
    assert c["delta"] == pytest.approx(-diff.mean(), abs=1e-6)
    assert c["p_value"] == pytest.approx(stats.wilcoxon(-diff).pvalue, rel=1e-3)
    # over every seed of each side the difference would be another number: the pairing is what is checked
    assert abs(frame[frame.model == "theta"].mae.mean() - frame[frame.model == "ets"].mae.mean() + diff.mean()) > 1e-4


def test_k_samples_per_question_are_averaged_into_a_per_question_solve_rate(tmp_path, capsys):
    db = tmp_path / "samples.db"
    rng = np.random.default_rng(3)
    skill = {"small": 0.45, "large": 0.6}
    ease = rng.uniform(-0.3, 0.3, 50)
    rows = [{"model": m, "question_id": q, "sample_idx": k, "error": "", "cost_usd": 0.001 * (1 + q % 3),
             "passed": int(rng.random() < min(1.0, max(0.0, p + ease[q])))}
            for m, p in skill.items() for q in range(50) for k in range(4)]
    log_rows(db, rows, engine="sqlite", table="evals")
    d = report(capsys, str(db), "evals", "--metric", "passed:higher")  # a sample index: the input by default
    assert d["inferred"]["layout"]["replicate"] == ["sample_idx"] and d["options"]["unit"] == "input"
    configs, pairs = by_label(d)
    rate = pd.DataFrame(rows).groupby(["model", "question_id"])["passed"].mean().unstack("model")
    assert configs["model=large"]["metrics"]["passed"]["n"] == 50
    assert configs["model=large"]["metrics"]["passed"]["estimate"] == pytest.approx(rate["large"].mean())
    (c,) = pairs.values()
    assert c["test"] == "wilcoxon"  # fractions, not 0/1: McNemar does not apply
    assert c["p_value"] == pytest.approx(stats.wilcoxon(rate["small"] - rate["large"]).pvalue, rel=1e-3)
    # the spend over the right answers counts samples, whatever the unit of the interval
    frame = pd.DataFrame(rows)
    spend = frame.groupby("model").cost_usd.sum() / frame.groupby("model").passed.sum()
    per_right = configs["model=large"]["cost_per_right"]
    assert per_right["estimate"] == pytest.approx(spend["large"], rel=1e-5)
    assert per_right["ci_low"] < per_right["estimate"] < per_right["ci_high"]
    as_clusters = report(capsys, str(db), "evals", "--metric", "passed:higher", "--unit", "replicate")
    assert by_label(as_clusters)[0]["model=large"]["cost_per_right"]["estimate"] == per_right["estimate"]
    assert as_clusters["options"]["unit"] == "replicate"
    assert as_clusters["versions"][0]["comparisons"][0]["shared_items"] == 200  # (question, sample) items


@pytest.mark.parametrize("rows, message", [
    ([{"model": m, "input_id": i, "score": i / 7} for m in "ab" for i in range(10)], "no replicate column"),
    ([{"model": m, "seed": s, "fold": f, "input_id": 10 * f + i, "score": i / 7} for m in "ab" for s in range(2)
      for f in range(2) for i in range(5)], "repeated cross-validation"),
])
def test_unit_input_where_it_cannot_apply_is_one_line_exit_2(tmp_path, capsys, rows, message):
    db = tmp_path / "bench.db"
    log_rows(db, rows, engine="sqlite")
    code, out, err = call_main(export_summary.main, capsys, str(db), "--metric", "score", "--unit", "input")
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err

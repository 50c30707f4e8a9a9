"""export_summary.py --within COLS: pairs only between configurations that share those columns' values (each
model across two runs; each model's prompts), adjusted as one family of just those pairs."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import export_summary
import numpy as np
import pandas as pd
import pytest
from helpers import call_main
from summary_fixtures import correctness
from xetrack_fixtures import log_rows

pytestmark = pytest.mark.usefixtures("reading")  # every test whole and in slices (conftest.py)

RATES = {"coder-7b": 0.55, "coder-13b": 0.70, "gpt-x-mini": 0.80}


def outcomes(model: str, flipped: int = 0) -> list[int]:
    oks = correctness(300, RATES[model], len(model))
    return [1 - ok if i < flipped else ok for i, ok in enumerate(oks)]


@pytest.fixture
def run_and_rerun(tmp_path, engine):
    """Two runs of three models on the same 300 problems; the re-run flips 60 of gpt-x-mini's results."""
    db = tmp_path / "evals.db"
    for run, flips in (("run-a", 0), ("run-b", 60)):
        rows = [{"model": m, "problem_id": i, "passed": ok, "error": ""}
                for m in RATES for i, ok in enumerate(outcomes(m, flips if m == "gpt-x-mini" else 0))]
        log_rows(db, rows, engine=engine, table="evals", track_id=run)
    return db


def report(capsys, *argv) -> dict:
    code, out, err = call_main(export_summary.main, capsys, *map(str, argv), "--json")
    assert code == 0, err
    return json.loads(out)


def holm(p: list[float]) -> list[float]:
    order = np.argsort(p)
    adjusted, running = [0.0] * len(p), 0.0
    for step, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - step) * p[i]))
        adjusted[i] = running
    return adjusted


def test_each_model_is_compared_only_with_itself_across_runs_in_one_family_of_those_pairs(run_and_rerun, capsys):
    common = [run_and_rerun, "evals", "--metric", "passed:higher", "--config-cols", "model,track_id"]
    d = report(capsys, *common, "--pairs", "all", "--within", "model")
    (v,) = d["versions"]
    found = {c["configuration"].split(",")[0]: c for c in v["comparisons"]}
    assert len(v["comparisons"]) == 3 and all(
        c["configuration"].split(",")[0] == c["reference"].split(",")[0] for c in v["comparisons"])
    assert {c["family_size"] for c in v["comparisons"]} == {3} and d["options"]["within"] == ["model"]
    # each pair alone (one model's rows) gives the same test; Holm over the three gives the adjusted p
    alone = {m: report(capsys, *common, "--pairs", "all", "--filter", f"model={m}")["versions"][0]["comparisons"]
             for m in RATES}
    for m, (one,) in alone.items():
        assert found[f"model={m}"]["p_value"] == one["p_value"] and found[f"model={m}"]["delta"] == one["delta"]
    models = list(RATES)
    expected = holm([alone[m][0]["p_value"] for m in models])
    assert [found[f"model={m}"]["p_adjusted"] for m in models] == pytest.approx(expected, rel=1e-3)
    assert found["model=gpt-x-mini"]["discordant"] and sum(found["model=gpt-x-mini"]["discordant"]) == 60
    assert found["model=coder-7b"]["delta"] == 0 and found["model=coder-7b"]["verdict"] == "no detectable difference"
    # without --within the same question is 15 pairs, 12 of them across models
    assert len(report(capsys, *common, "--pairs", "all")["versions"][0]["comparisons"]) == 15


def prompts_db(db: Path, rates: dict[tuple[str, str], float]) -> Path:
    """200 items per (model, prompt), right at about its rate."""
    rows = [{"model": m, "prompt": p, "item_id": i, "correct": ok, "error": ""}
            for (m, p), r in rates.items() for i, ok in enumerate(correctness(200, r, len(m + p)))]
    log_rows(db, rows, engine="sqlite")
    return db


def test_best_within_compares_each_prompt_with_its_own_models_best(tmp_path, capsys):
    db = prompts_db(tmp_path / "prompts.db", {("small", "terse"): 0.5, ("small", "cot"): 0.7, ("large", "terse"): 0.9,
                                              ("large", "cot"): 0.85, ("large", "few_shot"): 0.6})
    d = report(capsys, db, "--metric", "correct:higher", "--config-cols", "model,prompt", "--within", "model")
    refs = {c["configuration"]: c["reference"] for c in d["versions"][0]["comparisons"]}
    assert refs == {"model=small, prompt=terse": "model=small, prompt=cot",
                    "model=large, prompt=cot": "model=large, prompt=terse",
                    "model=large, prompt=few_shot": "model=large, prompt=terse"}
    code, out, _ = call_main(export_summary.main, capsys, str(db), "--metric", "correct:higher", "--config-cols",
                             "model,prompt", "--within", "model", "--pairs", "all")
    assert code == 0 and "Only configurations with the same model are compared (--within)" in out
    # the default comparison's Markdown names each group's best, and each row the one it is compared with
    # (trial S: the header named one best for all groups, and the table had no `vs` column)
    code, out, _ = call_main(export_summary.main, capsys, str(db), "--metric", "correct:higher", "--config-cols",
                             "model,prompt", "--within", "model")
    assert code == 0 and ("### accuracy: each configuration vs the best of its group (--within model: "
                          "model=large, prompt=terse; model=small, prompt=cot)") in out
    assert "| model=small, prompt=terse | model=small, prompt=cot |" in out
    code, out, _ = call_main(export_summary.main, capsys, str(db), "--metric", "correct:higher", "--config-cols",
                             "model,prompt", "--within", "model", "--items-needed", "0.1")
    assert code == 0 and "Planning (--items-needed 0.1):" in out  # that table has no column for the plan
    assert "| model=small, prompt=terse | model=small, prompt=cot | " in out.split("Planning (--items-needed 0.1):")[1]


def test_the_headline_answers_the_within_question_pair_by_pair(tmp_path, capsys):
    db = prompts_db(tmp_path / "lonely.db", {("large", "terse"): 0.95, ("small", "terse"): 0.5, ("small", "cot"): 0.7,
                                             ("mid", "terse"): 0.6, ("mid", "cot"): 0.62})
    d = report(capsys, db, "--metric", "correct:higher", "--config-cols", "model,prompt", "--within", "model",
               "--pairs", "all")
    headline = d["versions"][0]["headline"]
    assert headline.startswith("Within each model (2 pairs on accuracy, higher is better; 1 differs detectably): "
                               "model=small, prompt=terse is detectably worse than model=small, prompt=cot (diff "), \
        headline
    assert "model=mid, prompt=terse is not detectably different from model=mid, prompt=cot" in headline
    assert "model=large" not in headline  # its group had no pair: it is not "the best" of anything asked


@pytest.mark.parametrize("extra, message", [
    (["--within", "prompt"], "--within prompt: not a configuration column"),
    (["--within", "model,track_id"], "every configuration column"),
    (["--within", "model", "--pairs", "model=coder-7b"], "name the reference by the other configuration columns"),
    (["--within", "model", "--pairs", "track_id=run-c"], "--pairs 'track_id=run-c' matches no configuration"),
])
def test_within_that_cannot_group_is_one_line_exit_2(run_and_rerun, capsys, extra, message):
    code, out, err = call_main(export_summary.main, capsys, str(run_and_rerun), "evals", "--metric",
                               "passed:higher", "--config-cols", "model,track_id", *extra)
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err


def test_config_cols_that_leave_out_a_varying_parameter_is_an_error_not_a_silent_mix(tmp_path, capsys):
    db = tmp_path / "mixed.db"
    rates = {("small", "terse"): 0.5, ("small", "cot"): 0.7, ("large", "terse"): 0.9, ("large", "cot"): 0.85}
    rows = [{"model": m, "prompt": p, "temperature": 0.8, "item_id": i, "correct": ok, "error": ""}
            for (m, p), r in rates.items() for i, ok in enumerate(correctness(100, r, len(m + p)))]
    log_rows(db, rows, engine="sqlite")
    code, out, err = call_main(export_summary.main, capsys, str(db), "--config-cols", "model", "--json")
    d = json.loads(out)
    (f,) = [f for f in d["findings"] if f["check_id"] == "configurations-mixed"]
    assert code == 1 and f["severity"] == "error" and "--config-cols leaves out prompt," in f["message"]
    assert sorted(f["examples"]) == ["model=large: prompt takes 2 values; 100 rows dropped as repeats of an item",
                                     "model=small: prompt takes 2 values; 100 rows dropped as repeats of an item"]
    assert "duplicates-counted-once" not in {f["check_id"] for f in d["findings"]}  # the error says what they are
    # clean: the prompt in the configuration; or left out where each model ran one prompt; or true repeats
    assert "configurations-mixed" not in {f["check_id"] for f in report(
        capsys, db, "--config-cols", "model,prompt")["findings"]}
    one = tmp_path / "one_prompt.db"
    log_rows(one, [r for r in rows if (r["model"], r["prompt"]) in {("small", "cot"), ("large", "terse")}],
             engine="sqlite")
    assert "configurations-mixed" not in {f["check_id"] for f in report(capsys, one, "--config-cols", "model")[
        "findings"]}
    repeats = tmp_path / "repeats.db"
    log_rows(repeats, [r for r in rows if r["prompt"] == "cot"] * 2, engine="sqlite")
    found = {f["check_id"] for f in report(capsys, repeats, "--config-cols", "model")["findings"]}
    assert "duplicates-counted-once" in found and "configurations-mixed" not in found


def test_datasets_of_different_sizes_are_not_unequal_items_but_a_gap_inside_one_is(tmp_path, capsys):
    def rows(skip: int) -> list[dict]:
        return [{"retriever": r, "dataset": d, "query_id": 1000 * k + q, "ndcg_at_10": q / 40, "error": ""}
                for r in ("bm25", "hybrid") for k, (d, n) in enumerate((("fiqa", 30), ("scifact", 20)))
                for q in range(n) if not (r == "bm25" and d == "fiqa" and q < skip)]

    log_rows(tmp_path / "beir.db", rows(0), engine="sqlite")
    d = report(capsys, tmp_path / "beir.db", "--metric", "ndcg_at_10", "--within", "dataset", "--pairs", "all")
    assert "unequal-items" not in {f["check_id"] for f in d["findings"]}
    log_rows(tmp_path / "gap.db", rows(3), engine="sqlite")
    (f,) = [f for f in report(capsys, tmp_path / "gap.db", "--metric", "ndcg_at_10")["findings"]
            if f["check_id"] == "unequal-items"]
    assert f["examples"] == ["retriever=bm25, dataset=fiqa: 27 of 30 items"]


def test_latency_percentiles_that_leave_out_more_failures_than_their_tail_say_so(tmp_path, capsys):
    db = tmp_path / "timeouts.db"
    rows = [{"retriever": r, "query_id": q, "ndcg_at_10": q / 400,
             "error": "TimeoutError" if q < failing else "", "latency_ms": None if q < failing else 10.0 + q % 7}
            for r, failing in (("dense", 12), ("bm25", 2)) for q in range(399, -1, -1)]  # 3 % and 0.5 % timed out
    # (successes first: xetrack types a column by its first value, and a first None makes latency_ms TEXT)
    log_rows(db, rows, engine="sqlite")
    (f,) = [f for f in report(capsys, db, "--metric", "ndcg_at_10")["findings"]
            if f["check_id"] == "latency-without-failures"]
    assert f["severity"] == "warning"
    assert f["examples"] == ["retriever=dense: 12 of 400 calls failed (3.0%): its p99 leaves them out"]
    assert "--failure-latency" in f["hint"]
    # --failure-latency: every call in the percentiles, a failure at the timeout (trial Y wrote 27 lines for it)
    d = report(capsys, db, "--metric", "ndcg_at_10", "--failure-latency", "5s")
    assert "latency-without-failures" not in {f["check_id"] for f in d["findings"]}
    dense = next(c for c in d["versions"][0]["configurations"] if c["label"] == "retriever=dense")
    every_call = [5000.0] * 12 + [10.0 + q % 7 for q in range(12, 400)]
    assert dense["latency"]["failures_counted_at"] == 5000 and dense["latency"]["n"] == 400
    assert [dense["latency"][p] for p in ("p50", "p95", "p99")] == pytest.approx(
        list(np.percentile(every_call, [50, 95, 99])))
    assert dense["latency"]["p99_ci"][1] == 5000  # the upper order statistic is a failure
    for given, said in (("5s", "failed calls at 5000 ms or their own time if longer"),
                        ("0s", "failed calls at their own time")):
        out = call_main(export_summary.main, capsys, str(db), "--metric", "ndcg_at_10", "--failure-latency", given)[1]
        assert f"latency_ms, {said} p50" in out
    code, out, err = call_main(export_summary.main, capsys, str(db), "--failure-latency", "5 seconds")
    assert code == 2 and out == "" and err.count("\n") == 1 and "expected a duration with its unit" in err


def test_a_failure_latency_is_taken_in_the_columns_own_unit(tmp_path, capsys):
    rows = [{"model": m, "input_id": i, "latency_s": None if i < 5 else 0.01 * (i % 9 + 1),
             "error": "Timeout" if i < 5 else ""} for m in ("a", "b") for i in range(99, -1, -1)]
    log_rows(tmp_path / "s.db", rows, engine="sqlite")
    d = report(capsys, tmp_path / "s.db", "--failure-latency", "2500ms")
    a = d["versions"][0]["configurations"][0]
    every_call = [2.5] * 5 + [0.01 * (i % 9 + 1) for i in range(5, 100)]
    assert a["latency"]["failures_counted_at"] == 2.5 and a["latency"]["unit"] == "s"
    assert a["latency"]["p99"] == pytest.approx(np.percentile(every_call, 99))


def test_failures_can_score_a_value_in_a_continuous_metric(tmp_path, capsys):
    db = tmp_path / "scored.db"
    rows = [{"retriever": r, "query_id": q, "error": "TimeoutError" if r == "dense" and q % 10 == 0 else "",
             "ndcg_at_10": None if r == "dense" and q % 10 == 0 else 0.3 + (q % 7) / 10}
            for r in ("dense", "bm25") for q in range(99, -1, -1)]
    log_rows(db, rows, engine="sqlite")
    excluded = report(capsys, db, "--metric", "ndcg_at_10")
    scored = report(capsys, db, "--metric", "ndcg_at_10", "--failures", "0")
    by = {c["label"]: c["metrics"]["ndcg_at_10"] for c in scored["versions"][0]["configurations"]}
    frame = pd.DataFrame(rows).fillna({"ndcg_at_10": 0.0})
    assert by["retriever=dense"]["n"] == 100
    assert by["retriever=dense"]["estimate"] == pytest.approx(frame[frame.retriever == "dense"].ndcg_at_10.mean())
    assert {c["label"]: c["metrics"]["ndcg_at_10"]["n"] for c in excluded["versions"][0]["configurations"]} == {
        "retriever=dense": 90, "retriever=bm25": 100}
    (f,) = [f for f in scored["findings"] if f["check_id"] == "failures-scored"]
    assert "score 0.0 in ndcg_at_10 (--failures 0.0)" in f["message"] and scored["options"]["failures"] == "0.0"
    code, out, err = call_main(export_summary.main, capsys, str(db), "--failures", "inf")
    assert code == 2 and err.count("\n") == 1 and "must be a finite number" in err


def test_a_reference_named_within_each_group_is_that_groups_own(tmp_path, capsys):
    db = tmp_path / "beir.db"
    rows = [{"retriever": r, "dataset": d, "query_id": 1000 * k + q, "ndcg_at_10": (q % 9) / 10 + lift, "error": ""}
            for r, lift in (("bm25", 0.0), ("hybrid", 0.05), ("dense", 0.04))
            for k, (d, n) in enumerate((("fiqa", 30), ("scifact", 20))) for q in range(n)]
    log_rows(db, rows, engine="sqlite")
    d = report(capsys, db, "--metric", "ndcg_at_10", "--pairs", "retriever=bm25", "--within", "dataset")
    pairs = {(c["configuration"], c["reference"]) for c in d["versions"][0]["comparisons"]}
    assert pairs == {(f"retriever={r}, dataset={ds}", f"retriever=bm25, dataset={ds}")
                     for r in ("hybrid", "dense") for ds in ("fiqa", "scifact")}
    assert {c["family_size"] for c in d["versions"][0]["comparisons"]} == {4}


def test_numbers_stored_as_text_by_a_first_none_are_read_alike_by_both_engines_but_not_hashes(tmp_path, capsys):
    db = tmp_path / "first_none.db"
    rows = [{"retriever": r, "query_id": q, "ndcg_at_10": None if q == 0 else q / 40, "error": "Timeout" if q == 0
             else "", "latency_ms": None if q == 0 else 10.0 + q * (1 + len(r))} for r in ("dense", "bm25")
            for q in range(40)]  # xetrack types both columns TEXT: every later number is stored as text
    rows[5]["ndcg_at_10"] = "0123456789abcdef"  # an asset hash (a numpy scalar), never a number
    rows[6]["ndcg_at_10"] = "1234567890123456"  # a hash of digits only: still a hash
    log_rows(db, rows, engine="sqlite")
    with sqlite3.connect(db) as con:
        assert {t for (t,) in con.execute("SELECT DISTINCT typeof(latency_ms) FROM \"default\"")} == {"null", "text"}
    docs = [report(capsys, db, "--metric", "ndcg_at_10:higher", "--engine", e) for e in ("sqlite", "duckdb")]
    for d in docs:
        by = {c["label"]: c for c in d["versions"][0]["configurations"]}
        dense = by["retriever=dense"]
        assert dense["latency"]["p50"] == pytest.approx(np.percentile([10.0 + q * 6 for q in range(1, 40)], 50))
        assert dense["metrics"]["ndcg_at_10"]["n"] == 37  # 39 numbers, two of them hashes
        assert dense["metrics"]["ndcg_at_10"]["estimate"] == pytest.approx(
            np.mean([q / 40 for q in range(1, 40) if q not in (5, 6)]))
        (f,) = [f for f in d["findings"] if f["check_id"] == "non-numeric-metric"]
        assert f["message"] == "2 of 78 values of 'ndcg_at_10' are not numbers and were left out."
    assert docs[0]["versions"][0]["configurations"] == docs[1]["versions"][0]["configurations"]

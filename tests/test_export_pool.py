"""export_summary.py --pool COLS: each configuration's numbers over every value of a parameter the configuration
leaves out (a model over both prompts), paired on the same input and pooled values, each input's mean the unit.
Checked against pandas/scipy on rows written by xetrack."""

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


def evals(problems: int = 60) -> list[dict]:
    """3 samples per problem under two prompts; the models differ, the prompt changes latency and pass rate."""
    rng = np.random.default_rng(5)
    ease = rng.normal(0, 1, problems)
    skill = {"small": -0.3, "large": 0.5}
    rows = []
    for model, s in skill.items():
        for prompt, lift, ms in (("plain", 0.0, 600.0), ("cot", 0.4, 900.0)):
            for p in range(problems):
                for k in range(3):
                    failed = model == "large" and prompt == "cot" and p % 17 == 0 and k == 0
                    rows.append({"model": model, "prompt": prompt, "problem_id": f"P{p:03d}", "sample_idx": k,
                                 "error": "429" if failed else "",
                                 "passed": None if failed else int(rng.random() < 1 / (1 + np.exp(-(s + lift + ease[p])))),
                                 "latency_ms": None if failed else float(rng.lognormal(np.log(ms), 0.3)),
                                 "cost_usd": None if failed else 0.002 + 0.001 * (prompt == "cot")})
    return rows


def report(capsys, *argv) -> tuple[int, dict]:
    code, out, err = call_main(export_summary.main, capsys, *map(str, argv), "--json")
    assert code in (0, 1), err
    return code, json.loads(out)


def test_a_model_pooled_over_prompts_matches_the_rows(tmp_path, capsys, engine):
    db = tmp_path / "evals.db"
    rows = evals()
    log_rows(db, rows, engine=engine, table="evals")
    code, d = report(capsys, db, "evals", "--metric", "passed:higher", "--config-cols", "model", "--pool", "prompt")
    assert code == 0 and d["options"]["unit"] == "input" and d["inferred"]["layout"]["pooled"] == ["prompt"]
    (v,) = d["versions"]
    configs = {c["label"]: c for c in v["configurations"]}
    ok = pd.DataFrame(rows).query("error == ''")
    for model in ("small", "large"):
        mine = ok[ok.model == model]
        c = configs[f"model={model}"]
        assert c["metrics"]["passed"]["n"] == 60
        assert c["metrics"]["passed"]["estimate"] == pytest.approx(mine.groupby("problem_id").passed.mean().mean())
        assert c["latency"]["p95"] == pytest.approx(np.percentile(mine.latency_ms, 95))  # every prompt's rows
        assert c["cost_per_right"]["estimate"] == pytest.approx(mine.cost_usd.sum() / mine.passed.sum(), abs=1e-6)
    # the pair: the same (problem, sample, prompt) on both sides, then each problem's mean difference
    both = ok[ok.model == "small"].merge(ok[ok.model == "large"], on=["problem_id", "sample_idx", "prompt"])
    diff = (both.passed_x - both.passed_y).groupby(both.problem_id).mean()
    (pair,) = v["comparisons"]
    assert pair["shared_items"] == 60 and pair["delta"] == pytest.approx(diff.mean(), abs=1e-6)
    assert pair["p_value"] == pytest.approx(stats.wilcoxon(diff).pvalue, rel=1e-3)
    (pooled,) = [f for f in d["findings"] if f["check_id"] == "pooled"]
    # trial Y: a --within run of the same data (the unit then the replicate) gave another verdict, unexplained
    assert "with --within and --unit input (without --pool the unit is the sample_idx" in pooled["hint"]


def test_without_pool_leaving_the_prompt_out_is_an_error_that_names_pool(tmp_path, capsys):
    db = tmp_path / "evals.db"
    log_rows(db, evals(20), engine="sqlite", table="evals")
    code, d = report(capsys, db, "evals", "--metric", "passed:higher", "--config-cols", "model")
    (f,) = [f for f in d["findings"] if f["check_id"] == "configurations-mixed"]
    assert code == 1 and "--pool prompt" in f["hint"]


@pytest.mark.parametrize("extra, message", [
    (["--pool", "model"], "--pool model: it is the configuration"),
    (["--pool", "nope"], "--pool column 'nope' not found"),
    (["--pool", "prompt", "--unit", "replicate"], "--unit replicate cannot go with it"),
])
def test_pool_that_cannot_apply_is_one_line_exit_2(tmp_path, capsys, extra, message):
    db = tmp_path / "evals.db"
    log_rows(db, evals(10), engine="sqlite", table="evals")
    code, out, err = call_main(export_summary.main, capsys, str(db), "evals", "--metric", "passed:higher",
                               "--config-cols", "model", *extra)
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err


def test_a_reversal_under_the_pooled_prompt_is_said_and_a_consistent_winner_is_not(tmp_path, capsys):
    def judged(reverse: bool) -> list[dict]:
        # None: a and c tie under concise and c leads under default (trial C: a tie was read as a change)
        lift = ({("a", "concise"): 1.0, ("c", "default"): 1.0} if reverse else
                {("a", "concise"): 1.0, ("c", "concise"): 1.0, ("c", "default"): 1.0} if reverse is None else
                {("c", "concise"): 1.0, ("c", "default"): 1.0})
        return [{"model": m, "system_prompt": s, "prompt_id": p, "sample": k, "score": 5 + lift.get((m, s), 0)
                 + (p % 5) / 5, "error": ""} for m in "abc" for s in ("concise", "default") for p in range(30)
                for k in range(2)]

    for name, reverse in (("reversal", True), ("consistent", False), ("tie", None)):
        db = tmp_path / f"{name}.db"
        log_rows(db, judged(reverse), engine="sqlite", table="judged")
        _, d = report(capsys, db, "judged", "--metric", "score:higher", "--config-cols", "model", "--pool",
                      "system_prompt")
        found = [f for f in d["findings"] if f["check_id"] == "pooled-rankings-differ"]
        if reverse:
            (f,) = found
            assert f["examples"] == ["system_prompt=concise: model=a best (score 6.4)",
                                     "system_prompt=default: model=c best (score 6.4)"]
        else:
            assert found == []


def test_pooling_over_an_id_with_a_row_per_value_ranks_nothing(tmp_path, capsys):
    """Trial V: addresses repeated in the data, pooled over the row number (`--input-col address --pool
    input_id`): one row per input_id, so 'the best under each input_id' was noise, reported as a reversal."""
    rows = [{"validator": v, "input_id": i, "address": f"a{i % 40}", "repeat": r,
             "correct": int((i * 7 + len(v) + r) % 3 != 0), "error": ""}
            for v in ("loose", "strict") for i in range(120) for r in range(2)]
    log_rows(tmp_path / "ids.db", rows, engine="sqlite", table="calls")
    _, d = report(capsys, tmp_path / "ids.db", "calls", "--config-cols", "validator", "--input-col", "address",
                  "--pool", "input_id")
    assert "pooled-rankings-differ" not in {f["check_id"] for f in d["findings"]}
    assert d["versions"][0]["configurations"][0]["metrics"]["accuracy"]["n"] == 40  # the addresses are the unit

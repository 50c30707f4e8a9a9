"""export_summary answers the whole question: every pair in one family, stated families, results saved as tables,
and no verdict from non-finite values. Known truths are planted; expected numbers are computed here."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sqlite3
from pathlib import Path

import duckdb
import export_summary
import numpy as np
import pytest
import validate_benchmark
from _bench.stats import mcnemar_exact_p
from helpers import call_main, run_python
from summary_fixtures import clustered_db, correctness, prediction_rows, predictions_db, scores_db
from xetrack import Reader
from xetrack_fixtures import log_rows

GOLDEN = Path(__file__).parent / "golden"
SCRIPT = Path(export_summary.__file__)


ACCURACY = {"name": "accuracy", "better": "higher"}  # a metric as the report describes it


def run(capsys, *argv) -> tuple[int, dict, str]:
    code = export_summary.main([str(a) for a in argv] + ["--json"])
    out = capsys.readouterr()
    return code, json.loads(out.out), out.err


def pairs(doc: dict, metric: str = "accuracy") -> dict[frozenset, dict]:
    (version,) = doc["versions"]
    return {frozenset((c["configuration"], c["reference"])): c for c in version["comparisons"]
            if c["metric"] == metric}


def pair(found: dict, a: str, b: str) -> dict:
    return found[frozenset((f"model={a}", f"model={b}"))]


FOUR = {"strong": correctness(400, 0.92, 1), "weak": correctness(400, 0.70, 2),
        "same1": correctness(400, 0.80, 3), "same2": correctness(400, 0.80, 4)}


@pytest.fixture(scope="module")
def four_models(tmp_path_factory) -> Path:
    return predictions_db(tmp_path_factory.mktemp("four") / "four.db", "sqlite", FOUR)


def test_all_pairs_judges_every_pair_once_and_tells_a_real_gap_from_an_a_a_pair(four_models, capsys):
    code, doc, err = run(capsys, four_models, "predictions", "--pairs", "all")
    assert code == 0 and err == ""
    found = pairs(doc)
    assert len(found) == 4 * 3 // 2 == len(doc["versions"][0]["comparisons"])
    assert pair(found, "strong", "weak")["verdict"] in ("better", "worse")
    assert pair(found, "same1", "same2")["verdict"] == "no detectable difference"
    ranks = {c["label"]: c["rank"] for c in doc["versions"][0]["configurations"]}
    for c in found.values():  # the better-ranked configuration is always the reference
        assert ranks[c["reference"]] <= ranks[c["configuration"]]


def test_holm_over_all_pairs_matches_an_independent_computation(four_models, capsys):
    _, doc, _ = run(capsys, four_models, "predictions", "--pairs", "all")
    comps = list(pairs(doc).values())
    labels = {v: k for k, v in zip(FOUR, (f"model={m}" for m in FOUR), strict=True)} | {
        f"model={m}": m for m in FOUR}
    raw = []
    for c in comps:  # McNemar from the planted outcomes, not from the script
        a, b = np.array(FOUR[labels[c["configuration"]]]), np.array(FOUR[labels[c["reference"]]])
        raw.append(mcnemar_exact_p(int(np.sum((a == 1) & (b == 0))), int(np.sum((a == 0) & (b == 1)))))
    m = len(raw)
    order = sorted(range(m), key=lambda i: raw[i])
    holm, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):  # Holm's step-down, written out
        running = max(running, min(1.0, (m - rank) * raw[i]))
        holm[i] = running
    for c, p_raw, p_holm in zip(comps, raw, holm, strict=True):
        assert c["p_value"] == pytest.approx(p_raw, rel=1e-3)
        assert c["p_adjusted"] == pytest.approx(p_holm, rel=1e-3)
        assert (c["family"], c["family_size"]) == ("accuracy", 6)


def test_all_pairs_on_continuous_scores_separates_strong_from_weak_but_not_a_from_a(tmp_path, capsys):
    rng = np.random.default_rng(7)
    base = rng.normal(0, 1, 300)  # item difficulty, shared: the pairing removes it
    scores = {"strong": base + 0.6 + rng.normal(0, 0.5, 300), "weak": base + rng.normal(0, 0.5, 300),
              "same1": base + 0.3 + rng.normal(0, 0.5, 300), "same2": base + 0.3 + rng.normal(0, 0.5, 300)}
    db = scores_db(tmp_path / "s.db", "sqlite", {k: v.tolist() for k, v in scores.items()})
    code, doc, err = run(capsys, db, "predictions", "--metric", "score:higher", "--pairs", "all")
    found = pairs(doc, "score")
    assert code == 0 and err == "" and len(found) == 6
    assert pair(found, "strong", "weak")["verdict"] == "better" or pair(found, "strong", "weak")["verdict"] == "worse"
    assert pair(found, "same1", "same2")["verdict"] == "no detectable difference"
    assert {c["test"] for c in found.values()} == {"wilcoxon"}


def test_all_pairs_under_repeated_cross_validation_uses_the_corrected_test(tmp_path, capsys):
    accuracy = {"strong": 0.95, "weak": 0.55, "same1": 0.75, "same2": 0.75}
    outcomes = {m: {(s, f): correctness(40, acc, 100 * s + 10 * f + i) for s in range(3) for f in range(5)}
                for i, (m, acc) in enumerate(accuracy.items())}
    db = clustered_db(tmp_path / "cv.db", "sqlite", outcomes)
    _, doc, _ = run(capsys, db, "predictions", "--pairs", "all")
    found = pairs(doc)
    assert {c["test"] for c in found.values()} == {"corrected-resampled-t"}
    assert pair(found, "strong", "weak")["verdict"] in ("better", "worse")
    assert pair(found, "same1", "same2")["verdict"] == "no detectable difference"


def test_a_named_configuration_and_the_reference_alias_give_the_same_comparisons(four_models, capsys):
    _, by_pairs, _ = run(capsys, four_models, "predictions", "--pairs", "model=same1")
    _, by_alias, _ = run(capsys, four_models, "predictions", "--reference", "model=same1")
    assert by_pairs["versions"] == by_alias["versions"]
    assert {c["reference"] for c in by_pairs["versions"][0]["comparisons"]} == {"model=same1"}
    code = export_summary.main([str(four_models), "predictions", "--pairs", "all", "--reference", "model=weak"])
    assert code == 2 and "disagree" in capsys.readouterr().err


def test_families_are_per_metric_by_default_so_adding_a_metric_leaves_the_primary_p_alone(four_models, capsys):
    _, alone, _ = run(capsys, four_models, "predictions", "--pairs", "all")
    _, beside, _ = run(capsys, four_models, "predictions", "--pairs", "all", "--metric", "latency_ms:lower")
    _, together, _ = run(capsys, four_models, "predictions", "--pairs", "all", "--metric", "latency_ms:lower",
                         "--family", "all")
    p = {k: c["p_adjusted"] for k, c in pairs(alone).items()}
    assert {k: c["p_adjusted"] for k, c in pairs(beside).items()} == p
    assert {c["family_size"] for c in pairs(together).values()} == {12}
    assert any(c["p_adjusted"] > p[k] for k, c in pairs(together).items())
    families = beside["versions"][0]["families"]
    assert sorted((f["name"], f["size"], len(f["members"])) for f in families) == [("accuracy", 6, 6),
                                                                                   ("latency_ms", 6, 6)]


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if not path.exists():  # first run writes it; review it and commit it
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; if intended, delete it and re-run to regenerate"


def test_all_pairs_markdown_and_json_match_the_golden_files(four_models, capsys):
    assert export_summary.main([str(four_models), "predictions", "--pairs", "all"]) == 0
    markdown = capsys.readouterr().out
    assert "| row minus column |" in markdown and "family 'accuracy' of 6" in markdown
    _golden("export_summary_pairs.md", markdown.replace(str(four_models.parent), "<tmp>"))
    assert export_summary.main([str(four_models), "predictions", "--pairs", "all", "--json"]) == 0
    _golden("export_summary_pairs.json", capsys.readouterr().out)


def test_beyond_ten_configurations_markdown_lists_every_pair_instead_of_a_matrix(tmp_path, capsys):
    db = predictions_db(tmp_path / "many.db", "sqlite",
                        {f"m{i:02d}": correctness(60, 0.5 + i / 40, i) for i in range(11)})
    assert export_summary.main([str(db), "predictions", "--pairs", "all"]) == 0
    markdown = capsys.readouterr().out
    assert "| row minus column |" not in markdown
    assert markdown.count("| model=m") >= 11 * 10 // 2  # one row per pair, plus the configuration table


# --- --save ------------------------------------------------------------------------------------------------

def test_saved_tables_equal_the_json_and_an_identical_run_adds_nothing(four_models, tmp_path, capsys):
    out = tmp_path / "results.db"
    before = four_models.read_bytes()
    _, doc, err = run(capsys, four_models, "predictions", "--pairs", "all", "--save", out)
    assert "summary +4 rows, comparisons +6 rows" in err
    con = sqlite3.connect(out)
    con.row_factory = sqlite3.Row
    summary = {(r["configuration"], r["metric"]): dict(r) for r in con.execute("SELECT * FROM summary")}
    for c in doc["versions"][0]["configurations"]:
        row, m = summary[(c["label"], "accuracy")], c["metrics"]["accuracy"]
        assert (row["estimate"], row["ci_low"], row["ci_high"], row["n"], row["rank"]) == (
            m["estimate"], m["ci_low"], m["ci_high"], m["n"], c["rank"])
        latency = c["latency"] or {}
        assert (row["latency_p50"], row["latency_p99"], row["cost"]) == (latency.get("p50"), latency.get("p99"),
                                                                          c["cost"])
    saved = {(r["configuration"], r["reference"]): dict(r) for r in con.execute("SELECT * FROM comparisons")}
    for c in doc["versions"][0]["comparisons"]:
        row = saved[(c["configuration"], c["reference"])]
        assert (row["difference"], row["p_value"], row["p_adjusted"], row["verdict"], row["family_size"]) == (
            c["delta"], c["p_value"], c["p_adjusted"], c["verdict"], c["family_size"])
    con.close()
    _, _, again = run(capsys, four_models, "predictions", "--pairs", "all", "--save", out)
    assert "summary +0 rows, comparisons +0 rows" in again
    assert four_models.read_bytes() == before  # the benchmark is never written


def test_changed_results_add_rows_and_the_documented_query_returns_the_latest(tmp_path, capsys):
    out = tmp_path / "results.db"
    db = predictions_db(tmp_path / "b.db", "sqlite", {"a": correctness(50, 0.9, 1), "b": correctness(50, 0.6, 2)})
    run(capsys, db, "predictions", "--save", out)
    predictions_db(db, "sqlite", {"c": correctness(50, 0.7, 3)})  # a third model joins later
    _, doc, _ = run(capsys, db, "predictions", "--save", out)
    con = sqlite3.connect(out)
    latest = con.execute(
        "SELECT configuration FROM summary s WHERE track_id = (SELECT track_id FROM summary t "
        "WHERE t.source = s.source AND t.source_table = s.source_table AND t.analysis IS s.analysis "
        "ORDER BY timestamp DESC LIMIT 1)").fetchall()
    assert sorted(r[0] for r in latest) == sorted(c["label"] for c in doc["versions"][0]["configurations"])
    assert con.execute("SELECT COUNT(*) FROM summary").fetchone()[0] > len(latest)
    con.close()


LATEST = ("SELECT analysis, configuration FROM summary s WHERE track_id = (SELECT track_id FROM summary t "
          "WHERE t.source = s.source AND t.source_table = s.source_table AND t.analysis IS s.analysis "
          "ORDER BY timestamp DESC LIMIT 1)")


def test_a_second_analysis_saved_into_the_same_file_does_not_hide_the_first(tmp_path, capsys):
    out = tmp_path / "summary.db"
    db = predictions_db(tmp_path / "b.db", "sqlite", {"a": correctness(50, 0.9, 1), "b": correctness(50, 0.6, 2)})
    run(capsys, db, "predictions", "--save", out)  # by model
    run(capsys, db, "predictions", "--config-cols", "track_id", "--save", out)  # by run, saved later
    con = sqlite3.connect(out)
    latest = con.execute(LATEST).fetchall()
    con.close()
    by_model = sorted(c for a, c in latest if a.startswith("configuration: model;"))
    by_run = [c for a, c in latest if a.startswith("configuration: track_id;")]
    assert by_model == ["model=a", "model=b"] and by_run and len(latest) == 2 + len(by_run)


def test_a_file_saved_before_the_analysis_column_existed_gains_it(tmp_path, capsys):
    out = tmp_path / "summary.db"
    db = predictions_db(tmp_path / "b.db", "sqlite", {"a": correctness(50, 0.9, 1), "b": correctness(50, 0.6, 2)})
    run(capsys, db, "predictions", "--save", out)
    con = sqlite3.connect(out)
    for table in ("summary", "comparisons"):  # as an earlier version wrote it
        con.execute(f'DELETE FROM "{table}"')
        con.execute(f'ALTER TABLE "{table}" DROP COLUMN analysis')
    con.commit()
    con.close()
    run(capsys, db, "predictions", "--save", out)
    con = sqlite3.connect(out)
    assert {a for (a, _) in con.execute(LATEST)} == {"configuration: model; item: input_id"}
    con.close()


def test_saved_tables_are_read_by_xetrack_reader_and_duckdb(four_models, tmp_path, capsys):
    out = tmp_path / "results.db"
    run(capsys, four_models, "predictions", "--save", out)
    frame = Reader(str(out), table="comparisons").to_df()
    assert len(frame) == 3 and set(frame["verdict"]) <= {"better", "worse", "no detectable difference"}
    con = duckdb.connect()
    con.execute("LOAD sqlite")
    con.execute(f"ATTACH '{out}' AS r (TYPE SQLITE, READ_ONLY)")
    assert con.execute("SELECT COUNT(*) FROM r.summary").fetchone()[0] == 4


@pytest.mark.parametrize("target", ["input", "wal"])
def test_save_onto_an_input_is_refused_before_anything_is_written(four_models, tmp_path, capsys, target):
    before = four_models.read_bytes()
    path = four_models if target == "input" else Path(f"{four_models}-wal")
    code = export_summary.main([str(four_models), "predictions", "--save", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "refusing to overwrite" in err
    assert four_models.read_bytes() == before and (target == "input" or not path.exists())


# --- non-finite values ---------------------------------------------------------------------------------

@pytest.fixture
def non_finite(tmp_path) -> Path:
    """Three models with a clear order; `inf` in one row of a, 1e308 beside 1e307 in b."""
    rows = [{"model": m, "input_id": i, "score": float(i % 7) + shift, "error": ""}
            for m, shift in (("a", 0.0), ("b", 1.0), ("c", 2.0)) for i in range(60)]
    rows[3]["score"] = float("inf")
    rows[60 + 5]["score"], rows[60 + 6]["score"] = 1e308, 1e307
    log_rows(tmp_path / "nf.db", rows, engine="sqlite", table="predictions")
    return tmp_path / "nf.db"


def _strict(text: str) -> dict:
    def refuse(token):
        raise AssertionError(f"not strict JSON: {token}")
    return json.loads(text, parse_constant=refuse)


def test_non_finite_values_are_a_finding_never_a_verdict_with_strict_json_and_a_clean_stderr(non_finite, capsys):
    code = export_summary.main([str(non_finite), "predictions", "--metric", "score:higher", "--pairs", "all",
                                "--json"])
    out = capsys.readouterr()
    doc = _strict(out.out)
    assert code == 0 and out.err == ""  # no numpy RuntimeWarning
    (finding,) = [f for f in doc["findings"] if f["check_id"] == "non-finite-values"]
    assert any("model=a" in e and "1 infinite" in e for e in finding["examples"])
    assert any("model=b" in e and "2 values beyond 1e150" in e for e in finding["examples"])
    configs = {c["label"]: c for c in doc["versions"][0]["configurations"]}
    assert configs["model=a"]["metrics"]["score"]["n"] == 59  # the inf row is excluded, and said so
    assert configs["model=b"]["metrics"]["score"]["estimate"] is None
    found = pairs(doc, "score")
    assert all(c["verdict"] == "not comparable" for k, c in found.items() if "model=b" in k)
    assert pair(found, "c", "a")["verdict"] == "better" or pair(found, "c", "a")["verdict"] == "worse"


def test_non_finite_values_keep_markdown_and_csv_free_of_nan(non_finite, capsys):
    for fmt in ([], ["--csv"]):
        assert export_summary.main([str(non_finite), "predictions", "--metric", "score:higher", *fmt]) == 0
        out = capsys.readouterr()
        assert "nan" not in out.out.lower().replace("non-finite", "") and "inf " not in out.out and out.err == ""


# --- what the data could detect -------------------------------------------------------------------------

def test_every_comparison_states_what_it_could_detect_at_the_alpha_its_family_leaves(four_models, capsys):
    from _bench.power import mde_paired_binary

    _, doc, _ = run(capsys, four_models, "predictions", "--pairs", "all")
    for c in pairs(doc).values():
        d = c["detectable"]
        assert d["power"] == 0.8 and d["alpha"] == pytest.approx(0.05 / 6, rel=1e-3) and d["conservative"]
        b, c_ = c["discordant"]  # recomputed from the planted outcomes' discordance, by the published formula
        assert d["difference"] == pytest.approx(mde_paired_binary(c["shared_items"], b + c_, 0.05 / 6), abs=1e-6)
    _, single, _ = run(capsys, four_models, "predictions", "--pairs", "model=same1", "--adjust", "none")
    assert {c["detectable"]["alpha"] for c in single["versions"][0]["comparisons"]} == {0.05}
    assert not any(c["detectable"]["conservative"] for c in single["versions"][0]["comparisons"])


def test_items_needed_plans_items_for_0_1_metrics_and_folds_for_repeated_cv(four_models, tmp_path, capsys):
    _, doc, _ = run(capsys, four_models, "predictions", "--items-needed", "0.02")
    for c in doc["versions"][0]["comparisons"]:
        need = c["needed"]
        assert need["unit"] == "items" and need["count"] > c["shared_items"], need  # 2 points needs more data
    outcomes = {m: {(s, f): correctness(40, acc, 100 * s + 10 * f + i) for s in range(3) for f in range(5)}
                for i, (m, acc) in enumerate({"a": 0.9, "b": 0.8}.items())}
    db = clustered_db(tmp_path / "cv.db", "sqlite", outcomes)
    _, cv, _ = run(capsys, db, "predictions", "--items-needed", "0.05")
    (c,) = cv["versions"][0]["comparisons"]
    assert c["needed"]["unit"] == "folds" and "folds" in c["needed"]["explanation"]
    assert c["detectable"]["method"].startswith("calibrated Bloom")
    code = export_summary.main([str(db), "predictions", "--items-needed", "-1"])
    assert code == 2 and "positive difference" in capsys.readouterr().err


def test_plan_only_gives_what_each_pair_needs_and_none_of_the_pilots_results(four_models, capsys):
    """Trial M sized a new prompt from a pilot and had to read the plan out of --json to stay blind to the p
    beside it: choosing the size after seeing p is optional stopping. --plan-only prints the plan alone, each pair
    in name order (the default pairs' reference is the pilot's best)."""
    argv = [str(four_models), "predictions", "--pairs", "all", "--items-needed", "0.02"]
    _, doc, _ = run(capsys, *argv)
    needed = {frozenset((c["configuration"], c["reference"])): c["needed"] for c in doc["versions"][0]["comparisons"]
              if c["metric"] == "accuracy"}
    assert export_summary.main([*argv, "--plan-only", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    (version,) = plan["versions"]
    rows = [r for r in version["plan"] if r["metric"] == "accuracy"]
    assert {frozenset(r["pair"]): r["needed"] for r in rows} == needed and len(rows) == 6
    assert all(r["pair"] == sorted(r["pair"]) for r in rows)
    text = json.dumps(plan)
    assert not any(word in text for word in ('"estimate"', '"p_value"', '"p_adjusted"', '"verdict"', '"ci_low"'))
    assert export_summary.main([*argv, "--plan-only"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Plan from a pilot") and "| metric | pair | needed |" in out
    # the default pairs (each against the pilot's best) would name the best: every pair is planned instead
    default = [str(four_models), "predictions", "--items-needed", "0.02", "--plan-only"]
    assert export_summary.main([*default, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["versions"] == plan["versions"]
    assert export_summary.main(default) == 0
    assert capsys.readouterr().out == out and "Every pair is planned" in out
    assert "p_value" not in out and "[95% CI]" not in out and "better" not in out and "worse" not in out
    for bad in ([], ["--csv"]):  # without a plan to print, or with a table of results
        code = export_summary.main([str(four_models), "predictions", "--plan-only", *bad,
                                    *(["--items-needed", "0.02"] if bad else [])])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and "--plan-only prints the plan of --items-needed" in err


def test_the_detectable_difference_reaches_markdown_csv_and_saved_tables(four_models, tmp_path, capsys):
    out = tmp_path / "r.db"
    _, doc, _ = run(capsys, four_models, "predictions", "--save", out)
    mdd = {c["configuration"]: c["detectable"]["difference"] for c in doc["versions"][0]["comparisons"]}
    saved = dict(sqlite3.connect(out).execute("SELECT configuration, min_detectable_difference FROM comparisons"))
    assert saved == mdd
    assert export_summary.main([str(four_models), "predictions"]) == 0
    assert "detectable at 80% power (alpha 0.01667, conservative)" in capsys.readouterr().out
    assert export_summary.main([str(four_models), "predictions", "--csv"]) == 0
    assert "min_detectable_difference" in capsys.readouterr().out.splitlines()[0]


def test_all_pairs_csv_has_a_row_per_pair_and_markdown_lists_every_pair(four_models, capsys):
    """Trial K: with --pairs all the CSV kept one comparison per configuration (the last one written), and the
    Markdown listed only the detectable pairs in full."""
    _, doc, _ = run(capsys, four_models, "predictions", "--pairs", "all")
    pairs = {(c["configuration"], c["reference"]): c["delta"] for c in doc["versions"][0]["comparisons"]}
    assert len(pairs) == 6
    assert export_summary.main([str(four_models), "predictions", "--pairs", "all", "--csv"]) == 0
    rows = [r for r in csv.DictReader(io.StringIO(capsys.readouterr().out)) if r["metric"] == "accuracy"]
    compared = {(r["configuration"], r["reference"]): float(r["difference"]) for r in rows if r["reference"]}
    assert compared == pytest.approx(pairs)
    assert [r["verdict"] for r in rows if not r["reference"]] == ["best"]
    assert export_summary.main([str(four_models), "predictions", "--pairs", "all"]) == 0
    full = capsys.readouterr().out.split("Every pair in full")[1].split("**Headline")[0]
    assert all(f"| {a} | {b} |" in full for a, b in pairs)


@pytest.mark.parametrize("mode", ["best", "all", "model=weak"])
def test_the_wide_csv_is_one_row_per_configuration_with_each_metric_and_its_comparison(four_models, capsys, mode):
    """Trial X: the per-model table a user asked for took 49 lines of pivoting the long CSV. --csv --wide: one
    row per configuration, the values of the long table side by side; with --pairs all, the comparison with
    the highest-ranked configuration."""
    argv = [str(four_models), "predictions", "--pairs", mode, "--metric", "accuracy:higher", "--metric",
            "latency_ms:lower"]
    _, doc, _ = run(capsys, *argv)
    (stratum,) = doc["versions"]
    assert export_summary.main([*argv, "--csv", "--wide"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["configuration"] for r in rows] == [c["label"] for c in stratum["configurations"]]
    assert "version" not in rows[0] and rows[0]["experiment_version"] == "e1"  # trial L: the version it covers
    top = stratum["configurations"][0]["label"]
    for row, c in zip(rows, stratum["configurations"], strict=True):
        for metric in ("accuracy", "latency_ms"):
            m = c["metrics"][metric]
            assert float(row[metric]) == pytest.approx(m["estimate"]) and int(row[f"{metric}_n"]) == m["n"]
            assert float(row[f"{metric}_ci_low"]) == pytest.approx(m["ci_low"])
            own = [k for k in stratum["comparisons"] if k["metric"] == metric and k["configuration"] == c["label"]]
            if mode == "all":
                own = [k for k in own if k["reference"] == top]
            if not own:
                assert row[f"{metric}_verdict"] in ("best", "reference") and not row[f"{metric}_difference"]
                continue
            (k,) = own
            assert row[f"{metric}_vs"] == k["reference"] and row[f"{metric}_verdict"] == k["verdict"]
            assert [float(row[f"{metric}_{f}"]) for f in ("difference", "difference_ci_low", "difference_ci_high",
                                                          "p_adjusted")] == pytest.approx(
                [k["delta"], k["ci_low"], k["ci_high"], k["p_adjusted"]])
    assert sum(r["accuracy_verdict"] in ("best", "reference") for r in rows) == 1
    # trial R: what this benchmark does not record is not an always-empty column (four_models: no tokens, no cost)
    assert export_summary.main([*argv, "--csv"]) == 0
    long = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    for table in (rows, long):
        assert not {"tokens", "cost", "latency_failures_counted_at"} & set(table[0])
        assert {"latency_column", "latency_p99", "estimate" if table is long else "accuracy"} <= set(table[0])


def test_the_wide_csv_names_each_version_in_its_own_column_when_there_are_several(tmp_path, capsys):
    db = tmp_path / "two.db"
    predictions_db(db, "sqlite", {m: FOUR[m] for m in ("strong", "weak")}, version="e1")
    predictions_db(db, "sqlite", {"strong": FOUR["same1"]}, version="e2")
    assert export_summary.main([str(db), "predictions", "--csv", "--wide"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["experiment_version"], r["configuration"], r["accuracy_verdict"]) for r in rows] == [
        ("e1", "model=strong", "best"), ("e1", "model=weak", "worse"), ("e2", "model=strong", "")]


def test_the_wide_csv_carries_latency_intervals_and_each_slo_clause(four_models, capsys):
    """Trial Y: --csv --wide had the p95 without its interval and no SLO verdict, which the report needed."""
    argv = [str(four_models), "predictions", "--slo", "p95<20ms,errors<1%", "--failure-latency", "5s"]
    _, doc, _ = run(capsys, *argv)
    assert export_summary.main([*argv, "--csv", "--wide"]) == 0
    rows = {r["configuration"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    for c in doc["versions"][0]["configurations"]:
        row, lat = rows[c["label"]], c["latency"]
        assert [float(row[f"latency_p95{e}"]) for e in ("", "_ci_low", "_ci_high")] == pytest.approx(
            [lat["p95"], *lat["p95_ci"]])
        assert row["slo_verdict"] == c["slo"]["verdict"] and int(row["rows"]) == c["rows"]
        # which column, and how failures were counted (trial Z: only --json said)
        assert (row["latency_column"], row["latency_unit"], float(row["latency_failures_counted_at"])) == (
            "latency_ms", "ms", 5000.0)
        for k in c["slo"]["clauses"]:
            assert row[f"slo_{k['clause']}_verdict"] == k["verdict"]
            assert [float(row[f"slo_{k['clause']}_{e}"]) for e in ("share", "ci_low", "ci_high")] == pytest.approx(
                [k["share"], k["low"], k["high"]])


def test_both_csv_tables_carry_a_column_per_parameter_beside_the_configuration_label(tmp_path, engine, capsys):
    """Fresh-reader trial: the results table had one `configuration` string ("model=a, rank=2"), so a
    per-model pivot meant parsing labels. Each parameter gets its own column after `configuration`, with the
    values the JSON gives; one named like a fixed column (`rank` here) is `param_rank`."""
    db = tmp_path / "params.db"
    for model, depth, oks in (("a", 2, FOUR["strong"]), ("a", 4, FOUR["weak"]), ("b", 2, FOUR["same1"])):
        log_rows(db, prediction_rows(model, oks, extra={"rank": depth}), engine=engine, table="predictions",
                 params={"experiment_version": "e1"})
    _, doc, _ = run(capsys, db, "predictions")
    configs = {c["label"]: c["configuration"] for c in doc["versions"][0]["configurations"]}
    ranks = {c["label"]: str(c["rank"]) for c in doc["versions"][0]["configurations"]}
    assert sorted(configs.values(), key=str) == sorted([{"model": "a", "rank": 2}, {"model": "a", "rank": 4},
                                                         {"model": "b", "rank": 2}], key=str)
    for wide in ([], ["--wide"]):
        assert export_summary.main([str(db), "predictions", "--csv", *wide]) == 0
        rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
        header = list(rows[0])
        assert header[header.index("configuration") + 1:][:2] == ["model", "param_rank"]
        assert {(r["configuration"], r["model"], int(r["param_rank"])) for r in rows} == {
            (label, c["model"], c["rank"]) for label, c in configs.items()}
        assert {r["configuration"]: r["rank"] for r in rows} == ranks  # the fixed column keeps its meaning


def test_wide_without_csv_is_a_usage_error(four_models, capsys):
    code, _, err = call_main(export_summary.main, capsys, str(four_models), "predictions", "--wide")
    assert code == 2 and err.strip().endswith("--wide shapes the CSV table: give --csv --wide")


def test_a_signed_rank_difference_against_the_mean_gets_no_verdict_and_says_why(tmp_path, engine, capsys):
    """Trial N: 'arima worse than theta' from the mean (a heavy tail) with the p of a rank test that found
    arima lower on most series. Planted: b beats a by 0.1 on 90 of 100 items, loses by 2.0 on the other 10."""
    a = [1.0] * 100
    b = [0.9] * 90 + [3.0] * 10
    db = scores_db(tmp_path / "tail.db", engine, {"a": a, "b": b}, column="mae")
    _, doc, _ = run(capsys, db, "predictions", "--metric", "mae:lower", "--engine", engine)
    (c,) = doc["versions"][0]["comparisons"]
    assert c["p_value"] < 0.05 and c["delta"] is not None and c["test"] == "wilcoxon"
    assert c["ranks_disagree"] is True and c["verdict"] == "no detectable difference"
    assert "there is no verdict: most items lean one way" in doc["versions"][0]["headline"]
    assert export_summary.main([str(db), "predictions", "--metric", "mae:lower"]) == 0
    assert "No verdict for " in capsys.readouterr().out
    # the same data without the tail: ranks and mean agree, and the verdict stands
    clean = scores_db(tmp_path / "clean.db", engine, {"a": a, "b": [0.9] * 100}, column="mae")
    _, doc, _ = run(capsys, clean, "predictions", "--metric", "mae:lower", "--engine", engine)
    (c,) = doc["versions"][0]["comparisons"]
    assert c["ranks_disagree"] is False and c["verdict"] == "worse"


def test_text_item_ids_give_the_same_intervals_in_every_process(tmp_path):
    """Text ids are hashed per process (PYTHONHASHSEED) and items come in hash order: one --seed, one answer."""
    rng = np.random.default_rng(5)
    db = tmp_path / "text_ids.db"
    for model, shift in (("a", 0.0), ("b", 0.05)):
        rows = [{"model": model, "input_id": f"q{i}", "score": float(v) + shift}
                for i, v in enumerate(rng.gamma(2.0, size=300))]
        log_rows(db, rows, engine="sqlite", table="predictions", params={"experiment_version": "e1"})
    docs = []
    for hash_seed in ("1", "2"):
        proc = run_python(SCRIPT, db, "predictions", "--metric", "score:higher", "--json",
                          env={**os.environ, "PYTHONHASHSEED": hash_seed})
        assert proc.returncode == 0, proc.stderr
        docs.append(json.loads(proc.stdout)["versions"])
    assert docs[0] == docs[1]


def test_microsecond_latencies_keep_their_digits_in_the_results_table(tmp_path, capsys):
    """Trial N: 30-microsecond calls timed in seconds read 0.000 / 0.000 / 0.000."""
    db = tmp_path / "fast.db"
    for model in ("a", "b"):
        rows = [{"model": model, "input_id": i, "score": float(i % 3), "latency_s": 3e-05 * (1 + i % 4)}
                for i in range(40)]
        log_rows(db, rows, engine="sqlite", table="predictions", params={"experiment_version": "e1"})
    assert export_summary.main([str(db), "predictions", "--metric", "score:higher"]) == 0
    out = capsys.readouterr().out
    assert "latency_s p50 [95% CI] / p95 [95% CI] / p99 [95% CI] (s)" in out and "0.000 / 0.000" not in out
    assert "7.5e-05 [6e-05, 9e-05] / 0.00012 [0.00012, ?] / 0.00012" in out  # p50 of 3, 6, 9, 12 e-05: 7.5e-05


def test_under_repeated_cv_an_unreachable_difference_says_how_many_more_inputs_it_needs(tmp_path, capsys):
    rng = np.random.default_rng(1)
    outcomes = {m: {(s, f): (rng.random(114) < acc).astype(int).tolist() for s in range(3) for f in range(5)}
                for m, acc in {"a": 0.97, "b": 0.965}.items()}
    db = clustered_db(tmp_path / "cv.db", "sqlite", outcomes)
    _, doc, _ = run(capsys, db, "predictions", "--items-needed", "0.01")
    (c,) = doc["versions"][0]["comparisons"]
    need = c["needed"]
    assert need["count"] is None and "unreachable by more repetitions" in need["explanation"]
    factor = (c["detectable"]["difference"] / 0.01) ** 2  # the SE falls as 1/sqrt(inputs) at the same design
    shown = f"{factor:,.0f}x" if factor >= 10 else f"{factor:.1f}x"  # trial P: '5495.0x'
    assert f"keeping 3 seeds x 5 folds, about {shown} the inputs" in need["explanation"]
    # and as fields (trial P read them out of the sentence): the factor, and the inputs at the same design
    assert need["data_factor"] == pytest.approx(factor, rel=1e-5)
    assert need["inputs_needed"] == math.ceil(5 * 114 * factor) and f"(~{need['inputs_needed']:,} instead of 570)" in \
        need["explanation"]
    assert export_summary.main([str(db), "predictions", "--pairs", "all", "--items-needed", "0.01"]) == 0
    assert "Planning (--items-needed 0.01):" in capsys.readouterr().out  # shown in text mode too


def test_each_reason_a_detectable_difference_is_na_names_the_pairs_it_applies_to(tmp_path, capsys):
    same = [1] * 15 + [0] * 5
    db = predictions_db(tmp_path / "na.db", "sqlite", {"a": same, "b": same, "c": [1] * 10 + [0] * 10})
    assert export_summary.main([str(db), "predictions", "--pairs", "all"]) == 0
    (note,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("n/a: ")]
    agree, few = note.split("; ")
    assert agree.startswith("n/a: the two configurations agree on every item") and agree.endswith("(model=b vs model=a)")
    assert few.startswith("5 discordant items are too few to detect any difference: all of them one way still has "
                          "p above 0.0167") and few.endswith("(model=c vs model=a, model=c vs model=b).")


def test_filter_summarises_only_matching_rows_and_the_saved_analysis_says_so(tmp_path, capsys):
    db = predictions_db(tmp_path / "b.db", "sqlite", {"a": correctness(50, 0.9, 1), "b": correctness(50, 0.6, 2)})
    _, everything, _ = run(capsys, db, "predictions")
    _, only_a, _ = run(capsys, db, "predictions", "--filter", "model=a", "--save", tmp_path / "summary.db")
    assert len(everything["versions"][0]["configurations"]) == 2
    assert [c["label"] for c in only_a["versions"][0]["configurations"]] == ["model=a"]
    assert only_a["summary"]["filters"] == ["model=a"]
    con = sqlite3.connect(tmp_path / "summary.db")
    assert con.execute("SELECT DISTINCT analysis FROM summary").fetchall() == [
        ("configuration: model; item: input_id; filter: model=a",)]
    con.close()
    _, all_but_b, _ = run(capsys, db, "predictions", "--filter", "model!=b", "--failures", "wrong",
                          "--save", tmp_path / "policy.db")
    assert [c["label"] for c in all_but_b["versions"][0]["configurations"]] == ["model=a"]
    con = sqlite3.connect(tmp_path / "policy.db")
    assert con.execute("SELECT DISTINCT analysis FROM comparisons UNION SELECT DISTINCT analysis FROM summary"
                       ).fetchall() == [("configuration: model; item: input_id; filter: model!=b; failures: wrong",)]
    con.close()
    code, out, err = call_main(export_summary.main, capsys, str(db), "predictions", "--filter", "model=zzz", "--json")
    assert code == 1 and json.loads(out)["status"] == "empty" and "match --filter model=zzz" in err
    code, _, err = call_main(export_summary.main, capsys, str(db), "predictions", "--filter", "nope=1")
    assert code == 2 and "--filter column 'nope' not found" in err


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_one_column_filtered_to_two_values_keeps_both_for_one_planned_pair(four_models, capsys, engine):
    """Trials E, F, G, H: "does the model added later beat the previous best?" is one planned pair, a family of
    one; `--filter model=X --filter model=Y` (equal to either) gives it, whatever the other models; a `!=` filter
    and a filter on another column still must hold too. validate_benchmark reads the same rows."""
    _, every, _ = run(capsys, four_models, "predictions", "--pairs", "all", "--engine", engine)
    _, two, _ = run(capsys, four_models, "predictions", "--filter", "model=weak", "--filter", "model=strong",
                    "--engine", engine)
    assert sorted(c["label"] for c in two["versions"][0]["configurations"]) == ["model=strong", "model=weak"]
    (pair,) = two["versions"][0]["comparisons"]
    same = next(c for c in every["versions"][0]["comparisons"]
                if {c["configuration"], c["reference"]} == {"model=weak", "model=strong"})
    assert pair["family_size"] == 1 < same["family_size"] and pair["p_value"] == same["p_value"]
    assert pair["p_adjusted"] == pair["p_value"] <= same["p_adjusted"]
    _, one, _ = run(capsys, four_models, "predictions", "--filter", "model=weak", "--filter", "model=strong",
                    "--filter", "model!=strong", "--engine", engine)
    assert [c["label"] for c in one["versions"][0]["configurations"]] == ["model=weak"]
    checked = call_main(validate_benchmark.main, capsys, str(four_models), "predictions", "--filter", "model=weak",
                        "--filter", "model=strong", "--json", "--engine", engine)[1]
    assert json.loads(checked)["summary"]["configurations"] == 2


def test_the_plot_colours_each_configuration_by_its_verdict_against_the_best_even_with_all_pairs(four_models,
                                                                                                 capsys):
    from _bench.summary.render import _verdicts_for_plot
    _, best_only, _ = run(capsys, four_models, "predictions")
    _, every_pair, _ = run(capsys, four_models, "predictions", "--pairs", "all")
    colours = _verdicts_for_plot(every_pair["versions"][0], ACCURACY)
    assert colours == _verdicts_for_plot(best_only["versions"][0], ACCURACY)
    assert colours["model=weak"] == "worse"  # vs the best, although its last pair (vs same2) is another verdict


def test_configurations_summarised_two_at_a_time_give_exactly_what_one_at_a_time_gives(four_models, capsys,
                                                                                         monkeypatch):
    from _bench.summary import compute

    pools = []

    class Recorded(compute.ThreadPoolExecutor):
        def __init__(self, *args, **kwargs):
            pools.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(compute, "ThreadPoolExecutor", Recorded)
    monkeypatch.setattr(compute.os, "cpu_count", lambda: 2)
    _, together, _ = run(capsys, four_models, "predictions", "--pairs", "all", "--metric", "latency_ms:lower")
    assert pools == [(2,)]
    monkeypatch.setattr(compute, "PARALLEL_MAX_ROWS", 0)  # every configuration "too large": one at a time
    _, alone, _ = run(capsys, four_models, "predictions", "--pairs", "all", "--metric", "latency_ms:lower")
    assert pools == [(2,)] and together == alone


def test_small_metric_values_keep_three_significant_digits_in_markdown_and_six_in_json(tmp_path, capsys):
    db = tmp_path / "cost.db"
    rows = [{"model": m, "input_id": i, "cost_usd": c * (1 + (i % 5) / 100), "error": ""}
            for m, c in (("mini", 0.000169), ("large", 0.001022)) for i in range(50)]
    log_rows(db, rows, engine="sqlite", table="predictions")
    assert export_summary.main([str(db), "predictions", "--metric", "cost_usd:lower"]) == 0
    out = capsys.readouterr().out
    assert "0.000 [" not in out and "| 0.000172 [" in out  # mini's mean: 0.000169 x 1.02
    _, doc, _ = run(capsys, db, "predictions", "--metric", "cost_usd:lower")
    mini = next(c for c in doc["versions"][0]["configurations"] if c["label"] == "model=mini")
    assert mini["metrics"]["cost_usd"]["estimate"] == pytest.approx(0.000169 * 1.02, rel=1e-5)


def test_a_reference_missing_from_one_version_is_a_warning_there_and_the_best_is_used(tmp_path, capsys):
    rows = [{"experiment_version": v, "model": m, "input_id": i, "prediction": int(i % (3 + k) != 0),
             "ground_truth": 1} for v, models in (("v1", ("base", "new")), ("v2", ("new", "newer")))
            for k, m in enumerate(models) for i in range(30)]
    log_rows(tmp_path / "versions.db", rows, engine="sqlite")
    code, d, _ = run(capsys, tmp_path / "versions.db", "--pairs", "model=base")
    (f,) = [f for f in d["findings"] if f["check_id"] == "reference-missing"]
    assert code == 0 and f["message"].startswith("--pairs 'model=base' is not in version(s) ")
    v1, v2 = ({c["reference"] for c in v["comparisons"]} for v in d["versions"])
    assert v1 == {"model=base"} and len(v2) == 1 and v2 != {"model=base"}


def test_json_hyperparameters_are_named_by_their_own_names_in_labels_and_get_columns_on_both_sides(
        tmp_path, engine, capsys):
    """Trial M: the sklearn template's `hyperparameters` column holds JSON pairs; every label read
    `model=svc, hyperparameters=[["C", 1]]`, the CSV had the JSON in one column, and the pairs table named the
    other side by its label only. Labels now read `model=svc, C=1` (a model without that hyperparameter leaves
    it out), each name gets a column (`hyperparameters.C`), the long table the other side's columns too
    (`reference_...`), and --pairs takes either spelling."""
    db = tmp_path / "hp.db"
    for model, hp, oks in (("svc", '[["C", 1]]', FOUR["strong"]), ("svc", '[["C", 10]]', FOUR["same1"]),
                           ("forest", '[["n_estimators", 50]]', FOUR["weak"])):
        log_rows(db, prediction_rows(model, oks, extra={"hyperparameters": hp}), engine=engine,
                 table="predictions", params={"experiment_version": "e1"})
    argv = [str(db), "predictions", "--config-cols", "model,hyperparameters"]
    _, doc, _ = run(capsys, *argv)
    assert sorted(c["label"] for c in doc["versions"][0]["configurations"]) == [
        "model=forest", "model=svc, C=1", "model=svc, C=10"]  # the only forest: its n_estimators tells nothing apart
    assert export_summary.main([*argv, "--csv", "--wide"]) == 0
    rows = {r["configuration"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert {k: (r["model"], r["hyperparameters.C"], r["hyperparameters.n_estimators"]) for k, r in rows.items()} == {
        "model=svc, C=1": ("svc", "1", ""), "model=svc, C=10": ("svc", "10", ""),
        "model=forest": ("forest", "", "50")}
    assert export_summary.main([*argv, "--csv", "--pairs", "all"]) == 0
    pairs = [r for r in csv.DictReader(io.StringIO(capsys.readouterr().out)) if r["reference"]]
    assert len(pairs) == 3
    for r in pairs:
        other = rows[r["reference"]]
        assert (r["reference_model"], r["reference_hyperparameters.C"], r["reference_hyperparameters.n_estimators"]) \
            == (other["model"], other["hyperparameters.C"], other["hyperparameters.n_estimators"])
    for name in ("model=svc, C=10", 'model=svc, hyperparameters=[["C", 10]]'):
        _, doc, _ = run(capsys, *argv, "--pairs", name)
        assert doc["versions"][0]["reference"] == "model=svc, C=10"


def test_a_table_without_a_metric_ranks_nothing_in_either_csv(tmp_path, engine, capsys):
    """Trial M: the fit-time table (no metric) had rank 1..6 in label order in its CSV, where the Markdown
    showed '-': a reader could take the first row as the best."""
    db = scores_db(tmp_path / "fit.db", engine, {"a": [0.1] * 20, "b": [0.3] * 20}, column="fit_seconds")
    for wide in ([], ["--wide"]):
        assert export_summary.main([str(db), "predictions", "--latency-col", "fit_seconds", "--csv", *wide]) == 0
        rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
        assert len(rows) == 2 and [r["rank"] for r in rows] == ["", ""] and rows[0]["latency_p50"]
    # asked for latency alone: a summary of it, not a missing metric with constants suggested as metrics
    _, doc, _ = run(capsys, db, "predictions", "--latency-col", "fit_seconds")
    assert {f["check_id"] for f in doc["findings"]} & {"latency-only", "no-metric"} == {"latency-only"}
    assert doc["versions"][0]["headline"].startswith("Latency only: no metric ranks these configurations")


def test_csv_comparisons_is_one_row_per_pair_with_both_sides_parameters_and_nothing_else(four_models, capsys):
    """Trial P: 'a table of every pair' meant copying the --save database's comparisons out, or filtering the
    long CSV (a row per configuration too, the best one's with empty comparison fields). `--csv --comparisons`
    is that table: every comparison of the JSON once, its numbers equal."""
    _, doc, _ = run(capsys, four_models, "predictions", "--pairs", "all", "--items-needed", "0.05")
    assert export_summary.main([str(four_models), "predictions", "--pairs", "all", "--items-needed", "0.05",
                                "--csv", "--comparisons"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    comparisons = doc["versions"][0]["comparisons"]
    assert len(rows) == len(comparisons) == 6
    for row, comp in zip(rows, comparisons, strict=True):
        assert (row["configuration"], row["reference"], row["metric"]) == (
            comp["configuration"], comp["reference"], comp["metric"])
        assert row["model"] == comp["configuration"].removeprefix("model=")
        assert row["reference_model"] == comp["reference"].removeprefix("model=")
        assert float(row["difference"]) == comp["delta"] and float(row["p_adjusted"]) == comp["p_adjusted"]
        assert (float(row["difference_ci_low"]), float(row["difference_ci_high"])) == (comp["ci_low"], comp["ci_high"])
        assert [int(row[f"discordant_{side}_right"]) for side in ("configuration", "reference")] == comp["discordant"]
        assert row["verdict"] == comp["verdict"] and int(row["family_size"]) == comp["family_size"] == 6
        assert row["needed"] == ("" if comp["needed"]["count"] is None else str(comp["needed"]["count"]))
        # trials R and S: the plan for this pair tested alone (at alpha, not alpha/6), without filtering
        alone = comp["needed"]["count_alone"]
        assert row["needed_alone"] == ("" if alone is None else str(alone))
        if alone is not None and comp["needed"]["count"] is not None:
            assert alone < comp["needed"]["count"]
    assert any(c["needed"]["count_alone"] for c in comparisons)
    # trial E: the Markdown pair table gives the discordant counts a report sentence quotes (statistics.md)
    assert export_summary.main([str(four_models), "predictions", "--pairs", "all"]) == 0
    table = capsys.readouterr().out
    assert "| test (discordant items: right only here / only there) |" in table
    for comp in comparisons:
        assert f"| {comp['configuration']} | {comp['reference']} |" in table
        assert "McNemar exact ({:,} / {:,}) |".format(*comp["discordant"]) in table
    # one number for the whole run (trial Z read the per-pair table to size it): the most any pair needs
    assert export_summary.main([str(four_models), "predictions", "--pairs", "all", "--items-needed", "0.05"]) == 0
    out = capsys.readouterr().out
    sized = [c for c in comparisons if c["needed"]["count"]]
    worst = max(sized, key=lambda c: c["needed"]["count"])
    unsized = len(comparisons) - len(sized)
    assert len(sized) >= 2 and (f"Every pair at once: about {worst['needed']['count']:,} items, the most any pair needs "
                                f"({worst['configuration']} vs {worst['reference']}), in this family of 6"
                                + (f"; {unsized} pair(s) without a number are not counted" if unsized else "")
                                + ". A configuration added later") in out, out[-1500:]
    # 'alone' is what a run of just that pair plans: same1 vs same2, the others filtered out (a family of one)
    same = next(c for c in comparisons if {c["configuration"], c["reference"]} == {"model=same1", "model=same2"})
    _, alone, _ = run(capsys, four_models, "predictions", "--items-needed", "0.05", "--filter", "model!=strong",
                      "--filter", "model!=weak")
    (only,) = alone["versions"][0]["comparisons"]
    assert only["family_size"] == 1 and only["needed"]["count"] == same["needed"]["count_alone"] is not None
    # without --items-needed the plan's columns are not there at all (trial R read them as missing answers)
    assert export_summary.main([str(four_models), "predictions", "--pairs", "all", "--csv", "--comparisons"]) == 0
    assert "needed" not in capsys.readouterr().out.splitlines()[0]
    for bad, message in ((["--comparisons"], "--comparisons shapes the CSV table: give --csv --comparisons"),
                         (["--csv", "--wide", "--comparisons"], "--wide and --comparisons are two different tables")):
        assert export_summary.main([str(four_models), "predictions", *bad]) == 2
        assert message in capsys.readouterr().err


def test_each_metrics_plot_panel_is_coloured_by_its_own_best(tmp_path, capsys):
    """Trial S: with --pairs all the second metric's panel marked the first metric's best as 'best'. Here
    accuracy ranks a first and b last, and a score (lower is better) ranks them the other way."""
    from _bench.summary.render import _verdicts_for_plot

    rows = []
    for model, right, score in (("a", 0.95, 9.0), ("b", 0.6, 1.0), ("c", 0.8, 5.0)):
        for i, ok in enumerate(correctness(120, right, ord(model))):
            rows.append({"model": model, "input_id": i, "prediction": ok, "ground_truth": 1,
                         "score": score + (i % 7) * 0.1})
    db = tmp_path / "two.db"
    log_rows(db, rows, engine="sqlite", table="predictions")
    _, d, _ = run(capsys, db, "predictions", "--metric", "accuracy:higher", "--metric", "score:lower",
                  "--pairs", "all")
    (v,) = d["versions"]
    assert _verdicts_for_plot(v, ACCURACY) == {"model=a": "best", "model=c": "worse", "model=b": "worse"}
    assert _verdicts_for_plot(v, {"name": "score", "better": "lower"}) == {
        "model=b": "best", "model=c": "worse", "model=a": "worse"}


def test_pairs_none_gives_the_per_configuration_tables_alone(four_models, capsys):
    """Repeated runs judged by an objective (the function template's repeat runs): accuracy pairs of re-timed runs
    buried the verdicts (trial R). --pairs none compares nothing and says so."""
    _, compared, _ = run(capsys, four_models, "predictions")
    code, doc, _ = run(capsys, four_models, "predictions", "--pairs", "none")
    (version,) = doc["versions"]
    assert code == 0 and version["comparisons"] == [] and doc["options"]["pairs"] == "none"
    assert [c["metrics"] for c in version["configurations"]] == [
        c["metrics"] for c in compared["versions"][0]["configurations"]]
    assert version["headline"].startswith("No pairs compared (--pairs none)")
    assert export_summary.main([str(four_models), "predictions", "--pairs", "none"]) == 0
    out = capsys.readouterr().out
    assert "paired on shared items" not in out and "No detectable difference" not in out
    assert export_summary.main([str(four_models), "predictions", "--pairs", "none", "--csv", "--wide"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 4 and not any(r["accuracy_verdict"] or r["accuracy_difference"] for r in rows)

"""export_summary.py --by COLS: each value of a column that sorts the inputs (a category carried from the data)
reported on its own, every table, pair and verdict per slice, as if each slice were run alone with --filter.

Trials Z3 and A had a category per input and wrote their own per-category analysis (or one command per value)."""

from __future__ import annotations

import csv
import io
import json

import export_summary
import pytest
from helpers import call_main
from summary_fixtures import correctness
from xetrack_fixtures import log_rows

pytestmark = pytest.mark.usefixtures("reading")  # every test whole and in slices (conftest.py)

RATES = {"small": 0.82, "large": 0.85}
CATEGORIES = ("billing", "refunds", "shipping")


@pytest.fixture
def tickets(tmp_path, engine):
    """Two models on 240 tickets in three categories; on refunds the small model is much worse (a slice where
    they differ), elsewhere close. Each ticket's category is on its rows, as the LLM template writes it."""
    db = tmp_path / "tickets.db"
    rows = []
    for model, rate in RATES.items():
        for i, ok in enumerate(correctness(240, rate, len(model))):
            category = CATEGORIES[i % 3]
            if model == "small" and category == "refunds":
                ok = int(i % 5 == 0)
            rows.append({"model": model, "input_id": i, "category": category, "correct": ok, "latency_ms": 20 + i % 9,
                         "error": ""})
    log_rows(db, rows, engine=engine, table="predictions")
    return db


def run(capsys, *argv, fmt: str = "--json"):
    code, out, err = call_main(export_summary.main, capsys, *map(str, argv), *([fmt] if fmt else []))
    assert code == 0, err
    return json.loads(out) if fmt == "--json" else out


def test_each_slice_is_reported_as_that_slice_alone_would_be(tickets, capsys):
    common = [tickets, "predictions", "--metric", "correct:higher", "--pairs", "all", "--config-cols", "model"]
    by = run(capsys, *common, "--by", "category")
    assert [v["version"]["category"] for v in by["versions"]] == list(CATEGORIES)
    for stratum in by["versions"]:
        alone = run(capsys, *common, "--filter", f"category={stratum['version']['category']}")
        (only,) = alone["versions"]
        assert stratum["configurations"] == only["configurations"]
        assert stratum["comparisons"] == only["comparisons"]
        assert {c["items"] for c in stratum["configurations"]} == {80}
    verdicts = {v["version"]["category"]: v["comparisons"][0]["verdict"] for v in by["versions"]}
    assert verdicts["refunds"] == "worse" and verdicts["billing"] != "worse", verdicts
    assert by["options"]["by"] == ["category"]
    (info,) = [f for f in by["findings"] if f["check_id"] == "slices-separated"]
    assert info["message"].startswith("3 slices of the inputs by category (--by)")
    assert not any(f["check_id"] == "versions-separated" for f in by["findings"])
    # trial C: which configuration leads each slice, and whether that is a change in ranking
    leaders = {row["slice"]: row for row in by["slice_leaders"]["slices"]}
    assert leaders["category=refunds"] == {"slice": "category=refunds", "leaders": ["model=large"], "not_beaten": []}
    for name in ("category=billing", "category=shipping"):  # 0.82 against 0.85: no leader detectably ahead
        assert leaders[name]["not_beaten"] and len(leaders[name]["leaders"]) == 1
    same = set.intersection(*(set(row["leaders"]) for row in leaders.values()))
    assert by["slice_leaders"]["same_leader"] == bool(same)
    assert by["slice_leaders"]["sentence"] == (
        "model=large leads (or tie for the lead in) every slice on accuracy." if same else
        "The leader on accuracy changes between slices, and in 1 of 3 it is detectably better than every other "
        "configuration there: a change in ranking, within those slices' own families.")
    # named like a setting, category was inferred as part of the configuration; --by says it is not
    inferred = run(capsys, *common[:-2], "--by", "category")
    assert inferred["versions"] == by["versions"] and inferred["inferred"]["layout"]["configuration"] == ["model"]


def test_the_markdown_heads_each_slice_and_the_csvs_carry_its_column(tickets, capsys):
    common = [tickets, "predictions", "--metric", "correct:higher", "--pairs", "all", "--by", "category"]
    text = run(capsys, *common, fmt="")
    assert "480 rows, 2 configuration(s) in 3 part(s), one per version and value of category (--by)." in text
    assert [line for line in text.splitlines() if line.startswith("## ")] == [
        f"## Slice: category={c}" for c in CATEGORIES]
    assert "**Leaders by slice** (accuracy; ties listed together):" in text
    assert "- category=refunds: model=large; detectably ahead of every other" in text
    # trial F: one table of every configuration in every slice, each cell that slice's own estimate and interval
    doc = run(capsys, *common)
    lines = text.splitlines()
    top = lines.index("accuracy by slice (95% CI; each slice's leader in bold):")
    assert lines[top + 2] == "| configuration | " + " | ".join(f"category={c}" for c in CATEGORIES) + " |"
    table = {line.split(" | ")[0].lstrip("| "): [cell.strip(" |*") for cell in line.split(" | ")[1:]]
             for line in lines[top + 4:top + 4 + len(RATES)]}
    for k, stratum in enumerate(doc["versions"]):
        for c in stratum["configurations"]:
            m = c["metrics"]["accuracy"]
            assert table[c["label"]][k] == f"{m['estimate']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
    assert "**" in lines[top + 4] + lines[top + 5]  # a leader's cell in bold
    wide = list(csv.DictReader(io.StringIO(run(capsys, *common, fmt="--csv"))))
    assert sorted({(r["version"], r["configuration"]) for r in wide}) == sorted(
        (f"category={c}", f"model={m}") for c in CATEGORIES for m in RATES)
    pairs = list(csv.DictReader(io.StringIO(run(capsys, *common, "--csv", fmt="--comparisons"))))
    assert [r["category"] for r in pairs] == list(CATEGORIES) and {r["verdict"] for r in pairs} >= {"worse"}


@pytest.mark.parametrize("by, said", [
    ("model --config-cols model", "--by model: a configuration column; to compare configurations within each "
                                  "model, use --within model"),
    ("input_id", "--by input_id: it is the input, replicate, version or pooled column"),
    ("nosuch", "--by column 'nosuch' not found; available: "),
])
def test_a_column_that_cannot_slice_the_inputs_is_one_line_exit_2(tickets, capsys, by, said):
    code, out, err = call_main(export_summary.main, capsys, tickets, "predictions", "--by", *by.split())
    assert code == 2 and out == "" and err.count("\n") == 1 and said in err, err


def test_a_slice_where_every_configuration_ties_says_so_and_is_no_evidence_of_a_lead(tmp_path, engine, capsys):
    """Trial L read "detectably ahead of every other" beside a slice where all three validators scored 1.000."""
    db = tmp_path / "tied.db"
    rows = [{"model": model, "input_id": i, "category": "easy" if i < 60 else "hard",
             "correct": 1 if i < 60 else int(model == "large" or i % 3 == 0), "error": ""}
            for model in ("large", "small") for i in range(120)]
    log_rows(db, rows, engine=engine, table="predictions")
    common = [db, "predictions", "--metric", "correct:higher", "--pairs", "all", "--by", "category"]
    text = run(capsys, *common, fmt="")
    assert "- category=easy: model=large = model=small; all tied" in text
    assert "- category=hard: model=large; detectably ahead of every other" in text
    leaders = run(capsys, *common)["slice_leaders"]
    assert leaders["same_leader"] and [r.get("all_tied", False) for r in leaders["slices"]] == [True, False]


def fisher_two_sided(k1: int, n1: int, k2: int, n2: int) -> float:
    """Fisher's exact test from the hypergeometric probabilities themselves (an implementation of its own): the
    tables with the same margins no likelier than the one observed."""
    from math import comb

    total = comb(n1 + n2, k1 + k2)
    prob = [comb(n1, a) * comb(n2, k1 + k2 - a) / total for a in range(max(0, k1 + k2 - n2), min(n1, k1 + k2) + 1)]
    observed = comb(n1, k1) * comb(n2, k2) / total
    return min(1.0, sum(p for p in prob if p <= observed * (1 + 1e-7)))


def test_each_configuration_is_compared_between_slices_unpaired(tmp_path, engine, capsys):
    """Trials J and M: "does the answer differ between email and chat?" is one configuration across slices, which
    hold different inputs, and took a script of its own. Newcombe's own example (56/70 against 48/80: a difference
    of 0.200 with the hybrid score interval 0.0524 to 0.3339) is one configuration; the Fisher p agrees with the
    hypergeometric sum; the family is adjusted together (Holm)."""
    db = tmp_path / "channels.db"
    rows = [{"model": "m1", "input_id": f"{channel}{i}", "channel": channel, "correct": int(i < right),
             "error": ""} for channel, n, right in (("email", 70, 56), ("chat", 80, 48)) for i in range(n)]
    rows += [{"model": "m2", "input_id": f"{channel}{i}", "channel": channel, "correct": int(i < right), "error": ""}
             for channel, n, right in (("email", 70, 40), ("chat", 80, 45)) for i in range(n)]
    log_rows(db, rows, engine=engine, table="predictions")
    doc = run(capsys, db, "predictions", "--metric", "correct:higher", "--by", "channel")
    between = doc["between_slices"]
    assert between["metric"] == "accuracy" and between["family_size"] == 2
    by = {r["configuration"]: r for r in between["rows"]}
    m1, m2 = by["model=m1"], by["model=m2"]
    assert (m1["slice"], m1["reference_slice"]) == ("channel=email", "channel=chat")
    assert (m1["difference"], m1["ci_low"], m1["ci_high"]) == pytest.approx((0.2, 0.0524, 0.3339), abs=5e-5)
    assert m1["p_value"] == pytest.approx(fisher_two_sided(56, 70, 48, 80), rel=1e-9)
    assert m2["p_value"] == pytest.approx(fisher_two_sided(40, 70, 45, 80), rel=1e-9)
    assert m1["p_adjusted"] == pytest.approx(min(1, 2 * m1["p_value"])) and m1["verdict"] == "higher in channel=email"
    assert m2["p_adjusted"] >= m1["p_adjusted"] and m2["verdict"] == "no detectable difference"
    out = run(capsys, db, "predictions", "--metric", "correct:higher", "--by", "channel", fmt=None)
    assert "**Between slices** (accuracy of each configuration, one slice against another: Fisher's exact" in out
    assert "| model=m1 | channel=email vs channel=chat | 0.800 vs 0.600 | 0.200 [0.052, 0.334] |" in out


def test_a_metric_that_is_not_right_or_wrong_is_not_compared_between_slices_and_it_says_so(tmp_path, engine, capsys):
    db = tmp_path / "scores.db"
    log_rows(db, [{"model": m, "input_id": i, "channel": ("email", "chat")[i % 2], "bleu": (i * 7 % 10) / 10,
                   "error": ""} for m in ("a", "b") for i in range(40)], engine=engine, table="predictions")
    doc = run(capsys, db, "predictions", "--metric", "bleu:higher", "--by", "channel")
    assert doc["between_slices"]["rows"] == []
    assert doc["between_slices"]["not_computed"] == "the metric is not right/wrong with one row per input"
    out = run(capsys, db, "predictions", "--metric", "bleu:higher", "--by", "channel", fmt=None)
    assert "**Between slices** (bleu): not compared, the metric is not right/wrong" in out
    assert "between_slices" not in run(capsys, db, "predictions", "--metric", "bleu:higher")


def test_more_than_six_slices_are_not_compared_between_slices_and_it_says_so(tmp_path, engine, capsys):
    """analysis.md: up to 6 slices (15 pairs per configuration); beyond, the family grows faster than it informs."""
    db = tmp_path / "many.db"
    log_rows(db, [{"model": m, "input_id": i, "region": f"r{i % 7}", "correct": int(i % 3 > 0), "error": ""}
                  for m in ("a", "b") for i in range(70)], engine=engine, table="predictions")
    doc = run(capsys, db, "predictions", "--metric", "correct:higher", "--by", "region")
    assert doc["between_slices"]["rows"] == [] and doc["between_slices"]["not_computed"] == "more than 6 slices"
    six = run(capsys, db, "predictions", "--metric", "correct:higher", "--by", "region", "--filter", "region!=r6")
    assert six["between_slices"]["family_size"] == 2 * 15

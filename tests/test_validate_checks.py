"""Every validate_benchmark check fires on its planted defect and stays quiet on clean data, on both engines.

Databases are written by xetrack itself (tests/validate_fixtures.py). A defect must raise exactly its check
ids, nothing else, so a check that fires on it fires for that reason and the checks stay orthogonal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import validate_benchmark
import validate_fixtures as vf


def validate(capsys, *argv: str) -> tuple[int, dict]:
    code = validate_benchmark.main([*map(str, argv), "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def ids(doc: dict, severities=("error", "warning", "info")) -> set[str]:
    return {f["check_id"] for f in doc["findings"] if f["severity"] in severities}


@pytest.mark.parametrize("build", list(vf.CLEAN.values()), ids=list(vf.CLEAN))
def test_clean_benchmarks_pass_with_no_finding_at_all(tmp_path, engine, capsys, build):
    db = build(tmp_path, engine)
    code, doc = validate(capsys, db, vf.TABLE, "--engine", engine, "--fail-on", "warning")
    assert doc["findings"] == []
    assert (code, doc["status"]) == (0, "ok")
    assert doc["summary"]["rows_inspected"] > 0
    assert doc["summary"]["checks_run"], "a validator that inspects nothing must not pass"
    # This is the clean counterpart of some planted defects: each of their checks must have run here (not been
    # skipped), so "no finding" means the check looked and found nothing.
    counterpart_of = {cid for planted, clean in vf.COUNTERPART.items() if clean is build for cid in vf.DEFECTS[planted]}
    assert counterpart_of <= set(doc["summary"]["checks_run"]), doc["summary"]["checks_skipped"]


# Checks that run only when an option asks for them: their planted and clean cases live in their own file.
ASKED_FOR = {"same-as-reference": "test_validate_same_as.py"}


def test_every_check_id_has_a_planted_fixture_and_a_clean_counterpart():
    assert set(vf.PLANTED) | set(ASKED_FOR) == set(validate_benchmark.CHECKS), \
        "a check id without a planted fixture (or a stale one)"
    for check_id, name in ASKED_FOR.items():  # its file plants the defect and shows it quiet on clean data
        assert f'"{check_id}"' in (Path(__file__).parent / name).read_text(), name
    for check_id, planted in vf.PLANTED.items():
        assert check_id in vf.DEFECTS.get(planted, set()), f"{planted.__name__} does not raise {check_id}"
    for planted, raised in vf.DEFECTS.items():
        clean = vf.COUNTERPART.get(planted)
        assert clean in vf.CLEAN.values(), f"{planted.__name__} has no clean counterpart"
        assert raised <= set(validate_benchmark.CHECKS), raised
    # Every id is raised by some planted fixture and quiet on that fixture's counterpart (the two parametrized
    # tests above run them, on both engines); together they cover every id in CHECKS.
    assert set().union(*vf.DEFECTS.values()) | set(ASKED_FOR) == set(validate_benchmark.CHECKS)


@pytest.mark.parametrize("build", list(vf.DEFECTS), ids=lambda b: b.__name__)
def test_each_planted_defect_raises_exactly_its_checks(tmp_path, engine, capsys, build):
    db = build(tmp_path, engine)
    code, doc = validate(capsys, db, vf.TABLE, "--engine", engine, "--fail-on", "warning")
    assert ids(doc) == vf.DEFECTS[build], json.dumps(doc["findings"], indent=1, default=str)
    assert code == 1 and doc["status"] == "findings"
    for finding in doc["findings"]:
        assert finding["message"] and finding["hint"], finding
        assert finding["check_id"] in validate_benchmark.CHECKS


def test_replays_are_not_duplicates_but_recomputation_is(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    replayed = vf.clean(tmp_path / "a", "sqlite")
    _, doc = validate(capsys, replayed, vf.TABLE)
    assert doc["summary"]["rows_replayed"] == doc["summary"]["rows_computed"] == 2 * vf.N
    (tmp_path / "b").mkdir()
    recomputed = vf.duplicated(tmp_path / "b", "sqlite")
    _, doc = validate(capsys, recomputed, vf.TABLE)
    dup = next(f for f in doc["findings"] if f["check_id"] == "duplicate-executions")
    assert dup["examples"][0]["executions"] == 2 and len(dup["examples"][0]["runs"]) == 2
    assert dup["examples_omitted"] == 2 * vf.N - len(dup["examples"])
    assert dup["message"].startswith(f"{2 * vf.N} (configuration, input) pairs")


def test_repeats_without_a_replicate_column_are_duplicates_and_the_hint_says_to_record_a_seed(tmp_path, capsys):
    seeded = vf.clean_with_seeds(tmp_path, "sqlite")
    _, doc = validate(capsys, seeded, vf.TABLE)
    assert doc["inferred"]["replicate"] == ["seed"] and doc["findings"] == []
    (tmp_path / "plain").mkdir()
    _, doc = validate(capsys, vf.duplicated(tmp_path / "plain", "sqlite"), vf.TABLE)
    dup = next(f for f in doc["findings"] if f["check_id"] == "duplicate-executions")
    assert "record a seed/replicate column" in dup["hint"]


def test_unequal_coverage_names_the_missing_inputs(tmp_path, capsys):
    db = vf.uneven_coverage(tmp_path, "sqlite")
    _, doc = validate(capsys, db, vf.TABLE)
    (finding,) = doc["findings"]
    (example,) = finding["examples"]
    assert example["configuration"].endswith("model=tree")
    assert example["missing"] == 3
    assert sorted(example["missing_examples"]) == [vf.N - 3, vf.N - 2, vf.N - 1]


def test_inputs_missing_from_one_shard_name_that_shard(tmp_path, capsys, engine):
    """Split by input over 3 shards (each input's rows in one file): a shard that stopped early leaves one
    configuration's last inputs of one dataset missing; the finding names the shard that holds the others'."""
    rows = [{"retriever": r, "dataset": d, "query_id": f"{d}-{q:03d}", "ndcg_at_10": q / 100,
             "shard": f"{1 + q % 3}/3"} for r in ("bm25", "colbert") for d in ("fiqa", "scifact") for q in range(60)
            if not (r == "colbert" and d == "scifact" and q % 3 == 2 and q > 40)]  # shard 3/3 died
    db = tmp_path / "sharded.db"
    vf.log_rows(db, rows, engine=engine)
    _, doc = validate(capsys, db, "default", "--engine", engine)
    (f,) = [f for f in doc["findings"] if f["check_id"] == "unequal-coverage"]
    assert f["message"].startswith("Configurations were evaluated on different inputs: 1 of 4 configurations")
    assert "Every row of the missing inputs that other configurations have is in shard 3/3" in f["message"]
    (example,) = f["examples"]
    assert example["missing"] == 7 and example["missing_examples"] == ["scifact-041", "scifact-044", "scifact-047"]


def test_a_shard_that_stopped_early_is_named_by_model_with_its_items_read_as_input_seed_fold(tmp_path, capsys):
    """The templates' layout: a config_id hash keys each configuration, items are (input, seed, fold), rows name
    their shard. One unit of one configuration never ran (its shard was killed): the example leads with the
    model, not only the hash, says how to read `3|1|0`, and the fix says how a shard resumes."""
    from xetrack import Tracker

    db = tmp_path / "sharded.db"
    ids = {"logreg": "a3f09c1e5b7d2468", "svm": "f61881c458353443"}
    rows = [{"config_id": ids[m], "model": m, "dataset": "digits", "input_id": i, "seed": seed, "fold": fold,
             "prediction": i % 3, "ground_truth": i % 3, "shard": f"{1 + (i + seed) % 2}/2"}
            for m in ids for seed in (0, 1) for fold in (0, 1) for i in range(4 * fold, 4 * fold + 4)
            if (m, seed, fold) != ("svm", 1, 0)]  # the unit a killed shard never logged
    Tracker(str(db), table=vf.TABLE, params={"experiment_version": "e1"}).log_batch(rows)
    _, doc = validate(capsys, str(db), vf.TABLE)
    (finding,) = [f for f in doc["findings"] if f["check_id"] == "unequal-coverage"]
    (example,) = finding["examples"]
    assert example["configuration"] == "model=svm (config_id=f61881c458353443)"
    assert example["missing"] == 4 and example["missing_examples"] == ["0|1|0", "1|1|0", "2|1|0"]
    assert "An input here is input_id|seed|fold (as the examples show it)." in finding["message"]
    assert "The rows name their shard (`shard`)" in finding["hint"] and "resumes" in finding["hint"]


def test_error_rate_threshold_decides_the_severity(tmp_path, capsys):
    db = vf.failing(tmp_path, "sqlite")
    _, doc = validate(capsys, db, vf.TABLE)
    (finding,) = doc["findings"]
    assert finding["severity"] == "error"
    assert "'endpoint timed out' x8" in finding["message"]  # 4 of 12 inputs fail, for each of 2 models
    code, doc = validate(capsys, db, vf.TABLE, "--max-error-rate", "0.5")
    (finding,) = doc["findings"]
    assert finding["severity"] == "warning" and "never succeeded" in finding["message"]
    assert "(configuration, input) pairs never succeeded" in finding["message"]
    assert code == 0, "a warning does not fail under the default --fail-on error"
    assert {e["inputs_without_success"] for e in finding["examples"]} == {4}


def test_with_samples_per_question_the_failure_count_names_the_items_it_counts(tmp_path, capsys):
    db = tmp_path / "samples.db"
    vf.log_rows(db, [{"model": m, "question_id": q, "sample_idx": k, "passed": 1, "error": "429" if q == k == 0 else ""}
                  for m in ("a", "b") for q in range(10) for k in range(3)], engine="sqlite")
    _, doc = validate(capsys, db, "default", "--max-error-rate", "0.5")
    (finding,) = [f for f in doc["findings"] if f["check_id"] == "failed-executions"]
    assert "2 (configuration, question_id + sample_idx) pairs never succeeded" in finding["message"]


def _two_kinds_of_failure(model: str, input_id: int) -> dict:
    if input_id % 3 == 0:
        raise TimeoutError("endpoint timed out")
    if input_id % 4 == 1:
        raise ValueError("bad json")
    return vf.predict(model, input_id)


def test_failure_messages_are_counted_per_message_most_common_first(tmp_path, engine, capsys):
    # One message is named by the global pass alone; several need their own query. Both must say the same.
    db = tmp_path / "two.db"
    tracker = vf.Tracker(str(db), engine=engine, table=vf.TABLE, raise_on_error=False)
    for model in ("logreg", "tree"):
        for i in range(vf.N):
            tracker.track(_two_kinds_of_failure, kwargs={"model": model, "input_id": i},
                          params={"model": model, "input_id": i})
    timeouts = 2 * sum(i % 3 == 0 for i in range(vf.N))
    bad = 2 * sum(i % 3 != 0 and i % 4 == 1 for i in range(vf.N))
    _, doc = validate(capsys, db, vf.TABLE, "--engine", engine)
    (finding,) = [f for f in doc["findings"] if f["check_id"] == "failed-executions"]
    assert f"Most common: 'endpoint timed out' x{timeouts}; 'bad json' x{bad}." in finding["message"]


def test_replay_loss_names_the_lost_columns_and_keeps_them_out_of_other_checks(tmp_path, capsys):
    db = vf.replay_lost_parameters(tmp_path, "sqlite")
    _, doc = validate(capsys, db, vf.TABLE)
    (finding,) = doc["findings"]
    assert {e["column"] for e in finding["examples"]} == {"cfg_depth", "cfg_rate"}
    assert {e["rows"] for e in finding["examples"]} == {2 * vf.N}
    assert "params=dataclasses.asdict(cfg)" in finding["hint"]


def test_replayed_rows_carrying_their_configuration_in_params_are_info_not_an_error(tmp_path, engine, capsys):
    """track(f, args=[cfg], params={...}): the params are on every row, so the cache hits lacking the
    dataclass-unpacked cfg_* columns lost nothing. The fix the error would print is what was already done."""
    db = vf.replay_carried_parameters(tmp_path, engine)
    code, doc = validate(capsys, db, vf.TABLE, "--engine", engine, "--fail-on", "warning")
    assert ids(doc, ("error", "warning")) == set(), json.dumps(doc["findings"], indent=1, default=str)
    (finding,) = doc["findings"]
    assert (finding["check_id"], finding["severity"]) == ("missing-parameters.replayed-rows", "info")
    assert "replayed rows carry the configuration in: depth, rate" in finding["message"]
    assert {e["column"] for e in finding["examples"]} == {"cfg_depth", "cfg_rate"}
    assert "params=" not in finding["hint"]
    assert doc["summary"]["rows_replayed"] == 2 * vf.N and doc["summary"]["configurations"] == 2
    assert code == 0


def test_replayed_rows_whose_carried_params_do_not_tell_configurations_apart_are_still_an_error(tmp_path, capsys):
    db = vf.replay_lost_despite_constant_params(tmp_path, "sqlite")
    code, doc = validate(capsys, db, vf.TABLE)
    (finding,) = doc["findings"]
    assert (finding["check_id"], finding["severity"], code) == ("missing-parameters.replayed-rows", "error", 1)
    assert {e["column"] for e in finding["examples"]} == {"cfg_depth", "cfg_rate"}


def test_a_parameter_missing_on_some_rows_of_one_configuration_is_reported(tmp_path, capsys):
    db = tmp_path / "partial.db"
    rows = [{**vf.predict(m, i), "model": m, "lr": 0.1} for m in ("logreg", "tree") for i in range(4)]
    vf.log_rows(db, rows, engine="sqlite", table=vf.TABLE)
    vf.log_rows(db, [{**vf.predict("logreg", 0), "model": "logreg"}], engine="sqlite", table=vf.TABLE)
    _, doc = validate(capsys, db, vf.TABLE)
    (finding,) = doc["findings"]  # the phantom configuration (logreg, lr NULL) is not also a coverage gap
    assert (finding["check_id"], finding["severity"]) == ("missing-parameters", "warning")
    assert finding["examples"] == [{"column": "lr", "configuration": "model=logreg, lr=NULL", "rows": 1}]


def test_mixed_storage_in_one_column_is_an_error_with_the_runs_that_differ(tmp_path, capsys):
    """SQLite only: a REAL column keeps a text value as text (xetrack's DuckDB engine refuses to write it)."""
    db = tmp_path / "mixed.db"
    vf.log_rows(db, [{**vf.predict(m, i), "model": m, "loss": 0.5} for m in ("a", "b") for i in range(4)],
                engine="sqlite", table=vf.TABLE, track_id="run-1")
    vf.log_rows(db, [{**vf.predict(m, i), "model": m, "loss": "n/a"} for m in ("a", "b") for i in range(4, 8)],
                engine="sqlite", table=vf.TABLE, track_id="run-2")
    code, doc = validate(capsys, db, vf.TABLE)
    (finding,) = doc["findings"]
    assert (finding["check_id"], finding["severity"], code) == ("schema-drift.mixed-types", "error", 1)
    assert "8 real, 8 text" in finding["message"]
    assert {(e["run"], e["stored_as"]) for e in finding["examples"]} == {("run-1", "real"), ("run-2", "text")}


def test_duckdb_refusing_a_mixed_column_falls_back_to_sqlite_and_reports_it(tmp_path, capsys):
    db = tmp_path / "mixed.db"
    rows = [{**vf.predict(m, i), "model": m, "loss": 1 if i < 2 else 0.5} for m in ("a", "b") for i in range(4)]
    vf.log_rows(db, rows, engine="sqlite", table=vf.TABLE)
    code = validate_benchmark.main([str(db), vf.TABLE, "--engine", "duckdb", "--json", "--config-cols", "model,loss"])
    captured = capsys.readouterr()
    assert "reading through sqlite3 instead" in captured.err
    doc = json.loads(captured.out)
    assert doc["summary"]["engine"] == "sqlite" and code in (0, 1)


def test_asset_hashes_are_confirmed_against_the_assets_table_not_guessed(tmp_path, capsys):
    """A 16-hex content hash that is not a xetrack asset (benchkit's config_id, say) is not a defect."""
    db = tmp_path / "ids.db"
    rows = [{**vf.predict(m, i), "model": m, "run_hash": f"c{i:015x}"} for m in ("a", "b") for i in range(4)]
    vf.log_rows(db, rows, engine="sqlite", table=vf.TABLE)
    _, doc = validate(capsys, db, vf.TABLE, "--config-cols", "model")
    assert doc["summary"]["checks_run"] and "schema-drift.asset-hashes" in doc["summary"]["checks_run"]
    assert doc["findings"] == []


def test_mixed_versions_hint_names_a_filter_that_makes_the_comparison_valid(tmp_path, capsys):
    db = vf.mixed_versions(tmp_path, "sqlite")
    _, doc = validate(capsys, db, vf.TABLE)
    (finding,) = doc["findings"]
    assert {e["value"] for e in finding["examples"]} == {"e1", "e2"}
    code, doc = validate(capsys, db, vf.TABLE, "--filter", "experiment_version=e1")
    assert (code, doc["findings"]) == (0, [])
    assert doc["summary"]["rows_inspected"] == vf.N
    code, doc = validate(capsys, db, vf.TABLE, "--filter", "experiment_version!=e2")  # the same rows, negated
    assert (code, doc["findings"], doc["summary"]["rows_inspected"]) == (0, [], vf.N)


def test_train_test_overlap_lists_the_shared_inputs(tmp_path, capsys):
    db = vf.train_test_overlap(tmp_path, "sqlite")
    _, doc = validate(capsys, db, vf.TABLE)
    (finding,) = doc["findings"]
    assert sorted(finding["examples"]) == [4, 5]


def test_inconsistent_ground_truth_counts_the_inputs_that_disagree(tmp_path, capsys):
    db = vf.inconsistent_ground_truth(tmp_path, "sqlite")
    _, doc = validate(capsys, db, vf.TABLE)
    (finding,) = doc["findings"]
    assert "4 inputs" in finding["message"]
    assert sorted(e["input"] for e in finding["examples"]) == [0, 1, 2, 3]


def test_a_ground_truth_that_changes_only_between_versions_is_left_to_mixed_versions(tmp_path, capsys):
    db = tmp_path / "gtv.db"
    for version, flip in (("e1", 0), ("e2", 1)):
        rows = [{**vf.predict(m, i), "model": m} for m in ("a", "b") for i in range(4)]
        for r in rows:
            r["ground_truth"] = (r["ground_truth"] + flip) % 2
        vf.log_rows(db, rows, engine="sqlite", table=vf.TABLE, params={"data_version": version})
    _, doc = validate(capsys, db, vf.TABLE)
    assert ids(doc) == {"mixed-versions"}


def test_shards_of_two_different_splits_read_together_are_an_error(tmp_path, capsys):
    db = vf._sharded(tmp_path, "sqlite", "resplit.db", (1, 2, 3))
    vf.log_rows(db, [{**vf.predict("logreg", i), "model": "logreg"} for i in range(vf.N) if i % 2 == 0],
                engine="sqlite", table=vf.TABLE, params={"experiment_version": "e1", "shard": "1/2", "host": "node-9"})
    code, doc = validate(capsys, db, vf.TABLE)
    (split,) = [f for f in doc["findings"] if f["check_id"] == "missing-shards" and "different splits" in f["message"]]
    assert code == 1 and split["examples"] == ["N=2", "N=3"]
    (missing,) = [f for f in doc["findings"] if f["check_id"] == "missing-shards" and "missing (" in f["message"]]
    assert missing["examples"] == ["2/2"]


def test_duplicate_executions_say_whether_their_outputs_agree(tmp_path, engine, capsys):
    _, doc = validate(capsys, vf.duplicated(tmp_path, engine), vf.TABLE, "--engine", engine)
    (dup,) = [f for f in doc["findings"] if f["check_id"] == "duplicate-executions"]
    assert "Their `prediction` values agree." in dup["message"]  # a deterministic model computed twice
    assert all(e["prediction_differs"] is False for e in dup["examples"])

    db = tmp_path / "sampled.db"
    rows = [{**vf.predict(m, i), "model": m} for m in ("logreg", "tree") for i in range(vf.N)]
    vf.log_rows(db, rows, engine=engine, table=vf.TABLE, track_id="run-1")
    again = [{**r, "prediction": 1 - r["prediction"]} if r["input_id"] < 3 and r["model"] == "tree" else r
             for r in rows]  # a second run: three outputs of 'tree' came out different
    vf.log_rows(db, again, engine=engine, table=vf.TABLE, track_id="run-2")
    _, doc = validate(capsys, db, vf.TABLE, "--engine", engine)
    (dup,) = [f for f in doc["findings"] if f["check_id"] == "duplicate-executions"]
    assert f"{2 * vf.N} (configuration, input) pairs" in dup["message"]
    assert "In 3 of them the executions gave different `prediction` values" in dup["message"]


def _datasets(db: Path, engine: str, skip: int = 0, shared: bool = False) -> Path:
    """3 retrievers on 2 datasets, each dataset with its own query ids (or, `shared`, the same ids); `skip`:
    queries bm25 never ran on fiqa."""
    rows = [{"retriever": r, "dataset": d, "query_id": (0 if shared else 1000 * k) + q, "ndcg_at_10": q / 40}
            for r in ("bm25", "dense", "hybrid") for k, (d, n) in enumerate((("fiqa", 30), ("scifact", 20)))
            for q in range(n) if not (r == "bm25" and d == "fiqa" and q < skip)]
    vf.log_rows(db, rows, engine=engine)
    return db


def test_datasets_with_their_own_inputs_are_complete_coverage_within_each(tmp_path, capsys, engine):
    code, doc = validate(capsys, _datasets(tmp_path / "beir.db", engine), "default", "--engine", engine)
    assert code == 0 and "unequal-coverage" in doc["summary"]["checks_run"] and not doc["findings"]
    assert doc["summary"]["coverage_within"] == {"column": "dataset", "items": {"fiqa": 30, "scifact": 20}}
    # planted: bm25 skipped 4 fiqa queries; the same check fires within the dataset
    _, doc = validate(capsys, _datasets(tmp_path / "gap.db", engine, skip=4), "default", "--engine", engine)
    (f,) = doc["findings"]
    assert f["check_id"] == "unequal-coverage" and f["severity"] == "error" and "coverage_within" not in doc["summary"]
    # judged within its dataset: one configuration short by 4 (trial Y: "8 of 8 lack inputs", each "missing" the
    # other dataset's queries, once one configuration was short inside one dataset)
    assert "1 of 6 configurations lack inputs that others of their dataset have (each dataset with its own " \
           "inputs: fiqa 30, scifact 20)" in f["message"]
    (example,) = f["examples"]
    assert (example["configuration"], example["missing"], example["missing_examples"]) == (
        "retriever=bm25, dataset=fiqa", 4, [0, 1, 2])
    # the same query ids in both datasets do not nest in it: the smaller dataset lacks inputs the other has
    _, doc = validate(capsys, _datasets(tmp_path / "same.db", engine, shared=True), "default")
    assert [f["check_id"] for f in doc["findings"]] == ["unequal-coverage"]

"""scripts/_layout.py: one role inference, and the three scripts read a table the same way."""

from __future__ import annotations

import json

import analyze_cache_hits
import export_summary
import pytest
import validate_benchmark
from _bench.layout import infer_roles, label, table_kind
from _bench.reader import Column, InputError
from xetrack_fixtures import log_rows, predict


def columns(*spec: str) -> list[Column]:
    """'name:TYPE' pairs as a table's columns."""
    return [Column(*s.split(":")) for s in spec]


def test_roles_are_inferred_from_xetrack_layout_and_can_be_overridden():
    cols = columns("track_id:TEXT", "timestamp:TEXT", "experiment_version:TEXT", "model:TEXT", "lr:REAL",
                   "seed:INTEGER", "function_name:TEXT", "error:TEXT", "function_time:REAL", "cache:TEXT",
                   "input_id:INTEGER", "prediction:INTEGER", "ground_truth:INTEGER", "latency_ms:FLOAT",
                   "split:VARCHAR")
    roles = infer_roles(cols)
    assert roles.parameters == ["model", "lr"]
    assert roles.replicate == ["seed"]
    assert roles.input_id == "input_id"
    assert roles.version == ["experiment_version"]
    assert roles.split == "split"
    assert roles.outcomes == ["prediction", "ground_truth", "latency_ms"]
    assert infer_roles(cols, input_col="prediction", config_cols=["model"]).parameters == ["model"]
    with pytest.raises(InputError, match="column 'nope' not found; available: track_id"):
        infer_roles(cols, config_cols=["nope"])


@pytest.mark.parametrize("name", ["ticket_id", "doc_id", "image_id", "Case_ID", "user_id", "task_id"])
def test_a_single_thing_id_column_is_the_input_id_when_no_known_name_is_present(name):
    roles = infer_roles(columns("model:TEXT", "prompt:TEXT", "config_id:TEXT", "model_id:TEXT", "run_id:TEXT",
                                "worker_id:TEXT", f"{name}:INTEGER", "predicted_label:TEXT", "true_label:TEXT"))
    assert roles.input_id == name
    assert name not in roles.parameters and "model_id" in roles.parameters and "config_id" in roles.parameters
    # a known name still wins; a user's choice wins over both
    assert infer_roles(columns(f"{name}:INTEGER", "item_id:INTEGER", "model:TEXT")).input_id == "item_id"
    assert infer_roles(columns(f"{name}:INTEGER", "model:TEXT"), input_col="model").input_id == "model"
    assert infer_roles(columns(f"{name}:INTEGER", "model:TEXT"), config_cols=[name]).input_id is None


def test_two_thing_id_columns_are_not_guessed_between_and_validate_names_both(tmp_path, capsys):
    roles = infer_roles(columns("model:TEXT", "ticket_id:INTEGER", "customer_id:INTEGER"))
    assert roles.input_id is None and roles.input_candidates == ["ticket_id", "customer_id"]
    db = tmp_path / "two_ids.db"
    log_rows(db, [{"model": m, "ticket_id": i, "customer_id": i % 3, "correct": 1} for m in "ab" for i in range(4)],
             engine="sqlite")
    validate_benchmark.main([str(db), "--json"])
    doc = json.loads(capsys.readouterr().out)
    reason = doc["summary"]["checks_skipped"]["missing-input-id"]
    assert reason == "no input-id column (several could be: ticket_id, customer_id; name it with --input-col)"


@pytest.mark.parametrize("name", ["correct_strict", "correct_lenient", "is_correct", "answer_correct", "nll",
                                  "brier", "log_loss", "cost", "cost_usd", "prompt_cost", "latency",
                                  "latency_p99", "latencyms", "predict_seconds", "input_tokens", "p_true",
                                  # ranking, retrieval, pass/fail and judged outcomes
                                  "hit_at_10", "hits_at_5", "recall_at_10", "ndcg_at_10", "ndcg", "mrr",
                                  "mrr_at_10", "precision@5", "pass_at_1", "passed", "success", "win",
                                  "reward", "judge_score", "rating", "wer", "chrf", "perplexity"])
def test_outcome_columns_are_never_taken_for_parameters_whatever_their_stored_type(name):
    for kind in ("INTEGER", "TEXT", "REAL"):
        roles = infer_roles(columns("model:TEXT", f"{name}:{kind}"))
        assert roles.parameters == ["model"], (name, kind)
        assert name in roles.outcomes


def test_hyperparameters_and_text_settings_stay_parameters():
    roles = infer_roles(columns("model:TEXT", "temperature:REAL", "max_tokens:INTEGER", "prompt:TEXT",
                                "top_k:INTEGER", "rank:INTEGER", "lora_rank:INTEGER", "chunk_size:INTEGER",
                                "accuracy:REAL"))
    assert roles.parameters == ["model", "temperature", "max_tokens", "prompt", "top_k", "rank", "lora_rank",
                                "chunk_size"]
    assert roles.outcomes == ["accuracy"]


def test_asset_columns_are_assets_by_design_not_parameters_or_outcomes():
    roles = infer_roles(columns("model:TEXT", "model_asset:TEXT", "accuracy:REAL"))
    assert roles.assets == ["model_asset"] and roles.parameters == ["model"] and roles.outcomes == ["accuracy"]


def test_a_load_test_request_table_is_recognised_and_a_prediction_table_is_not():
    assert table_kind(["config_id", "seq", "scheduled_s", "sent_s", "latency_ms", "status", "error"]) == "load"
    assert table_kind(["model", "input_id", "prediction", "latency_ms"]) == "benchmark"
    assert table_kind(["scheduled_s", "bytes"]) == "benchmark"  # a schedule without a latency is not one


def test_every_report_names_a_configuration_the_same_way():
    assert label(["model", "lr"], ("svm", 0.5)) == "model=svm, lr=0.5"
    assert label(["model"], ("a\nlong  prompt",)) == "model=a long prompt"


def _two_versions_compared(db, engine):
    """Two models under two experiment versions: the question is which (model, version) is better."""
    rows = []
    for version, models in (("e1", ("logreg", "tree")), ("e2", ("logreg", "tree"))):
        rows += [{**predict(m, i), "model": m, "experiment_version": version, "error": ""}
                 for m in models for i in range(12)]
    log_rows(db, rows, engine=engine, table="predictions")
    return db


def test_a_version_column_named_in_config_cols_is_compared_by_all_three_scripts_not_stratified(
        tmp_path, capsys, engine):
    db = _two_versions_compared(tmp_path / "v.db", engine)
    flags = [str(db), "predictions", "--config-cols", "model,experiment_version", "--json"]
    assert validate_benchmark.main(flags) == 0
    report = json.loads(capsys.readouterr().out)
    assert "mixed-versions" not in {f["check_id"] for f in report["findings"]}
    assert report["inferred"]["versions"] == [] and report["summary"]["configurations"] == 4
    export_summary.main(flags)
    doc = json.loads(capsys.readouterr().out)
    assert doc["inferred"]["layout"]["versions"] == [] and doc["summary"]["configurations"] == 4
    analyze_cache_hits.main(flags)
    cache = json.loads(capsys.readouterr().out)
    assert cache["inferred"]["versions"] == [] and len(cache["summary"]["per_configuration"]) == 4


def test_the_three_scripts_report_the_same_inferred_layout(tmp_path, capsys):
    db = _two_versions_compared(tmp_path / "v.db", "sqlite")
    validate_benchmark.main([str(db), "predictions", "--json"])
    v = json.loads(capsys.readouterr().out)["inferred"]
    export_summary.main([str(db), "predictions", "--json"])
    e = json.loads(capsys.readouterr().out)["inferred"]["layout"]
    analyze_cache_hits.main([str(db), "predictions", "--json"])
    a = json.loads(capsys.readouterr().out)["inferred"]
    shared = ("configuration", "configuration_from", "parameters", "versions", "input_id", "replicate",
              "outcomes", "assets", "kind")
    assert {k: v[k] for k in shared} == {k: e[k] for k in shared} == {k: a[k] for k in shared}


def test_a_label_printed_by_validate_is_accepted_by_export_summary_reference(tmp_path, capsys):
    rows = [{**predict(m, i), "model": m, "error": ""} for m in ("logreg", "tree") for i in range(12)]
    rows += [{**predict("svm", i), "model": "svm", "error": "boom"} for i in range(12)]
    db = log_rows(tmp_path / "f.db", rows, engine="sqlite", table="predictions").db
    validate_benchmark.main([db, "predictions", "--json"])
    failed = json.loads(capsys.readouterr().out)["findings"]
    printed = next(f for f in failed if f["check_id"] == "failed-executions")["examples"][0]["configuration"]
    assert printed == "model=svm"
    assert export_summary.main([db, "predictions", "--reference", "model=tree", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["options"]["reference"] == "model=tree"


def test_an_item_in_an_example_reads_in_the_order_the_report_names_its_parts(tmp_path, capsys):
    rows = [{"model": m, "input_id": i, "seed": s, "fold": i % 2, "prediction": 1, "ground_truth": 1, "error": ""}
            for m in ("a", "b") for s in (0, 1) for i in range(6)]
    db = tmp_path / "d.db"
    log_rows(db, rows, engine="sqlite", table="predictions")
    log_rows(db, [r for r in rows if r["model"] == "a"], engine="sqlite", table="predictions")  # a rerun
    assert validate_benchmark.main([str(db), "predictions", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["inferred"]["item_key"] == ["input_id", "seed", "fold"]
    example = next(f for f in report["findings"] if f["check_id"] == "duplicate-executions")["examples"][0]
    input_id, seed, fold = example["input"].split("|")
    assert int(fold) == int(input_id) % 2 and seed in ("0", "1")


# ---- provenance: where a row ran differs per machine of one benchmark -----------------------------------------
@pytest.mark.parametrize("name", ["host", "hostname", "worker", "worker_id", "shard"])
def test_where_a_row_ran_is_provenance_not_a_parameter_version_or_outcome(name):
    roles = infer_roles(columns("model:TEXT", f"{name}:TEXT", "experiment_version:TEXT", "accuracy:REAL"))
    assert roles.provenance == [name]
    assert roles.parameters == ["model"] and roles.version == ["experiment_version"]
    assert name not in roles.outcomes
    assert infer_roles(columns("model:TEXT", f"{name}:TEXT"), config_cols=["model", name]).parameters == \
        ["model", name]  # named in --config-cols, it is compared


def _two_shards(tmp_path, engine, hosts: tuple[str, str], shard_column: bool = True) -> list[str]:
    """One benchmark split over two files by input, as two machines write it; no config_id column, so the
    configuration comes from the parameters, where a host column would otherwise land."""
    paths = []
    for shard, host in enumerate(hosts, start=1):
        rows = [{**predict(m, i), "model": m, "error": "", "host": host,
                 **({"shard": f"{shard}/2"} if shard_column else {})} for m in ("logreg", "tree") for i in range(20) if i % 2 == shard - 1]
        db = tmp_path / f"b.shard-{shard}-of-2.db"
        log_rows(db, rows, engine=engine, table="predictions", params={"experiment_version": "e1"})
        paths.append(str(db))
    return paths


@pytest.mark.parametrize("hosts, shard_column", [(("node-a", "node-b"), True),  # planted: differ per file
                                                  (("node-a", "node-a"), False)])  # the clean counterpart
def test_shards_computed_on_different_hosts_validate_clean_as_one_benchmark(tmp_path, capsys, engine, hosts,
                                                                             shard_column):
    paths = _two_shards(tmp_path, engine, hosts, shard_column)
    assert validate_benchmark.main([*paths, "predictions", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["configurations"] == 2 and report["summary"]["rows_inspected"] == 40
    assert report["inferred"]["configuration"] == ["model"] and report["inferred"]["versions"] == \
        ["experiment_version"]
    export_summary.main([*paths, "predictions", "--json"])
    assert json.loads(capsys.readouterr().out)["summary"]["configurations"] == 2


def test_a_host_named_in_config_cols_splits_the_configurations_and_validate_says_so(tmp_path, capsys):
    paths = _two_shards(tmp_path, "sqlite", ("node-a", "node-b"))
    assert validate_benchmark.main([*paths, "predictions", "--config-cols", "model,host", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert "unequal-coverage" in {f["check_id"] for f in report["findings"]}  # what a host as parameter causes


# ---- parameters by name that their values show are outcomes (scripts/_bench/disguised_outcomes.py) ----------
def retrieval_rows(rank_of) -> list[dict]:
    """Three retrievers on 60 queries; `rank_of(retriever, query)` is the logged `rank`."""
    return [{"retriever": r, "top_k": 10, "query_id": q, "rank": rank_of(r, q), "hit_at_10": int(rank_of(r, q) <= 10)}
            for r in ("bm25", "dense", "hybrid") for q in range(60)]


def inferred(capsys, db, *extra) -> dict:
    assert validate_benchmark.main([str(db), "results", "--json", *extra]) in (0, 1)
    return json.loads(capsys.readouterr().out)


def test_a_rank_with_one_value_per_query_is_an_outcome_not_a_configuration(tmp_path, capsys, engine):
    """Trial M: the rank of the relevant document split 3 retrievers into 104 configurations."""
    db = tmp_path / "retrieval.db"
    log_rows(db, retrieval_rows(lambda r, q: 1 + (q * 7 + len(r)) % 40), engine=engine, table="results")
    doc = inferred(capsys, db, "--engine", engine)
    assert doc["inferred"]["configuration"] == ["retriever", "top_k"]
    assert doc["inferred"]["outcomes_by_values"] == ["rank"] and "rank" in doc["inferred"]["outcomes"]
    assert doc["summary"]["configurations"] == 3 and doc["findings"] == []
    assert validate_benchmark.main([str(db), "results"]) == 0
    assert "rank taken as an outcome: one value per item within a configuration" in capsys.readouterr().out
    # --config-cols is the user's word: rank is then a configuration column again
    assert inferred(capsys, db, "--config-cols", "retriever,top_k,rank")["summary"]["configurations"] > 3


def test_an_inputs_field_that_varies_within_a_config_id_labels_no_configuration(tmp_path, capsys, engine):
    """Trial A: the LLM template carries an input's own fields onto its rows, and validate listed `channel` (3
    values, too few to be told an input's attribute by its values) among the parameters labelling every
    configuration; export showed one arbitrary channel per configuration. config_id is the configuration's content
    hash: a column with several values under one config_id belongs to the item."""
    rows = [{"config_id": f"c{m}", "model": m, "input_id": q, "channel": ("email", "chat", "phone")[q % 3],
             **{k: v for k, v in predict(m, q).items() if k != "input_id"}} for m in ("logreg", "tree")
            for q in range(30)]
    db = tmp_path / "tickets.db"
    log_rows(db, rows, engine=engine, table="results")
    doc = inferred(capsys, db, "--engine", engine)
    assert doc["inferred"]["configuration"] == ["config_id"] and doc["summary"]["configurations"] == 2
    assert validate_benchmark.main([str(db), "results", "--engine", engine]) == 0
    said = capsys.readouterr().out
    assert "labelled by model;" in said or "labelled by model)" in said, said
    assert export_summary.main([str(db), "results", "--engine", engine, "--csv", "--wide"]) == 0
    table = capsys.readouterr().out
    assert "channel" not in table.splitlines()[0] and "model" in table.splitlines()[0], table


def test_a_rank_every_query_meets_in_turn_stays_a_parameter(tmp_path, capsys):
    """A LoRA rank swept over the same queries is a setting, however many values it takes."""
    rows = [{"model": "m", "rank": rank, "query_id": q, "hit_at_10": (q + rank) % 2}
            for rank in range(1, 13) for q in range(30)]
    db = tmp_path / "lora.db"
    log_rows(db, rows, engine="sqlite", table="results")
    doc = inferred(capsys, db)
    assert doc["inferred"]["configuration"] == ["model", "rank"] and doc["inferred"]["outcomes_by_values"] == []


def test_a_few_settings_run_on_disjoint_inputs_stay_parameters_and_coverage_says_so(tmp_path, capsys):
    """Below MIN_VALUES values a column stays a parameter even when each input met one: a small grid run on
    different inputs is the unequal coverage validate must report, not an outcome."""
    rows = [{"model": "m", "chunk": c, "query_id": q, "hit_at_10": q % 2} for c in (1, 2, 3) for q in range(c * 20,
                                                                                                           c * 20 + 20)]
    db = tmp_path / "disjoint.db"
    log_rows(db, rows, engine="sqlite", table="results")
    doc = inferred(capsys, db)
    assert doc["inferred"]["configuration"] == ["model", "chunk"] and doc["inferred"]["outcomes_by_values"] == []
    assert "unequal-coverage" in {f["check_id"] for f in doc["findings"]}


def test_a_setting_named_like_a_hyperparameter_stays_one_whatever_its_values(tmp_path, capsys):
    rows = [{"model": "m", "top_k": 1 + q % 20, "query_id": q, "hit_at_10": q % 2} for q in range(60)]
    db = tmp_path / "topk.db"
    log_rows(db, rows, engine="sqlite", table="results")
    assert inferred(capsys, db)["inferred"]["configuration"] == ["model", "top_k"]


def test_an_integer_sample_column_numbers_repeats_and_any_column_can_be_named_one(tmp_path, capsys):
    assert infer_roles([Column("model", "TEXT"), Column("prompt_id", "INTEGER"), Column("sample", "INTEGER")]
                       ).replicate == ["sample"]
    # text in a column named sample is data (a sampled answer), not a repeat index
    assert infer_roles([Column("model", "TEXT"), Column("prompt_id", "INTEGER"), Column("sample", "TEXT")]
                       ).replicate == []
    db = tmp_path / "draws.db"
    log_rows(db, [{"model": m, "prompt_id": p, "draw": k, "score": (p + k) % 10} for m in "ab" for p in range(20)
                  for k in range(3)], engine="sqlite", table="results")
    plain = inferred(capsys, db)
    assert plain["inferred"]["configuration"] == ["model", "draw"] and plain["inferred"]["replicate"] == []
    named = inferred(capsys, db, "--replicate-cols", "draw")
    assert named["inferred"]["configuration"] == ["model"] and named["inferred"]["replicate"] == ["draw"]
    assert named["status"] == "ok" and named["summary"]["sample"] == "20 inputs x 3 draws (60 items)"
    d = json.loads(capsys.readouterr().out if export_summary.main(
        [str(db), "results", "--metric", "score", "--replicate-cols", "draw", "--json"]) == 0 else "{}")
    assert d["inferred"]["layout"]["replicate"] == ["draw"]
    assert validate_benchmark.main([str(db), "results", "--replicate-cols", "nope"]) == 2
    assert "column 'nope' not found" in capsys.readouterr().err


def test_a_per_fold_table_is_counted_in_folds_and_a_per_example_one_in_inputs(tmp_path, capsys):
    # the sklearn template's two tables: scores (one row per seed x fold, item_id names the fold) and
    # predictions (one row per example and seed, each example in one fold of each seed)
    folds = [{"model": m, "seed": s, "fold": f, "item_id": f"seed{s}/fold{f}", "accuracy": (s + f + len(m)) % 3 / 2}
             for m in ("a", "bb") for s in range(3) for f in range(5)]
    log_rows(tmp_path / "folds.db", folds, engine="sqlite", table="results")
    assert inferred(capsys, tmp_path / "folds.db")["summary"]["sample"] == "15 folds (3 seeds x 5 folds)"
    examples = [{"model": m, "seed": s, "fold": (i + s) % 5, "input_id": i, "prediction": i % 2,
                 "ground_truth": (i + s) % 2} for m in ("a", "bb") for s in range(3) for i in range(20)]
    log_rows(tmp_path / "examples.db", examples, engine="sqlite", table="results")
    assert inferred(capsys, tmp_path / "examples.db")["summary"]["sample"] == "20 inputs x 3 seeds (60 items)"


def test_an_inputs_own_attributes_and_a_0_1_result_are_outcomes_but_a_0_1_setting_stays_one(tmp_path, capsys):
    """Trial T: an input's text and file position hid each other (grouped by one, the other takes one value per
    group), and `raised` (0/1) had too few values: labels read 'raised=1, parser=strict'."""
    rows = [{"parser": p, "quoted": q, "input_id": f"d{i:03d}", "repeat": r, "text": f"date {i}", "file_position": i,
             "bailed": int(p == "strict" and i % 4 == 0), "prediction": i % 3, "ground_truth": i % 2}
            for p in ("strict", "regex") for q in (0, 1) for i in range(40) for r in range(2)]
    log_rows(tmp_path / "parsers.db", rows, engine="sqlite", table="results")
    doc = inferred(capsys, tmp_path / "parsers.db")
    assert doc["inferred"]["configuration"] == ["parser", "quoted"]  # quoted: a 0/1 setting over the same items
    # bailed: a 0/1 result no name gives away (`raised`, `timed_out` are outcomes by name)
    assert set(doc["inferred"]["outcomes_by_values"]) == {"text", "file_position", "bailed"}
    assert doc["summary"]["configurations"] == 4

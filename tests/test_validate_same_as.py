"""validate_benchmark.py --same-as REF: the shards of a run add up to one unsharded run, or the report says
where they do not. Every database is written by xetrack itself, on both engines."""

from __future__ import annotations

import json
from pathlib import Path

import validate_benchmark
import validate_fixtures as vf
from helpers import run_python
from xetrack_fixtures import log_rows, predict

SCRIPT = Path(validate_benchmark.__file__)


def unsharded(db: Path, engine: str, items=range(vf.N), *, changed: dict | None = None, slower: float = 0.0) -> Path:
    """One run over every item, as the sharded run's command would have logged it unsharded. `changed`:
    {(model, input_id): prediction} planted; `slower` adds to every latency (timing never matches)."""
    rows = []
    for m in ("logreg", "tree"):
        for i in items:
            row = {**predict(m, i), "model": m}
            row["prediction"] = (changed or {}).get((m, i), row["prediction"])
            row["latency_ms"] += slower
            rows.append(row)
    log_rows(db, rows, engine=engine, table=vf.TABLE, params={"experiment_version": "e1", "host": "laptop"})
    return db


def validate(capsys, *argv) -> tuple[int, dict]:
    code = validate_benchmark.main([*map(str, argv), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_gathered_shards_equal_to_one_unsharded_run_pass_and_say_what_was_compared(tmp_path, engine, capsys):
    shards = vf.clean_sharded(tmp_path, engine)
    reference = unsharded(tmp_path / "ref.db", engine, slower=5.0)
    code, doc = validate(capsys, shards, vf.TABLE, "--engine", engine, "--same-as", reference)
    assert code == 0 and doc["findings"] == []
    assert "same-as-reference" in doc["summary"]["checks_run"]
    same = doc["summary"]["same_as"]
    assert same["agree"] == 2 * vf.N and same["only_here"] == same["only_reference"] == same["differ"] == 0
    assert same["key"] == ["model", "input_id"] and "prediction" in same["compared"]
    assert same["left_out"] == ["latency_ms"]  # 5 ms slower everywhere, and still the same benchmark


def test_a_missing_key_an_extra_key_and_a_changed_outcome_are_each_counted_and_shown(tmp_path, engine, capsys):
    shards = vf.clean_sharded(tmp_path, engine)  # inputs 0..N-1
    flipped = 1 - predict("tree", 4)["prediction"]
    reference = unsharded(tmp_path / "ref.db", engine, items=range(1, vf.N + 1), changed={("tree", 4): flipped})
    code, doc = validate(capsys, shards, vf.TABLE, "--engine", engine, "--same-as", reference)
    assert code == 1
    (finding,) = [f for f in doc["findings"] if f["check_id"] == "same-as-reference"]
    same = doc["summary"]["same_as"]
    assert (same["only_here"], same["only_reference"], same["differ"]) == (2, 2, 1)  # input 0 / input N, both models
    assert same["agree"] == 2 * vf.N - 3
    by = {d["configuration"]: (d["only_here"], d["only_reference"], d["differ"]) for d in same["by_configuration"]}
    assert by == {"model=logreg": (1, 1, 0), "model=tree": (1, 1, 1)}
    assert "2 only here; 2 only in the reference; 1 with other outcome values" in finding["message"]
    kinds = {e["difference"] for e in finding["examples"]}
    assert kinds == {"only here", "only in the reference", "other outcomes"}
    (other,) = [e for e in finding["examples"] if e["difference"] == "other outcomes"]
    assert (other["model"], other["input_id"]) == ("tree", 4)
    assert other["here"] == {"prediction": predict("tree", 4)["prediction"]}
    assert other["reference"] == {"prediction": flipped}


def test_every_kind_of_difference_shows_among_the_first_examples(tmp_path, capsys):
    """Trial O: 1,000 missing keys filled every example slot and hid the 316 changed results."""
    shards = vf.clean_sharded(tmp_path, "sqlite")
    flipped = {("logreg", 3): 1 - predict("logreg", 3)["prediction"]}
    reference = unsharded(tmp_path / "ref.db", "sqlite", items=range(vf.N - 8), changed=flipped)  # 16 keys missing
    _, doc = validate(capsys, shards, vf.TABLE, "--same-as", reference)
    (finding,) = [f for f in doc["findings"] if f["check_id"] == "same-as-reference"]
    assert len(finding["examples"]) == 5 and finding["examples_omitted"] == 17 - 5
    assert {e["difference"] for e in finding["examples"]} == {"only here", "other outcomes"}


def test_a_call_that_failed_in_one_run_and_not_the_other_differs_by_its_failure(tmp_path, capsys):
    """Whether a call raised is compared (its error text is not: it may name a time or a request id)."""
    ok = tmp_path / "ok.db"
    vf._run(ok, "sqlite")
    failed = tmp_path / "failed.db"
    rows = [{"model": m, "input_id": i, "error": "TimeoutError: 12:03:55" if (m, i) == ("tree", 5) else "",
             **({} if (m, i) == ("tree", 5) else {k: v for k, v in predict(m, i).items() if k != "input_id"})}
            for m in ("logreg", "tree") for i in range(vf.N)]
    log_rows(failed, rows, engine="sqlite", table=vf.TABLE, params={"experiment_version": "e1"})
    _, doc = validate(capsys, failed, vf.TABLE, "--same-as", ok, "--config-cols", "model")
    same = doc["summary"]["same_as"]
    assert "failed" in same["compared"] and same["differ"] == 1
    (finding,) = [f for f in doc["findings"] if f["check_id"] == "same-as-reference"]
    (other,) = finding["examples"]
    assert (other["model"], other["input_id"]) == ("tree", 5)
    assert other["here"]["failed"] == 1 and other["reference"]["failed"] == 0


def test_a_key_logged_twice_with_two_outcomes_differs_even_if_one_matches(tmp_path, engine, capsys):
    """A nondeterministic re-run inside the shards: one of its two answers is the reference's, one is not."""
    shards = vf.clean_sharded(tmp_path, engine)
    again = {**predict("logreg", 2), "model": "logreg"}
    again["prediction"] = 1 - again["prediction"]
    log_rows(shards, [again], engine=engine, table=vf.TABLE, params={"experiment_version": "e1", "shard": "3/3"})
    reference = unsharded(tmp_path / "ref.db", engine)
    code, doc = validate(capsys, shards, vf.TABLE, "--engine", engine, "--same-as", reference)
    same = doc["summary"]["same_as"]
    assert code == 1 and (same["differ"], same["agree"]) == (1, 2 * vf.N - 1)
    (other,) = next(f for f in doc["findings"] if f["check_id"] == "same-as-reference")["examples"]
    assert (other["model"], other["input_id"], other["here"]) == ("logreg", 2, {"prediction": again["prediction"]})
    assert other["both"] == {"prediction": predict("logreg", 2)["prediction"]} and "reference" not in other


def test_a_replay_that_made_no_request_is_the_same_result_as_the_call_that_made_three(tmp_path, engine, capsys):
    """How a call went (attempts, requests made, retries, status counts, time) is not what it computed."""
    def logged(db: Path, calls: dict) -> Path:
        rows = [{**predict(m, i), "model": m, **calls} for m in ("logreg", "tree") for i in range(vf.N)]
        log_rows(db, rows, engine=engine, table=vf.TABLE, params={"experiment_version": "e1"})
        return db

    called = logged(tmp_path / "a.db", {"attempts": "429,500,200", "n_requests": 3, "retries": 2, "n_429": 1,
                                        "n_5xx": 1, "n_timeouts": 0, "latency_s": 0.8})
    replayed = logged(tmp_path / "b.db", {"attempts": "", "n_requests": 0, "retries": 0, "n_429": 0, "n_5xx": 0,
                                          "n_timeouts": 0, "latency_s": 0.0})
    code, doc = validate(capsys, replayed, vf.TABLE, "--engine", engine, "--same-as", called)
    same = doc["summary"]["same_as"]
    assert code == 0 and same["agree"] == 2 * vf.N
    assert set(same["left_out"]) == {"attempts", "n_requests", "retries", "n_429", "n_5xx", "n_timeouts",
                                     "latency_s", "latency_ms"}
    assert {"prediction", "ground_truth"} <= set(same["compared"])


def test_two_runs_through_track_compare_equal_whatever_their_run_ids_and_times(tmp_path, engine, capsys):
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    vf._run(first, engine)
    vf._run(second, engine)  # another track_id, other timestamps and function_time
    code, doc = validate(capsys, first, vf.TABLE, "--engine", engine, "--same-as", second)
    assert code == 0 and doc["findings"] == []
    assert doc["summary"]["same_as"]["agree"] == 2 * vf.N


def test_the_text_report_says_how_many_keys_agree_on_which_columns(tmp_path, capsys):
    shards = vf.clean_sharded(tmp_path, "sqlite")
    reference = unsharded(tmp_path / "ref.db", "sqlite")
    assert validate_benchmark.main([str(shards), vf.TABLE, "--same-as", str(reference)]) == 0
    out = capsys.readouterr().out
    assert f"compared with {reference}: {2 * vf.N:,} keys (model, input_id) agree on prediction, ground_truth" in out
    assert "left out (how each call went): latency_ms" in out


def test_a_missing_reference_is_one_line_and_exit_2(tmp_path):
    shards = vf.clean_sharded(tmp_path, "sqlite")
    proc = run_python(SCRIPT, shards, vf.TABLE, "--same-as", tmp_path / "nowhere.db")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"validate_benchmark.py: error: no such file: {tmp_path / 'nowhere.db'}"]


def test_differing_columns_are_named_with_how_many_keys_and_the_largest_difference(tmp_path, engine, capsys):
    """Trial S: a one-thread re-run differed in probabilities by at most 5e-14; the user had to query that."""
    def run(db: Path, nudge: float, flip: bool) -> Path:
        rows = [{**predict(m, i), "model": m, "p_true": 0.25 + i / 100 + (nudge if i % 4 == 0 else 0.0)}
                for m in ("logreg", "tree") for i in range(vf.N)]
        if flip:
            rows[3]["prediction"] = 1 - rows[3]["prediction"]
        log_rows(db, rows, engine=engine, table=vf.TABLE)
        return db
    code, doc = validate(capsys, run(tmp_path / "new.db", 3e-14, True), vf.TABLE, "--engine", engine,
                         "--same-as", run(tmp_path / "ref.db", 0.0, False))
    assert code == 1
    by = {c["column"]: c for c in doc["summary"]["same_as"]["columns_differing"]}
    nudged = len([i for i in range(vf.N) if i % 4 == 0])
    assert set(by) == {"p_true", "prediction"} and by["prediction"]["keys"] == 1
    assert by["p_true"]["keys"] == 2 * nudged and 2e-14 < by["p_true"]["largest_difference"] < 4e-14
    (finding,) = [f for f in doc["findings"] if f["check_id"] == "same-as-reference"]
    assert (f"Where values differ: prediction on 1 key (largest difference 1); p_true on {2 * nudged:,} keys "
            "(largest difference 3e-14).") in finding["message"]

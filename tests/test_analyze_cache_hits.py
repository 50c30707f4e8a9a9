"""analyze_cache_hits.py on caches that really did (or silently did not) work, each made by xetrack 0.7.0's
own cache: hit rates, time saved through lineage, missing runs, and every diagnosis, with a clean control."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from pathlib import Path

import analyze_cache_hits
import pytest
import validate_benchmark
from helpers import ROOT, call_main, digest, run_python
from summary_fixtures import cached_runs, run_in_new_process, slow_square
from xetrack import Reader, Tracker
from xetrack_fixtures import clean_benchmark, log_rows, read_rows

SCRIPT = ROOT / "scripts" / "analyze_cache_hits.py"
pytestmark = pytest.mark.usefixtures("reading")  # every test whole and in slices (conftest.py)


def analyse(capsys, *argv) -> tuple[int, dict, str]:
    code, out, err = call_main(analyze_cache_hits.main, capsys, *argv, "--json")
    return code, json.loads(out), err


def checks(report: dict) -> list[str]:
    return [f["check_id"] for f in report["findings"]]


def finding(report: dict, check_id: str) -> dict:
    return next(f for f in report["findings"] if f["check_id"] == check_id)


# --- caching that worked ----------------------------------------------------------------------------------

def test_a_working_cache_reports_hit_rates_per_run_and_configuration(tmp_path, capsys, engine):
    db = clean_benchmark(tmp_path / "b.db", engine, n_items=10, cache_dir=tmp_path / "cache", replay=True)
    code, report, _ = analyse(capsys, db, "predictions", "--engine", engine)
    overall = report["summary"]["overall"]
    assert (overall["calls"], overall["computed"], overall["replayed"], overall["not_cacheable"]) == (40, 20, 20, 0)
    assert overall["hit_rate"] == 0.5
    first, second = report["summary"]["per_run"]
    assert (first["computed"], first["replayed"], second["computed"], second["replayed"]) == (20, 0, 0, 20)
    assert second["replayed_from"] == [first["run"]]
    assert [(c["configuration"], c["hit_rate"]) for c in report["summary"]["per_configuration"]] == [
        ("model=logreg", 0.5), ("model=tree", 0.5)]
    assert code == 0 and report["status"] == "ok" and report["findings"] == []


def test_time_saved_is_the_original_function_time_of_each_replayed_call(tmp_path, capsys, engine):
    db = tmp_path / "t.db"
    first, _, _ = cached_runs(db, engine, tmp_path / "cache", runs=3, n=5)
    original = read_rows(db, 'SELECT SUM(function_time) FROM "default" WHERE track_id = ?', [first])[0][0]
    code, report, _ = analyse(capsys, db, "--engine", engine)
    overall = report["summary"]["overall"]
    assert (overall["computed"], overall["replayed"], overall["replays_with_origin_found"]) == (5, 10, 10)
    assert overall["time_saved_seconds"] == pytest.approx(2 * original, rel=1e-5)  # two re-runs, 5 calls each
    assert code == 0


def test_a_call_computed_twice_in_its_run_counts_once_in_time_saved(tmp_path, capsys):
    db, cache = tmp_path / "d.db", tmp_path / "cache"
    tracker = Tracker(str(db), cache=str(cache))
    tracker.track(slow_square, kwargs={"i": 2})
    tracker.track(slow_square, kwargs={"i": 2}, cache_force=True)  # computed again, same run
    Tracker(str(db), cache=str(cache)).track(slow_square, kwargs={"i": 2})  # replayed
    times = [t for (t,) in read_rows(db, "SELECT function_time FROM \"default\" WHERE cache = ''")]
    _, report, _ = analyse(capsys, db)
    overall = report["summary"]["overall"]
    assert (len(times), overall["replayed"], overall["replays_with_origin_found"]) == (2, 1, 1)
    assert overall["time_saved_seconds"] == pytest.approx(max(times), rel=1e-5)


def test_time_saved_joins_on_configuration_and_item_when_calls_are_not_recorded(tmp_path, capsys):
    """A template that logs rows itself (log(), no args/kwargs) but keeps xetrack's lineage convention."""
    rows = [{"config_id": "c1", "model": "a", "input_id": i, "cache": "", "latency_s": 0.5 + i}
            for i in range(4)]
    log_rows(tmp_path / "l.db", rows, engine="sqlite", track_id="run-1", table="predictions")
    replays = [dict(r, cache="run-1", latency_s=0.0) for r in rows[:3]]
    log_rows(tmp_path / "l.db", replays, engine="sqlite", track_id="run-2", table="predictions")
    _, report, _ = analyse(capsys, tmp_path / "l.db", "predictions")
    assert report["inferred"]["lineage_join"] == ["config_id", "input_id"]
    assert report["summary"]["overall"]["time_saved_seconds"] == pytest.approx(0.5 + 1.5 + 2.5)


# --- replay-heavy files (benchmarks/generate.py): the lineage join is a lookup, and exact -------------------

def _generated(path: Path, **kwargs) -> Path:
    """A file written by benchmarks/generate.py (loaded by path: `generate` is too common a module name)."""
    spec = importlib.util.spec_from_file_location("bench_generate", ROOT / "benchmarks" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.generate_replays(path, **kwargs)
    return path


def _saved_by_brute_force(db: Path) -> dict[str, tuple[int, int, float]]:
    """Per model: (replays, origins found, seconds saved), joining every replay to its computing rows in Python
    (same run as its `cache`, same function_name/args/kwargs, NULL matching NULL; a call computed twice counts
    its slowest computation once)."""
    computed: dict[tuple, float] = {}
    for run, fn, args, kwargs, t in read_rows(db, 'SELECT track_id, function_name, args, kwargs, function_time '
                                                  'FROM "default" WHERE cache = \'\''):
        computed[(run, fn, args, kwargs)] = max(t, computed.get((run, fn, args, kwargs), t))
    out: dict[str, list] = {}
    for model, source, fn, args, kwargs in read_rows(db, 'SELECT model, cache, function_name, args, kwargs '
                                                         'FROM "default" WHERE cache <> \'\''):
        cell = out.setdefault(f"model={model}", [0, 0, 0.0])
        t = computed.get((source, fn, args, kwargs))
        cell[0] += 1
        cell[1] += t is not None
        cell[2] += t or 0.0
    return {k: tuple(v) for k, v in out.items()}


def test_replays_naming_a_run_that_never_computed_their_call_find_no_origin(tmp_path, capsys, engine):
    """5 % replays whose `cache` names one run while their args are unique: the shape that made SQLite's lineage
    join scan that run once per replay. The numbers are the ones the scanning join gave (checked before it
    was replaced by an indexed lookup)."""
    db = _generated(tmp_path / "u.db", rows=3000, replayed=5, lineage="unmatched", runs=4)
    code, report, _ = analyse(capsys, db, "--engine", engine)
    overall = report["summary"]["overall"]
    assert overall == {"calls": 2998, "computed": 2848, "replayed": 150, "not_cacheable": 0, "hit_rate": 0.050033,
                       "failed": 32, "compute_seconds": 4.5508, "time_saved_seconds": None,
                       "replays_with_origin_found": 0, "self_replays": 0}
    assert [(c["configuration"], c["replayed"], c["time_saved_seconds"])
            for c in report["summary"]["per_configuration"]] == [
        ("model=m0", 150, None), ("model=m1", 0, None), ("model=m2", 0, None), ("model=m3", 0, None)]
    assert checks(report) == ["time-saved-partial"] and code == 0
    assert _saved_by_brute_force(db) == {"model=m0": (150, 0, 0.0)}


@pytest.mark.parametrize("replayed", [50, 5])  # 5 %: few replays, so SQLite copies only the matchable rows
def test_time_saved_is_exact_when_every_replay_finds_its_origin(tmp_path, capsys, engine, replayed):
    """Replays from 4 runs; one run's calls have NULL kwargs (NULL must match NULL); one replayed call was
    computed twice in its run (it counts once, its slowest computation)."""
    db = _generated(tmp_path / "m.db", rows=3000, replayed=replayed, lineage="matched", runs=4)
    with sqlite3.connect(db) as con:
        if replayed == 50:  # the number the scanning join reported on this file, before any edit
            assert analyse(capsys, db, "--engine", engine)[1]["summary"]["overall"]["time_saved_seconds"] == 2.392
        con.execute("UPDATE \"default\" SET kwargs = NULL WHERE model = 'm1'")
        con.execute("INSERT INTO \"default\" SELECT track_id, timestamp || '1', experiment_version, model, temperature, "
                    "function_name, args, kwargs, error, 9.5, function_result, cache, input_id, prediction, "
                    "ground_truth, latency_ms FROM \"default\" WHERE track_id = 'run-002' AND args = '[3]'")
    con.close()
    expected = _saved_by_brute_force(db)
    replays = 1500 if replayed == 50 else 150
    assert sum(v[1] for v in expected.values()) == replays  # the oracle itself finds every origin
    code, report, _ = analyse(capsys, db, "--engine", engine)
    overall = report["summary"]["overall"]
    assert (overall["replayed"], overall["replays_with_origin_found"]) == (replays, replays)
    assert overall["time_saved_seconds"] == pytest.approx(sum(v[2] for v in expected.values()), rel=1e-6)
    got = {c["configuration"]: c["time_saved_seconds"] for c in report["summary"]["per_configuration"]}
    assert got == {k: pytest.approx(v[2], rel=1e-6) for k, v in expected.items()}
    assert code == 0


def test_replays_whose_computing_run_is_gone_are_reported(tmp_path, capsys):
    db = tmp_path / "g.db"
    first, second = cached_runs(db, "sqlite", tmp_path / "cache", runs=2, n=4)
    Reader(str(db)).delete_run(first)  # the computing run is deleted; its cache entries remain
    code, report, _ = analyse(capsys, db)
    f = finding(report, "lineage-missing-run")
    assert f["severity"] == "warning" and f["examples"] == [f"{first}: 4 replays"]
    assert report["summary"]["overall"]["time_saved_seconds"] is None
    assert code == 1


def test_a_complete_lineage_raises_no_lineage_finding(tmp_path, capsys):
    cached_runs(tmp_path / "ok.db", "sqlite", tmp_path / "cache", runs=2, n=4)
    assert "lineage-missing-run" not in checks(analyse(capsys, tmp_path / "ok.db")[1])


# --- caching that silently did nothing ---------------------------------------------------------------------

def test_no_cache_column_means_the_cache_never_keyed_a_call(tmp_path, capsys, engine):
    tracker = Tracker(str(tmp_path / "off.db"), engine=engine)  # no cache=...
    for i in range(3):
        tracker.track(lambda x: {"y": x}, args=[i])
    code, report, _ = analyse(capsys, tmp_path / "off.db", "--engine", engine)
    f = finding(report, "cache-not-enabled")
    assert "the data alone cannot tell which" in f["message"] and code == 1


def test_all_unhashable_arguments_leave_no_cache_column_and_are_named(tmp_path, capsys):
    run_in_new_process(tmp_path, tmp_path / "u.db", tmp_path / "cache", "unhashable", n=3)
    code, report, _ = analyse(capsys, tmp_path / "u.db")
    f = finding(report, "cache-not-enabled")
    assert "unhashable arguments are the likely cause" in f["message"]
    assert f["examples"][0] == "args=[[0, 1, 2]] kwargs={}"


def test_some_unhashable_arguments_show_as_calls_with_no_cache_key(tmp_path, capsys):
    run_in_new_process(tmp_path, tmp_path / "m.db", tmp_path / "cache", "mixed", n=3)
    code, report, _ = analyse(capsys, tmp_path / "m.db")
    assert report["summary"]["overall"]["not_cacheable"] == 3
    f = finding(report, "cache-not-keyed")
    assert "some calls had no cache key" in f["message"] and "lists, dicts, sets or arrays" in f["message"]
    assert code == 1


def test_objects_with_str_hashes_miss_in_every_new_process(tmp_path, capsys):
    """A frozen dataclass holding a str, run in two processes: xetrack keys it by hash(), which differs."""
    for seed in (1, 2):
        run_in_new_process(tmp_path, tmp_path / "s.db", tmp_path / "cache", "object", n=4, hash_seed=seed)
    code, report, _ = analyse(capsys, tmp_path / "s.db")
    assert report["summary"]["overall"]["replayed"] == 0
    f = finding(report, "cache-missed-across-runs")
    assert f["message"].startswith("4 calls were computed again in a later run (4 extra computations)")
    assert "str hashes change in every process" in f["message"] and code == 1


def test_the_same_objects_hit_when_the_hash_seed_is_the_same(tmp_path, capsys):
    """The control: identical processes (same PYTHONHASHSEED) replay, so the finding above is about hashing."""
    for _ in range(2):
        run_in_new_process(tmp_path, tmp_path / "s.db", tmp_path / "cache", "object", n=4, hash_seed=7)
    code, report, _ = analyse(capsys, tmp_path / "s.db")
    assert report["summary"]["overall"]["replayed"] == 4
    assert code == 0 and report["findings"] == []


def test_primitive_arguments_computed_again_blame_the_cache_directory_not_hashing(tmp_path, capsys):
    run_in_new_process(tmp_path, tmp_path / "p.db", tmp_path / "cache1", "primitive", n=3)
    run_in_new_process(tmp_path, tmp_path / "p.db", tmp_path / "cache2", "primitive", n=3)
    _, report, _ = analyse(capsys, tmp_path / "p.db")
    assert "the cache directory differed or was cleared" in finding(report, "cache-missed-across-runs")["message"]


def test_returned_failures_are_cached_and_replayed(tmp_path, capsys):
    for _ in range(2):
        run_in_new_process(tmp_path, tmp_path / "e.db", tmp_path / "cache", "returned_error", n=8)
    code, report, _ = analyse(capsys, tmp_path / "e.db")
    f = finding(report, "cached-failures")
    # items 3 and 7 return {'error': ...}: computed (and cached) in run 1, replayed in run 2
    assert f["severity"] == "error" and sum(e["rows"] for e in f["examples"]) == 4
    assert {e["replayed_from_run"] is None for e in f["examples"]} == {True, False}  # computed and replayed
    assert "2 replayed rows carry an error" in f["message"] and "2 computed calls returned" in f["message"]
    assert code == 1


def test_raised_failures_are_not_cached_and_not_reported(tmp_path, capsys):
    def flaky(i):
        if i == 1:
            raise RuntimeError("boom")
        return {"y": i}

    for _ in range(2):
        tracker = Tracker(str(tmp_path / "r.db"), cache=str(tmp_path / "cache"), raise_on_error=False)
        for i in range(3):
            tracker.track(flaky, args=[i])
    _, report, _ = analyse(capsys, tmp_path / "r.db")
    assert "cached-failures" not in checks(report)
    assert report["summary"]["overall"]["replayed"] == 2  # items 0 and 2; the raise was retried, not replayed


def test_replayed_lambdas_are_flagged(tmp_path, capsys):
    for _ in range(2):
        tracker = Tracker(str(tmp_path / "l.db"), cache=str(tmp_path / "cache"))
        tracker.track(lambda x: {"y": x * 2}, args=[3])
    assert "cache-lambda-key" in checks(analyse(capsys, tmp_path / "l.db")[1])


def test_rows_written_with_log_are_not_calls_xetrack_could_cache(tmp_path, capsys):
    db = log_rows(tmp_path / "log.db", [{"model": "a", "input_id": 1, "score": 0.5}], engine="sqlite").db
    code, report, _ = analyse(capsys, db)
    assert checks(report) == ["cache-not-tracked"] and code == 1


def test_a_first_run_with_caching_on_is_fine(tmp_path, capsys):
    cached_runs(tmp_path / "one.db", "sqlite", tmp_path / "cache", runs=1, n=3)
    code, report, _ = analyse(capsys, tmp_path / "one.db")
    assert checks(report) == ["cache-no-hits-yet"] and code == 0


def test_fail_on_error_ignores_warnings(tmp_path, capsys):
    tracker = Tracker(str(tmp_path / "off.db"))
    tracker.track(lambda x: {"y": x}, args=[1])
    assert analyze_cache_hits.main([str(tmp_path / "off.db"), "--fail-on", "error"]) == 0
    capsys.readouterr()


# --- output and contract ------------------------------------------------------------------------------------

def test_text_report_has_the_three_tables_and_the_diagnosis(tmp_path):
    db = clean_benchmark(tmp_path / "b.db", "sqlite", n_items=4, cache_dir=tmp_path / "cache", replay=True)
    proc = run_python(SCRIPT, db, "predictions")
    assert proc.returncode == 0 and proc.stderr == ""
    for heading in ("# Cache analysis", "## Per configuration", "## Per run (oldest first)", "## Diagnosis"):
        assert heading in proc.stdout
    assert "Hit rate 50.0%" in proc.stdout and "Caching worked: no problem found." in proc.stdout
    assert "not wall-clock time" in proc.stdout  # time saved is summed call time


def test_json_follows_the_shared_report_schema(tmp_path, capsys):
    cached_runs(tmp_path / "j.db", "sqlite", tmp_path / "cache", runs=2, n=2)
    _, report, _ = analyse(capsys, tmp_path / "j.db")
    assert list(report) == ["schema_version", "tool", "status", "fail_on", "counts", "summary", "findings",
                            "inferred"]
    assert report["tool"] == "analyze_cache_hits.py" and report["summary"]["rows_inspected"] == 4


def test_the_database_is_never_modified(tmp_path, capsys):
    db = clean_benchmark(tmp_path / "b.db", "sqlite", n_items=4, cache_dir=tmp_path / "cache", replay=True)
    before = digest(db)
    analyse(capsys, db, "predictions")
    assert digest(db) == before


@pytest.mark.parametrize(("argv", "message"), [
    (["{tmp}/nope.db"], "analyze_cache_hits.py: error: no such file: {tmp}/nope.db"),
    (["{db}", "nope"], "analyze_cache_hits.py: error: no table 'nope' in {db}; available: predictions"),
    (["{db}", "predictions", "--config-cols", "zz"], "analyze_cache_hits.py: error: column 'zz' not found; "),
    (["{db}", "predictions", "--fail-on", "bad"], "analyze_cache_hits.py: error: argument --fail-on: invalid"),
], ids=["missing-file", "missing-table", "unknown-column", "bad-option"])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    db = clean_benchmark(tmp_path / "b.db", "sqlite", n_items=2)
    fill = {"tmp": tmp_path, "db": db}
    try:
        code = analyze_cache_hits.main([a.format(**fill) for a in argv])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.startswith(message.format(**fill)) and err.count("\n") == 1


def test_an_empty_table_exits_1(tmp_path, capsys):
    Tracker(str(tmp_path / "e.db"))
    code = analyze_cache_hits.main([str(tmp_path / "e.db")])
    assert code == 1 and "has no rows" in capsys.readouterr().err


def test_a_table_with_no_tracked_call_inspects_nothing_and_exits_1(tmp_path, capsys):
    db = tmp_path / "n.db"
    cached_runs(db, "sqlite", tmp_path / "cache", runs=1, n=1)
    with sqlite3.connect(db) as con:  # leave one row that no track() call wrote
        con.execute('INSERT INTO "default" (track_id, timestamp) VALUES (\'x\', \'2026\')')
        con.execute('DELETE FROM "default" WHERE function_name IS NOT NULL')
    con.close()
    code = analyze_cache_hits.main([str(db)])
    assert code == 1 and "nothing inspected" in capsys.readouterr().err


def test_validate_and_analyze_report_cached_failures_the_same_way(tmp_path, capsys):
    for _ in range(2):
        run_in_new_process(tmp_path, tmp_path / "e.db", tmp_path / "cache", "returned_error", n=8)
    _, report, _ = analyse(capsys, tmp_path / "e.db")
    validate_benchmark.main([str(tmp_path / "e.db"), "--json"])
    validated = json.loads(capsys.readouterr().out)
    a, v = finding(report, "cached-failures"), finding(validated, "cached-failures")
    assert (a["severity"], a["message"], a["hint"], a["examples"]) == (v["severity"], v["message"], v["hint"],
                                                                        v["examples"])

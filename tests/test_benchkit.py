"""assets/benchkit.py fixes the xetrack 0.7.0 traps it claims to fix, on real trackers and real processes."""

from __future__ import annotations

import io
import json
import os
import shlex
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import benchkit
import numpy as np
import pytest
from benchkit import (
    ArgumentParser,
    add_common_options,
    check_common_options,
    completed,
    config_columns,
    config_id,
    connect_readonly,
    fingerprint,
    loggable,
    progress,
    provenance,
    script_command,
    skill_dir,
    track_cached,
    varying_columns,
)
from helpers import ROOT, random_hash_seed_env, run_python
from xetrack import Tracker


@dataclass(frozen=True)
class Inner:
    depth: int
    tags: tuple = ("a",)


@dataclass(frozen=True)
class Cfg:
    model: str
    lr: float
    inner: Inner = Inner(3)


RUN_TWICE = textwrap.dedent("""
    import sys
    sys.path.insert(0, {assets!r})
    from dataclasses import dataclass
    from benchkit import track_cached
    from xetrack import Tracker

    @dataclass(frozen=True)
    class Cfg:
        model: str
        lr: float

    calls = 0
    def evaluate(cfg, input_id):
        global calls
        calls += 1
        return {{"input_id": input_id, "score": len(cfg.model) * input_id * cfg.lr}}

    t = Tracker({db!r}, cache={cache!r}, table="predictions")
    for model in ("bert", "gpt"):
        for i in range(3):
            track_cached(t, evaluate, Cfg(model, 0.5), input_id=i)
    print(calls)
""")


def run_in_new_process(code: str) -> str:
    proc = run_python("-c", code, env=random_hash_seed_env())
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_a_str_bearing_configuration_hits_the_cache_in_a_new_process(tmp_path):
    code = RUN_TWICE.format(assets=str(ROOT / "assets"), db=str(tmp_path / "b.db"), cache=str(tmp_path / "c"))
    assert run_in_new_process(code) == "6"
    assert run_in_new_process(code) == "0", "the second process recomputed: the cache key is not stable"


def test_replayed_rows_keep_every_configuration_column(tmp_path):
    code = RUN_TWICE.format(assets=str(ROOT / "assets"), db=str(tmp_path / "b.db"), cache=str(tmp_path / "c"))
    run_in_new_process(code)
    run_in_new_process(code)
    con = sqlite3.connect(tmp_path / "b.db")
    rows = con.execute("SELECT cache, model, lr, config_id FROM predictions").fetchall()
    replayed = [r for r in rows if r[0]]
    assert len(rows) == 12 and len(replayed) == 6
    assert all(model in ("bert", "gpt") and lr == 0.5 and len(cid) == 16 for _, model, lr, cid in replayed)


def test_config_id_is_a_content_hash_of_every_field():
    assert config_id(Cfg("bert", 0.1)) == config_id(Cfg("bert", 0.1))
    assert len({config_id(Cfg("bert", 0.1)), config_id(Cfg("bert", 0.2)), config_id(Cfg("gpt", 0.1)),
                config_id(Cfg("bert", 0.1, Inner(4)))}) == 4


def test_xetracks_own_hash_collision_does_not_collide_here():
    # CPython: hash(-1) == hash(-2), so xetrack 0.7.0 returns -1's cached result for -2.
    @dataclass(frozen=True)
    class N:
        v: int

    assert hash(N(-1)) == hash(N(-2))
    assert config_id(N(-1)) != config_id(N(-2))


def test_config_columns_are_flat_and_loggable():
    assert config_columns(Cfg("bert", 0.1)) == {"model": "bert", "lr": 0.1, "inner_depth": 3,
                                                "inner_tags": '["a"]'}


def test_inputs_that_would_silently_disable_caching_are_refused(tmp_path):
    t = Tracker(str(tmp_path / "b.db"), cache=str(tmp_path / "c"))
    with pytest.raises(TypeError, match="inputs must be str/int/float/bool/None"):
        track_cached(t, lambda cfg, x: {"y": 1}, Cfg("a", 1.0), x=[1, 2])


def test_a_raised_failure_is_logged_and_not_cached(tmp_path):
    t = Tracker(str(tmp_path / "b.db"), cache=str(tmp_path / "c"), table="calls")
    attempts = []

    def flaky(cfg, input_id):
        attempts.append(input_id)
        if len(attempts) == 1:
            raise RuntimeError("rate limited")
        return {"input_id": input_id, "ok": 1}

    with pytest.raises(RuntimeError):
        track_cached(t, flaky, Cfg("a", 1.0), input_id=1)
    track_cached(t, flaky, Cfg("a", 1.0), input_id=1)
    track_cached(t, flaky, Cfg("a", 1.0), input_id=1)
    assert attempts == [1, 1]
    errors = sqlite3.connect(tmp_path / "b.db").execute("SELECT error, cache FROM calls ORDER BY timestamp").fetchall()
    assert errors[0][0] == "rate limited" and [e[1] for e in errors[1:]] == ["", t.track_id]


def test_varying_columns_names_the_fewest_columns_that_tell_configurations_apart():
    a, b, c = Cfg("m1", 0.1), Cfg("m2", 0.1), Cfg("m1", 0.1, Inner(3, ("a", "b")))
    assert varying_columns([a, b]) == ["model"]
    assert varying_columns([a, b, c]) == ["model", "inner_tags"]
    # lr and inner_depth change together: the second adds nothing, so it is left out of the label
    assert varying_columns([a, Cfg("m1", 0.2, Inner(4))]) == ["lr"]
    assert varying_columns([a, Cfg("m1", 0.2, Inner(4))], exclude=["lr"]) == ["inner_depth"]
    assert varying_columns([a, a]) == [] and varying_columns([]) == []


def test_loggable_keeps_numbers_numbers_and_containers_json(tmp_path):
    row = loggable({"acc": np.float64(0.25), "n": np.int64(3), "flag": np.bool_(True), "probs": np.array([0.1, 0.9]),
                    "meta": {"b": 1, "a": [1, 2]}})
    assert row == {"acc": 0.25, "n": 3, "flag": True, "probs": "[0.1, 0.9]", "meta": '{"a": [1, 2], "b": 1}'}
    t = Tracker(str(tmp_path / "b.db"))
    t.log(row)
    stored = sqlite3.connect(tmp_path / "b.db").execute('SELECT acc, typeof(acc) FROM "default"').fetchone()
    assert stored == (0.25, "real")


def test_completed_reads_successful_rows_and_tolerates_absent_files_tables_and_columns(tmp_path):
    db = tmp_path / "b.db"
    assert completed(db, "calls", ["config_id", "input_id"]) == set()
    t = Tracker(str(db), table="calls")
    assert completed(db, "calls", ["config_id", "input_id"]) == set()
    t.log({"config_id": "c1", "input_id": 1, "error": ""})
    t.log({"config_id": "c1", "input_id": 2, "error": "boom"})
    assert completed(db, "calls", ["config_id", "input_id"]) == {("c1", 1)}
    assert completed(db, "calls", ["config_id", "no_such_column"]) == set()


def test_fingerprint_and_provenance_identify_data_and_code():
    a = np.arange(6).reshape(2, 3)
    assert fingerprint(a) == fingerprint(a.copy()) != fingerprint(a.T) != fingerprint(a.astype(float))
    info = provenance(data_fingerprint=fingerprint(a), root=ROOT)
    assert set(info) >= {"git_commit", "python_version", "xetrack_version", "data_fingerprint"}
    assert info["xetrack_version"] == "0.7.0"


def test_progress_yields_everything_and_reports_on_stderr_every_tenth_off_a_terminal():
    out = io.StringIO()
    assert list(progress(range(50), label="fits", stream=out)) == list(range(50))
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("fits  1/50    2%") and lines[-1].startswith("fits  50/50  100%")
    assert len(lines) == 11  # the first item, then each new tenth
    assert all("/s" in line for line in lines) and "left" in lines[0]  # rate, and the time left


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_is_a_tqdm_bar_with_rate_and_time_left():
    out = Terminal()
    assert list(progress(range(30), label="fits", stream=out)) == list(range(30))
    final = out.getvalue().split("\r")[-1]
    assert final.startswith("fits: 100%") and "30/30" in final and "it/s]" in final


@pytest.mark.parametrize(("value", "code", "out"), [("2", -9, "0\n1\n"), ("x", 2, ""), ("", 0, "0\n1\n2\n3\n")])
def test_progress_rehearses_a_crash_in_any_script_that_loops_with_it(value, code, out):
    """BENCHKIT_CRASH_AFTER=N in a user's own script: the loop's process dies by SIGKILL when it asks for unit
    N+1 (units 0..N-1 done, nothing after); a value that is not a number stops it at once, exit 2, one line."""
    script = "import benchkit\nfor i in benchkit.progress(range(4)):\n    print(i, flush=True)"
    proc = run_python("-c", script, cwd=ROOT / "assets", env={**os.environ, "BENCHKIT_CRASH_AFTER": value})
    assert (proc.returncode, proc.stdout) == (code, out), proc.stderr
    if value == "x":
        assert proc.stderr == ("benchkit: error: BENCHKIT_CRASH_AFTER must be a number of units (a crash "
                               "rehearsal), got 'x'\n")


CLASHING_STAMP = "2026-01-01 00:00:00.000000"


def test_log_batch_verified_recovers_a_batch_xetrack_rolled_back_silently(tmp_path, monkeypatch):
    from benchkit import log_batch_verified

    rows = [{"input_id": i, "latency_ms": np.float64(i / 2)} for i in range(5)]
    t = Tracker(str(tmp_path / "b.db"), table="calls")
    # Planted defect: every row of the first batch gets the same microsecond, as a fast machine can.
    stamps = iter([CLASHING_STAMP] * len(rows))
    real = Tracker.get_timestamp
    monkeypatch.setattr(Tracker, "get_timestamp", staticmethod(lambda: next(stamps, None) or real()))
    assert log_batch_verified(t, rows) == 5
    stored = sqlite3.connect(tmp_path / "b.db").execute("SELECT input_id, latency_ms FROM calls").fetchall()
    assert sorted(stored) == [(i, i / 2) for i in range(5)]


def test_plain_log_batch_loses_that_batch_without_a_word(tmp_path, monkeypatch):
    t = Tracker(str(tmp_path / "b.db"), table="calls")
    monkeypatch.setattr(Tracker, "get_timestamp", staticmethod(lambda: CLASHING_STAMP))
    t.log_batch([{"input_id": i} for i in range(3)])  # no exception ...
    assert t.count_run() == 0  # ... and no rows: the trap log_batch_verified exists for


def test_log_batch_verified_raises_when_the_batch_never_lands(tmp_path, monkeypatch):
    from benchkit import log_batch_verified

    t = Tracker(str(tmp_path / "b.db"), table="calls")
    monkeypatch.setattr(Tracker, "get_timestamp", staticmethod(lambda: CLASHING_STAMP))
    with pytest.raises(RuntimeError, match="wrote none of 3 rows in 3 attempts"):
        log_batch_verified(t, [{"input_id": i} for i in range(3)])


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_log_batch_verified_reads_the_schema_once_per_batch_and_writes_what_log_batch_writes(tmp_path, engine):
    """xetrack 0.7.0 runs PRAGMA table_info for every text value it inserts (SQLite engine). The rows must be
    the same as plain log_batch's: text numbers coerced into an INTEGER column, a column new in the batch."""
    from benchkit import log_batch_verified

    params = {"git_commit": "4f1c2e9", "host": "node-1", "shard": "2/4"}
    first = [{"input_id": 0, "count": 1, "split": "train"}]
    batch = [{"input_id": i, "count": str(i), "split": "test", **({"note": f"n{i}"} if i > 3 else {})}
             for i in range(1, 9)]
    stored, pragmas = {}, {}
    for how in ("log_batch", "log_batch_verified"):
        db = tmp_path / f"{how}.db"
        t = Tracker(str(db), table="t", params=params, engine=engine)
        t.log_batch(first)  # `count` is an INTEGER column from here on
        seen = []
        if engine == "sqlite":
            t.engine.conn.set_trace_callback(seen.append)
        kind = type(t.engine)
        t.log_batch(batch) if how == "log_batch" else log_batch_verified(t, batch)
        assert type(t.engine) is kind  # the engine is given back its own class
        pragmas[how] = sum("PRAGMA table_info" in s for s in seen)
        with sqlite3.connect(db) as con:
            stored[how] = con.execute("SELECT input_id, count, typeof(count), split, note, git_commit, host, shard "
                                      "FROM t ORDER BY input_id").fetchall()
    assert stored["log_batch"] == stored["log_batch_verified"]
    assert stored["log_batch"][5] == (5, 5, "integer", "test", "n5", "4f1c2e9", "node-1", "2/4")
    if engine == "sqlite":
        assert pragmas["log_batch"] >= 8 * 5 and pragmas["log_batch_verified"] <= 2


def test_fingerprint_of_an_object_array_such_as_csv_string_ids_is_the_same_in_every_process():
    code = ("import numpy as np, benchkit; "
            "print(benchkit.fingerprint(np.array(['row-1', 'row-2', None], dtype=object)))")
    runs = [run_python("-c", code, cwd=ROOT / "assets", env=random_hash_seed_env()) for _ in range(2)]
    assert all(run.returncode == 0 for run in runs), runs[0].stderr
    assert len({run.stdout for run in runs}) == 1
    ids = np.array(["row-1", "row-2"], dtype=object)
    assert fingerprint(ids) == fingerprint(ids.copy()) != fingerprint(np.array(["row-1", "row-3"], dtype=object))


# ---- paths SQLite URIs get wrong ------------------------------------------------------------------------------
HOSTILE = "runs #2 ?x=1 100% é"  # '#' starts a URI fragment, '?' a query, '%' an escape; space, non-ASCII


def files_under(folder) -> set:
    return {p.relative_to(folder) for p in folder.rglob("*")}


def test_completed_reads_a_database_whose_path_has_hash_question_mark_percent_and_creates_no_stray_file(tmp_path):
    folder = tmp_path / HOSTILE
    db = folder / "bench #1.db"
    t = Tracker(str(db), table="calls")
    t.log({"config_id": "c1", "input_id": 1, "error": ""})
    before = files_under(tmp_path)
    assert completed(db, "calls", ["config_id", "input_id"]) == {("c1", 1)}
    assert connect_readonly(db).execute("SELECT COUNT(*) FROM calls").fetchone() == (1,)
    assert files_under(tmp_path) == before


def test_the_usual_unquoted_uri_misses_that_database_and_creates_a_stray_file(tmp_path):
    # The defect connect_readonly exists for, shown on the same path: the check above can fail.
    db = tmp_path / HOSTILE / "bench #1.db"
    Tracker(str(db), table="calls").log({"input_id": 1})
    before = files_under(tmp_path)
    con = sqlite3.connect(f"file:{db}?mode=rwc", uri=True)  # mode=ro would fail: the truncated file is absent
    assert con.execute("SELECT name FROM sqlite_master").fetchall() == []  # another, empty database
    con.close()
    assert files_under(tmp_path) - before, "SQLite opened a truncated path"


KILLED_MID_WRITE = textwrap.dedent("""
    import sqlite3, sys, time
    con = sqlite3.connect(sys.argv[1], isolation_level=None)
    con.execute("PRAGMA cache_size = 10")  # a small cache spills the transaction's pages into the file
    con.execute("BEGIN IMMEDIATE")
    for i in range(20_000):
        con.execute("INSERT INTO calls (timestamp, track_id, config_id, input_id) VALUES (?, 'x', 'c9', ?)", (i, i))
    print("mid-write", flush=True)
    time.sleep(120)
""")


def test_a_run_killed_mid_write_leaves_a_hot_journal_that_completed_rolls_back_to_the_committed_rows(tmp_path):
    # A --shard worker killed mid-write, then re-run (test_shards): the restarted template reads what is done.
    db = tmp_path / "bench.db"
    t = Tracker(str(db), table="calls")
    t.log({"config_id": "c1", "input_id": 1, "error": ""})
    t.log({"config_id": "c1", "input_id": 2, "error": ""})
    with subprocess.Popen([sys.executable, "-c", KILLED_MID_WRITE, str(db)], stdout=subprocess.PIPE, text=True) as w:
        assert w.stdout.readline().strip() == "mid-write"
        w.kill()
    assert (tmp_path / "bench.db-journal").exists()
    plain = sqlite3.connect(db.as_uri() + "?mode=ro", uri=True)  # the usual read-only open cannot read it
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        plain.execute("SELECT COUNT(*) FROM calls").fetchall()
    plain.close()
    assert completed(db, "calls", ["config_id", "input_id"]) == {("c1", 1), ("c1", 2)}
    assert not (tmp_path / "bench.db-journal").exists()
    assert connect_readonly(db).execute("SELECT COUNT(*) FROM calls").fetchone() == (2,)


FIELD_NAMES = ["order", "group", "index", "constraint", "key", "action", "select", "1st", "n_predictions",
               "sales channel", "a.b", "Category", "naïve", "plain", "x" * 70]


@pytest.mark.parametrize("first", [True, False], ids=["creates-the-table", "adds-a-column"])
def test_field_columns_says_which_names_xetrack_stores_and_under_which_column_as_xetrack_does(tmp_path, first):
    # The verdicts are xetrack's own: each name logged by a real Tracker, read back under the predicted column.
    for k, name in enumerate(FIELD_NAMES):
        db = tmp_path / f"f{k}.db"
        t = Tracker(str(db), table="predictions")
        try:
            if not first:
                t.log({"x": 0})
            t.log({name: "v", "x": 1})
            stored = sqlite3.connect(db).execute(
                f'SELECT "{benchkit.stored_name(name)}" FROM predictions WHERE x = 1').fetchall() == [("v",)]
        except sqlite3.Error:
            stored = False
        try:
            ours = benchkit.field_columns([name], "predictions") == {name: benchkit.stored_name(name)}
        except ValueError:
            ours = False
        assert ours == stored, (name, ours, stored)
    broken = ["order", "group", "index", "constraint", "select", "1st", "n_predictions"]
    with pytest.raises(ValueError, match=r"the fields order, group, index, constraint, select, 1st, n_predictions "
                                         r"\(holds the table name predictions\) cannot be columns"):
        benchkit.field_columns(FIELD_NAMES, "predictions")
    assert benchkit.field_columns([n for n in FIELD_NAMES if n not in broken], "predictions")["sales channel"] == \
        "sales_channel"
    with pytest.raises(ValueError, match=r"the fields a\.b and a_b \(both a_b\) would be one column"):
        benchkit.field_columns(["a.b", "a_b"], "predictions")


def test_connect_readonly_refuses_a_missing_file_without_creating_it(tmp_path):
    with pytest.raises(FileNotFoundError):
        connect_readonly(tmp_path / "absent #1.db")
    assert list(tmp_path.iterdir()) == []


# ---- the cache salt ------------------------------------------------------------------------------------------
SALTED = textwrap.dedent("""
    import sys
    sys.path.insert(0, {assets!r})
    from dataclasses import dataclass
    from benchkit import track_cached
    from xetrack import Tracker

    @dataclass(frozen=True)
    class Cfg:
        model: str

    def evaluate(cfg, input_id):
        print("computed", file=sys.stderr)
        return {returns}

    t = Tracker({db!r}, cache={cache!r}, table="predictions")
    print(sorted(track_cached(t, evaluate, Cfg("bert"), cache_salt={salt!r}, input_id=1)))
""")


def run_salted(tmp_path, returns: str, salt: str) -> tuple[str, int]:
    code = SALTED.format(assets=str(ROOT / "assets"), db=str(tmp_path / "b.db"), cache=str(tmp_path / "cache"),
                         returns=returns, salt=salt)
    proc = run_python("-c", code, env=random_hash_seed_env())
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip(), proc.stderr.count("computed")


def test_a_changed_return_shape_under_a_new_cache_salt_is_recomputed_not_replayed(tmp_path):
    assert run_salted(tmp_path, '{"score": 1}', "v1") == ("['score']", 1)
    assert run_salted(tmp_path, '{"score": 1, "train_score": 2}', "v2") == ("['score', 'train_score']", 1)
    assert run_salted(tmp_path, '{"score": 1, "train_score": 2}', "v2") == ("['score', 'train_score']", 0)
    salts = sqlite3.connect(tmp_path / "b.db").execute("SELECT cache_version, cache FROM predictions").fetchall()
    assert [v for v, _ in salts] == ["benchkit2/v1", "benchkit2/v2", "benchkit2/v2"]
    assert [c == "" for _, c in salts] == [True, True, False]  # the third is a replay of the second


def test_without_a_new_salt_the_old_return_shape_is_replayed(tmp_path):
    # The trap the salt exists for: the same key replays the stale value, without the new column.
    assert run_salted(tmp_path, '{"score": 1}', "v1") == ("['score']", 1)
    assert run_salted(tmp_path, '{"score": 1, "train_score": 2}', "v1") == ("['score']", 0)


# ---- the shared command line and the next commands ---------------------------------------------------------
def test_the_shared_parser_reports_a_usage_error_in_one_line_with_exit_2(tmp_path, capsys):
    parser = ArgumentParser(prog="t.py")
    add_common_options(parser, db="t.db", cache_dir="t_cache", limit_help="examples")
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["--limit", "x"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == "t.py: error: argument --limit: invalid int value: 'x'\n"
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("hello")
    with pytest.raises(SystemExit):
        check_common_options(parser, parser.parse_args(["--db", str(not_a_db)]))
    assert capsys.readouterr().err == f"t.py: error: --db {not_a_db}: file is not a database (xetrack writes SQLite files)\n"
    args = parser.parse_args([])
    check_common_options(parser, args)  # fills in the default --db
    assert (args.db, args.cache_dir, args.experiment_version, args.limit) == (Path("t.db"), None, "e1", None)


def test_a_next_command_is_shell_quoted_and_runs_as_printed_from_the_current_folder(tmp_path, monkeypatch):
    skill_link = tmp_path / f"skill {HOSTILE}"
    skill_link.symlink_to(ROOT, target_is_directory=True)
    project = tmp_path / f"project {HOSTILE}"
    db = project / "bench #1.db"
    Tracker(str(db), table="calls").log({"config_id": "c1", "input_id": 1, "correct": 1, "error": ""})
    monkeypatch.chdir(project)
    monkeypatch.setenv(benchkit.SKILL_ENV, str(skill_link))
    assert skill_dir() == skill_link
    command = script_command("validate_benchmark.py", db, "calls", "--json")
    assert command.startswith(f"python {shlex.quote(str(skill_link / 'scripts' / 'validate_benchmark.py'))} ")
    assert command.endswith(" 'bench #1.db' calls --json")  # below the current folder: relative
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["bash", "-c", command], cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1) and '"status"' in proc.stdout, proc.stderr


def test_the_skill_folder_is_found_from_the_recorded_path_or_else_not_invented(tmp_path, monkeypatch):
    monkeypatch.delenv(benchkit.SKILL_ENV, raising=False)
    assert skill_dir() == ROOT  # benchkit in the skill's own assets/
    copy = tmp_path / "project"
    copy.mkdir()
    text = (ROOT / "assets" / "benchkit.py").read_text()
    code = ("import benchkit, pathlib; print(benchkit.skill_dir()); print(benchkit.script_command('x.py')); "
            "print(benchkit.save_steps([('why', benchkit.script_command('x.py'))], pathlib.Path('next.sh')))")
    (copy / "benchkit.py").write_text(text)
    unknown = run_python("-c", code, cwd=copy, env={**os.environ, "PYTHONPATH": str(copy)})
    assert unknown.stdout.splitlines() == ["None", "python '<skill>/scripts/x.py'", "None"], unknown.stderr
    assert not (copy / "next.sh").exists()  # no script of commands naming '<skill>'
    (copy / "benchkit.py").write_text(text.replace("SKILL_DIR: str | None = None", f"SKILL_DIR: str | None = {str(ROOT)!r}"))
    recorded = run_python("-c", code, cwd=copy, env={**os.environ, "PYTHONPATH": str(copy)})
    assert recorded.stdout.splitlines()[0] == str(ROOT), recorded.stderr


def test_a_template_imports_the_skills_own_analysis_and_is_told_when_the_skill_is_unknown(tmp_path):
    copy = tmp_path / "project"
    copy.mkdir()
    (copy / "benchkit.py").write_text((ROOT / "assets" / "benchkit.py").read_text())
    code = "import benchkit; m = benchkit.skill_module('_bench.summary.load'); print(m.__file__)"
    env = {k: v for k, v in os.environ.items() if k != benchkit.SKILL_ENV}
    unknown = run_python("-c", code, cwd=copy, env={**env, "PYTHONPATH": str(copy)})
    assert unknown.returncode == 1 and "ImportError: the skill's folder is unknown" in unknown.stderr
    found = run_python("-c", code, cwd=copy, env={**env, "PYTHONPATH": str(copy), benchkit.SKILL_ENV: str(ROOT)})
    assert found.stdout.strip() == str(ROOT / "scripts" / "_bench" / "summary" / "load.py"), found.stderr


# ---- shards: a fixed split of the work, the same in every process ------------------------------------------
SHARD_KEYS = [(f"config-{c}", seed, fold) for c in range(4) for seed in range(3) for fold in range(5)]


def test_shard_of_splits_every_key_into_exactly_one_of_n_parts_whatever_the_order():
    parts = {n: [benchkit.shard_of(key, n) for key in SHARD_KEYS] for n in (1, 2, 4)}
    assert set(parts[1]) == {1} and set(parts[2]) == {1, 2} and set(parts[4]) == {1, 2, 3, 4}
    assert [benchkit.shard_of(key, 4) for key in reversed(SHARD_KEYS)] == parts[4][::-1]
    shards = [benchkit.Shard(k, 4) for k in range(1, 5)]
    assert [sum(s.owns(key) for s in shards) for key in SHARD_KEYS] == [1] * len(SHARD_KEYS)


def test_dealt_units_are_even_per_group_and_stay_put_when_seeds_or_models_are_added():
    """The sklearn template's split: each model's (seed, fold) fits numbered seed x k_folds + fold and dealt in
    turn. A hash per unit can split 45 units 10/12/23; dealt, every shard holds a share of every model."""
    def split(models, seeds, n):
        return {(m, s, f): benchkit.dealt_shard(m, s * 5 + f, n) for m in models for s in seeds for f in range(5)}

    models = ["logreg", "forest", "svm"]
    for n in (2, 3, 4, 7):
        owner = split(models, range(3), n)
        for m in models:
            counts = [sum(owner[m, s, f] == k for s in range(3) for f in range(5)) for k in range(1, n + 1)]
            assert max(counts) - min(counts) <= 1 and sum(counts) == 15
        shards = [benchkit.Shard(k, n) for k in range(1, n + 1)]
        assert all(sum(sh.deals(m, s * 5 + f) for sh in shards) == 1 for m, s, f in owner)
        grown = split([*models, "knn"], [0, 1, 2, 3, 42], n)
        assert {u: grown[u] for u in owner} == owner  # nothing moved: no unit is in two shards' files
    assert [sum(k == shard for k in split(models, range(3), 3).values()) for shard in (1, 2, 3)] == [15, 15, 15]


def test_shard_of_is_the_same_in_a_new_process_with_another_string_hash_seed():
    code = ("import benchkit; print([benchkit.shard_of((f'config-{c}', s, f), 4) for c in range(4) "
            "for s in range(3) for f in range(5)])")
    here = str([benchkit.shard_of(key, 4) for key in SHARD_KEYS])
    for seed in ("1", "2"):
        proc = run_python("-c", code, env=random_hash_seed_env(PYTHONHASHSEED=seed, PYTHONPATH=str(ROOT / "assets")))
        assert proc.stdout.strip() == here, proc.stderr


@pytest.mark.parametrize("text", ["3/2", "0/2", "x", "1/0", "-1/2", "1/2/3", ""])
def test_a_bad_shard_is_one_usage_line_and_exit_2(text, capsys):
    parser = ArgumentParser(prog="t.py")
    add_common_options(parser, db="t.db", limit_help="examples", shard=True)
    with pytest.raises(SystemExit) as exited:
        parser.parse_args([f"--shard={text}"])  # = form: argparse would read "-1/2" as an option
    assert exited.value.code == 2
    assert capsys.readouterr().err == \
        f"t.py: error: argument --shard: expected K/N with 1 <= K <= N (e.g. 1/4), got {text!r}\n"


def test_a_shard_gets_its_own_default_database_unless_db_is_given(tmp_path):
    parser = ArgumentParser(prog="t.py")
    add_common_options(parser, db="runs/t.db", limit_help="examples", shard=True)
    for argv, db in ((["--shard", "2/4"], Path("runs/t.shard-2-of-4.db")), ([], Path("runs/t.db")),
                     (["--shard", "2/4", "--db", "x.db"], Path("x.db"))):
        args = parser.parse_args(argv)
        check_common_options(parser, args)
        assert args.db == db, argv
    assert benchkit.unsharded_stem(Path("runs/t.shard-2-of-4.db")) == "t"
    assert benchkit.placement(benchkit.Shard(2, 4))["shard"] == "2/4"
    assert "shard" not in benchkit.placement(None) and benchkit.placement(None)["host"]


def test_the_printed_command_for_all_shards_leaves_only_the_star_to_the_shell(tmp_path, monkeypatch):
    folder = tmp_path / f"runs {HOSTILE}"
    for k in (1, 2):
        db = folder / f"b.shard-{k}-of-2.db"
        Tracker(str(db), table="calls").log({"config_id": f"c{k}", "input_id": k, "correct": 1, "error": ""})
    monkeypatch.chdir(tmp_path)
    files = benchkit.shard_files(folder / "b.shard-1-of-2.db", benchkit.Shard(1, 2))
    command = script_command("validate_benchmark.py", files, "calls", "--json")
    assert "*" in command and "'*'" not in command
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert json.loads(proc.stdout)["summary"]["rows_inspected"] == 2, proc.stdout + proc.stderr  # both files


def test_version_drift_names_each_version_column_whose_stored_rows_differ_within_the_experiment_version(tmp_path):
    db = tmp_path / "b.db"
    version = {"experiment_version": "e1", "git_commit": "aaaa", "data_fingerprint": "f1", "numpy_version": "1.26",
               "host": "node-1"}
    assert benchkit.version_drift(db, "predictions", version) is None  # no file yet
    Tracker(str(db), table="predictions", params=version).log({"input_id": 1, "error": ""})
    Tracker(str(db), table="predictions", params={**version, "experiment_version": "e0", "git_commit": "zzzz"}).log(
        {"input_id": 1, "error": ""})
    assert benchkit.version_drift(db, "predictions", version) is None  # e1 agrees; e0's rows are another version
    assert benchkit.version_drift(db, "predictions", {**version, "host": "node-2"}) is None  # placement: no version
    said = benchkit.version_drift(db, "predictions", {**version, "git_commit": "bbbb", "data_fingerprint": "f2"})
    assert said.startswith("e1's rows in b.db were made with git_commit aaaa (this run: bbbb); data_fingerprint f1 "
                           "(this run: f2): the rows this run adds would be another version")
    assert benchkit.version_drift(db, "other_table", {**version, "git_commit": "bbbb"}) is None


def test_the_recorded_commit_is_the_last_code_change_so_committing_notes_and_results_keeps_the_version(tmp_path):
    """Trials W, Y, Y2, Y3 (load tests) and X (sklearn) committed notes and results as they went: every commit, or a
    tracked notes file edited (`-dirty`), made the next run's rows another version, reported apart. The recorded
    commit is now the last one that changed code (any tracked file but notes, tables, figures, logs and databases:
    benchkit.NOT_CODE), `-dirty` only for code edits; a new untracked file changes nothing; the same from a folder
    below the top; 'unversioned' outside git and before the first commit (SKILL.md's setup check)."""

    def git(*args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                              capture_output=True, text=True).stdout.strip()

    assert benchkit.git_commit(tmp_path) == "unversioned"
    git("init", "-q")
    assert benchkit.git_commit(tmp_path) == "unversioned"
    (tmp_path / "notes.md").write_text("plan\n")
    git("add", "notes.md")
    git("commit", "-q", "-m", "plan")
    plan = git("rev-parse", "HEAD")[:12]
    assert benchkit.git_commit(tmp_path) == plan  # no code committed yet: the commit there is
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "run.py").write_text("MODELS = ['a']\n")
    git("add", "bench/run.py")
    git("commit", "-q", "-m", "code")
    code = git("rev-parse", "HEAD")[:12]
    assert benchkit.git_commit(tmp_path) == benchkit.git_commit(tmp_path / "bench") == code
    (tmp_path / "bench.db").write_bytes(b"new, untracked")
    (tmp_path / "notes.md").write_text("plan, and what we saw\n")
    assert benchkit.git_commit(tmp_path) == code  # an edited note is not a code change
    (tmp_path / "bench" / "results.csv").write_text("model,accuracy\na,0.9\n")
    (tmp_path / "results").mkdir()  # trial G: the scripts' --json output and a run's stderr
    (tmp_path / "results" / "summary_e1.json").write_text("{}\n")
    (tmp_path / "run_e1.err").write_text("100 calls\n")
    git("add", "-f", "bench.db", "bench/results.csv", "notes.md", "results/summary_e1.json", "run_e1.err")
    git("commit", "-q", "-m", "results and notes")
    assert git("rev-parse", "HEAD")[:12] != code and benchkit.git_commit(tmp_path) == code
    (tmp_path / "bench" / "run.py").write_text("MODELS = ['a', 'b']\n")
    assert benchkit.git_commit(tmp_path / "bench") == f"{code}-dirty"
    git("commit", "-q", "-am", "a model")
    assert benchkit.git_commit(tmp_path) == git("rev-parse", "HEAD")[:12] != code
    (tmp_path / "bench" / "settings.json").write_text('{"models": ["a", "b"]}\n')  # a .json the code may read
    git("add", "bench/settings.json")
    git("commit", "-q", "-m", "settings")
    assert benchkit.git_commit(tmp_path) == git("rev-parse", "HEAD")[:12]


CODE_OF = textwrap.dedent("""
    import functools, re, sys
    sys.path.insert(0, {assets!r})
    import benchkit
    import words

    PATTERN = re.compile({pattern!r})
    LETTERS = frozenset({letters!r})  # a set of strings iterates in an order that changes with the hash seed
    TABLE = {{"vowels": {{"a", "e", "i", "o", "u"}}, "pair": ("x", [1, 2])}}
    class Settings:
        pass

    def helper(text):
        return PATTERN.sub("", text) if set(text) <= LETTERS or TABLE else text

    def candidate(text, settings=None):
        return helper(text).strip(words.SPACE)

    def unrelated(text):
        return text
    print(benchkit.fingerprint(benchkit.code_of(functools.partial(candidate, settings=Settings()))))
""")


def test_code_of_is_the_same_in_every_process_and_folder_and_changes_with_what_the_function_reaches(tmp_path):
    # a partial holding an object (its repr has an address) must not make every process's key new, nor a module
    # it uses (read whole) a key that names the folder: a project moved, or a shard on another machine, replays
    def key(pattern: str, folder: str = "a", space: str = " ", letters: str = "abcdefghij") -> str:
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / "words.py").write_text(f"SPACE = {space!r}\n")
        script = tmp_path / folder / "cand.py"
        script.write_text(CODE_OF.format(assets=str(ROOT / "assets"), pattern=pattern, letters=letters))
        proc = run_python(script, env=random_hash_seed_env(), cwd=tmp_path / folder)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()
    first = key("[0-9]")
    assert len(first) == 16 and key("[0-9]") == first and key("[0-9]", folder="b") == first
    assert key("[0-9]+") != first  # a constant the helper uses
    assert key("[0-9]", space="\t") != first  # a module it uses
    assert key("[0-9]", letters="abcdefghik") != first  # a set constant (the same in every process, trial T)
    assert benchkit.stable_repr([(1,), {"a": frozenset()}, set(), {3, 1, 2}]) == "[(1,), {'a': frozenset()}, set(), {1, 2, 3}]"
    assert benchkit.code_of(int) == benchkit.code_of(int) and "builtins.int" in benchkit.code_of(int)


def test_added_later_names_each_configuration_of_a_later_run_and_the_previous_best(tmp_path):
    """Trials G, K and L: a model added a week later asks "does it beat the previous best?". The configurations
    whose first row came in a later run than the others' (a new version replaying the others, or the same version
    with --add-to-version) each get the best of the others and the filters that keep the two alone."""
    db, cache = tmp_path / "b.db", str(tmp_path / "cache")
    skill = {"a": 0.2, "b": 0.9, "c": 0.5, "d": 0.95}

    def evaluate(cfg: Cfg, input_id: int) -> dict:
        return {"input_id": input_id, "score": skill[cfg.model] + input_id / 100}

    def run(version: str, *configs: Cfg) -> None:
        tracker = Tracker(str(db), table="predictions", cache=cache, params={"experiment_version": version})
        for i in range(4):
            for cfg in configs:
                track_cached(tracker, evaluate, cfg, input_id=i)

    run("e1", Cfg("a", 0.1), Cfg("b", 0.1))
    assert benchkit.added_later(db, "predictions", ["model"], "score", experiment_version="e1") == []
    run("e2", Cfg("a", 0.1), Cfg("b", 0.1), Cfg("c", 0.1))  # a and b replay, c is new
    (found,) = benchkit.added_later(db, "predictions", ["model"], "score", experiment_version="e2")
    assert (found.new, found.best, found.slug) == ("model=c", "model=b", "c")
    assert found.filters == ("--filter", "model=b", "--filter", "model=c")
    (lowest,) = benchkit.added_later(db, "predictions", ["model"], "score", higher=False, experiment_version="e2")
    assert lowest.best == "model=a"
    run("e1", Cfg("d", 0.1))  # --add-to-version: a later run of the same version
    (found,) = benchkit.added_later(db, "predictions", ["model"], "score", experiment_version="e1")
    assert (found.new, found.best) == ("model=d", "model=b")
    run("e3", Cfg("b", 0.1), Cfg("c", 0.2))  # two columns differ (a float among them): the two by config_id
    (found,) = benchkit.added_later(db, "predictions", ["model", "lr"], "score", experiment_version="e3")
    assert found.new == "model=c, lr=0.2" and found.best == "model=b, lr=0.1" and found.values == {"model": "c",
                                                                                                    "lr": 0.2}
    assert found.filters == ("--filter", f"config_id={config_id(Cfg('b', 0.1))}", "--filter",
                             f"config_id={config_id(Cfg('c', 0.2))}")
    assert benchkit.added_later(db, "predictions", ["model"], "no_such_column", experiment_version="e2") == []
    assert benchkit.added_later(tmp_path / "absent.db", "predictions", ["model"], "score") == []
    assert benchkit.added_later(db, "predictions", ["missing"], "score", experiment_version="e2") == []

"""assets/benchkit.py fixes the xetrack 0.7.0 traps it claims to fix, on real trackers and real processes."""

from __future__ import annotations

import sqlite3
import textwrap
from dataclasses import dataclass

import numpy as np
import pytest
from benchkit import (
    completed,
    config_columns,
    config_id,
    fingerprint,
    loggable,
    progress,
    provenance,
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
    import io

    out = io.StringIO()
    assert list(progress(range(50), label="fits", stream=out)) == list(range(50))
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("fits  1/50    2%") and lines[-1].startswith("fits  50/50  100%")
    assert len(lines) == 11  # the first item, then each new tenth


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


def test_fingerprint_of_an_object_array_such_as_csv_string_ids_is_the_same_in_every_process():
    code = ("import numpy as np, benchkit; "
            "print(benchkit.fingerprint(np.array(['row-1', 'row-2', None], dtype=object)))")
    runs = [run_python("-c", code, cwd=ROOT / "assets", env=random_hash_seed_env()) for _ in range(2)]
    assert all(run.returncode == 0 for run in runs), runs[0].stderr
    assert len({run.stdout for run in runs}) == 1
    ids = np.array(["row-1", "row-2"], dtype=object)
    assert fingerprint(ids) == fingerprint(ids.copy()) != fingerprint(np.array(["row-1", "row-3"], dtype=object))

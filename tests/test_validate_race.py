"""The two aggregate passes of validate_benchmark share nothing but their lifetime: when the first fails, the
second connection must not be closed while the worker thread is still querying it (sqlite3 use-after-close
crashes the interpreter with SIGSEGV). Deterministic: the worker is held inside its query (a progress
handler) until the first pass has failed, and closing records whether the worker was still running.
"""

from __future__ import annotations

import threading

import pytest
import validate_benchmark
import validate_fixtures as vf
from _bench.reader import Benchmark, InputError

HOLD = 1.0  # seconds the worker is held inside its query after the first pass failed


def test_a_failing_first_pass_never_closes_the_connection_the_worker_is_querying(tmp_path, monkeypatch):
    db = vf.clean(tmp_path, "sqlite")
    in_query, first_failed, released = threading.Event(), threading.Event(), threading.Event()
    state = {"worker_running": False, "worker_connection": None, "closed_while_running": [], "worker_outcome": None}
    real_config_pass, real_close = validate_benchmark.config_pass, Benchmark.close

    def held(*_):
        """SQLite progress handler of the worker's connection: hold the query until the first pass failed."""
        if not in_query.is_set():
            in_query.set()
            assert first_failed.wait(10), "the first pass never failed"
            released.wait(HOLD)  # the query stays running; a close now would be a use-after-close
        return 0

    def config_pass(bench, *args, **kwargs):
        state["worker_running"], state["worker_connection"] = True, bench
        bench._con.set_progress_handler(held, 1)
        try:
            result = real_config_pass(bench, *args, **kwargs)
            state["worker_outcome"] = "finished"
            return result
        except BaseException as exc:
            state["worker_outcome"] = repr(exc)
            raise
        finally:
            state["worker_running"] = False

    def global_pass(*_):
        assert in_query.wait(10), "the worker never started its query"
        first_failed.set()
        raise InputError("cannot read bench.db: database disk image is malformed")

    def close(self):
        if self is state["worker_connection"] and state["worker_running"]:
            state["closed_while_running"].append(True)
            released.set()  # let the worker finish before really closing, so a regression fails instead of crashing
            while state["worker_running"]:
                threading.Event().wait(0.01)
        real_close(self)

    monkeypatch.setattr(validate_benchmark, "config_pass", config_pass)
    monkeypatch.setattr(validate_benchmark, "global_pass", global_pass)
    monkeypatch.setattr(Benchmark, "close", close)
    with pytest.raises(InputError, match="malformed"):
        validate_benchmark.validate([str(db)], vf.TABLE, "sqlite", None, None, None, validate_benchmark.Options())
    assert state["worker_connection"] is not None and state["worker_connection"]._con is None, "second never closed"
    assert state["closed_while_running"] == [], "the worker's connection was closed while its query ran"
    # The worker's scan was interrupted, not left to run to its end.
    assert state["worker_outcome"] is not None and "interrupted" in state["worker_outcome"], state["worker_outcome"]


def test_the_worker_failing_alone_is_reported_and_both_connections_close(tmp_path, monkeypatch):
    db = vf.clean(tmp_path, "sqlite")
    opened = []
    real_init = Benchmark.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        opened.append(self)

    def config_pass(*_args, **_kwargs):
        raise InputError("cannot read bench.db: database disk image is malformed")

    monkeypatch.setattr(Benchmark, "__init__", init)
    monkeypatch.setattr(validate_benchmark, "config_pass", config_pass)
    with pytest.raises(InputError, match="malformed"):
        validate_benchmark.validate([str(db)], vf.TABLE, "sqlite", None, None, None, validate_benchmark.Options())
    assert len(opened) == 2 and all(b._con is None for b in opened)

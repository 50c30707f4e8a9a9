"""Reading a SQLite benchmark as contiguous slices on several connections (scripts/_bench/slices.py): every row in
exactly one slice, in the whole view's order, and the scripts' results unchanged by slicing."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import analyze_cache_hits
import pytest
from _bench import slices
from _bench.reader import Benchmark, InputError
from helpers import call_main, forks_when_alone
from xetrack import Tracker
from xetrack_fixtures import log_rows


def rows_of(bench: Benchmark) -> list[tuple]:
    return bench.query(f"SELECT * FROM {bench.VIEW}")


def sliced_rows(bench: Benchmark, cuts) -> list[list[tuple]]:
    out = []
    for part in cuts:
        with bench.slice(part) as piece:
            out.append(rows_of(piece))
    return out


def numbered(db: Path, n: int, start: int = 0, engine: str = "sqlite") -> Path:
    log_rows(db, [{"input_id": i, "model": f"m{i % 3}", "score": i / 10} for i in range(start, start + n)],
             engine=engine)
    return db


# --- the cut ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [2, 3, 5])
def test_slices_hold_every_row_once_in_the_whole_views_order(tmp_path, engine, n):
    db = numbered(tmp_path / "one.db", 40, engine=engine)
    with Benchmark([db]) as bench:
        cuts = slices.cut(bench, n=n, min_rows=1)
        parts = sliced_rows(bench, cuts)
        assert len(parts) == n and all(parts)
        assert [r for p in parts for r in p] == rows_of(bench)


def test_several_files_are_cut_across_file_boundaries_in_file_order(tmp_path):
    files = [numbered(tmp_path / f"s{k}.db", size, start=100 * k) for k, size in enumerate((7, 30, 2, 11))]
    with Benchmark(files) as bench:
        for n in (2, 3, 4):
            cuts = slices.cut(bench, n=n, min_rows=1)
            assert [r for p in sliced_rows(bench, cuts) for r in p] == rows_of(bench)
            assert any(len({r.shard for r in part}) > 1 for part in cuts)  # a slice spans files


def test_gaps_in_rowids_and_an_empty_file_lose_no_row(tmp_path):
    db = numbered(tmp_path / "gaps.db", 60)
    with sqlite3.connect(db) as con:  # our own fixture file: rows deleted leave rowid gaps
        con.execute('DELETE FROM "default" WHERE input_id % 7 = 0 OR input_id BETWEEN 20 AND 35')
    empty = tmp_path / "empty.db"
    shutil.copy(db, empty)
    with sqlite3.connect(empty) as con:
        con.execute('DELETE FROM "default"')
    with Benchmark([empty, db, shutil.copy(empty, tmp_path / "empty2.db")]) as bench:
        cuts = slices.cut(bench, n=3, min_rows=1)
        assert [r for p in sliced_rows(bench, cuts) for r in p] == rows_of(bench)


def test_rows_written_after_the_cut_fall_in_exactly_one_slice(tmp_path):
    db = numbered(tmp_path / "live.db", 30)
    with Benchmark([db]) as bench:
        cuts = slices.cut(bench, n=3, min_rows=1)
        numbered(db, 5, start=1000)  # a writer appends after the cut
        numbered(db, 0)
        parts = sliced_rows(bench, cuts)
        assert sum(len(p) for p in parts) == 35
        assert sorted(r for p in parts for r in p) == sorted(rows_of(bench))


@pytest.mark.parametrize("n", [2, 3])
def test_stripes_hold_every_row_once_negative_rowids_too(tmp_path, n):
    files = [numbered(tmp_path / f"s{k}.db", 20 + k, start=100 * k) for k in range(3)]
    with sqlite3.connect(files[1]) as con:  # our own fixture file: rowids below zero
        con.execute('UPDATE "default" SET rowid = -rowid WHERE input_id % 2 = 0')
    with Benchmark(files) as bench:
        parts = sliced_rows(bench, slices.stripes(bench, n=n, min_rows=1))
        assert all(parts) and sorted(r for p in parts for r in p) == sorted(rows_of(bench))


def test_a_column_named_rowid_is_not_mistaken_for_the_rowid(tmp_path):
    db = tmp_path / "named.db"
    with sqlite3.connect(db) as con:
        con.execute('CREATE TABLE "default" (rowid INTEGER, input_id INTEGER)')
        con.executemany('INSERT INTO "default" VALUES (?, ?)', [(1000 - i, i) for i in range(50)])
    with Benchmark([db]) as bench:
        cuts = slices.cut(bench, n=2, min_rows=1)
        assert {r.rowid for part in cuts for r in part} == {"_rowid_"}
        assert [r for p in sliced_rows(bench, cuts) for r in p] == rows_of(bench)


def test_without_rowid_tables_small_files_and_duckdb_are_read_whole(tmp_path):
    db = tmp_path / "norowid.db"
    with sqlite3.connect(db) as con:
        con.execute('CREATE TABLE "default" (input_id INTEGER PRIMARY KEY, score REAL) WITHOUT ROWID')
        con.executemany('INSERT INTO "default" VALUES (?, ?)', [(i, i / 2) for i in range(50)])
    with Benchmark([db]) as bench:
        assert slices.cut(bench, n=2, min_rows=1) is None and slices.stripes(bench, n=2, min_rows=1) is None
    small = numbered(tmp_path / "small.db", 50)
    with Benchmark([small]) as bench:
        assert slices.cut(bench, n=2, min_rows=26) is None  # 25 rows a slice is below the minimum
        assert slices.cut(bench, n=2, min_rows=25) is not None
        assert slices.cut(bench, n=1, min_rows=1) is None
    with Benchmark([small], engine="duckdb") as bench:
        assert slices.cut(bench, n=2, min_rows=1) is None


# --- running slices at once ---------------------------------------------------------------------------------

SLOW = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) "
        "SELECT COUNT(*) FROM c")


def test_a_failing_slice_stops_the_others_and_raises_its_error(tmp_path):
    db = numbered(tmp_path / "f.db", 40)
    started = threading.Event()

    def work(part: Benchmark):
        if part.query(f"SELECT MIN(input_id) FROM {part.VIEW}")[0][0] == 0:  # the first slice
            started.wait(10)
            raise InputError("cannot read the first slice")
        started.set()
        return part.query(SLOW)  # minutes unless interrupted

    with Benchmark([db]) as bench:
        with pytest.raises(InputError, match="first slice"):
            slices.run_sliced(bench, slices.cut(bench, n=2, min_rows=1), work)
        assert bench.query(f"SELECT COUNT(*) FROM {bench.VIEW}") == [(40,)]  # the benchmark is still usable


def test_results_come_back_in_slice_order(tmp_path):
    db = numbered(tmp_path / "o.db", 40)
    with Benchmark([db]) as bench:
        got = slices.run_sliced(bench, slices.cut(bench, n=4, min_rows=1),
                                lambda part: part.query(f"SELECT MIN(input_id), COUNT(*) FROM {part.VIEW}")[0])
    assert [g[0] for g in got] == sorted(g[0] for g in got) and sum(g[1] for g in got) == 40


def test_sql_order_helpers_follow_sqlite():
    with sqlite3.connect(":memory:") as con:
        values = [None, 3, 2.5, "b", "B", "é", b"\x00", -1, "a b"]
        con.execute("CREATE TABLE t (v)")
        con.executemany("INSERT INTO t VALUES (?)", [(v,) for v in values])
        assert [r[0] for r in con.execute("SELECT v FROM t ORDER BY v")] == sorted(values, key=slices.sqlite_order)
        assert con.execute("SELECT MIN(v), MAX(v) FROM t").fetchone() == (
            min((v for v in values if v is not None), key=slices.sqlite_order),
            max(values, key=slices.sqlite_order))
    assert slices.least(None, 2) == 2 and slices.greatest("a", 3) == "a" and slices.total(None, None) is None


# --- the scripts, sliced ------------------------------------------------------------------------------------

def square(i: int) -> dict:
    return {"square": i * i}


def ask(i: int) -> dict:
    return {"error": "RateLimitError: 429"} if i % 4 == 3 else {"answer": i}


def total(values: list) -> dict:
    return {"total": sum(values)}


def cache_history(db: Path, cache: Path, engine: str) -> None:
    """Three runs through one cache and two configurations: computed, replayed, returned failures replayed,
    unhashable arguments (no cache key) and replayed lambdas, interleaved so every cell spans slices."""
    for run in range(3):
        tracker = Tracker(str(db), engine=engine, cache=str(cache), params={"experiment_version": "e1"})
        for i in range(12 + 4 * run):
            model = f"m{i % 2}"
            tracker.track(square, kwargs={"i": i}, params={"model": model})
            tracker.track(ask, args=[i], params={"model": model})
            tracker.track(total, args=[[i, run]], params={"model": model})
            tracker.track(lambda x: {"y": x}, args=[i % 3], params={"model": model})


def test_analyze_reports_the_same_whole_and_in_slices(tmp_path, capsys, monkeypatch, engine):
    db = tmp_path / "history.db"
    cache_history(db, tmp_path / "cache", engine)
    argv = [str(db), "--config-cols", "model", "--json"]  # (run, model, source) cells of many rows each
    code, whole, _ = call_main(analyze_cache_hits.main, capsys, *argv)
    sliced = []
    original = Benchmark.slice
    monkeypatch.setattr(Benchmark, "slice", lambda self, part: sliced.append(part) or original(self, part))
    monkeypatch.setattr(slices, "MIN_SLICE_ROWS", 1)
    report = json.loads(whole)
    overall = report["summary"]["overall"]
    assert overall["replayed"] > 0 and overall["not_cacheable"] > 0 and overall["failed"] > 0
    assert len(report["summary"]["per_configuration"]) == 2
    for n in (2, 3, 7):
        monkeypatch.setattr(slices, "slice_count", lambda n=n: n)
        sliced.clear()
        assert call_main(analyze_cache_hits.main, capsys, *argv)[:2] == (code, whole)
        # the cells in contiguous slices; the lineage join in stripes, twice (a call computed twice in a run)
        assert [len([p for p in sliced if (p[0].stripe is None) == contiguous]) for contiguous in (True, False)] \
            == [n, 2 * n]


def forks_counted(monkeypatch) -> list:
    """Slices from a single row up; each run_forked call of export's scan is appended to the list returned."""
    from _bench.summary import scan

    forked, original = [], slices.run_forked
    monkeypatch.setattr(scan, "run_forked", lambda *a: forked.append(a) or original(*a))
    monkeypatch.setattr(slices, "MIN_SLICE_ROWS", 1)
    return forked


def test_export_reports_the_same_whole_and_in_forked_slices(tmp_path, capsys, monkeypatch):
    """Text item ids (hashed), seeds, a retried failure and more distinct parameter values than SQL numbers
    itself (CASE_LIMIT: key columns are then fetched and matched in Python): the paths a small fixture of the
    export tests may not take."""
    import export_summary
    from _bench.summary import scan

    monkeypatch.setattr(scan, "CASE_LIMIT", 3)
    rows = [{"model": f"m{m}", "prompt": f"p{m % 5}", "seed": s, "item": f"doc-{i}", "correct": (i * m + s) % 3 > 0,
             "error": "timeout" if (i, m, s) == (4, 2, 1) else ""}
            for m in range(6) for s in range(2) for i in range(25)]
    rows.append({**rows[4 + 25 * (1 + 2 * 2)], "error": ""})  # the timeout, retried successfully later
    db = tmp_path / "text.db"
    log_rows(db, rows, engine="sqlite")
    argv = [str(db), "--input-col", "item", "--config-cols", "model,prompt", "--json"]
    code, whole, err = call_main(export_summary.main, capsys, *argv)
    assert code == 0, err
    forked = forks_counted(monkeypatch)
    monkeypatch.setattr(scan, "can_fork", forks_when_alone)
    for n in (2, 3, 6):
        monkeypatch.setattr(slices, "slice_count", lambda n=n: n)
        forked.clear()
        assert call_main(export_summary.main, capsys, *argv)[:2] == (code, whole)
        assert len(forked) == 1 and len(forked[0][1]) == n


def test_export_does_not_fork_while_another_thread_runs_and_reports_the_same(tmp_path, capsys, monkeypatch):
    """A forked child inherits every lock as it was at the fork: a slice reader hung for good in SQLite's allocator,
    whose mutex one of xetrack's sqlitedict threads held when export_summary's main forked in a process that had
    logged rows (the test suite). With another thread running, the scan reads the rows in this process instead."""
    import export_summary

    db = numbered(tmp_path / "t.db", 60)
    argv = [str(db), "--json"]
    code, whole, err = call_main(export_summary.main, capsys, *argv)
    assert code == 0, err
    forked = forks_counted(monkeypatch)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, name="busy-elsewhere")
    other.start()
    try:
        assert not slices.can_fork()
        assert call_main(export_summary.main, capsys, *argv)[:2] == (code, whole) and forked == []
    finally:
        stop.set()
        other.join()
    assert forks_when_alone()


def test_a_forked_slices_error_is_raised_in_the_parent(tmp_path):
    db = numbered(tmp_path / "f.db", 40)

    def work(part: Benchmark, k: int) -> None:
        if k == 2:
            raise InputError(f"cannot read slice {k}")
        if k == 1:
            os._exit(9)  # a child that dies without a word

    with Benchmark([db]) as bench:
        cuts = slices.cut(bench, n=3, min_rows=1)
        with pytest.raises(RuntimeError, match="slice 1 of the rows ended with status 9"):
            slices.run_forked(bench, cuts, work)
        with pytest.raises(InputError, match="cannot read slice 2"):
            slices.run_forked(bench, cuts, lambda part, k: work(part, k) if k != 1 else None)


def test_when_this_process_fails_the_forked_slices_are_stopped(tmp_path):
    db = numbered(tmp_path / "f.db", 40)
    pids = tmp_path / "pids"
    pids.mkdir()

    def work(part: Benchmark, k: int) -> None:
        if k == 0:
            while len(list(pids.iterdir())) < 2:  # both children are running their endless query
                time.sleep(0.01)
            raise InputError("this slice failed")
        (pids / str(os.getpid())).touch()
        part.query(SLOW)

    with Benchmark([db]) as bench, pytest.raises(InputError, match="this slice failed"):
        slices.run_forked(bench, slices.cut(bench, n=3, min_rows=1), work)
    for pid in map(int, (p.name for p in pids.iterdir())):
        with pytest.raises(ChildProcessError):  # stopped and reaped: no such child any more
            os.waitpid(pid, os.WNOHANG)


def test_the_readme_states_the_slicing_threshold_the_code_uses(root):
    assert f"{2 * slices.MIN_SLICE_ROWS:,} rows or more" in " ".join((root / "README.md").read_text().split())

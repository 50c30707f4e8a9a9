"""scripts/_bench/reader.py reads xetrack files of both engines, several at once, read-only, with one-line errors."""

from __future__ import annotations

import sqlite3

import pytest
from _bench.reader import Benchmark, EmptyBenchmark, InputError, quote_ident
from helpers import ROOT, digest, run_python, written
from xetrack_fixtures import clean_benchmark, log_rows

HOSTILE = 'x"; DROP TABLE y; --'


def test_reads_a_clean_benchmark_written_by_either_engine(tmp_path, engine):
    db = clean_benchmark(tmp_path / "b.db", engine, n_items=5)
    before = digest(db)
    with Benchmark([db], table="predictions", engine=engine) as bench:
        assert bench.count() == 10
        assert {"track_id", "timestamp", "model", "input_id", "prediction", "cache"} - set(bench.column_names) == {
            "cache"}
        assert bench.query(f"SELECT model, COUNT(*) FROM {bench.VIEW} GROUP BY model ORDER BY model") == [
            ("logreg", 5), ("tree", 5)]
    assert digest(db) == before


def test_a_duckdb_engine_file_is_a_sqlite_file_and_reads_through_either_reader_engine(tmp_path):
    db = clean_benchmark(tmp_path / "b.duckdb", "duckdb", n_items=3)
    assert db.read_bytes()[:16] == b"SQLite format 3\x00"
    for reader_engine in ("sqlite", "duckdb"):
        with Benchmark([db], table="predictions", engine=reader_engine) as bench:
            assert bench.engine == reader_engine
            assert bench.count() == 6


def test_several_shards_read_as_one_benchmark_with_columns_aligned_by_name(tmp_path, engine):
    a = log_rows(tmp_path / "a.db", [{"input_id": 1, "score": 0.5}], engine=engine, params={"model": "m"}).db
    b = log_rows(tmp_path / "b.db", [{"input_id": 2, "score": 0.7, "extra": "x"}], engine=engine,
                 params={"model": "m"}).db
    with Benchmark([a, b], engine=engine) as bench:
        assert bench.count() == 2
        rows = bench.query(f"SELECT input_id, extra, _shard FROM {bench.VIEW} ORDER BY input_id")
        assert rows == [(1, None, 0), (2, "x", 1)]


def test_a_native_duckdb_file_is_recognised_by_its_header_not_its_name(tmp_path):
    import duckdb

    native = tmp_path / "looks_like.sqlite"
    con = duckdb.connect(str(native))
    con.execute('CREATE TABLE "default" (track_id VARCHAR, timestamp VARCHAR, acc DOUBLE)')
    con.execute("INSERT INTO \"default\" VALUES ('r1', '2026-01-01', 0.5)")
    con.close()
    with Benchmark([native]) as bench:
        assert bench.engine == "duckdb"
        assert bench.query(f"SELECT acc FROM {bench.VIEW}") == [(0.5,)]


def test_an_empty_table_is_not_an_input_error_but_reports_nothing_inspected(tmp_path, engine):
    from xetrack import Tracker

    db = tmp_path / "empty.db"
    Tracker(str(db), engine=engine)
    with Benchmark([db], engine=engine) as bench, pytest.raises(EmptyBenchmark, match="has no rows"):
        bench.require_rows()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.db", "no such file"),
        (lambda d: d, "is a directory"),
        (lambda d: written(d / "empty.db", b""), "empty file"),
        (lambda d: written(d / "notes.db", b"hello, not a database\n"), "not a SQLite or DuckDB"),
    ],
    ids=["missing", "directory", "zero-bytes", "text-file"],
)
def test_bad_paths_give_one_line_input_errors(tmp_path, make, message):
    with pytest.raises(InputError, match=message) as info:
        Benchmark([make(tmp_path)])
    assert "\n" not in str(info.value)


def test_a_missing_table_lists_the_benchmark_tables_and_hides_xetrack_internals(tmp_path, engine):
    db = clean_benchmark(tmp_path / "b.db", engine, n_items=2)
    with pytest.raises(InputError, match=r"no table 'metrics' in .*; available: predictions$"):
        Benchmark([db], table="metrics", engine=engine)


def test_a_hostile_table_name_is_only_ever_quoted(tmp_path):
    db = clean_benchmark(tmp_path / "b.db", "sqlite", n_items=2)
    with pytest.raises(InputError, match="no table"):
        Benchmark([db], table=HOSTILE)
    with sqlite3.connect(db) as con:  # a table really named like an injection: it must be readable, not run
        con.execute(f"CREATE TABLE {quote_ident(HOSTILE)} (track_id TEXT, v INTEGER)")
        con.execute(f"INSERT INTO {quote_ident(HOSTILE)} VALUES ('r', 1)")
    con.close()
    before = digest(db)
    with Benchmark([db], table=HOSTILE) as bench:
        assert bench.query(f"SELECT v FROM {bench.VIEW}") == [(1,)]
    assert digest(db) == before


def test_a_truncated_file_fails_in_one_line_when_read(tmp_path):
    db = tmp_path / "b.db"
    log_rows(db, [{"input_id": i, "text": "x" * 500} for i in range(2000)], engine="sqlite")
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3])
    before = digest(db)
    with pytest.raises(InputError) as info, Benchmark([db]) as bench:
        bench.query(f"SELECT SUM(LENGTH(text)) FROM {bench.VIEW}")
    assert "\n" not in str(info.value)
    assert digest(db) == before


def test_reading_never_writes_even_on_an_attempt_to(tmp_path):
    db = clean_benchmark(tmp_path / "b.db", "sqlite", n_items=2)
    with Benchmark([db], table="predictions") as bench, pytest.raises(InputError, match="readonly"):
        bench.execute('DELETE FROM main."predictions"')


def test_the_module_imports_without_duckdb_installed(tmp_path):
    """Scripts must work with the SQLite engine where duckdb is missing."""
    code = ("import sys; sys.modules['duckdb'] = None; sys.path.insert(0, 'scripts'); import _bench.reader as _db; "
            "print(_db.DB_ERRORS)")
    proc = run_python("-c", code, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "sqlite3.Error" in proc.stdout

"""`--engine auto`, the default: DuckDB from a row count up (lowered here through BENCH_AUTO_DUCKDB_ROWS), sqlite3
below it or when DuckDB's sqlite extension is not available; `--engine sqlite|duckdb` always wins. Every script
says which engine read the rows and why (`engine`, `engine_reason` in the JSON summary), and notes on stderr
when auto chose DuckDB or could not. The findings do not depend on the engine.
"""

from __future__ import annotations

import json
import sqlite3

import analyze_cache_hits
import export_summary
import pytest
import validate_benchmark
import validate_fixtures as vf
from _bench import duckdb_extension
from _bench.engine import choose_engine
from helpers import call_main

MAINS = {"validate_benchmark.py": validate_benchmark.main, "analyze_cache_hits.py": analyze_cache_hits.main,
         "export_summary.py": export_summary.main}


def rows_in(db) -> int:
    with sqlite3.connect(db) as con:
        n = con.execute(f'SELECT COUNT(*) FROM "{vf.TABLE}"').fetchone()[0]
    con.close()
    return n


def report(capsys, script: str, db, *argv) -> tuple[dict, str]:
    code, out, err = call_main(MAINS[script], capsys, db, vf.TABLE, "--json", *argv)
    assert code in (0, 1), err
    return json.loads(out), err


def without_engine(doc: dict) -> dict:
    return {**doc, "summary": {k: v for k, v in doc["summary"].items() if not k.startswith("engine")}}


@pytest.fixture
def db(tmp_path):
    return vf.failing(tmp_path, "sqlite")  # findings to compare, and failed rows for every script


@pytest.mark.parametrize("script", MAINS)
def test_auto_reads_a_file_above_the_threshold_through_duckdb_says_so_and_finds_the_same(
        capsys, monkeypatch, db, script):
    expected, _ = report(capsys, script, db, "--engine", "sqlite")
    monkeypatch.setenv("BENCH_AUTO_DUCKDB_ROWS", str(rows_in(db)))
    doc, err = report(capsys, script, db)
    assert doc["summary"]["engine"] == "duckdb"
    assert doc["summary"]["engine_reason"].startswith(f"auto: duckdb, {rows_in(db):,} rows (")
    assert f"{script}: note: engine auto: duckdb" in err
    assert without_engine(doc) == without_engine(expected)


@pytest.mark.parametrize("script", MAINS)
def test_auto_reads_a_file_below_the_threshold_through_sqlite3_without_a_note(capsys, monkeypatch, db, script):
    monkeypatch.setenv("BENCH_AUTO_DUCKDB_ROWS", str(rows_in(db) + 1))
    doc, err = report(capsys, script, db)
    assert doc["summary"]["engine"] == "sqlite"
    assert doc["summary"]["engine_reason"] == f"auto: sqlite, {rows_in(db):,} rows (0 MB) < {rows_in(db) + 1:,}"
    assert "note: engine" not in err


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_an_explicit_engine_overrides_auto_whatever_the_size(capsys, monkeypatch, db, engine):
    monkeypatch.setenv("BENCH_AUTO_DUCKDB_ROWS", "1" if engine == "sqlite" else "1000000000")
    doc, err = report(capsys, "validate_benchmark.py", db, "--engine", engine)
    assert (doc["summary"]["engine"], doc["summary"]["engine_reason"]) == (engine, f"--engine {engine}")
    assert "note: engine" not in err


def test_without_the_sqlite_extension_auto_stays_on_sqlite3_and_says_why(capsys, monkeypatch, db):
    def unavailable(con=None):
        raise duckdb_extension.ExtensionUnavailable("DuckDB 1.5.5 has no sqlite extension installed")

    monkeypatch.setattr(duckdb_extension, "ensure_sqlite_extension", unavailable)
    monkeypatch.setenv("BENCH_AUTO_DUCKDB_ROWS", "1")
    doc, err = report(capsys, "validate_benchmark.py", db)
    assert doc["summary"]["engine"] == "sqlite"
    assert "would read faster through DuckDB, but DuckDB 1.5.5 has no sqlite extension" in doc["summary"]["engine_reason"]
    assert "note: engine auto: sqlite" in err and "no sqlite extension" in err


def test_auto_counts_the_rows_of_all_files_together(tmp_path, monkeypatch):
    for i in range(2):
        (tmp_path / f"s{i}").mkdir()
    shards = [vf.clean(tmp_path / f"s{i}", "sqlite") for i in range(2)]
    one = rows_in(shards[0])
    monkeypatch.setenv("BENCH_AUTO_DUCKDB_ROWS", str(one + 1))
    assert choose_engine("auto", shards[:1], vf.TABLE).engine == "sqlite"
    assert choose_engine("auto", shards, vf.TABLE).engine == "duckdb"


def test_auto_estimates_from_the_size_a_file_it_cannot_count_and_never_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_AUTO_DUCKDB_ROWS", "1000000")
    missing = choose_engine("auto", [tmp_path / "missing.db"], vf.TABLE)
    assert missing.engine == "sqlite" and "about 0 rows" in missing.reason  # the reader then says: no such file
    db = vf.clean(tmp_path, "sqlite")
    assert "about" in choose_engine("auto", [db], "no_such_table").reason


@pytest.mark.parametrize("script", ["validate_benchmark.py", "analyze_cache_hits.py"])
def test_duckdb_spills_into_a_private_folder_removed_afterwards_never_the_working_directory(
        capsys, monkeypatch, tmp_path, db, script):
    # Both scripts cap DuckDB's memory (Benchmark.bound_memory); beyond the cap it writes spill files
    temp, work = tmp_path / "tmp", tmp_path / "work"
    temp.mkdir()
    work.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    monkeypatch.chdir(work)
    created = []
    import _bench.reader as reader
    real = reader.new_private_folder
    monkeypatch.setattr(reader, "new_private_folder", lambda: created.append(real()) or created[-1])
    report(capsys, script, db, "--engine", "duckdb")
    assert len(created) == 1 and created[0].parent == temp  # it had a spill folder, in the temporary folder
    assert list(temp.iterdir()) == [] and list(work.iterdir()) == []  # and it is gone; nothing in the cwd

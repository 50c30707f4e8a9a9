"""validate_benchmark.py as users and CI run it: arguments, exit codes, JSON, text, bad input, several files."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest
import validate_benchmark
import validate_fixtures as vf
from _bench.reader import quote_ident
from helpers import digest, run_python, written
from xetrack import Tracker

SCRIPT = Path(validate_benchmark.__file__)


def run_cli(*argv, timeout: int = 120) -> subprocess.CompletedProcess:
    return run_python(SCRIPT, *argv, timeout=timeout)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("validate_benchmark.py: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


# --- the bad-input matrix ----------------------------------------------------------------------------

def _many_pages(db: Path) -> Path:
    """A benchmark of ~300 4 KiB pages, so damage in its middle hits table pages, not the header."""
    vf.log_rows(db, [{"input_id": i, "model": "m", "text": "x" * 400} for i in range(3000)], engine="sqlite",
                table=vf.TABLE)
    return db


def _truncated(d: Path) -> Path:
    db = _many_pages(d / "truncated.db")
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 3])
    return db


def _garbled(d: Path) -> Path:
    db = _many_pages(d / "garbled.db")
    data = bytearray(db.read_bytes())
    middle = len(data) // 2 // 4096 * 4096
    data[middle:middle + 8 * 4096] = b"\xff" * (8 * 4096)  # eight table pages overwritten
    db.write_bytes(bytes(data))
    return db


BAD_INPUTS = {
    "missing file": (lambda d: (d / "nope.db", vf.TABLE), "no such file"),
    "directory": (lambda d: (d, vf.TABLE), "is a directory"),
    "zero bytes": (lambda d: (written(d / "z.db", b""), vf.TABLE), "empty file"),
    "not a database": (lambda d: (written(d / "n.db", b"id,x\n1,2\n"), vf.TABLE), "not a SQLite or DuckDB database"),
    "truncated": (lambda d: (_truncated(d), vf.TABLE), "cannot read"),
    "corrupt page": (lambda d: (_garbled(d), vf.TABLE), "cannot read"),
    "unknown table": (lambda d: (vf._run_clean(d, "sqlite", "c.db"), "metrics"),
                      f"no table 'metrics' in .*; available: {vf.TABLE}$"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_no_traceback_and_the_file_unchanged(tmp_path, case):
    make, message = BAD_INPUTS[case]
    path, table = make(tmp_path)
    before = digest(path)
    proc = run_cli(path, table)
    assert proc.returncode == 2, proc.stderr
    assert re.search(message, one_line_error(proc)), proc.stderr
    assert proc.stdout == ""
    assert digest(path) == before


def test_bad_input_with_json_still_prints_one_document_with_status_error(tmp_path):
    proc = run_cli(tmp_path / "nope.db", "--json")
    assert proc.returncode == 2
    doc = json.loads(proc.stdout)
    assert doc["status"] == "error" and "no such file" in doc["error"]
    one_line_error(proc)


@pytest.mark.parametrize("argv", [["--max-error-rate", "2"], ["--max-error-rate", "x"], ["--fail-on", "never"],
                                  ["--filter", "no-equals-sign"], ["--filter", "nope=1"], ["--config-cols", "nope"],
                                  ["--input-col", "nope"], ["--engine", "postgres"], ["--bogus"]])
def test_usage_errors_exit_2_in_one_line(tmp_path, argv):
    db = vf._run_clean(tmp_path, "sqlite", "c.db")
    proc = run_cli(db, vf.TABLE, *argv)
    assert proc.returncode == 2
    one_line_error(proc)


def test_an_empty_table_exits_1_and_says_nothing_was_inspected(tmp_path, engine):
    db = tmp_path / "empty.db"
    Tracker(str(db), engine=engine, table=vf.TABLE)
    proc = run_cli(db, vf.TABLE, "--engine", engine, "--json")
    assert proc.returncode == 1
    assert "nothing to inspect" in one_line_error(proc)
    assert json.loads(proc.stdout)["status"] == "empty"


def test_a_table_without_benchmark_columns_exits_1_instead_of_passing(tmp_path):
    db = tmp_path / "notes.db"
    Tracker(str(db), table="notes").log({"loss": 0.5})  # a measurement, with no input, configuration or error
    proc = run_cli(db, "notes", "--json")
    assert proc.returncode == 1
    assert "none of the columns the checks need" in one_line_error(proc)
    assert json.loads(proc.stdout)["status"] == "empty"


@pytest.mark.parametrize("table", ["select", "order", "quote'q", 'dq"x', "my table"])
def test_hostile_table_and_column_names_are_quoted_never_run(tmp_path, table):
    db = tmp_path / "hostile.db"
    con = sqlite3.connect(db)
    con.execute(f'CREATE TABLE {quote_ident(table)} (track_id TEXT, "order" TEXT, "input_id" INTEGER, '
                f'{quote_ident(chr(34) + "; DROP TABLE x; --")} REAL, error TEXT)')
    con.executemany(f"INSERT INTO {quote_ident(table)} VALUES (?, ?, ?, ?, '')",
                    [("r", m, i, 0.5) for m in ("a", "b") for i in range(3)])
    con.commit()
    con.close()
    before = digest(db)
    proc = run_cli(db, table, "--json", "--config-cols", "order")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["summary"]["rows_inspected"] == 6 and doc["summary"]["configurations"] == 2
    assert digest(db) == before


@pytest.mark.slow  # the validator waits out its 5 s busy timeout before it gives up
def test_a_database_locked_by_a_writer_is_a_one_line_error_not_a_hang(tmp_path):
    db = vf._run_clean(tmp_path, "sqlite", "locked.db")
    writer = sqlite3.connect(db)
    writer.execute("BEGIN EXCLUSIVE")  # a writer in the middle of a commit: readers must wait, then give up
    try:
        proc = run_cli(db, vf.TABLE, timeout=60)
    finally:
        writer.rollback()
        writer.close()
    assert proc.returncode == 2
    assert "database is locked" in one_line_error(proc)


# --- reports and exit codes --------------------------------------------------------------------------

def test_help_documents_checks_exit_codes_and_examples():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for text in ("exit codes", "0  clean", "2  usage or input error", "examples:", "--fail-on", "--max-error-rate",
                 "--filter", *validate_benchmark.CHECKS):
        assert text in proc.stdout, text


def test_seed_style_call_prints_a_text_report_for_people(tmp_path):
    db = vf.uneven_coverage(tmp_path, "sqlite")
    proc = run_cli(db, vf.TABLE)
    assert proc.returncode == 1 and proc.stderr == ""
    out = proc.stdout
    assert out.startswith("validate_benchmark.py: FINDINGS - 1 errors, 0 warnings, 0 info")
    assert "inferred: input input_id; configuration model (from parameters)" in out
    assert "ERROR   [unequal-coverage]" in out and "fix: " in out
    assert "checks run: " in out and "train-test-overlap (no split column)" in out


def test_json_is_one_document_with_counts_first_and_capped_examples(tmp_path):
    db = vf.duplicated(tmp_path, "sqlite")
    proc = run_cli(db, vf.TABLE, "--json")
    doc = json.loads(proc.stdout)  # exactly one document: json.loads fails on anything else
    assert list(doc)[:7] == ["schema_version", "tool", "status", "fail_on", "counts", "summary", "findings"]
    assert list(doc["counts"]) == ["error", "warning", "info"]
    assert doc["inferred"]["input_id"] == "input_id" and doc["inferred"]["configuration"] == ["model"]
    dup = next(f for f in doc["findings"] if f["check_id"] == "duplicate-executions")
    assert set(dup) == {"check_id", "severity", "message", "hint", "examples", "examples_omitted"}
    assert len(dup["examples"]) == 5 and dup["examples_omitted"] == 2 * vf.N - 5


def test_fail_on_warning_turns_warnings_into_exit_1_and_info_never_fails(tmp_path):
    db = vf.renamed_parameter(tmp_path, "sqlite")  # a warning only
    assert run_cli(db, vf.TABLE).returncode == 0
    assert run_cli(db, vf.TABLE, "--fail-on", "warning").returncode == 1
    retried = tmp_path / "retried.db"
    rows = [{**vf.predict(m, i), "model": m, "error": "timeout" if k == 0 else ""}
            for m in ("a", "b") for i in range(4) for k in ((0, 1) if i == 0 else (1,))]
    vf.log_rows(retried, rows, engine="sqlite", table=vf.TABLE)  # one failure per model, retried successfully
    proc = run_cli(retried, vf.TABLE, "--fail-on", "warning", "--json", "--max-error-rate", "0.5")
    doc = json.loads(proc.stdout)
    assert [(f["check_id"], f["severity"]) for f in doc["findings"]] == [("failed-executions", "info")]
    assert proc.returncode == 0


# --- several files as one benchmark ------------------------------------------------------------------

def test_one_file_per_worker_is_validated_as_one_benchmark(tmp_path, engine):
    a, b = tmp_path / "worker-a.db", tmp_path / "worker-b.db"
    vf._run(a, engine, models=("logreg",))
    vf._run(b, engine, models=("tree",))
    proc = run_cli(a, b, vf.TABLE, "--engine", engine, "--json")
    doc = json.loads(proc.stdout)
    assert (proc.returncode, doc["findings"]) == (0, [])
    assert doc["summary"]["files"] == 2 and doc["summary"]["configurations"] == 2


def test_workers_that_computed_the_same_inputs_are_caught_across_files(tmp_path):
    a, b = tmp_path / "worker-a.db", tmp_path / "worker-b.db"
    vf._run(a, "sqlite")
    vf._run(b, "sqlite", models=("logreg",))
    proc = run_cli(a, b, vf.TABLE, "--json")
    doc = json.loads(proc.stdout)
    assert {f["check_id"] for f in doc["findings"]} == {"duplicate-executions", "cache-ineffective"}


@pytest.mark.parametrize("case", ["missing file", "not a database", "unknown table"])
def test_bad_input_with_snapshot_is_the_same_one_line_error(tmp_path, case):
    make, message = BAD_INPUTS[case]
    path, table = make(tmp_path)
    proc = run_cli(path, table, "--snapshot")
    assert proc.returncode == 2
    assert re.search(message.replace(".*", ".*"), one_line_error(proc))


def test_reports_are_deterministic_so_they_can_be_diffed_between_runs(tmp_path):
    """DuckDB returns groups in any order; every list in the report is sorted."""
    db = vf.uneven_coverage(tmp_path, "duckdb")
    vf._run(db, "duckdb", models=("logreg",))  # duplicates too: many example groups to order
    first, second = (run_cli(db, vf.TABLE, "--engine", "duckdb", "--json").stdout for _ in range(2))
    assert first == second and json.loads(first)["findings"]

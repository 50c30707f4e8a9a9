"""The scripts on files in awkward states: a damaged shard, mixed-type and untyped columns under DuckDB, WAL mode,
a hot rollback journal, a read-only folder, an output path that is an input, a writer holding the lock.

Every file is written by xetrack (then put into the state with sqlite3, as another tool or a crash would).
Nothing may be written or created beside an input: folders are listed and hashed before and after.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _bench.reader import Benchmark
from xetrack_fixtures import log_rows

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ("validate_benchmark.py", "export_summary.py", "analyze_cache_hits.py")
SETPRIV = shutil.which("setpriv")
# Tests run as root, which ignores folder permissions; without these capabilities root is held to them.
DROP_ROOT_POWERS = [SETPRIV, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"] if SETPRIV else []


def run(script: str, *args, env: dict | None = None, unprivileged: bool = False) -> subprocess.CompletedProcess:
    prefix = DROP_ROOT_POWERS if unprivileged else []
    return subprocess.run([*prefix, sys.executable, str(ROOT / "scripts" / script), *map(str, args)],
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120)


def folder_state(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def one_error_line(proc: subprocess.CompletedProcess, script: str) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{script}: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def rows(start: int, n: int, pad: int = 0) -> list[dict]:
    return [{"input_id": i, "model": "ab"[i % 2], "prediction": i % 2, "ground_truth": i % 3 % 2,
             "error": "", **({"payload": "x" * pad} if pad else {})} for i in range(start, start + n)]


def inspected(proc: subprocess.CompletedProcess) -> int:
    return json.loads(proc.stdout)["summary"]["rows_inspected"]


def can_drop_root_powers(tmp_path: Path) -> bool:
    probe = tmp_path / "probe-ro"
    probe.mkdir()
    probe.chmod(0o555)
    try:
        return bool(SETPRIV) and subprocess.run([*DROP_ROOT_POWERS, "touch", str(probe / "x")],
                                                capture_output=True).returncode != 0
    finally:
        probe.chmod(0o755)


# --- 1. several shards, one damaged: the error names the damaged file ------------------------------------

def damage(db: Path) -> Path:
    """Overwrite 16 KB in the middle of the file (table leaf pages), as a bad disk or a torn copy would."""
    data = bytearray(db.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 16384] = bytes(range(256)) * 64
    db.write_bytes(bytes(data))
    return db


@pytest.mark.parametrize("damaged_index", [0, 1], ids=["first-damaged", "second-damaged"])
@pytest.mark.parametrize("script", SCRIPTS)
def test_the_damaged_one_of_two_shards_is_named(tmp_path, script, damaged_index):
    files = [tmp_path / "good.db", tmp_path / "broken.db"]
    for db in files:
        log_rows(db, rows(0, 3000, pad=300), engine="sqlite")
    damage(files[1])
    order = files if damaged_index == 1 else files[::-1]
    before = folder_state(tmp_path)
    proc = run(script, *order, "--table", "default")
    assert proc.returncode == 2
    line = one_error_line(proc, script)
    assert f"cannot read {files[1]}" in line and "damaged" in line, line
    assert str(files[0]) not in line
    assert folder_state(tmp_path) == before


# --- 2. DuckDB on xetrack's own mixed-type columns and on untyped columns ---------------------------------

def mixed_and_untyped(db: Path) -> Path:
    """xetrack fixes `batch` (a parameter every script reads) as INTEGER from its first value; later text and
    real values are stored anyway. `note` is added with no declared type (as another tool would), which DuckDB
    reads as BLOB."""
    tracker = log_rows(db, [{**r, "batch": 8} for r in rows(0, 20)], engine="sqlite")
    tracker.log_batch([{**r, "batch": "auto" if r["input_id"] % 2 else 0.5} for r in rows(20, 20)])
    with sqlite3.connect(db) as con:
        con.execute('ALTER TABLE "default" ADD COLUMN note')
        con.execute("""UPDATE "default" SET note = CASE WHEN input_id < 10 THEN 'héllo' ELSE input_id END""")
    con.close()
    return db


@pytest.mark.parametrize("script", SCRIPTS)
def test_duckdb_reads_a_file_with_a_mixed_type_column_by_falling_back_and_says_so(tmp_path, script):
    db = mixed_and_untyped(tmp_path / "mixed.db")
    before = folder_state(tmp_path)
    proc = run(script, db, "--engine", "duckdb", "--json")
    assert proc.returncode in (0, 1), proc.stderr
    assert "Mismatch Type Error" in proc.stderr and "through sqlite3 instead" in proc.stderr
    assert inspected(proc) in (40, 0)  # analyze_cache_hits counts track() calls: there are none here
    assert folder_state(tmp_path) == before


def test_duckdb_reads_an_untyped_column_as_text_so_filters_match(tmp_path):
    db = tmp_path / "untyped.db"
    log_rows(db, rows(0, 40), engine="sqlite")
    with sqlite3.connect(db) as con:
        con.execute('ALTER TABLE "default" ADD COLUMN note')
        con.execute("""UPDATE "default" SET note = CASE WHEN input_id < 10 THEN 'héllo' ELSE input_id END""")
    con.close()
    with Benchmark([db], engine="duckdb") as bench:
        assert bench.query(f"SELECT note FROM {bench.VIEW} WHERE input_id IN (3, 12) ORDER BY input_id") == [
            ("héllo",), ("12",)]
    for engine in ("sqlite", "duckdb"):
        proc = run("validate_benchmark.py", db, "--engine", engine, "--filter", "note=héllo", "--json")
        assert proc.returncode in (0, 1), proc.stderr
        assert inspected(proc) == 10 and json.loads(proc.stdout)["summary"]["engine"] == engine
        proc = run("validate_benchmark.py", db, "--engine", engine, "--filter", "note=12", "--json")
        assert inspected(proc) == 1, proc.stderr


# --- 3. WAL mode and hot rollback journals -----------------------------------------------------------------

def to_wal_with_uncheckpointed_rows(db: Path, extra: int) -> sqlite3.Connection:
    """Switch a xetrack file to WAL and commit `extra` rows that stay in the -wal: checkpointing is off and the
    connection is returned open (the last connection to close would fold the WAL into the file)."""
    con = sqlite3.connect(db, isolation_level=None)
    assert con.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    con.execute("PRAGMA wal_autocheckpoint=0")
    cols = ["track_id", "timestamp", "input_id", "model", "prediction", "ground_truth", "error"]
    con.executemany(f'INSERT INTO "default" ({", ".join(cols)}) VALUES ({", ".join("?" * len(cols))})',
                    [("wal-run", f"2099-01-01 {i:06d}", 1000 + i, "a", 1, 1, "") for i in range(extra)])
    assert Path(str(db) + "-wal").stat().st_size > 0
    return con


@pytest.fixture
def wal_copy(tmp_path) -> Path:
    """A WAL-mode database and its non-empty -wal, copied aside while the writer is open (no -shm), as a
    backup tool or a crashed writer leaves them: 30 rows in the file, 7 more only in the WAL."""
    live = tmp_path / "live"
    live.mkdir()
    log_rows(live / "b.db", rows(0, 30), engine="sqlite")
    writer = to_wal_with_uncheckpointed_rows(live / "b.db", 7)
    folder = tmp_path / "copied"
    folder.mkdir()
    shutil.copyfile(live / "b.db", folder / "b.db")
    shutil.copyfile(live / "b.db-wal", folder / "b.db-wal")
    writer.close()
    return folder / "b.db"


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_wal_file_is_read_with_its_wal_rows_and_nothing_appears_beside_it(wal_copy, script):
    before = folder_state(wal_copy.parent)
    proc = run(script, wal_copy, "--json")
    assert proc.returncode in (0, 1), proc.stderr
    if script != "analyze_cache_hits.py":
        assert inspected(proc) == 37
    assert "WAL mode" in proc.stderr and "readonly" not in proc.stderr
    assert folder_state(wal_copy.parent) == before


def test_a_wal_file_with_a_live_writer_and_its_shm_is_read_whole(tmp_path, engine):
    db = tmp_path / "b.db"
    log_rows(db, rows(0, 30), engine="sqlite")
    writer = to_wal_with_uncheckpointed_rows(db, 5)
    try:
        names = sorted(p.name for p in tmp_path.iterdir())
        proc = run("validate_benchmark.py", db, "--engine", engine, "--json")
        assert proc.returncode in (0, 1), proc.stderr
        assert inspected(proc) == 35
        assert sorted(p.name for p in tmp_path.iterdir()) == names
        proc = run("validate_benchmark.py", db, "--snapshot", "--json")
        assert inspected(proc) == 35, proc.stderr
    finally:
        writer.close()


def test_a_wal_file_in_a_read_only_folder_is_read_through_a_private_copy(tmp_path, wal_copy):
    if not can_drop_root_powers(tmp_path):
        pytest.skip("cannot make a folder read-only for this user (setpriv missing)")
    before = folder_state(wal_copy.parent)
    wal_copy.parent.chmod(0o555)
    try:
        for script in SCRIPTS:
            proc = run(script, wal_copy, "--json", unprivileged=True)
            assert proc.returncode in (0, 1), proc.stderr
            assert "readonly" not in proc.stderr
        assert inspected(run("export_summary.py", wal_copy, "--json", unprivileged=True)) == 37
    finally:
        wal_copy.parent.chmod(0o755)
    assert folder_state(wal_copy.parent) == before


def test_an_unreadable_wal_gives_one_line_naming_the_wal(tmp_path, wal_copy):
    if not can_drop_root_powers(tmp_path):
        pytest.skip("cannot hold root to file permissions here (setpriv missing)")
    wal = Path(str(wal_copy) + "-wal")
    wal.chmod(0o000)
    try:
        proc = run("validate_benchmark.py", wal_copy, unprivileged=True)
    finally:
        wal.chmod(0o644)
    assert proc.returncode == 2
    line = one_error_line(proc, "validate_benchmark.py")
    assert "WAL mode" in line and "Permission denied" in line and str(wal_copy) in line


CRASHING_WRITER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA cache_size=1")  # spill dirty pages into the file before commit, as a big transaction does
con.execute("BEGIN")
con.execute('DELETE FROM "default"')
con.executemany('INSERT INTO "default" (track_id, timestamp, input_id) VALUES (?, ?, ?)',
                [("crash", str(i), i) for i in range(3000)])
print("ready", flush=True)
time.sleep(60)
"""


def crash_mid_transaction(db: Path) -> None:
    """A writer deletes every row and inserts others, then is killed before COMMIT: a hot -journal remains."""
    writer = subprocess.Popen([sys.executable, "-c", CRASHING_WRITER, str(db)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "ready"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    writer.stdout.close()
    assert Path(str(db) + "-journal").stat().st_size > 0


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_hot_journal_is_rolled_back_in_a_private_copy_not_called_readonly(tmp_path, script):
    db = tmp_path / "b.db"
    log_rows(db, rows(0, 25), engine="sqlite")
    crash_mid_transaction(db)
    before = folder_state(tmp_path)
    proc = run(script, db, "--json")
    assert proc.returncode in (0, 1), proc.stderr
    if script != "analyze_cache_hits.py":
        assert inspected(proc) == 25  # the committed rows, not the crashed transaction's
    assert "hot rollback journal" in proc.stderr and "readonly" not in proc.stderr
    assert folder_state(tmp_path) == before


def test_a_hot_journal_in_a_read_only_folder(tmp_path):
    if not can_drop_root_powers(tmp_path):
        pytest.skip("cannot make a folder read-only for this user (setpriv missing)")
    folder = tmp_path / "ro"
    folder.mkdir()
    log_rows(folder / "b.db", rows(0, 25), engine="sqlite")
    crash_mid_transaction(folder / "b.db")
    before = folder_state(folder)
    folder.chmod(0o555)
    try:
        proc = run("validate_benchmark.py", folder / "b.db", "--json", unprivileged=True)
    finally:
        folder.chmod(0o755)
    assert proc.returncode in (0, 1), proc.stderr
    assert inspected(proc) == 25
    assert folder_state(folder) == before


def test_a_plain_rollback_file_is_read_in_place_with_no_copy(tmp_path, engine):
    db = tmp_path / "b.db"
    log_rows(db, rows(0, 5), engine=engine)
    with Benchmark([db], engine=engine) as bench:
        assert bench.read_paths == [db] and bench.notes == []
        assert bench.count() == 5


# --- 4. no output path may be an input ---------------------------------------------------------------------

@pytest.mark.parametrize("how", ["same-name", "symlink", "wal-companion"])
def test_plot_over_the_input_database_is_refused_before_anything_is_written(tmp_path, how):
    db = tmp_path / "same.png"
    log_rows(db, rows(0, 10), engine="sqlite")
    target = {"same-name": db, "symlink": tmp_path / "link.png", "wal-companion": tmp_path / "same.png-wal"}[how]
    if how == "symlink":
        target.symlink_to(db)
    before = folder_state(tmp_path)
    proc = run("export_summary.py", db, "default", "--plot", target)
    assert proc.returncode == 2
    line = one_error_line(proc, "export_summary.py")
    assert "--plot" in line and "refusing to overwrite" in line
    assert folder_state(tmp_path) == before


def test_the_output_guard_allows_a_distinct_path(tmp_path):
    from _bench.cli import refuse_output_over_inputs

    db = tmp_path / "b.db"
    db.write_bytes(b"")
    refuse_output_over_inputs({"--plot": tmp_path / "b.png", "--output": None}, [db])


# --- 5. a writer holding the lock -----------------------------------------------------------------------

LOCK_HOLDER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.execute("COMMIT")
"""


def hold_lock(db: Path, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(db), str(seconds)], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline().strip() == "locked"
    holder.stdout.close()
    return holder


@pytest.mark.slow
def test_a_short_lock_is_waited_out(tmp_path):
    db = tmp_path / "b.db"
    log_rows(db, rows(0, 10), engine="sqlite")
    holder = hold_lock(db, 1.5)
    try:
        proc = run("validate_benchmark.py", db, "--json", env={"BENCH_BUSY_TIMEOUT_S": "10"})
    finally:
        holder.wait()
    assert proc.returncode in (0, 1), proc.stderr
    assert inspected(proc) == 10


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_a_long_lock_gives_up_after_the_timeout_with_a_hint(tmp_path, script):
    db = tmp_path / "b.db"
    log_rows(db, rows(0, 10), engine="sqlite")
    holder = hold_lock(db, 15)
    try:
        start = time.monotonic()
        proc = run(script, db, env={"BENCH_BUSY_TIMEOUT_S": "1"})
        elapsed = time.monotonic() - start
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 2
    line = one_error_line(proc, script)
    assert "locked by a writer (waited 1 s)" in line and "--snapshot" in line
    assert elapsed < 10  # 1 s of waiting plus start-up, with a wide margin

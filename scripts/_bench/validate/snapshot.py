"""A private copy of a benchmark table that a running xetrack writer barely notices (validate --snapshot).

Why: xetrack writes in SQLite's rollback-journal mode (its asset store resets the file to journal_mode=DELETE
on every open, so WAL is not an option), where a writer can commit only while no reader holds a SHARED lock,
and xetrack's connection gives up after 5 s with "database is locked" -- a crash for a benchmark calling
log(). One aggregate query over 10 M rows holds that lock for ~5-15 s. This copies the table in rowid
ranges, each its own short read transaction, up to the largest rowid seen at the start: xetrack only
appends, so that is a consistent prefix of the benchmark. Only the keys of xetrack's `assets` table are
copied (the checks look hashes up; the pickled values can be large).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from _bench.files import FileProblem, connect_ro, locked_hint, needs_private_copy, private_copy
from _bench.reader import InputError, first_line, quote_ident

CHUNK_ROWS = 100_000  # ~0.1 s of reading: the longest a writer waits for this reader


def snapshot_sqlite(path: Path, table: str, copy: Path, chunk: int = CHUNK_ROWS) -> Path:
    """Copy `table` (and the keys of `assets`) from the SQLite file `path` into a new file `copy`; return the
    copy, or `path` itself when it has no such table (so the error names the user's file).

    A WAL-mode file or one with a hot journal cannot be read in place without writing beside it; its private
    recovered copy (database + WAL or journal, taken at once) is then the snapshot."""
    try:
        state = needs_private_copy(path)
        if state is not None:
            folder = copy.with_name(copy.name + ".d")
            folder.mkdir()
            return private_copy(path, state, folder)
    except FileProblem as exc:
        raise InputError(str(exc)) from exc
    con = connect_ro(path, isolation_level=None)
    try:
        con.execute("ATTACH DATABASE ? AS snap", [str(copy)])
        con.execute("PRAGMA snap.journal_mode = OFF")
        con.execute("PRAGMA snap.synchronous = OFF")
        ddl = {name: sql for name, sql in con.execute(
            "SELECT name, sql FROM main.sqlite_master WHERE type = 'table' AND name IN (?, 'assets')", [table])}
        if table not in ddl:
            return path  # read the original: the reader reports the missing table, listing the file's tables
        # The original DDL keeps the declared types the checks read; only the schema name is added.
        con.execute(ddl[table].replace("CREATE TABLE ", "CREATE TABLE snap.", 1))
        t = quote_ident(table)
        if "assets" in ddl:
            con.execute("CREATE TABLE snap.assets (key TEXT PRIMARY KEY, value BLOB)")
            con.execute("INSERT INTO snap.assets SELECT key, NULL FROM main.assets")
        try:
            last = con.execute(f"SELECT MAX(rowid) FROM main.{t}").fetchone()[0] or 0
        except sqlite3.OperationalError:  # a WITHOUT ROWID table (not xetrack's): one copy
            con.execute(f"INSERT INTO snap.{t} SELECT * FROM main.{t}")
            return copy
        low = con.execute(f"SELECT MIN(rowid) FROM main.{t}").fetchone()[0] or 0
        for start in range(low, last + 1, chunk):
            con.execute(f"INSERT INTO snap.{t} SELECT * FROM main.{t} WHERE rowid >= ? AND rowid < ?",
                        [start, min(start + chunk, last + 1)])
        return copy
    except sqlite3.Error as exc:
        why = locked_hint() if "database is locked" in str(exc) else first_line(exc)
        raise InputError(f"cannot snapshot {path}: {why}") from exc
    finally:
        con.close()

"""`--engine auto` (the default): read large SQLite files through DuckDB, small ones through sqlite3.

Why: both engines give the same findings and numbers, but their costs differ (benchmarks/README.md, "Which
engine reads faster"). DuckDB pays a fixed start-up (import, extension load: about 0.4 s) and then scans and
aggregates on both cores; sqlite3 starts at once but sorts for every GROUP BY on one core. Measured on
generated xetrack files, sqlite3 wins below a few hundred thousand rows and DuckDB above; at 1 M rows and more
DuckDB was faster for every script. So `auto` picks DuckDB from AUTO_DUCKDB_ROWS rows (all files together),
when its sqlite extension is available offline, and sqlite3 otherwise. `--engine sqlite|duckdb` overrides.

Rows are counted cheaply: MAX(rowid) of each file's table (one b-tree descent; xetrack only appends, so it is
the row count give or take deleted rows). A file that cannot be opened plainly (WAL mode or a hot journal, which
an open would touch, a lock, no such table) is estimated from its size instead; the reader reports the real
problem later, so this never raises.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

AUTO_DUCKDB_ROWS = 1_000_000
ROWS_ENV = "BENCH_AUTO_DUCKDB_ROWS"  # overrides AUTO_DUCKDB_ROWS (tests lower it)
BYTES_PER_ROW = 150  # a xetrack row of a typical benchmark table, for files whose rows cannot be counted
SQLITE_MAX_FILES = 10  # as in reader.py: more files always go to DuckDB (SQLite's attach limit)
DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of a native DuckDB file (reader._sniff)


@dataclass(frozen=True)
class EngineChoice:
    engine: str  # what the reader is asked for: 'sqlite' or 'duckdb'
    reason: str  # one line for the user: why
    noted: bool  # print the reason on stderr (auto went to DuckDB, or could not)


def threshold() -> int:
    text = os.environ.get(ROWS_ENV, "")
    try:
        return max(int(text), 0) if text else AUTO_DUCKDB_ROWS
    except ValueError:
        return AUTO_DUCKDB_ROWS


def choose_engine(requested: str, paths: Sequence[str | Path], table: str) -> EngineChoice:
    """The engine to read `paths` with. Only 'auto' is decided here; the reader still sends native DuckDB files
    and more than SQLITE_MAX_FILES files to DuckDB whatever is asked."""
    if requested != "auto":
        return EngineChoice(requested, f"--engine {requested}", False)
    files = [Path(p) for p in paths]
    if len(files) > SQLITE_MAX_FILES:
        return EngineChoice("duckdb", f"auto: {len(files)} files (sqlite3 attaches at most {SQLITE_MAX_FILES})",
                            False)
    if any(_is_duckdb(p) for p in files):
        return EngineChoice("duckdb", "auto: a native DuckDB file is among them (only DuckDB reads it)", False)
    rows, estimated = 0, False
    for p in files:
        counted = _rows(p, table)
        if counted is None:
            counted, estimated = _size(p) // BYTES_PER_ROW, True
        rows += counted
    limit = threshold()
    size = sum(_size(p) for p in files) / 2**20
    what = f"{'about ' if estimated else ''}{rows:,} rows ({size:,.0f} MB)"
    if rows < limit:
        return EngineChoice("sqlite", f"auto: sqlite, {what} < {limit:,}", False)
    missing = duckdb_unavailable()
    if missing:
        return EngineChoice("sqlite", f"auto: sqlite, {what} >= {limit:,} would read faster through DuckDB, "
                                      f"but {missing}", True)
    return EngineChoice("duckdb", f"auto: duckdb, {what} >= {limit:,} (faster on large files; "
                                  "--engine sqlite to override)", True)


def duckdb_unavailable() -> str | None:
    """Why DuckDB cannot read SQLite files here (no package, no sqlite extension offline), or None."""
    from _bench.duckdb_extension import ExtensionUnavailable, ensure_sqlite_extension

    try:
        ensure_sqlite_extension()
    except ExtensionUnavailable as exc:
        return str(exc)
    return None


def _is_duckdb(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(12)[8:12] == DUCKDB_MAGIC
    except OSError:
        return False  # missing or unreadable: the reader says so in its own words


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _rows(path: Path, table: str) -> int | None:
    """MAX(rowid) of `table`, or None when the file cannot be opened plainly or has no such rowid table."""
    from _bench.files import FileProblem, connect_ro, needs_private_copy
    from _bench.reader import quote_ident

    try:
        if needs_private_copy(path) is not None:
            return None
        con = connect_ro(path)
    except (FileProblem, OSError, sqlite3.Error):
        return None
    try:
        con.execute("PRAGMA busy_timeout = 200")  # a writer's lock: estimate from the size rather than wait
        value = con.execute(f"SELECT MAX(rowid) FROM {quote_ident(table)}").fetchone()[0]
        return int(value or 0)
    except (sqlite3.Error, ValueError, TypeError):
        return None
    finally:
        con.close()

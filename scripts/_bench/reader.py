"""Read one or several xetrack database files as one benchmark, read-only, with every input problem made typed.

Shared by validate_benchmark.py, analyze_cache_hits.py and export_summary.py. What it knows about xetrack 0.7.0:
- A xetrack file is a SQLite file for *both* engines (`engine='duckdb'` attaches a SQLite file); a native DuckDB
  file is also accepted, recognised by its header, never by its extension.
- `assets`, `keys` and `counts` are xetrack's own sqlitedict tables, not benchmark tables.
- DuckDB-engine files declare DuckDB type names (VARCHAR, FLOAT, BOOLEAN) inside SQLite.

Several files (one per worker or machine) are read as one benchmark through a temporary view `bench` that
unions them by column name; a `_shard` column says which file a row came from. Nothing is loaded into memory:
scripts push their work into SQL against `bench`.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from _bench.files import (
    FileProblem,
    busy_timeout,
    connect_ro,
    damaged,
    is_damage,
    is_locked,
    locked_hint,
    needs_private_copy,
    new_private_folder,
    private_copy,
    ro_uri,
)

T = TypeVar("T")

SQLITE_HEADER = b"SQLite format 3\x00"
XETRACK_INTERNAL_TABLES = ("assets", "keys", "counts")
SQLITE_MAX_FILES = 10  # SQLite's default limit on attached databases; DuckDB has none
DUCKDB_MEMORY_LIMIT = "512MB"  # DuckDB otherwise takes up to 80 % of RAM; beyond this it spills to disk

def _db_errors() -> tuple[type[BaseException], ...]:
    try:
        import duckdb
    except ImportError:
        return (sqlite3.Error,)
    return (sqlite3.Error, duckdb.Error)


DB_ERRORS = _db_errors()


class InputError(Exception):
    """A problem with what the user gave us (path, file, table, option). Scripts print it in one line, exit 2."""


class DuckDBTypeMismatch(InputError):
    """DuckDB refused a SQLite column holding values of another storage class than its declared type (xetrack
    fixes a column's type from its first value and SQLite keeps later values of any type)."""


class EmptyBenchmark(Exception):
    """The table exists but holds no rows: nothing was inspected. Scripts print it in one line, exit 1."""


def quote_ident(name: str) -> str:
    """Quote an SQL identifier for SQLite and DuckDB alike; never format a name into SQL any other way."""
    if "\x00" in name:
        raise InputError("identifier contains a NUL byte")
    return '"' + name.replace('"', '""') + '"'


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass(frozen=True)
class Column:
    name: str
    declared_type: str  # as written in the schema: TEXT, REAL, INTEGER, VARCHAR, FLOAT, BOOLEAN, ...

    @property
    def kind(self) -> str:
        """'text', 'integer', 'real', 'blob' or 'unknown', whichever engine declared it."""
        t = self.declared_type.upper()
        if any(k in t for k in ("CHAR", "TEXT", "CLOB", "STRING")):
            return "text"
        if any(k in t for k in ("INT", "BOOL")):
            return "integer"
        if any(k in t for k in ("REAL", "FLOA", "DOUB", "DECIMAL", "NUMERIC")):
            return "real"
        if "BLOB" in t:
            return "blob"
        return "unknown"


def _sniff(path: Path) -> str:
    """'sqlite' or 'duckdb' from the file header; raise InputError for anything else."""
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if path.is_dir():
        raise InputError(f"is a directory, not a database file: {path}")
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not head:
        raise InputError(f"empty file, not a database: {path}")
    if head == SQLITE_HEADER:
        return "sqlite"
    if head[8:12] == b"DUCK":
        return "duckdb"
    raise InputError(f"not a SQLite or DuckDB database: {path}")


def sqlite_tables_and_columns(path: Path, shown: Path | None = None) -> dict[str, list[Column]]:
    """Every table in a SQLite file with its columns, read-only. `shown` is the user's name for the file when
    `path` is a private copy of it."""
    try:
        con = connect_ro(path)
        try:
            tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type IN ('table','view')")]
            return {t: [Column(r[1], r[2] or "") for r in con.execute(f"PRAGMA table_info({quote_ident(t)})")]
                    for t in tables}
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise InputError(f"cannot read {shown or path}: {_explain(exc)}") from exc


def _explain(exc: BaseException) -> str:
    return locked_hint() if is_locked(exc) else first_line(exc)


def with_engine_fallback(engine: str, work: Callable[[str], T], note: Callable[[str], None]) -> T:
    """Run `work(engine)`; if DuckDB refuses a mixed-type SQLite column, run `work('sqlite')` instead and say so.

    Why not detect it up front: only a full scan finds such a value (measured at 1 M rows: ~1 s through DuckDB,
    ~2 s through sqlite3, against ~2.2 s for a whole DuckDB validate), so clean files would pay for it on every
    run. Why sqlite3 rather than DuckDB's sqlite_all_varchar: that setting turns every column of every SQLite
    file into text for the whole connection, and reals come back through SQLite's 15-digit text form."""
    try:
        return work(engine)
    except DuckDBTypeMismatch as exc:
        if engine != "duckdb":
            raise
        note(f"{exc}; reading through sqlite3 instead (same results as --engine sqlite; ~1.6x slower at 1 M rows)")
        try:
            return work("sqlite")
        except DuckDBTypeMismatch as again:  # >10 files or a native DuckDB file: sqlite3 cannot take over
            raise InputError(f"{again}; sqlite3 cannot read these files instead (more than {SQLITE_MAX_FILES} "
                             "files, or a native DuckDB file among them): read fewer files at a time") from again


def _duckdb_tables_and_columns(con, alias: str) -> dict[str, list[Column]]:
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = ? ORDER BY table_name, ordinal_position", [alias]
    ).fetchall()
    out: dict[str, list[Column]] = {}
    for table, col, dtype in rows:
        out.setdefault(table, []).append(Column(col, dtype))
    return out


@dataclass(frozen=True)
class RowRange:
    """Rows `first`..`last` (by the rowid alias `rowid`; None: unbounded) of shard `shard`; with `stripe`
    (k, n) only those whose rowid is k modulo n."""

    shard: int
    rowid: str
    first: int | None
    last: int | None
    stripe: tuple[int, int] | None = None

    def sql(self) -> str:
        bounds = ([f"{self.rowid} >= {int(self.first)}"] if self.first is not None else []) + \
                 ([f"{self.rowid} <= {int(self.last)}"] if self.last is not None else [])
        if self.stripe is not None:  # SQLite's % keeps the sign of a (rare, negative) rowid
            k, n = (int(v) for v in self.stripe)
            bounds.append(f"(({self.rowid} % {n}) + {n}) % {n} = {k}")
        return "(" + " AND ".join(bounds) + ")" if bounds else "1 = 1"


class Benchmark:
    """One or several database files read as one table, `bench`. Use `query` and `iterate`; close when done."""

    VIEW = "bench"
    WHOLE = "bench"  # the view of every row: `bench` itself, except in a slice (see slice())

    def __init__(self, paths: Sequence[str | Path], table: str = "default", engine: str = "sqlite"):
        if engine not in ("sqlite", "duckdb"):
            raise InputError(f"unknown engine {engine!r}; choose sqlite or duckdb")
        if not paths:
            raise InputError("no database file given")
        self.paths = [Path(p) for p in paths]
        if len(set(p.resolve() for p in self.paths if p.exists())) < len([p for p in self.paths if p.exists()]):
            raise InputError("the same database file was given twice")
        self.table = table
        kinds = [_sniff(p) for p in self.paths]
        # Native DuckDB files can only be read by DuckDB; SQLite's attach limit also sends large shard sets there.
        self.engine = "duckdb" if "duckdb" in kinds or len(self.paths) > SQLITE_MAX_FILES else engine
        self.kinds = kinds
        self.notes: list[str] = []  # what the reader did that the user should know (private copies)
        self._con = None
        self._private: Path | None = None
        self._spill: Path | None = None  # DuckDB's spill folder (bound_memory): ours, removed on close
        try:
            # What is actually opened: the user's file, or a private recovered copy of a WAL/hot-journal file.
            self.read_paths = [self._readable(p, k) for p, k in zip(self.paths, kinds, strict=True)]
            if self.engine == "sqlite":
                schemas = [sqlite_tables_and_columns(r, p) for r, p in zip(self.read_paths, self.paths, strict=True)]
                self.columns = self._merge_columns(schemas)
                self._con = self._open_sqlite()
            else:
                self._con, schemas = self._open_duckdb(kinds)
                self.columns = self._merge_columns(schemas)
            self._create_view()
        except BaseException:
            self.close()
            raise

    # --- opening -------------------------------------------------------------------------------------
    def _readable(self, path: Path, kind: str) -> Path:
        """`path` itself (the plain case: one stat), or a private recovered copy when reading it in place would
        write beside it (WAL mode) or cannot see its last committed state (hot journal)."""
        if kind != "sqlite":
            return path
        try:
            state = needs_private_copy(path)
            if state is None:
                return path
            if self._private is None:
                self._private = new_private_folder()
            folder = self._private / str(len(list(self._private.iterdir())))
            folder.mkdir()
            copy = private_copy(path, state, folder)
        except FileProblem as exc:
            raise InputError(str(exc)) from exc
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
        what = ("is in WAL mode: read a private copy of it and its -wal (nothing is written beside it)"
                if state == "wal" else "has a hot rollback journal (a writer stopped mid-transaction): read a "
                "private copy with that unfinished transaction rolled back; the file itself is untouched")
        self.notes.append(f"{path} {what}")
        return copy

    def _merge_columns(self, schemas: list[dict[str, list[Column]]]) -> list[Column]:
        merged: dict[str, Column] = {}
        self.shard_columns: list[list[str]] = []
        self._untyped: list[set[str]] = []
        for path, tables in zip(self.paths, schemas, strict=True):
            if self.table not in tables:
                available = sorted(t for t in tables if t not in XETRACK_INTERNAL_TABLES)
                listing = ", ".join(available) if available else "none (only xetrack's internal tables)"
                raise InputError(f"no table {self.table!r} in {path}; available: {listing}")
            cols = tables[self.table]
            self.shard_columns.append([c.name for c in cols])
            self._untyped.append({c.name for c in cols if not c.declared_type.strip()})
            for c in cols:
                merged.setdefault(c.name, c)
        return list(merged.values())

    def _open_sqlite(self):
        con = connect_ro(self.read_paths[0], check_same_thread=False)
        for i, p in enumerate(self.read_paths[1:], start=1):
            con.execute("ATTACH DATABASE ? AS " + quote_ident(f"s{i}"), [ro_uri(p)])
        return con

    def _open_duckdb(self, kinds: list[str]):
        try:
            import duckdb
        except ImportError as exc:
            raise InputError("--engine duckdb needs the duckdb package; pip install 'duckdb==1.5.5'") from exc
        from _bench.duckdb_extension import ExtensionUnavailable, ensure_sqlite_extension

        con = duckdb.connect()
        schemas = []
        try:
            if "sqlite" in kinds:
                ensure_sqlite_extension(con)
            for i, (p, kind) in enumerate(zip(self.read_paths, kinds, strict=True)):
                alias = f"s{i}"
                opts = "TYPE SQLITE, READ_ONLY" if kind == "sqlite" else "READ_ONLY"
                con.execute(f"ATTACH '{str(p.resolve()).replace(chr(39), chr(39) * 2)}' AS {alias} ({opts})")
                schemas.append(_duckdb_tables_and_columns(con, alias) if kind == "duckdb"
                               else sqlite_tables_and_columns(p, self.paths[i]))
        except ExtensionUnavailable as exc:
            con.close()
            raise InputError(str(exc)) from exc
        except duckdb.Error as exc:
            con.close()
            raise InputError(f"DuckDB cannot open the file: {_explain(exc)}") from exc
        return con, schemas

    def _create_view(self, part: Sequence[RowRange] | None = None, name: str = VIEW) -> None:
        """TEMP VIEW `bench`: every shard's table, columns aligned by name, plus `_shard` (the file's index).
        With `part`, only those rowid ranges of those shards (a slice: see slice())."""
        all_cols = [c.name for c in self.columns]
        selects = []
        for i, present in enumerate(self.shard_columns):
            ranges = None if part is None else [r for r in part if r.shard == i]
            if ranges == []:
                continue
            cols = ", ".join(self._column_sql(i, c) if c in present else f"NULL AS {quote_ident(c)}"
                             for c in all_cols)
            where = "" if not ranges else " WHERE " + " OR ".join(r.sql() for r in ranges)
            selects.append(f"SELECT {cols}, {i} AS _shard FROM "
                           f"{quote_ident(self.shard_schema(i))}.{quote_ident(self.table)}{where}")
        if not selects:  # a slice with no range: the columns, no rows
            cols = ", ".join(f"NULL AS {quote_ident(c)}" for c in all_cols)
            selects.append(f"SELECT {cols}, 0 AS _shard WHERE 0")
        self.execute(f"CREATE TEMP VIEW {name} AS " + " UNION ALL ".join(selects))

    def bound_memory(self, limit: str = DUCKDB_MEMORY_LIMIT) -> None:
        """DuckDB: use at most `limit` of memory and spill beyond it into a private temporary folder, removed on
        close. (DuckDB's own default takes up to 80 % of RAM, and spills into `.tmp` in the working directory:
        the user's.) SQLite: nothing to do here; its page cache is set per script."""
        if self.engine != "duckdb" or self._spill is not None:
            return
        try:
            self._spill = new_private_folder()
        except FileProblem as exc:
            raise InputError(str(exc)) from exc
        self.execute(f"SET memory_limit = '{limit}'")
        self.execute(f"SET temp_directory = '{str(self._spill).replace(chr(39), chr(39) * 2)}'")

    def slice(self, part: Sequence[RowRange]) -> Benchmark:
        """The same files on a new SQLite connection whose view holds only the rows of `part`, so that slices
        can be read at the same time (sqlite3 releases the GIL while a query runs). The slice reads the files
        this benchmark reads (private copies included, which stay this benchmark's to remove) and names the
        user's files in its errors. Its view WHOLE holds every row, for work that pairs a slice's rows with
        any row (a lookup table). Close it before this benchmark."""
        if self.engine != "sqlite":
            raise ValueError("only SQLite benchmarks are sliced")
        other = object.__new__(Benchmark)
        kept = {k: v for k, v in self.__dict__.items() if k not in ("_con", "_private", "_spill", "notes")}
        other.__dict__.update(kept)
        other.notes, other._private, other._spill, other._con = [], None, None, None
        try:
            other._con = other._open_sqlite()
            other._create_view(part)
            other.WHOLE = "bench_whole"
            other._create_view(name=other.WHOLE)
        except BaseException:
            other.close()
            raise
        return other

    def _column_sql(self, index: int, name: str) -> str:
        """A column as the view reads it. DuckDB reads a SQLite column with no declared type as BLOB (bytes), so
        `--filter col=value` and text comparisons would never match: it is decoded to text (UTF-8; other bytes
        keep DuckDB's escaped form), which is what sqlite3 returns for the text such columns hold."""
        if self.engine == "duckdb" and self.kinds[index] == "sqlite" and name in self._untyped[index]:
            c = quote_ident(name)
            return f"COALESCE(TRY(decode({c})), CAST({c} AS VARCHAR)) AS {c}"
        return quote_ident(name)

    def shard_schema(self, index: int) -> str:
        """The schema (attached database) under which file number `index` is read."""
        return ("main" if index == 0 else f"s{index}") if self.engine == "sqlite" else f"s{index}"

    def assets_relation(self) -> str | None:
        """SQL for the `key` column of every file's xetrack `assets` table, or None if none has one. Keys are
        sqlitedict-encoded: base64 of the pickled 16-hex asset hash."""
        schemas = [self.shard_schema(i) for i in range(len(self.paths))]
        if self.engine == "sqlite":
            having = [s for s in schemas if self.query(f"SELECT 1 FROM {quote_ident(s)}.sqlite_master "
                                                       "WHERE type = 'table' AND name = 'assets'")]
        else:  # one query for every file: information_schema lists all attached files (one query each: 17 s at 200)
            found = {r[0] for r in self.query("SELECT DISTINCT table_catalog FROM information_schema.tables "
                                              "WHERE table_name = 'assets'")}
            having = [s for s in schemas if s in found]
        parts = [f"SELECT key FROM {quote_ident(s)}.{quote_ident('assets')}" for s in having]
        return "(" + " UNION ALL ".join(parts) + ")" if parts else None

    # --- querying ------------------------------------------------------------------------------------
    @contextmanager
    def _reading(self):
        """Any engine error (corrupt page, lock, type mismatch) becomes a one-line InputError naming the file."""
        try:
            yield
        except DB_ERRORS as exc:
            if "Mismatch Type Error" in str(exc):
                raise DuckDBTypeMismatch(f"DuckDB cannot read {self.describe()}: {first_line(exc)}") from exc
            if is_damage(exc) and len(self.paths) > 1:
                raise InputError(self._damage_message(exc)) from exc
            raise InputError(f"cannot read {self.describe()}: {_explain(exc)}") from exc

    def _damage_message(self, exc: BaseException) -> str:
        """Which of several files is damaged: each SQLite file is checked on its own (quick_check, stopping at
        the first problem); this runs only after a read failed, so healthy runs never pay for it."""
        for path, read, kind in zip(self.paths, self.read_paths, self.kinds, strict=True):
            why = damaged(read) if kind == "sqlite" else None
            if why is not None:
                return f"cannot read {path}: {first_line(exc)} (this file is damaged: {why})"
        return f"cannot read {self.describe()}: {first_line(exc)}"

    def _run(self, fn: Callable[[], T]) -> T:
        """sqlite3 waits for a writer's lock itself (busy timeout); DuckDB's sqlite extension gives up at once,
        so its reads are retried until the same deadline (reads are idempotent)."""
        deadline = time.monotonic() + busy_timeout()
        while True:
            try:
                return fn()
            except DB_ERRORS as exc:
                if self.engine != "duckdb" or not is_locked(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def execute(self, sql: str, params: Sequence = ()):
        with self._reading():
            return self._run(lambda: self._con.execute(sql, list(params)))

    def query(self, sql: str, params: Sequence = ()) -> list[tuple]:
        with self._reading():
            return self._run(lambda: self._con.execute(sql, list(params)).fetchall())

    def iterate(self, sql: str, params: Sequence = (), batch: int = 10_000) -> Iterator[tuple]:
        """Stream rows in batches so memory stays bounded whatever the table size."""
        cur = self.execute(sql, params)
        while True:
            with self._reading():
                rows = cur.fetchmany(batch)
            if not rows:
                return
            yield from rows

    def count(self) -> int:
        return self.query(f"SELECT COUNT(*) FROM {self.VIEW}")[0][0]

    def require_rows(self) -> None:
        """Raise EmptyBenchmark when there is no row. Looks for one row, not a count: COUNT(*) is a full scan
        through DuckDB's sqlite extension (0.11 s at 2 M rows)."""
        if not self.query(f"SELECT 1 FROM {self.VIEW} LIMIT 1"):
            raise EmptyBenchmark(f"table {self.table!r} in {self.describe()} has no rows; nothing to inspect")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def describe(self) -> str:
        return str(self.paths[0]) if len(self.paths) == 1 else f"{len(self.paths)} files ({self.paths[0]}, ...)"

    def interrupt(self) -> None:
        """Abort the query another thread is running on this benchmark (SQLite: safe from any thread, a no-op
        between queries). DuckDB connections are not interrupted: their queries are not run this way."""
        if isinstance(self._con, sqlite3.Connection):
            self._con.interrupt()

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        for folder in (self._private, self._spill):  # private copies of WAL/hot-journal files, spills: ours
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        self._private = self._spill = None

    def __enter__(self) -> Benchmark:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


"""How the scripts touch a SQLite file on disk: read-only, never a byte written or a file created beside it.

Why a module of its own: a plain `mode=ro` open is right for the file xetrack leaves (rollback-journal mode,
no journal), and is what every script uses, at no extra cost. Three other states need care:
- WAL mode (set by another tool): committed rows may live only in `<db>-wal`, and any SQLite open of the
  original, even read-only, creates `-wal`/`-shm` beside it (or fails in a read-only folder). `immutable=1`
  would skip the WAL's rows. So the database and its WAL are copied into a private temporary folder, SQLite
  recovers the copy there, and the copy is read.
- A hot rollback journal (`<db>-journal` of a writer that crashed mid-transaction): a read-only open cannot
  roll it back ("attempt to write a readonly database"). Same remedy: copy both, let SQLite roll the copy
  back, read the copy (the last committed state).
- A writer holding the lock: wait a bounded time (BENCH_BUSY_TIMEOUT_S, default 10 s), then say so.
Plain files pay one `stat` of the companion names; only WAL/hot-journal files are copied.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from pathlib import Path
from urllib.parse import quote

WAL_HEADER_OFFSET = 18  # SQLite header bytes 18-19: file format read/write versions, 2 = WAL
DEFAULT_BUSY_TIMEOUT_S = 10.0
COPY_ATTEMPTS = 3  # a WAL writer that checkpoints during the copy changes the files: copy again
DAMAGE_WORDS = ("malformed", "not a database", "corrupt", "disk i/o error", "file is not a database")


class FileProblem(Exception):
    """A file cannot be read for a reason the user can act on; the message is one line, naming the file."""


def busy_timeout() -> float:
    """Seconds to wait for a writer's lock: BENCH_BUSY_TIMEOUT_S, else 10 (a benchmark's log() commit is ms)."""
    text = os.environ.get("BENCH_BUSY_TIMEOUT_S", "")
    try:
        value = float(text) if text else DEFAULT_BUSY_TIMEOUT_S
    except ValueError:
        return DEFAULT_BUSY_TIMEOUT_S
    return max(value, 0.0)


def locked_hint() -> str:
    return (f"database is locked by a writer (waited {busy_timeout():g} s); retry when it has finished, or use "
            "validate_benchmark.py --snapshot, which reads in short transactions")


def is_locked(exc: BaseException) -> bool:
    return "database is locked" in str(exc) or "database table is locked" in str(exc)


def is_damage(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(word in text for word in DAMAGE_WORDS)


def ro_uri(path: Path) -> str:
    return "file:" + quote(str(path.resolve())) + "?mode=ro"


def connect_ro(path: Path, **kwargs) -> sqlite3.Connection:
    """Read-only, never creating the file, waiting up to busy_timeout() for a writer's lock."""
    return sqlite3.connect(ro_uri(path), uri=True, timeout=busy_timeout(), **kwargs)


def companion(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def is_wal_mode(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(WAL_HEADER_OFFSET)
        return fh.read(2) == b"\x02\x02"


def has_hot_journal(path: Path) -> bool:
    """True when SQLite itself says the `-journal` must be rolled back first (it checks the writer's locks,
    which a file-size test cannot). Costs one open, and only when a `-journal` exists at all."""
    try:  # a live writer creates and deletes its journal around every transaction: it may vanish any time
        if companion(path, "-journal").stat().st_size == 0:
            return False
    except FileNotFoundError:
        return False
    try:
        con = connect_ro(path)
        try:
            con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        finally:
            con.close()
    except sqlite3.Error as exc:
        return getattr(exc, "sqlite_errorname", "") == "SQLITE_READONLY_ROLLBACK"
    return False


def needs_private_copy(path: Path) -> str | None:
    """'wal' or 'journal' when reading `path` in place would need writing beside it; None for a plain file."""
    if is_wal_mode(path):  # a stray -wal beside a rollback-mode file is ignored by SQLite too
        return "wal"
    if has_hot_journal(path):
        return "journal"
    return None


def _stamp(*paths: Path) -> tuple:
    return tuple(_size_and_time(p) for p in paths)


def _size_and_time(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except FileNotFoundError:  # a companion file that a writer removed meanwhile
        return None
    return info.st_size, info.st_mtime_ns


def private_copy(path: Path, state: str, folder: Path) -> Path:
    """Copy `path` and its WAL or hot journal into `folder` (ours), let SQLite recover the copy there, and
    return it. The original and its folder are only read."""
    suffix = "-wal" if state == "wal" else "-journal"
    source_extra = companion(path, suffix)
    copy = folder / path.name
    why = ("it is in WAL mode (committed rows may be only in its -wal file)" if state == "wal"
           else "it has a hot rollback journal (a writer stopped mid-transaction)")
    try:
        for _ in range(COPY_ATTEMPTS):
            before = _stamp(path, source_extra)
            shutil.copyfile(path, copy)
            if source_extra.exists():
                shutil.copyfile(source_extra, companion(copy, suffix))
            elif companion(copy, suffix).exists():
                companion(copy, suffix).unlink()
            if _stamp(path, source_extra) == before:
                break
        else:
            raise FileProblem(f"cannot read {path}: {why}, and it kept changing while a private copy was made; "
                              "retry when the writer is idle")
    except OSError as exc:
        raise FileProblem(f"cannot read {path}: {why}, so it is read through a private copy, and the copy "
                          f"failed: {exc.strerror or exc} ({exc.filename or folder})") from exc
    _recover(copy, path, why)
    return copy


def _recover(copy: Path, original: Path, why: str) -> None:
    """Open the copy read-write (it is ours): SQLite replays the WAL or rolls the journal back, then the copy
    is turned into a plain rollback-mode file so the usual read-only path reads it."""
    try:
        con = sqlite3.connect(copy, isolation_level=None, timeout=busy_timeout())
        try:
            con.execute("SELECT COUNT(*) FROM sqlite_master").fetchall()
            con.execute("PRAGMA journal_mode = DELETE").fetchall()
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise FileProblem(f"cannot read {original}: {why}, and SQLite could not recover its private copy: "
                          f"{str(exc).splitlines()[0]}") from exc


def new_private_folder() -> Path:
    try:
        return Path(tempfile.mkdtemp(prefix="bench-read-"))
    except OSError as exc:
        raise FileProblem(f"cannot create a private temporary folder in {tempfile.gettempdir()}: "
                          f"{exc.strerror or exc}") from exc


def damaged(path: Path) -> str | None:
    """Why `path` is damaged (SQLite's quick_check, stopping at the first problem), or None if it reads fine.
    Only called after a read failed, to say which of several files is at fault."""
    try:
        con = connect_ro(path)
        try:
            result = con.execute("PRAGMA quick_check(1)").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None if result == "ok" else str(result).splitlines()[0]

"""Read a large SQLite benchmark as contiguous slices on several connections at once: two cores, two scans.

SQLite runs one query on one core, and its GROUP BY sorts every row it reads; sqlite3 releases the GIL while a
query runs. So an aggregate whose result combines from parts (counts, sums, minima, maxima) is computed per
slice of rows, on one connection per slice in threads, and the parts are merged: at 2 M rows the cell pass
of analyze_cache_hits takes 1.1-1.8 s instead of 2.7-3.5 s (benchmarks/README.md). Distinct counts do not
combine this way and are never sliced. Work that turns rows into Python objects holds the GIL, so its slices
run in forked processes instead (run_forked); work concentrated in some rows (replays) uses stripes.

A slice is a run of rowids per file, cut so that the slices follow the files' own row order one after another
(file 0's rows, then file 1's): concatenated, they are the scan order of the whole view. Every rowid of every
file falls in exactly one slice, including rows appended after the cut (the last slice of each file is open
above). Files without rowids (WITHOUT ROWID tables, views, a table whose columns take every rowid alias) and
small benchmarks are not sliced: callers then run their query once, as before.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TypeVar

from _bench.reader import Benchmark, InputError, RowRange, first_line, quote_ident

T = TypeVar("T")

ROWID_ALIASES = ("rowid", "_rowid_", "oid")  # SQLite's names for it, unless a column takes the name
MIN_SLICE_ROWS = 250_000  # below this per slice, opening another connection costs more than it saves


def slice_count() -> int:
    """Two slices where two cores exist: the machines this runs on (laptops, CI) have few, and a third
    connection on two cores only adds contention."""
    return min(2, os.cpu_count() or 1)


def cut(bench: Benchmark, n: int | None = None, min_rows: int | None = None) -> list[list[RowRange]] | None:
    """`n` contiguous slices of the benchmark's rows, or None when it should be read whole (one core, not
    SQLite, too few rows, a file without rowids). Slices are sized by rowid span, which is the row count
    unless rows were deleted: a balance, never a correctness, question."""
    n = slice_count() if n is None else n
    spans = _rowid_spans(bench, n, MIN_SLICE_ROWS if min_rows is None else min_rows)
    return None if spans is None else _split(spans, n, sum(last - first + 1 for _, _, first, last in spans
                                                            if first is not None))


def stripes(bench: Benchmark, n: int | None = None,
            min_rows: int | None = None) -> list[list[RowRange]] | None:
    """`n` interleaved slices (rowid modulo n), or None as for cut(). For work whose cost sits in some rows
    only, such as replays, which a run writes one after another: contiguous slices would give them all to
    one connection. Each stripe's scan reads every page of the files, so use them where a scan is cheap next
    to the work per row. The rows of the stripes, concatenated, are not in scan order."""
    n = slice_count() if n is None else n
    spans = _rowid_spans(bench, n, MIN_SLICE_ROWS if min_rows is None else min_rows)
    if spans is None:
        return None
    return [[RowRange(shard, alias, None, None, (k, n)) for shard, alias, _, _ in spans] for k in range(n)]


def _rowid_spans(bench: Benchmark, n: int, min_rows: int) -> list[tuple] | None:
    """(shard, rowid alias, first rowid, last rowid) of every file, or None when slicing does not apply."""
    if n < 2 or bench.engine != "sqlite":
        return None
    spans = []
    for i, columns in enumerate(bench.shard_columns):
        alias = next((a for a in ROWID_ALIASES if a.lower() not in {c.lower() for c in columns}), None)
        if alias is None:
            return None
        table = f"{quote_ident(bench.shard_schema(i))}.{quote_ident(bench.table)}"
        try:
            # Two subqueries: SQLite seeks the b-tree's end for a lone MIN or MAX, but scans for both at once.
            first, last = bench.query(f"SELECT (SELECT MIN({alias}) FROM {table}), "
                                      f"(SELECT MAX({alias}) FROM {table})")[0]
        except InputError:  # no rowid (a WITHOUT ROWID table or a view): read whole
            return None
        spans.append((i, alias, first, last))
    total = sum(last - first + 1 for _, _, first, last in spans if first is not None)
    return None if total < max(n * min_rows, n) else spans


def _split(spans: list[tuple], n: int, total: int) -> list[list[RowRange]]:
    """Cut the concatenated rowid spans at total * k / n; each file's first piece is open below and its last
    open above, so that every rowid, present or future, is in one slice."""
    slices: list[list[RowRange]] = [[] for _ in range(n)]
    offset = 0  # rowids of earlier files
    for shard, alias, first, last in spans:
        if first is None:  # an empty file: its future rows go to the last slice
            slices[-1].append(RowRange(shard, alias, None, None))
            continue
        pieces = []
        for k in range(n):
            lo, hi = total * k // n, total * (k + 1) // n  # this slice's share of all rowids: [lo, hi)
            a, b = max(lo, offset), min(hi, offset + last - first + 1)
            if a < b:
                pieces.append([k, first + a - offset, first + b - offset - 1])
        pieces[0][1], pieces[-1][2] = None, None
        for k, a, b in pieces:
            slices[k].append(RowRange(shard, alias, a, b))
        offset += last - first + 1
    return slices


def run_sliced(bench: Benchmark, slices: Sequence[Sequence[RowRange]],
               work: Callable[[Benchmark], T]) -> list[T]:
    """`work(slice)` for every slice at the same time, one connection and one thread each; results in slice
    order. If one fails, the others' queries are interrupted and waited for before the error is raised
    (closing a connection another thread is still querying crashes the interpreter)."""
    parts: list[Benchmark] = []
    try:
        for part in slices:
            parts.append(bench.slice(part))
        with ThreadPoolExecutor(len(parts) - 1) as pool:
            jobs = [pool.submit(work, p) for p in parts[1:]]
            try:
                first = work(parts[0])
                return [first, *(job.result() for job in jobs)]
            except BaseException:
                stop_jobs(parts[1:], jobs)
                raise
    finally:
        for p in parts:
            p.close()


def stop_jobs(parts: list[Benchmark], jobs: list[Future]) -> None:
    """Interrupt the queries of unfinished jobs (job i querying parts[i]) until all are done: interrupt() is
    safe from any thread and a no-op between queries, so it is repeated. Their own errors are dropped: the
    caller is raising another. Closing a connection another thread still queries crashes the interpreter."""
    while not all(job.done() for job in jobs):
        for p, job in zip(parts, jobs, strict=True):
            if not job.done():
                p.interrupt()
        wait(jobs, timeout=0.05)


def sqlite_order(value) -> tuple:
    """Sort key matching SQLite's own order of mixed values: NULL, numbers, text (by code point, as BINARY
    compares UTF-8), blobs. Merged slice results are ordered as the whole query would have ordered them."""
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float)):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, bytes(value))


def least(a, b):
    """SQL MIN of two partial results (NULL when both are)."""
    if a is None or b is None:
        return b if a is None else a
    return a if sqlite_order(a) <= sqlite_order(b) else b


def greatest(a, b):
    """SQL MAX of two partial results (NULL when both are)."""
    if a is None or b is None:
        return b if a is None else a
    return a if sqlite_order(a) >= sqlite_order(b) else b


def total(a, b):
    """SQL SUM of two partial results (NULL when both are)."""
    if a is None or b is None:
        return b if a is None else a
    return a + b


def can_fork() -> bool:
    """Forked children for slices: on Linux only (macOS's system libraries are not safe to use after fork), and
    only while this process runs no other thread. A child gets a copy of every lock as it was at the fork, and
    one held by another thread stays held forever: a forked slice reader hung in SQLite's own allocator
    (sqlite3Malloc's mutex), taken by one of the threads xetrack's trackers leave running (sqlitedict's, three
    per Tracker) in a process that had logged rows before calling export_summary's main (the test suite; a
    template that analyses in-process). The scripts run as programs have no other thread here."""
    return sys.platform.startswith("linux") and hasattr(os, "fork") and threading.active_count() == 1


def run_forked(bench: Benchmark, slices: Sequence[Sequence[RowRange]],
               work: Callable[[Benchmark, int], None]) -> None:
    """`work(slice, k)` for every slice at the same time: slice 0 in this process, the others in forked child
    processes, for work that holds the GIL (turning rows into Python objects), where threads would only take
    turns. Children leave their results on disk for the caller to gather; each opens its own connection
    (never one from before the fork, which must be between queries, holding no lock, when this is called) and
    ends with os._exit, so nothing of the parent's is closed, flushed or removed twice. A child's error is
    raised here, an InputError as itself; children still running when this process fails are stopped."""
    children: list[tuple[int, int, int]] = []  # (slice, pid, read end of its error pipe)
    try:
        for k in range(1, len(slices)):
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child
                code = 0
                try:
                    os.close(read)
                    with bench.slice(slices[k]) as piece:
                        work(piece, k)
                except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
                    os.write(write, f"{type(exc).__name__}\0{first_line(exc) or type(exc).__name__}".encode())
                    code = 1
                finally:
                    os._exit(code)
            os.close(write)
            children.append((k, pid, read))
        with bench.slice(slices[0]) as piece:
            work(piece, 0)
        while children:
            k, pid, read = children[0]
            message = _read_all(read)  # to the end: the child has exited or closed it
            status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            os.close(read)
            children.pop(0)
            if message:
                kind, _, text = message.partition("\0")
                raise InputError(text) if kind in ("InputError", "DuckDBTypeMismatch") else RuntimeError(text)
            if status != 0:
                raise RuntimeError(f"the process reading slice {k} of the rows ended with status {status}")
    finally:
        for _, pid, read in children:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            os.close(read)


def _read_all(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")

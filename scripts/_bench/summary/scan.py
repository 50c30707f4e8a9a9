"""One pass over the benchmark: every row's configuration, item, flags and measurements, partitioned on disk.

Why one streaming pass and not a query per configuration: a SQLite table has no index on configuration
columns, so every per-configuration query is a full scan, and the cost grows with the number of
configurations. Here the table is read once, in chunks, and each configuration's rows are appended to its own
file in a temporary folder; later steps load one configuration (or one pair) at a time, so memory stays
bounded by the largest configuration, not by the table.

Reading rows into Python costs more than SQLite's own work, per row *and per column*, so the scan fetches as
few columns as it can: SQL numbers each row's configuration (one small CASE per key column) and packs that
number, the replayed/failed flags and a 0/1 accuracy into one integer; columns that do not exist are not read.

Item keys that are not plain integers (text ids, or id + seed + fold) are reduced to 64-bit hashes, the same in
every process and environment (keyhash.py); two different items share a hash with probability about
n^2 / 2^65 (3e-6 for 10 M items).
"""

from __future__ import annotations

import contextlib
import queue
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from _bench.layout import Layout
from _bench.reader import DB_ERRORS, Benchmark, InputError, first_line
from _bench.slices import can_fork, cut, run_forked, run_sliced
from _bench.sql import numeric, q, text_key
from _bench.summary.keyhash import stable_hashes
from _bench.summary.plan import Plan

CHUNK_ROWS = 100_000
FLUSH_ROWS = 1_000_000  # buffered rows (all configurations) before appending to the partition files
REPLAYED, FAILED, NO_ITEM = 1, 2, 4  # bits of the per-row flags
FIRST_CHECK_BIT = 8  # the bits above: one per measured column, set where its value is there but not a number
MAX_CHECKS = 5  # the flags are one byte; columns beyond these are checked by a query of their own (findings.py)
CASE_LIMIT = 256  # distinct values per key column up to which SQL numbers configurations itself
EXACT_FLOAT_INT = 2**53  # integers up to this survive a float64 round trip


@dataclass
class Group:
    """One configuration within one version: the unit export_summary reports on."""

    versions: tuple
    config: tuple
    parameters: dict = field(default_factory=dict)
    rows: int = 0
    path: Path | None = None

    @property
    def key(self) -> tuple:
        return self.versions + self.config


def _plain(value):
    """DuckDB hands a NULL number to pandas as NaN or NA; a key must see it as NULL (None)."""
    if (isinstance(value, float) and value != value) or type(value).__name__ == "NAType":
        return None
    return value


def _sortable(values: tuple) -> tuple:
    return tuple((v is None, type(v).__name__ if v is not None else "", v if v is not None else 0) for v in values)


def enumerate_groups(bench: Benchmark, layout: Layout, where: str, params: list) -> list[Group]:
    """The distinct (version, configuration) pairs; parameter values come from any row that has them
    (replayed rows may lack dataclass-unpacked parameters)."""
    key_cols = layout.versions + layout.config
    shown = [p for p in layout.parameters if p not in key_cols]
    select = ", ".join(q(c) for c in key_cols + shown) or "1"
    groups: dict[tuple, Group] = {}
    n, nv = len(key_cols), len(layout.versions)
    sql = f"SELECT DISTINCT {select} FROM {bench.VIEW}{where}"
    cuts = cut(bench)  # slices at once (slices.py); concatenated, their rows meet the values in scan order
    rows = bench.query(sql, params) if cuts is None else [
        row for part in run_sliced(bench, cuts, lambda piece: piece.query(sql, params)) for row in part]
    for row in rows:
        key = tuple(row[:n])
        g = groups.setdefault(key, Group(key[:nv], key[nv:]))
        for name, value in zip(shown, row[n:], strict=True):
            if g.parameters.get(name) is None:
                g.parameters[name] = value
    return sorted(groups.values(), key=lambda g: (_sortable(g.versions), _sortable(g.config)))


@dataclass
class GroupCode:
    """SQL numbering each row's (version, configuration) by a mixed-radix code, and the code of each group.

    Column j contributes (0 for NULL, 1 + position of its value) x radix_j; columns with one value across all
    groups are left out (they cannot tell groups apart)."""

    sql: str
    params: list
    codes: np.ndarray  # sorted codes of the groups
    positions: np.ndarray  # group position for each sorted code

    def lookup(self, code: np.ndarray) -> np.ndarray:
        at = np.clip(np.searchsorted(self.codes, code), 0, len(self.codes) - 1)
        return np.where(self.codes[at] == code, self.positions[at], -1)


def group_code(layout: Layout, groups: list[Group]) -> GroupCode | None:
    key_cols = layout.versions + layout.config
    terms, params, radix = [], [], 1
    group_codes = np.zeros(len(groups), dtype=np.int64)
    for j, col in enumerate(key_cols):
        values = sorted({g.key[j] for g in groups if g.key[j] is not None}, key=lambda v: _sortable((v,)))
        has_null = any(g.key[j] is None for g in groups)
        if len(values) + has_null <= 1:
            continue
        if len(values) > CASE_LIMIT:
            return None  # a CASE this long costs more per row than matching keys in Python
        position = {v: i + 1 for i, v in enumerate(values)}
        branches = " ".join(f"WHEN {q(col)} = ? THEN {i + 1}" for i in range(len(values)))
        params += values
        terms.append(f"(CASE WHEN {q(col)} IS NULL THEN 0 {branches} ELSE {len(values) + 1} END) * {radix}")
        group_codes += np.array([0 if g.key[j] is None else position[g.key[j]] for g in groups]) * radix
        radix *= len(values) + 2
        if radix > 2**40:
            return None
    order = np.argsort(group_codes)
    return GroupCode(" + ".join(terms) or "0", params, group_codes[order], order)


def _truth(condition: str, engine: str) -> str:
    """0/1 for a condition, 0 when it is NULL."""
    return f"COALESCE({condition}, 0)" if engine == "sqlite" else f"COALESCE(CAST({condition} AS INTEGER), 0)"


@dataclass(frozen=True)
class Check:
    """A measured column whose values must be numbers: its record field and its bit in the flags."""

    column: str
    field: str
    bit: int


def number_checks(plan: Plan) -> list[Check]:
    """The metric columns (not definitions such as prediction = ground_truth) and the latency column whose text
    values the scan flags as it reads them: a 16-hex asset hash in a metric column is a numpy scalar logged by
    xetrack, and counting those in the scan saves a full pass of their own (findings.non_numeric_findings)."""
    columns = [(m.name, f"m{i}") for i, m in enumerate(plan.metrics) if m.direction_from != "definition"]
    columns += [(plan.latency, "latency")] * bool(plan.latency)
    return [Check(col, f, FIRST_CHECK_BIT << j) for j, (col, f) in enumerate(columns[:MAX_CHECKS])]


@dataclass
class ScanQuery:
    """The one scan and how to read its columns back into records."""

    sql: str
    params: list
    code: GroupCode | None  # None: the key columns are fetched and matched in Python
    key_columns: int
    packed_metric: int | None  # index of the 0/1 metric packed into the head integer
    fields: list[str]  # record fields read from the remaining columns, in order
    integer_items: bool
    dtype: np.dtype
    checks: list[Check] = field(default_factory=list)

    @property
    def numeric_only(self) -> bool:
        return self.code is not None and "cluster" not in self.fields and (
            self.integer_items or "item" not in self.fields)

    @property
    def flag_radix(self) -> int:
        return flag_radix(self.checks)


def flag_radix(checks: list[Check]) -> int:
    """How far the flags reach in the head integer: one above their highest bit."""
    return max([FIRST_CHECK_BIT] + [c.bit * 2 for c in checks])


def scan_query(bench: Benchmark, layout: Layout, plan: Plan, groups: list[Group], where: str,
               where_params: list) -> ScanQuery:
    engine = bench.engine
    item_cols = layout.item_columns
    integer_items = len(item_cols) == 1 and layout.columns.get(item_cols[0]) == "integer"
    flags = f"{_truth(layout.replayed, engine)} + 2 * {_truth(layout.failed, engine)}"
    if item_cols and not integer_items:
        flags += f" + {NO_ITEM} * {_truth(f'{q(layout.input_id)} IS NULL', engine)}"
    checks = number_checks(plan)
    sql_of = {f"m{i}": m.sql for i, m in enumerate(plan.metrics)}
    sql_of["latency"] = numeric(q(plan.latency), engine) if plan.latency else None
    for c in checks:
        flags += f" + {c.bit} * {_truth(f'{q(c.column)} IS NOT NULL AND ({sql_of[c.field]}) IS NULL', engine)}"
    radix = flag_radix(checks)
    code = group_code(layout, groups)
    packed = next((i for i, m in enumerate(plan.metrics) if m.zero_one), None)
    params: list = []
    if code is not None:
        head = f"({code.sql}) * {radix} + {flags}"
        if packed is not None:
            head = f"({head}) * 3 + COALESCE({plan.metrics[packed].sql}, 2)"
        exprs, params, key_columns = [head], list(code.params), 1
    else:
        exprs = [q(c) for c in layout.versions + layout.config] + [flags]
        key_columns = len(layout.versions + layout.config)
        packed = None
    fields: list[str] = []
    wanted = [("item", q(item_cols[0]) if integer_items else text_key(item_cols) if item_cols else None),
              ("cluster", text_key(layout.replicate) if layout.replicate else None),
              # the seed a fold belongs to: the rest of that seed's items is the fold's training set
              ("repetition", text_key(layout.repetition) if layout.fold else None),
              # with replicates an item is (input, seed, ...): the input alone, to say "569 inputs x 10 seeds"
              ("input", text_key([layout.input_id]) if (layout.replicate or layout.pooled) and layout.input_id
               else None)]
    wanted += [(f"m{i}", m.sql) for i, m in enumerate(plan.metrics) if i != packed]
    wanted += [("latency", sql_of["latency"])]  # the expression the number check above tests
    wanted += [(name, numeric(q(col), engine) if col else None)
               for name, col in (("tokens", plan.tokens), ("cost", plan.cost))]
    for name, expr in wanted:
        if expr is not None:
            fields.append(name)
            exprs.append(expr)
    record = [("item", "<i8"), ("flags", "u1")] + [("cluster", "<i8")] * bool(layout.replicate)
    record += [("repetition", "<i8")] * bool(layout.fold)
    record += [("input", "<i8")] * bool((layout.replicate or layout.pooled) and layout.input_id)
    record += [(f"m{i}", "<f8") for i in range(len(plan.metrics))]
    record += [(f, "<f8") for f in ("latency", "tokens", "cost") if f in fields]
    select = ", ".join(f"{e} AS c{i}" for i, e in enumerate(exprs))
    return ScanQuery(f"SELECT {select} FROM {bench.VIEW}{where}", params + where_params, code, key_columns,
                     packed, fields, integer_items, np.dtype(record), checks)


PREFETCH_CHUNKS = 4  # DuckDB chunks fetched ahead while this thread files the previous ones


def stream_chunks(bench: Benchmark, sql: str, params: list, numeric_only: bool) -> Iterator[list]:
    """The columns of each chunk of result rows, from either engine; engine errors become InputError.

    Numbers-only results from SQLite become one 2-D float array per chunk (far cheaper than a list per
    column); otherwise each column is a list (SQLite) or an array (DuckDB's columnar chunks). DuckDB's chunks
    are fetched by another thread (DuckDB releases the GIL while it scans): its scan of a streamed result runs
    on one core, and the records are filed on the other meanwhile."""
    chunks = _chunks(bench, sql, params, numeric_only)
    return chunks if bench.engine != "duckdb" else _prefetched(chunks)


def _prefetched(chunks: Iterator[list]) -> Iterator[list]:
    ready: queue.Queue = queue.Queue(PREFETCH_CHUNKS)
    stop = threading.Event()

    def fetch() -> None:
        try:
            for chunk in chunks:
                if stop.is_set():
                    return
                ready.put(chunk)
            ready.put(None)
        except BaseException as exc:  # noqa: BLE001 - raised again in the consuming thread
            ready.put(exc)

    worker = threading.Thread(target=fetch, name="export-fetch", daemon=True)
    worker.start()
    try:
        while (chunk := ready.get()) is not None:
            if isinstance(chunk, BaseException):
                raise chunk
            yield chunk
    finally:  # the consumer stopped (done, an error, Ctrl-C): the fetcher ends before the connection closes
        stop.set()
        while worker.is_alive():
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.05)
        worker.join()


def _chunks(bench: Benchmark, sql: str, params: list, numeric_only: bool) -> Iterator[list]:
    try:
        cur = bench.execute(sql, params)
        if bench.engine == "duckdb":
            while True:
                df = cur.fetch_df_chunk(max(1, CHUNK_ROWS // 2048))  # columnar: no Python tuple per row
                if len(df) == 0:
                    return
                yield [_column_values(df.iloc[:, i]) for i in range(df.shape[1])]
        else:
            while True:
                rows = cur.fetchmany(CHUNK_ROWS)
                if not rows:
                    return
                yield _sqlite_columns(rows, numeric_only)
    except DB_ERRORS as exc:
        raise InputError(f"cannot read {bench.describe()}: {first_line(exc)}") from exc


def _sqlite_columns(rows: list[tuple], numeric_only: bool) -> list:
    if numeric_only:
        try:
            table = np.array(rows, dtype=float)
            return list(table.T)
        except (ValueError, TypeError):  # a text value in a numeric column: convert column by column
            pass
    return [list(col) for col in zip(*rows, strict=True)]


def _column_values(series):
    """A pandas column from DuckDB as values numpy takes: text stays Python objects; numbers become an array,
    NULL (pandas NA in nullable integer columns) as NaN."""
    if series.dtype == object:
        return series.tolist()
    if series.isna().any():
        return series.to_numpy(dtype=float, na_value=np.nan)
    return series.to_numpy()


def _integer_items(col) -> tuple[np.ndarray, np.ndarray]:
    """Integer ids and a mask of rows without one (NULL, text, or beyond exact float range)."""
    if isinstance(col, np.ndarray) and col.dtype.kind in "iu":
        return col.astype(np.int64), np.zeros(len(col), dtype=bool)
    try:
        values = np.asarray(col, dtype=float)
    except (ValueError, TypeError):
        values = np.array([v if isinstance(v, (int, float)) else np.nan for v in col], dtype=float)
    missing = np.isnan(values) | (np.abs(values) >= EXACT_FLOAT_INT) | (values != np.round(values))
    return np.where(missing, 0, values).astype(np.int64), missing


def _to_records(cols: list, scan: ScanQuery, index: dict[tuple, int]) -> tuple[np.ndarray, np.ndarray]:
    n = len(cols[0])
    rec = np.zeros(n, dtype=scan.dtype)
    for name in scan.dtype.names:
        if scan.dtype[name].kind == "f":
            rec[name] = np.nan
    if scan.code is not None:
        head = np.asarray(cols[0], dtype=np.int64)
        if scan.packed_metric is not None:
            metric = (head % 3).astype(float)
            rec[f"m{scan.packed_metric}"] = np.where(metric == 2, np.nan, metric)
            head //= 3
        rec["flags"] = head % scan.flag_radix
        group = scan.code.lookup(head // scan.flag_radix)
    else:  # many configurations: match each row's key values
        keys = zip(*(map(_plain, c) for c in cols[:scan.key_columns]), strict=True)
        group = np.fromiter((index.get(k, -1) for k in keys), dtype=np.int64, count=n)
        rec["flags"] = np.asarray(cols[scan.key_columns], dtype=np.uint8)
    rest = cols[1:] if scan.code is not None else cols[scan.key_columns + 1:]
    if not scan.fields or "item" not in scan.fields:
        rec["flags"] |= NO_ITEM
    for name, col in zip(scan.fields, rest, strict=True):
        if name == "item" and scan.integer_items:
            rec["item"], missing = _integer_items(col)
            rec["flags"] |= np.where(missing, NO_ITEM, 0).astype(np.uint8)
        elif name in ("item", "cluster", "repetition", "input"):
            rec[name] = stable_hashes(col)
        else:
            rec[name] = np.asarray(col, dtype=float)
    return group, rec


class Partitions:
    """Per-group append-only record files in a temporary folder, removed on close."""

    def __init__(self, groups: list[Group], dtype: np.dtype, folder: Path | None = None,
                 checks: list[Check] | None = None):
        """Files in a new temporary folder, or in `folder` (a slice's, inside another Partitions' folder)."""
        self._tmp = tempfile.TemporaryDirectory(prefix="export_summary_") if folder is None else None
        self.folder = Path(self._tmp.name) if folder is None else folder
        self.dtype = dtype
        self.groups = groups
        self.paths = [self.folder / f"group{i}.bin" for i in range(len(groups))]
        for path in self.paths:
            path.touch()
        if folder is None:
            for g, path in zip(groups, self.paths, strict=True):
                g.path = path
        self._buffers: list[list[np.ndarray]] = [[] for _ in groups]
        self._buffered = 0
        self.metrics = [n for n in dtype.names if n.startswith("m")]
        self.not_zero_one: set[str] = set()  # metric fields with a value other than 0, 1 or NULL
        self.checks = checks or []
        # per checked column: [values present (numbers or not), values that are not numbers]
        self.values_read: dict[str, list[int]] = {c.column: [0, 0] for c in self.checks}

    def _see(self, rec: np.ndarray) -> None:
        for c in self.checks:
            unreadable = int(np.count_nonzero(rec["flags"] & c.bit))
            counts = self.values_read[c.column]
            counts[0] += int(np.count_nonzero(~np.isnan(rec[c.field]))) + unreadable
            counts[1] += unreadable
        for name in self.metrics:
            if name not in self.not_zero_one:
                v = rec[name]
                if not np.all(np.isnan(v) | (v == 0) | (v == 1)):
                    self.not_zero_one.add(name)

    def add(self, group: np.ndarray, rec: np.ndarray) -> None:
        self._see(rec[group >= 0])
        order = np.argsort(group, kind="stable")  # keeps scan order inside a group (the dedupe tie-break)
        group, rec = group[order], rec[order]
        bounds = np.flatnonzero(np.diff(group)) + 1
        for part_idx, part in zip(np.split(group, bounds), np.split(rec, bounds), strict=True):
            if len(part_idx) and part_idx[0] >= 0:
                self._buffers[int(part_idx[0])].append(part)
                self.groups[int(part_idx[0])].rows += len(part)
        self._buffered += len(rec)
        if self._buffered >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        for path, buf in zip(self.paths, self._buffers, strict=True):
            if buf:
                with path.open("ab") as fh:
                    np.concatenate(buf).tofile(fh)
                buf.clear()
        self._buffered = 0

    def absorb(self, folder: Path) -> None:
        """Append a later slice's files (written by another process into `folder`) to this one's, in order."""
        for g, path in zip(self.groups, self.paths, strict=True):
            data = (folder / path.name).read_bytes()
            g.rows += len(data) // self.dtype.itemsize
            self._see(np.frombuffer(data, dtype=self.dtype))
            with path.open("ab") as fh:
                fh.write(data)

    def load(self, group: Group) -> np.ndarray:
        return np.fromfile(group.path, dtype=self.dtype)

    def scratch(self, name: str) -> Path:
        return self.folder / name

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def partition(bench: Benchmark, layout: Layout, plan: Plan, groups: list[Group], where: str,
              params: list) -> Partitions:
    scan = scan_query(bench, layout, plan, groups, where, params)
    index = {} if scan.code is not None else {g.key: i for i, g in enumerate(groups)}
    parts = Partitions(groups, scan.dtype, checks=scan.checks)

    def read(source: Benchmark, into: Partitions) -> None:
        for cols in stream_chunks(source, scan.sql, scan.params, scan.numeric_only):
            into.add(*_to_records(cols, scan, index))
        into.flush()

    def read_slice(piece: Benchmark, k: int) -> None:  # slice 0 here, the others in child processes
        if k == 0:
            return read(piece, parts)
        folder = parts.scratch(f"slice{k}")
        folder.mkdir()
        read(piece, Partitions([Group(g.versions, g.config) for g in groups], scan.dtype, folder))

    try:
        cuts = cut(bench) if can_fork() else None
        if cuts is None:
            read(bench, parts)
        else:  # turning rows into Python objects holds the GIL: processes, not threads (slices.py)
            run_forked(bench, cuts, read_slice)
            for k in range(1, len(cuts)):
                parts.absorb(parts.scratch(f"slice{k}"))
    except BaseException:
        parts.close()
        raise
    return parts

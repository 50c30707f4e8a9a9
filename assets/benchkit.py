"""benchkit: the few helpers that make a xetrack 0.7.0 benchmark correct. Copy this file beside your template.

Each helper exists because of a verified xetrack 0.7.0 behaviour:
- `track_cached`: xetrack keys its cache on Python `hash()` for any non-primitive argument, so a frozen
  dataclass holding a `str` gets a new key in every process (re-runs recompute), and dict/list arguments
  silently disable caching. Here the cache key is built only from primitives: a content hash of the
  configuration plus the inputs. The configuration is also passed as `track(params=...)`, so its fields are
  columns on every row, cache replays included (xetrack drops dataclass-unpacked columns on replayed rows).
- `loggable`: `log()` stores numpy scalars as asset hashes, not numbers, and dicts/lists as Python `str()`,
  not JSON. Convert before logging.
- `completed`: a crash-restart must neither duplicate nor lose rows. Resume from what the database already
  holds instead of re-logging it.
- `progress`: long loops show how far they are, on stderr, so stdout stays clean for results. With
  BENCHKIT_CRASH_AFTER=N in the environment, the process kills itself (SIGKILL) after N units: a rehearsed
  crash, to prove the resume.
- `log_batch_verified`: `log_batch` silently rolls a whole batch back when two rows share a timestamp
  (the primary key); count, retry, raise. It also reads the table's schema once per batch, not once per text
  value as xetrack does (`schema_read_once`: about 10x faster for rows with ten text columns).
- `varying_columns`: the configuration columns that tell the configurations apart, for readable reports;
  `stored_configurations`: those already in the database, so a run of one new model keeps the label whole.
- `provenance`: `Tracker(params=...)` is not part of the cache key, but it is on every row: put the code and
  data version there so results of different versions are never pooled.
- `cache_version` (in every `track_cached` key and row): xetrack's key covers arguments, not code, so a
  function whose return shape changed would replay stale results; bump the template's CACHE_VERSION instead.
- `field_columns`, `stored_name`: xetrack renames a key silently (`sales channel` -> `sales_channel`) and cannot
  store some at all (`order`, `1st`, a key holding the table name): a template logging the user's own data
  fields checks them before any call and prints the stored names in its commands.
- `connect_readonly`: `file:{path}?mode=ro` unquoted cuts the path at '#', '?' or '%', and SQLite then opens
  (and creates) another file; the URI here is percent-encoded. A run killed mid-write leaves a hot journal that
  a read-only open cannot roll back ("attempt to write a readonly database"): it is rolled back first, as the
  restarted run's next write would.
- `ArgumentParser`, `add_common_options`, `next_steps`, `print_steps`, `into_csv`, `script_command`: what every
  template's command line shares: one-line errors (exit 2), one option name per concept, and printed next
  commands that run as printed from the project folder (shell-quoted, through the skill folder new_benchmark.py
  recorded), and as one script.
- `added_later`, `planned_steps`: a configuration first run after the others (a model added a week later) and
  the best of those others, and the printed commands of that one planned comparison (the two alone).
- `skill_module`: a template that needs a script's analysis (the throughput template's SLO verdicts) imports
  it from that same skill folder, so there is one implementation.
- `Shard`, `shard_of`, `dealt_shard`, `shard_path`, `placement`: `--shard K/N` runs the K-th of N fixed parts of
  the work into its own database file (one writer per SQLite file; the scripts read the N files as one
  benchmark). A unit's part comes from a content hash of its key (or, for a group of few numbered units such
  as one model's seed x fold fits, is dealt in turn from a start that hash picks), never Python's `hash()`
  (salted per process), so every process and machine agrees on the split whatever order the units come in.

Only the standard library, numpy (a xetrack dependency) and xetrack are needed; tqdm draws the progress bar
on a terminal when it is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import hashlib
import importlib
import inspect
import json
import os
import platform
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

PRIMITIVES = (str, int, float, bool, type(None))
# Where the skill lives, recorded by scripts/new_benchmark.py in the copy it makes (relative = from this
# file's folder); None here, in the skill's own assets/. The environment variable wins over both.
SKILL_DIR: str | None = None
SKILL_ENV = "XETRACK_BENCHMARK_SKILL"
# benchkit's own part of every cache key: bumped when track_cached changes what a cached value holds, so old
# caches are recomputed instead of replayed (CHANGELOG says when). Templates add their own CACHE_VERSION.
CACHE_SCHEMA = "2"
_CONFIGS: dict[str, Any] = {}  # config_id -> configuration object, for the call wrapper in this process


def _plain(value: Any) -> Any:
    """A JSON-ready, process-independent form of a configuration value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, PRIMITIVES):
        return value
    raise TypeError(f"cannot hash {type(value).__name__} stably; use primitives, tuples or nested dataclasses")


def config_id(config: Any) -> str:
    """16-hex content hash of a configuration: identical in every process, different when any field differs."""
    payload = {"type": type(config).__qualname__, "fields": _plain(config)}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_columns(config: Any, prefix: str = "") -> dict[str, Any]:
    """The configuration as flat, loggable columns: nested dataclasses become `outer_inner`, sequences JSON."""
    columns: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        name = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            columns.update(config_columns(value, prefix=f"{name}_"))
        elif isinstance(value, PRIMITIVES):
            columns[name] = value
        else:
            columns[name] = json.dumps(_plain(value), sort_keys=True)
    return columns


def varying_columns(configs: Iterable[Any], exclude: Iterable[str] = (), stored: Iterable[dict] = ()) -> list[str]:
    """The fewest configuration columns, taken in field order, that tell `configs` apart, and the `stored`
    ones (stored_configurations: those already in the version a report covers; trial T: a run of one new model
    labelled the report by `model` alone, and two forests were merged into one row).

    What to pass to `export_summary.py --config-cols`: a label built from every column would include long
    text (a prompt template with newlines, a request payload) and be unreadable. A column is kept only if it
    separates configurations the columns before it do not (so `prompt_name` is kept and the prompt texts
    that go with it are not). `exclude` names replicate columns such as `seed`, which are not configuration.
    """
    rows = [config_columns(c) for c in configs]
    names = list(dict.fromkeys(name for row in rows for name in row))
    rows += [{n: row.get(n) for n in names} for row in stored]
    skip = set(exclude)
    names = [n for n in names if n not in skip]

    def groups(columns: list[str]) -> int:
        return len({json.dumps([row.get(n) for n in columns], sort_keys=True) for row in rows})

    chosen: list[str] = []
    for name in names:
        if groups([*chosen, name]) > groups(chosen):
            chosen.append(name)
    return chosen


def stored_configurations(db: str | Path, table: str, config: Any, **where: Any) -> list[dict]:
    """The distinct configurations (the columns of `config`, a configuration object) already in `table` among the
    rows whose columns equal `where`, as rows: for varying_columns. Read-only; none when the file, the table or
    one of the columns is absent."""
    path = Path(db)
    if not path.exists():
        return []
    names = list(config_columns(config))
    con = connect_readonly(path)
    try:
        present = {row[1] for row in con.execute("SELECT * FROM pragma_table_info(?)", [table])}
        if not set(names) | set(where) <= present:
            return []
        columns = ", ".join(f'"{n}"' for n in names)
        clause = " AND ".join(f'"{k}" = ?' for k in where) or "1"
        rows = con.execute(f'SELECT DISTINCT {columns} FROM "{table}" WHERE {clause}', list(where.values()))
        return [dict(zip(names, row, strict=True)) for row in rows]
    finally:
        con.close()


@dataclasses.dataclass(frozen=True)
class AddedLater:
    """A configuration first run after the others of its version, and the best of those others."""

    new: str  # its label, "model=svm"
    best: str  # the previous best's label
    filters: tuple[str, ...]  # export_summary arguments that keep the two alone
    slug: str  # the new one's label as a file-name part
    values: dict[str, Any]  # the new one's columns and values, {"candidate": "regex"}


def added_later(db: str | Path, table: str, label: Iterable[str], metric: str, higher: bool = True,
                **where: Any) -> list[AddedLater]:
    """Each configuration of the `where` rows (one version) whose first row in `table` came in a later run
    (`track_id`) than the others' first rows (a model added a week later, in a new version or with
    --add-to-version), with the best of the others: the highest (`higher`, else lowest) mean of the SQL
    expression `metric` over their rows without an error. "Does the new one beat the previous best?" is then
    one planned comparison, a family of one (trials G, K and L built it by hand). Empty when every
    configuration started in one run, or a needed column (the metric's too) is absent. Read-only."""
    path, cols = Path(db), list(label)
    if not path.exists():
        return []
    con = connect_readonly(path)
    try:
        present = {row[1] for row in con.execute("SELECT * FROM pragma_table_info(?)", [table])}
        if not {"config_id", "track_id", "timestamp", *cols, *where} <= present:
            return []
        ok = "error IS NULL OR error = ''" if "error" in present else "1"
        clause = " AND ".join(f"{quote_ident(k)} = ?" for k in where) or "1"
        shown = ", ".join(quote_ident(c) for c in cols)
        try:
            found = {cid: (dict(zip(cols, values, strict=True)), score) for cid, *values, score in con.execute(
                f"SELECT config_id, {shown}, AVG(CASE WHEN {ok} THEN {metric} END) FROM {quote_ident(table)} "
                f"WHERE {clause} GROUP BY config_id", list(where.values()))}
        except sqlite3.OperationalError:  # the metric names a column these rows lack: nothing to rank by
            return []
        marks = ", ".join("?" * len(found))
        # SQLite takes a bare column of a MIN() aggregate from the row holding the minimum: each one's first run
        first = {cid: run for cid, run, _ in con.execute(
            f"SELECT config_id, track_id, MIN(timestamp) FROM {quote_ident(table)} WHERE config_id IN ({marks}) "
            "GROUP BY config_id", list(found))}
        started = dict(con.execute(f"SELECT track_id, MIN(timestamp) FROM {quote_ident(table)} WHERE track_id IN "
                                   f"({', '.join('?' * len(set(first.values())))}) GROUP BY track_id",
                                   list(set(first.values()))).fetchall())
    finally:
        con.close()
    latest = max(first.values(), key=lambda run: started[run], default=None)
    before = [cid for cid in found if first.get(cid) != latest]
    scored = [cid for cid in before if found[cid][1] is not None]
    if not before or not scored:
        return []
    best = (max if higher else min)(sorted(scored, key=lambda cid: _label(found[cid][0])),
                                    key=lambda cid: found[cid][1])
    return [AddedLater(_label(found[cid][0]), _label(found[best][0]),
                       _pair_filters(found[cid][0], found[best][0], cid, best),
                       re.sub(r"[^A-Za-z0-9.-]+", "_", "_".join(str(v) for v in found[cid][0].values())),
                       found[cid][0])
            for cid in sorted(found, key=lambda c: _label(found[c][0])) if first.get(cid) == latest]


def planned_steps(later: Iterable[AddedLater], metric: str, export: Callable[..., str],
                  into: Callable[[str], str]) -> list[tuple[str, str]]:
    """The printed steps of each added_later comparison: the two alone, and their pair as a CSV row. `export`
    makes an export_summary command of the version's rows (without --pairs all); `into` a CSV redirect. With
    several new configurations, each test runs at 0.05 over their number (Bonferroni: 5 % for all of them)."""
    later = list(later)
    alpha = ("--alpha", f"{0.05 / len(later):.3g}") if len(later) > 1 else ()
    shared = f" at alpha {alpha[1]} (one of {len(later)} planned: 5 % for all of them)" if alpha else ""
    steps = []
    for found in later:
        steps += [(f"planned: does {found.new}, run after the others, beat the previous best on {metric}, "
                   f"{found.best}? The two alone, one comparison{shared}; the previous best was picked on these "
                   "inputs, which favours it", export(*found.filters, *alpha)),
                  ("", export(*found.filters, *alpha, "--csv", "--comparisons") + into(f"{found.slug}_vs_best"))]
    return steps


def _label(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def _pair_filters(new: dict, old: dict, new_id: str, old_id: str) -> tuple[str, ...]:
    """--filter arguments keeping the two configurations alone: by their columns when they differ in one (a
    repeated --filter on one column keeps either value; on two it would keep all four combinations), else
    by config_id (the same label with other code, two columns differ, or a value whose text may not be the
    stored one: a float, a bool)."""
    differ = [c for c in new if new[c] != old[c]]
    plain = all(type(v) in (str, int) for v in (*new.values(), *old.values()))  # text as a filter compares it
    if len(differ) != 1 or not plain:
        return ("--filter", f"config_id={old_id}", "--filter", f"config_id={new_id}")
    same = [f"{c}={v}" for c, v in new.items() if c not in differ]
    keep = same + [f"{differ[0]}={old[differ[0]]}", f"{differ[0]}={new[differ[0]]}"]
    return tuple(word for f in keep for word in ("--filter", f))


def loggable(row: dict[str, Any]) -> dict[str, Any]:
    """Make a row safe for `tracker.log`: numbers stay numbers, containers become JSON text."""
    out = {}
    for key, value in row.items():
        if isinstance(value, np.generic):
            value = value.item()
        elif isinstance(value, np.ndarray):
            value = json.dumps(value.tolist())
        elif isinstance(value, (dict, list, tuple, set, frozenset)):
            value = json.dumps(_plain(value), sort_keys=True)
        elif isinstance(value, Path):
            value = str(value)
        out[key] = value
    return out


def cache_version(salt: str = "") -> str:
    """The `cache_version` column and cache-key part: benchkit's schema plus the caller's salt.

    xetrack keys its cache on the arguments, never on the code: when what a function returns changes (a new
    column, another shape), the old entries would replay without it. Change the salt and they are recomputed.
    """
    return f"benchkit{CACHE_SCHEMA}" + (f"/{salt}" if salt else "")


def track_cached(tracker, func: Callable[..., dict], config: Any, *, cache_salt: str = "", **inputs: Any) -> dict:
    """Run `func(config, **inputs)` through `tracker.track` with a cache key that is stable across processes.

    `inputs` must be primitives (ids, not data: pass `input_id=17`, look the example up inside `func`).
    The row gets `config_id`, every configuration field, `cache_version` and whatever dict `func` returns.
    `cache_salt` (a template's CACHE_VERSION) is part of the key: change it when `func`'s code or return shape
    changes, and nothing cached before is replayed. `func` must raise on failure: xetrack logs the error row
    and does not cache it, whereas a returned error is cached forever.
    """
    bad = {k: type(v).__name__ for k, v in inputs.items() if not isinstance(v, PRIMITIVES)}
    if bad:
        raise TypeError(f"inputs must be str/int/float/bool/None so the cache key is stable; got {bad}")
    cid = config_id(config)
    _CONFIGS[cid] = config

    # The wrapper keeps func's module and name (the first part of xetrack's cache key) and receives only
    # primitives; it looks the configuration object up by its content hash.
    @functools.wraps(func)
    def call(config_id: str, **kwargs: Any) -> dict:
        return loggable(func(_CONFIGS[config_id], **kwargs))

    del call.__wrapped__  # xetrack reads the signature; it must see `config_id`, not func's parameters
    # track(params=...) is part of xetrack's cache key (Tracker(params=...) is not): the salt goes here.
    params = {"config_id": cid, **config_columns(config), "cache_version": cache_version(cache_salt)}
    return tracker.track(call, kwargs={"config_id": cid, **inputs}, params=params)


def completed(db: str | Path, table: str, columns: Iterable[str]) -> set[tuple]:
    """The distinct values of `columns` over rows without an error: what a restarted run can skip.

    Read-only; an absent file, table or column means nothing is done yet.
    """
    path = Path(db)
    if not path.exists():
        return set()
    cols = list(columns)
    con = connect_readonly(path)
    try:
        # Check names first: SQLite reads an unknown "quoted name" as a string literal, not an error.
        present = {row[1] for row in con.execute("SELECT * FROM pragma_table_info(?)", [table])}
        if not present or not set(cols) <= present:
            return set()
        quoted = ", ".join(quote_ident(c) for c in cols)
        ok = " WHERE error IS NULL OR error = ''" if "error" in present else ""
        return set(con.execute(f"SELECT DISTINCT {quoted} FROM {quote_ident(table)}{ok}").fetchall())
    finally:
        con.close()


def version_drift(db: str | Path, table: str, version: dict[str, Any]) -> str | None:
    """A warning when rows of this run's experiment_version in `table` were made under other versions (another
    git commit, package or data): new rows would carry this run's values, and validate_benchmark and
    export_summary never pool versions, so they would be a separate benchmark, never compared with the rows
    already there (trial M: a model added after a commit under the same --experiment-version). None when the
    stored rows agree or there are none. Version columns as the scripts read them: git_commit, *_version,
    *_fingerprint."""
    path = Path(db)
    if not path.exists() or "experiment_version" not in version:
        return None
    con = connect_readonly(path)
    try:
        present = {row[1] for row in con.execute("SELECT * FROM pragma_table_info(?)", [table])}
        cols = [k for k in version if k in present and k != "experiment_version"
                and (k == "git_commit" or k.endswith(("_version", "_fingerprint")))]
        if "experiment_version" not in present or not cols:
            return None
        stored = {c: {v for (v,) in con.execute(f"SELECT DISTINCT {quote_ident(c)} FROM {quote_ident(table)} "
                                                "WHERE experiment_version = ?", [version["experiment_version"]])}
                  for c in cols}
    finally:
        con.close()
    differ = [f"{c} {', '.join(sorted(map(str, values - {version[c]})))} (this run: {version[c]})"
              for c, values in stored.items() if values - {version[c]}]
    if not differ:
        return None
    return (f"{version['experiment_version']}'s rows in {path.name} were made with {'; '.join(differ)}: the rows "
            "this run adds would be another version, reported apart and never compared with them. To compare "
            "everything, run with a new --experiment-version (rows already computed replay from the cache), or "
            "from the code and packages those rows came from; --add-to-version adds them to this one anyway.")


def connect_readonly(db: str | Path) -> sqlite3.Connection:
    """A read-only sqlite3 connection to an existing file, whatever characters its path holds.

    `sqlite3.connect(f"file:{path}?mode=ro", uri=True)` is the usual spelling and it is wrong: SQLite reads
    '#' as the start of a fragment and '?' as the start of the query, so `runs#2/b.db` opens `runs`, a
    missing file is created despite mode=ro... The path is percent-encoded here (pathlib's as_uri).
    """
    path = Path(os.path.abspath(db))
    if not path.is_file():
        raise FileNotFoundError(f"no database file at {path}")
    con = sqlite3.connect(path.as_uri() + "?mode=ro", uri=True)
    try:
        con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # the first read meets a hot journal
    except sqlite3.OperationalError:
        con.close()
        if not any(path.with_name(path.name + s).exists() for s in ("-journal", "-wal")):
            raise
        _roll_back_stopped_writer(path)
        con = sqlite3.connect(path.as_uri() + "?mode=ro", uri=True)
    return con


def _roll_back_stopped_writer(path: Path) -> None:
    """Let SQLite roll back the unfinished transaction of a writer that was killed (or recover a WAL index).

    Why in place, when the analysis scripts read a private copy instead: benchkit reads the benchmark's own
    database, which the restarted run writes next, and that write (or any plain sqlite3 open) rolls the same
    journal back; only committed rows remain either way. A live writer holds its lock, so its journal is not
    hot and SQLite leaves it alone.
    """
    con = sqlite3.connect(path.as_uri() + "?mode=rw", uri=True, timeout=10)
    try:
        con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    finally:
        con.close()


def stored_name(key: str) -> str:
    """The column xetrack 0.7.0 stores a logged key under: every character but ASCII letters, digits and '_'
    becomes '_', and the first 64 characters are kept (`sales channel` is the column `sales_channel`)."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", str(key))[:64]


def field_columns(names: Iterable[str], table: str) -> dict[str, str]:
    """Each name of the user's data that a template logs as a column -> the column xetrack stores it under.

    ValueError (one line) for names it cannot store: xetrack writes column names unquoted, so an SQL keyword
    (`order`, `group`) or a leading digit breaks every insert, and a name holding the table's name breaks them
    on SQLite (references/xetrack-api.md); two names that become one column would overwrite each other. Checked
    the way xetrack writes (CREATE, ALTER TABLE ADD COLUMN, INSERT, unquoted) on an in-memory database.
    """
    columns = {name: stored_name(name) for name in names}
    broken = [f"{n} (holds the table name {table})" if table in c else n
              for n, c in columns.items() if table in c or not _writable_unquoted(c)]
    if broken:
        raise ValueError(f"the field{'s' * (len(broken) > 1)} {', '.join(broken)} cannot be columns: xetrack "
                         "writes column names unquoted, so an SQL keyword, a leading digit or the table's name "
                         "inside one breaks every insert; rename them in the data")
    shared = {c: [n for n in columns if columns[n] == c] for c in set(columns.values())}
    clash = [f"{' and '.join(ns)} (both {c})" for c, ns in sorted(shared.items()) if len(ns) > 1]
    if clash:
        raise ValueError(f"the fields {'; '.join(clash)} would be one column (xetrack keeps letters, digits and "
                         "'_' of a name); rename them in the data")
    return columns


@functools.lru_cache(maxsize=256)
def _writable_unquoted(column: str) -> bool:
    con = sqlite3.connect(":memory:")
    try:
        # after another column, as in xetrack's statements (`constraint` parses there as a table constraint)
        con.execute(f'CREATE TABLE "t" ("_probe_" TEXT, {column} TEXT)')
        con.execute(f'INSERT INTO "t" ("_probe_", {column}) VALUES (?, ?)', ["1", "2"])
        con.execute('CREATE TABLE "u" ("_probe_" TEXT)')
        con.execute(f'ALTER TABLE "u" ADD COLUMN {column} TEXT')
        return con.execute(f'SELECT "{column}" FROM "t"').fetchall() == [("2",)]
    except sqlite3.Error:
        return False
    finally:
        con.close()


def quote_ident(identifier: str) -> str:
    """An SQL identifier, double-quoted: a name with a space or a keyword reads as a column, not an error."""
    return '"' + identifier.replace('"', '""') + '"'


def fingerprint(*objects: Any) -> str:
    """16-hex content hash of datasets or other values (numpy arrays by bytes, shape and dtype)."""
    h = hashlib.sha256()
    for obj in objects:
        if isinstance(obj, np.ndarray) and obj.dtype.hasobject:
            # The bytes of an object array are pointers, different in every process: hash the values instead.
            h.update(json.dumps([obj.shape, _plain(obj.tolist())], sort_keys=True).encode())
        elif isinstance(obj, np.ndarray):
            h.update(str((obj.shape, obj.dtype.str)).encode())
            h.update(np.ascontiguousarray(obj).tobytes())
        else:
            h.update(json.dumps(_plain(obj), sort_keys=True).encode())
    return h.hexdigest()[:16]


PLAIN_VALUES = (int, float, complex, str, bytes, bool, type(None), tuple, list, dict, set, frozenset, range)
# Where installed code lives (the standard library, site-packages), not the user's own: a project folder may sit
# under sys.prefix (a system Python), so the library folders themselves, not the prefix, are the test.
LIBRARY_ROOTS = tuple({os.path.realpath(path) + os.sep for key, path in sysconfig.get_paths().items()
                       if key in ("stdlib", "platstdlib", "purelib", "platlib")})


def code_of(function: Callable) -> str:
    """What a function's answers depend on, as text for its cache key: its source, and transitively the source of
    each function or class of your code it names, the value of each plain constant (a number, a string, a table,
    a compiled regex) and the whole file of any other object or module of your code it uses.

    Why not the function's whole module file: functions compared side by side usually share one, and adding a
    candidate there would then recompute every other one (trial E); here a function's key changes only when
    something it reaches changes. Libraries (under Python's prefix: numpy, the standard library) are left to
    the package versions every row records; builtins such as `int` are named with Python's version.
    """
    parts: dict[str, str] = {}

    def source(obj: Any) -> str:
        try:
            return inspect.getsource(obj)
        except (OSError, TypeError):
            return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', stable_repr(obj))}@{sys.version}"

    def file_of(obj: Any) -> str | None:
        try:
            path = inspect.getsourcefile(obj) or inspect.getfile(obj)
        except TypeError:  # builtins, or an object whose class is built in
            return None
        real = os.path.realpath(path)
        return None if real.startswith(LIBRARY_ROOTS) else real

    def whole_file(path: str) -> None:  # keyed by name and content, never by folder: keys move with the project
        text = Path(path).read_text(encoding="utf-8", errors="replace")
        parts.setdefault(f"file {Path(path).name} {hashlib.sha256(text.encode()).hexdigest()[:12]}", text)

    def visit(obj: Any) -> None:
        obj = inspect.unwrap(obj) if callable(obj) else obj
        if isinstance(obj, functools.partial):
            arguments = stable_repr((obj.args, sorted(obj.keywords.items())))
            parts.setdefault(f"partial {getattr(obj.func, '__qualname__', '')} {arguments}", arguments)
            return visit(obj.func)
        if not (inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isclass(obj)):
            if callable(obj) and file_of(type(obj)):  # a callable object: its class, its state unknown
                whole_file(file_of(type(obj)))
            parts.setdefault(f"other {getattr(obj, '__qualname__', type(obj).__qualname__)}", source(obj))
            return None
        key = f"{obj.__module__}.{obj.__qualname__}"
        if key in parts or file_of(obj) is None:
            parts.setdefault(key, source(obj))
            return None
        parts[key] = source(obj)
        functions = [f for f in vars(obj).values() if inspect.isfunction(f)] if inspect.isclass(obj) else \
            [getattr(obj, "__func__", obj)]
        for func in functions:
            for name in sorted(_names_used(func.__code__)):
                if name in func.__globals__:
                    uses(name, func.__globals__[name])
        return None

    def uses(name: str, value: Any) -> None:
        if isinstance(value, PLAIN_VALUES):
            parts.setdefault(f"value {name}", stable_repr(value))
        elif isinstance(value, re.Pattern):
            parts.setdefault(f"value {name}", repr((value.pattern, value.flags)))
        elif inspect.ismodule(value):
            path = file_of(value) if getattr(value, "__file__", None) else None
            if path:
                whole_file(path)
        elif inspect.isfunction(value) or inspect.isclass(value) or inspect.ismethod(value) or callable(value):
            visit(value)
        elif file_of(type(value)):  # an object of your own class: its state cannot be read, its file can
            whole_file(file_of(type(value)))

    visit(function)
    return json.dumps(parts, sort_keys=True)


def stable_repr(value: Any) -> str:
    """repr without memory addresses (`<object at 0x7f...>`), which differ in every process, and with each set's
    elements in sorted order: a set of strings iterates in an order that changes with every process's hash seed
    (trial T: a frozenset constant made its candidate's key new in every process, so the cache never hit). A key
    holding either would never hit the cache again."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", _ordered_repr(value))


def _ordered_repr(value: Any) -> str:
    """repr, the same for plain lists, tuples and dicts (their order is the program's), with sets sorted."""
    kind = type(value)
    if kind in (set, frozenset) and value:
        inner = "{" + ", ".join(sorted(_ordered_repr(v) for v in value)) + "}"
        return inner if kind is set else f"frozenset({inner})"
    if kind in (list, tuple):
        inner = ", ".join(_ordered_repr(v) for v in value) + ("," if kind is tuple and len(value) == 1 else "")
        return f"[{inner}]" if kind is list else f"({inner})"
    if kind is dict:
        return "{" + ", ".join(f"{_ordered_repr(k)}: {_ordered_repr(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _names_used(code: Any) -> set[str]:
    """Global names and attributes a code object (and the functions, lambdas and comprehensions in it) uses."""
    names = set(code.co_names)
    for const in code.co_consts:
        if inspect.iscode(const):
            names |= _names_used(const)
    return names


# What a commit can change without changing what a benchmark runs: notes, tables, figures, logs, and the benchmark
# databases themselves (committed after a run, or their DVC pointers). Commits and edits of only these files leave
# the recorded commit as it was, so committing notes and results as you go does not split a benchmark into versions.
# A `results/` folder holds anything else a run leaves (the scripts' --json output: trial G; a .json elsewhere may be
# a configuration the code reads, so it counts as code).
NOT_CODE = ("*.md", "*.rst", "*.txt", "*.csv", "*.tsv", "*.log", "*.err", "*.out", "*.png", "*.jpg", "*.jpeg",
            "*.svg", "*.pdf", "*.html", "*.db", "*.sqlite", "*.sqlite3", "*.duckdb", "*.dvc", ".gitignore",
            "results/**")
CODE_PATHS = [":/", *(f":(top,exclude,glob)**/{pattern}" for pattern in NOT_CODE)]  # git pathspecs, from the top


def git_commit(root: str | Path = ".") -> str:
    """The last commit that changed code, 12 hex digits (`git checkout` it to run the same code), with `-dirty`
    when code has uncommitted edits; 'unversioned' outside git or before the first commit. Code is every tracked
    file except those NOT_CODE names, wherever `root` sits in the repository."""

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return "unversioned"
        last = git("log", "-1", "--format=%H", "--", *CODE_PATHS).stdout.strip() or head.stdout.strip()
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS).stdout.strip()
        return last[:12] + ("-dirty" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unversioned"


def provenance(data_fingerprint: str | None = None, root: str | Path = ".", **extra: Any) -> dict[str, Any]:
    """Columns that identify code and data versions, for `Tracker(params=...)` (on every row)."""
    from importlib.metadata import PackageNotFoundError, version

    def ver(pkg: str) -> str:
        try:
            return version(pkg)
        except PackageNotFoundError:
            return "absent"

    info = {"git_commit": git_commit(root), "python_version": platform.python_version(),
            "xetrack_version": ver("xetrack"), "numpy_version": ver("numpy")}
    if data_fingerprint is not None:
        info["data_fingerprint"] = data_fingerprint
    info.update(extra)
    return info


def progress(items: Iterable, total: int | None = None, label: str = "running", stream=None) -> Iterator:
    """Yield from `items`, showing how far the loop is on stderr, so stdout stays clean for results.

    On a terminal: a tqdm bar (rate and time left) when tqdm is installed. Elsewhere (CI logs, a file): one
    plain line per tenth, `label  37/120  31%  2.9/s  left 28s  12.4s`, so logs stay short.
    """
    stream = stream or sys.stderr
    total = total if total is not None else (len(items) if hasattr(items, "__len__") else None)
    crash_after = _crash_after(stream)
    if crash_after is not None:
        items = _crashing_after(items, crash_after, stream)
    tty = getattr(stream, "isatty", lambda: False)()
    if tty:
        try:
            from tqdm import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None:
            yield from tqdm(items, total=total, desc=label, file=stream, dynamic_ncols=True)
            return
    start, last_decile = time.perf_counter(), -1
    done = 0
    for done, item in enumerate(items, start=1):
        yield item
        pct = int(100 * done / total) if total else None
        if tty or pct is None or pct // 10 > last_decile:
            last_decile = pct // 10 if pct is not None else last_decile
            elapsed = time.perf_counter() - start
            rate = done / elapsed if elapsed > 0 else float("inf")
            of = f"/{total}  {pct:3d}%" if total else ""
            left = f"  left {(total - done) / rate:.0f}s" if total and rate not in (0, float("inf")) else ""
            stream.write(f"{chr(13) if tty else ''}{label}  {done}{of}  {rate:.1f}/s{left}  {elapsed:.1f}s"
                         + ("" if tty else "\n"))
            stream.flush()
    if tty and done:
        stream.write("\n")


CRASH_ENV = "BENCHKIT_CRASH_AFTER"


def _crash_after(stream) -> int | None:
    """BENCHKIT_CRASH_AFTER=N: rehearse a crash (see _crashing_after); unset or empty, no rehearsal."""
    value = os.environ.get(CRASH_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit():
        stream.write(f"benchkit: error: {CRASH_ENV} must be a number of units (a crash rehearsal), got {value!r}\n")
        raise SystemExit(2)
    return int(value)


def _crashing_after(items: Iterable, n: int, stream) -> Iterator:
    """Yield n items, then kill this process with SIGKILL when the loop asks for the next: no exception
    handler, no `finally`, no flush runs, as when the OOM killer or a lost machine ends a run. The n units are
    logged (each unit logs before the loop asks for the next); a re-run without the variable must resume
    from them with no duplicate (references/execution.md: rehearsing a crash)."""
    for done, item in enumerate(items):
        if done == n:
            stream.write(f"benchkit: {CRASH_ENV}={n}: killing this process now (SIGKILL), a rehearsed crash\n")
            stream.flush()
            os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
        yield item


# ---- the command line every template shares ----------------------------------------------------------------
class ArgumentParser(argparse.ArgumentParser):
    """argparse with the scripts' error contract: one line `prog: error: ...` on stderr and exit 2, no usage
    dump. Descriptions and epilogs keep their line breaks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def add_common_options(parser: argparse.ArgumentParser, *, db: str, limit_help: str,
                       cache_dir: str | None = None, experiment_version: str = "e1", shard: bool = False) -> None:
    """--db, --cache-dir and --add-to-version (when the template caches), --experiment-version, --limit and, for
    templates whose work splits into independent units, --shard: spelled alike in every template. `limit_help`
    says what N counts in this template (examples, inputs, load levels)."""
    # --db defaults to None so check_common_options can tell "not given" (a shard gets its own file name).
    parser.add_argument("--db", type=Path, default=None,
                        help=f"xetrack database file (default: {db}"
                             + (f"; with --shard K/N: {shard_path(Path(db), Shard(1, 2)).name} and so on)" if shard
                                else ")"))
    parser.set_defaults(default_db=Path(db))
    if cache_dir is not None:
        parser.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                            help=f"result cache shared by runs and processes (default: {cache_dir})")
        # trial X: a commit between runs made the new rows another version of the same label; warned, then written
        parser.add_argument("--add-to-version", action="store_true",
                            help="add rows to an --experiment-version whose earlier rows carry another git commit "
                                 "or package version (they are then reported apart); without it the run stops "
                                 "before any work, exit 2")
    parser.add_argument("--experiment-version", default=experiment_version, metavar="VALUE",
                        help='logged on every row: "dev" while developing, a tag such as "e1" for the real run; '
                             f"the scripts never pool versions (default: {experiment_version})")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help=limit_help)
    if shard:
        parser.add_argument("--shard", type=parse_shard, default=None, metavar="K/N",
                            help="run only the K-th of N fixed parts of the work (1 <= K <= N), into its own "
                                 "database; the N files together are one benchmark (references/execution.md)")


def check_common_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The usage errors every template shares, reported through parser.error (one line, exit 2). Fills in
    the default --db: the template's DB, with a shard suffix under --shard."""
    if args.db is None:
        shard = getattr(args, "shard", None)
        args.db = shard_path(args.default_db, shard) if shard else args.default_db
    if not str(args.experiment_version).strip():
        parser.error("--experiment-version must not be empty")
    crash = os.environ.get(CRASH_ENV, "").strip()
    if crash and not crash.isdigit():  # before any work, not at the loop (progress checks it too, for own scripts)
        parser.error(f"{CRASH_ENV} must be a number of units (a crash rehearsal), got {crash!r}")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if args.db.is_dir():
        parser.error(f"--db {args.db} is a directory, not a database file")
    if args.db.is_file() and args.db.stat().st_size:
        with args.db.open("rb") as fh:
            if fh.read(16) != b"SQLite format 3\x00":
                parser.error(f"--db {args.db}: file is not a database (xetrack writes SQLite files)")


# ---- shards: one fixed part of the work per process or machine, one database file each -----------------------
@dataclasses.dataclass(frozen=True)
class Shard:
    """The K-th of N parts (1-based, as job arrays count: SLURM_ARRAY_TASK_ID=1..N)."""

    k: int
    n: int

    def __str__(self) -> str:  # the `shard` column and the flag's own spelling
        return f"{self.k}/{self.n}"

    def owns(self, key: Any) -> bool:
        return shard_of(key, self.n) == self.k

    def deals(self, group: Any, index: int) -> bool:
        """Whether the index-th unit of a group is this shard's (dealt_shard)."""
        return dealt_shard(group, index, self.n) == self.k


def parse_shard(text: str) -> Shard:
    """`--shard K/N` -> Shard(K, N); an argparse type, so bad input is one usage line and exit 2."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise argparse.ArgumentTypeError(f"expected K/N with 1 <= K <= N (e.g. 1/4), got {text!r}")
    return Shard(int(match[1]), int(match[2]))


def shard_of(key: Any, n: int) -> int:
    """The shard (1..n) a work unit belongs to: a content hash of its key (primitives, tuples, dataclasses).

    Python's hash() of a str changes in every process; a split made with it would send a unit to another
    shard on the next run, which then redoes it while the unit's first shard keeps a copy.
    """
    digest = hashlib.sha256(json.dumps(_plain(key), sort_keys=True).encode()).hexdigest()
    return int(digest[:15], 16) % n + 1


def dealt_shard(group: Any, index: int, n: int) -> int:
    """The shard (1..n) of unit number `index` of a group of few units (one model's seed x fold fits, numbered
    seed * k_folds + fold): dealt in turn from a start the group's content hash picks. A hash per unit splits 45
    units 10/12/23 as easily as 15/15/15; dealt, every shard gets an equal share of every group (of every model's
    fits: the slow ones too), give or take one. Numbers that depend on the unit alone, not on its position in
    a list, keep the split when units are added (a seed: new numbers; a model: a new group)."""
    return (shard_of(group, n) - 1 + index) % n + 1


SHARD_SUFFIX = re.compile(r"\.shard-\d+-of-\d+$")


def shard_path(db: Path, shard: Shard) -> Path:
    """`bench.db` -> `bench.shard-2-of-4.db`: the default database of one shard, beside the unsharded one."""
    return db.with_name(f"{SHARD_SUFFIX.sub('', db.stem)}.shard-{shard.k}-of-{shard.n}{db.suffix}")


def unsharded_stem(db: Path) -> str:
    """`bench.shard-2-of-4.db` -> `bench`: what a shard shares with its siblings (a cache on one machine)."""
    return SHARD_SUFFIX.sub("", db.stem)


def tables_stem(db: Path, experiment_version: str) -> str:
    """`bench.db`, e2 -> `bench_e2`: the name a run's CSV tables start with. Each version keeps its own tables
    (trial A: the week-later run's tables, written as printed, replaced the first week's)."""
    return f"{unsharded_stem(db)}_{re.sub(r'[^A-Za-z0-9._-]+', '_', experiment_version)}"


def shard_files(db: Path, shard: Shard | None) -> Path | Glob:
    """What the analysis reads: the database itself, or a pattern matching every shard's file beside it."""
    if shard is None or not SHARD_SUFFIX.search(db.stem):
        return db
    return Glob(shown_path(db.with_name(f"{unsharded_stem(db)}.shard-*-of-{shard.n}{db.suffix}")))


def placement(shard: Shard | None) -> dict[str, str]:
    """Where a row was computed, for `Tracker(params=...)`: the host and, under --shard, the shard ("2/4").

    Provenance, not configuration: the scripts neither compare nor stratify by these columns, so a
    benchmark run on many machines still validates as one.
    """
    return {"host": platform.node(), **({"shard": str(shard)} if shard else {})}


# ---- what to run next: commands that run as printed ---------------------------------------------------------
def skill_dir() -> Path | None:
    """The skill's folder (the one holding scripts/ and references/), or None when it cannot be found.

    In order: $XETRACK_BENCHMARK_SKILL; SKILL_DIR as scripts/new_benchmark.py recorded it; the folder above
    this file, when this file is the skill's own assets/benchkit.py.
    """
    here = Path(os.path.abspath(__file__)).parent
    candidates = []
    if os.environ.get(SKILL_ENV):
        candidates.append(Path(os.path.abspath(os.environ[SKILL_ENV])))
    if SKILL_DIR is not None:
        candidates.append(Path(os.path.normpath(here / SKILL_DIR)))  # an absolute SKILL_DIR stays as it is
    candidates.append(here.parent)
    return next((c for c in candidates if (c / "scripts" / "validate_benchmark.py").is_file()), None)


def skill_module(name: str):
    """Import a module of the skill's scripts/ (e.g. "export_summary", "_bench.summary.load"), so a template uses
    the scripts' own implementation instead of a copy. Raises ImportError when the skill cannot be found."""
    root = skill_dir()
    if root is None:
        raise ImportError(f"the skill's folder is unknown (set {SKILL_ENV}, or copy templates with its "
                          "scripts/new_benchmark.py)")
    scripts = str(root / "scripts")
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    return importlib.import_module(name)


def shown_path(path: str | Path) -> str:
    """A path as a command from the current folder should name it: relative below it, else absolute."""
    absolute = os.path.abspath(path)
    cwd = os.getcwd()
    return os.path.relpath(absolute, cwd) if absolute.startswith(cwd.rstrip(os.sep) + os.sep) else absolute


def skill_file(*parts: str) -> str:
    """A file of the skill (e.g. 'scripts', 'export_summary.py') as a path to print, or a `<skill>/...`
    placeholder when the skill's folder is unknown."""
    root = skill_dir()
    return shown_path(root.joinpath(*parts)) if root else "/".join(["<skill>", *parts])


class Glob(str):
    """A path pattern the shell should expand (`bench.shard-*-of-4.db`): quoted around its `*` only."""


def script_command(script: str, *args: Any) -> str:
    """`python <skill>/scripts/<script> ARGS`, every word shell-quoted; Path arguments as shown_path shows
    them, a Glob left for the shell to expand. Runs as printed from the current folder."""
    words = [shlex.quote(w) for w in ("python", skill_file("scripts", script))]
    return " ".join([*words, *map(shell_word, args)])


def shell_word(arg: Any) -> str:
    """One argument as script_command prints it: a Path as shown_path shows it, a Glob quoted around its `*`."""
    if isinstance(arg, Glob):
        return "*".join(shlex.quote(part) if part else "" for part in arg.split("*"))
    return shlex.quote(shown_path(arg) if isinstance(arg, Path) else str(arg))


def next_steps(steps: Iterable[tuple[str, str]]) -> str:
    """The "Next:" block: a `# why` line above each command. Says how to find the skill if it is unknown."""
    lines = ["Next:"]
    for why, command in steps:
        lines += [f"  # {why}"] * bool(why) + [f"  {command}"]
    if skill_dir() is None:
        lines.append(f"  (<skill> = the xetrack-benchmark skill's folder: set {SKILL_ENV}, or copy templates with "
                     "its scripts/new_benchmark.py, to print it)")
    return "\n".join(lines)


def into_csv(stem: str, table: str) -> str:
    """A redirect of a printed command into `<stem>_<table>.csv` that runs as printed whatever the names hold."""
    return " > " + shell_word(f"{stem}_{table}.csv")


def print_steps(steps: list[tuple[str, str]], stem: str) -> None:
    """The "Next:" block, and the same commands as `<stem>_next.sh` with the line that runs them all."""
    print(next_steps(steps))
    script = save_steps(steps, Path(f"{stem}_next.sh"))
    if script:
        print(f"  # all of them at once: bash {shell_word(script)}")


def save_steps(steps: Iterable[tuple[str, str]], path: Path) -> Path | None:
    """The "Next:" commands as a shell script to run them all (`bash PATH`; trial G looped over 11 printed
    commands by hand), each under its `# why`; None, and nothing written, while the skill's folder is unknown
    (the commands would name `<skill>`). A failing command does not stop the ones after it."""
    if skill_dir() is None:
        return None
    lines = ["#!/bin/sh", "# The analysis commands a run printed, in order (run from this folder: bash THIS_FILE).",
             "# Each runs whatever the one before it did; at the end, the ones that did not exit 0 are named.",
             "failed=''"]
    for n, (why, command) in enumerate(steps, 1):
        lines += [f"# {why}"] * bool(why) + [command, f'status=$?; [ $status -eq 0 ] || failed="$failed {n}($status)"']
    lines += ['[ -z "$failed" ] || { echo "commands that did not exit 0 (number(exit code)):$failed" >&2; exit 1; }']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def log_batch_verified(tracker, rows: list[dict[str, Any]], attempts: int = 3) -> int:
    """`tracker.log_batch(rows)` that never loses rows silently; returns how many were written.

    xetrack 0.7.0 stamps each row with `datetime.now()` (microseconds) and keys rows on (track_id,
    timestamp); when two rows of a batch get the same microsecond, SQLite's unique constraint fails and
    xetrack rolls the whole batch back without a word. Count the run's rows around the call and retry
    (the batch is all or nothing, so a retry cannot duplicate); raise if it still does not land.
    """
    if not rows:
        return 0
    safe = [loggable(row) for row in rows]
    before = tracker.count_run()
    with schema_read_once(tracker):
        for _ in range(attempts):
            tracker.log_batch(safe)
            written = tracker.count_run() - before
            if written == len(safe):
                return written
            if written:
                raise RuntimeError(f"log_batch wrote {written} of {len(safe)} rows")
    raise RuntimeError(f"log_batch wrote none of {len(safe)} rows in {attempts} attempts (primary-key clash)")


@contextlib.contextmanager
def schema_read_once(tracker):
    """xetrack 0.7.0's SQLite engine reads the table's schema (`PRAGMA table_info`, its `dtypes` property) once
    for every text value it inserts: 10 text columns (provenance, a split) x 43,000 rows took 29 s of a 33 s
    run that replayed every fit from the cache. Inside the block, one insert reads it once: nothing can change
    the schema in the middle of an insert (xetrack adds new columns before), so the rows are the same, written
    about 10x faster (benchmarks/log_batch.py). The engine is the tracker's own, given its class back after."""
    engine = getattr(tracker, "engine", None)
    cls = type(engine)
    if not isinstance(getattr(cls, "dtypes", None), property) or not hasattr(cls, "_insert_raw"):
        yield  # another xetrack: leave it alone
        return
    engine.__class__ = _read_once_class(cls)
    try:
        yield
    finally:
        engine.__class__ = cls


@functools.cache
def _read_once_class(cls: type) -> type:
    def dtypes(self):
        now = self.__dict__.get("_dtypes_in_insert")
        return now if now is not None else cls.dtypes.fget(self)

    def insert_raw(self, data):
        self._dtypes_in_insert = cls.dtypes.fget(self)
        try:
            return cls._insert_raw(self, data)
        finally:
            self._dtypes_in_insert = None

    return type(cls.__name__, (cls,), {"dtypes": property(dtypes), "_insert_raw": insert_raw,
                                       "__doc__": cls.__doc__})

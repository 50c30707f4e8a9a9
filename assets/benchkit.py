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
- `progress`: long loops show how far they are, on stderr, so stdout stays clean for results.
- `log_batch_verified`: `log_batch` silently rolls a whole batch back when two rows share a timestamp
  (the primary key); count, retry, raise.
- `varying_columns`: the configuration columns that tell the configurations apart, for readable reports.
- `provenance`: `Tracker(params=...)` is not part of the cache key, but it is on every row: put the code and
  data version there so results of different versions are never pooled.

Only the standard library, numpy (a xetrack dependency) and xetrack are needed.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import platform
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

PRIMITIVES = (str, int, float, bool, type(None))
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


def varying_columns(configs: Iterable[Any], exclude: Iterable[str] = ()) -> list[str]:
    """The fewest configuration columns, taken in field order, that tell `configs` apart.

    What to pass to `export_summary.py --config-cols`: a label built from every column would include long
    text (a prompt template with newlines, a request payload) and be unreadable. A column is kept only if it
    separates configurations the columns before it do not (so `prompt_name` is kept and the prompt texts
    that go with it are not). `exclude` names replicate columns such as `seed`, which are not configuration.
    """
    rows = [config_columns(c) for c in configs]
    skip = set(exclude)
    names = [n for n in dict.fromkeys(name for row in rows for name in row) if n not in skip]

    def groups(columns: list[str]) -> int:
        return len({json.dumps([row.get(n) for n in columns], sort_keys=True) for row in rows})

    chosen: list[str] = []
    for name in names:
        if groups([*chosen, name]) > groups(chosen):
            chosen.append(name)
    return chosen


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


def track_cached(tracker, func: Callable[..., dict], config: Any, **inputs: Any) -> dict:
    """Run `func(config, **inputs)` through `tracker.track` with a cache key that is stable across processes.

    `inputs` must be primitives (ids, not data: pass `input_id=17`, look the example up inside `func`).
    The row gets `config_id`, every configuration field and whatever dict `func` returns. `func` must raise
    on failure: xetrack logs the error row and does not cache it, whereas a returned error is cached forever.
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
    params = {"config_id": cid, **config_columns(config)}
    return tracker.track(call, kwargs={"config_id": cid, **inputs}, params=params)


def completed(db: str | Path, table: str, columns: Iterable[str]) -> set[tuple]:
    """The distinct values of `columns` over rows without an error: what a restarted run can skip.

    Read-only; an absent file, table or column means nothing is done yet.
    """
    path = Path(db)
    if not path.exists():
        return set()
    cols = list(columns)
    con = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
    try:
        # Check names first: SQLite reads an unknown "quoted name" as a string literal, not an error.
        present = {row[1] for row in con.execute("SELECT * FROM pragma_table_info(?)", [table])}
        if not present or not set(cols) <= present:
            return set()
        quoted = ", ".join(_quote(c) for c in cols)
        ok = " WHERE error IS NULL OR error = ''" if "error" in present else ""
        return set(con.execute(f"SELECT DISTINCT {quoted} FROM {_quote(table)}{ok}").fetchall())
    finally:
        con.close()


def _quote(identifier: str) -> str:
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


def git_commit(root: str | Path = ".") -> str:
    """The current commit (with `-dirty` when there are uncommitted changes), or 'unversioned'."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return "unversioned"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha.stdout.strip()[:12] + ("-dirty" if dirty else "")
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
    """Yield from `items`, drawing `label  37/120  31%  12.4s` on stderr (redrawn in place on a terminal,
    every 10% otherwise, so CI logs stay short)."""
    stream = stream or sys.stderr
    total = total if total is not None else (len(items) if hasattr(items, "__len__") else None)
    tty = stream.isatty()
    start, last_decile = time.perf_counter(), -1
    done = 0
    for done, item in enumerate(items, start=1):
        yield item
        pct = int(100 * done / total) if total else None
        if tty or pct is None or pct // 10 > last_decile:
            last_decile = pct // 10 if pct is not None else last_decile
            of = f"/{total}  {pct:3d}%" if total else ""
            stream.write(f"{chr(13) if tty else ''}{label}  {done}{of}  {time.perf_counter() - start:.1f}s"
                         + ("" if tty else "\n"))
            stream.flush()
    if tty and done:
        stream.write("\n")


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
    for _ in range(attempts):
        tracker.log_batch(safe)
        written = tracker.count_run() - before
        if written == len(safe):
            return written
        if written:
            raise RuntimeError(f"log_batch wrote {written} of {len(safe)} rows")
    raise RuntimeError(f"log_batch wrote none of {len(safe)} rows in {attempts} attempts (primary-key clash)")

"""Latency and throughput of an HTTP inference service under open-loop load, tracked with xetrack.

Edit the EDIT block below (endpoint, payload, load levels, defaults); the rest is machinery.
  python throughput_benchmark_template.py        # starts model_server.py on 127.0.0.1, measures it, stops it
  python throughput_benchmark_template.py --url http://127.0.0.1:8000/predict --payload @bodies.jsonl \\
      --rates 10,50,100 --connection keepalive,close --repeats 2 --experiment-version e1
  python throughput_benchmark_template.py --url ... --slo "p99<50ms" --budget 60   # the highest rate that meets
Open loop: requests leave on a schedule, latency is timed from each *intended* send time (no coordinated
omission). Writes `requests` (one row per request) and `levels` (one per load level and repeat). Connections:
keepalive reuses them (cheaper, but a single-worker HTTP/1.1 server can leave pooled requests waiting behind
one held connection); close opens one per request (costs a connect, like many independent users). Before each
level it waits until the service answers fast again (settle); the client's own overhead is measured against a
null endpoint and shown, never subtracted. Re-runs skip measured levels; loopback only unless --allow-remote.
Columns and method: references/templates.md and references/load-testing.md. Needs benchkit.py, httpx, psutil.
"""

# ruff: noqa: E402 - the EDIT block comes before the machinery's imports
from __future__ import annotations

import json

# ====================================== EDIT: what to load, and how hard ======================================
URL = None  # e.g. "http://127.0.0.1:8000/predict", or ".../search?q={q}" (q from each PAYLOAD); None: a demo
NAME = ""  # what is under test (a deployment, a build), e.g. "threaded": column endpoint_name, the label of its results
METHOD = "POST"
PAYLOAD = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]})  # JSON body; "@file.json" one body, "@file.jsonl" a pool
TIMEOUT_S = 10.0  # a request still unanswered after this is an error row
ALLOW_REMOTE = False  # True lets URL be a non-loopback host: only for a service you own
OPEN_RATES = (50, 100, 200)  # open loop: constant arrivals per second, one load level each
POISSON_RATES = (100,)  # open loop: Poisson arrivals (seeded) per second
CLOSED_CONCURRENCY = (1, 4)  # closed loop, for comparison only: clients that each wait for their reply
CONNECTIONS = ("keepalive",)  # "keepalive" and/or "close" (a new connection per request): each its own level
DURATION_S, WARMUP_S = 3.0, 1.0  # measured seconds per level, and unrecorded seconds before it
REPEATS = 1  # passes over the levels, ascending then descending order alternately
DB = "throughput.db"
DEMO_PORT = 18765  # the demo server's loopback port (--demo-port)
# ================================================ END EDIT ===================================================
# isort: split

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import functools
import io
import ipaddress
import itertools
import math
import os
import re
import shlex
import socket
import sqlite3
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Collection
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import numpy as np
from benchkit import (
    ArgumentParser,
    add_common_options,
    check_common_options,
    completed,
    config_columns,
    config_id,
    connect_readonly,
    log_batch_verified,
    next_steps,
    progress,
    provenance,
    script_command,
    skill_dir,
    skill_file,
    skill_module,
    track_cached,
)
from xetrack import Tracker

try:
    import httpx
    import psutil
except ImportError as missing:  # the throughput extra
    sys.exit(f"throughput_benchmark_template.py: error: {missing.name} is not installed; pip install httpx psutil")

HERE = Path(os.path.abspath(__file__)).parent
PROG = Path(__file__).name
DEMO_PAYLOAD = PAYLOAD

# ---------------------------------------------------------------- 1. configuration
LATE_AFTER_MS = 5.0  # a send this much after its intended time counts as late
LAG_TAIL_MIN = 5  # slowest requests (p99 and above: 500+ requests) a level needs before its tail is judged late
MAX_REQUESTS_PER_LEVEL = 50_000
MAX_LEVEL_SECONDS = 600.0
MAX_PAYLOADS = 10_000  # bodies in a --payload pool: the pool is stored on every levels row
RESPONSE_BODY_BYTES = 200  # the first bytes of each reply kept in `response_body`; the rest is cut, visibly
OPEN, CLOSED = "open-loop", "closed-loop"
KEEPALIVE, CLOSE = "keepalive", "close"


@dataclass(frozen=True)
class Endpoint:
    # First, so that it labels the results (the URL is then left out): two deployments served in turn on one URL
    # are two configurations only by their names (trial Q: deployments told apart by port alone)
    name: str = NAME
    url: str = URL or f"http://127.0.0.1:{DEMO_PORT}/predict"
    method: str = METHOD
    payloads: tuple[str, ...] = (PAYLOAD,)  # request bodies (JSON text); request k sends payloads[k % len]
    timeout_s: float = TIMEOUT_S  # a request still unanswered after this is an error row

    @functools.cached_property
    def requests(self) -> list[tuple[str, bytes | None]]:
        """Each payload's (URL, body), made once: the client's hot path only indexes it (request_parts)."""
        return [request_parts(self.url, self.method, payload) for payload in self.payloads]


@dataclass(frozen=True)
class LoadLevel:
    """One load level = one configuration. Its content hash (`config_id`) identifies it across runs."""

    mode: str  # OPEN: arrivals at `rate`/s, replies or not. CLOSED: `concurrency` clients waiting for replies
    rate: float = 0.0  # open loop: target arrivals per second
    arrival: str = "constant"  # open loop: "constant" spacing or "poisson" (seeded exponential gaps)
    concurrency: int = 0  # closed loop: simultaneous clients
    duration_s: float = DURATION_S  # measured window
    warmup_s: float = WARMUP_S  # sent before the window, not recorded (connections, caches, lazy loading)
    seed: int = 0  # Poisson schedule
    max_in_flight: int = 512  # open loop: sends beyond this many outstanding requests are dropped, counted
    connection: str = KEEPALIVE  # KEEPALIVE: pooled connections reused; CLOSE: a new connection per request
    pool_size: int = 0  # connections open at once; 0: one per request that may be in flight (derived)
    endpoint: Endpoint = Endpoint()

    def __post_init__(self):
        # Normalise types so 50 and 50.0 are one configuration and one column type (xetrack fixes a
        # column's type from its first value).
        for name in ("rate", "duration_s", "warmup_s"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if self.pool_size == 0:  # what an unlimited client would open: every request in flight has its own
            object.__setattr__(self, "pool_size", self.concurrency if self.mode == CLOSED else self.max_in_flight)
        if self.mode == OPEN and (self.rate <= 0 or self.arrival not in ("constant", "poisson")):
            raise ValueError(f"open loop needs rate > 0 and arrival constant|poisson, got {self}")
        if self.mode == CLOSED and (self.concurrency < 1 or self.arrival != "none"):
            raise ValueError(f"closed loop needs concurrency >= 1 and arrival 'none', got {self}")
        if self.max_in_flight < 1 or self.pool_size < 1:
            raise ValueError(f"max_in_flight and pool_size must be at least 1, got {self.max_in_flight}, "
                             f"{self.pool_size}")
        if self.connection not in (KEEPALIVE, CLOSE):
            raise ValueError(f"connection must be {KEEPALIVE!r} or {CLOSE!r}, got {self.connection!r}")
        if self.mode not in (OPEN, CLOSED):
            raise ValueError(f"mode must be {OPEN!r} or {CLOSED!r}, got {self.mode!r}")
        if self.duration_s <= 0 or self.warmup_s < 0 or self.duration_s + self.warmup_s > MAX_LEVEL_SECONDS:
            raise ValueError(f"need duration > 0, warm-up >= 0, both under {MAX_LEVEL_SECONDS:.0f} s in total")
        if self.mode == OPEN and self.rate * (self.duration_s + self.warmup_s) > MAX_REQUESTS_PER_LEVEL:
            raise ValueError(f"{self.rate:g}/s for {self.duration_s + self.warmup_s:g} s exceeds "
                             f"MAX_REQUESTS_PER_LEVEL={MAX_REQUESTS_PER_LEVEL}")

    def describe(self) -> str:
        named = f"{self.endpoint.name}: " if self.endpoint.name else ""
        if self.mode == OPEN:
            return f"{named}{OPEN} {self.rate:g}/s {self.arrival} {self.connection}"
        return f"{named}{CLOSED} {self.concurrency} client{'s' if self.concurrency > 1 else ''} {self.connection}"


def open_level(rate: float, arrival: str = "constant", **kw) -> LoadLevel:
    return LoadLevel(OPEN, rate=rate, arrival=arrival, **kw)


def closed_level(concurrency: int, **kw) -> LoadLevel:
    return LoadLevel(CLOSED, concurrency=concurrency, arrival="none", **kw)


def default_levels(connections) -> tuple[LoadLevel, ...]:
    """The EDIT block's levels, for each connection model."""
    return tuple(level for c in connections for level in (
        *(open_level(r, connection=c) for r in OPEN_RATES),
        *(open_level(r, "poisson", connection=c) for r in POISSON_RATES),
        *(closed_level(n, connection=c) for n in CLOSED_CONCURRENCY)))


DEFAULT_LEVELS = default_levels(CONNECTIONS)


def load_payloads(spec: str) -> tuple[str, ...]:
    """The request bodies: JSON text itself, `@file.json` (one body) or `@file.jsonl` (one body per non-blank
    line, sent in turn). Raises ValueError with one line that names the file and what is wrong."""
    if not spec.startswith("@"):
        return (check_json(spec, "--payload"),)
    path = Path(spec[1:])
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"--payload {spec}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--payload {spec}: cannot read it: {getattr(exc, 'strerror', None) or exc}") from None
    if not text.strip():
        raise ValueError(f"--payload {spec}: the file is empty")
    if path.suffix.lower() != ".jsonl":
        return (check_json(text, f"--payload {spec}"),)
    bodies = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if len(bodies) > MAX_PAYLOADS:
        raise ValueError(f"--payload {spec}: {len(bodies)} bodies, more than MAX_PAYLOADS={MAX_PAYLOADS}")
    return tuple(check_json(line, f"--payload {spec} line {n}") for n, line in bodies)


def url_fields(url: str) -> list[str]:
    """The `{name}` placeholders of a URL: filled per request from the payload's fields (request_parts)."""
    return [name for _, name, _, _ in string.Formatter().parse(url) if name is not None]


def check_url_fields(url: str, payloads: tuple[str, ...]) -> None:
    """Every placeholder named, and a field of every payload object; ValueError (one line) otherwise."""
    fields = url_fields(url)
    if "" in fields:
        raise ValueError(f"--url {url}: a placeholder needs a name, e.g. {{q}}, filled from each payload's q")
    for k, payload in enumerate(payloads):
        value = json.loads(payload)
        missing = [f for f in fields if not isinstance(value, dict) or f not in value]
        if missing:
            raise ValueError(f"--url {url}: payload {k + 1} has no field {', '.join(missing)} (each body in "
                             "--payload must be a JSON object with every {name} of the URL)")


BODILESS = ("GET", "HEAD", "DELETE", "OPTIONS")


def request_parts(url: str, method: str, payload: str) -> tuple[str, bytes | None]:
    """The URL and body of the request that sends `payload`. Without placeholders, the URL as given and the
    payload as the body. With them (`/search?q={q}`: a query that varies per request, trial I), each `{name}`
    takes the payload's field, URL-quoted, and a GET sends no body."""
    fields = url_fields(url)
    if not fields:
        return url, payload.encode()
    value = json.loads(payload)
    filled = url.format(**{f: quote(str(value[f]), safe="") for f in fields})
    return filled, None if method in BODILESS else payload.encode()


def check_json(text: str, where: str) -> str:
    """The body as given (sent byte for byte), once it parses: the requests say Content-Type: application/json."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    return text


# ---------------------------------------------------------------- 2. the single execution: one level
def measure_level(level: LoadLevel, replicate: int, db: str, server_pid: int, experiment_version: str,
                  before: str = "{}") -> dict:
    """Send one load level, log one row per request, return the level's summary (its `levels` row).

    `before` is what the caller measured just before this level (settle, client overhead, the repeat and
    position in the run order), as JSON text: the arguments must be primitives to keep the cache key stable.
    Raises when nothing could be measured, so xetrack logs an error row and the next run retries it.
    If an earlier run stored this level's requests but died before its summary, nothing is sent again:
    the summary is rebuilt from the stored rows (without CPU, memory and settle, which were not stored).
    """
    cid = config_id(level)
    this_run: dict = {}  # known only to the process that sent the load
    if (cid, replicate, experiment_version) not in completed(db, "requests", KEY):
        with ResourceMeter(server_pid) as usage:
            results = asyncio.run(generate_load(level))
        window = sorted((r for r in results if r["scheduled_s"] >= level.warmup_s), key=lambda r: r["scheduled_s"])
        if not any(r["error"] == "" for r in window):
            example = window[0]["error"] if window else "no request was sent"
            raise RuntimeError(f"all {len(window)} requests failed, e.g. {example}")
        # The pool itself is on the levels row (endpoint_payloads); a request names its body by payload_id.
        fixed = {k: v for k, v in config_columns(level).items() if k != "endpoint_payloads"}
        fixed = {"config_id": cid, **fixed, "replicate": replicate}
        requests = Tracker(db, table="requests", params=version_columns(experiment_version))
        log_batch_verified(requests, [{**fixed, "seq": i, **r} for i, r in enumerate(window)])
        this_run = {"n_warmup": len(results) - len(window), **usage}
    # Summarise what is stored, so every number can be recomputed from the database.
    stored = stored_requests(db, cid, replicate, experiment_version)
    return {"replicate": replicate, **summarize(stored, level), **this_run, **json.loads(before)}


KEY = ["config_id", "replicate", "experiment_version"]  # one measurement; each version is measured anew


def version_columns(experiment_version: str) -> dict:
    """On every row of both tables. The git commit is the current directory's: the user's project."""
    return provenance(root=Path.cwd(), experiment_version=experiment_version)


def make_client(connection: str, pool_size: int, timeout_s: float) -> httpx.AsyncClient:
    """The client of one level. KEEPALIVE keeps up to `pool_size` connections open and reuses them; CLOSE keeps
    none, so each request connects anew (with `Connection: close` sent, the server closes it too)."""
    keep = pool_size if connection == KEEPALIVE else 0
    limits = httpx.Limits(max_connections=pool_size, max_keepalive_connections=keep)
    # trust_env=False: a proxy from the environment would be measured instead of the server.
    return httpx.AsyncClient(limits=limits, timeout=timeout_s, trust_env=False)


async def generate_load(level: LoadLevel) -> list[dict]:
    async with make_client(level.connection, level.pool_size, level.endpoint.timeout_s) as client:
        async def send(t0: float, offset: float, k: int) -> dict:
            return await send_one(client, level.endpoint, level.connection, t0, offset, k)

        total_s = level.warmup_s + level.duration_s
        if level.mode == OPEN:
            return await open_loop(send, arrival_offsets(level), level.max_in_flight)
        return await closed_loop(send, level.concurrency, total_s)


def arrival_offsets(level: LoadLevel) -> np.ndarray:
    """Intended send times, in seconds from the start of the level (warm-up included)."""
    total_s = level.warmup_s + level.duration_s
    if level.arrival == "constant":
        return np.arange(round(level.rate * total_s)) / level.rate
    gaps = np.random.default_rng(level.seed).exponential(1 / level.rate, int(2 * level.rate * total_s) + 100)
    offsets = np.cumsum(gaps)  # twice the expected count: running short is vanishingly unlikely
    return offsets[offsets < total_s]


async def open_loop(send, offsets: np.ndarray, max_in_flight: int) -> list[dict]:
    t0 = time.perf_counter() + 0.01
    pending: set[asyncio.Task] = set()
    tasks, dropped = [], []
    for k, offset in enumerate(offsets):
        offset = float(offset)
        delay = t0 + offset - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(pending) >= max_in_flight:  # bounded client: drop and count it rather than queue it unseen
            dropped.append(failed_row(t0, offset, time.perf_counter(), f"dropped: {max_in_flight} in flight", -1))
            continue
        task = asyncio.create_task(send(t0, offset, k))
        pending.add(task)
        task.add_done_callback(pending.discard)
        tasks.append(task)
    return list(await asyncio.gather(*tasks)) + dropped


async def closed_loop(send, concurrency: int, total_s: float) -> list[dict]:
    t0 = time.perf_counter()
    rows: list[dict] = []
    sent = iter(range(MAX_REQUESTS_PER_LEVEL))  # request k in send order: it picks the body

    async def client() -> None:
        while (now := time.perf_counter()) < t0 + total_s and (k := next(sent, None)) is not None:
            rows.append(await send(t0, now - t0, k))  # intended == actual: a closed loop has no schedule to miss

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return rows


async def send_one(client: httpx.AsyncClient, endpoint: Endpoint, connection: str, t0: float, offset: float,
                   k: int) -> dict:
    """Request k, intended at t0 + offset. `scheduled_s` is the offset itself, so the warm-up cut is exact."""
    payload_id = k % len(endpoint.payloads)  # a fixed cycle: the same schedule sends the same bodies
    headers = {"Content-Type": "application/json", **({"Connection": "close"} if connection == CLOSE else {})}
    url, body = endpoint.requests[payload_id]
    intended, sent = t0 + offset, time.perf_counter()
    try:
        response = await client.request(endpoint.method, url, headers=headers, content=body)
    except httpx.HTTPError as exc:
        return failed_row(t0, offset, sent, f"{type(exc).__name__}: {exc}".rstrip(": "), payload_id)
    done = time.perf_counter()
    return {"scheduled_s": offset, "sent_s": sent - t0, "sent_unix": wall_clock(sent),
            "send_lag_ms": (sent - intended) * 1e3, "latency_ms": (done - intended) * 1e3,
            "latency_from_send_ms": (done - sent) * 1e3, "payload_id": payload_id,
            "status": response.status_code, "bytes": len(response.content),
            # what crossed the network: `bytes` is the body as decoded (httpx undoes gzip; trial B compared gzip
            # on and off and saw the same `bytes` for both)
            "wire_bytes": response.num_bytes_downloaded,
            "content_encoding": response.headers.get("content-encoding", ""),
            "response_body": body_head(response.content),
            "error": "" if response.is_success else f"HTTP {response.status_code}"}


def body_head(content: bytes) -> str:
    """The first RESPONSE_BODY_BYTES of a reply, and how long it was when cut: enough to see what came back
    (an error page, a wrong answer) without storing every reply whole."""
    head = content[:RESPONSE_BODY_BYTES].decode("utf-8", errors="replace")
    return head if len(content) <= RESPONSE_BODY_BYTES else f"{head}...[cut: {len(content)} bytes]"


def wall_clock(perf: float) -> float:
    """Unix seconds of a perf_counter instant: lines requests up with server logs and periodic events across
    levels and processes (`sent_s` counts from each level's own start)."""
    return time.time() - (time.perf_counter() - perf)


def failed_row(t0: float, offset: float, sent: float, error: str, payload_id: int) -> dict:
    intended, done = t0 + offset, time.perf_counter()
    # NaN, not None: a float keeps the column REAL even if this is the first row ever logged (stored as NULL)
    return {"scheduled_s": offset, "sent_s": sent - t0, "sent_unix": wall_clock(sent),
            "send_lag_ms": (sent - intended) * 1e3,
            "latency_ms": float("nan") if error.startswith("dropped") else (done - intended) * 1e3,
            "latency_from_send_ms": float("nan"), "payload_id": payload_id, "status": 0, "bytes": 0,
            "wire_bytes": 0, "content_encoding": "", "response_body": "", "error": error}


class ResourceMeter(dict):
    """CPU (% of one core) and resident memory of this client and, if its pid is known, of the server."""

    def __init__(self, server_pid: int):
        super().__init__()
        self.procs = {"client": psutil.Process()}
        if server_pid > 0 and psutil.pid_exists(server_pid):
            self.procs["server"] = psutil.Process(server_pid)

    def __enter__(self) -> ResourceMeter:
        self.start = time.perf_counter()
        self.cpu = {name: sum(p.cpu_times()[:2]) for name, p in self.procs.items()}
        return self

    def __exit__(self, *exc) -> None:
        wall = time.perf_counter() - self.start
        for name, proc in self.procs.items():
            try:
                self[f"{name}_cpu_pct"] = 100 * (sum(proc.cpu_times()[:2]) - self.cpu[name]) / wall
                self[f"{name}_rss_mb"] = proc.memory_info().rss / 2**20
            except psutil.Error:  # the server went away: its usage is unknown, not zero
                pass


PERCENTILES = {"p50_ms": 50, "p90_ms": 90, "p95_ms": 95, "p99_ms": 99, "p999_ms": 99.9}


def summarize(rows: list[dict], level: LoadLevel) -> dict:
    ok = [r for r in rows if r["error"] == ""]
    latency = np.array([r["latency_ms"] for r in ok])
    from_send = np.array([r["latency_from_send_ms"] for r in ok])
    summary = {
        "n_measured": len(rows), "n_ok": len(ok),
        "n_dropped": sum(r["error"].startswith("dropped") for r in rows),
        "n_late": sum(r["send_lag_ms"] > LATE_AFTER_MS for r in rows),
        "error_rate": (len(rows) - len(ok)) / len(rows),
        "offered_rps": len(rows) / level.duration_s, "achieved_rps": len(ok) / level.duration_s,
        **{name: np.percentile(latency, q, method="linear") for name, q in PERCENTILES.items()},
        "max_ms": latency.max(),
        # From the actual send: what a closed-loop tool would report. A gap to the above is stall time.
        "from_send_p50_ms": np.percentile(from_send, 50), "from_send_p99_ms": np.percentile(from_send, 99),
        "late_after_ms": LATE_AFTER_MS, "payload_pool_size": len(level.endpoint.payloads),
        "send_lag_max_ms": max(r["send_lag_ms"] for r in rows),
        **tail_lateness(ok, latency),
    }
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in summary.items()}


def tail_lateness(ok: list[dict], latency: np.ndarray) -> dict:
    """How many of the slowest successful requests (p99 and above) left the client late. Latency counts from the
    intended send time, so a client that falls behind its schedule (its own CPU, or a machine it shares with the
    service) lengthens the tail by itself; when most of the tail was sent late, the tail is partly the client's."""
    if not ok:
        return {"tail_n": 0, "tail_late": 0}
    tail = latency >= np.percentile(latency, 99, method="linear")
    late = np.array([r["send_lag_ms"] > LATE_AFTER_MS for r in ok])
    return {"tail_n": int(tail.sum()), "tail_late": int((tail & late).sum())}


def stored_requests(db: str, cid: str, replicate: int, experiment_version: str) -> list[dict]:
    con = connect_readonly(db)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(
            'SELECT error, latency_ms, latency_from_send_ms, send_lag_ms FROM "requests" '
            "WHERE config_id = ? AND replicate = ? AND experiment_version = ?", [cid, replicate, experiment_version])]
    finally:
        con.close()


# ---------------------------------------------------------------- 3. before each level: settle, and the client's own cost
SETTLE_PROBES = 3  # consecutive fast answers that count as settled
SETTLE_GAP_S = 0.02  # between probes: a service working off a backlog should not be kept busy by them
SETTLE_SLACK_MS = 5.0  # "fast" is never tighter than the fastest probe plus this: loopback jitter is ~ms


@dataclass
class Settler:
    """Waits, before a level, until the service answers fast SETTLE_PROBES times in a row, for at most `max_s`.

    Without it, the backlog an overloaded level leaves in the server's queues is measured as the next level's
    latency. Fast = under `threshold_ms` when given, else under twice the fastest probe of this run (the best
    estimate of the idle latency, never tighter than SETTLE_SLACK_MS over it). `probe()` returns one request's
    latency in ms, inf for an error reply, None when nothing listens (then there is nothing to wait for).
    """

    probe: Callable[[], float | None]
    max_s: float
    threshold_ms: float | None = None
    fastest_ms: float = math.inf
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def limit_ms(self) -> float:
        if self.threshold_ms is not None:
            return self.threshold_ms
        return max(2 * self.fastest_ms, self.fastest_ms + SETTLE_SLACK_MS)

    def settle(self) -> dict:
        if self.max_s <= 0:
            return {"settle_outcome": "off", "settle_s": 0.0, "settle_probes": 0}
        start, recent, probes, outcome = self.clock(), [], 0, "capped"
        while True:
            latency = self.probe()
            probes += 1
            if latency is None:
                outcome = "unreachable"
                break
            self.fastest_ms = min(self.fastest_ms, latency)
            recent = [*recent, latency][-SETTLE_PROBES:]
            if len(recent) == SETTLE_PROBES and max(recent) <= self.limit_ms():
                outcome = "settled"
                break
            if self.clock() - start >= self.max_s:
                break
            self.sleep(SETTLE_GAP_S)
        limit = self.limit_ms()
        return {"settle_outcome": outcome, "settle_s": self.clock() - start, "settle_probes": probes,
                "settle_threshold_ms": limit if math.isfinite(limit) else float("nan")}


def http_probe(endpoint: Endpoint, timeout_s: float) -> Callable[[], float | None]:
    """One request like the load's (first body), on a connection of its own, closed after it: a probe must not
    hold a connection that a single-worker server would then serve instead of the load's."""
    def probe() -> float | None:
        start = time.perf_counter()
        try:
            url, body = endpoint.requests[0]
            reply = httpx.request(endpoint.method, url, content=body,
                                  headers={"Content-Type": "application/json", "Connection": "close"},
                                  timeout=timeout_s, trust_env=False)
        except httpx.ConnectError:
            return None
        except httpx.HTTPError:  # timed out: as slow as it gets
            return math.inf
        return (time.perf_counter() - start) * 1e3 if reply.is_success else math.inf
    return probe


CALIBRATION_REQUESTS, CALIBRATION_WARMUP = 200, 20
# A null endpoint: asyncio streams answering every request with an empty 200 at once, in its own process (so
# it does not compete with the client for the GIL); it exits when the template closes its stdin or dies.
NULL_SERVER = r"""
import asyncio, sys
async def handle(reader, writer):
    try:
        while True:
            head = (await reader.readuntil(b"\r\n\r\n")).lower()
            sizes = [int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.startswith(b"content-length:")]
            await reader.readexactly(sizes[0] if sizes else 0)
            close = b"connection: close" in head
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n" + (b"Connection: close\r\n" if close else b"")
                         + b"\r\n")
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
asyncio.run(main())
"""


@contextmanager
def null_server():
    """The null endpoint's URL, while it runs."""
    with subprocess.Popen([sys.executable, "-c", NULL_SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as proc:
        try:
            port = proc.stdout.readline().strip()
            if not port.isdigit():
                raise RuntimeError(f"the calibration's null endpoint did not start: "
                                   f"{proc.stderr.read().decode()[-300:]}")
            yield f"http://127.0.0.1:{int(port)}/null"
        finally:
            proc.stdin.close()  # its signal to exit
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


def calibrate(connections: list[str], endpoint: Endpoint) -> dict[str, dict]:
    """Per connection model, the client's own time per request: sequential requests with the level's bodies to
    a null endpoint on loopback, timed as the load is. It is in every latency the load measures, at least (more
    when the client is busy); it is reported beside the results and never subtracted."""
    out = {}
    with null_server() as url:
        target = dataclasses.replace(endpoint, url=url, timeout_s=5.0)
        for connection in connections:
            latencies = asyncio.run(null_latencies(connection, target))
            out[connection] = {"client_overhead_p50_ms": float(np.percentile(latencies, 50)),
                               "client_overhead_p99_ms": float(np.percentile(latencies, 99))}
    return out


async def null_latencies(connection: str, endpoint: Endpoint) -> np.ndarray:
    async with make_client(connection, 1, endpoint.timeout_s) as client:
        rows = [await send_one(client, endpoint, connection, time.perf_counter(), 0.0, k)
                for k in range(CALIBRATION_WARMUP + CALIBRATION_REQUESTS)]
    failed = [r["error"] for r in rows if r["error"]]
    if failed:
        raise RuntimeError(f"calibration against the null endpoint failed: {failed[0]}")
    return np.array([r["latency_from_send_ms"] for r in rows[CALIBRATION_WARMUP:]])


def overhead_warning(overhead: dict[str, dict], thresholds_ms: list[float]) -> str | None:
    """One line when the client's own p99 is a material share (10 % or more) of the objective's tightest
    latency threshold: near the limit, the verdict is then partly about the client."""
    if not thresholds_ms or not overhead:
        return None
    tightest = min(thresholds_ms)
    connection, worst = max(((c, o["client_overhead_p99_ms"]) for c, o in overhead.items()), key=lambda x: x[1])
    if worst < 0.1 * tightest:
        return None
    # what would cost less: keepalive only where the worst was the connection-per-request model (trial L: the
    # advice said keepalive to a run that used it)
    cheaper = {CLOSE: "keepalive, or a client on another machine,", KEEPALIVE: "a client on another machine"}
    return (f"{PROG}: warning: the client's own p99 with {connection} connections ({worst:.1f} ms) is "
            f"{worst / tightest:.0%} of the objective's {tightest:g} ms, and it is inside every latency: near the "
            f"limit the verdict is partly the client's ({cheaper[connection]} costs less)")


# ---------------------------------------------------------------- 4. the loop
@dataclass(frozen=True)
class Job:
    level: LoadLevel
    replicate: int
    repeat: int = 0  # which pass over the level list
    position: int = 0  # place in that pass's order
    rebuild: bool = False  # requests stored, summary lost in a crash: summarise them, send nothing


def run_order(levels: list[LoadLevel], repeats: int) -> list[tuple[int, int, LoadLevel]]:
    """(repeat, position, level): even passes in the given order, odd ones reversed, so a drift over the run
    (warming caches, a filling disk, a neighbour's load) does not line up with the rate; statistics.md says why."""
    return [(r, p, level) for r in range(repeats) for p, level in enumerate(levels if r % 2 == 0 else levels[::-1])]


def plan(levels: list[LoadLevel], db: Path, rerun: bool, experiment_version: str,
         repeats: int = 1) -> tuple[list[Job], list[LoadLevel]]:
    """What to run now, in run order, and which levels the database already holds in this version.

    Repeat r of a level is its replicate r (with --rerun: counted on from the last stored one), so a killed run
    resumes with the missing repeats and a re-run sends nothing."""
    stored = completed(db, "requests", KEY)
    summarized = completed(db, "levels", KEY)
    replicates = {config_id(lv): sorted(r for c, r, v in stored if (c, v) == (config_id(lv), experiment_version))
                  for lv in levels}
    base = {cid: reps[-1] + 1 if rerun and reps else 0 for cid, reps in replicates.items()}
    jobs, scheduled = [], set()
    for repeat, position, level in run_order(levels, repeats):
        cid = config_id(level)
        replicate = base[cid] + repeat
        scheduled.add((cid, replicate))
        if (cid, replicate, experiment_version) not in summarized:
            jobs.append(Job(level, replicate, repeat, position, rebuild=replicate in replicates[cid]))
    orphans = [Job(level, r, rebuild=True) for level in levels for r in replicates[config_id(level)]
               if (config_id(level), r) not in scheduled and (config_id(level), r, experiment_version) not in summarized]
    with_jobs = {config_id(j.level) for j in jobs + orphans}
    return orphans + jobs, [lv for lv in levels if config_id(lv) not in with_jobs]


class Session:
    """What the levels of one run share: the levels table, the settle probe, the client-overhead calibration."""

    def __init__(self, args: argparse.Namespace, db: Path, server_pid: int, sending: list[LoadLevel],
                 thresholds_ms: list[float]):
        self.args, self.db, self.server_pid = args, db, server_pid
        self.tracker = Tracker(str(db), table="levels", params=version_columns(args.experiment_version))
        self.failures: list[LoadLevel] = []
        self.overhead = calibrate(sorted({lv.connection for lv in sending}), sending[0].endpoint) if sending else {}
        warning = overhead_warning(self.overhead, thresholds_ms)
        if warning:
            print(warning, file=sys.stderr)
        endpoint = sending[0].endpoint if sending else Endpoint()
        self.settler = Settler(http_probe(endpoint, min(endpoint.timeout_s, max(args.settle_max, 0.1))),
                               args.settle_max, args.settle_ms)

    def measure(self, job: Job) -> bool:
        """One level through track_cached; False (and an error row) when nothing could be measured."""
        before = {"repeat": job.repeat, "order_position": job.position,
                  # what started the service, on its row (trial Y: WORKERS=12 was recorded nowhere but in --name)
                  **({"server_cmd": self.args.server_cmd} if self.args.server_cmd else {})}
        if not job.rebuild:
            before |= {**self.settler.settle(), **self.overhead.get(job.level.connection, {})}
            if before["settle_outcome"] == "capped":
                print(f"{PROG}: warning: {job.level.describe()}: the service did not answer fast "
                      f"{SETTLE_PROBES} times in a row within --settle-max {self.args.settle_max:g} s; measured "
                      "anyway (settle_outcome = capped on its row)", file=sys.stderr)
        try:
            track_cached(self.tracker, measure_level, job.level, replicate=job.replicate, db=str(self.db),
                         server_pid=self.server_pid, experiment_version=self.args.experiment_version,
                         before=json.dumps(before))
            return True
        except Exception as exc:  # one failed level must not stop the others; it is an error row
            self.failures.append(job.level)
            print(f"{PROG}: level failed: {job.level.describe()}: {exc}", file=sys.stderr)
            return False


def run(args: argparse.Namespace, levels: list[LoadLevel], judge: SloJudge | None) -> int:
    db = Path(args.db).resolve()
    jobs, skipped = plan(levels, db, args.rerun, args.experiment_version, args.repeats)
    if skipped:
        print(f"skipping {len(skipped)} level(s) already measured in {db.name}: "
              f"{', '.join(lv.describe() for lv in skipped)} (pass --rerun to measure them again)")
    failures, this_run = [], None
    if jobs:
        with server_for(args) as server_pid:
            session = Session(args, db, server_pid, [j.level for j in jobs if not j.rebuild],
                              judge.thresholds_ms if judge else [])
            for job in progress(jobs, label="load levels"):
                session.measure(job)
            failures, this_run = session.failures, session.tracker.track_id
    print_summary(db, levels, args.experiment_version, this_run)
    if judge:
        print_verdicts(judge, db, levels, args.experiment_version)
    print(f"\nDatabase: {db}  (tables: requests = one row per request, levels = one row per load level)")
    print_next_steps(db, args)
    if failures:
        print(f"{len(failures)} level(s) failed and were logged as error rows; run again to retry only them.")
        return 1
    return 0


def print_next_steps(db: Path, args: argparse.Namespace) -> None:
    version = f"experiment_version={args.experiment_version}"
    print(next_steps([
        ("can the rows be trusted? (duplicates, failures, versions)",
         script_command("validate_benchmark.py", db, "requests", "--filter", version)),
        ("per level: p50/p95/p99 with intervals, a verdict against your objective, the highest rate that meets"
         + ("" if args.slo else " (p99<50ms is an example: put yours)"),  # trial W pasted the example as given
         script_command("export_summary.py", db, "requests", "--version", args.experiment_version,
                        "--slo", args.slo or "p99<50ms")),
    ]))
    print(f"  (how to read it: {skill_file('references', 'load-testing.md')})")


def stored_levels(db: Path, levels: list[LoadLevel], experiment_version: str) -> list[dict]:
    """The `levels` rows of these levels in this version, in the order they were measured."""
    wanted = {config_id(level) for level in levels}
    if "levels" not in sqlite_tables(db):
        return []
    con = connect_readonly(db)
    con.row_factory = sqlite3.Row
    try:
        rows = map(dict, con.execute("SELECT * FROM \"levels\" WHERE error = '' ORDER BY timestamp"))
        return [r for r in rows if r["config_id"] in wanted and r.get("experiment_version") == experiment_version]
    finally:
        con.close()


def print_summary(db: Path, levels: list[LoadLevel], experiment_version: str, this_run: str | None = None) -> None:
    """Every stored row of these levels; with `this_run` (the run's track_id), rows another run measured (the
    replicates a --rerun adds to) are marked '(earlier run)', as the verdicts are (trial L)."""
    names = {config_id(level): level.describe() for level in levels}
    rows = stored_levels(db, levels, experiment_version)
    if not rows:
        print("no load level measured yet")
        return
    shown = [names[r["config_id"]] + (" (earlier run)" if this_run and r.get("track_id") != this_run else "")
             for r in rows]
    width = max(36, *map(len, shown))
    header = f"{'level':{width}} {'rep':>3} {'n':>6} {'ok/s':>7} {'err%':>5} {'p50':>7} {'p90':>7} {'p95':>7} {'p99':>7} " \
             f"{'p99.9':>7} {'max':>7} {'late':>5} {'drop':>5} {'settle':>7} {'cpu% c/s':>9}"
    print(header + "\n" + "-" * len(header) + "   (latency in ms from the intended send time)")
    for r, name in zip(rows, shown, strict=True):
        cpu = "/".join(f"{r[k]:.0f}" if r.get(k) is not None else "?"  # unknown, not zero
                       for k in ("client_cpu_pct", "server_cpu_pct"))
        settle = "?" if r.get("settle_s") is None else f"{r['settle_s']:.1f}s" + \
            ("!" if r.get("settle_outcome") == "capped" else "")
        print(f"{name:{width}} {r['replicate']:>3} {r['n_measured']:>6} "
              f"{r['achieved_rps']:>7.1f} {100 * r['error_rate']:>5.1f} {r['p50_ms']:>7.2f} {r['p90_ms']:>7.2f} "
              f"{r.get('p95_ms', math.nan):>7.2f} {r['p99_ms']:>7.2f} {r['p999_ms']:>7.2f} {r['max_ms']:>7.2f} {r['n_late']:>5} {r['n_dropped']:>5} "
              f"{settle:>7} {cpu:>9}")
    if any(r.get("settle_outcome") == "capped" for r in rows):
        print("settle: ! = the service was still slow when --settle-max ran out; that level may carry a backlog")
    print_client_lag(rows, names)
    print_calibration({r["connection"]: r for r in rows if r.get("client_overhead_p99_ms") is not None})


def print_client_lag(rows: list[dict], names: dict[str, str]) -> None:
    """A warning for each level whose tail was mostly sent late: its p99 may be the client's, not the service's."""
    for r in rows:
        n, late = r.get("tail_n"), r.get("tail_late")
        if not n or late is None or n < LAG_TAIL_MIN or 2 * late < n:
            continue
        cpu = "" if r.get("client_cpu_pct") is None else f", client CPU {r['client_cpu_pct']:.0f} % of a core"
        print(f"warning: {names[r['config_id']]} (rep {r['replicate']}): {late} of its {n} slowest requests (p99 "
              f"and above) left the client more than {r['late_after_ms']:g} ms late (send lag up to "
              f"{r['send_lag_max_ms']:.1f} ms{cpu}). The client fell behind its schedule (its own CPU, or a machine "
              "shared with the service), so part of that tail is the client's delay. latency_from_send_ms leaves "
              "the lag out; a client on its own cores or machine tells the two apart.")


def print_calibration(overhead: dict[str, dict]) -> None:
    for connection, o in sorted(overhead.items()):
        print(f"client overhead, {connection}: p50 {o['client_overhead_p50_ms']:.2f} ms, p99 "
              f"{o['client_overhead_p99_ms']:.2f} ms per request (null endpoint on loopback; inside every latency "
              "above, not subtracted)")


def sqlite_tables(db: Path) -> set[str]:
    if not db.exists():
        return set()
    con = connect_readonly(db)
    try:
        return {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        con.close()


# ---------------------------------------------------------------- 5. the objective, and the capacity search
SEARCH_START, SEARCH_CEILING, SEARCH_FACTOR = 100.0, 3200.0, 2.0  # requests/s: geometric steps up from START
SEARCH_FLOOR_STEPS = 3  # below START, at most this many steps down (to START / 8) when START already fails
SEARCH_NARROW = 1.1  # done when the lowest rate that fails is within 10 % of the highest that meets
CLIENT_LIMITED = "client-limited"  # next_rate's verdict for a level the client fell behind on (it did not meet)
SEARCH_MIN_S = 5.0  # a search level's length unless --duration says otherwise: export's intervals need five 1-s blocks
SEARCH_LONGER = 3.0  # an undecided rate is measured once more, this many times as long: its interval narrows by
#                      about sqrt(3), enough to decide a share that was not right at the allowed one
TAIL_BREAKS = 5  # a level lasts long enough for 5 allowed breaks (500 requests for p99): with fewer, even a
#                  clean level cannot "meet" (the exact interval of 0 of n stays above 1 % until n > 368)


# export_summary's warnings a load test must not hide (non-monotone levels: print_bracket says it)
SLO_FINDINGS = ("slo-short-levels", "slo-repeats-disagree")


def print_slo_findings(judge: SloJudge) -> None:
    """export_summary's warnings about the levels just judged (too short for their intervals), as it words
    them: the search and the sweep print its verdicts, so its warnings about them too."""
    for f in judge.findings:
        print(f"warning: {f['message']} {f['hint']}")
        for example in f["examples"]:  # which levels (trial L: "1 levels have a repeat ..." named none)
            print(f"  - {example}")


def print_version_split(verdicts: list[dict], db: Path, searched: bool) -> None:
    """Levels of this experiment_version whose rows carry different values of another version column (a git
    commit made during the run: trial V committed a log file and its levels split in two). This template keys
    levels by experiment_version, so a search steps over them all (`searched`); export_summary, and the sweep's
    brackets from it, keep each version apart, with a capacity each. Say so, and how to report one."""
    versions = [v["version"] for v in verdicts if v.get("version")]
    differ = [k for k in dict.fromkeys(k for v in versions for k in v) if len({str(v.get(k)) for v in versions}) > 1]
    if not differ:
        return
    counts = collections.Counter(", ".join(f"{k}={v.get(k)}" for k in differ) for v in versions)
    listed = "; ".join(f"{value} ({n} level{'s' * (n > 1)})" for value, n in counts.items())
    used = ("The search stepped over them all as one service; export_summary reports each version on its own, "
            "with a capacity each." if searched else "Each version's levels have their own capacity above.")
    print(f"warning: these levels were measured in {len(counts)} versions ({listed}): {', '.join(differ)} changed "
          f"during the run (a commit?). {used} If the change touched the service, re-measure (--rerun); to report "
          f"one version: {script_command('export_summary.py', db, 'requests', '--version', 'VALUE')}. A build "
          "added later to compare with these: its own --name and a new --experiment-version (load-testing.md).")


class SloJudge:
    """The objective and its verdicts, from the skill's export_summary: one implementation, found through the
    skill folder benchkit knows (scripts/new_benchmark.py records it in a copied template)."""

    def __init__(self, objective: str):
        self.objective = objective
        self.findings: list[dict] = []  # SLO_FINDINGS of the last report
        self.load = skill_module("_bench.summary.load")
        self.summary = skill_module("export_summary")
        try:
            self.clauses = self.load.parse_slo(objective)
        except Exception as exc:  # export_summary's InputError: its message is the one-line usage error
            raise ValueError(str(exc)) from None
        self.thresholds_ms = [c.threshold_ms for c in self.clauses if c.kind == "latency"]
        self.min_requests = math.ceil(TAIL_BREAKS / min(c.allowed for c in self.clauses))

    def report(self, db: Path, experiment_version: str, levels: list[LoadLevel]) -> dict:
        """export_summary's --json `slo` over every level of this version in the database (earlier runs too),
        each level with `level` (its LoadLevel) when it is one of `levels`, else None."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = self.summary.main([str(db), "requests", "--version", experiment_version, "--slo", self.objective,
                                      "--json"])
        if code == 2:
            raise RuntimeError(f"export_summary.py --slo: {err.getvalue().strip() or out.getvalue()[-300:]}")
        doc = json.loads(out.getvalue())
        self.findings = [f for f in doc["findings"] if f["check_id"] in SLO_FINDINGS]
        slo = doc["slo"]
        by_id = {config_id(level): level for level in levels}
        for lv in slo["levels"]:
            lv["level"] = next((by_id[k] for k in lv["key"] if k in by_id), None)
        return slo

    def levels(self, db: Path, experiment_version: str, levels: list[LoadLevel]) -> list[dict]:
        """export_summary's per-level verdicts for these levels only, each with `level`."""
        return [lv for lv in self.report(db, experiment_version, levels)["levels"] if lv["level"] is not None]

    def capacity(self, verdicts: list[dict]) -> tuple[dict | None, dict | None, list[str]]:
        return self.load.capacity(verdicts)


def level_bound_s(rate: float, warmup_s: float) -> float:
    """The longest measured window a level at `rate` may have: MAX_LEVEL_SECONDS and MAX_REQUESTS_PER_LEVEL,
    warm-up included, rounded down to 0.1 s so float error cannot push the level past either bound."""
    return math.floor(10 * (min(MAX_LEVEL_SECONDS, MAX_REQUESTS_PER_LEVEL / rate) - warmup_s)) / 10


def search_level(base: LoadLevel, rate: float, min_requests: int) -> LoadLevel:
    """A constant-rate level at `rate`, long enough for `min_requests` (within the per-level bounds)."""
    duration = min(max(base.duration_s, math.ceil(10 * min_requests / rate) / 10), level_bound_s(rate, base.warmup_s))
    return dataclasses.replace(base, mode=OPEN, rate=rate, arrival="constant", concurrency=0, duration_s=duration)


def longer_level(level: LoadLevel) -> LoadLevel | None:
    """`level` measured SEARCH_LONGER times as long (within the bounds), or None when the bounds leave too little
    room for the interval to narrow noticeably (less than half as long again)."""
    duration = min(SEARCH_LONGER * level.duration_s, level_bound_s(level.rate, level.warmup_s))
    return dataclasses.replace(level, duration_s=duration) if duration >= 1.5 * level.duration_s else None


def deciding(verdicts: list[dict]) -> list[dict]:
    """One verdict per rate, by rate: the level with the most requests (ties: the later in the list).

    A search re-measures an undecided rate with a longer level, which is another configuration (its duration_s
    differs), so a rate can have two verdicts. The longer level's interval is the narrower one, so it speaks for
    the rate; pooling the two is export_summary's business (it keeps configurations apart). Its capacity comes
    out the same as long as only undecided levels are outweighed, since it passes over those anyway."""
    best: dict[float, dict] = {}
    for v in verdicts:
        if v["rate"] not in best or v.get("requests", 0) >= best[v["rate"]].get("requests", 0):
            best[v["rate"]] = v
    return [best[rate] for rate in sorted(best)]


def next_rate(verdicts: dict[float, str], meets_at: float | None, start: float, ceiling: float,
              lengthened: Collection[float] = ()) -> tuple[float | None, str]:
    """The next offered rate of a capacity search and why ('longer', 'up', 'down', 'bisect'), or None and why
    it is done ('undecided', 'ceiling', 'floor', 'narrow').

    `verdicts` maps each tested rate to its verdict (the deciding level's; CLIENT_LIMITED where the client fell
    behind its schedule and the level did not meet: this client cannot drive the service there, so the search
    bisects between the capacity and that rate, raising the "at least", and stops, 'client', once they are within
    SEARCH_NARROW), `meets_at` is export_summary's capacity (the highest rate that meets with no lower rate
    failing), `lengthened` the rates already re-measured longer. An undecided rate is re-measured once, longer:
    its verdict decides which way to go, and stepping past it or bisecting around it would treat "cannot tell" as
    a pass or a failure. Still
    undecided, it counts as neither (a tail that varies between measurements, such as periodic stalls, can stay
    undecided at any length) and the search goes on around it from the decided rates: no failure, step up
    geometrically from the highest tested rate to the ceiling; failures but nothing meets, step down to the
    floor (START / 8); else bisect (geometrically) between the capacity and the lowest failing rate above it
    until within SEARCH_NARROW, stopping ('undecided') when the middle is a rate that stayed undecided."""
    limit = client_limit(verdicts, meets_at)  # this client cannot measure the service there, nor above
    verdicts = {r: v for r, v in verdicts.items() if v != CLIENT_LIMITED}  # below the capacity: a stall, ignored
    retry = [r for r, v in sorted(verdicts.items()) if v == "undecided" and r not in lengthened]
    if retry:
        return retry[0], "longer"
    if limit is not None:  # trial B: stopping at once left "at least 200/s" with the client fine up to ~350/s
        middle = float(f"{math.sqrt(meets_at * limit):.3g}") if meets_at else None
        if middle is None or limit / meets_at <= SEARCH_NARROW or not meets_at < middle < limit or middle in verdicts:
            return None, "client"
        return middle, "bisect"
    rates = sorted(verdicts)
    failing = [r for r in rates if verdicts[r] == "fails"]
    if not failing:
        return (min(rates[-1] * SEARCH_FACTOR, ceiling), "up") if rates[-1] < ceiling else (None, "ceiling")
    if meets_at is None:
        down = rates[0] / SEARCH_FACTOR
        return (down, "down") if down >= search_floor(start) - 1e-9 else (None, "floor")
    above = min(r for r in failing if r > meets_at)
    middle = float(f"{math.sqrt(meets_at * above):.3g}")  # three significant digits: readable, reproducible
    if above / meets_at <= SEARCH_NARROW or not meets_at < middle < above:
        return None, "narrow"
    if middle in verdicts:  # measured already: undecided even when longer (a decided one would be an end)
        return None, "undecided" if verdicts[middle] == "undecided" else "narrow"
    return middle, "bisect"


def behind(verdict: dict) -> bool:
    """export_summary's own rule (load.client_limited) on one of its --json levels: the client fell behind and the
    level did not meet. Only verdicts, which come from export_summary, reach here: its module is there."""
    return skill_module("_bench.summary.load").client_limited(verdict)


def client_limit(verdicts: dict[float, str], meets_at: float | None) -> float | None:
    """The lowest rate the client fell behind on above the capacity and below the service's first failure there
    (export_summary's `client_limited_at`), or None."""
    failing = [r for r, v in verdicts.items() if v == "fails" and (meets_at is None or r > meets_at)]
    return min((r for r, v in verdicts.items() if v == CLIENT_LIMITED and (meets_at is None or r > meets_at)
                and (not failing or r < min(failing))), default=None)


def search_floor(start: float) -> float:
    return start / SEARCH_FACTOR**SEARCH_FLOOR_STEPS


def broken_share(clause: dict) -> str:
    """'p99<50ms broken by 0.4% [0.0, 1.2], 1% allowed': one clause of export_summary's verdict, with its interval."""
    return (f"{clause['clause']} broken by {100 * clause['share']:.1f}% [{100 * clause['low']:.1f}, "
            f"{100 * clause['high']:.1f}], {100 * clause['allowed']:g}% allowed")


def undecided_clauses(verdict: dict) -> str:
    """Each undecided clause with its interval and about how many requests in all would decide it (trial L)."""
    def to_decide(c: dict) -> str:
        needed = c.get("requests_to_decide")
        if not needed:
            return ""
        if needed <= verdict.get("requests", 0):  # trial Y3: fewer than the level already had
            return ", its broken requests come in bursts: repeat the level rather than lengthen it"
        return f", ~{needed:,} requests would decide"

    return "; ".join(broken_share(c) + to_decide(c) for c in verdict["clauses"] if c["verdict"] == "undecided")


def stop_reason(why: str, decisive: dict[float, dict], meets_at: float | None, start: float, ceiling: float,
                capped: Collection[float] = ()) -> str:
    """Why the search stopped, for next_rate's `why`, naming the rates that decided it; `capped`: undecided rates
    the bounds did not let the search measure longer."""
    rates = sorted(decisive)
    if why == "client":
        limited = client_limit({r: CLIENT_LIMITED if behind(decisive[r]) else decisive[r]["verdict"] for r in rates},
                               meets_at)
        late = decisive[limited].get("sent_late") or {}
        return (f"the client fell behind its schedule at {limited:g}/s ({late.get('requests', '?')} of the "
                f"{late.get('of', '?')} requests that broke the objective were sent more than "
                f"{late.get('after_ms', LATE_AFTER_MS):g} ms late): it cannot drive this service harder from here")
    if why == "undecided":
        above = min(r for r in rates if decisive[r]["verdict"] == "fails" and r > meets_at)
        rate = next(r for r in rates if decisive[r]["verdict"] == "undecided" and meets_at < r < above)
        v = decisive[rate]
        how = "over {} requests, and MAX_LEVEL_SECONDS or MAX_REQUESTS_PER_LEVEL allow no longer level" \
            if rate in capped else f"even over {{}} requests, measured {SEARCH_LONGER:g} times as long"
        # as long as the level that stayed undecided (trial Y3: the default --duration would have measured less)
        seconds = v["level"].duration_s if v.get("level") else round(v.get("requests", 0) / rate, 1)
        return (f"{meets_at:g}/s meets and {above:g}/s fails; {rate:g}/s between them stayed undecided "
                f"{how.format(v.get('requests', 0))} ({undecided_clauses(v)}): the limit lies in the bracket, and "
                f"repeats at {rate:g}/s (--rates {rate:g} --duration {seconds:g} --repeats 3) can tell which side")
    if why == "ceiling":
        return f"the ceiling {ceiling:g}/s was reached and every tested rate meets"
    if why == "floor":
        tail = "as does every tested rate" if all(decisive[r]["verdict"] == "fails" for r in rates) else \
            "and no rate above it meets without a lower one failing"
        return (f"the floor was reached: {rates[0]:g}/s (the start {start:g}/s over "
                f"{SEARCH_FACTOR**SEARCH_FLOOR_STEPS:g}) fails, {tail}")
    above = min(r for r in rates if decisive[r]["verdict"] == "fails" and r > meets_at)
    return (f"the bracket is narrow: {meets_at:g}/s meets and {above:g}/s fails, within "
            f"{round(100 * (SEARCH_NARROW - 1)):g} % of each other")


def run_search(args: argparse.Namespace, base: LoadLevel, judge: SloJudge) -> int:
    """Step the offered rate up, then bisect, until the bracket is narrow, the range is exhausted, the middle of
    the bracket is a rate that stayed undecided even when measured longer, or the budget is spent. Every level is an ordinary level (resumable: a
    re-run replays the same path from the database and sends nothing)."""
    db = Path(args.db).resolve()
    start, ceiling = (args.rates[0], args.rates[-1]) if args.rates else (SEARCH_START, SEARCH_CEILING)
    if args.duration is None:  # trial Y: DURATION_S's 3 s levels drew export's short-levels warning
        base = dataclasses.replace(base, duration_s=max(base.duration_s, SEARCH_MIN_S))
    first = search_level(base, start, judge.min_requests)
    if first.duration_s + first.warmup_s > args.budget:
        return usage_error(f"--budget {args.budget:g} s is less than the first level ({first.warmup_s:g} s warm-up "
                           f"+ {first.duration_s:g} s at {start:g}/s: {judge.min_requests} requests for a verdict on "
                           f"{judge.objective}); raise --budget or the start rate (--rates START,CEILING)")
    tested: list[LoadLevel] = []
    verdicts: list[dict] = []
    lengthened: set[float] = set()  # rates re-measured with a longer level (or that the bounds kept from it)
    capped: set[float] = set()  # of those, the ones the bounds kept from it
    spent, level, why, stopped = 0.0, first, "up", ""
    with contextlib.ExitStack() as stack:
        session = None
        while level is not None:
            seconds = level.duration_s + level.warmup_s
            if spent + seconds > args.budget:
                stopped = (f"the budget ran out: the next level, {'re-measuring ' if why == 'longer' else ''}"
                           f"{level.rate:g}/s for {level.duration_s:g} s + {level.warmup_s:g} s warm-up, needed "
                           f"{seconds:g} s and {args.budget - spent:g} s were left")
                break
            spent += seconds
            tested.append(level)
            jobs, _ = plan([level], db, False, args.experiment_version)
            if jobs:
                if session is None:
                    session = Session(args, db, stack.enter_context(server_for(args)), [base], judge.thresholds_ms)
                print(f"capacity search: {level.describe()} for {level.duration_s:g} s"
                      f"{' (undecided: measured again, longer)' if why == 'longer' else ''}", file=sys.stderr)
                for job in jobs:
                    session.measure(job)
            verdicts = judge.levels(db, args.experiment_version, tested)
            verdicts += all_failed(tested, verdicts)
            decisive = {v["rate"]: v for v in deciding(verdicts)}
            highest, _, _ = judge.capacity(list(decisive.values()))
            meets_at = highest and highest["rate"]
            level = None
            while level is None:
                rate, why = next_rate({r: CLIENT_LIMITED if behind(v) else v["verdict"] for r, v in decisive.items()},
                                      meets_at, start, ceiling, lengthened)
                if rate is None:
                    stopped = stop_reason(why, decisive, meets_at, start, ceiling, capped)
                    break
                if why != "longer":
                    level = search_level(base, rate, judge.min_requests)
                    break
                lengthened.add(rate)
                level = longer_level(decisive[rate]["level"])
                if level is None:
                    capped.add(rate)
    print_summary(db, tested, args.experiment_version)
    print_verdict_table(verdicts)
    print_bracket(judge, verdicts, stopped, spent, args.budget, ceiling)
    print_slo_findings(judge)
    print_version_split(verdicts, db, searched=True)
    print(f"\nDatabase: {db}  (tables: requests = one row per request, levels = one row per load level)")
    print_next_steps(db, args)
    return 1 if session is not None and session.failures else 0


def all_failed(tested: list[LoadLevel], verdicts: list[dict]) -> list[dict]:
    """Levels where no request succeeded have no request rows (their levels row is an error row): export_summary
    cannot see them, and they fail any objective. Their requests are the ones scheduled, so that such a level
    still outweighs a shorter one at its rate (see `deciding`)."""
    seen = {config_id(v["level"]) for v in verdicts}
    return [{"rate": level.rate, "verdict": "fails", "label": f"{level.describe()} (every request failed)",
             "level": level, "clauses": [], "latency_ms": {}, "requests": round(level.rate * level.duration_s)}
            for level in tested if config_id(level) not in seen]


def print_verdicts(judge: SloJudge, db: Path, levels: list[LoadLevel], experiment_version: str) -> None:
    """After a sweep with --slo: the verdict of every level of this version in the database (an earlier run's
    levels count: they are measurements of the same service), then the bracket of each series (levels that
    differ only in rate and length, as export_summary groups them: one connection model, one arrival process)."""
    slo = judge.report(db, experiment_version, levels)
    print_verdict_table(slo["levels"], [series["label"] for series in slo["series"]])
    for index, series in enumerate(slo["series"]):
        group = [v for v in slo["levels"] if v["series"] == index and v["rate"] is not None]
        if group:
            print(f"{series['label']}: ", end="")
            print_bracket(judge, group, "done", None, None, None)
    print_slo_findings(judge)
    print_version_split(slo["levels"], db, searched=False)


def level_name(verdict: dict) -> str:
    """A level's name as this run's levels are named; a level of an earlier run is rebuilt from the settings
    export_summary reports for it (its label when they do not make a LoadLevel)."""
    if verdict.get("level"):
        return verdict["level"].describe()
    cfg = verdict.get("configuration") or {}
    try:
        level = LoadLevel(cfg["mode"], rate=cfg.get("rate") or 0.0, arrival=cfg.get("arrival", "constant"),
                          concurrency=int(cfg.get("concurrency") or 0), connection=cfg.get("connection", "keepalive"),
                          endpoint=Endpoint(name=cfg.get("endpoint_name") or ""))
    except (KeyError, TypeError, ValueError):
        return f"{verdict['label']} (earlier run)"
    return f"{level.describe()} (earlier run)"


def print_verdict_table(verdicts: list[dict], series_labels: list[str] | None = None) -> None:
    """Every level's verdict; levels of several series (two deployments, two endpoints in one database) under
    their series' label, so that no two lines look alike (trial Q: an earlier run's level of the other
    deployment read exactly as this one's)."""
    print("\nverdict per level (export_summary.py --slo; 95 % intervals; share = requests that broke the clause; "
          "n = requests)")
    groups = sorted({v.get("series") for v in verdicts}, key=lambda s: (s is None, s or 0))
    for group in groups:
        if len(groups) > 1:
            print(f" {series_labels[group] if series_labels and group is not None else 'other levels'}:")
        mine = [v for v in verdicts if v.get("series") == group]
        for v in sorted(mine, key=lambda v: (v["rate"] is None, v["rate"] or 0, v.get("requests", 0), v["label"])):
            p99 = v["latency_ms"].get("p99", {})
            shares = "; ".join(f"{c['clause']}: {100 * c['share']:.1f}% [{100 * c['low']:.1f}, {100 * c['high']:.1f}]"
                               for c in v["clauses"])
            tail = f"p99 {p99['estimate']:.1f} ms" if p99.get("estimate") is not None else "no reply"
            name = level_name(v)
            said = f"{v['verdict']}*" if behind(v) else v["verdict"]
            print(f"  {name:36} {said:>10} {v.get('requests', '?'):>7}  {tail:>14}  {shares}")
    seen = {(v["rate"], v["series"]) if "series" in v else (v["rate"], v["level"].arrival, v["level"].connection)
            for v in verdicts}
    if len(seen) < len(verdicts):  # a search measured an undecided rate again, longer
        print("  (a rate measured more than once: the level with the most requests decides it)")
    if any(behind(v) for v in verdicts):
        print(f"  * the client fell behind its schedule: most requests that broke the objective were sent more than "
              f"{LATE_AFTER_MS:g} ms late, so the level cannot tell the service's limit from the client's")


def print_bracket(judge: SloJudge, verdicts: list[dict], stopped: str, spent: float | None, budget: float | None,
                  ceiling: float | None) -> None:
    """The capacity line, a line per reason some rates are undecided, and with a budget (a search) what it spent
    and `stopped`: why it stopped, as a sentence (stop_reason's, or the budget's)."""
    decisive = deciding(verdicts)
    highest, bracket, problems = judge.capacity(decisive)
    fails_at = bracket and bracket["fails_at"]
    limited = bracket and bracket.get("client_limited_at")
    by = {kind: [v["rate"] for v in decisive if v["verdict"] == kind] for kind in ("meets", "undecided", "fails")}
    tally = "; ".join(f"{kind} at {rate_list(by[kind])}" for kind in ("meets", "undecided", "fails") if by[kind])
    if limited and not fails_at:  # trial W: the client's collapse is not the service's capacity
        print(f"capacity: {client_limited_line(judge.objective, highest, limited)}")
    elif highest and fails_at:
        print(f"capacity: meets {judge.objective} at {highest['rate']:g}/s, fails at {fails_at:g}/s: the limit lies "
              "between (measure inside the bracket, longer, to narrow it)")
    elif highest and not by["undecided"]:  # with `highest` and no bracket end, nothing fails
        print(f"capacity: every tested rate meets {judge.objective} (up to {highest['rate']:g}/s); raise the ceiling "
              f"(--rates{f' START,CEILING; it was {ceiling:g}/s' if ceiling else ' with higher rates'})")
    elif highest:
        print(f"capacity: nothing fails {judge.objective}, but not every tested rate meets it: {tally}; the highest "
              f"that meets is {highest['rate']:g}/s")
    elif decisive and not by["meets"] and not by["fails"]:
        print(f"capacity: every tested rate is undecided on {judge.objective} ({rate_list(by['undecided'])})")
    elif decisive and not by["meets"] and not by["undecided"]:
        print(f"capacity: no tested rate meets {judge.objective} ({min(by['fails']):g}-{max(by['fails']):g}/s): find "
              "why before raising the load (export_summary --plot shows stalls over time)")
    elif decisive:
        print(f"capacity: no tested rate meets {judge.objective} with no lower rate failing: {tally}")
    undecided = [v for v in decisive if v["verdict"] == "undecided"]
    few = [v for v in undecided if v.get("requests", 0) < judge.min_requests]
    if few:
        print(f"  undecided, too few requests for a verdict: {', '.join(per_level(v) for v in few)} "
              f"(about {judge.min_requests} per level make one possible: raise --duration)")
    straddle = [v for v in undecided if v not in few]
    if straddle:
        print(f"  undecided, the share's interval straddles the allowed share: "
              f"{', '.join(per_level(v, undecided_clauses(v)) for v in straddle)}; measure longer (--duration) or "
              "repeat (--repeats) to narrow it")
    for problem in problems:
        print(f"  non-monotone: {problem}: levels influenced each other; re-measure before quoting a capacity")
    if budget is not None:
        print(f"search: {len(verdicts)} level(s), {spent:g} of {budget:g} measured seconds; stopped: {stopped}")


def client_limited_line(objective: str, highest: dict | None, limited: float) -> str:
    """The capacity when the client fell behind its schedule at `limited`/s: at least the highest rate that met."""
    measured = f"at least {highest['rate']:g}/s (it meets {objective} there)" if highest else \
        f"not measured (no rate below {limited:g}/s meets {objective})"
    return (f"{measured}; at {limited:g}/s the client fell behind its schedule (most requests that broke the "
            "objective were sent late), so that level cannot tell the service's limit from the client's: run the "
            "client on cores or a machine of its own to measure higher")


def rate_list(rates: list[float]) -> str:
    return ", ".join(f"{r:g}" for r in rates) + "/s"


def per_level(verdict: dict, detail: str = "") -> str:
    """'25/s (750 requests)', or with a detail '25/s (750 requests: <detail>)'."""
    return f"{verdict['rate']:g}/s ({verdict.get('requests', 0)} requests{': ' + detail if detail else ''})"


# ---------------------------------------------------------------- the demo server and the command line
@contextmanager
def demo_server(port: int):
    """Start model_server.py in its own process on loopback, wait until it answers, stop it afterwards."""
    found = [f for f in (HERE / "model_server.py", (skill_dir() or HERE) / "assets" / "model_server.py")
             if f.is_file()]
    if not found:
        raise RuntimeError(f"no --url given and model_server.py is not beside {PROG}; pass --url")
    with socket.socket() as probe:  # a busy port would let us measure someone else's server
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise RuntimeError(f"port {port} is already in use; pass --demo-port to pick another")
    proc = subprocess.Popen([sys.executable, str(found[0]), "--port", str(port),
                             "--exit-with-parent"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"demo server exited: {proc.stderr.read().decode().strip()[-300:]} "
                                   "(use --demo-port to pick another port)")
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1, trust_env=False).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"demo server did not answer on port {port} within 60 s") from None
                time.sleep(0.1)
        yield proc.pid
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """Ask a server we started to stop; kill it if it is still there 10 s later."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def no_server(server_pid: int | None):
    yield server_pid or 0


SERVER_START_S = 60.0  # how long --server-cmd's server may take to accept connections


@contextmanager
def command_server(command: str, url: str):
    """--server-cmd: start the user's service (no shell; in the current directory), wait until the --url's port
    accepts connections, yield its pid (its CPU and memory go on every level row), stop it afterwards. Trial W
    wrote a script of its own to start each build, wait for its port, pass its pid and stop it."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)
    with socket.socket() as probe:  # something already listening would be measured instead of this command's server
        if probe.connect_ex((host, port)) == 0:
            raise RuntimeError(f"port {port} is already in use before --server-cmd started: stop what listens there")
    words = shlex.split(command)
    # leading NAME=value words set its environment, as a shell would (`WORKERS=12 python app.py`)
    assigned = list(itertools.takewhile(lambda w: re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", w), words))
    env = {**os.environ, **dict(w.split("=", 1) for w in assigned)}
    # its stderr goes to a file, for the message if it exits: a pipe nobody reads could fill and block it
    with tempfile.TemporaryFile() as log:
        try:
            proc = subprocess.Popen(words[len(assigned):], stdout=subprocess.DEVNULL, stderr=log, env=env)
        except OSError as exc:
            raise RuntimeError(f"--server-cmd could not start: {exc}") from None
        try:
            yield _listening(proc, log, host, port)
        finally:
            stop(proc)


def _listening(proc: subprocess.Popen, log, host: str, port: int) -> int:
    """proc's pid once its port accepts connections; RuntimeError when it exits first or takes too long."""
    deadline = time.monotonic() + SERVER_START_S
    while True:
        if proc.poll() is not None:
            log.seek(0)
            said = " ".join(log.read().decode(errors="replace").split())[-300:] or "no output"
            raise RuntimeError(f"--server-cmd exited with code {proc.returncode} before listening on port {port}: "
                               f"{said}")
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) == 0:
                return proc.pid
        if time.monotonic() > deadline:
            raise RuntimeError(f"--server-cmd did not listen on port {port} within {SERVER_START_S:g} s")
        time.sleep(0.05)


def server_for(args: argparse.Namespace):
    if args.url is None:
        return demo_server(args.demo_port)
    return command_server(args.server_cmd, args.url) if args.server_cmd else no_server(args.server_pid)


def check_loopback(url: str, allow_remote: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--url must be an http(s) URL, got {url!r}")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 80)}
    except socket.gaierror as exc:
        raise ValueError(f"cannot resolve {parts.hostname!r}: {exc.strerror}") from None
    if not allow_remote and not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise ValueError(f"refusing to send load to non-loopback host {parts.hostname!r}; "
                         "pass --allow-remote if you own it and mean it")


def comma_list(kind, choices: tuple = ()):
    def parse(text: str) -> list:
        try:
            items = [kind(t.strip()) for t in text.split(",") if t.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {kind.__name__}, got {text!r}") \
                from None
        wrong = [t for t in items if choices and t not in choices]
        if wrong:
            raise argparse.ArgumentTypeError(f"{wrong[0]!r} is not one of {', '.join(choices)}")
        return items
    return parse


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description=__doc__,
                       epilog="exit codes: 0 every level measured; 1 some level failed (error rows; run again "
                              "to retry only them); 2 usage error")
    p.add_argument("--url", default=URL, help="endpoint to load (default: URL in the EDIT block; if None, start "
                   "model_server.py on 127.0.0.1 and load it)")
    p.add_argument("--name", default=NAME, help="what is under test (a deployment, a build): stored as "
                   "endpoint_name and used as its label; measure each deployment under its own name, even on the "
                   f"same URL (default: NAME in the EDIT block{f', {NAME!r}' if NAME else ', none'})")
    p.add_argument("--method", default=METHOD, help=f"HTTP method (default: {METHOD})")
    p.add_argument("--payload", help="request body: JSON text, @file.json (one body) or @file.jsonl (one body per "
                   "line, sent in turn; payload_id on each request row) (default: PAYLOAD in the EDIT block)")
    p.add_argument("--timeout", type=float, default=TIMEOUT_S,
                   help=f"seconds before a request is an error (default {TIMEOUT_S:g})")
    p.add_argument("--rates", type=comma_list(float), metavar="R,R", help="open-loop arrival rates per second "
                   "(with --concurrency, replaces DEFAULT_LEVELS); with --budget: START,CEILING of the search")
    p.add_argument("--arrival", type=comma_list(str, ("constant", "poisson")), default=["constant"],
                   metavar="constant,poisson", help="arrival process(es) for --rates (default: constant)")
    p.add_argument("--concurrency", type=comma_list(int), metavar="C,C",
                   help="closed-loop sweep: numbers of clients that each wait for their reply")
    p.add_argument("--connection", type=comma_list(str, (KEEPALIVE, CLOSE)), metavar="keepalive,close",
                   help="connection model(s), each its own level: keepalive reuses pooled connections, close opens "
                        f"one per request (default: CONNECTIONS in the EDIT block, {','.join(CONNECTIONS)})")
    p.add_argument("--pool-size", type=int, help="connections open at once (default: one per request that may be "
                   "in flight: --max-in-flight open loop, the clients closed loop)")
    p.add_argument("--duration", type=float, help="measured seconds per level (default: DURATION_S in the EDIT "
                   f"block, {DURATION_S:g})")
    p.add_argument("--warmup", type=float, help="unrecorded seconds before each level (default: WARMUP_S in the "
                   f"EDIT block, {WARMUP_S:g})")
    p.add_argument("--repeats", type=int, default=REPEATS, help="passes over the levels, alternately in the given "
                   f"and the reverse order; pass r is replicate r (default {REPEATS})")
    p.add_argument("--settle-max", type=float, default=10.0, metavar="SECONDS", help="before each level, probe "
                   "until the service answers fast 3 times in a row, for at most this long; 0 turns it off "
                   "(default 10)")
    p.add_argument("--settle-ms", type=float, metavar="MS", help="what 'fast' means for the settle probes "
                   "(default: twice the fastest probe of the run, and at least 5 ms over it)")
    p.add_argument("--slo", metavar="OBJECTIVE", help="e.g. 'p99<50ms' or 'p99<50ms, errors<1%%': print each "
                   "level's verdict (export_summary.py's) and the highest rate that meets")
    p.add_argument("--budget", type=float, metavar="SECONDS", help="with --slo: search the highest rate that meets "
                   "(constant arrivals stepped up from --rates START to CEILING, default 100 to 3200/s, then "
                   "bisected) within this many measured seconds")
    p.add_argument("--seed", type=int, help="seed of the Poisson schedules (default 0)")
    p.add_argument("--max-in-flight", type=int, help="open loop: outstanding requests beyond which sends are "
                   "dropped and counted as errors (default 512)")
    add_common_options(p, db=DB, limit_help="run only the first N levels (smoke test)")
    p.add_argument("--rerun", action="store_true",
                   help="measure levels the database already holds again, as new replicates")
    p.add_argument("--allow-remote", action="store_true", default=ALLOW_REMOTE,
                   help="allow a --url that is not on loopback (default: ALLOW_REMOTE in the EDIT block)")
    p.add_argument("--server-pid", type=int, help="pid of the --url server on this machine, to record its CPU "
                   "and memory")
    p.add_argument("--server-cmd", metavar="COMMAND", help="start the --url server with this command (e.g. "
                   "\"WORKERS=4 python service.py --port 8801\"; no shell, leading NAME=value words set its "
                   "environment), wait until its port accepts connections, record its CPU and memory, and stop it "
                   "at the end: one run per build, with --name")
    p.add_argument("--demo-port", type=int, default=DEMO_PORT, help=f"port of the demo server (default {DEMO_PORT})")
    return p


def check_load_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Ranges and combinations argparse cannot check; each a one-line usage error (exit 2)."""
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.settle_max < 0 or (args.settle_ms is not None and args.settle_ms <= 0):
        parser.error("--settle-max must be 0 or more, --settle-ms more than 0")
    if args.pool_size is not None and args.pool_size < 1:
        parser.error("--pool-size must be at least 1")
    if args.server_cmd is not None and (args.url is None or args.server_pid is not None or not args.server_cmd.strip()):
        parser.error("--server-cmd starts the server at --url: give --url, and no --server-pid (its pid is known)")
    if args.budget is None:
        return
    if not args.slo:
        parser.error("--budget searches the highest rate that meets an objective: give it with --slo")
    if args.budget <= 0:
        parser.error("--budget must be a positive number of seconds")
    clashes = [name for name, given in (("--concurrency", args.concurrency), ("--repeats", args.repeats > 1),
                                        ("--rerun", args.rerun), ("--limit", args.limit)) if given]
    if clashes or len(args.connection or CONNECTIONS) > 1 or args.arrival != ["constant"]:
        parser.error(f"--budget searches constant-rate levels of one connection model; drop "
                     f"{', '.join(clashes) or '--arrival poisson or the second --connection'}")
    if args.rates and (len(args.rates) > 2 or args.rates[0] > args.rates[-1]):
        parser.error("with --budget, --rates is START or START,CEILING (START <= CEILING)")


def levels_from(args: argparse.Namespace) -> list[LoadLevel]:
    endpoint = Endpoint(name=args.name, url=args.url or f"http://127.0.0.1:{args.demo_port}/predict",
                        method=args.method.upper(), payloads=load_payloads(args.payload or DEMO_PAYLOAD),
                        timeout_s=args.timeout)
    check_url_fields(endpoint.url, endpoint.payloads)
    endpoint.requests  # noqa: B018 - each payload's URL and body made now, not on the first request's clock
    check_loopback(endpoint.url, args.allow_remote)
    connections = args.connection or CONNECTIONS
    if args.budget is not None:
        levels = [open_level(args.rates[0] if args.rates else SEARCH_START, connection=connections[0])]
    elif args.rates or args.concurrency:
        levels = [level for c in connections for level in (
            *(open_level(r, a, connection=c) for r in args.rates or [] for a in args.arrival),
            *(closed_level(n, connection=c) for n in args.concurrency or []))]
    else:
        levels = list(default_levels(connections))
    overrides = {k: v for k, v in (("duration_s", args.duration), ("warmup_s", args.warmup), ("seed", args.seed),
                                   ("max_in_flight", args.max_in_flight)) if v is not None}
    # pool_size 0 is derived again from the level's own max_in_flight or clients
    return [dataclasses.replace(lv, endpoint=endpoint, pool_size=args.pool_size or 0, **overrides)
            for lv in levels][: args.limit]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_common_options(parser, args)
    check_load_options(parser, args)
    try:
        judge = SloJudge(args.slo) if args.slo else None
        levels = levels_from(args)
    except (ValueError, OSError) as exc:
        return usage_error(str(exc))
    except ImportError as exc:
        return usage_error(f"--slo needs the skill's scripts/ (export_summary.py) and its dependencies: {exc}")
    try:
        if args.budget is not None:
            return run_search(args, levels[0], judge)
        return run(args, levels, judge)
    except (RuntimeError, sqlite3.Error) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; finished levels are saved, run again to measure the rest", file=sys.stderr)
        return 130


def usage_error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())

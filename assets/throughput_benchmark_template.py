"""Latency and throughput of an HTTP inference service under open-loop load, tracked with xetrack.

Edit the EDIT block below (endpoint, payload, load levels, defaults); the rest is machinery.
  python throughput_benchmark_template.py        # starts model_server.py on 127.0.0.1, measures it, stops it
  python throughput_benchmark_template.py --url http://127.0.0.1:8000/predict --payload @body.json \\
      --rates 10,50,100 --concurrency 1,8 --duration 30 --experiment-version e1
Open loop: requests leave on a fixed schedule and latency is timed from each *intended* send time, so a
stalling server shows in the tail (no coordinated omission). Writes throughput.db: `requests` (one row per
request) and `levels` (one row per load level: throughput, error rate, p50-p99.9, late/dropped sends, CPU,
memory). A re-run skips measured levels (--rerun measures again); a killed run resumes. Loopback only unless
--allow-remote. How it measures and every column: references/templates.md of the xetrack-benchmark skill.
Needs benchkit.py beside it and `pip install httpx psutil`.
"""

# ruff: noqa: E402 - the EDIT block comes before the machinery's imports
from __future__ import annotations

import json

# ====================================== EDIT: what to load, and how hard ======================================
URL = None  # your endpoint, e.g. "http://127.0.0.1:8000/predict"; None: start the demo model_server.py
METHOD = "POST"
PAYLOAD = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]})  # the request body (JSON text) of every request
TIMEOUT_S = 10.0  # a request still unanswered after this is an error row
ALLOW_REMOTE = False  # True lets URL be a non-loopback host: only for a service you own
OPEN_RATES = (50, 100, 200)  # open loop: constant arrivals per second, one load level each
POISSON_RATES = (100,)  # open loop: Poisson arrivals (seeded) per second
CLOSED_CONCURRENCY = (1, 4)  # closed loop, for comparison only: clients that each wait for their reply
DURATION_S, WARMUP_S = 3.0, 1.0  # measured seconds per level, and unrecorded seconds before it
DB = "throughput.db"
DEMO_PORT = 18765  # the demo server's loopback port (--demo-port)
# ================================================ END EDIT ===================================================
# isort: split

import argparse
import asyncio
import dataclasses
import ipaddress
import os
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

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
MAX_REQUESTS_PER_LEVEL = 50_000
MAX_LEVEL_SECONDS = 600.0
OPEN, CLOSED = "open-loop", "closed-loop"


@dataclass(frozen=True)
class Endpoint:
    url: str = URL or f"http://127.0.0.1:{DEMO_PORT}/predict"
    method: str = METHOD
    payload: str = PAYLOAD  # request body (JSON text), sent with every request
    timeout_s: float = TIMEOUT_S  # a request still unanswered after this is an error row


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
    endpoint: Endpoint = Endpoint()

    def __post_init__(self):
        # Normalise types so 50 and 50.0 are one configuration and one column type (xetrack fixes a
        # column's type from its first value).
        for name in ("rate", "duration_s", "warmup_s"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if self.mode == OPEN and (self.rate <= 0 or self.arrival not in ("constant", "poisson")):
            raise ValueError(f"open loop needs rate > 0 and arrival constant|poisson, got {self}")
        if self.mode == CLOSED and (self.concurrency < 1 or self.arrival != "none"):
            raise ValueError(f"closed loop needs concurrency >= 1 and arrival 'none', got {self}")
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {self.max_in_flight}")
        if self.mode not in (OPEN, CLOSED):
            raise ValueError(f"mode must be {OPEN!r} or {CLOSED!r}, got {self.mode!r}")
        if self.duration_s <= 0 or self.warmup_s < 0 or self.duration_s + self.warmup_s > MAX_LEVEL_SECONDS:
            raise ValueError(f"need duration > 0, warm-up >= 0, both under {MAX_LEVEL_SECONDS:.0f} s in total")
        if self.mode == OPEN and self.rate * (self.duration_s + self.warmup_s) > MAX_REQUESTS_PER_LEVEL:
            raise ValueError(f"{self.rate:g}/s for {self.duration_s + self.warmup_s:g} s exceeds "
                             f"MAX_REQUESTS_PER_LEVEL={MAX_REQUESTS_PER_LEVEL}")

    def describe(self) -> str:
        if self.mode == OPEN:
            return f"{OPEN} {self.rate:g}/s {self.arrival}"
        return f"{CLOSED} {self.concurrency} client{'s' if self.concurrency > 1 else ''}"


def open_level(rate: float, arrival: str = "constant", **kw) -> LoadLevel:
    return LoadLevel(OPEN, rate=rate, arrival=arrival, **kw)


def closed_level(concurrency: int, **kw) -> LoadLevel:
    return LoadLevel(CLOSED, concurrency=concurrency, arrival="none", **kw)


DEFAULT_LEVELS = (  # from the EDIT block
    *(open_level(r) for r in OPEN_RATES), *(open_level(r, "poisson") for r in POISSON_RATES),
    *(closed_level(c) for c in CLOSED_CONCURRENCY),
)


# ---------------------------------------------------------------- 2. the single execution: one level
def measure_level(level: LoadLevel, replicate: int, db: str, server_pid: int, experiment_version: str) -> dict:
    """Send one load level, log one row per request, return the level's summary (its `levels` row).

    Raises when nothing could be measured, so xetrack logs an error row and the next run retries it.
    If an earlier run stored this level's requests but died before its summary, nothing is sent again:
    the summary is rebuilt from the stored rows (without CPU and memory, which were not stored).
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
        fixed = {"config_id": cid, **config_columns(level), "replicate": replicate}
        requests = Tracker(db, table="requests", params=version_columns(experiment_version))
        log_batch_verified(requests, [{**fixed, "seq": i, **r} for i, r in enumerate(window)])
        this_run = {"n_warmup": len(results) - len(window), **usage}
    # Summarise what is stored, so every number can be recomputed from the database.
    stored = stored_requests(db, cid, replicate, experiment_version)
    return {"replicate": replicate, **summarize(stored, level), **this_run}


KEY = ["config_id", "replicate", "experiment_version"]  # one measurement; each version is measured anew


def version_columns(experiment_version: str) -> dict:
    """On every row of both tables. The git commit is the current directory's: the user's project."""
    return provenance(root=Path.cwd(), experiment_version=experiment_version)


async def generate_load(level: LoadLevel) -> list[dict]:
    connections = max(level.max_in_flight, level.concurrency)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    # trust_env=False: a proxy from the environment would be measured instead of the server.
    async with httpx.AsyncClient(limits=limits, timeout=level.endpoint.timeout_s, trust_env=False) as client:
        async def send(t0: float, offset: float) -> dict:
            return await send_one(client, level.endpoint, t0, offset)

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
    for offset in offsets:
        offset = float(offset)
        delay = t0 + offset - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(pending) >= max_in_flight:  # bounded client: drop and count it rather than queue it unseen
            dropped.append(failed_row(t0, offset, time.perf_counter(), f"dropped: {max_in_flight} in flight"))
            continue
        task = asyncio.create_task(send(t0, offset))
        pending.add(task)
        task.add_done_callback(pending.discard)
        tasks.append(task)
    return list(await asyncio.gather(*tasks)) + dropped


async def closed_loop(send, concurrency: int, total_s: float) -> list[dict]:
    t0 = time.perf_counter()
    rows: list[dict] = []

    async def client() -> None:
        while (now := time.perf_counter()) < t0 + total_s and len(rows) < MAX_REQUESTS_PER_LEVEL:
            rows.append(await send(t0, now - t0))  # intended == actual: a closed loop has no schedule to miss

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return rows


async def send_one(client: httpx.AsyncClient, endpoint: Endpoint, t0: float, offset: float) -> dict:
    """One request, intended at t0 + offset. `scheduled_s` is the offset itself, so the warm-up cut is exact."""
    intended, sent = t0 + offset, time.perf_counter()
    try:
        response = await client.request(endpoint.method, endpoint.url, content=endpoint.payload.encode(),
                                        headers={"Content-Type": "application/json"})
    except httpx.HTTPError as exc:
        return failed_row(t0, offset, sent, f"{type(exc).__name__}: {exc}".rstrip(": "))
    done = time.perf_counter()
    return {"scheduled_s": offset, "sent_s": sent - t0, "sent_unix": wall_clock(sent),
            "send_lag_ms": (sent - intended) * 1e3, "latency_ms": (done - intended) * 1e3, "latency_from_send_ms": (done - sent) * 1e3,
            "status": response.status_code, "bytes": len(response.content),
            "error": "" if response.is_success else f"HTTP {response.status_code}"}


def wall_clock(perf: float) -> float:
    """Unix seconds of a perf_counter instant: lines requests up with server logs and periodic events across
    levels and processes (`sent_s` counts from each level's own start)."""
    return time.time() - (time.perf_counter() - perf)


def failed_row(t0: float, offset: float, sent: float, error: str) -> dict:
    intended, done = t0 + offset, time.perf_counter()
    # NaN, not None: a float keeps the column REAL even if this is the first row ever logged (stored as NULL)
    return {"scheduled_s": offset, "sent_s": sent - t0, "sent_unix": wall_clock(sent),
            "send_lag_ms": (sent - intended) * 1e3,
            "latency_ms": float("nan") if error.startswith("dropped") else (done - intended) * 1e3,
            "latency_from_send_ms": float("nan"), "status": 0, "bytes": 0, "error": error}


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
        "late_after_ms": LATE_AFTER_MS,
    }
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in summary.items()}


def stored_requests(db: str, cid: str, replicate: int, experiment_version: str) -> list[dict]:
    con = connect_readonly(db)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(
            'SELECT error, latency_ms, latency_from_send_ms, send_lag_ms FROM "requests" '
            "WHERE config_id = ? AND replicate = ? AND experiment_version = ?", [cid, replicate, experiment_version])]
    finally:
        con.close()


# ---------------------------------------------------------------- 3. the loop
def plan(levels: list[LoadLevel], db: Path, rerun: bool,
         experiment_version: str) -> tuple[list[tuple[LoadLevel, int]], list[LoadLevel]]:
    """Which (level, replicate) to run now, and which levels the database already holds in this version."""
    stored = completed(db, "requests", KEY)
    summarized = completed(db, "levels", KEY)
    todo, skipped = [], []
    for level in levels:
        cid = config_id(level)
        replicates = sorted(r for c, r, v in stored if (c, v) == (cid, experiment_version))
        unsummarized = [r for r in replicates if (cid, r, experiment_version) not in summarized]
        if unsummarized:  # requests stored, summary lost in a crash: rebuild it, send nothing
            todo.append((level, unsummarized[0]))
        elif replicates and not rerun:
            skipped.append(level)
        else:
            todo.append((level, replicates[-1] + 1 if replicates else 0))
    return todo, skipped


def run(args: argparse.Namespace, levels: list[LoadLevel]) -> int:
    db = Path(args.db).resolve()
    todo, skipped = plan(levels, db, args.rerun, args.experiment_version)
    if skipped:
        print(f"skipping {len(skipped)} level(s) already measured in {db.name}: "
              f"{', '.join(lv.describe() for lv in skipped)} (pass --rerun to measure them again)")
    failures = []
    if todo:
        with demo_server(args.demo_port) if args.url is None else no_server(args.server_pid) as server_pid:
            levels_tracker = Tracker(str(db), table="levels", params=version_columns(args.experiment_version))
            for level, replicate in progress(todo, label="load levels"):
                try:
                    track_cached(levels_tracker, measure_level, level, replicate=replicate, db=str(db),
                                 server_pid=server_pid, experiment_version=args.experiment_version)
                except Exception as exc:  # one failed level must not stop the others; it is an error row
                    failures.append(level)
                    print(f"{PROG}: level failed: {level.describe()}: {exc}", file=sys.stderr)
    print_summary(db, levels, args.experiment_version)
    print(f"\nDatabase: {db}  (tables: requests = one row per request, levels = one row per load level)")
    version = f"experiment_version={args.experiment_version}"
    print(next_steps([
        ("can the rows be trusted? (duplicates, failures, versions)",
         script_command("validate_benchmark.py", db, "requests", "--filter", version)),
        ("per level: p50/p95/p99 with intervals, a verdict against your objective, the highest rate that meets",
         script_command("export_summary.py", db, "requests", "--version", args.experiment_version,
                        "--slo", "p99<50ms")),
    ]))
    print(f"  (how to read it: {skill_file('references', 'load-testing.md')})")
    if failures:
        print(f"{len(failures)} level(s) failed and were logged as error rows; run again to retry only them.")
        return 1
    return 0


def print_summary(db: Path, levels: list[LoadLevel], experiment_version: str) -> None:
    wanted = {config_id(level): level for level in levels}
    if "levels" not in sqlite_tables(db):
        print("no load level measured yet")
        return
    con = connect_readonly(db)
    con.row_factory = sqlite3.Row
    rows = [r for r in map(dict, con.execute("SELECT * FROM \"levels\" WHERE error = '' ORDER BY timestamp"))
            if r["config_id"] in wanted and r.get("experiment_version") == experiment_version]
    con.close()
    header = f"{'level':28} {'rep':>3} {'n':>6} {'ok/s':>7} {'err%':>5} {'p50':>7} {'p90':>7} {'p99':>7} " \
             f"{'p99.9':>7} {'max':>7} {'late':>5} {'drop':>5} {'cpu% c/s':>9}"
    print(header + "\n" + "-" * len(header) + "   (latency in ms from the intended send time)")
    for r in rows:
        cpu = "/".join(f"{r[k]:.0f}" if r.get(k) is not None else "?"  # unknown, not zero
                       for k in ("client_cpu_pct", "server_cpu_pct"))
        print(f"{wanted[r['config_id']].describe():28} {r['replicate']:>3} {r['n_measured']:>6} "
              f"{r['achieved_rps']:>7.1f} {100 * r['error_rate']:>5.1f} {r['p50_ms']:>7.2f} {r['p90_ms']:>7.2f} "
              f"{r['p99_ms']:>7.2f} {r['p999_ms']:>7.2f} {r['max_ms']:>7.2f} {r['n_late']:>5} {r['n_dropped']:>5} "
              f"{cpu:>9}")


def sqlite_tables(db: Path) -> set[str]:
    if not db.exists():
        return set()
    con = connect_readonly(db)
    try:
        return {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        con.close()


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
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def no_server(server_pid: int | None):
    yield server_pid or 0


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


def comma_list(kind):
    def parse(text: str) -> list:
        try:
            return [kind(t) for t in text.split(",") if t.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {kind.__name__}, got {text!r}") \
                from None
    return parse


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description=__doc__,
                       epilog="exit codes: 0 every level measured; 1 some level failed (error rows; run again "
                              "to retry only them); 2 usage error")
    p.add_argument("--url", default=URL, help="endpoint to load (default: URL in the EDIT block; if None, start "
                   "model_server.py on 127.0.0.1 and load it)")
    p.add_argument("--method", default=METHOD, help=f"HTTP method (default: {METHOD})")
    p.add_argument("--payload", help="request body: JSON text, or @file (default: PAYLOAD in the EDIT block)")
    p.add_argument("--timeout", type=float, default=TIMEOUT_S,
                   help=f"seconds before a request is an error (default {TIMEOUT_S:g})")
    p.add_argument("--rates", type=comma_list(float), metavar="R,R", help="open-loop arrival rates per second "
                   "(with --concurrency, replaces DEFAULT_LEVELS)")
    p.add_argument("--arrival", type=comma_list(str), default=["constant"], metavar="constant,poisson",
                   help="arrival process(es) for --rates (default: constant)")
    p.add_argument("--concurrency", type=comma_list(int), metavar="C,C",
                   help="closed-loop sweep: numbers of clients that each wait for their reply")
    p.add_argument("--duration", type=float, help="measured seconds per level (default 3)")
    p.add_argument("--warmup", type=float, help="unrecorded seconds before each level (default 1)")
    p.add_argument("--seed", type=int, help="seed of the Poisson schedules (default 0)")
    p.add_argument("--max-in-flight", type=int, help="open loop: outstanding requests beyond which sends are "
                   "dropped and counted as errors (default 512)")
    add_common_options(p, db=DB, limit_help="run only the first N levels (smoke test)")
    p.add_argument("--rerun", action="store_true",
                   help="measure levels the database already holds again, as a new replicate")
    p.add_argument("--allow-remote", action="store_true", default=ALLOW_REMOTE,
                   help="allow a --url that is not on loopback (default: ALLOW_REMOTE in the EDIT block)")
    p.add_argument("--server-pid", type=int, help="pid of the --url server on this machine, to record its CPU "
                   "and memory")
    p.add_argument("--demo-port", type=int, default=DEMO_PORT, help=f"port of the demo server (default {DEMO_PORT})")
    return p


def levels_from(args: argparse.Namespace) -> list[LoadLevel]:
    payload = args.payload or DEMO_PAYLOAD
    if payload.startswith("@"):
        payload = Path(payload[1:]).read_text()
    endpoint = Endpoint(url=args.url or f"http://127.0.0.1:{args.demo_port}/predict", method=args.method.upper(),
                        payload=payload, timeout_s=args.timeout)
    check_loopback(endpoint.url, args.allow_remote)
    if args.rates or args.concurrency:
        levels = [open_level(r, a) for r in args.rates or [] for a in args.arrival]
        levels += [closed_level(c) for c in args.concurrency or []]
    else:
        levels = list(DEFAULT_LEVELS)
    overrides = {k: v for k, v in (("duration_s", args.duration), ("warmup_s", args.warmup), ("seed", args.seed),
                                   ("max_in_flight", args.max_in_flight)) if v is not None}
    return [dataclasses.replace(lv, endpoint=endpoint, **overrides) for lv in levels][: args.limit]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_common_options(parser, args)
    try:
        levels = levels_from(args)
    except (ValueError, OSError) as exc:
        return usage_error(str(exc))
    try:
        return run(args, levels)
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

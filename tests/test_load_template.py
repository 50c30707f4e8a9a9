"""The throughput template's load-test measurement (issue #15): connection model, payload pool, response bodies,
interleaved repeats, settling between levels, client-overhead calibration and the capacity search.

End-to-end tests run the template as a user would (a subprocess) against small real HTTP servers on loopback,
written here, each with a fixed injected service time far below what the client can drive and one known
defect. Timing assertions are gross (a factor of 3 or more), and those tests are marked slow.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import socket
import sys
import textwrap
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from pathlib import Path

import pytest
import throughput_benchmark_template as template
from helpers import ROOT, call_main, free_port, git, run_python
from xetrack_fixtures import read_dicts, read_rows

TEMPLATE = ROOT / "assets" / "throughput_benchmark_template.py"
PROG = "throughput_benchmark_template.py"
GROSS = 3  # the narrowest margin a wall-clock assertion may have on a shared 2-core machine


# ------------------------------------------------------------------ servers with one known defect each
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as most services speak it
    disable_nagle_algorithm = True
    timeout = 10  # an idle kept-alive connection is dropped after this (the single worker is then free again)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.work()
        reply = json.dumps({"echo": json.loads(body), "pad": "x" * 300}).encode()  # longer than the stored head
        zipped = self.server.gzip and "gzip" in self.headers.get("Accept-Encoding", "")
        reply = gzip.compress(reply) if zipped else reply
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if zipped:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def do_GET(self) -> None:  # a search: the query string is the request (trial I)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.work()
        with self.server.lock:
            self.server.gets.append((self.path, len(body)))
        reply = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args) -> None:
        pass


class Service:
    """A fixed service time; optionally `workers` at a time (capacity = workers / service_s requests per second),
    a pause of `pause_for` seconds every `pause_every` (a request arriving during it waits for its end), and
    `slow_for` seconds more for every `slow_every`-th request (a fixed share of slow requests); with `gzip`,
    compressed replies."""

    def __init__(self, service_s: float, workers: int | None = None, pause_every: float = 0, pause_for: float = 0,
                 slow_every: int = 0, slow_for: float = 0, gzip: bool = False):
        self.gzip = gzip  # compress replies for clients that accept it
        self.service_s, self.pause_every, self.pause_for = service_s, pause_every, pause_for
        self.slow_every, self.slow_for, self.arrived = slow_every, slow_for, 0
        self.gate = threading.Semaphore(workers) if workers else None
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.served = 0
        self.gets: list[tuple[str, int]] = []  # (path with its query, body bytes) of each GET

    def work(self) -> None:
        with self.lock:
            self.arrived += 1
            slow = self.slow_every and self.arrived % self.slow_every == 0
        if slow:
            time.sleep(self.slow_for)
        if self.pause_for:
            phase = (time.monotonic() - self.started) % self.pause_every
            if phase < self.pause_for:
                time.sleep(self.pause_for - phase)
        if self.gate:
            with self.gate:
                time.sleep(self.service_s)
        else:
            time.sleep(self.service_s)
        with self.lock:
            self.served += 1

    def handle_error(self, request, client_address) -> None:
        pass  # a client that timed out and hung up: the reply has nowhere to go, and that is expected


class ThreadedService(Service, ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *args, port: int = 0, **kw):
        Service.__init__(self, *args, **kw)
        ThreadingHTTPServer.__init__(self, ("127.0.0.1", port), Handler)


class SingleWorkerService(Service, HTTPServer):
    """One connection at a time, kept open between requests: what a pooled keep-alive client gets stuck on."""

    def __init__(self, *args, port: int = 0, **kw):
        Service.__init__(self, *args, **kw)
        HTTPServer.__init__(self, ("127.0.0.1", port), Handler)


@contextmanager
def serving(server):
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/predict"
    finally:
        server.shutdown()
        server.server_close()


def run_template(cwd: Path, *args: str, timeout: float = 240):
    return run_python(TEMPLATE, *args, cwd=cwd, timeout=timeout)


def levels(db: Path) -> list[dict]:
    return read_dicts(db, "SELECT * FROM levels WHERE error = '' ORDER BY timestamp")


def sent_by_rows(db: Path) -> int:
    """Requests the template says reached the server: measured, warm-up and settle probes."""
    return sum(r["n_measured"] + r["n_warmup"] - r["n_dropped"] + r["settle_probes"] for r in levels(db))


# ------------------------------------------------------------------ (a) the connection model decides the result
@pytest.mark.slow
def test_a_single_worker_server_that_holds_connections_breaks_keepalive_but_not_close(tmp_path):
    """Poisson arrivals at 20/s, 20 ms of service: overlapping requests are common, a pooled client opens a
    second connection, and the single worker, still serving the first one, never reads it: it times out."""
    server = SingleWorkerService(0.02)
    with serving(server) as url:
        proc = run_template(tmp_path, "--url", url, "--rates", "20", "--arrival", "poisson", "--connection",
                            "keepalive,close", "--duration", "3", "--warmup", "0.5", "--timeout", "1")
        assert proc.returncode == 0, proc.stderr
        db = tmp_path / "throughput.db"
        # Timed-out requests may still be unread when the template exits; none was sent unrecorded.
        assert 0 < server.served <= sent_by_rows(db)
    by = {r["connection"]: r for r in levels(db)}
    keep, close = by["keepalive"], by["close"]
    assert close["error_rate"] == 0 and close["p99_ms"] < 1000 / GROSS  # 20 ms of service, queueing now and then
    # keep-alive: the stuck requests wait the whole 1 s timeout (an error) or most of it
    assert keep["error_rate"] >= 0.05 or keep["p99_ms"] > GROSS * close["p99_ms"], (keep["error_rate"], keep["p99_ms"])
    assert keep["pool_size"] == keep["max_in_flight"] == 512 and close["pool_size"] == 512
    rows = read_dicts(db, "SELECT DISTINCT connection, pool_size FROM requests ORDER BY 1")
    assert rows == [{"connection": "close", "pool_size": 512}, {"connection": "keepalive", "pool_size": 512}]
    assert "keepalive" in proc.stdout and "close" in proc.stdout  # the level names say which is which
    overhead = {r["connection"]: r["client_overhead_p50_ms"] for r in levels(db)}
    assert 0 < overhead["keepalive"] < 50 and 0 < overhead["close"] < 50
    assert "client overhead, close: p50" in proc.stdout and "client overhead, keepalive: p50" in proc.stdout


@pytest.mark.slow
def test_a_sweep_judges_every_level_of_its_version_earlier_runs_included(tmp_path):
    """Two sweeps, one rate each, in one experiment version: the second's verdicts and bracket cover both
    (they measure the same service); a bracket from its own level alone would miss the rate that met before."""
    with serving(ThreadedService(0.005)) as url:
        common = ("--url", url, "--connection", "close", "--duration", "4", "--warmup", "0.5", "--slo", "p90<100ms")
        first = run_template(tmp_path, "--rates", "20", *common)
        assert first.returncode == 0, first.stderr
        second = run_template(tmp_path, "--rates", "30", *common)
    assert second.returncode == 0, second.stderr
    table = second.stdout.split("verdict per level", 1)[1]
    assert "open-loop 20/s constant close (earlier run)" in table and "open-loop 30/s constant close " in table, table
    assert "up to 30/s" in second.stdout and "meets p90<100ms" in second.stdout, second.stdout



@pytest.mark.slow
def test_two_deployments_named_on_one_url_are_two_series_told_apart_everywhere(tmp_path):
    """Trial Q: the template had no place for 'which deployment', so two deployments were told apart by port, and
    its verdict list showed the other deployment's levels with the very same names. With --name, each is its own
    configuration even on the same URL (served in turn), its rows carry endpoint_name, and the verdict list,
    export's levels and the level CSV all name it."""
    common = ("--connection", "close", "--duration", "2", "--warmup", "0.3", "--slo", "p90<100ms", "--rates", "20")
    threaded = ThreadedService(0.003)
    with serving(threaded) as url:
        first = run_template(tmp_path, "--url", url, "--name", "threaded", *common)
    assert first.returncode == 0, first.stderr
    with serving(SingleWorkerService(0.003, port=threaded.server_address[1])) as same_url:  # served in turn
        assert same_url == url
        second = run_template(tmp_path, "--url", url, "--name", "single", *common)
    assert second.returncode == 0, second.stderr
    db = tmp_path / "throughput.db"
    rows = levels(db)
    assert sorted(r["endpoint_name"] for r in rows) == ["single", "threaded"]
    assert len({r["endpoint_url"] for r in rows}) == 1 and len({r["config_id"] for r in rows}) == 2
    table = second.stdout.split("verdict per level", 1)[1].split("\n\n", 1)[0]
    assert " endpoint_name=single:" in table and " endpoint_name=threaded:" in table, table
    assert "single: open-loop 20/s constant close " in table and "threaded: open-loop 20/s constant close " in table
    summary = run_python(ROOT / "scripts" / "export_summary.py", db, "requests", "--slo", "p90<100ms", "--csv")
    assert summary.returncode == 0, summary.stderr
    table = list(csv.DictReader(io.StringIO(summary.stdout)))
    assert sorted((r["endpoint_name"], r["level"]) for r in table) == [
        ("single", "endpoint_name=single"), ("threaded", "endpoint_name=threaded")]


@pytest.mark.slow
def test_a_code_commit_between_two_sweeps_is_warned_of_and_each_commit_gets_its_own_capacity(tmp_path):
    """Trial V: the reader committed a file mid-run, so the rows of one experiment_version carried two git commits.
    The template judged them together without a word, and export_summary (which keeps versions apart) gave no
    capacity at all. Now the template says the levels span two commits and how to report one, its brackets are
    per commit, and export's level CSV marks the capacity of each. Trials W, Y, Y2, Y3: a commit of notes alone
    split the levels too; it no longer does (the recorded commit is the last code change: benchkit.git_commit)."""
    git(tmp_path, "init", "-q")
    (tmp_path / "notes.txt").write_text("first\n")
    (tmp_path / "service.py").write_text("WORKERS = 1\n")
    git(tmp_path, "add", "notes.txt", "service.py")
    git(tmp_path, "commit", "-q", "-m", "first")
    first_commit = git(tmp_path, "rev-parse", "--short", "HEAD")
    with serving(ThreadedService(0.003)) as url:
        common = ("--url", url, "--connection", "close", "--duration", "3", "--warmup", "0.3", "--slo", "p90<100ms")
        first = run_template(tmp_path, "--rates", "20", *common)
        assert first.returncode == 0, first.stderr
        (tmp_path / "notes.txt").write_text("second\n")  # notes committed between the runs: the same version
        git(tmp_path, "commit", "-q", "-am", "notes")
        second = run_template(tmp_path, "--rates", "30", *common)
        assert second.returncode == 0, second.stderr
        assert "measured in 2 versions" not in first.stdout + second.stdout
        (tmp_path / "service.py").write_text("WORKERS = 2\n")  # the service's code changed: another version
        git(tmp_path, "commit", "-q", "-am", "two workers")
        third = run_template(tmp_path, "--rates", "40", *common)
    assert third.returncode == 0, third.stderr
    third_commit = git(tmp_path, "rev-parse", "--short", "HEAD")
    warning = next(line for line in third.stdout.splitlines() if "measured in 2 versions" in line)
    assert "git_commit changed during the run" in warning and "--version VALUE" in warning, warning
    assert "Each version's levels have their own capacity above" in warning
    db = tmp_path / "throughput.db"
    commits = {r["git_commit"] for r in levels(db)}
    assert len(commits) == 2 and all(c.startswith((first_commit, third_commit)) for c in commits), commits
    assert sum(line.startswith("git_commit=") and "capacity: every tested rate meets" in line
               for line in third.stdout.splitlines()) == 2, third.stdout
    summary = run_python(ROOT / "scripts" / "export_summary.py", db, "requests", "--slo", "p90<100ms", "--csv")
    table = list(csv.DictReader(io.StringIO(summary.stdout)))
    capacities = sorted((r["git_commit"][:7], float(r["rate"])) for r in table if r["highest_meeting"] == "true")
    assert capacities == sorted([(first_commit[:7], 30.0), (third_commit[:7], 40.0)]), table  # one per commit
    one = next(c for c in commits if c.startswith(first_commit))
    picked = run_python(ROOT / "scripts" / "export_summary.py", db, "requests", "--slo", "p90<100ms", "--csv",
                        "--version", one)
    only = list(csv.DictReader(io.StringIO(picked.stdout)))
    assert [(float(r["rate"]), r["highest_meeting"], "git_commit" in r) for r in only] == [
        (20.0, "false", False), (30.0, "true", False)], picked.stdout



SERVICE = textwrap.dedent("""
    import json, os, sys, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    REPLY = json.dumps({"build": os.environ.get("BUILD", "unset")}).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(0.003)
            self.send_response(200)
            self.send_header("Content-Length", str(len(REPLY)))
            self.end_headers()
            self.wfile.write(REPLY)

        def log_message(self, *args):
            pass

    time.sleep(0.5)  # a service that takes a moment to listen
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
""")


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_server_cmd_starts_the_users_service_waits_for_its_port_records_its_cpu_and_stops_it(tmp_path):
    """Trial W: nothing started the user's own service, so each build needed a script of its own (start it, wait
    for its port, pass its pid, stop it). --server-cmd does that; a command that exits first, or a port already
    taken (another server would be measured), is a one-line error, exit 2."""
    (tmp_path / "service.py").write_text(SERVICE)
    port = free_port()
    url = f"http://127.0.0.1:{port}/score"
    common = ("--url", url, "--rates", "20", "--duration", "2", "--warmup", "0.3", "--connection", "close")
    proc = run_template(tmp_path, *common, "--name", "a", "--server-cmd",
                        f"BUILD=b12 {sys.executable} service.py {port}")  # a leading NAME=value sets its environment
    assert proc.returncode == 0, proc.stderr
    assert not listening(port)  # stopped at the end
    bodies = read_dicts(tmp_path / "throughput.db", "SELECT DISTINCT response_body FROM requests")
    assert bodies == [{"response_body": '{"build": "b12"}'}]
    row = levels(tmp_path / "throughput.db")[0]
    assert row["endpoint_name"] == "a" and row["n_measured"] == 40 and row["error_rate"] == 0
    assert row["server_cpu_pct"] is not None and row["server_rss_mb"] > 0
    assert row["server_cmd"] == f"BUILD=b12 {sys.executable} service.py {port}"  # what ran, on its row

    failing = run_template(tmp_path, *common, "--server-cmd", f"{sys.executable} -c \"import sys; sys.exit('boom')\"")
    assert failing.returncode == 2 and failing.stderr.count("\n") == 1, failing.stderr
    assert f"error: --server-cmd exited with code 1 before listening on port {port}: boom" in failing.stderr
    with serving(ThreadedService(0.001)) as taken:
        busy = run_template(tmp_path, "--url", taken, *common[2:], "--server-cmd", f"{sys.executable} service.py 1")
    assert busy.returncode == 2 and "already in use before --server-cmd started" in busy.stderr, busy.stderr
    alone = run_template(tmp_path, "--server-cmd", "python service.py 1")
    assert alone.returncode == 2 and "--server-cmd starts the server at --url" in alone.stderr


# ------------------------------------------------------------------ (b) a long periodic pause: nothing meets
@pytest.mark.slow
def test_a_server_pausing_1s_every_2s_meets_the_objective_at_no_rate_and_the_search_says_so(tmp_path):
    """p90 < 100 ms (a level needs 50 requests for a verdict, not p99's 500: the test stays short); 4 s levels
    hold two pauses each."""
    server = ThreadedService(0.002, pause_every=2.0, pause_for=1.0)
    with serving(server) as url:
        proc = run_template(tmp_path, "--url", url, "--slo", "p90<100ms", "--budget", "9", "--rates", "40",
                            "--duration", "4", "--warmup", "0.5")
    assert proc.returncode == 0, proc.stderr
    assert "capacity: no tested rate meets p90<100ms" in proc.stdout
    db = tmp_path / "throughput.db"
    tested = levels(db)
    assert sorted(r["rate"] for r in tested) == [20, 40]  # 40 fails, one step down fails too, budget spent
    assert "stopped: the budget ran out" in proc.stdout
    summary = run_python(ROOT / "scripts" / "export_summary.py", db, "requests", "--slo", "p90<100ms", "--json")
    slo = json.loads(summary.stdout)["slo"]
    assert {lv["verdict"] for lv in slo["levels"]} == {"fails"} and slo["highest_meeting"] is None
    # About half the requests arrive during a pause: the share over 100 ms is nowhere near 10 %.
    assert all(lv["clauses"][0]["share"] > 0.5 / GROSS for lv in slo["levels"])


# ------------------------------------------------------------------ (b') a tail exactly at the objective
@pytest.mark.slow
def test_a_rate_whose_tail_sits_at_the_objective_is_measured_again_longer_then_the_search_goes_on(tmp_path):
    """Every 10th request takes 150 ms: 10 % over 100 ms against p90<100ms's 10 % allowed, at any rate. The
    share's interval straddles 10 % however long the level: measured once more, 3 times as long, it is still
    undecided, which is neither a pass nor the limit: the search goes on (up, here) until the budget ends."""
    server = ThreadedService(0.001, slow_every=10, slow_for=0.15)
    args = ("--slo", "p90<100ms", "--budget", "12", "--rates", "20,160", "--duration", "2", "--warmup", "0.5")
    with serving(server) as url:
        first = run_template(tmp_path, "--url", url, *args)
        served = server.served
        second = run_template(tmp_path, "--url", url, *args)
    assert first.returncode == 0, first.stderr
    db = tmp_path / "throughput.db"
    assert [(r["rate"], r["duration_s"]) for r in levels(db)] == [(20, 2.5), (20, 7.5)]  # 50 requests, then 150
    assert "capacity: every tested rate is undecided on p90<100ms (20/s)" in first.stdout
    assert "stopped: the budget ran out: the next level, 40/s for 2 s + 0.5 s warm-up, needed 2.5 s and 1 s were " \
        "left" in first.stdout, first.stdout
    assert "straddles the allowed share: 20/s (150 requests: p90<100ms broken by " in first.stdout
    assert "too few" not in first.stdout
    # 2-3 s levels: export_summary's short-level warning reaches the user through the search's output
    assert "warning: 1 levels are short for their intervals" in first.stdout, first.stdout  # the 2.5 s one
    assert second.returncode == 0 and server.served == served == sent_by_rows(db)  # replayed, nothing sent
    said = [[x for x in run.stdout.splitlines() if x.startswith(("capacity:", "search:"))] for run in (first, second)]
    assert said[0] == said[1] and len(said[0]) == 2


# ------------------------------------------------------------------ (c, d) a clear capacity, and saturation
CAPACITY = 50.0  # 2 workers x 40 ms; low, so a busy shared machine still drives it past its limit with ease
OBJECTIVE = "p90<100ms"  # 50 requests per level give a verdict: the levels stay short
CAPACITY_BUDGET_S = 20


@pytest.fixture(scope="module")
def capacity_search(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("capacity")
    server = ThreadedService(0.04, workers=2)
    # 20 s: on a loaded machine 40/s (80 % of capacity) can come out undecided and be measured again, 3x longer;
    # the budget still leaves room to step past the capacity then.
    args = ("--slo", OBJECTIVE, "--budget", str(CAPACITY_BUDGET_S), "--rates", "20,160", "--duration", "2", "--warmup", "0.5",
            "--timeout", "0.5")
    with serving(server) as url:
        started = time.monotonic()
        first = run_template(cwd, "--url", url, *args)
        wall = time.monotonic() - started
        served = server.served
        second = run_template(cwd, "--url", url, *args)
        served_again = server.served
    return {"db": cwd / "throughput.db", "first": first, "second": second, "served": (served, served_again),
            "wall": wall}


def verdicts(db: Path) -> dict:
    proc = run_python(ROOT / "scripts" / "export_summary.py", db, "requests", "--slo", OBJECTIVE, "--json")
    return json.loads(proc.stdout)["slo"]


@pytest.mark.slow
def test_the_capacity_search_brackets_a_servers_true_capacity(capacity_search):
    first = capacity_search["first"]
    assert first.returncode == 0, first.stderr
    slo = verdicts(capacity_search["db"])
    meets, fails = slo["bracket"]["meets_at"], slo["bracket"]["fails_at"]
    assert meets is not None and fails is not None and meets < fails
    # The limit is 50/s: meeting far above it, or failing far below it, would be wrong by a gross factor.
    assert CAPACITY / GROSS <= meets <= CAPACITY * 1.5 and CAPACITY / 1.5 <= fails <= CAPACITY * GROSS
    assert f"capacity: meets {OBJECTIVE} at {meets:g}/s, fails at {fails:g}/s" in first.stdout
    rates = list(dict.fromkeys(r["rate"] for r in levels(capacity_search["db"])))  # a rate measured again once
    assert rates[:2] == [20, 40] and len(rates) >= 4  # stepped up from 20/s, stopped at a failure, bisected
    assert max(rates) <= 80 and all(20 < r < 80 for r in rates[3:])  # 160/s, the ceiling, was never sent
    spent = sum(r["duration_s"] + r["warmup_s"] for r in levels(capacity_search["db"]))
    assert spent <= CAPACITY_BUDGET_S
    print(f"capacity search: {rates}, bracket {meets}-{fails}/s, wall {capacity_search['wall']:.1f} s")


@pytest.mark.slow
def test_a_second_capacity_search_replays_the_same_path_from_the_database_and_sends_nothing(capacity_search):
    second = capacity_search["second"]
    assert second.returncode == 0, second.stderr
    served, served_again = capacity_search["served"]
    assert served_again == served == sent_by_rows(capacity_search["db"])
    bracket = [line for line in capacity_search["first"].stdout.splitlines() if line.startswith("capacity:")]
    assert bracket and bracket == [line for line in second.stdout.splitlines() if line.startswith("capacity:")]


@pytest.mark.slow
def test_every_level_is_long_enough_for_a_verdict_and_records_settle_and_client_overhead(capacity_search):
    for r in levels(capacity_search["db"]):
        assert r["n_measured"] >= 50  # 5 allowed breaks of 10 %
        assert r["settle_outcome"] == "settled" and r["settle_probes"] >= 3 and r["settle_threshold_ms"] > 40
        assert 0 < r["client_overhead_p50_ms"] <= r["client_overhead_p99_ms"] < 40  # 40 ms: the service time
    overloaded = max(levels(capacity_search["db"]), key=lambda r: r["rate"])
    # Past the capacity, a backlog is left in the server: the next level's first probes waited behind it
    following = [r for r in levels(capacity_search["db"]) if r["timestamp"] > overloaded["timestamp"]]
    assert following and following[0]["settle_probes"] > template.SETTLE_PROBES


@pytest.mark.slow
def test_saturation_errors_are_measurements_and_validate_exits_0(capacity_search):
    db = capacity_search["db"]
    assert max(r["error_rate"] for r in levels(db)) > 0.05  # past 50/s with a 0.5 s timeout: requests time out
    check = run_python(ROOT / "scripts" / "validate_benchmark.py", db, "requests", "--json")
    assert check.returncode == 0, check.stdout + check.stderr
    (finding,) = [f for f in json.loads(check.stdout)["findings"] if f["check_id"] == "failed-executions"]
    assert finding["severity"] in ("info", "warning") and "failures are the measurement" in finding["message"]


@pytest.mark.slow
def test_request_rows_carry_a_bounded_reply_and_the_body_they_sent(capacity_search):
    rows = read_dicts(capacity_search["db"], "SELECT response_body, bytes, payload_id, error FROM requests "
                      "WHERE error = '' LIMIT 50")
    assert rows and all(r["payload_id"] == 0 for r in rows)
    for r in rows:
        assert r["bytes"] > template.RESPONSE_BODY_BYTES
        assert r["response_body"].endswith(f"...[cut: {r['bytes']} bytes]")
        assert r["response_body"].startswith('{"echo": {"instances"')


@pytest.mark.slow
def test_request_rows_say_what_crossed_the_network_beside_the_decoded_body(tmp_path):
    """Trial B compared gzip on and off: `bytes` (the body httpx decoded) was the same for both, and nothing showed
    the replies were compressed. Each row now has `wire_bytes` (as received) and `content_encoding`."""
    common = ("--rates", "20", "--duration", "1", "--warmup", "0.2", "--connection", "close")
    sizes = {}
    for zipped in (False, True):
        with serving(ThreadedService(0.001, gzip=zipped)) as url:
            proc = run_template(tmp_path, "--url", url, "--db", f"gzip_{zipped}.db", *common)
        assert proc.returncode == 0, proc.stderr
        sizes[zipped] = set(read_rows(tmp_path / f"gzip_{zipped}.db", "SELECT content_encoding, bytes, wire_bytes "
                                      "FROM requests WHERE error = ''"))
    ((plain_encoding, plain_bytes, plain_wire),) = sizes[False]
    ((zipped_encoding, zipped_bytes, zipped_wire),) = sizes[True]
    assert (plain_encoding, zipped_encoding) == ("", "gzip") and plain_bytes == plain_wire == zipped_bytes
    assert zipped_wire < zipped_bytes / 2, sizes  # 300 repeated characters compress well


@pytest.mark.slow
def test_two_builds_are_compared_at_the_rates_both_measured_with_an_interval_per_difference(tmp_path):
    """Trial B: gzip on and off were two series with one capacity each, and whether they differed was the
    reader's own Mann-Whitney script. export_summary now compares each series with the first at every rate both
    measured: a slower build is `slower` with a higher share broken, an identical one shows no detectable
    difference (its interval spans 0), each difference's interval combined from the two levels' own."""
    common = ("--rates", "20", "--duration", "2", "--warmup", "0.2", "--connection", "close")
    for version, service_s in (("e1", 0.001), ("e2", 0.030), ("e3", 0.001)):
        with serving(ThreadedService(service_s)) as url:
            proc = run_template(tmp_path, "--url", url, "--experiment-version", version, *common)
        assert proc.returncode == 0, proc.stderr
    db = tmp_path / "throughput.db"
    summary = run_python(ROOT / "scripts" / "export_summary.py", db, "requests", "--slo", "p99<10ms", "--json")
    assert summary.returncode in (0, 1), summary.stderr
    compared = {c["series"].split("experiment_version=")[-1][:2]: c for c in json.loads(summary.stdout)["slo"][
        "series_comparisons"]}
    assert sorted(compared) == ["e2", "e3"] and {c["rate"] for c in compared.values()} == {20.0}
    slow, same = compared["e2"], compared["e3"]
    assert "experiment_version=e1" in slow["reference"]
    assert slow["clauses"][0]["verdict"] == "higher" and slow["clauses"][0]["low"] > 0.5
    assert slow["latency_ms"]["p50"]["verdict"] == "slower" and slow["latency_ms"]["p50"]["difference"] > 20
    assert same["clauses"][0]["verdict"] == "no detectable difference"
    assert same["clauses"][0]["low"] < 0 < same["clauses"][0]["high"]
    text = run_python(ROOT / "scripts" / "export_summary.py", db, "requests", "--slo", "p99<10ms").stdout
    assert "### Series compared with " in text and "at the rates both measured" in text
    assert " higher" in text and "slower" in text and "Unadjusted for the 6 differences shown" in text
    paired = run_python(ROOT / "scripts" / "export_summary.py", db, "requests", "--slo", "p99<10ms", "--pairs", "all")
    assert paired.stdout == text and paired.stderr.count("\n") == 1 and (  # trial B: --pairs was silently ignored
        "note: --pairs all and --within compare a benchmark's configurations; a load test's series are compared at "
        "the rates they share") in paired.stderr, paired.stderr
    # trial I: a build added later became the first series; --pairs COL=VALUE names the reference
    chosen = run_python(ROOT / "scripts" / "export_summary.py", db, "requests", "--slo", "p99<10ms", "--pairs",
                        "experiment_version=e3", "--json")
    assert chosen.returncode in (0, 1) and chosen.stderr == "", chosen.stderr
    against_e3 = {c["series"].split("experiment_version=")[-1][:2]: c for c in json.loads(chosen.stdout)["slo"][
        "series_comparisons"]}
    assert sorted(against_e3) == ["e1", "e2"] and all("experiment_version=e3" in c["reference"]
                                                      for c in against_e3.values())
    assert against_e3["e2"]["latency_ms"]["p50"]["verdict"] == "slower"
    assert against_e3["e1"]["clauses"][0]["verdict"] == "no detectable difference"
    unknown = run_python(ROOT / "scripts" / "export_summary.py", db, "requests", "--slo", "p99<10ms", "--pairs",
                         "experiment_version=e9")
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1 and (
        "--pairs 'experiment_version=e9' matches no series of this load test") in unknown.stderr, unknown.stderr


# ------------------------------------------------------------------ payload pools, end to end
@pytest.mark.slow
def test_a_jsonl_payload_pool_is_sent_in_turn_and_each_request_names_its_body(tmp_path):
    pool = [{"instances": [[i, 0, 0, 0]]} for i in range(3)]
    (tmp_path / "bodies.jsonl").write_text("\n".join(json.dumps(b) for b in pool) + "\n\n")
    server = ThreadedService(0.001)
    with serving(server) as url:
        proc = run_template(tmp_path, "--url", url, "--payload", "@bodies.jsonl", "--rates", "40", "--duration", "1",
                            "--warmup", "0.2", "--repeats", "2")
    assert proc.returncode == 0, proc.stderr
    db = tmp_path / "throughput.db"
    rows = read_dicts(db, "SELECT seq, payload_id, response_body FROM requests WHERE replicate = 0 ORDER BY seq")
    warmup = round(40 * 0.2)  # the warm-up sends are not stored, but they took their turn in the cycle
    assert [r["payload_id"] for r in rows] == [(warmup + r["seq"]) % 3 for r in rows]
    assert all(r["response_body"].startswith(f'{{"echo": {json.dumps(pool[r["payload_id"]])}') for r in rows)
    (level, *_) = levels(db)
    assert json.loads(level["endpoint_payloads"]) == [json.dumps(b) for b in pool] and level["payload_pool_size"] == 3
    assert sorted(r["replicate"] for r in levels(db)) == [0, 1] and {r["repeat"] for r in levels(db)} == {0, 1}


@pytest.mark.slow
def test_a_get_with_the_query_in_the_url_sends_each_payloads_fields_url_quoted_and_no_body(tmp_path):
    """Trial I: a `GET /search?q=...` service could only be sent bodies (the service had to read a GET's body).
    `{q}` in the URL takes each payload's `q`, URL-quoted, in the pool's turn; a GET sends no body."""
    pool = [{"q": "red shoes"}, {"q": "a&b=c"}, {"q": "ünï"}]
    (tmp_path / "queries.jsonl").write_text("\n".join(json.dumps(b) for b in pool) + "\n")
    server = ThreadedService(0.001)
    with serving(server) as url:
        search = url.rsplit("/", 1)[0] + "/search?q={q}&n=10"
        proc = run_template(tmp_path, "--url", search, "--method", "GET", "--payload", "@queries.jsonl",
                            "--rates", "40", "--duration", "1", "--warmup", "0.2")
    assert proc.returncode == 0, proc.stderr
    paths = ["/search?q=red%20shoes&n=10", "/search?q=a%26b%3Dc&n=10", "/search?q=%C3%BCn%C3%AF&n=10"]
    assert server.gets and {path for path, _ in server.gets} <= set(paths) and len(server.gets) >= 3 * 10
    assert {size for _, size in server.gets} == {0}  # no body on a GET
    rows = read_dicts(tmp_path / "throughput.db", "SELECT payload_id, response_body FROM requests")
    assert rows and all(json.loads(r["response_body"])["path"] == paths[r["payload_id"]] for r in rows)


@pytest.mark.parametrize(("url", "said"), [
    ("http://127.0.0.1:9/search?q={query}", "payload 1 has no field query (each body in --payload must be a JSON "
                                            "object with every {name} of the URL)"),
    ("http://127.0.0.1:9/search?q={}", "a placeholder needs a name, e.g. {q}"),
])
def test_a_url_placeholder_without_a_payload_field_is_one_line_and_exit_2(tmp_path, capsys, url, said):
    (tmp_path / "queries.jsonl").write_text('{"q": "shoes"}\n')
    code, out, err = call_main(template.main, capsys, "--url", url, "--method", "GET", "--payload",
                               f"@{tmp_path / 'queries.jsonl'}", "--db", str(tmp_path / "t.db"), "--rates", "10")
    assert code == 2 and err.count("\n") == 1 and said in err, err
    assert not (tmp_path / "t.db").exists()


# ------------------------------------------------------------------ fast: the parts, without a server
def test_payload_text_a_json_file_and_a_jsonl_pool(tmp_path):
    assert template.load_payloads('{"a": 1}') == ('{"a": 1}',)
    (tmp_path / "one.json").write_text('{\n  "a": [1, 2]\n}\n')
    assert template.load_payloads(f"@{tmp_path / 'one.json'}") == ('{\n  "a": [1, 2]\n}\n',)  # sent as written
    (tmp_path / "pool.jsonl").write_text('{"a": 1}\n\n{"a": 2}\n  \n[3]\n')
    assert template.load_payloads(f"@{tmp_path / 'pool.jsonl'}") == ('{"a": 1}', '{"a": 2}', "[3]")


@pytest.mark.parametrize("files, spec, message", [
    ({}, "@missing.jsonl", "--payload @missing.jsonl: no such file"),
    ({"empty.jsonl": "\n \n"}, "@empty.jsonl", "--payload @empty.jsonl: the file is empty"),
    ({"bad.jsonl": '{"a": 1}\n{"a": \n'}, "@bad.jsonl", "--payload @bad.jsonl line 2: not valid JSON"),
    ({"bad.json": "{'a': 1}"}, "@bad.json", "--payload @bad.json: not valid JSON"),
    ({}, "{not json", "--payload: not valid JSON"),
])
def test_a_bad_payload_is_one_line_exit_2_and_no_database(tmp_path, monkeypatch, capsys, files, spec, message):
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    code, out, err = call_main(template.main, capsys, "--payload", spec, "--rates", "10")
    assert code == 2 and err.startswith(f"{PROG}: error: {message}") and err.count("\n") == 1
    assert not (tmp_path / "throughput.db").exists()


@pytest.mark.parametrize("args, message", [
    (("--budget", "30"), "give it with --slo"),
    (("--slo", "p99<50ms", "--budget", "30", "--concurrency", "2"), "drop --concurrency"),
    (("--slo", "p99<50ms", "--budget", "30", "--connection", "keepalive,close"), "the second --connection"),
    (("--slo", "p99<50ms", "--budget", "30", "--rates", "400,100"), "START <= CEILING"),
    (("--slo", "p99<50ms", "--budget", "2"), "--budget 2 s is less than the first level"),
    # without --duration a search level lasts 5 s (SEARCH_MIN_S): export warns about shorter ones (trial Y)
    (("--slo", "p99<50ms", "--budget", "5.5"), "(1 s warm-up + 5 s at 100/s"),
    (("--slo", "p99>50ms",), "cannot read 'p99>50ms'"),
    (("--connection", "pipelined",), "'pipelined' is not one of keepalive, close"),
    (("--repeats", "0",), "--repeats must be at least 1"),
])
def test_bad_load_options_are_one_line_exit_2_and_no_database(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = call_main(template.main, capsys, *args)
    assert code == 2 and err.startswith(f"{PROG}: error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "throughput.db").exists()


def test_repeats_alternate_ascending_and_descending_order_and_each_is_its_own_replicate(tmp_path):
    levels_ = [template.open_level(r) for r in (10, 20, 30)]
    order = [(r, p, lv.rate) for r, p, lv in template.run_order(levels_, 3)]
    assert order == [(0, 0, 10), (0, 1, 20), (0, 2, 30), (1, 0, 30), (1, 1, 20), (1, 2, 10),
                     (2, 0, 10), (2, 1, 20), (2, 2, 30)]
    jobs, skipped = template.plan(levels_, tmp_path / "none.db", False, "e1", repeats=2)
    assert [(j.level.rate, j.replicate, j.repeat, j.position, j.rebuild) for j in jobs] == [
        (10, 0, 0, 0, False), (20, 0, 0, 1, False), (30, 0, 0, 2, False),
        (30, 1, 1, 0, False), (20, 1, 1, 1, False), (10, 1, 1, 2, False)]
    assert skipped == []


def test_the_connection_model_and_pool_size_are_part_of_the_configuration():
    keep, close = template.open_level(50), template.open_level(50, connection="close")
    assert template.config_id(keep) != template.config_id(close)
    assert keep.pool_size == keep.max_in_flight == 512 and template.open_level(50, max_in_flight=8).pool_size == 8
    assert template.closed_level(4).pool_size == 4 and template.open_level(50, pool_size=2).pool_size == 2
    assert keep.describe() == "open-loop 50/s constant keepalive" and "close" in close.describe()
    with pytest.raises(ValueError, match="connection must be"):
        template.open_level(50, connection="http2")


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def settler(latencies, max_s=10.0, threshold_ms=None) -> tuple[template.Settler, FakeClock]:
    clock, answers = FakeClock(), iter(latencies)

    def probe():
        latency = next(answers)
        clock.now += 0 if latency is None or math.isinf(latency) else latency / 1e3
        return latency

    return template.Settler(probe, max_s, threshold_ms, clock=clock, sleep=clock.sleep), clock


def test_settling_waits_for_three_fast_answers_in_a_row_relative_to_the_fastest_seen():
    s, _ = settler([900, 400, 5, 6, 300, 5, 5, 6])  # a backlog draining, one more slow answer, then settled
    result = s.settle()
    assert result["settle_outcome"] == "settled" and result["settle_probes"] == 8
    assert result["settle_threshold_ms"] == 10  # 5 ms fastest: 5 ms slack beats doubling
    s2, _ = settler([100, 100, 100])  # a service whose idle latency is 100 ms settles at once
    assert s2.settle()["settle_outcome"] == "settled"


def test_settling_stops_at_the_cap_and_says_so_and_stops_at_once_when_nothing_listens():
    slow, _ = settler([5, 5, 5] + [500] * 1000, max_s=2.0)
    slow.settle()  # settles on the first three, and remembers 5 ms as the fastest
    result = slow.settle()
    assert result["settle_outcome"] == "capped" and 2.0 <= result["settle_s"] < 2.6
    down, _ = settler([None])
    assert down.settle() == {"settle_outcome": "unreachable", "settle_s": 0.0, "settle_probes": 1,
                             "settle_threshold_ms": pytest.approx(float("nan"), nan_ok=True)}
    fixed, _ = settler([30, 30, 30], threshold_ms=20, max_s=0.05)
    assert fixed.settle()["settle_outcome"] == "capped"
    off, _ = settler([], max_s=0)
    assert off.settle()["settle_outcome"] == "off"


def test_the_search_steps_up_to_the_first_failure_then_bisects_until_narrow():
    nxt = template.next_rate
    assert nxt({100: "meets"}, 100, 100, 3200) == (200, "up")
    assert nxt({1600: "meets", 3200: "meets"}, 3200, 100, 3200) == (None, "ceiling")
    assert nxt({1600: "meets"}, 1600, 100, 2000) == (2000, "up")
    assert nxt({100: "meets", 200: "meets", 400: "fails"}, 200, 100, 3200) == (283, "bisect")
    assert nxt({100: "meets", 200: "meets", 283: "meets", 400: "fails"}, 283, 100, 3200) == (336, "bisect")
    assert nxt({200: "meets", 215: "fails"}, 200, 100, 3200) == (None, "narrow")  # within 10 %
    assert nxt({100: "fails"}, None, 100, 3200) == (50, "down")  # nothing meets: step down...
    assert nxt({12.5: "fails", 25: "fails", 50: "fails", 100: "fails"}, None, 100, 3200) == (None, "floor")  # START/8


def test_an_undecided_rate_is_measured_again_longer_before_the_search_moves_on_around_it():
    nxt = template.next_rate
    # Not a failure, and not a pass either: no step up past it...
    assert nxt({100: "meets", 200: "undecided"}, 100, 100, 3200) == (200, "longer")
    # ...and no bisecting below it as if it failed (the trial: 14.9 meets, 16.2 undecided, 100 fails was
    # "narrow", 16.2 being within 10 % of 14.9)
    assert nxt({14.9: "meets", 16.2: "undecided", 100: "fails"}, 14.9, 50, 400) == (16.2, "longer")
    assert nxt({50: "undecided"}, None, 50, 400) == (50, "longer")  # the first level: not a step up to 100
    # Still undecided when longer (a periodic stall can keep a level undecided at any length): neither a pass
    # nor a failure, and not "the limit": the search goes on around it, up past it while nothing fails...
    assert nxt({100: "meets", 200: "undecided"}, 100, 100, 3200, {200}) == (400, "up")
    assert nxt({50: "undecided", 100: "fails"}, None, 50, 400, {50}) == (25, "down")
    # ...and stops when the middle of the bracket is that rate
    assert nxt({50: "meets", 100: "undecided", 200: "fails"}, 50, 50, 400, {100}) == (None, "undecided")
    # Measured longer, it decided: the search goes on from the decided verdicts (bisects up from 200 here)
    assert nxt({100: "meets", 200: "meets", 400: "fails"}, 200, 100, 3200, {200}) == (283, "bisect")
    # Bisecting runs between the capacity and the lowest *failing* rate above it
    assert nxt({100: "meets", 141: "fails", 200: "fails"}, 100, 100, 3200) == (119, "bisect")


def verdict(rate: float, kind: str, requests: int = 1000, share: float = 0.0, low: float = 0.0,
            high: float = 0.005, clause: str = "p99<50ms", allowed: float = 0.01) -> dict:
    """One level's verdict as export_summary's --json gives it (the fields the template reads)."""
    return {"rate": rate, "verdict": kind, "requests": requests, "label": f"rate={rate:g}",
            "clauses": [{"clause": clause, "allowed": allowed, "share": share, "low": low, "high": high,
                         "verdict": kind}]}


def test_the_stop_reason_names_what_decided_it():
    def why(kind, verdicts, meets_at=None, capped=()):
        decisive = {v["rate"]: v for v in template.deciding(verdicts)}
        return template.stop_reason(kind, decisive, meets_at, 100, 3200, capped)
    assert why("narrow", [verdict(200, "meets"), verdict(215, "fails")], 200) == \
        "the bracket is narrow: 200/s meets and 215/s fails, within 10 % of each other"
    assert why("ceiling", [verdict(1600, "meets"), verdict(3200, "meets")], 3200) == \
        "the ceiling 3200/s was reached and every tested rate meets"
    assert why("floor", [verdict(r, "fails") for r in (12.5, 25, 50, 100)]) == \
        "the floor was reached: 12.5/s (the start 100/s over 8) fails, as does every tested rate"
    undecided = [verdict(25, "meets"), verdict(50, "undecided", 1000, 0.004, 0.0, 0.012),
                 verdict(50, "undecided", 3000, 0.009, 0.006, 0.013), verdict(100, "fails")]
    assert why("undecided", undecided, 25) == (
        "25/s meets and 100/s fails; 50/s between them stayed undecided even over 3000 requests, measured 3 times "
        "as long (p99<50ms broken by 0.9% [0.6, 1.3], 1% allowed): the limit lies in the bracket, and repeats at "
        "50/s (--rates 50 --duration 60 --repeats 3) can tell which side")  # as long as the 3000-request level
    assert "50/s between them stayed undecided over 3000 requests, and MAX_LEVEL_SECONDS or MAX_REQUESTS_PER_LEVEL " \
        "allow no longer level" in why("undecided", undecided, 25, capped={50})
    # a deciding count below the level's own (its broken requests in bursts: trial Y3) is not offered as a length
    bursty = {**verdict(50, "undecided", 3000, 0.012, 0.004, 0.02)}
    bursty["clauses"][0]["requests_to_decide"] = 2177
    assert template.undecided_clauses(bursty).endswith(", its broken requests come in bursts: repeat the level "
                                                       "rather than lengthen it")


def test_a_rate_measured_twice_is_decided_by_its_longer_level_and_a_longer_level_stays_in_bounds():
    short, long = verdict(50, "undecided", 1000), verdict(50, "meets", 3000)
    assert template.deciding([long, verdict(25, "meets"), short]) == [verdict(25, "meets"), long]
    level = template.open_level(50, duration_s=20, warmup_s=1)
    assert template.longer_level(level).duration_s == 60
    near = template.open_level(50, duration_s=500, warmup_s=1)  # 3 x 500 s would pass MAX_LEVEL_SECONDS
    assert template.longer_level(near) is None  # 599 s is not enough longer to narrow the interval much
    assert template.longer_level(template.open_level(400, duration_s=50, warmup_s=1)).duration_s == 124  # 50,000 req


@pytest.fixture(scope="module")
def judge():
    return template.SloJudge("p99<50ms")  # export_summary's capacity, through the skill module


def bracket(judge, capsys, verdicts, **search) -> list[str]:
    template.print_bracket(judge, verdicts, search.get("stopped", "done"), search.get("spent"), search.get("budget"),
                           search.get("ceiling"))
    return capsys.readouterr().out.splitlines()


STRADDLING = "undecided, the share's interval straddles the allowed share: "


def test_undecided_levels_with_enough_requests_are_said_to_straddle_the_allowed_share_not_to_be_too_short(
        judge, capsys):
    lines = bracket(judge, capsys, [verdict(25, "undecided", 750, 0.004, 0.0, 0.012),
                                    verdict(35, "undecided", 750, 0.008, 0.002, 0.021)])
    assert lines == [
        "capacity: every tested rate is undecided on p99<50ms (25, 35/s)",
        f"  {STRADDLING}25/s (750 requests: p99<50ms broken by 0.4% [0.0, 1.2], 1% allowed), 35/s (750 requests: "
        "p99<50ms broken by 0.8% [0.2, 2.1], 1% allowed); measure longer (--duration) or repeat (--repeats) to "
        "narrow it"]
    lines = bracket(judge, capsys, [verdict(25, "undecided", 150, 0.0, 0.0, 0.024),
                                    verdict(35, "undecided", 750, 0.008, 0.002, 0.021)])
    assert lines[1] == "  undecided, too few requests for a verdict: 25/s (150 requests) (about 500 per level make " \
        "one possible: raise --duration)"
    assert lines[2].startswith(f"  {STRADDLING}35/s (750 requests")


def test_every_tested_rate_meets_only_when_every_one_is_decided_and_meets(judge, capsys):
    meets = [verdict(r, "meets") for r in (10, 20, 70)]
    assert bracket(judge, capsys, meets, ceiling=70) == [
        "capacity: every tested rate meets p99<50ms (up to 70/s); raise the ceiling (--rates START,CEILING; it was "
        "70/s)"]
    lines = bracket(judge, capsys, meets + [verdict(25, "undecided", 750, 0.004, 0.0, 0.012),
                                            verdict(35, "undecided", 750, 0.006, 0.001, 0.015)])
    assert lines[0] == "capacity: nothing fails p99<50ms, but not every tested rate meets it: meets at 10, 20, 70/s; " \
        "undecided at 25, 35/s; the highest that meets is 70/s"
    assert lines[1].startswith(f"  {STRADDLING}25/s") and len(lines) == 2


def test_the_bracket_names_undecided_rates_inside_it_and_nothing_meets_says_what_it_saw(judge, capsys):
    lines = bracket(judge, capsys, [verdict(14.9, "meets"), verdict(16.2, "undecided", 500, 0.006, 0.001, 0.014),
                                    verdict(100, "fails", share=0.5, low=0.4, high=0.6)],
                    stopped="the budget ran out", spent=200, budget=240)
    assert lines[0] == "capacity: meets p99<50ms at 14.9/s, fails at 100/s: the limit lies between (measure inside " \
        "the bracket, longer, to narrow it)"
    assert lines[1].startswith(f"  {STRADDLING}16.2/s (500 requests")
    assert lines[2] == "search: 3 level(s), 200 of 240 measured seconds; stopped: the budget ran out"
    fails = [verdict(r, "fails", share=0.5, low=0.4, high=0.6) for r in (50, 100)]
    assert bracket(judge, capsys, fails)[0].startswith("capacity: no tested rate meets p99<50ms (50-100/s): find why")
    lines = bracket(judge, capsys, [verdict(25, "undecided", 750, 0.004, 0.0, 0.012)] + fails)
    assert lines[0] == "capacity: no tested rate meets p99<50ms with no lower rate failing: undecided at 25/s; " \
        "fails at 50, 100/s"


def test_a_rate_measured_again_longer_counts_once_with_its_longer_verdict(judge, capsys):
    lines = bracket(judge, capsys, [verdict(50, "undecided", 1000, 0.004, 0.0, 0.012), verdict(50, "meets", 3000),
                                    verdict(100, "fails", share=0.5, low=0.4, high=0.6)])
    assert lines == ["capacity: meets p99<50ms at 50/s, fails at 100/s: the limit lies between (measure inside the "
                     "bracket, longer, to narrow it)"]


def test_a_search_level_lasts_long_enough_for_its_objectives_tightest_share():
    base = template.open_level(100, duration_s=1, warmup_s=0.5)
    assert template.search_level(base, 100, 500).duration_s == 5  # 500 requests at 100/s
    assert template.search_level(base, 1000, 500).duration_s == 1  # --duration is the least
    assert template.search_level(base, 10, 10_000).duration_s == template.MAX_LEVEL_SECONDS - 0.5  # bounded


def test_a_reply_is_stored_up_to_200_bytes_and_a_cut_one_says_how_long_it_was():
    assert template.body_head(b'{"ok": true}') == '{"ok": true}'
    cut = template.body_head(b"x" * 1000)
    assert cut == "x" * template.RESPONSE_BODY_BYTES + "...[cut: 1000 bytes]"
    assert template.body_head("é".encode() * 150).endswith("...[cut: 300 bytes]")  # a cut character is replaced


def test_the_overhead_warning_fires_at_a_tenth_of_the_tightest_threshold():
    overhead = {"close": {"client_overhead_p99_ms": 6.0}, "keepalive": {"client_overhead_p99_ms": 1.0}}
    line = template.overhead_warning(overhead, [50.0, 200.0])
    assert line.startswith(f"{PROG}: warning: the client's own p99 with close connections (6.0 ms) is 12% of the "
                           "objective's 50 ms") and "\n" not in line
    assert line.endswith("(keepalive, or a client on another machine, costs less)")
    # keepalive was the costly one: keepalive is not the advice (trial L)
    line = template.overhead_warning({"keepalive": {"client_overhead_p99_ms": 7.1}}, [50.0])
    assert line.endswith("partly the client's (a client on another machine costs less)")
    assert template.overhead_warning(overhead, [100.0]) is None and template.overhead_warning(overhead, []) is None


@pytest.mark.slow
def test_the_calibration_measures_each_connection_model_against_a_null_endpoint():
    overhead = template.calibrate(["keepalive", "close"], template.Endpoint())
    for connection in ("keepalive", "close"):
        o = overhead[connection]
        assert 0 < o["client_overhead_p50_ms"] <= o["client_overhead_p99_ms"] < 100, (connection, o)
    print({c: round(o["client_overhead_p50_ms"], 2) for c, o in overhead.items()})


def test_the_search_and_the_sweep_pass_on_export_summarys_warning_that_a_levels_repeats_disagree(judge, tmp_path,
                                                                                               capsys):
    from test_slo import fast, level_rows, load_db
    tenth_slow = lambda t, k: 200.0 if k % 10 == 0 else fast(t, k)  # noqa: E731 - repeat 1 breaks p99<50ms
    db = load_db(tmp_path, {20: level_rows(20, 40, fast, replicate=0) + level_rows(20, 40, tenth_slow, replicate=1)})
    judge.report(db, "e1", [])
    template.print_slo_findings(judge)
    out = capsys.readouterr().out
    assert out.startswith("warning: 1 levels have a repeat that meets and one that fails on its own")


def test_a_search_over_levels_of_two_commits_says_it_stepped_over_both_and_one_commit_says_nothing(capsys):
    """print_version_split: the search's wording (it used every level of the experiment_version); silent when the
    version columns agree, and for levels without a version (all_failed's stand-ins)."""
    def level(commit):
        return {"rate": 20.0, "verdict": "meets", "version": {"experiment_version": "e1", "git_commit": commit}}

    template.print_version_split([level("aaa"), level("aaa"), {"rate": 40.0, "verdict": "fails"}], Path("t.db"), True)
    assert capsys.readouterr().out == ""
    template.print_version_split([level("aaa"), level("bbb"), level("bbb")], Path("t.db"), True)
    out = capsys.readouterr().out
    assert out.startswith("warning: these levels were measured in 2 versions (git_commit=aaa (1 level); "
                          "git_commit=bbb (2 levels)): git_commit changed during the run"), out
    assert "The search stepped over them all as one service" in out and "--version VALUE" in out


def test_a_rate_the_client_fell_behind_on_bounds_the_search_and_the_capacity_is_at_least_the_rate_below(judge, capsys):
    """Trial W: the client (one asyncio process at 88 % of a core) collapsed at 238/s on a 2-core machine; the search
    bisected on those levels and the capacity line said the service "fails at 238/s". A level export_summary marks
    client_behind (its broken requests mostly sent late) and that does not meet is now the top of what the search
    tries: it bisects below it (trial B) and stops near it, and the capacity is "at least" the rate under it."""
    limited = template.CLIENT_LIMITED
    # trial B: the search stopped at once, "at least 200/s", where the client kept up to ~350/s: it now bisects
    # between the capacity and the client's limit, and stops there once the two are close
    assert template.next_rate({100: "meets", 200: limited}, 100, 100, 3200) == (141, "bisect")
    assert template.next_rate({100: "meets", 141: "meets", 200: limited}, 141, 100, 3200) == (168, "bisect")
    assert template.next_rate({100: "meets", 141: limited, 200: limited}, 100, 100, 3200) == (119, "bisect")
    assert template.next_rate({100: "meets", 141: "fails", 200: limited}, 100, 100, 3200) == (119, "bisect")
    assert template.next_rate({100: "meets", 110: limited}, 100, 100, 3200) == (None, "client")  # within 10 %
    assert template.next_rate({100: limited}, None, 100, 3200) == (None, "client")  # nothing meets below it
    assert template.next_rate({100: "meets", 141: "undecided", 200: limited}, 100, 100, 3200) == (141, "longer")
    assert template.next_rate({100: "meets", 200: "fails"}, 100, 100, 3200) == (141, "bisect")  # the service's
    # below the capacity a client-limited level is a stall, ignored (trial Y); above a failure of the service, moot
    assert template.next_rate({100: "meets", 150: limited, 200: "meets"}, 200, 100, 3200) == (400, "up")
    assert template.next_rate({100: "meets", 200: "fails", 400: limited}, 100, 100, 3200) == (141, "bisect")
    late = {"requests": 180, "of": 200, "after_ms": 5.0, "client_behind": True}
    behind = {**verdict(200, "fails", 2000, 0.1, 0.08, 0.12), "client_behind": True, "sent_late": late}
    verdicts = [verdict(50, "meets"), verdict(100, "meets"), behind]
    decisive = {v["rate"]: v for v in template.deciding(verdicts)}
    assert template.stop_reason("client", decisive, 100, 50, 3200) == (
        "the client fell behind its schedule at 200/s (180 of the 200 requests that broke the objective were sent "
        "more than 5 ms late): it cannot drive this service harder from here")
    lines = bracket(judge, capsys, verdicts)
    assert lines[0] == ("capacity: at least 100/s (it meets p99<50ms there); at 200/s the client fell behind its "
                        "schedule (most requests that broke the objective were sent late), so that level cannot tell "
                        "the service's limit from the client's: run the client on cores or a machine of its own to "
                        "measure higher")
    template.print_verdict_table([{**v, "latency_ms": {}, "series": 0} for v in verdicts])
    table = capsys.readouterr().out
    assert "fails*" in table and "* the client fell behind its schedule" in table
    not_behind = {**behind, "client_behind": False}
    assert bracket(judge, capsys, [verdict(50, "meets"), verdict(100, "meets"), not_behind])[0].startswith(
        "capacity: meets p99<50ms at 100/s, fails at 200/s")

"""assets/throughput_benchmark_template.py measures a real server over real loopback HTTP, and gets latency right.

Every end-to-end test runs the template as a user would (a subprocess in a temporary directory) against
assets/model_server.py, a scikit-learn model in its own process. Requests are counted independently by the
server (`GET /stats`), never by the template's own claim.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psutil
import pytest
import throughput_benchmark_template as template
from benchkit import completed
from helpers import ROOT, free_port, run_python
from xetrack_fixtures import read_dicts

TEMPLATE = ROOT / "assets" / "throughput_benchmark_template.py"
SERVER = ROOT / "assets" / "model_server.py"
PROG = "throughput_benchmark_template.py"


# ------------------------------------------------------------------ helpers
def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


@contextmanager
def model_server(*options: str, port: int | None = None):
    """model_server.py in its own process; yields (predict URL, pid, served() -> predictions answered)."""
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    with subprocess.Popen([sys.executable, str(SERVER), "--port", str(port), *options],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        try:
            for _ in range(300):
                try:
                    get_json(f"{base}/health")
                    break
                except OSError:
                    assert proc.poll() is None, proc.stderr.read().decode()
                    time.sleep(0.1)
            yield f"{base}/predict", proc.pid, lambda: get_json(f"{base}/stats")["served"]
        finally:
            proc.terminate()


def run_template(cwd: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "BENCH_DEBUG"}
    return run_python(TEMPLATE, *args, cwd=cwd, env=env, timeout=timeout)


def level_rows(db: Path) -> list[dict]:
    return read_dicts(db, "SELECT * FROM levels WHERE error = '' ORDER BY timestamp")


def request_rows(db: Path, level: dict) -> list[dict]:
    return read_dicts(db, "SELECT * FROM requests WHERE config_id = ? AND replicate = ? AND experiment_version = ?",
                [level["config_id"], level["replicate"], level["experiment_version"]])


def assert_no_duplicate_requests(db: Path) -> None:
    dup = read_dicts(db, "SELECT config_id, replicate, experiment_version, seq, count(*) AS n FROM requests "
                   "GROUP BY config_id, replicate, experiment_version, seq HAVING n > 1")
    assert dup == [], f"duplicated requests: {dup[:3]}"


def requests_sent_by(level: dict) -> int:
    """Requests of one level that reached the server, by its row: measured, warm-up and settle probes."""
    return level["n_measured"] + level["n_warmup"] - level["n_dropped"] + level["settle_probes"]


def requests_sent(db: Path) -> int:
    return sum(map(requests_sent_by, level_rows(db)))


SHORT = ("--duration", "1", "--warmup", "0.2")


# ------------------------------------------------------------------ the no-argument run
@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("default")
    started = time.time()
    proc = run_template(cwd)
    RUN_WINDOW[:] = [started, time.time()]
    return proc, cwd / "throughput.db"


RUN_WINDOW: list[float] = []  # wall-clock start and end of the default run


@pytest.mark.slow
def test_every_request_carries_its_wall_clock_send_time_in_schedule_order(default_run):
    """Unix seconds, so a server-side periodic event can be lined up across levels (sent_s restarts per level)."""
    _, db = default_run
    for level in level_rows(db):
        rows = sorted(request_rows(db, level), key=lambda r: r["scheduled_s"])
        sent = [r["sent_unix"] for r in rows]
        assert RUN_WINDOW[0] <= min(sent) and max(sent) <= RUN_WINDOW[1], level["mode"]
        # The wall clock is the send clock shifted: one offset per level, whatever the machine did meanwhile.
        offsets = [r["sent_unix"] - r["sent_s"] for r in rows]
        assert max(offsets) - min(offsets) < 0.001, level["mode"]
        # Within a level it follows the schedule: gross check, the span is the level's duration, plus how late
        # the client sent (recorded per request: a machine that stalls the client for seconds, as a CI run once
        # did, 17 s for a 3 s level, shows up there, not as a wrong clock)
        span = sent[-1] - sent[0]
        late_s = max(r["send_lag_ms"] or 0.0 for r in rows) / 1000
        assert level["duration_s"] / 3 < span < level["duration_s"] * 3 + late_s, (level["mode"], span, late_s)


@pytest.mark.slow
def test_the_no_argument_run_exits_0_measures_every_default_level_and_prints_the_next_commands(default_run):
    proc, db = default_run
    assert proc.returncode == 0, proc.stderr
    assert db.exists()
    measured = level_rows(db)
    assert sorted(r["config_id"] for r in measured) == sorted(
        template.config_id(r) for r in template.levels_from(template.build_parser().parse_args([])))
    assert {r["mode"] for r in measured} == {"open-loop", "closed-loop"}
    assert all(r["error_rate"] == 0 and r["n_ok"] > 0 for r in measured)
    scripts = ROOT / "scripts"  # the template runs from the skill's assets/: the skill's own scripts
    # This run's version only: a --limit smoke run may share the database.
    assert f"  python {scripts / 'validate_benchmark.py'} throughput.db requests --filter experiment_version=e1\n" \
        in proc.stdout
    assert f"  python {scripts / 'export_summary.py'} throughput.db requests --version e1 --slo 'p99<50ms'\n" \
        in proc.stdout
    assert "load levels  6/6  100%" in proc.stderr  # progress, on stderr


@pytest.mark.slow
def test_every_row_of_both_tables_carries_the_experiment_version_and_the_callers_git_commit(default_run):
    _, db = default_run
    for table in ("requests", "levels"):
        # run from a directory outside any repository, although the template sits in one: the commit is the
        # user's project's, not the skill's
        assert read_dicts(db, f"SELECT DISTINCT experiment_version, git_commit FROM {table}") == \
            [{"experiment_version": "e1", "git_commit": "unversioned"}]


@pytest.mark.slow
def test_the_no_argument_runs_database_passes_validate_benchmark_with_exit_0(default_run):
    _, db = default_run
    for table in ("requests", "levels"):
        check = run_python(ROOT / "scripts" / "validate_benchmark.py", db, table)
        assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.slow
def test_level_percentiles_match_an_independent_computation_on_the_raw_rows(default_run):
    _, db = default_run
    for level in level_rows(db):
        ok = sorted(r["latency_ms"] for r in request_rows(db, level) if r["error"] == "")
        # statistics.quantiles 'inclusive' is Hyndman-Fan type 7, numpy's 'linear', written independently.
        cuts = statistics.quantiles(ok, n=1000, method="inclusive")
        expected = {"p50_ms": cuts[499], "p90_ms": cuts[899], "p95_ms": cuts[949], "p99_ms": cuts[989],
                    "p999_ms": cuts[998], "max_ms": ok[-1]}
        assert {k: level[k] for k in expected} == pytest.approx(expected, rel=1e-9), level["mode"]
        assert level["n_ok"] == len(ok)
        assert level["n_late"] == sum(r["send_lag_ms"] > level["late_after_ms"] for r in request_rows(db, level))
        tail = [r for r in request_rows(db, level) if r["error"] == "" and r["latency_ms"] >= cuts[989]]
        assert level["tail_n"] == len(tail) > 0
        assert level["tail_late"] == sum(r["send_lag_ms"] > level["late_after_ms"] for r in tail)
        assert level["send_lag_max_ms"] == max(r["send_lag_ms"] for r in request_rows(db, level))
        assert level["achieved_rps"] == pytest.approx(len(ok) / level["duration_s"])


def _requests(lags_ms: list[float], latencies_ms: list[float]) -> list[dict]:
    return [{"send_lag_ms": lag, "latency_ms": lat, "error": ""} for lag, lat in zip(lags_ms, latencies_ms, strict=True)]


def test_a_tail_sent_mostly_late_is_flagged_as_partly_the_clients(capsys):
    # 600 requests: the six slowest (p99 and above) left the client 40 ms late; the rest on time
    ok = _requests([0.1] * 594 + [40.0] * 6, [3.0] * 594 + [45.0 + k for k in range(6)])
    counts = template.tail_lateness(ok, np.array([r["latency_ms"] for r in ok]))
    assert counts == {"tail_n": 6, "tail_late": 6}
    row = {"config_id": "c1", "replicate": 0, "late_after_ms": template.LATE_AFTER_MS, "send_lag_max_ms": 40.0,
           "client_cpu_pct": 98.0, **counts}
    template.print_client_lag([row], {"c1": "open-loop 400/s"})
    out = capsys.readouterr().out
    assert out.startswith("warning: open-loop 400/s (rep 0): 6 of its 6 slowest requests") and "up to 40.0 ms" in out
    assert "client CPU 98 %" in out
    # a short level's tail of two requests is too few to say whose delay it is
    few = _requests([0.1] * 198 + [40.0, 40.0], [3.0] * 198 + [45.0, 47.0])
    counts = template.tail_lateness(few, np.array([r["latency_ms"] for r in few]))
    assert counts == {"tail_n": 2, "tail_late": 2} and template.LAG_TAIL_MIN > 2
    template.print_client_lag([{**row, **counts}], {"c1": "open-loop 400/s"})
    assert capsys.readouterr().out == ""


def test_a_slow_tail_sent_on_time_is_the_services_and_not_flagged(capsys):
    # the same tail, sent on time (the service was slow), and an early late send that is not in the tail
    ok = _requests([9.0] + [0.1] * 599, [3.0] * 594 + [45.0 + k for k in range(6)])
    counts = template.tail_lateness(ok, np.array([r["latency_ms"] for r in ok]))
    assert counts == {"tail_n": 6, "tail_late": 0}
    row = {"config_id": "c1", "replicate": 0, "late_after_ms": template.LATE_AFTER_MS, "send_lag_max_ms": 9.0,
           **counts}
    template.print_client_lag([row, {"config_id": "c1", "replicate": 1}], {"c1": "open-loop 400/s"})  # older row
    assert capsys.readouterr().out == ""


@pytest.mark.slow
def test_no_request_row_is_lost_or_duplicated(default_run):
    _, db = default_run
    assert_no_duplicate_requests(db)
    for level in level_rows(db):
        stored = request_rows(db, level)
        assert sorted(r["seq"] for r in stored) == list(range(level["n_measured"]))
        assert all(r["scheduled_s"] >= level["warmup_s"] for r in stored), "warm-up requests were recorded"
        if level["arrival"] == "constant":  # the schedule is known: rate x duration requests in the window
            assert len(stored) == round(level["rate"] * level["duration_s"])


# ------------------------------------------------------------------ re-runs, counted by the server
@pytest.mark.slow
def test_a_second_run_sends_nothing_and_rerun_measures_again_as_a_new_replicate(tmp_path):
    with model_server() as (url, pid, served):
        args = ("--url", url, "--server-pid", str(pid), "--rates", "50", "--concurrency", "2", *SHORT)
        first = run_template(tmp_path, *args)
        assert first.returncode == 0, first.stderr
        db = tmp_path / "throughput.db"
        assert served() == requests_sent(db)
        n_rows = len(read_dicts(db, "SELECT seq FROM requests"))

        second = run_template(tmp_path, *args)
        assert second.returncode == 0, second.stderr
        assert served() == requests_sent(db), "the second run sent requests"
        assert len(read_dicts(db, "SELECT seq FROM requests")) == n_rows
        assert "skipping 2 level(s)" in second.stdout and "--rerun" in second.stdout

        third = run_template(tmp_path, *args, "--rerun")
        assert third.returncode == 0, third.stderr
        assert served() == requests_sent(db)
        assert sorted({r["replicate"] for r in level_rows(db)}) == [0, 1]
        assert_no_duplicate_requests(db)
        # its table marks the replicates the first run measured (trial L: they sat there unlabelled)
        assert len(re.findall(r"\(earlier run\) +0 ", third.stdout)) == 2
        assert len(re.findall(r"^(?!.*earlier run).* 1 +\d+ +\d", third.stdout, re.MULTILINE)) == 2
        assert all(r["server_cpu_pct"] >= 0 and r["server_rss_mb"] > 10 for r in level_rows(db))


@pytest.mark.slow
def test_a_new_experiment_version_measures_every_level_again_and_reports_only_its_own(tmp_path):
    with model_server() as (url, _, served):
        args = ("--url", url, "--rates", "50", "--concurrency", "2", *SHORT)
        assert run_template(tmp_path, *args, "--experiment-version", "dev").returncode == 0
        db = tmp_path / "throughput.db"
        before = served()
        again = run_template(tmp_path, *args, "--experiment-version", "e2")
        assert again.returncode == 0, again.stderr
        assert served() == requests_sent(db) > before and "skipping" not in again.stdout
    per_version = read_dicts(db, "SELECT experiment_version AS v, COUNT(*) AS n, MAX(replicate) AS rep FROM levels "
                           "WHERE error = '' GROUP BY 1 ORDER BY 1")
    assert per_version == [{"v": "dev", "n": 2, "rep": 0}, {"v": "e2", "n": 2, "rep": 0}]
    assert_no_duplicate_requests(db)
    table = again.stdout.split("Database:")[0]
    assert len([line for line in table.splitlines() if line.startswith(("open-loop", "closed-loop"))]) == 2


@pytest.mark.slow
def test_a_summary_lost_between_the_two_writes_is_rebuilt_without_sending_again(tmp_path):
    with model_server() as (url, _, served):
        args = ("--url", url, "--rates", "40,60", *SHORT)
        assert run_template(tmp_path, *args).returncode == 0
        db = tmp_path / "throughput.db"
        before = {r["config_id"]: r for r in level_rows(db)}
        sent = served()
        # Planted state: the process died after logging a level's requests, before its levels row.
        lost = next(iter(before))
        with sqlite3.connect(db) as con:
            con.execute("DELETE FROM levels WHERE config_id = ?", [lost])
        again = run_template(tmp_path, *args)
        assert again.returncode == 0, again.stderr
        assert served() == sent
        rebuilt = {r["config_id"]: r for r in level_rows(db)}[lost]
        for key in ("n_measured", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "achieved_rps"):
            assert rebuilt[key] == before[lost][key], key
        assert rebuilt["client_cpu_pct"] is None  # not stored with the requests, so unknown, not invented
        assert_no_duplicate_requests(db)


@pytest.mark.slow
def test_a_level_whose_requests_all_fail_is_an_error_row_and_only_it_is_retried(tmp_path):
    port = free_port()
    db = tmp_path / "throughput.db"
    url = f"http://127.0.0.1:{port}/predict"
    with model_server(port=port):
        assert run_template(tmp_path, "--url", url, "--rates", "50", *SHORT).returncode == 0
    # The server is down: the new level fails, the measured one is skipped.
    down = run_template(tmp_path, "--url", url, "--rates", "50,80", *SHORT)
    assert down.returncode == 1
    assert "level failed: open-loop 80/s constant keepalive: all" in down.stderr
    failed = read_dicts(db, "SELECT config_id, error FROM levels WHERE error != ''")
    assert len(failed) == 1 and "ConnectError" in failed[0]["error"]
    assert read_dicts(db, "SELECT count(*) AS n FROM requests WHERE config_id = ?", [failed[0]["config_id"]])[0]["n"] == 0
    with model_server(port=port) as (_, _, served):
        retry = run_template(tmp_path, "--url", url, "--rates", "50,80", *SHORT)
        assert retry.returncode == 0, retry.stderr
        retried = [r for r in level_rows(db) if r["config_id"] == failed[0]["config_id"]]
        assert len(retried) == 1
        assert served() == requests_sent_by(retried[0])  # nothing else was re-sent


# ------------------------------------------------------------------ coordinated omission
STALL_EVERY, STALL_FOR, RATE, WINDOW = 1.0, 0.25, 40, 4
GROSS = 3  # the narrowest margin a wall-clock assertion may have on a shared 2-core machine


def stall_run(tmp_path: Path, *server_options: str) -> dict[str, dict]:
    with model_server(*server_options) as (url, _, served):
        proc = run_template(tmp_path, "--url", url, "--rates", str(RATE), "--concurrency", "1",
                            "--duration", str(WINDOW), "--warmup", "0.5")
        assert proc.returncode == 0, proc.stderr
        db = tmp_path / "throughput.db"
        assert served() == requests_sent(db)
    out = {}
    for level in level_rows(db):
        latencies = [r["latency_ms"] for r in request_rows(db, level) if r["error"] == ""]
        out[level["mode"]] = {**level, "slow": sum(x > 1e3 * STALL_FOR / 2 for x in latencies)}
    return out


@pytest.mark.slow
def test_a_stalling_server_shows_in_the_open_loop_tail_and_the_closed_loop_hides_it(tmp_path):
    stalled = stall_run(tmp_path, "--stall-every", str(STALL_EVERY), "--stall-for", str(STALL_FOR))
    open_, closed = stalled["open-loop"], stalled["closed-loop"]
    # Arrivals are uniform in time, so a share STALL_FOR/STALL_EVERY of them lands in a stall and waits for
    # its end: P(latency > x) = (STALL_FOR - x) / STALL_EVERY. Hence p90 = STALL_FOR - 0.1 * STALL_EVERY.
    # Wall-clock numbers on a shared machine: every bound below is a factor of 3 (GROSS) either side of the
    # expected value, or a ratio of 3 or more between the two loops. The effects are far larger than that: a
    # request that misses a stall takes a few ms, one that meets it up to STALL_FOR (250 ms), and latency
    # measured from the actual send instead of the intended one (coordinated omission) shows no tail at all.
    expected_p90_ms = 1e3 * (STALL_FOR - 0.1 * STALL_EVERY)  # 150 ms
    assert expected_p90_ms / GROSS < open_["p90_ms"] < GROSS * expected_p90_ms
    assert 1e3 * STALL_FOR / GROSS < open_["max_ms"] < GROSS * 1e3 * STALL_FOR
    expected_slow = RATE * WINDOW * (STALL_FOR / 2) / STALL_EVERY  # 20 of 160 requests wait over half a stall
    assert expected_slow / GROSS <= open_["slow"] <= GROSS * expected_slow
    # The closed loop sends nothing while it waits: one request per stall, whatever its throughput.
    assert closed["n_measured"] > 5 * open_["n_measured"]
    assert closed["slow"] <= GROSS * (math.ceil(WINDOW / STALL_EVERY) + 1)
    assert closed["slow"] / closed["n_measured"] < open_["slow"] / open_["n_measured"] / GROSS
    assert closed["p90_ms"] < 0.2 * open_["p90_ms"] and closed["p99_ms"] < open_["p99_ms"] / GROSS
    assert closed["max_ms"] > 1e3 * STALL_FOR / GROSS  # the stall happened to it too; the percentiles hide it


@pytest.mark.slow
def test_a_server_that_does_not_stall_has_no_such_tail(tmp_path):
    clean = stall_run(tmp_path)
    assert clean["open-loop"]["slow"] == 0 and clean["closed-loop"]["slow"] == 0
    assert clean["open-loop"]["n_dropped"] == 0 and clean["open-loop"]["error_rate"] == 0
    # "slow" is over 125 ms, and 45 ms is a third of the stalling server's p90: both are well over 3x the few ms
    # a loopback request to this server takes.
    assert clean["open-loop"]["p90_ms"] < 1e3 * (STALL_FOR - 0.1 * STALL_EVERY) / GROSS


@pytest.mark.slow
def test_sends_beyond_max_in_flight_are_dropped_counted_and_never_reach_the_server(tmp_path):
    with model_server("--stall-every", "1", "--stall-for", "0.25") as (url, _, served):
        proc = run_template(tmp_path, "--url", url, "--rates", "100", "--max-in-flight", "5",
                            "--duration", "2", "--warmup", "0")
        assert proc.returncode == 0, proc.stderr
        db = tmp_path / "throughput.db"
        (level,) = level_rows(db)
        stored = request_rows(db, level)
        dropped = [r for r in stored if r["error"].startswith("dropped")]
        # Two stalls of 0.25 s at 100/s: about 25 arrivals each, of which 5 fit in flight, so ~40 dropped of
        # 200; wall-clock driven, so the bounds are a factor of GROSS either side (none dropped, or all, fails).
        expected_dropped = 2 * (100 * 0.25 - 5)
        assert expected_dropped / GROSS <= len(dropped) <= GROSS * expected_dropped
        assert level["n_dropped"] == len(dropped)
        assert all(r["latency_ms"] is None and r["status"] == 0 for r in dropped)
        assert level["error_rate"] == pytest.approx(len(dropped) / len(stored))
        assert served() == len(stored) - len(dropped) + level["settle_probes"]


# ------------------------------------------------------------------ crash and restart
@pytest.mark.slow
def test_killed_with_sigkill_mid_run_and_restarted_it_completes_with_no_duplicate_and_no_missing_rows(tmp_path):
    args = ("--demo-port", str(free_port()), "--rates", "50,100,150", "--duration", "1.5", "--warmup", "0.3")
    db = tmp_path / "throughput.db"
    proc = subprocess.Popen([sys.executable, str(TEMPLATE), *args], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while not completed(db, "levels", ["config_id"]):  # read-only; absent file, table or column = nothing yet
        assert time.monotonic() < deadline and proc.poll() is None, "no level finished"
        time.sleep(0.05)
    server = psutil.Process(proc.pid).children()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert len(level_rows(db)) < 3, "killed too late to test anything"
    _, alive = psutil.wait_procs(server, timeout=5)
    assert alive == [], "the demo server outlived the killed benchmark"

    first_level = level_rows(db)[0]
    restart = run_template(tmp_path, *args)
    assert restart.returncode == 0, restart.stderr
    assert "skipping 1 level(s)" in restart.stdout
    measured = level_rows(db)
    assert sorted(r["rate"] for r in measured) == [50, 100, 150]
    assert_no_duplicate_requests(db)
    for level in measured:
        stored = request_rows(db, level)
        assert len(stored) == round(level["rate"] * 1.5) and level["replicate"] == 0
        assert len({r["track_id"] for r in stored}) == 1
    # The level finished before the kill was not measured again.
    assert [r["track_id"] for r in level_rows(db) if r["config_id"] == first_level["config_id"]] == \
        [first_level["track_id"]]


# ------------------------------------------------------------------ refusals and the command line
@pytest.mark.parametrize("args, message", [
    (("--url", "http://10.1.2.3:8000/predict"), "refusing to send load to non-loopback host '10.1.2.3'"),
    (("--url", "ftp://127.0.0.1/x"), "--url must be an http(s) URL"),
    (("--rates", "0"), "open loop needs rate > 0"),
    (("--rates", "fast"), "expected a comma-separated list of float"),
    (("--rates", "1000", "--duration", "100"), "exceeds MAX_REQUESTS_PER_LEVEL"),
    (("--concurrency", "2", "--duration", "700"), "under 600 s"),
    (("--limit", "0"), "--limit must be at least 1"),
    (("--experiment-version", ""), "--experiment-version must not be empty"),
])
def test_bad_input_is_one_line_exit_2_and_no_database(tmp_path, args, message):
    proc = run_template(tmp_path, *args, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"{PROG}: error: ") and message in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "throughput.db").exists()


@pytest.mark.slow
def test_a_busy_demo_port_is_refused_instead_of_measuring_someone_elses_server(tmp_path):
    with model_server() as (url, _, served):
        port = url.split(":")[2].split("/")[0]
        proc = run_template(tmp_path, "--demo-port", port, timeout=60)
        assert proc.returncode == 2 and served() == 0
        assert proc.stderr == f"{PROG}: error: port {port} is already in use; pass --demo-port to pick another\n"


def test_help_names_every_knob_and_the_exit_codes(tmp_path):
    proc = run_template(tmp_path, "--help", timeout=60)
    assert proc.returncode == 0
    for flag in ("--url", "--payload", "--rates", "--arrival", "--concurrency", "--duration", "--warmup", "--db",
                 "--limit", "--rerun", "--allow-remote", "--server-pid", "--max-in-flight", "--demo-port",
                 "--experiment-version", "exit codes"):
        assert flag in proc.stdout, flag


def test_help_gives_the_edit_blocks_durations_as_defaults_in_a_copy_that_changed_them(tmp_path):
    """Trial L: DURATION_S, WARMUP_S = 30.0, 2.0 in the EDIT block, and --help still said 'default 3' and
    'default 1', which read as if the edit was ignored."""
    copy = tmp_path / TEMPLATE.name
    shutil.copy(TEMPLATE.parent / "benchkit.py", tmp_path)  # as new_benchmark.py copies it, beside the template
    text = TEMPLATE.read_text()
    assert "DURATION_S, WARMUP_S = 3.0, 1.0" in text
    copy.write_text(text.replace("DURATION_S, WARMUP_S = 3.0, 1.0", "DURATION_S, WARMUP_S = 30.0, 2.0"))
    proc = run_python(copy, "--help", cwd=tmp_path, timeout=60)
    helped = " ".join(proc.stdout.split())
    assert "(default: DURATION_S in the EDIT block, 30)" in helped and "(default: WARMUP_S in the EDIT block, 2)" in helped


# ------------------------------------------------------------------ the schedule, without a server
def test_a_constant_schedule_is_evenly_spaced_and_a_poisson_one_is_seeded_and_on_rate():
    constant = template.arrival_offsets(template.open_level(200, duration_s=3, warmup_s=1))
    assert len(constant) == 800 and set(map(lambda d: round(d, 9), constant[1:] - constant[:-1])) == {0.005}
    poisson = template.open_level(200, "poisson", duration_s=50, warmup_s=0, seed=3)
    a, b = template.arrival_offsets(poisson), template.arrival_offsets(poisson)
    assert (a == b).all() and a.max() < 50
    assert abs(len(a) - 200 * 50) < 4 * math.sqrt(200 * 50)  # a Poisson count: within four sd of the mean
    gaps = a[1:] - a[:-1]
    assert gaps.std() / gaps.mean() == pytest.approx(1, abs=0.05)  # exponential gaps: cv = 1


def test_the_same_level_spelled_with_int_or_float_is_one_configuration():
    assert template.config_id(template.open_level(50)) == template.config_id(template.open_level(50.0))
    assert template.config_id(template.open_level(50)) != template.config_id(template.open_level(50, "poisson"))

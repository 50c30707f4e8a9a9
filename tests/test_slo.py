"""export_summary --slo: per-level verdicts with intervals, the capacity, and tail intervals that cover.

Load tables are written by xetrack in the throughput template's layout (one row per request: when it was due,
its latency from then, its error); the latencies are planted, so every verdict here is known in advance."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import time

import export_summary
import numpy as np
import pytest
from _bench.summary.load import BlockBootstrap, parse_slo, percentile_intervals
from _bench.summary.slo import clopper_pearson
from helpers import call_main
from scipy import stats
from xetrack import Tracker
from xetrack_fixtures import log_rows


def level_rows(rate: float, seconds: float, latency, error=lambda t: "", replicate: int = 0) -> list[dict]:
    """Open-loop requests at `rate`/s for `seconds`; latency(t) and error(t) give each one's outcome."""
    rows = []
    for k in range(int(rate * seconds)):
        t = k / rate
        err = error(t)
        rows.append({"config_id": f"open-{rate:g}", "mode": "open-loop", "rate": float(rate), "replicate": replicate,
                     "seq": k, "scheduled_s": t, "latency_ms": float(latency(t, k)), "status": 0 if err else 200,
                     "error": err})
    return rows


def load_db(tmp_path, levels: dict[float, list[dict]]):
    db = tmp_path / "load.db"
    log_rows(db, [r for rows in levels.values() for r in rows], engine="sqlite", table="requests",
             params={"experiment_version": "e1"})
    return db


def summary(capsys, db, *argv) -> tuple[int, dict]:
    code = export_summary.main([str(db), "requests", "--json", *map(str, argv)])
    return code, json.loads(capsys.readouterr().out)


def by_rate(doc: dict) -> dict[float, dict]:
    return {lv["rate"]: lv for lv in doc["slo"]["levels"]}


def fast(t, k):
    return 4.0 + (k % 7) * 0.5  # 4-7 ms, well below any objective here


def test_a_clear_capacity_is_bracketed_between_the_rate_that_meets_and_the_one_that_fails(tmp_path, capsys):
    slow_tenth = lambda t, k: 200.0 if k % 10 == 0 else fast(t, k)  # noqa: E731 - 10% slow: p99 breaks
    db = load_db(tmp_path, {20: level_rows(20, 40, fast), 40: level_rows(40, 40, fast),
                            80: level_rows(80, 40, slow_tenth)})
    code, doc = summary(capsys, db, "--slo", "p99<50ms")
    levels = by_rate(doc)
    assert code == 0 and doc["inferred"]["layout"]["kind"] == "load"
    assert [levels[r]["verdict"] for r in (20, 40, 80)] == ["meets", "meets", "fails"]
    assert doc["slo"]["highest_meeting"]["rate"] == 40
    assert doc["slo"]["bracket"] == {"meets_at": 40, "fails_at": 80}
    assert levels[80]["clauses"][0]["share"] == pytest.approx(0.1)
    assert not {"no-metric", "no-item-id"} & {f["check_id"] for f in doc["findings"]}


def test_a_long_periodic_pause_makes_the_objective_unmeetable_at_every_rate(tmp_path, capsys):
    paused = lambda t, k: 900.0 if (t % 10) < 1.0 else fast(t, k)  # noqa: E731 - 1 s stall every 10 s
    db = load_db(tmp_path, {r: level_rows(r, 40, paused) for r in (10, 20, 40)})
    code, doc = summary(capsys, db, "--slo", "p99<50ms")
    assert {lv["verdict"] for lv in doc["slo"]["levels"]} == {"fails"}
    assert doc["slo"]["highest_meeting"] is None and doc["slo"]["bracket"] == {"meets_at": None, "fails_at": 10}
    assert all(lv["block_s"] >= 2.0 for lv in doc["slo"]["levels"])  # blocks at least twice the 1 s stall


def test_a_share_too_close_to_the_limit_is_undecided_not_a_verdict(tmp_path, capsys):
    one_percent = lambda t, k: 120.0 if k % 100 == 0 else fast(t, k)  # noqa: E731 - exactly 1% over 50 ms
    db = load_db(tmp_path, {30: level_rows(30, 20, one_percent)})
    _, doc = summary(capsys, db, "--slo", "p99<50ms")
    (level,) = doc["slo"]["levels"]
    assert level["verdict"] == "undecided" and level["clauses"][0]["low"] < 0.01 < level["clauses"][0]["high"]
    assert "slo-undecided" in {f["check_id"] for f in doc["findings"]}


def test_errors_break_latency_clauses_too_and_an_error_clause_on_its_own(tmp_path, capsys):
    failing = lambda t: "HTTP 503" if int(t * 20) % 20 == 0 else ""  # noqa: E731 - 5% errors, spread out
    db = load_db(tmp_path, {20: level_rows(20, 40, fast, failing)})
    _, doc = summary(capsys, db, "--slo", "p99<50ms, errors<1%")
    (level,) = doc["slo"]["levels"]
    assert [c["verdict"] for c in level["clauses"]] == ["fails", "fails"] and level["verdict"] == "fails"
    assert level["error_rate"] == pytest.approx(0.05)
    _, lenient = summary(capsys, db, "--slo", "errors<20%")
    assert lenient["slo"]["levels"][0]["verdict"] == "meets"


def test_a_lower_rate_failing_below_a_meeting_one_is_a_finding(tmp_path, capsys):
    slow = lambda t, k: 300.0  # noqa: E731
    db = load_db(tmp_path, {10: level_rows(10, 40, slow), 20: level_rows(20, 40, fast)})
    _, doc = summary(capsys, db, "--slo", "p99<50ms")
    assert doc["slo"]["highest_meeting"] is None  # nothing meets with no lower rate failing
    (finding,) = [f for f in doc["findings"] if f["check_id"] == "slo-non-monotone"]
    assert "20" in finding["examples"][0]


def test_the_markdown_states_verdicts_intervals_and_the_capacity(tmp_path, capsys):
    db = load_db(tmp_path, {20: level_rows(20, 40, fast)})
    assert export_summary.main([str(db), "requests", "--slo", "p99<50ms"]) == 0
    out = capsys.readouterr().out
    assert "## Load test: p99<50ms" in out and "**meets**" in out
    assert "**Capacity:** the highest tested rate that meets p99<50ms is 20/s" in out


def test_the_plot_draws_latency_over_time_per_level(tmp_path, capsys):
    db = load_db(tmp_path, {20: level_rows(20, 10, fast), 40: level_rows(40, 10, fast)})
    png = tmp_path / "load.png"
    assert export_summary.main([str(db), "requests", "--slo", "p99<50ms", "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


@pytest.mark.parametrize("objective, message", [("p99>50ms", "cannot read 'p99>50ms'"),
                                                ("p100<5ms", "between 0 and 100"),
                                                ("errors<0%", "between 0% and 100%")])
def test_a_malformed_objective_is_a_one_line_usage_error(tmp_path, capsys, objective, message):
    db = load_db(tmp_path, {20: level_rows(20, 2, fast)})
    code, _, err = call_main(export_summary.main, capsys, str(db), "requests", "--slo", objective)
    assert code == 2 and err.count("\n") == 1 and message in err


def test_slo_on_a_benchmark_table_judges_each_configuration_and_a_hand_made_load_table_is_told_so(tmp_path, capsys):
    db = tmp_path / "p.db"  # calls made one after another: no schedule, a latency per call
    log_rows(db, [{"model": m, "input_id": i, "latency_ms": (5.0 if m == "fast" else 80.0) + i % 3, "error": ""}
                  for m in ("fast", "slow") for i in range(500)], engine="sqlite", table="requests")
    code, d = summary(capsys, db, "--slo", "p99<50ms")
    verdicts = {c["label"]: c["slo"] for c in d["versions"][0]["configurations"]}
    assert code == 0 and "slo" not in d  # no load-test section: per configuration instead
    assert verdicts["model=fast"]["verdict"] == "meets" and verdicts["model=slow"]["verdict"] == "fails"
    (clause,) = verdicts["model=slow"]["clauses"]
    assert (clause["clause"], clause["calls"], clause["broken"], clause["share"]) == ("p99<50ms", 500, 500, 1.0)
    few = tmp_path / "few.db"  # none of 300 calls broken does not yet show a share below 1 %: at most 1.22 %
    log_rows(few, [{"model": "fast", "input_id": i, "latency_ms": 5.0, "error": ""} for i in range(300)],
             engine="sqlite", table="requests")
    (c,) = summary(capsys, few, "--slo", "p99<50ms")[1]["versions"][0]["configurations"]
    assert c["slo"]["verdict"] == "undecided" and c["slo"]["clauses"][0]["high"] == pytest.approx(0.0122, abs=1e-4)
    hand = tmp_path / "hand.db"  # a request table made by hand: the schedule is there, the latency named oddly
    log_rows(hand, [{"rate": 10, "scheduled_s": i / 10, "took": 5.0, "error": ""} for i in range(5)],
             engine="sqlite", table="requests")
    code, _, err = call_main(export_summary.main, capsys, str(hand), "requests", "--slo", "p99<50ms")
    assert code == 2 and err.count("\n") == 1 and "pass --kind load (and --latency-col COL" in err
    code, out, err = call_main(export_summary.main, capsys, str(hand), "requests", "--slo", "p99<50ms", "--kind",
                               "load", "--latency-col", "took")
    assert code in (0, 1), err
    no_latency = tmp_path / "n.db"
    log_rows(no_latency, [{"model": "a", "input_id": i, "score": 1.0, "error": ""} for i in range(5)],
             engine="sqlite", table="requests")
    code, _, err = call_main(export_summary.main, capsys, str(no_latency), "requests", "--slo", "p95<40us")
    assert code == 2 and err.count("\n") == 1 and "--slo p95<40us needs a latency column" in err


def test_a_benchmark_slo_counts_failures_as_broken_and_widens_for_inputs_slow_together(tmp_path, capsys):
    # 100 inputs x 5 repeats; 8 inputs are slow on every repeat (8 %), against p95's 5 % allowed
    rows = [{"model": "m", "repeat": r, "input_id": i, "latency_us": 90.0 if i < 8 else 20.0, "error": ""}
            for r in range(5) for i in range(100)]
    log_rows(tmp_path / "r.db", rows, engine="sqlite", table="requests")
    code, d = summary(capsys, tmp_path / "r.db", "--slo", "p95<50us, errors<1%")
    (c,) = d["versions"][0]["configurations"]
    p95, errors = c["slo"]["clauses"]
    assert (p95["calls"], p95["broken"], p95["share"]) == (500, 40, 0.08) and errors["broken"] == 0
    naive = exact_interval(40, 500)
    assert p95["high"] - p95["low"] > 1.5 * (naive[1] - naive[0])  # 5 repeats of one input count as about one
    assert p95["verdict"] == "undecided" and c["slo"]["verdict"] == "undecided"
    assert d["inferred"]["measures"]["latency_unit"] == "us"


def exact_interval(k: int, n: int) -> tuple[float, float]:
    ci = stats.binomtest(k, n).proportion_ci(0.95, method="exact")
    return ci.low, ci.high


@pytest.mark.parametrize("k, n", [(0, 300), (3, 300), (40, 500), (500, 500), (1, 2)])
def test_the_benchmark_slo_interval_is_the_exact_one_for_whole_counts(k, n):
    assert clopper_pearson(k, n, 0.05) == pytest.approx(exact_interval(k, n), abs=1e-12)


def test_objectives_parse_in_both_units_and_combine():
    clauses = parse_slo("p99.9<0.2s, p50 < 20ms; errors<0.5%")
    assert [(c.kind, c.quantile, c.threshold_ms, c.allowed) for c in clauses] == [
        ("latency", 99.9, 200.0, pytest.approx(0.001)), ("latency", 50.0, 20.0, 0.5), ("errors", None, None, 0.005)]


@pytest.mark.slow
def test_the_p99_interval_covers_the_true_p99_at_least_90_percent_of_the_time():
    """Nominal 95%: correlated latencies (an AR(1) in log space, as queueing makes them) with a known p99."""
    rng = np.random.default_rng(11)
    n, phi, runs, covered = 3000, 0.8, 200, 0
    sd = 0.5 / np.sqrt(1 - phi**2)  # stationary SD of the log latency
    true_p99 = float(np.exp(np.log(10.0) + 2.3263478740408408 * sd))
    due = np.arange(n) / 100.0  # 100 requests/s for 30 s
    for _ in range(runs):
        z = np.empty(n)
        z[0] = rng.normal(0, sd)
        for i in range(1, n):
            z[i] = phi * z[i - 1] + rng.normal(0, 0.5)
        latency = 10.0 * np.exp(z)
        boot = BlockBootstrap(np.floor(due / 2.0).astype(int), 500, int(rng.integers(1 << 30)))
        ((_, low, high),) = percentile_intervals(latency, np.ones(n, bool), (99,), boot, 0.05)
        covered += low is not None and high is not None and low <= true_p99 <= high
    print(f"p99 interval coverage: {covered / runs:.3f} of {runs}")
    assert covered / runs >= 0.90, covered / runs


def test_validate_reports_overload_errors_as_a_measurement_not_a_broken_benchmark(tmp_path, capsys):
    import validate_benchmark

    overload = lambda t: "ReadTimeout" if t > 5 else ""  # noqa: E731 - the queue overflows after 5 s
    db = load_db(tmp_path, {20: level_rows(20, 20, fast), 200: level_rows(200, 20, fast, overload)})
    code, out, _ = call_main(validate_benchmark.main, capsys, str(db), "requests", "--json")
    report = json.loads(out)
    (finding,) = [f for f in report["findings"] if f["check_id"] == "failed-executions"]
    assert code == 0 and finding["severity"] == "warning" and "failures are the measurement" in finding["message"]
    assert finding["examples"][0]["error_rate"] == pytest.approx(0.75, abs=1e-3)
    levels = tmp_path / "levels.db"  # a level where nothing could be measured is logged as an error row
    log_rows(levels, [{"config_id": "open-500", "rate": 500.0, "error": "all 1500 requests failed"},
                      {"config_id": "open-20", "rate": 20.0, "error": ""}], engine="sqlite", table="levels")
    code, out, _ = call_main(validate_benchmark.main, capsys, str(levels), "levels", "--json")
    assert code == 1 and {f["severity"] for f in json.loads(out)["findings"]
                          if f["check_id"] == "failed-executions"} == {"error"}


def test_the_repeats_of_a_level_stay_apart_when_another_replicate_column_is_constant(tmp_path, capsys):
    # The throughput template's rows carry a Poisson `seed` (the same in every repeat) before the repeat's
    # `replicate`: reading only the first replicate column joined two repeats into one, and their time blocks
    # (both start at 0 s) into one block.
    rows = [{"seed": 0, **row} for r in (0, 1) for row in level_rows(20, 20, fast, replicate=r)]
    code, doc = summary(capsys, load_db(tmp_path, {20: rows}), "--slo", "p99<50ms")
    (level,) = doc["slo"]["levels"]
    assert code == 0 and level["replicates"] == 2 and level["requests"] == 800


def test_repeats_of_a_level_that_disagree_are_a_warning_and_repeats_that_agree_are_not(tmp_path, capsys):
    tenth_slow = lambda t, k: 200.0 if k % 10 == 0 else fast(t, k)  # noqa: E731 - repeat 1: 10 % over 50 ms
    split = level_rows(20, 40, fast, replicate=0) + level_rows(20, 40, tenth_slow, replicate=1)
    _, doc = summary(capsys, load_db(tmp_path, {20: split}), "--slo", "p99<50ms")
    (level,) = doc["slo"]["levels"]
    assert level["replicate_verdicts"] == {"0": "meets", "1": "fails"}
    (finding,) = [f for f in doc["findings"] if f["check_id"] == "slo-repeats-disagree"]
    assert finding["severity"] == "warning"
    assert finding["examples"] == [f"{level['label']}: repeat 0 meets, repeat 1 fails"]

    agree = level_rows(20, 40, fast, replicate=0) + level_rows(20, 40, fast, replicate=1)
    (tmp_path / "agree").mkdir()
    _, doc = summary(capsys, load_db(tmp_path / "agree", {20: agree}), "--slo", "p99<50ms")
    (level,) = doc["slo"]["levels"]
    assert level["replicate_verdicts"] == {"0": "meets", "1": "meets"} and level["verdict"] == "meets"
    assert not {"slo-repeats-disagree", "few-seeds", "unequal-items"} & {f["check_id"] for f in doc["findings"]}


def level_of(rate: float, seconds: float, latency, **setting) -> list[dict]:
    """level_rows with more level settings (connection model, duration), each level its own config_id."""
    cid = "-".join([f"open-{rate:g}", *(f"{v}" for v in setting.values())])
    return [{**row, "config_id": cid, **setting} for row in level_rows(rate, seconds, latency)]


def slow_share(share: float):
    """Every (1/share)-th request is slow, spread evenly: a clear verdict, no long stall."""
    return lambda t, k: 200.0 if k % round(1 / share) == 0 else fast(t, k)


def test_each_connection_model_is_a_series_with_its_own_capacity_never_one_across_them(tmp_path, capsys):
    # keep-alive fails from 25/s; close meets up to 50/s and fails at 100/s. One capacity over all levels
    # would say "meets at ... fails at 25/s", mixing the two.
    levels = {("keepalive", 25): level_of(25, 40, slow_share(0.5), connection="keepalive"),
              ("close", 25): level_of(25, 40, fast, connection="close"),
              ("close", 50): level_of(50, 40, fast, connection="close"),
              ("close", 100): level_of(100, 40, slow_share(0.1), connection="close")}
    db = load_db(tmp_path, levels)
    code, doc = summary(capsys, db, "--slo", "p99<50ms")
    slo = doc["slo"]
    by_label = {s["label"]: s for s in slo["series"]}
    assert code == 0 and set(by_label) == {"connection=keepalive", "connection=close"}
    assert by_label["connection=close"]["bracket"] == {"meets_at": 50, "fails_at": 100}
    assert by_label["connection=keepalive"]["bracket"] == {"meets_at": None, "fails_at": 25}
    assert slo["highest_meeting"] is None and slo["bracket"] is None  # several series: no capacity across them
    assert export_summary.main([str(db), "requests", "--slo", "p99<50ms"]) == 0
    out = capsys.readouterr().out
    assert "**Capacity (connection=close):** the highest tested rate that meets p99<50ms is 50/s" in out
    assert "**Capacity (connection=keepalive):** no tested rate meets p99<50ms (the lowest tested rate, 25/s" in out


def test_csv_comparisons_of_a_load_test_are_its_series_compared_at_the_rates_both_measured(tmp_path, capsys):
    """Trial S: question 3 ("is the pool really better at the rates both serve?") had no CSV: --csv --comparisons
    printed the level table again, and the reader turned slo.series_comparisons from --json into one by hand."""
    slower = lambda t, k: fast(t, k) + 30.0  # noqa: E731 - a build 30 ms slower at every request
    db = load_db(tmp_path, {("a", 25): level_of(25, 40, fast, endpoint_name="a"),
                            ("a", 50): level_of(50, 40, fast, endpoint_name="a"),
                            ("b", 25): level_of(25, 40, slower, endpoint_name="b"),
                            ("b", 100): level_of(100, 40, slower, endpoint_name="b")})
    argv = [str(db), "requests", "--slo", "p99<50ms,errors<1%"]
    _, doc = summary(capsys, db, *argv[2:])
    (compared,) = doc["slo"]["series_comparisons"]  # 25/s alone: the rate both series measured
    assert export_summary.main([*argv, "--csv", "--comparisons"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["measure"] for r in rows] == ["p99<50ms share broken", "errors<1% share broken", "latency p50 ms",
                                            "latency p95 ms", "latency p99 ms"]
    assert {(r["rate"], r["series"], r["reference"]) for r in rows} == {("25.0", "endpoint_name=b",
                                                                         "endpoint_name=a")}
    p50 = rows[2]
    assert float(p50["value"]) - float(p50["reference_value"]) == pytest.approx(float(p50["difference"]))
    assert float(p50["difference"]) == pytest.approx(30.0, abs=1) and p50["verdict"] == "slower"
    assert [float(p50[k]) for k in ("difference", "difference_ci_low", "difference_ci_high")] == pytest.approx(
        [compared["latency_ms"]["p50"][k] for k in ("difference", "low", "high")])
    assert rows[1]["verdict"] == compared["clauses"][1]["verdict"] == "no detectable difference"


def test_two_levels_at_one_rate_that_ran_for_different_times_are_two_rows_and_two_panels(tmp_path, capsys):
    db = load_db(tmp_path, {"30 s": level_of(25, 30, fast, duration_s=30.0),
                            "20 s": level_of(25, 20, slow_share(0.1), duration_s=20.0)})
    code, doc = summary(capsys, db, "--slo", "p99<50ms")
    levels = {lv["label"]: lv for lv in doc["slo"]["levels"]}
    assert code == 0 and len(levels) == 2, list(levels)
    assert {lv["requests"] for lv in levels.values()} == {750, 500}
    assert {lv["verdict"] for lv in levels.values()} == {"meets", "fails"}
    (series,) = doc["slo"]["series"]  # one series: only the rate and the duration differ
    assert series["rates"] == [25]


def test_a_panel_with_several_repeats_says_they_are_overlaid(tmp_path, capsys):
    from _bench.summary.render import panel_title

    assert panel_title("rate=20.0", "meets", 1) == "rate=20.0: meets"
    assert panel_title("rate=20.0", "meets", 2) == "rate=20.0: meets (2 repeats overlaid, each from 0 s)"
    rows = [row for r in (0, 1) for row in level_rows(20, 10, fast, replicate=r)]
    png = tmp_path / "repeats.png"
    assert export_summary.main([str(load_db(tmp_path, {20: rows})), "requests", "--slo", "p99<50ms", "--plot",
                                str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def calls_table(path, slow: list[bool]) -> None:
    log_rows(path, [{"model": "m", "input_id": i, "latency_us": 90.0 if s else 20.0, "correct": i % 2, "error": ""}
                    for i, s in enumerate(slow)], engine="sqlite", table="requests")


def test_slow_calls_bunched_in_time_widen_the_interval_and_scattered_ones_do_not(tmp_path, capsys):
    scattered = [i % 25 == 0 for i in range(1000)]  # 40 slow calls, one in 25
    bunched = [300 <= i < 340 for i in range(1000)]  # the same 40, in one stall
    widths = {}
    for name, slow in (("scattered", scattered), ("bunched", bunched)):
        calls_table(tmp_path / f"{name}.db", slow)
        (c,) = summary(capsys, tmp_path / f"{name}.db", "--slo", "p95<50us")[1]["versions"][0]["configurations"]
        (clause,) = c["slo"]["clauses"]
        assert (clause["calls"], clause["broken"]) == (1000, 40)
        widths[name] = clause["high"] - clause["low"]
    naive = exact_interval(40, 1000)
    assert widths["scattered"] == pytest.approx(naive[1] - naive[0], rel=0.05)
    assert widths["bunched"] > 3 * widths["scattered"]  # one stall: about one block's worth of evidence


def test_rows_not_in_call_order_count_a_run_of_broken_rows_as_rows_and_the_report_says_why(tmp_path, capsys):
    """Trial Y: a batch written afterwards with its failures last read as three stalls (36,000 calls, ~194
    effective): undecided. The report names the run; --rows-not-in-call-order gives the exact interval over calls."""
    calls_table(tmp_path / "sorted.db", [i >= 960 for i in range(1000)])  # 40 slow rows, all at the end
    d = summary(capsys, tmp_path / "sorted.db", "--slo", "p95<50us")[1]
    (clause,) = d["versions"][0]["configurations"][0]["slo"]["clauses"]
    assert clause["longest_broken_run"] == 40 and clause["effective_calls"] < 250
    markdown = " ".join(call_main(export_summary.main, capsys, str(tmp_path / "sorted.db"), "requests", "--slo",
                                  "p95<50us")[1].split())
    assert "in runs of up to 40 consecutive rows: ~" in markdown and "--rows-not-in-call-order." in markdown
    assert "consecutive inputs alike in cost: a data file sorted by kind" in markdown  # trial F: not only stalls
    d = summary(capsys, tmp_path / "sorted.db", "--slo", "p95<50us", "--rows-not-in-call-order")[1]
    (clause,) = d["versions"][0]["configurations"][0]["slo"]["clauses"]
    assert (clause["low"], clause["high"]) == pytest.approx(exact_interval(40, 1000), abs=1e-6)
    assert clause["effective_calls"] == 1000 and clause["verdict"] == "undecided"  # 4 % against 5 %: close


def test_an_undecided_objective_says_about_how_many_calls_would_decide_and_that_many_do(tmp_path, capsys):
    calls_table(tmp_path / "few.db", [i % 12 == 0 for i in range(120)])  # 8.3 % slow against 5 % allowed
    (c,) = summary(capsys, tmp_path / "few.db", "--slo", "p95<50us")[1]["versions"][0]["configurations"]
    (clause,) = c["slo"]["clauses"]
    assert clause["verdict"] == "undecided" and clause["calls_to_decide"] > 120
    calls_table(tmp_path / "more.db", [i % 12 == 0 for i in range(clause["calls_to_decide"])])
    (c,) = summary(capsys, tmp_path / "more.db", "--slo", "p95<50us")[1]["versions"][0]["configurations"]
    assert c["slo"]["verdict"] == "fails" and c["slo"]["clauses"][0]["calls_to_decide"] is None


def test_save_keeps_each_configurations_slo_verdict_and_the_percentile_intervals(tmp_path, capsys):
    """Trial V: the tables of --save had neither the objective's verdicts nor the latency intervals."""
    calls_table(tmp_path / "c.db", [i % 50 == 0 for i in range(1000)])  # 2 % slow: meets p95
    out = tmp_path / "results.db"
    code, d = summary(capsys, tmp_path / "c.db", "--slo", "p95<50us", "--save", out)
    (c,) = d["versions"][0]["configurations"]
    con = sqlite3.connect(out)
    try:
        verdict, clauses, low, high = con.execute(
            "SELECT slo_verdict, slo_clauses, latency_p95_ci_low, latency_p95_ci_high FROM summary").fetchone()
    finally:
        con.close()
    assert code == 0 and verdict == c["slo"]["verdict"] == "meets"
    assert json.loads(clauses)[0]["broken"] == 20 and [low, high] == c["latency"]["p95_ci"]


def test_the_load_table_says_how_many_requests_would_bound_an_open_percentile_end(tmp_path, capsys):
    """A level of 100 requests bounds p95 (72 are enough) but not p99's upper end (368): the Markdown names
    that number, for requests, where it used to say only 'too few requests in the tail'."""
    db = load_db(tmp_path, {10: level_rows(10, 10, fast), 20: level_rows(20, 30, fast)})
    _, doc = summary(capsys, db, "--slo", "p99<50ms")
    assert [(lv["requests"], lv["latency_ms"]["p95"]["high"] is None, lv["latency_ms"]["p99"]["high"] is None)
            for lv in doc["slo"]["levels"]] == [(100, False, True), (600, False, False)]
    assert export_summary.main([str(db), "requests", "--slo", "p99<50ms"]) == 0
    out = capsys.readouterr().out
    assert "A '?' end: the data cannot bound it at 95% (its upper end for p99 needs at least 368 independent " \
           "requests); with fewer, the most extreme request is not a bound" in out


@pytest.mark.parametrize("wide", [[], ["--wide"]])
def test_a_load_tests_csv_is_its_level_table_with_the_verdicts_and_the_capacity(tmp_path, capsys, wide):
    """'Which rate meets my SLO' as a table: the CSV of a load test had each level as a benchmark configuration
    (order-statistic intervals narrower than the level table's, no verdict). Now one row per level with the
    numbers of the JSON's level table, each clause, the verdict and which level is the capacity."""
    slow_tenth = lambda t, k: 200.0 if k % 10 == 0 else fast(t, k)  # noqa: E731
    db = load_db(tmp_path, {20: level_rows(20, 40, fast), 40: level_rows(40, 40, fast),
                            80: level_rows(80, 40, slow_tenth)})
    _, doc = summary(capsys, db, "--slo", "p99<50ms,errors<1%")
    assert export_summary.main([str(db), "requests", "--slo", "p99<50ms,errors<1%", "--csv", *wide]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(float(r["rate"]), r["mode"], r["slo_verdict"], r["highest_meeting"]) for r in rows] == [
        (20.0, "open-loop", "meets", "false"), (40.0, "open-loop", "meets", "true"),
        (80.0, "open-loop", "fails", "false")]
    for row, lv in zip(rows, doc["slo"]["levels"], strict=True):
        assert row["level"] == lv["label"] and int(row["requests"]) == lv["requests"]
        assert float(row["achieved_rps"]) == lv["achieved_rps"] and float(row["max_ms"]) == lv["max_ms"]
        for p in ("p50", "p95", "p99"):
            pct = lv["latency_ms"][p]
            assert [row[f"latency_{p}_ms{e}"] for e in ("", "_ci_low", "_ci_high")] == [
                "" if v is None else str(v) for v in (pct["estimate"], pct["low"], pct["high"])]
        for c in lv["clauses"]:
            assert [row[f"slo_{c['clause']}_{e}"] for e in ("share", "ci_low", "ci_high", "allowed", "verdict")] == [
                str(c[k]) for k in ("share", "low", "high", "allowed", "verdict")]
    assert doc["slo"]["highest_meeting"]["label"] == rows[1]["level"]


def test_rows_written_far_faster_than_their_calls_ran_are_flagged_and_rows_logged_live_are_not(tmp_path, capsys):
    """Trial Y again: the runs note asked the reader to check the timestamps. The report now compares them with
    the summed latency itself: 400 calls of 0.4-2 s each (3 minutes) written in one batch within milliseconds,
    failures last, is a `rows-written-at-once` warning; the same shape logged live, each row as its call ended,
    is not; and --rows-not-in-call-order (the fix) leaves nothing to warn about."""
    batch = tmp_path / "batch.db"
    log_rows(batch, [{"model": "m", "input_id": i, "latency_s": 2.0 if i >= 380 else 0.4, "error": ""}
                     for i in range(400)], engine="sqlite", table="requests")
    live = tmp_path / "live.db"
    tracker = Tracker(str(live), table="requests", params={})
    for i in range(400):
        seconds = 0.02 if i >= 380 else 0.003
        time.sleep(seconds)  # the call
        tracker.log({"model": "m", "input_id": i, "latency_s": seconds, "error": ""})
    found = {}
    for name, db, slo in (("batch", batch, "p95<1s"), ("live", live, "p95<10ms")):
        d = summary(capsys, db, "--slo", slo)[1]
        (clause,) = d["versions"][0]["configurations"][0]["slo"]["clauses"]
        assert clause["longest_broken_run"] == 20 and clause["effective_calls"] < 100  # the runs note's case
        found[name] = [f for f in d["findings"] if f["check_id"] == "rows-written-at-once"]
    (finding,) = found["batch"]
    assert finding["hint"].startswith("If the rows are not in the order the calls ran, add --rows-not-in-call-order")
    assert re.fullmatch(r"model=m: 400 calls took 192\.0 s in all, their rows were written within 0\.\d{3} s",
                        finding["examples"][0])
    assert found["live"] == []
    d = summary(capsys, batch, "--slo", "p95<1s", "--rows-not-in-call-order")[1]
    assert [f for f in d["findings"] if f["check_id"] == "rows-written-at-once"] == []



@pytest.mark.parametrize(("speed", "flagged"), [(199, False), (201, True)])
def test_rows_written_at_once_fires_just_over_200_times_faster_than_the_calls_and_not_just_under(
        tmp_path, capsys, speed, flagged):
    """analysis.md says 'over 200 times faster' (findings.BATCH_SPEED): the same 400 rows, 192 s of calls, with
    their timestamps spread evenly over 192/199 s stay quiet, over 192/201 s warn. (xetrack writes the rows; the
    timestamps are then set, a planted span, because a real write's span cannot be chosen.)"""
    from _bench.summary.findings import BATCH_SPEED

    assert BATCH_SPEED == 200
    db = tmp_path / "batch.db"
    log_rows(db, [{"model": "m", "input_id": i, "latency_s": 2.0 if i >= 380 else 0.4, "error": ""}
                  for i in range(400)], engine="sqlite", table="requests")
    span_us = round(192 / speed * 1e6)
    con = sqlite3.connect(db)
    with con:
        rowids = [r[0] for r in con.execute('SELECT rowid FROM "requests" ORDER BY rowid')]
        for k, rowid in enumerate(rowids):
            us = span_us * k // (len(rowids) - 1)
            con.execute('UPDATE "requests" SET timestamp = ? WHERE rowid = ?',
                        [f"2026-12-07 10:00:{us // 1_000_000:02d}.{us % 1_000_000:06d}", rowid])
    con.close()
    d = summary(capsys, db, "--slo", "p95<1s")[1]
    found = [f for f in d["findings"] if f["check_id"] == "rows-written-at-once"]
    assert bool(found) is flagged
    if flagged:
        assert found[0]["examples"] == [f"model=m: 400 calls took 192.0 s in all, their rows were written within "
                                        f"{span_us / 1e6:.3f} s"]


def test_repeats_under_two_replicate_columns_are_named_by_both_and_the_markdown_names_the_level(tmp_path, capsys):
    """Trial L: the throughput template writes `seed` and `replicate`; replicate_verdicts' keys came out as
    '0\\x1f1', and neither the Markdown nor the template said which level's repeats disagreed."""
    tenth_slow = lambda t, k: 200.0 if k % 10 == 0 else fast(t, k)  # noqa: E731
    rows = level_rows(20, 40, fast, replicate=0) + level_rows(20, 40, tenth_slow, replicate=1)
    db = load_db(tmp_path, {20: [{**r, "seed": 0} for r in rows]})
    _, doc = summary(capsys, db, "--slo", "p99<50ms")
    (level,) = doc["slo"]["levels"]
    assert doc["inferred"]["layout"]["replicate"] == ["replicate", "seed"]
    assert level["replicate_verdicts"] == {"replicate=0, seed=0": "meets", "replicate=1, seed=0": "fails"}
    assert export_summary.main([str(db), "requests", "--slo", "p99<50ms"]) == 0
    out = capsys.readouterr().out
    assert (f"\n  - {level['label']}: repeat replicate=0, seed=0 meets, repeat replicate=1, seed=0 fails\n"
            in out.split("(slo-repeats-disagree)")[1])


def test_an_undecided_level_says_about_how_many_requests_would_decide_and_that_many_do(tmp_path, capsys):
    """Trial L: a service failing 0.5 % of requests against errors<1% is undecided on a short level, and nothing
    said how long to measure. The level now says about how many requests in all would decide; a level that
    long, with the same share, does."""
    # request k fails when k % 200 == 199: a share of at most 0.5 % at any length
    every_200th = lambda rate: lambda t: "HTTP 500" if round(t * rate) % 200 == 199 else ""  # noqa: E731
    _, doc = summary(capsys, load_db(tmp_path, {20: level_rows(20, 30, fast, error=every_200th(20))}),
                     "--slo", "errors<1%")
    ((clause,),) = [lv["clauses"] for lv in doc["slo"]["levels"]]
    assert clause["verdict"] == "undecided" and clause["share"] == pytest.approx(0.005)
    needed = clause["requests_to_decide"]
    assert 1518 <= needed < 3000  # load-testing.md: "about 1,500" (the exact count; more where requests are alike)
    (tmp_path / "longer").mkdir()
    longer = load_db(tmp_path / "longer", {20: level_rows(20, needed / 20, fast, error=every_200th(20))})
    _, doc = summary(capsys, longer, "--slo", "errors<1%")
    ((clause,),) = [lv["clauses"] for lv in doc["slo"]["levels"]]
    assert clause["verdict"] == "meets" and clause["requests_to_decide"] is None
    assert export_summary.main([str(longer), "requests", "--slo", "errors<1%", "--csv"]) == 0
    (row,) = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert row["slo_errors<1%_verdict"] == "meets" and row["slo_errors<1%_requests_to_decide"] == ""


def test_a_load_tables_structured_parameter_gets_a_column_per_name_as_the_other_tables_do(tmp_path, capsys):
    """The level table's parameter columns come from the same code as the results tables' (one rule): a
    deployment described by JSON pairs, `[["workers", 4]]`, is also `deployment.workers`, per level."""
    levels = {}
    for workers in (1, 4):
        for rate in (20, 40):
            rows = level_rows(rate, 20, fast)
            for r in rows:
                r.update(deployment=f'[["workers", {workers}]]', config_id=f"{r['config_id']}-w{workers}")
            levels[(workers, rate)] = rows
    db = load_db(tmp_path, levels)
    assert export_summary.main([str(db), "requests", "--slo", "p99<50ms", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert sorted((r["deployment.workers"], float(r["rate"]), r["slo_verdict"]) for r in rows) == [
        ("1", 20.0, "meets"), ("1", 40.0, "meets"), ("4", 20.0, "meets"), ("4", 40.0, "meets")]
    assert all(r["deployment"] == f'[["workers", {r["deployment.workers"]}]]' for r in rows)


def test_latency_of_replays_adds_each_item_no_computed_row_has_once_to_the_calls_an_objective_judges():
    """--latency-of-replays in a per-configuration --slo: a replay of an item computed in the same configuration
    would count its one call twice, and an item replayed twice would too; the first replay of an item without a
    computed row is that call's time. Logged order is kept (runs of slow calls are judged in it)."""
    from _bench.summary.compute import slo_calls
    from _bench.summary.scan import NO_ITEM, REPLAYED

    logged = np.array([(0, 1, 10.0), (0, 2, 20.0), (REPLAYED, 2, 20.0), (REPLAYED, 3, 30.0), (REPLAYED, 3, 30.0),
                       (REPLAYED | NO_ITEM, 0, 40.0), (REPLAYED, 4, 50.0)],
                      dtype=[("flags", np.uint8), ("item", np.int64), ("latency", float)])
    assert slo_calls(logged, False)["latency"].tolist() == [10.0, 20.0]
    assert slo_calls(logged, True)["latency"].tolist() == [10.0, 20.0, 30.0, 50.0]


def test_a_rate_measured_twice_is_decided_by_its_longer_level_and_undecided_rates_below_the_capacity_are_named(
        tmp_path, capsys):
    """Trial Q: the level CSV had two rows for a rate measured again longer, with different verdicts, and no mark
    of the one that decides it; and the capacity headline named 20/s while a lower rate was undecided (if that
    one fails when measured longer, the capacity is lower). 10/s: 0.5 % errors on 400 requests (undecided);
    20/s: none on 4,000 (meets); 40/s: 0.5 % on 400 (undecided), then half of 4,000 (fails)."""
    half = lambda t: "HTTP 500" if round(t * 40) % 2 else ""  # noqa: E731
    every_200th = lambda rate: lambda t: "HTTP 500" if round(t * rate) % 200 == 199 else ""  # noqa: E731

    def level(rate, seconds, error):
        return [{**r, "duration_s": float(seconds), "config_id": f"open-{rate:g}-{seconds:g}s"}
                for r in level_rows(rate, seconds, fast, error)]

    db = load_db(tmp_path, {1: level(10, 40, every_200th(10)), 2: level(20, 200, lambda t: ""),
                            3: level(40, 10, every_200th(40)), 4: level(40, 100, half)})
    _, doc = summary(capsys, db, "--slo", "errors<1%")
    slo = doc["slo"]
    said = sorted((lv["rate"], lv["requests"], lv["verdict"], lv["decides_rate"]) for lv in slo["levels"])
    assert said == [(10, 400, "undecided", True), (20, 4000, "meets", True), (40, 400, "undecided", False),
                    (40, 4000, "fails", True)]
    assert slo["highest_meeting"]["rate"] == 20 and slo["bracket"] == {"meets_at": 20, "fails_at": 40}
    assert slo["series"][0]["undecided_rates"] == [10]  # not the shorter 40/s: the longer one decides it
    assert export_summary.main([str(db), "requests", "--slo", "errors<1%"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("**Capacity"))
    assert line.endswith("and fails at 40/s. Undecided below it: 10/s; if one of them fails when measured longer, "
                         "the capacity is lower.")
    assert export_summary.main([str(db), "requests", "--slo", "errors<1%", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert sorted((float(r["rate"]), int(r["requests"]), r["repeats"], r["decides_rate"]) for r in rows) == [
        (10.0, 400, "1", "true"), (20.0, 4000, "1", "true"), (40.0, 400, "1", "false"), (40.0, 4000, "1", "true")]


def test_with_two_versions_each_version_has_its_own_capacity_in_the_json_csv_and_markdown(tmp_path, capsys):
    """Trial V: a run whose rows carried two git commits got no capacity at all (an empty highest_meeting in the
    level CSV, empty decides_rate). Still no capacity *across* versions; each version's levels are a series with
    its own, which rate decides what is known within each version, and --version VALUE reports one version."""
    slow_tenth = lambda t, k: 200.0 if k % 10 == 0 else fast(t, k)  # noqa: E731 - 10% slow: p99 breaks

    def level(rate, seconds, latency):
        return [{**r, "duration_s": float(seconds), "config_id": f"open-{rate:g}-{seconds:g}s"}
                for r in level_rows(rate, seconds, latency)]

    db = tmp_path / "load.db"
    # version a1 meets at 40/s; b2 (a slower build) fails there; both measured 20/s twice, the second longer
    for version, at40 in (("a1", fast), ("b2", slow_tenth)):
        log_rows(db, level(20, 10, fast) + level(20, 30, fast) + level(40, 30, at40), engine="sqlite",
                 table="requests", params={"experiment_version": version})
    _, doc = summary(capsys, db, "--slo", "p99<50ms")
    slo = doc["slo"]
    assert slo["versions_differ"] == ["experiment_version"] and slo["highest_meeting"] is None
    assert sorted((lv["version"]["experiment_version"], lv["rate"], lv["requests"], lv["decides_rate"])
                  for lv in slo["levels"]) == [("a1", 20, 200, False), ("a1", 20, 600, True), ("a1", 40, 1200, True),
                                               ("b2", 20, 200, False), ("b2", 20, 600, True), ("b2", 40, 1200, True)]
    capacity = {s["version"]["experiment_version"]: (s["label"], s["highest_meeting"]["rate"], s["bracket"])
                for s in slo["series"]}
    assert capacity == {"a1": ("experiment_version=a1", 40, {"meets_at": 40, "fails_at": None}),
                        "b2": ("experiment_version=b2", 20, {"meets_at": 20, "fails_at": 40})}
    assert [f["check_id"] for f in doc["findings"]].count("slo-versions") == 1

    assert export_summary.main([str(db), "requests", "--slo", "p99<50ms", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    meeting = sorted((r["experiment_version"], float(r["rate"])) for r in rows if r["highest_meeting"] == "true")
    assert meeting == [("a1", 40.0), ("b2", 20.0)]
    assert export_summary.main([str(db), "requests", "--slo", "p99<50ms"]) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("**Capacity")]
    assert [x.split(":**")[0] for x in lines] == ["**Capacity (experiment_version=a1)",
                                                  "**Capacity (experiment_version=b2)"]
    assert "is 20/s" in lines[1] and "fails at 40/s" in lines[1]

    _, one = summary(capsys, db, "--slo", "p99<50ms", "--version", "b2")
    assert one["slo"]["versions_differ"] == [] and one["slo"]["highest_meeting"]["rate"] == 20
    assert "slo-versions" not in [f["check_id"] for f in one["findings"]]


def with_lag(rows: list[dict], lag) -> list[dict]:
    """The rows with `send_lag_ms`, as the throughput template records it: lag(k, row) ms after each was due."""
    return [{**r, "send_lag_ms": float(lag(k, r))} for k, r in enumerate(rows)]


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_a_level_failed_by_requests_the_client_sent_late_is_the_clients_and_ends_what_was_measured(tmp_path, capsys,
                                                                                                   engine):
    """Trial W: on a shared 2-core machine the client fell behind its schedule at 218/s (88 % of a core; the service
    at 7 %), and the capacity line said the service "fails at 238/s". A level whose broken requests were mostly
    sent late is `client_behind`: the capacity is "at least" the rate below it, not a bracket. A level whose
    slow requests were sent on time stays the service's failure (the same level table, lags on time)."""
    slow_tenth = lambda t, k: 200.0 if k % 10 == 0 else fast(t, k)  # noqa: E731 - 10% over 50 ms: p99 breaks
    on_time = lambda k, r: 0.3  # noqa: E731
    behind = lambda k, r: 198.0 if r["latency_ms"] > 50 else 0.3  # noqa: E731 - the slow ones left late
    levels = {20: with_lag(level_rows(20, 30, fast), on_time), 40: with_lag(level_rows(40, 30, fast), on_time)}
    client = load_db(tmp_path / "client", {**levels, 80: with_lag(level_rows(80, 30, slow_tenth), behind)})
    service = load_db(tmp_path / "service", {**levels, 80: with_lag(level_rows(80, 30, slow_tenth), on_time)})

    _, doc = summary(capsys, client, "--slo", "p99<50ms", "--engine", engine)
    slo = doc["slo"]
    at80 = by_rate(doc)[80]
    assert at80["verdict"] == "fails" and at80["client_behind"] is True
    # with the evidence a reader weighs (trials Y, Y2): the largest lag, and the latency from the send itself
    assert at80["sent_late"] == {"requests": 240, "of": 240, "after_ms": 5.0, "max_lag_ms": 198.0,
                                 "median_from_send_ms": 2.0, "client_behind": True}
    assert at80["from_send_verdict"] == "meets"  # 2 ms once sent: the lag broke the objective
    assert by_rate(doc)[40]["sent_late"]["of"] == 0 and by_rate(doc)[40]["client_behind"] is False  # none broke
    assert slo["highest_meeting"]["rate"] == 40
    assert slo["bracket"] == {"meets_at": 40, "fails_at": None, "client_limited_at": 80}
    finding = next(f for f in doc["findings"] if f["check_id"] == "slo-client-behind")
    assert finding["severity"] == "warning" and finding["examples"][0].endswith(
        "fails, 240 of its 240 broken requests sent more than 5 ms late (lag up to 198 ms; latency from the send "
        "itself, median 2 ms)")
    assert export_summary.main([str(client), "requests", "--slo", "p99<50ms", "--engine", engine]) == 0
    out = capsys.readouterr().out
    assert "| **fails** (client behind) |" in out
    line = next(x for x in out.splitlines() if x.startswith("**Capacity"))
    assert line.startswith("**Capacity:** at least 40/s (the highest tested rate that meets p99<50ms") and \
        "at 80/s the client fell behind its schedule, so from there on these levels cannot tell the service's " \
        "limit from the client's" in line, line
    assert export_summary.main([str(client), "requests", "--slo", "p99<50ms", "--csv", "--engine", engine]) == 0
    rows = {float(r["rate"]): r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert (rows[80.0]["client_behind"], rows[80.0]["sent_late"], rows[80.0]["broken_or_slowest"]) == ("true", "240",
                                                                                                        "240")
    assert rows[40.0]["client_behind"] == "false" and rows[40.0]["highest_meeting"] == "true"

    _, plain = summary(capsys, client, "--engine", engine)  # no objective: the p99 tail is what is judged
    assert by_rate(plain)[80]["client_behind"] is True and by_rate(plain)[40]["client_behind"] is False

    _, same = summary(capsys, service, "--slo", "p99<50ms", "--engine", engine)
    assert by_rate(same)[80]["client_behind"] is False and by_rate(same)[80]["from_send_verdict"] is None
    assert same["slo"]["bracket"] == {"meets_at": 40, "fails_at": 80}
    assert "slo-client-behind" not in [f["check_id"] for f in same["findings"]]


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_a_level_the_client_fell_behind_on_that_fails_from_the_send_too_is_the_services_failure(tmp_path, capsys,
                                                                                               engine):
    """Trial I: at 400/s the client was behind, yet the requests took a median 369 ms from their send against a
    50 ms objective, and the level got no verdict and ended the capacity "at least" below it. With the lag taken
    out the objective still fails: the service was slow too, and the level is the service's failure."""
    slow_tenth = lambda t, k: 200.0 if k % 10 == 0 else fast(t, k)  # noqa: E731
    on_time = lambda k, r: 0.3  # noqa: E731
    both = lambda k, r: 40.0 if r["latency_ms"] > 50 else 0.3  # noqa: E731 - late, and 160 ms once sent
    db = load_db(tmp_path / "both", {20: with_lag(level_rows(20, 30, fast), on_time),
                                     40: with_lag(level_rows(40, 30, fast), on_time),
                                     80: with_lag(level_rows(80, 30, slow_tenth), both)})
    _, doc = summary(capsys, db, "--slo", "p99<50ms", "--engine", engine)
    at80 = by_rate(doc)[80]
    assert (at80["verdict"], at80["client_behind"], at80["from_send_verdict"]) == ("fails", True, "fails")
    assert at80["sent_late"]["median_from_send_ms"] == 160.0
    assert doc["slo"]["bracket"] == {"meets_at": 40, "fails_at": 80}
    finding = next(f for f in doc["findings"] if f["check_id"] == "slo-client-behind")
    assert finding["examples"][0].endswith("median 160 ms); from the send alone it fails too: the service's failure")
    assert export_summary.main([str(db), "requests", "--slo", "p99<50ms", "--engine", engine]) == 0
    out = capsys.readouterr().out
    assert "| **fails** (client behind; from the send too) |" in out
    line = next(x for x in out.splitlines() if x.startswith("**Capacity"))
    assert "fails at 80/s" in line and "client fell behind" not in line, line


def test_a_share_at_the_limit_is_said_to_sit_there_rather_than_given_a_length_to_measure():
    """Trial W read '~65,821,576 requests would decide' (5.02 % against 5 % allowed, 1,833 requests) as advice."""
    from _bench.summary.render import _to_decide

    assert _to_decide(1_100, 750) == " (~1,100 requests would decide)"
    assert _to_decide(65_821_576, 1_833) == (" (the share sits at the limit: ~65,821,576 requests would decide, "
                                             "35,909x this level; call it neither)")
    assert _to_decide(None, 750) == ""
    # trial Y3: "~2,177 requests would decide" on a level of 3,000 (the time-block interval is the wider one)
    assert _to_decide(2_177, 3_000).startswith(" (by count ~2,177 requests would decide, fewer than it has: its "
                                               "broken requests come in bursts")


def test_a_client_limited_level_counts_as_not_measured_and_a_meeting_rate_above_it_still_counts():
    """Trial Y: 250/s undecided with the client behind (a stall), 300/s met, 350/s failed with the client behind;
    the capacity said "at least 200/s" although 300/s met. A level that meets is evidence whatever the client did;
    one the client fell behind on is as if not measured."""
    from _bench.summary.load import capacity

    def lv(rate, verdict, behind=False):
        return {"rate": rate, "verdict": verdict, "label": f"rate={rate}", "client_behind": behind}

    levels = [lv(200, "meets"), lv(250, "undecided", True), lv(300, "meets"), lv(350, "fails", True)]
    highest, bracket, problems = capacity(levels)
    assert highest["rate"] == 300 and bracket == {"meets_at": 300, "fails_at": None, "client_limited_at": 350}
    # the service's own failure below the client's limit is the bracket: the client-limited rate above it is moot
    highest, bracket, _ = capacity([lv(100, "meets"), lv(200, "fails"), lv(400, "fails", True)])
    assert bracket == {"meets_at": 100, "fails_at": 200}
    assert capacity([lv(100, "fails", True)])[1] == {"meets_at": None, "fails_at": None, "client_limited_at": 100}


def test_a_level_label_always_names_its_series_settings_even_when_the_rate_determines_them():
    """Trial Y: the two builds' rates did not overlap, so the shortest labels that told levels apart were the rates
    alone, and the shared table read `rate=125.0` with no build."""
    from _bench.layout import short_labels
    from _bench.summary.load import level_labels

    shown = [{"rate": r, "endpoint_name": b, "duration_s": 20.0} for b, r in (("w3", 125.0), ("w3", 135.0),
                                                                            ("w12", 250.0), ("w12", 300.0))]
    assert short_labels(shown) == ["rate=125.0", "rate=135.0", "rate=250.0", "rate=300.0"]  # what it was
    assert level_labels(shown) == ["endpoint_name=w3, rate=125.0", "endpoint_name=w3, rate=135.0",
                                   "endpoint_name=w12, rate=250.0", "endpoint_name=w12, rate=300.0"]
    one_each = [{"endpoint_name": b, "rate": 20.0} for b in ("single", "threaded")]
    assert level_labels(one_each) == ["endpoint_name=single", "endpoint_name=threaded"]
    rates_only = [{"rate": r} for r in (10.0, 20.0)]
    assert level_labels(rates_only) == short_labels(rates_only) == ["rate=10.0", "rate=20.0"]

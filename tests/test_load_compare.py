"""scripts/_bench/summary/load_compare.py on its own: MOVER's interval for a difference of two independent
estimates, the verdicts it gives, and the cases with no verdict (an open percentile end, a client behind), without
a load test (test_load_template.py compares real builds end to end)."""

from __future__ import annotations

import math

import pytest
from _bench.reader import InputError
from _bench.summary.load_compare import compare_series, mover, reference_series
from scipy import stats


def test_mover_equals_the_normal_interval_of_a_difference_when_both_intervals_are_symmetric_normal_ones():
    # Zou & Donner: with each side's own normal interval, MOVER is the usual sqrt(se1^2 + se2^2) interval
    z = stats.norm.ppf(0.975)
    a, sa, b, sb = 12.0, 1.5, 10.0, 0.8
    d, low, high = mover((a, a - z * sa, a + z * sa), (b, b - z * sb, b + z * sb))
    assert d == 2.0
    assert (low, high) == pytest.approx((d - z * math.hypot(sa, sb), d + z * math.hypot(sa, sb)))
    assert mover((a, None, a + 1), (b, b - 1, b + 1)) == (2.0, None, None)  # an open end: no interval


def level(series: int, rate: float, p99: tuple, share: tuple, behind: bool = False, verdict: str = "meets") -> dict:
    est = {"estimate": p99[0], "low": p99[1], "high": p99[2]}
    return {"series": series, "rate": rate, "decides_rate": True, "label": f"s{series}@{rate:g}",
            "client_behind": behind, "verdict": verdict,
            "clauses": [{"clause": "p99<50ms", "share": share[0], "low": share[1], "high": share[2]}],
            "latency_ms": {"p50": est, "p95": est, "p99": est}}


GROUPS = [{"label": "endpoint_name=index", "configuration": {"endpoint_name": "index"}, "version": {}},
          {"label": "endpoint_name=scan", "configuration": {"endpoint_name": "scan"}, "version": {}}]


def test_only_rates_both_series_measured_are_compared_and_open_ends_or_a_client_behind_get_no_verdict():
    levels = [level(0, 100, (4, 3, 5), (0.0, 0.0, 0.01)), level(1, 100, (12, 10, 14), (0.02, 0.01, 0.04)),
              level(0, 200, (5, 4, None), (0.0, 0.0, 0.01)), level(1, 200, (13, 11, 15), (0.0, 0.0, 0.01)),
              level(0, 400, (5, 4, 6), (0.0, 0.0, 0.01)),
              level(1, 400, (900, 800, 1000), (0.9, 0.85, 0.95), behind=True, verdict="fails"),
              level(1, 800, (9, 8, 10), (0.0, 0.0, 0.01))]  # a rate only the other series measured
    compared = {c["rate"]: c for c in compare_series(levels, GROUPS)}
    assert sorted(compared) == [100, 200, 400]
    assert compared[100]["latency_ms"]["p99"]["verdict"] == "slower"
    assert compared[100]["clauses"][0]["verdict"] == "higher"
    assert compared[200]["latency_ms"]["p99"]["verdict"] == "no interval"  # the reference's open upper end
    assert compared[400]["client_behind"] and compared[400]["latency_ms"]["p99"]["verdict"] is None
    assert {c["reference"] for c in compared.values()} == {"endpoint_name=index"}
    against_scan = compare_series(levels, GROUPS, "endpoint_name=scan")
    assert {c["series"] for c in against_scan} == {"endpoint_name=index"}
    assert {c["rate"]: c["latency_ms"]["p99"]["verdict"] for c in against_scan}[100] == "faster"


def test_a_reference_that_names_no_series_or_several_is_refused():
    assert reference_series(GROUPS, None) == 0 and reference_series(GROUPS, "endpoint_name=scan") == 1
    with pytest.raises(InputError, match="matches no series"):
        reference_series(GROUPS, "endpoint_name=cached")
    twice = GROUPS + [{"label": "v2: endpoint_name=scan", "configuration": {"endpoint_name": "scan"}, "version": {}}]
    with pytest.raises(InputError, match="matches 2 series"):
        reference_series(twice, "endpoint_name=scan")

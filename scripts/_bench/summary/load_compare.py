"""Series of a load test (two builds, two settings of one service) compared at the rates both measured.

Trial B asked whether gzip on or off made a real difference and, finding only one capacity bracket per series,
wrote its own test. Here, at each rate measured in a series and in the reference series (the first, or the one
`--pairs COL=VALUE` names: trial I's week-later build made another series the first), every SLO
clause's broken share and the p50/p95/p99 latency are compared: the difference, other minus reference, with an
interval combined from the two levels' own intervals by MOVER (Zou & Donner 2008: the square-and-add that
Newcombe's interval for two proportions uses, valid for any two independent estimates with their intervals).
The levels' intervals are the block-bootstrap ones, so a burst of slow requests widens the difference's too. An
interval that excludes 0 is a difference (`higher` / `lower` share broken, `slower` / `faster`), else `no
detectable difference`; unadjusted across rates and measures (the report says so). A percentile with an open end
('?') has no interval, so no verdict; nor has a rate where the client fell behind on either level: that
compares the clients, not the services.
"""

from __future__ import annotations

import math

from _bench.reader import InputError
from _bench.summary.load import client_limited

PERCENTILES = ("p50", "p95", "p99")


def mover(other: tuple, reference: tuple) -> tuple[float, float | None, float | None]:
    """(difference, low, high) of other - reference from each one's (estimate, low, high); open ends (None)
    leave the interval open."""
    (o, o_low, o_high), (r, r_low, r_high) = other, reference
    d = o - r
    if None in (o_low, o_high, r_low, r_high):
        return d, None, None
    return d, d - math.hypot(o - o_low, r_high - r), d + math.hypot(o_high - o, r - r_low)


def _verdict(low: float | None, high: float | None, up: str, down: str) -> str:
    if low is None or high is None:
        return "no interval"
    return up if low > 0 else down if high < 0 else "no detectable difference"


def reference_series(groups: list[dict], named: str | None) -> int:
    """The position of the series `named` picks (its label, or COL=VALUE pairs its setting holds), 0 without one;
    a one-line error when it names none or several."""
    if named is None:
        return 0
    wanted = dict(part.strip().split("=", 1) for part in named.split(",") if "=" in part)
    found = [i for i, g in enumerate(groups) if g["label"] == named or (wanted and all(
        str({**(g.get("version") or {}), **(g["configuration"] or {})}.get(k)) == v for k, v in wanted.items()))]
    if len(found) != 1:
        listing = "; ".join(g["label"] for g in groups)
        raise InputError(f"--pairs {named!r} matches {'no' if not found else len(found)} series of this load test "
                         f"(the reference the others are compared with); series: {listing}")
    return found[0]


def compare_series(levels: list[dict], groups: list[dict], named: str | None = None) -> list[dict]:
    """One entry per (series, rate) that the reference series measured too, the other series in order."""
    if len(groups) < 2:
        return []
    deciding: dict[int, dict[float, dict]] = {}
    for lv in levels:
        if lv.get("series") is not None and lv["rate"] is not None and lv.get("decides_rate"):
            deciding.setdefault(lv["series"], {})[lv["rate"]] = lv
    base = reference_series(groups, named)
    reference = deciding.get(base, {})
    out = []
    for index in (i for i in range(len(groups)) if i != base):
        for rate in sorted(set(deciding.get(index, {})) & set(reference)):
            other, ref = deciding[index][rate], reference[rate]
            behind = client_limited(other) or client_limited(ref)
            clauses = []
            for c_other, c_ref in zip(other["clauses"], ref["clauses"], strict=True):
                d, low, high = mover((c_other["share"], c_other["low"], c_other["high"]),
                                     (c_ref["share"], c_ref["low"], c_ref["high"]))
                clauses.append({"clause": c_other["clause"], "share": c_other["share"], "reference_share": c_ref["share"],
                                "difference": d, "low": low, "high": high,
                                "verdict": None if behind else _verdict(low, high, "higher", "lower")})
            latency = {}
            for p in PERCENTILES:
                o, r = other["latency_ms"][p], ref["latency_ms"][p]
                if o["estimate"] is None or r["estimate"] is None:
                    continue
                d, low, high = mover((o["estimate"], o["low"], o["high"]), (r["estimate"], r["low"], r["high"]))
                latency[p] = {"estimate": o["estimate"], "reference_estimate": r["estimate"], "difference": d,
                              "low": low, "high": high,
                              "verdict": None if behind else _verdict(low, high, "slower", "faster")}
            out.append({"series": groups[index]["label"], "reference": groups[base]["label"], "rate": rate,
                        "level": other["label"], "reference_level": ref["label"], "client_behind": behind,
                        "clauses": clauses, "latency_ms": latency})
    return out

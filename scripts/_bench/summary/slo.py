"""`--slo` on a benchmark table: per configuration, does its latency meet the objective?

A load test judges each level from requests sent on a schedule (load.py). A benchmark table holds calls made one
after another, each with its latency, and the same clauses apply per configuration:
- `pQ<T` is broken by a call that failed or took longer than T; it allows a share 1 - Q/100 (5 % for p95);
- `errors<X%` is broken by a failed call; it allows X %;
- meets: the whole interval of the broken share is below what is allowed; fails: the whole interval is above;
  undecided: it straddles (more calls would decide).

Only computed calls count (a cache replay measured nothing). The interval is exact (Clopper-Pearson) over the
effective number of calls: calls of one input (its repeats, samples) can be slow together, so n and the
broken count are divided by Kish's design effect of "broken" within inputs, as for the latency percentiles'
intervals (stats.percentile_intervals). There is no time line to cut into blocks here, so a stall spanning
consecutive calls is not modelled: run the configurations interleaved, so that a stall hits them all.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from _bench.stats import design_effect
from _bench.summary.load import MS_PER, Clause, overall_verdict, verdict


def judge(latency: np.ndarray | None, failed: np.ndarray, units: np.ndarray | None, clauses: list[Clause],
          latency_unit: str, confidence: float) -> dict:
    """The verdict on every clause for one configuration's computed calls: `latency` in `latency_unit` (NaN
    where none was measured), `failed` per call, `units` each call's input (None: every call its own)."""
    if latency is None:  # no latency column: only `errors<X%` clauses (export refuses the others)
        latency, latency_unit = np.zeros(len(failed)), "ms"
    ms = latency * MS_PER.get(latency_unit, 1.0)  # a column named without a unit is taken as milliseconds
    measured = failed | ~np.isnan(ms)  # a call that succeeded without a latency tells nothing about it
    ms, failed = ms[measured], failed[measured]
    at = None if units is None else np.unique(units[measured], return_inverse=True)[1]
    results = []
    for c in clauses:
        broken = failed | (ms > c.threshold_ms) if c.kind == "latency" else failed
        n, k = len(broken), int(broken.sum())
        if n == 0:
            results.append({"clause": c.text, "allowed": c.allowed, "calls": 0, "broken": 0, "share": None,
                            "low": None, "high": None, "verdict": "undecided"})
            continue
        deff = 1.0 if at is None else design_effect(broken, at)
        low, high = clopper_pearson(k / deff, n / deff, 1 - confidence)
        results.append({"clause": c.text, "allowed": c.allowed, "calls": n, "broken": k, "share": k / n,
                        "low": low, "high": high, "verdict": verdict(low, high, c.allowed)})
    return {"verdict": overall_verdict([r["verdict"] for r in results]), "clauses": results}


def clopper_pearson(k: float, n: float, alpha: float) -> tuple[float, float]:
    """The exact binomial interval for k of n, from beta quantiles, which also take the fractional counts an
    effective sample size gives."""
    low = 0.0 if k <= 0 else float(special.betaincinv(k, n - k + 1, alpha / 2))
    high = 1.0 if k >= n else float(special.betaincinv(k + 1, n - k, 1 - alpha / 2))
    return low, high

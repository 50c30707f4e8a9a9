"""`--slo` on a benchmark table: per configuration, does its latency meet the objective?

A load test judges each level from requests sent on a schedule (load.py). A benchmark table holds calls made one
after another, each with its latency, and the same clauses apply per configuration:
- `pQ<T` is broken by a call that failed or took longer than T; it allows a share 1 - Q/100 (5 % for p95);
- `errors<X%` is broken by a failed call; it allows X %;
- meets: the whole interval of the broken share is below what is allowed; fails: the whole interval is above;
  undecided: it straddles (more calls would decide).

Every computed call counts, in the order it was logged (a cache replay measured nothing; a failed call that
was retried was still a call). The interval is exact (Clopper-Pearson) over the effective number of calls: n
and the broken count are divided by Kish's design effect of "broken", the larger of two: within inputs (an
input's repeats or samples can be slow together, as for the latency percentiles' intervals) and within blocks
of consecutive calls (a stall or background load makes a run of calls slow; blocks of at least BLOCK_CALLS
calls and twice the longest run of broken ones, as the load test's time blocks). An undecided verdict comes
with about how many calls in all would decide it, if the broken share stayed as it is. Rows not logged in the
order the calls ran (a batch written afterwards, sorted: `--rows-not-in-call-order`) say nothing about runs of
consecutive calls: then only the inputs' design effect counts. Each clause reports its longest run of broken
rows, so a report can say why the effective calls are few.
"""

from __future__ import annotations

import numpy as np

from _bench.stats import design_effect
from _bench.summary.load import MS_PER, Clause, calls_to_decide, clopper_pearson, overall_verdict, verdict

BLOCK_CALLS = 20  # the smallest block of consecutive calls taken as slow together


def judge(latency: np.ndarray | None, failed: np.ndarray, units: np.ndarray | None, clauses: list[Clause],
          latency_unit: str, confidence: float, call_order: bool = True) -> dict:
    """The verdict on every clause for one configuration's computed calls: `latency` in `latency_unit` (NaN
    where none was measured), `failed` per call, `units` each call's input (None: every call its own);
    `call_order`: the rows are in the order the calls ran, so runs of consecutive broken rows count as one."""
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
        run = longest_run(broken)
        blocks = np.arange(n) // max(BLOCK_CALLS, 2 * run)
        deff = max(1.0 if at is None else design_effect(broken, at),
                   design_effect(broken, blocks) if call_order else 1.0)
        low, high = clopper_pearson(k / deff, n / deff, 1 - confidence)
        said = verdict(low, high, c.allowed)
        results.append({"clause": c.text, "allowed": c.allowed, "calls": n, "broken": k, "share": k / n,
                        "low": low, "high": high, "verdict": said, "effective_calls": n / deff,
                        "longest_broken_run": run,
                        "calls_to_decide": calls_to_decide(k / n, c.allowed, deff, 1 - confidence)
                        if said == "undecided" else None})
    return {"verdict": overall_verdict([r["verdict"] for r in results]), "clauses": results}


def runs_cut_calls(clause: dict) -> bool:
    """A clause whose effective calls a run of consecutive broken rows cut to under a quarter: where the order
    of the rows decides the verdict (the report says so, and checks the rows were logged as the calls ran)."""
    return clause.get("longest_broken_run", 0) >= BLOCK_CALLS and clause["effective_calls"] < clause["calls"] / 4


def longest_run(broken: np.ndarray) -> int:
    """The most consecutive True values."""
    if not broken.any():
        return 0
    edges = np.diff(np.concatenate(([0], broken.astype(np.int8), [0])))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())

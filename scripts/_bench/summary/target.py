"""--target: does each configuration reach a bar on a metric ("at least 85 % accuracy")?

Trial Z2 had to write its own script for the question users bring after "which is best": which configurations
reach a quality bar, and which of those is cheapest. A target is `METRIC>=VALUE` or `METRIC<=VALUE` (VALUE a
number, or a percentage for a 0/1 metric: `correct_strict>=85%`), or strictly `>` / `<` ("MAE below 45", trial H:
the two differ only for an interval ending exactly at the bar). Each configuration's verdict comes from the
interval the report already gives for that metric (Wilson for a 0/1 metric, bootstrap or t otherwise):
- meets: the whole interval is on the right side of the bar;
- fails: the whole interval is on the wrong side;
- undecided: the interval contains the bar (more items would decide).
Each verdict uses the configuration's own interval, not adjusted for the number of configurations judged: one
truly on the other side of the bar is called wrongly with at most 2.5 % chance at 95 % (one end of its
interval), so among many near the bar a few may be; the report says so.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from _bench.reader import InputError
from _bench.stats import fewest_deciding, wilson_interval

TARGET = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*(%?)\s*$")


@dataclass(frozen=True)
class Target:
    metric: str
    op: str  # '>=' (at least), '>' (above), '<=' (at most) or '<' (below)
    value: float
    text: str  # as the report and the CSV columns name it: 'correct_strict>=0.85'


def parse_target(text: str) -> Target:
    m = TARGET.match(text)
    if not m:
        raise InputError(f"--target: cannot read {text!r}; write METRIC>=VALUE or METRIC<=VALUE (or > / <), "
                         "e.g. 'correct_strict>=0.85', 'accuracy>=85%' or 'abs_error<45'")
    value = float(m.group(3)) / (100 if m.group(4) else 1)
    return Target(m.group(1), m.group(2), value, f"{m.group(1)}{m.group(2)}{value:g}")


def check_targets(targets: list[Target], metrics: list[str]) -> None:
    """Each target names a metric the report computes; a one-line error otherwise."""
    for t in targets:
        if t.metric not in metrics:
            raise InputError(f"--target {t.text}: {t.metric!r} is not a metric of this report "
                             f"({', '.join(metrics) or 'none'}); add it with --metric {t.metric}:higher or :lower")


def verdict(target: Target, low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "no interval"
    v = target.value
    meets, fails = {">=": (low >= v, high < v), ">": (low > v, high <= v),
                    "<=": (high <= v, low > v), "<": (high < v, low >= v)}[target.op]
    return "meets" if meets else "fails" if fails else "undecided"


def items_to_decide(target: Target, share: float, n: int, confidence: float) -> int | None:
    """About how many items in all would decide an undecided 0/1 metric if its share stayed as it is: the fewest
    whose Wilson interval at that share leaves the bar (trial Z3 worked it out by hand; the SLO said it). None at
    the bar itself or past 10^9 items."""
    if share == target.value or n <= 0:
        return None

    def decided(m: float) -> bool:
        interval = wilson_interval(share * m, m, confidence)
        return interval.low > target.value if share > target.value else interval.high < target.value

    needed = fewest_deciding(decided, start=n, limit=1e9)
    return None if needed is None else math.ceil(needed)


def judge_configurations(configs: list[dict], targets: list[Target], confidence: float = 0.95) -> None:
    """Each reported configuration gets `targets`: [{target, metric, op, value, estimate, ci_low, ci_high,
    verdict, items_to_decide}], from its metric's interval (items_to_decide: an undecided 0/1 metric's)."""
    for c in configs:
        c["targets"] = []
        for t in targets:
            m = c["metrics"].get(t.metric) or {}
            said = verdict(t, m.get("ci_low"), m.get("ci_high"))
            needed = items_to_decide(t, m["estimate"], m["n"], confidence) if said == "undecided" and m.get(
                "interval") == "wilson" else None
            c["targets"].append({"target": t.text, "metric": t.metric, "op": t.op, "value": t.value,
                                 "estimate": m.get("estimate"), "ci_low": m.get("ci_low"),
                                 "ci_high": m.get("ci_high"), "verdict": said, "items_to_decide": needed})


def meeting_all(configs: list[dict]) -> list[dict]:
    """The configurations that meet every target, cheapest first when the report has a cost per item."""
    met = [c for c in configs if c.get("targets") and all(t["verdict"] == "meets" for t in c["targets"])]
    return sorted(met, key=lambda c: (c.get("cost_per_item") is None, c.get("cost_per_item") or 0.0))

"""Load tests: per level, tail latency with intervals people can trust, and SLO verdicts (`--slo "p99<50ms"`).

A load test's request table (one row per request: when it was due, its latency from that moment, its error)
is recognised by the shared role inference (layout.kind == 'load'), or named with --kind load. Per level (one
configuration; its replicates pooled) this reports offered and achieved rate, error rate, p50/p95/p99/max
latency with 95% intervals, and for each SLO clause the share of requests that broke it, with an interval and
a verdict:
- `pQ<T` is broken by a request that failed or took longer than T; it allows a share 1 - Q/100 (1% for p99);
- `errors<X%` is broken by a failed request; it allows X%;
- meets: the whole interval of the share is below what is allowed; fails: the whole interval is above;
  undecided: the interval straddles it (more requests, or a longer level, would decide).
Several clauses must all hold. The capacity is the highest tested rate that meets with no lower rate failing,
and the bracket runs up to the lowest failing rate; a failing rate below a meeting one is a finding.

The client's share. Latency counts from when each request was due, so a client that falls behind its schedule
(its own CPU, or a machine it shares with the service) breaks the objective by itself. With a `send_lag_ms`
column (the throughput template's), a level whose requests that broke the objective were mostly sent late
(more than LATE_AFTER_MS after they were due; at least LAG_MIN_BROKEN of them) is `client_behind`: when it
does not meet, it says nothing about the service, so the capacity stops below it (`client_limited_at`: the
capacity is at least the rate under it) instead of calling it the service's failure (trial W: a client at
88 % of a core "failed" a service at 7 %). Unless the latency from the send itself (the lag taken out) fails the
objective too (`from_send_verdict`): then the service was slow at that rate whatever the client did, and the
level fails as the service's (trial I: 369 ms from the send against a 50 ms objective, and no verdict).

Intervals. Requests of a load test are not independent: a stall or a garbage-collection pause delays a run of
consecutive requests, so an i.i.d. interval would be far too narrow exactly when the tail matters. Each
interval is the wider of (a) a time-block bootstrap: the level's time line is cut into blocks, which are
resampled with replacement within each replicate, and (b) the exact binomial interval (Clopper-Pearson for a
share; order statistics for a percentile), which a bootstrap must never undercut. Block length: at least
1 s, at least twice the longest run of consecutive broken requests (so one stall stays inside one block), and
at most a fifth of the level (so there are at least five blocks to resample; a level shorter than 5 s gets
shorter blocks, and a finding says its intervals are rough).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from _bench.layout import LOAD_SCHEDULE_NAMES, Layout, label, short_labels
from _bench.reader import Benchmark, InputError
from _bench.sql import NULL_MARK, SEP, as_text, numeric, q
from _bench.stats import fewest_deciding

PERCENTILES = (50, 95, 99)
# A percentile must be recomputed on every resample (shares come from block counts): 1,000 resamples keep the
# interval's ends within ~1 % of 2,000's while halving the cost; it is widened to the exact interval anyway.
PERCENTILE_RESAMPLES = 1000
MIN_BLOCK_S = 1.0
MIN_BLOCKS = 5
LATE_AFTER_MS = 5.0  # a send this much after it was due counts as late (the throughput template's threshold)
LAG_MIN_BROKEN = 5  # requests that broke the objective a level needs before their lateness is judged
CLAUSE = re.compile(r"^\s*(?:(p)(\d+(?:\.\d+)?)\s*<\s*(\d+(?:\.\d+)?)\s*(ms|s|us|µs|ns)|(errors?)\s*<\s*(\d+(?:\.\d+)?)\s*%)"
                    r"\s*$", re.IGNORECASE)
MS_PER = {"s": 1000.0, "ms": 1.0, "us": 1e-3, "µs": 1e-3, "ns": 1e-6}  # a latency unit in milliseconds
RATE_NAMES = ("rate", "target_rate", "offered_rate", "rps", "target_rps")
# How long a level was measured: a level setting (shown in labels when it varies, so two levels at one rate stay
# apart) that does not change what is measured, so levels differing only in these and the rate form one series.
LENGTH_NAMES = ("duration_s", "warmup_s", "duration", "warmup", "seed")


@dataclass(frozen=True)
class Clause:
    text: str
    kind: str  # 'latency' | 'errors'
    allowed: float  # the share of requests allowed to break it
    quantile: float | None = None  # latency: Q of pQ
    threshold_ms: float | None = None


def parse_slo(text: str) -> list[Clause]:
    """'p99<50ms', 'p95<0.2s, errors<1%': every clause must hold. Raises InputError on anything else."""
    clauses = []
    for part in re.split(r",|;|\band\b", text):
        if not part.strip():
            continue
        m = CLAUSE.match(part)
        if not m:
            raise InputError(f"--slo: cannot read {part.strip()!r}; write e.g. 'p99<50ms', 'p99.9<0.2s', 'p95<40us' or "
                             "'errors<1%', several joined by commas (all must hold)")
        if m.group(1):
            q_, value, unit = float(m.group(2)), float(m.group(3)), m.group(4).lower()
            if not 0 < q_ < 100:
                raise InputError(f"--slo: percentile {q_:g} must be between 0 and 100")
            clauses.append(Clause(f"p{q_:g}<{m.group(3)}{unit}", "latency", round(1 - q_ / 100, 10), q_,
                                  value * MS_PER[unit]))
        else:
            share = float(m.group(6)) / 100
            if not 0 < share < 1:
                raise InputError(f"--slo: the allowed error share must be between 0% and 100%, got {m.group(6)}%")
            clauses.append(Clause(f"errors<{m.group(6)}%", "errors", share))
    if not clauses:
        raise InputError("--slo: no clause given; write e.g. 'p99<50ms'")
    return clauses


@dataclass
class Series:
    """One level's requests, in schedule order within each replicate."""

    key: tuple
    shown: dict
    versions: tuple
    rate: float | None
    replicate: list = field(default_factory=list)
    due_s: list = field(default_factory=list)
    latency_ms: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    send_lag_ms: list = field(default_factory=list)  # NaN where the table has no send_lag_ms column
    label: str = ""


def _replicate_key(layout: Layout) -> str:
    """One value per replicate of a level, from *every* replicate column: the throughput template's levels carry
    both a Poisson `seed` (the same in each repeat) and the repeat's `replicate`, and a time block must never
    join requests of two repeats (they ran minutes apart)."""
    if not layout.replicate:
        return "'0'"
    return f" || '{SEP}' || ".join(f"COALESCE({as_text(q(r))}, '{NULL_MARK}')" for r in layout.replicate)


def read_levels(bench: Benchmark, layout: Layout, latency: str, unit: str, where: str,
                params: list) -> list[Series]:
    """Every level's requests: (replicate, when due, latency in ms, failed), streamed in key order."""
    due = next((c for c in LOAD_SCHEDULE_NAMES if c in layout.columns and c != "send_lag_ms"), None)
    if due is None:
        raise InputError(f"a load test needs when each request was due ({' or '.join(LOAD_SCHEDULE_NAMES[:2])} "
                         f"column); available: {', '.join(layout.columns)}")
    rate = next((c for c in RATE_NAMES if c in layout.columns), None)
    shown = [p for p in layout.parameters if p not in layout.config] if layout.config_from == "config_id" else []
    if shown:  # numeric level settings are not parameters by name (a float `duration_s` reads as an outcome)
        shown += [c for c in LENGTH_NAMES if c in layout.columns and c not in shown and c not in layout.replicate]
    keys = [*layout.config, *layout.versions]
    scale = MS_PER.get(unit, 1.0)  # a column without a unit in its name is taken as milliseconds
    lag = numeric(q("send_lag_ms"), bench.engine) if "send_lag_ms" in layout.columns else "NULL"
    cols = [*(q(k) for k in keys), *(q(p) for p in shown), numeric(q(rate), bench.engine) if rate else "NULL",
            _replicate_key(layout), numeric(q(due), bench.engine),
            numeric(q(latency), bench.engine), layout.failed, lag]
    order = ", ".join([*(q(k) for k in keys), *(q(r) for r in layout.replicate), q(due)])
    sql = f"SELECT {', '.join(cols)} FROM {bench.VIEW}{where} ORDER BY {order}"
    levels: dict[tuple, Series] = {}
    n_key, n_shown = len(keys), len(shown)
    for row in bench.iterate(sql, params):
        key = tuple(row[:n_key])
        s = levels.get(key)
        if s is None:
            values = row[n_key:n_key + n_shown]
            display = dict(zip(shown, values, strict=True)) if shown else dict(
                zip(layout.config, key[:len(layout.config)], strict=True))
            rate_value = row[n_key + n_shown]  # closed-loop levels have no target rate (0 or NULL)
            s = levels[key] = Series(key, display, key[len(layout.config):],
                                     float(rate_value) if rate_value and rate_value > 0 else None)
        r, d, lat, bad, late = row[n_key + n_shown + 1:]
        s.replicate.append(r)
        s.due_s.append(math.nan if d is None else float(d))
        s.latency_ms.append(math.nan if lat is None else float(lat) * scale)
        s.failed.append(bool(bad) or lat is None)
        s.send_lag_ms.append(math.nan if late is None else float(late))
    return list(levels.values())


def _blocks(replicate: np.ndarray, due: np.ndarray, block_s: float) -> np.ndarray:
    """A block id per request: replicate and time slot, so blocks never cross replicates."""
    _, rep = np.unique(replicate.astype(str), return_inverse=True)
    slot = np.floor((due - np.nanmin(due)) / block_s).astype(np.int64)
    return rep * (slot.max() + 1 if len(slot) else 1) + slot


def block_length(due: np.ndarray, broken: np.ndarray, window_s: float) -> float:
    """At least 1 s and twice the longest run of consecutive broken requests, but at most a fifth of the level
    (five blocks are the fewest a bootstrap can resample; a level shorter than 5 s then gets shorter blocks,
    and its intervals are rough: the caller says so)."""
    longest = 0.0
    start = None
    for t, b in zip(due, broken, strict=True):
        if b and start is None:
            start = t
        elif not b and start is not None:
            longest, start = max(longest, t - start), None
    if start is not None:
        longest = max(longest, due[-1] - start)
    return float(min(max(MIN_BLOCK_S, 2 * longest), window_s / MIN_BLOCKS))


class BlockBootstrap:
    """Whole blocks drawn with replacement. Shares come from per-block counts (cheap: O(blocks) a resample);
    percentiles from the drawn requests themselves."""

    def __init__(self, blocks: np.ndarray, resamples: int, seed: int):
        ids, self.inverse = np.unique(blocks, return_inverse=True)
        self.order = np.argsort(self.inverse, kind="stable")
        self.starts = np.searchsorted(self.inverse[self.order], np.arange(len(ids) + 1))
        self.draws = np.random.default_rng(seed).integers(0, len(ids), size=(resamples, len(ids)))

    def shares(self, broken: np.ndarray) -> np.ndarray:
        per_block = np.bincount(self.inverse, weights=broken.astype(float), minlength=len(self.starts) - 1)
        sizes = np.diff(self.starts)
        return per_block[self.draws].sum(axis=1) / sizes[self.draws].sum(axis=1)

    def percentiles(self, values: np.ndarray, keep: np.ndarray, qs: tuple[float, ...]) -> np.ndarray:
        """One row per resample, one column per percentile in `qs` (each resample is drawn once for all)."""
        kept_values = [values[self.order[a:b]][keep[self.order[a:b]]] for a, b in
                       zip(self.starts[:-1], self.starts[1:], strict=True)]
        out = []
        for draw in self.draws[:PERCENTILE_RESAMPLES]:
            picked = np.concatenate([kept_values[j] for j in draw])
            if len(picked):
                out.append(np.percentile(picked, qs))
        return np.asarray(out).reshape(-1, len(qs))


def share_interval(broken: np.ndarray, boot: BlockBootstrap, alpha: float) -> tuple[float, float, float, float]:
    """The share of broken requests, with the wider of the block-bootstrap and Clopper-Pearson intervals, and
    how much wider than the exact one it is as a design effect (its width over the exact width, squared: a
    stall makes requests alike, and requests_to_decide scales by it)."""
    from scipy import (
        stats as sp_stats,  # imported here: scipy.stats costs ~0.8 s, and only load tests need it
    )

    n, k = len(broken), int(broken.sum())
    cp = sp_stats.binomtest(k, n).proportion_ci(1 - alpha, method="exact")
    low, high = np.quantile(boot.shares(broken), [alpha / 2, 1 - alpha / 2])
    low, high = float(min(low, cp.low)), float(max(high, cp.high))
    exact = cp.high - cp.low
    return k / n, low, high, max(1.0, ((high - low) / exact) ** 2) if exact > 0 else 1.0


def clopper_pearson(k: float, n: float, alpha: float) -> tuple[float, float]:
    """The exact binomial interval for k of n, from beta quantiles, which also take the fractional counts an
    effective sample size gives."""
    low = 0.0 if k <= 0 else float(special.betaincinv(k, n - k + 1, alpha / 2))
    high = 1.0 if k >= n else float(special.betaincinv(k + 1, n - k, 1 - alpha / 2))
    return low, high


def calls_to_decide(share: float, allowed: float, deff: float, alpha: float) -> int | None:
    """About how many calls in all would take the exact interval off `allowed`, if the broken share stayed
    `share` and calls stayed as alike as now (the design effect `deff`): the fewest effective calls whose
    Clopper-Pearson interval at that share excludes `allowed`, times `deff`. Exact, not the normal
    approximation, which promised too few where few calls break (trial L: 886 requests for 0.5 % against 1 %,
    which left it undecided). None at share == allowed."""
    if share == allowed:
        return None

    def decided(n: float) -> bool:
        low, high = clopper_pearson(share * n, n, alpha)
        return high < allowed if share < allowed else low > allowed

    effective = fewest_deciding(decided)
    return None if effective is None else int(math.ceil(effective * deff))


def order_statistic_interval(n: int, q_: float, alpha: float) -> tuple[int | None, int | None]:
    """0-based ranks (low, high) of the exact distribution-free interval for the q-th percentile
    (Binomial(n, q) ranks); None where n is too small to bound that end."""
    from scipy import stats as sp_stats

    low = int(sp_stats.binom.ppf(alpha / 2, n, q_ / 100)) - 1
    high = int(sp_stats.binom.ppf(1 - alpha / 2, n, q_ / 100))
    return (low if low >= 0 else None), (high if high < n else None)


def percentile_intervals(values: np.ndarray, keep: np.ndarray, qs: tuple[float, ...], boot: BlockBootstrap,
                         alpha: float) -> list[tuple[float, float | None, float | None]]:
    """Each q-th percentile of the kept values with the wider of the block bootstrap and the order-statistic
    interval; an end the data cannot bound (too few samples in the tail) is None."""
    kept = np.sort(values[keep])
    if len(kept) == 0:
        return [(math.nan, None, None)] * len(qs)
    draws = boot.percentiles(values, keep, qs)
    out = []
    for column, q_ in enumerate(qs):
        lo_rank, hi_rank = order_statistic_interval(len(kept), q_, alpha)
        b_low, b_high = np.quantile(draws[:, column], [alpha / 2, 1 - alpha / 2])
        low = None if lo_rank is None else min(float(kept[lo_rank]), float(b_low))
        high = None if hi_rank is None else max(float(kept[hi_rank]), float(b_high))
        out.append((float(np.percentile(kept, q_)), low, high))
    return out


def verdict(low: float, high: float, allowed: float) -> str:
    if high < allowed:
        return "meets"
    if low > allowed:
        return "fails"
    return "undecided"


def analyse_level(s: Series, clauses: list[Clause], alpha: float, resamples: int, seed: int) -> dict:
    due, latency = np.asarray(s.due_s), np.asarray(s.latency_ms)
    failed, replicate = np.asarray(s.failed), np.asarray(s.replicate, dtype=object)
    n = len(due)
    reps = len(set(map(str, replicate)))
    spans = [float(np.nanmax(due[replicate == r]) - np.nanmin(due[replicate == r])) for r in set(replicate)]
    window_s = sum(span * (m / (m - 1)) if m > 1 else 1.0 for span, m in
                   zip(spans, (int(np.sum(replicate == r)) for r in set(replicate)), strict=True))
    ok = ~failed
    worst = failed.copy()
    for c in clauses:
        if c.kind == "latency":
            worst |= latency > c.threshold_ms
    block_s = block_length(due, worst, window_s / max(reps, 1))
    boot = BlockBootstrap(_blocks(replicate, due, block_s), resamples, seed)
    percentiles = {}
    for q_, (est, low, high) in zip(PERCENTILES, percentile_intervals(latency, ok, PERCENTILES, boot, alpha),
                                    strict=True):
        percentiles[f"p{q_:g}"] = {"estimate": est, "low": low, "high": high}
    results = _judge_clauses(failed, latency, clauses, boot, alpha)
    overall = overall_verdict([r["verdict"] for r in results])
    errors = int(failed.sum())
    lag = np.asarray(s.send_lag_ms, dtype=float)
    sent_late = _sent_late(worst if clauses else _slowest(latency, ok), lag, latency)
    # trial I: a level the client fell behind on said nothing, although its latency from the send alone, the
    # client's lag taken out, broke the objective: the service was slow too, and that is the service's verdict
    from_send = overall_verdict([r["verdict"] for r in _judge_clauses(
        failed, latency - np.nan_to_num(lag), clauses, boot, alpha)]) if (
        clauses and sent_late and sent_late["client_behind"] and overall != "meets") else None
    return {"key": list(s.key), "configuration": s.shown, "rate": s.rate, "replicates": reps, "requests": n,
            # six decimals, as the benchmark's numbers (model.r6): 9.999999999999998 requests/s was 10
            "window_s": round(window_s, 6), "offered_rps": round(n / window_s, 6) if window_s else None,
            "achieved_rps": round(int(ok.sum()) / window_s, 6) if window_s else None, "errors": errors,
            "error_rate": round(errors / n, 6) if n else None, "latency_ms": percentiles,
            "max_ms": float(np.nanmax(latency[ok])) if ok.any() else None, "block_s": block_s,
            "clauses": results, "verdict": overall if clauses else None, "sent_late": sent_late,
            "client_behind": None if sent_late is None else sent_late["client_behind"],
            "from_send_verdict": from_send,
            "replicate_verdicts": (_replicate_verdicts(s, clauses, block_s, alpha, resamples, seed)
                                   if reps > 1 else {})}


def _slowest(latency: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """The successful requests at or above their p99: the tail, when no objective says which requests broke it."""
    if not ok.any():
        return np.zeros(len(latency), dtype=bool)
    return ok & (latency >= np.percentile(latency[ok], 99, method="linear"))


def _sent_late(broken: np.ndarray, lag_ms: np.ndarray, latency_ms: np.ndarray) -> dict | None:
    """How many of the requests that broke the objective (or of the slowest) were sent late, and whether they are
    most of them (`client_behind`): None without send times. With the evidence a reader weighs (trials Y, Y2: a
    lag of at most 64 ms beside latencies of seconds): the largest lag, and the median latency counted from the
    send itself (latency minus lag) of the late ones: when that alone breaks the objective, the service was slow
    too, and the level cannot tell the two apart."""
    judged = broken & ~np.isnan(lag_ms)
    if not judged.any() and np.isnan(lag_ms).all():
        return None
    late_ones = judged & (lag_ms > LATE_AFTER_MS)
    late = int(np.count_nonzero(late_ones))
    of = int(np.count_nonzero(judged))
    from_send = (latency_ms - lag_ms)[late_ones & ~np.isnan(latency_ms)]
    return {"requests": late, "of": of, "after_ms": LATE_AFTER_MS,
            "max_lag_ms": round(float(np.max(lag_ms[late_ones])), 3) if late else None,
            "median_from_send_ms": round(float(np.median(from_send)), 3) if len(from_send) else None,
            "client_behind": of >= LAG_MIN_BROKEN and 2 * late >= of}


def _judge_clauses(failed: np.ndarray, latency: np.ndarray, clauses: list[Clause], boot: BlockBootstrap,
                  alpha: float) -> list[dict]:
    """Per clause: the share of requests that broke it, its interval and the verdict against what it allows."""
    results = []
    for c in clauses:
        broken = failed | (latency > c.threshold_ms) if c.kind == "latency" else failed
        share, low, high, deff = share_interval(broken, boot, alpha)
        said = verdict(low, high, c.allowed)
        # trial L: how long to measure a level whose share sits near the limit (a service's base error rate)
        results.append({"clause": c.text, "allowed": c.allowed, "broken": int(broken.sum()), "share": share,
                        "low": low, "high": high, "verdict": said,
                        "requests_to_decide": calls_to_decide(share, c.allowed, deff, alpha)
                        if said == "undecided" else None})
    return results


def overall_verdict(verdicts: list[str]) -> str:
    return "fails" if "fails" in verdicts else "undecided" if "undecided" in verdicts else "meets"


def _replicate_verdicts(s: Series, clauses: list[Clause], block_s: float, alpha: float, resamples: int,
                        seed: int) -> dict[str, str]:
    """Each repeat of a level judged on its own requests (blocks as long as the pooled level's): a level whose
    repeats disagree (one meets, another fails) is pooled into one verdict, and the caller says so."""
    due, latency = np.asarray(s.due_s), np.asarray(s.latency_ms)
    failed, replicate = np.asarray(s.failed), np.asarray(s.replicate, dtype=object).astype(str)
    out = {}
    for r in sorted(set(replicate)):
        mask = replicate == r
        boot = BlockBootstrap(_blocks(replicate[mask], due[mask], block_s), resamples, seed)
        out[r] = overall_verdict([c["verdict"] for c in _judge_clauses(failed[mask], latency[mask], clauses, boot, alpha)])
    return out


def mark_deciding(levels: list[dict]) -> None:
    """`decides_rate` on each level of one series: true on the level with the most requests at its rate (ties:
    the later), which speaks for that rate (a search measures an undecided rate again, longer: another
    configuration, so a rate can have two verdicts; trial Q read both rows of the level CSV as equals)."""
    best: dict[float, dict] = {}
    for lv in levels:
        if lv["rate"] is not None and (lv["rate"] not in best or lv["requests"] >= best[lv["rate"]]["requests"]):
            best[lv["rate"]] = lv
    for lv in levels:
        lv["decides_rate"] = None if lv["rate"] is None else best[lv["rate"]] is lv


def client_limited(lv: dict) -> bool:
    """A level that does not meet and whose broken requests the client mostly sent late: not the service's verdict,
    unless the requests' latency from the send itself (the client's lag taken out) fails the objective too."""
    return bool(lv.get("client_behind")) and lv["verdict"] != "meets" and lv.get("from_send_verdict") != "fails"


def capacity(levels: list[dict]) -> tuple[dict | None, dict | None, list[str]]:
    """The highest tested rate that meets with no lower rate failing; the bracket; non-monotone levels. Only the
    level that decides each rate counts (mark_deciding; levels without the mark all count). A level the client
    fell behind on (client_limited) counts as not measured; the lowest such rate above the capacity (below any
    failure of the service) is the bracket's `client_limited_at`: the capacity is at least the rate that meets."""
    rated = sorted((lv for lv in levels if lv["rate"] is not None and lv["verdict"] and lv.get("decides_rate", True)),
                   key=lambda lv: lv["rate"])
    # a level the client fell behind on measured the client, not the service: as if not measured (a level that
    # meets stays evidence, whatever the client did; trial Y: 300/s met above a client-limited 250/s)
    measured = [lv for lv in rated if not client_limited(lv)]
    highest, problems = None, []
    for lv in measured:
        if lv["verdict"] == "fails":
            break
        if lv["verdict"] == "meets":
            highest = lv
    failing = [lv for lv in measured if lv["verdict"] == "fails"]
    above = [lv for lv in failing if highest is None or lv["rate"] > highest["rate"]]
    for lv in measured:
        if lv["verdict"] == "meets" and any(f["rate"] < lv["rate"] for f in failing):
            problems.append(f"{lv['label']} meets although a lower rate fails")
    # the client's limit: the lowest client-limited rate above the capacity and below the service's first failure
    limit = next((lv["rate"] for lv in rated if client_limited(lv)
                  and (highest is None or lv["rate"] > highest["rate"])
                  and (not above or lv["rate"] < above[0]["rate"])), None)
    bracket = None
    if highest or above or limit is not None:
        bracket = {"meets_at": highest["rate"] if highest else None,
                   "fails_at": above[0]["rate"] if above else None,
                   **({"client_limited_at": limit} if limit is not None else {})}
    return (None if highest is None else {"label": highest["label"], "rate": highest["rate"]}), bracket, problems


def _unique_labels(levels: list[dict], series: list[Series]) -> None:
    """Two levels the shown settings cannot tell apart (they differ in a column not shown) keep one label each:
    `... #2`, in the order they were read, so every table row and plot panel is one level."""
    seen: dict[str, int] = {}
    for lv, s in zip(levels, series, strict=True):
        seen[lv["label"]] = seen.get(lv["label"], 0) + 1
        if seen[lv["label"]] > 1:
            lv["label"] = s.label = f"{lv['label']} #{seen[lv['label']]}"


def _groups(levels: list[dict]) -> list[dict]:
    """Levels of one version that differ only in the offered rate and how long they ran."""
    keyed: dict[tuple, dict] = {}
    for lv in levels:
        setting = {k: v for k, v in lv["configuration"].items() if k not in RATE_NAMES and k not in LENGTH_NAMES}
        key = (str(lv["version"]), repr(sorted(setting.items(), key=lambda kv: kv[0])))
        group = keyed.setdefault(key, {"configuration": setting, "version": lv["version"], "levels": []})
        group["levels"].append(lv)
    return list(keyed.values())


def level_labels(shown: list[dict]) -> list[str]:
    """Each level's label: the settings that make its series (what differs between levels besides the rate and
    the length: an endpoint name, a connection model, a version) always, then what tells it apart within them.
    short_labels alone drops a setting the rate happens to determine (trial Y: the two builds' rates did not
    overlap, and the shared table read `rate=125.0` with no build)."""
    keys = list(dict.fromkeys(k for d in shown for k in d))
    series = [k for k in keys if k not in RATE_NAMES + LENGTH_NAMES and len({repr(d.get(k)) for d in shown}) > 1]
    if not series:
        return short_labels(shown)
    within = [{k: v for k, v in d.items() if k not in series} for d in shown]
    rest = short_labels(within) if len({repr(sorted(d.items())) for d in within}) > 1 else [""] * len(shown)
    return [", ".join(filter(None, [label([k for k in series if k in d], [d[k] for k in series if k in d]), r]))
            for d, r in zip(shown, rest, strict=True)]


def _series_names(groups: list[dict]) -> list[str]:
    """Each series' label: what tells its configuration apart, and with several versions the version columns
    that differ (trial V: a commit mid-run made two versions of the same levels)."""
    if len(groups) == 1:
        return ["all levels"]
    names = short_labels([g["configuration"] for g in groups])
    versions = [g["version"] or {} for g in groups]
    if len({repr(sorted(v.items())) for v in versions}) == 1:
        return names
    shown = short_labels(versions)
    same_setting = len({repr(sorted(g["configuration"].items())) for g in groups}) == 1
    return [v if same_setting else f"{v}: {n}" for v, n in zip(shown, names, strict=True)]


def series_of(levels: list[dict]) -> list[dict]:
    """Levels of one version that differ only in the offered rate and how long they ran (one connection model,
    one arrival process, ...) form a series; a capacity is a property of one series, so each version's levels
    have their own. Each level gets its series' index."""
    groups = _groups(levels)
    names = _series_names(groups)
    out = []
    for index, (group, name) in enumerate(zip(groups, names, strict=True)):
        for lv in group["levels"]:
            lv["series"] = index
        mark_deciding(group["levels"])
        highest, bracket, problems = capacity(group["levels"])
        undecided = sorted(lv["rate"] for lv in group["levels"] if lv["decides_rate"] and lv["verdict"] == "undecided")
        out.append({"label": name or "all levels", "configuration": group["configuration"],
                    "version": group["version"], "levels": [lv["label"] for lv in group["levels"]],
                    "rates": sorted({lv["rate"] for lv in group["levels"] if lv["rate"] is not None}),
                    "highest_meeting": highest, "bracket": bracket, "non_monotone": problems,
                    # trial Q: a headline naming the capacity and not these over-claims when one below would fail
                    "undecided_rates": undecided})
    return out


def analyse(bench: Benchmark, layout: Layout, latency: str | None, unit: str, clauses: list[Clause],
            where: str, params: list, alpha: float, resamples: int, seed: int) -> tuple[dict, list[Series]]:
    if latency is None:
        raise InputError("a load test needs a latency column (latency_ms, ...); name it with --latency-col")
    series = read_levels(bench, layout, latency, unit, where, params)
    # with several versions a level's label names its version too (else two builds' levels read alike)
    several = len({s.versions for s in series}) > 1
    names = level_labels([{**dict(zip(layout.versions, s.versions, strict=True)), **s.shown} if several else s.shown
                          for s in series])
    levels = []
    for s, name in zip(series, names, strict=True):
        lv = analyse_level(s, clauses, alpha, resamples, seed)
        if len(layout.replicate) > 1:  # '0\x1f1' (trial L) as 'seed=0, replicate=1'
            lv["replicate_verdicts"] = {", ".join(f"{c}={v}" for c, v in zip(layout.replicate, key.split(SEP),
                                                                              strict=True)): said
                                        for key, said in lv["replicate_verdicts"].items()}
        lv["label"] = s.label = name or label(layout.config, s.key) or "(all requests)"
        lv["version"] = dict(zip(layout.versions, s.versions, strict=True))
        levels.append(lv)
    _unique_labels(levels, series)
    order = sorted(range(len(levels)), key=lambda i: (str(levels[i]["version"]), levels[i]["rate"] is None,
                                                      levels[i]["rate"] or 0.0, levels[i]["label"]))
    levels, series = [levels[i] for i in order], [series[i] for i in order]
    groups = series_of(levels) if clauses else []
    # one series: its capacity is the capacity; several (two connection models, two versions, say): each has
    # its own, and a capacity across them would compare unlike things
    one = groups[0] if len(groups) == 1 else {"highest_meeting": None, "bracket": None, "non_monotone": []}
    return {"objective": ", ".join(c.text for c in clauses) or None,
            "thresholds_ms": [c.threshold_ms for c in clauses if c.kind == "latency"], "levels": levels,
            "highest_meeting": one["highest_meeting"], "bracket": one["bracket"],
            "non_monotone": [p for g in groups for p in g["non_monotone"]], "series": groups,
            # the version columns whose values differ between levels: then each version has its own capacity
            "versions_differ": [k for k in layout.versions if len({repr(lv["version"].get(k)) for lv in levels}) > 1],
            "interval": f"{1 - alpha:.0%}, the wider of a time-block bootstrap ({resamples} resamples) and the "
                        "exact binomial interval"}, series

"""Per-configuration summaries and paired comparisons against the best, from the partitions of one scan.

The unit of analysis is an *item*: one input, or one (input, seed, fold) when replicate columns exist.
With a fold column (repeated k-fold CV) the unit of the *tests* is the fold: per-fold values, compared with
the Nadeau-Bengio corrected resampled t, since folds of one seed share training data. With seeds and no fold,
the seed is the unit of the tests (cluster-robust t), or with `unit="input"` the input: each input's mean over
its seeds (over the seeds both sides have, in a pair), as for K samples per question (Miller 2024).
- Each (configuration, item) counts once: a success is preferred to a failure (a retried call is scored on
  its success), a computed row to a cache replay of it (a re-run must not double n), and repeated computed
  rows are counted once, the first logged (and reported).
- Failed rows (non-empty `error`) are excluded from metrics and counted as failures (with --failures wrong,
  right/wrong metrics count them as wrong answers instead, in the pairs too).
- Comparisons pair items present, and not failed, on both sides; the rest are counted and excluded.
- Memory: one configuration's rows while summarising it; one pair's per-item vectors while comparing.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from _bench import power as _power
from _bench import stats as _stats
from _bench.summary import slo as _slo
from _bench.summary.load import MS_PER
from _bench.summary.plan import Metric, Plan
from _bench.summary.scan import FAILED, NO_ITEM, REPLAYED, Group, Partitions

BETTER, WORSE, NO_DIFFERENCE, NOT_COMPARABLE = "better", "worse", "no detectable difference", "not comparable"


@dataclass(frozen=True)
class Options:
    confidence: float = 0.95
    alpha: float = 0.05
    adjust: str = "holm"
    resamples: int = _stats.DEFAULT_RESAMPLES
    seed: int = _stats.DEFAULT_SEED
    reference: str | None = None  # --pairs CONFIG (or --reference) as given: compare against this configuration
    pairs: str = "best"  # 'best' | 'all' | 'none' | 'reference' (with `reference`)
    family: str = "metric"  # 'metric': each metric's comparisons are adjusted together | 'all': one family
    power: float = 0.8  # of the minimum detectable difference reported beside every comparison
    items_needed: float | None = None  # --items-needed DELTA: plan how much data that difference needs
    slo: list | None = None  # --slo: the objective (summary/load.Clause list)
    slo_per_configuration: bool = False  # judged per configuration (a benchmark table, slo.py), not per load level
    call_order: bool = True  # the rows were logged as the calls ran (--rows-not-in-call-order: not)
    failures: str = "exclude"  # 'exclude' | 'wrong' (a wrong answer in right/wrong metrics) | a number (that score)
    unit: str = "replicate"  # with replicates and no fold: 'replicate' (seeds are the clusters) | 'input' (means)
    within: tuple = ()  # --within: configuration columns whose values a compared pair shares
    by: tuple = ()  # --by: columns each of whose values (a slice of the inputs) is reported on its own
    latency_per_input: str | None = None  # --latency-per-input: median | min | mean of each input's timings first
    latency_of_replays: bool = False  # --latency-of-replays: a replayed row's latency (the original call's) counts
    failure_latency_ms: float | None = None  # --failure-latency: a failed call counts in the percentiles at this
    targets: tuple = ()  # --target: target.Target, a bar each configuration's metric meets, fails or straddles


# Beyond this magnitude squares (variances, bootstrap sums) overflow float64: such a metric is not averaged.
TOO_LARGE = 1e150


@dataclass
class MetricSummary:
    n: int
    interval: _stats.Interval
    binary: bool
    inputs: int | None = None  # with replicate columns: distinct inputs and replicates behind the n items
    replicates: int | None = None
    total: float = math.nan  # the sum of the scored values (a 0/1 metric: its right answers), over rows
    non_finite: int = 0  # inf/-inf values excluded from the interval and the comparisons
    too_large: int = 0  # values beyond TOO_LARGE: then nothing is averaged and nothing compared
    # An interval past every observed value (a t interval over a few seeds/folds with a few huge items): the
    # interval is honest about the spread of the fold means but not a range the metric can take; the report
    # says so. (observed min, observed max, share of the total held by the largest 1 % of values)
    beyond_data: tuple[float, float, float] | None = None
    # A non-negative metric whose largest 1 % of items hold a large share of its total (a log loss with a few
    # confident mistakes): (those items, their share), else None. The mean then speaks for those items.
    tail: tuple[int, float] | None = None

    @property
    def usable(self) -> bool:
        return self.too_large == 0


@dataclass
class ConfigSummary:
    group: Group
    index: int
    items: int  # distinct items after deduplication (rows without an item id count one each)
    failed: int
    replays_used: int  # replayed rows standing in for an item with no computed row
    replays_dropped: int  # replayed rows whose item was also computed
    duplicates_dropped: int  # repeated successful computed rows of the same item
    retries_superseded: int  # failed rows of an item that also has a successful row (a retry): not counted
    failures_repeated: int  # further failed rows of an item that never succeeded (it counts as failed once)
    metrics: dict[str, MetricSummary] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)  # p50/p95/p99 over computed, successful rows
    latency_n: int = 0
    replays_not_timed: tuple[int, int] = (0, 0)  # replayed rows left out of latency: with a value, without one
    latency_ci: dict[str, tuple] = field(default_factory=dict)  # p50/p95/p99 -> (low, high), inputs as the units
    slo: dict | None = None  # --slo on a benchmark table: this configuration's verdict (slo.judge)
    latency_per_input: str | None = None  # the percentiles are over each input's median/min/mean (--latency-per-input)
    failures_counted_at: float | None = None  # --failure-latency, in the latency column's unit: failures are in
    tokens: float | None = None
    cost: float | None = None
    clusters: int = 0
    test_train_ratio: float | None = None  # repeated k-fold CV only: n_test / n_train of its folds
    inputs: int | None = None  # with replicate columns: distinct inputs and replicates (seeds) behind the items
    replicates: int | None = None


@dataclass
class Comparison:
    metric: str
    other: int  # ConfigSummary.index
    reference: int
    only_reference: int  # items the reference has that the other lacks (or failed on)
    only_other: int
    result: _stats.PairedResult | None
    p_adjusted: float = math.nan
    verdict: str = NOT_COMPARABLE
    binary: bool = False  # both sides 0/1: d_z's size words do not apply (see comparison_entry)
    family: str = ""  # the multiplicity family this comparison's p was adjusted in
    family_size: int = 0  # how many p-values that family adjusted together
    evidence: Evidence | None = None  # what its power depends on
    detectable: _power.Mde | None = None  # the minimum detectable difference at the alpha the verdict uses
    needed: _power.Needed | None = None  # --items-needed: the data that difference needs, at the family's alpha
    needed_alone: _power.Needed | None = None  # ... and for this pair tested alone, at alpha
    conservative: bool = False  # detectable was computed at alpha/m (Holm's strictest step), not alpha
    ranks_disagree: bool = False  # a rank test found a difference the other way round from the mean's


@dataclass(frozen=True)
class Evidence:
    """What a comparison's power depends on, kept so its detectable difference can be computed at the alpha
    its family leaves (known only once every comparison is made): counts and spreads, never the vectors."""

    kind: str  # 'binary' | 'continuous' | 'clustered' | 'corrected'
    n: int
    b: int = 0  # binary: other right & reference wrong, and the reverse
    c: int = 0
    sd: float = math.nan  # continuous: SD of the item differences; corrected: SD of the per-fold differences
    se: float = math.nan  # clustered/corrected: the test's own standard error
    units: int = 0  # clusters (seeds) or folds behind the SE
    ratio: float | None = None  # corrected: n_test / n_train
    folds_per_repetition: int | None = None

    def detectable(self, alpha: float, power: float) -> _power.Mde:
        """The true difference the comparison's own test detects with `power` at `alpha`. The t-based ones
        are calibrated for the noise of an SE estimated from few seeds/folds (else power falls to ~68 % at 5)."""
        if self.kind == "binary":
            return _power.binary_mde(self.n, self.b, self.c, alpha, power)
        if self.kind == "continuous":
            delta = _power.mde_continuous(self.sd, self.n, alpha, power)
            return _power.Mde(delta, alpha, power, f"t-based from the SD of {self.n} differences, Wilcoxon ARE",
                              "" if delta is not None else "no spread in the differences")
        delta = _power.mde_from_se(self.se, self.units - 1, alpha, power, calibrated=True) \
            if self.units >= 2 else None
        what = "clusters" if self.kind == "clustered" else "folds"
        return _power.Mde(delta, alpha, power, f"calibrated Bloom (1995) from the test's SE over {self.units} "
                          f"{what}", "" if delta is not None else f"fewer than two {what}, or no spread")

    def needed(self, delta: float, alpha: float, power: float) -> _power.Needed:
        if self.kind == "binary":
            return _power.items_needed_binary(delta, (self.b + self.c) / self.n if self.n else 0.0, alpha, power)
        if self.kind == "continuous":
            return _power.items_needed_continuous(delta, self.sd, alpha, power)
        if self.kind == "clustered":
            return _power.clusters_needed(delta, self.se, self.units, alpha, power)
        plan = _power.repetitions_needed(delta, self.sd, self.ratio or 0.0, alpha, power, self.folds_per_repetition)
        if plan.count is not None:
            return plan
        return self._more_data(plan, delta, alpha, power)

    def _more_data(self, plan: _power.Needed, delta: float, alpha: float, power: float) -> _power.Needed:
        """Under repeated CV, more inputs shrink every fold's noise: the SE falls as 1/sqrt(inputs) at the same
        seeds x folds (the same ratio). How many inputs that takes, keeping the design: in the explanation, and
        as data_factor and inputs (trial P read the number out of the sentence)."""
        now = self.detectable(alpha, power).delta
        if now is None or not delta > 0:
            return replace(plan, explanation=f"{plan.explanation}; the data cannot say how much more")
        factor = (now / abs(delta)) ** 2
        times = f"{factor:,.0f}x" if factor >= 10 else f"{factor:.1f}x"
        seeds = self.units // self.folds_per_repetition if self.folds_per_repetition else None
        design = f"{seeds} seeds x {self.folds_per_repetition} folds" if seeds else f"{self.units} folds"
        if self.n <= self.units:  # one item per fold (a per-fold table): how many examples is not recorded here
            return replace(plan, data_factor=factor, explanation=(
                f"{plan.explanation}; keeping {design}, a data set about {times} as large (every fold {times} the "
                "examples) would detect it, if the new examples are like these"))
        inputs = self.n // seeds if seeds else self.n
        needed = math.ceil(inputs * factor)
        return replace(plan, data_factor=factor, inputs=needed, explanation=(
            f"{plan.explanation}; keeping {design}, about {times} the inputs (~{needed:,} instead of {inputs:,}) "
            "would detect it, if the new inputs are like these"))


def _dedupe(rec: np.ndarray) -> tuple[np.ndarray, dict]:
    """One row per item: a success before a failure (a failed call retried successfully is scored on its
    success), computed before replayed, then scan order (the first logged); rows without an item id are kept,
    but cache replays among them are dropped when the configuration has computed rows at all."""
    flags, items = rec["flags"], rec["item"]
    has_item = (flags & NO_ITEM) == 0
    none = {"replays_dropped": 0, "duplicates_dropped": 0, "retries_superseded": 0, "failures_repeated": 0}
    if has_item.all() and bool(np.all(items[1:] > items[:-1])):
        return rec, none  # already one row per item
    with_item = np.flatnonzero(has_item)
    failed = (flags[with_item] & FAILED) != 0
    replayed = (flags[with_item] & REPLAYED) != 0
    # Two stable sorts = sort by item, then (success, computed) first, then scan order; far faster than lexsort
    # on the mostly-sorted ids benchmarks write (timsort on runs, radix on the small rank).
    rank = (2 * failed + replayed).astype(np.uint8)
    by_rank = np.argsort(rank, kind="stable")
    order = with_item[by_rank[np.argsort(items[with_item][by_rank], kind="stable")]]
    ordered_items = items[order]
    first = np.r_[True, ordered_items[1:] != ordered_items[:-1]] if len(order) else np.zeros(0, bool)
    kept = order[np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))] if len(order) else order
    dropped, kept = order[~first], kept[~first]
    # Dropped rows, each counted once: a failure with a success beside it (a retry that worked), a failure
    # repeated (the item never succeeded), a replay, or a repeated success (what validate calls a duplicate).
    dropped_failed = (flags[dropped] & FAILED) != 0
    retried = dropped_failed & ((flags[kept] & FAILED) == 0)
    repeated_failures = int(np.count_nonzero(dropped_failed & ~retried))
    dropped_replayed = int(np.count_nonzero(((flags[dropped] & REPLAYED) != 0) & ~dropped_failed))
    duplicates = len(dropped) - dropped_replayed - int(dropped_failed.sum())
    without = np.flatnonzero(~has_item)
    without_replayed = (flags[without] & REPLAYED) != 0
    if without_replayed.any() and not without_replayed.all():
        dropped_replayed += int(without_replayed.sum())
        without = without[~without_replayed]
    keep = np.concatenate([order[first], without])
    return rec[keep], {"replays_dropped": dropped_replayed, "duplicates_dropped": duplicates,
                       "retries_superseded": int(retried.sum()), "failures_repeated": repeated_failures}


def _metric_summary(values: np.ndarray, clusters: np.ndarray | None, ratio: float | None,
                    opts: Options) -> MetricSummary:
    """Repeated k-fold CV (a ratio): the mean over folds with the Nadeau-Bengio interval; seed-only clusters:
    cluster-robust t; independent items: Wilson (0/1) or bootstrap. A 0/1 metric's interval stays in [0, 1]."""
    binary = _zero_one(values)
    if clusters is not None and len(np.unique(clusters)) >= 2:
        if ratio is not None:
            interval = _stats.corrected_resampled_interval(_stats.fold_means(values, clusters), ratio,
                                                           opts.confidence)
        else:
            interval = _stats.cluster_mean_interval(values, clusters, opts.confidence)
        if binary:
            interval = _stats.clip_to_unit(interval)
    elif binary:
        interval = _stats.wilson_interval(int(values.sum()), len(values), opts.confidence)
    else:
        interval = _stats.bootstrap_mean_interval(values, opts.confidence, opts.resamples, opts.seed)
    # A 0/1 metric's interval always reaches past the data when every value is equal (all correct): not a sign
    # of extreme items, which is what the beyond-data warning is about.
    beyond = None if binary else _beyond_data(values, interval)
    return MetricSummary(len(values), interval, binary, beyond_data=beyond, tail=None if binary else _tail(values))


def input_means(inputs: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each input's mean over its rows (its replicates), ordered by input: the same order for any values
    given with the same `inputs`."""
    _, at = np.unique(inputs, return_inverse=True)
    return np.bincount(at, weights=values) / np.bincount(at)


def _zero_one(values: np.ndarray) -> bool:
    return len(values) > 0 and bool(np.all((values == 0) | (values == 1)))


TAIL_ITEMS, TAIL_SHARE = 100, 0.25  # from 100 items on, the largest 1 % holding a quarter of the total or more


def _tail(values: np.ndarray) -> tuple[int, float] | None:
    """The largest 1 % of a non-negative metric's items and their share of its total, when that share is
    TAIL_SHARE or more (25x an even share). A log-normal spread reaches it only past sigma 1.7 (latencies
    rarely do: sigma 1 gives 9 %); 43 log-loss values of 5 to 29 among 5,391 near 0.1 hold 39 %."""
    if len(values) < TAIL_ITEMS or values.min() < 0:
        return None
    total = float(values.sum())
    k = len(values) // 100
    share = float(np.partition(values, len(values) - k)[-k:].sum() / total) if total > 0 else 0.0
    return (k, share) if share >= TAIL_SHARE else None


def _beyond_data(values: np.ndarray, interval: _stats.Interval) -> tuple[float, float, float] | None:
    if len(values) == 0 or not (interval.low < values.min() or interval.high > values.max()):
        return None  # NaN bounds compare false: no interval, nothing to say here
    top = np.sort(np.abs(values))[::-1][:max(1, len(values) // 100)]
    total = float(np.abs(values).sum())
    return float(values.min()), float(values.max()), float(top.sum() / total) if total else math.nan


def _inputs_and_replicates(rec: np.ndarray) -> tuple[int | None, int | None]:
    """How many distinct inputs and replicates (seeds; the seed, not the fold, under repeated CV) the items
    are made of; None without replicate columns, where an item is an input."""
    if "input" not in rec.dtype.names:
        return None, None
    if "repetition" not in rec.dtype.names and "cluster" not in rec.dtype.names:  # --pool without seeds
        return len(np.unique(rec["input"])), None
    replicate = rec["repetition"] if "repetition" in rec.dtype.names else rec["cluster"]
    return len(np.unique(rec["input"])), len(np.unique(replicate))


def summarise(parts: Partitions, group: Group, index: int, plan: Plan,
              opts: Options) -> ConfigSummary:
    """Summarise one configuration and keep its per-item vectors on disk for the paired comparisons."""
    rec, counts = _dedupe(parts.load(group))
    failed = (rec["flags"] & FAILED) != 0
    replayed = (rec["flags"] & REPLAYED) != 0
    out = ConfigSummary(group, index, items=len(rec), failed=int(failed.sum()),
                        replays_used=int(replayed.sum()), **counts)
    ok = rec[~failed]
    per_input = opts.unit == "input" and "input" in rec.dtype.names
    clusters = ok["cluster"] if "cluster" in rec.dtype.names and not per_input else None
    if "repetition" in rec.dtype.names:  # every tested item counts for the fold sizes, failed ones too
        with_item = rec[(rec["flags"] & NO_ITEM) == 0]
        out.test_train_ratio = _stats.test_train_ratio(with_item["cluster"], with_item["repetition"])
    for i, metric in enumerate(plan.metrics):
        fill = failure_value(metric, opts)
        counted = fill is not None
        scored = rec if counted else ok
        values = np.where(failed, fill, rec[f"m{i}"]) if counted else ok[f"m{i}"]
        metric_clusters = scored["cluster"] if clusters is not None else None
        present = np.isfinite(values)  # NULL arrives as NaN; inf is excluded and counted
        non_finite = int(np.count_nonzero(np.isinf(values)))
        too_large = int(np.count_nonzero(np.abs(values[present]) >= TOO_LARGE))
        if too_large:
            summary = MetricSummary(int(present.sum()), _stats.Interval(math.nan, math.nan, math.nan,
                                                                        "none: values too large to average"),
                                    False)
        elif per_input:
            summary = _metric_summary(input_means(scored["input"][present], values[present]), None, None, opts)
        else:
            kept_clusters = None if metric_clusters is None else metric_clusters[present]
            summary = _metric_summary(values[present], kept_clusters, out.test_train_ratio, opts)
        summary.non_finite, summary.too_large = non_finite, too_large
        if not too_large:
            summary.total = float(values[present].sum())
        summary.inputs, summary.replicates = _inputs_and_replicates(scored[present])
        out.metrics[metric.name] = summary
    out.inputs, out.replicates = _inputs_and_replicates(rec[(rec["flags"] & NO_ITEM) == 0])
    if "cluster" in rec.dtype.names:
        out.clusters = len(np.unique(ok["cluster"]))
    if plan.latency:
        # Replays carry function_time 0.0 (xetrack) or a copied latency: only computed rows measured time, unless
        # --latency-of-replays says the column holds the original call's time (the templates' latency_s,
        # fit_seconds); the rows are one per item here, so no call is counted twice.
        counted = ~replayed if not opts.latency_of_replays else np.ones(len(rec), dtype=bool)
        left_out = replayed & ~counted & ~failed
        has_value = ~np.isnan(rec["latency"][left_out])
        out.replays_not_timed = (int(has_value.sum()), int((~has_value).sum()))
        timed = ~failed & counted
        lat = rec["latency"][timed]
        if opts.failure_latency_ms is not None:  # what a caller waited: a failed call at least the timeout
            timed = counted
            at = opts.failure_latency_ms / MS_PER.get(plan.latency_unit, 1.0)  # in the column's own unit
            out.failures_counted_at = at
            lat = np.where(failed[timed], np.fmax(rec["latency"][timed], at), rec["latency"][timed])
        # an item is one row here (deduplicated); with replicates or --pool an input has several
        units = rec["input"][timed] if "input" in rec.dtype.names else None
        if opts.latency_per_input and units is not None:  # one value per input: no input clustering left
            lat, units = _stats.per_unit(lat, units, opts.latency_per_input), None
            out.latency_per_input = opts.latency_per_input
        out.latency = _stats.percentiles(lat)
        out.latency_n = int(np.count_nonzero(~np.isnan(lat)))
        ci = _stats.percentile_intervals(lat, units, (50, 95, 99), opts.confidence)
        out.latency_ci = {"p50": ci[50], "p95": ci[95], "p99": ci[99]}
    if opts.slo and opts.slo_per_configuration:  # every computed call, in logged order (replays timed nothing)
        calls = slo_calls(parts.load(group), opts.latency_of_replays)
        out.slo = _slo.judge(calls["latency"] if plan.latency else None, (calls["flags"] & FAILED) != 0,
                             calls["input"] if "input" in calls.dtype.names else None, opts.slo, plan.latency_unit,
                             opts.confidence, opts.call_order)
    for name in ("tokens", "cost"):
        if name in rec.dtype.names and not np.isnan(rec[name]).all():
            setattr(out, name, float(np.nansum(rec[name])))
    # For pairing: items with an id; a failed row's metrics become NaN, so it is excluded like a missing item.
    paired = rec[(rec["flags"] & NO_ITEM) == 0]
    kept = [f for f in paired.dtype.names
            if f in ("item", "cluster") or f.startswith("m") or (f == "input" and per_input)]
    vectors = np.empty(len(paired), dtype=[(f, paired.dtype[f]) for f in kept])
    paired_failed = (paired["flags"] & FAILED) != 0
    for f in kept:
        if f.startswith("m"):
            metric = plan.metrics[int(f[1:])]
            fill = failure_value(metric, opts)
            fill = np.nan if fill is None else fill
            vectors[f] = np.where(paired_failed, fill, paired[f])
        else:
            vectors[f] = paired[f]
    np.save(parts.scratch(f"vectors{index}.npy"), vectors)
    return out


def slo_calls(logged: np.ndarray, latency_of_replays: bool) -> np.ndarray:
    """The rows --slo judges, in logged order: the computed calls; with --latency-of-replays also the first
    replay of each item no computed row has (a version replayed from the cache: its rows hold the original
    calls' times), never a replay of an item computed here too, which would count one call twice."""
    replayed = (logged["flags"] & REPLAYED) != 0
    keep = ~replayed
    if latency_of_replays and replayed.any():
        if "item" in logged.dtype.names:
            has_item = (logged["flags"] & NO_ITEM) == 0
            computed = logged["item"][keep & has_item]
            candidates = np.flatnonzero(replayed & has_item & ~np.isin(logged["item"], computed))
            _, first = np.unique(logged["item"][candidates], return_index=True)
            keep[candidates[first]] = True
        else:  # no item key: nothing to tell a replay of a call counted here from another call's
            keep[:] = True
    return logged[keep]


# Configurations up to this many rows are summarised two at a time, larger ones one at a time: a configuration in
# flight holds about 90 bytes a row (export at 10 M rows, configurations of 1-2 M rows: peak RSS 335 MB one at a
# time, 520 MB two at a time), so two of 2.5 M rows stay within the 1 GB target.
PARALLEL_MAX_ROWS = 2_500_000


def summarise_all(parts: Partitions, groups: list[Group], plan: Plan, opts: Options) -> list[ConfigSummary]:
    """summarise() for every configuration, in order. Two threads when there are two cores and every
    configuration is small enough: numpy's sorts and reductions release the GIL, so both cores work (export at
    10 M rows on DuckDB: 8.2-8.6 s -> 7.4-7.6 s; benchmarks/README.md)."""
    def one(pair: tuple[int, Group]) -> ConfigSummary:
        return summarise(parts, pair[1], pair[0], plan, opts)

    small = all(g.rows <= PARALLEL_MAX_ROWS for g in groups)
    if len(groups) < 2 or not small or (os.cpu_count() or 1) < 2:
        return [one(pair) for pair in enumerate(groups)]
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(one, enumerate(groups)))


def failure_value(metric: Metric, opts: Options) -> float | None:
    """What a failed call scores in `metric`, or None (excluded). --failures wrong: a wrong answer in a
    right/wrong metric (excluded elsewhere); --failures VALUE: that value in every metric (an nDCG of 0 for a
    search that timed out)."""
    if opts.failures == "wrong":
        return metric.wrong if metric.right_or_wrong else None
    return None if opts.failures == "exclude" else float(opts.failures)


def best_index(configs: list[ConfigSummary], metric: Metric) -> int | None:
    """The configuration with the best point estimate; ties go to the first in report order."""
    scored = [(c.metrics[metric.name].interval.estimate, pos) for pos, c in enumerate(configs)
              if c.metrics[metric.name].n > 0 and not math.isnan(c.metrics[metric.name].interval.estimate)]
    if not scored:
        return None
    sign = -1 if metric.higher_is_better else 1
    return configs[min(scored, key=lambda t: (sign * t[0], t[1]))[1]].index


def _load(parts: Partitions, index: int, metric_pos: int) -> tuple:
    """(items, clusters, values, inputs) of one configuration's finite values; inputs only under unit='input'
    (then the clusters are left out: the input is the unit)."""
    v = np.load(parts.scratch(f"vectors{index}.npy"))
    values = v[f"m{metric_pos}"]
    keep = np.isfinite(values)
    inputs = v["input"][keep] if "input" in v.dtype.names else None
    clusters = v["cluster"][keep] if "cluster" in v.dtype.names and inputs is None else None
    return v["item"][keep], clusters, values[keep], inputs


def pairs_to_compare(configs: list[ConfigSummary], metric: Metric, mode: str,
                     reference: int | None = None, within: Callable | None = None) -> list[tuple[int, int]]:
    """(other, reference) indices to compare, in report order. 'best' and a named reference: every other
    configuration against that one; 'all': every pair once, the better-ranked configuration as the reference
    (so a difference reads 'this one minus the one ranked above it'). `within`: the same within each group of
    configurations it gives one value (--within), and no pair across groups."""
    if within is not None:
        groups: dict = {}
        for c in configs:
            groups.setdefault(within(c), []).append(c)
        return [pair for group in groups.values() for pair in pairs_to_compare(group, metric, mode, reference)]
    if mode == "none":  # the per-configuration tables alone (repeated runs judged against an objective)
        return []
    if mode == "all":
        order = [c.index for c in configs]
        return [(order[j], order[i]) for i in range(len(order)) for j in range(i + 1, len(order))]
    against = best_index(configs, metric) if reference is None else reference
    if against is None:
        return []
    return [(c.index, against) for c in configs if c.index != against]


def compare_pairs(parts: Partitions, configs: list[ConfigSummary], metric: Metric, metric_pos: int,
                  opts: Options, pairs: list[tuple[int, int]]) -> list[Comparison]:
    """Each (other, reference) pair on the items both have; each configuration's vectors are read once."""
    by_index = {c.index: c for c in configs}
    loaded: dict[int, tuple] = {}

    def vectors(index: int) -> tuple:
        if index not in loaded:
            loaded[index] = _load(parts, index, metric_pos)
        return loaded[index]

    return [_compare(by_index[other], by_index[ref], vectors(other), vectors(ref), metric, opts)
            for other, ref in pairs]


def _compare(c: ConfigSummary, ref: ConfigSummary, mine: tuple, theirs: tuple, metric: Metric,
             opts: Options) -> Comparison:
    items, clusters, values, inputs = mine
    ref_items, _, ref_values, _ = theirs
    if len(items) == len(ref_items) and np.array_equal(items, ref_items):  # the usual case: the same items
        i_ref = i_other = np.arange(len(items))
    else:
        _, i_ref, i_other = np.intersect1d(ref_items, items, assume_unique=True, return_indices=True)
    shared = len(i_ref)
    comp = Comparison(metric.name, c.index, ref.index, len(ref_items) - shared, len(items) - shared, None,
                      binary=ref.metrics[metric.name].binary and c.metrics[metric.name].binary)
    if not shared or not (c.metrics[metric.name].usable and ref.metrics[metric.name].usable):
        return comp  # not comparable: nothing shared, or values too large to average
    a, b = values[i_other], ref_values[i_ref]
    cl = clusters[i_other] if clusters is not None else None
    if inputs is not None:  # unit 'input': each input's mean over the replicates both sides have
        a, b = input_means(inputs[i_other], a), input_means(inputs[i_other], b)
        comp.binary = _zero_one(a) and _zero_one(b)
    d = a - b
    if cl is not None and len(np.unique(cl)) >= 2 and ref.test_train_ratio is not None and c.test_train_ratio:
        ratio = (ref.test_train_ratio + c.test_train_ratio) / 2  # the same folds give the same ratio on both sides
        comp.result = _stats.paired_corrected_resampled(a, b, cl, ratio, opts.confidence)
        per_fold = _stats.fold_means(d, cl)
        k = c.clusters // c.replicates if c.replicates else None
        comp.evidence = Evidence("corrected", len(d), sd=float(np.std(per_fold, ddof=1)),
                                 se=_stats._corrected_se(per_fold, ratio), units=len(per_fold), ratio=ratio,
                                 folds_per_repetition=k)
    elif cl is not None and len(np.unique(cl)) >= 2:
        comp.result = _stats.paired_clustered(a, b, cl, opts.confidence)
        _, se, g = _stats._cluster_robust(d, cl)
        comp.evidence = Evidence("clustered", len(d), se=se, units=g)
    elif comp.binary:
        comp.result = _stats.paired_binary(a, b, opts.confidence)
        b_count, c_count = comp.result.discordant
        comp.evidence = Evidence("binary", len(d), b=b_count, c=c_count)
    else:
        comp.result = _stats.paired_continuous(a, b, opts.confidence, opts.resamples, opts.seed)
        comp.evidence = Evidence("continuous", len(d), sd=float(np.std(d, ddof=1)) if len(d) > 1 else math.nan)
    return comp


def _within_range(mde: _power.Mde, metric: Metric | None) -> _power.Mde:
    """A right/wrong metric's difference lies in [-1, 1]: a detectable difference beyond 1 (two seeds leave
    one degree of freedom) means no possible difference would be detected, and is reported as such."""
    if metric is None or not metric.right_or_wrong or mde.delta is None or mde.delta <= 1:
        return mde
    return _power.Mde(None, mde.alpha, mde.power, mde.method,
                      "no possible difference of a 0/1 metric would be detected "
                      f"(it would take {mde.delta:.3g})")


def _ranks_agree(result: _stats.PairedResult) -> bool:
    return result.rank_direction is None or result.rank_direction == np.sign(result.delta)


def decide(comparisons: list[Comparison], metrics: dict[str, Metric], opts: Options) -> None:
    """Adjust p-values family by family (each metric's comparisons, or all of one version's with --family
    all), then give each comparison its verdict."""
    families: dict[str, list[Comparison]] = {}
    for comp in comparisons:
        families.setdefault(comp.metric if opts.family == "metric" else "all", []).append(comp)
    for name, members in families.items():
        p = [c.result.p_value if c.result else math.nan for c in members]
        size = sum(not math.isnan(x) for x in p)
        for comp, adjusted in zip(members, _stats.adjust_p_values(p, opts.adjust), strict=True):
            comp.p_adjusted, comp.family, comp.family_size = adjusted, name, size
            if comp.evidence is not None:
                # The alpha the verdict effectively uses: Holm's (and BH's) strictest step is alpha/m, so the
                # detectable difference at alpha/m is conservative for the other members of the family.
                alpha = opts.alpha / size if opts.adjust != "none" and size > 1 else opts.alpha
                mde = comp.evidence.detectable(alpha, opts.power)
                comp.detectable = _within_range(mde, metrics.get(comp.metric))
                comp.conservative = alpha < opts.alpha
                if opts.items_needed is not None:
                    comp.needed = comp.evidence.needed(opts.items_needed, alpha, opts.power)
                    # the same pair tested alone, at alpha (a confirmatory run of just these two): trials R and
                    # S filtered the table down to one pair to get it, and read that run's post-hoc verdict
                    comp.needed_alone = comp.needed if alpha == opts.alpha else \
                        comp.evidence.needed(opts.items_needed, opts.alpha, opts.power)
            if comp.result is None or math.isnan(adjusted):
                comp.verdict = NOT_COMPARABLE
            elif adjusted < opts.alpha and comp.result.delta != 0 and _ranks_agree(comp.result):
                gain = comp.result.delta if metrics[comp.metric].higher_is_better else -comp.result.delta
                comp.verdict = BETTER if gain > 0 else WORSE
            else:
                # A signed-rank p below alpha whose ranks lean the other way from the mean difference says that
                # most items favour one side while the mean (a few large differences) favours the other: no
                # verdict on the reported difference, and the report says why.
                comp.ranks_disagree = adjusted < opts.alpha and not _ranks_agree(comp.result)
                comp.verdict = NO_DIFFERENCE

"""Per-configuration summaries and paired comparisons against the best, from the partitions of one scan.

The unit of analysis is an *item*: one input, or one (input, seed, fold) when replicate columns exist.
With a fold column (repeated k-fold CV) the unit of the *tests* is the fold: per-fold values, compared with
the Nadeau-Bengio corrected resampled t, since folds of one seed share training data.
- Each (configuration, item) counts once: a computed row is preferred to a cache replay of it (a re-run
  must not double n), and repeated computed rows are counted once (and reported).
- Failed rows (non-empty `error`) are excluded from metrics and counted as failures.
- Comparisons pair items present, and not failed, on both sides; the rest are counted and excluded.
- Memory: one configuration's rows while summarising it; one pair's per-item vectors while comparing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from _bench import stats as _stats
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
    reference: str | None = None  # --reference as given: compare against this configuration, not the best


@dataclass
class MetricSummary:
    n: int
    interval: _stats.Interval
    binary: bool
    inputs: int | None = None  # with replicate columns: distinct inputs and replicates behind the n items
    replicates: int | None = None


@dataclass
class ConfigSummary:
    group: Group
    index: int
    items: int  # distinct items after deduplication (rows without an item id count one each)
    failed: int
    replays_used: int  # replayed rows standing in for an item with no computed row
    replays_dropped: int  # replayed rows whose item was also computed
    duplicates_dropped: int  # repeated computed rows of the same item
    metrics: dict[str, MetricSummary] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)  # p50/p95/p99 over computed, successful rows
    latency_n: int = 0
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


def _dedupe(rec: np.ndarray) -> tuple[np.ndarray, dict]:
    """One row per item: computed before replayed, then scan order; rows without an item id are kept, but
    cache replays among them are dropped when the configuration has computed rows at all."""
    flags, items = rec["flags"], rec["item"]
    has_item = (flags & NO_ITEM) == 0
    if has_item.all() and bool(np.all(items[1:] > items[:-1])):
        return rec, {"replays_dropped": 0, "duplicates_dropped": 0}  # already one row per item
    with_item = np.flatnonzero(has_item)
    replayed = (flags[with_item] & REPLAYED) != 0
    # Two stable sorts = sort by item, computed first, then scan order; far faster than lexsort on the
    # mostly-sorted ids benchmarks write (timsort on runs, radix on the 0/1 flag).
    by_flag = np.argsort(replayed.view(np.uint8), kind="stable")
    order = with_item[by_flag[np.argsort(items[with_item][by_flag], kind="stable")]]
    ordered_items = items[order]
    first = np.r_[True, ordered_items[1:] != ordered_items[:-1]] if len(order) else np.zeros(0, bool)
    dropped_replayed = int(np.count_nonzero(flags[order[~first]] & REPLAYED))
    duplicates = int(np.count_nonzero(~first)) - dropped_replayed
    without = np.flatnonzero(~has_item)
    without_replayed = (flags[without] & REPLAYED) != 0
    if without_replayed.any() and not without_replayed.all():
        dropped_replayed += int(without_replayed.sum())
        without = without[~without_replayed]
    keep = np.concatenate([order[first], without])
    return rec[keep], {"replays_dropped": dropped_replayed, "duplicates_dropped": duplicates}


def _metric_summary(values: np.ndarray, clusters: np.ndarray | None, ratio: float | None,
                    opts: Options) -> MetricSummary:
    """Repeated k-fold CV (a ratio): the mean over folds with the Nadeau-Bengio interval; seed-only clusters:
    cluster-robust t; independent items: Wilson (0/1) or bootstrap. A 0/1 metric's interval stays in [0, 1]."""
    binary = len(values) > 0 and bool(np.all((values == 0) | (values == 1)))
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
    return MetricSummary(len(values), interval, binary)


def _inputs_and_replicates(rec: np.ndarray) -> tuple[int | None, int | None]:
    """How many distinct inputs and replicates (seeds; the seed, not the fold, under repeated CV) the items
    are made of; None without replicate columns, where an item is an input."""
    if "input" not in rec.dtype.names:
        return None, None
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
    clusters = ok["cluster"] if "cluster" in rec.dtype.names else None
    if "repetition" in rec.dtype.names:  # every tested item counts for the fold sizes, failed ones too
        with_item = rec[(rec["flags"] & NO_ITEM) == 0]
        out.test_train_ratio = _stats.test_train_ratio(with_item["cluster"], with_item["repetition"])
    for i, metric in enumerate(plan.metrics):
        values = ok[f"m{i}"]
        present = ~np.isnan(values)
        out.metrics[metric.name] = _metric_summary(values[present], None if clusters is None else
                                                   clusters[present], out.test_train_ratio, opts)
        out.metrics[metric.name].inputs, out.metrics[metric.name].replicates = _inputs_and_replicates(ok[present])
    out.inputs, out.replicates = _inputs_and_replicates(rec[(rec["flags"] & NO_ITEM) == 0])
    if clusters is not None:
        out.clusters = len(np.unique(clusters))
    if plan.latency:
        # Replays carry function_time 0.0 (xetrack) or a copied latency: only computed rows measured time.
        lat = rec["latency"][~failed & ~replayed]
        out.latency = _stats.percentiles(lat)
        out.latency_n = int(np.count_nonzero(~np.isnan(lat)))
    for name in ("tokens", "cost"):
        if name in rec.dtype.names and not np.isnan(rec[name]).all():
            setattr(out, name, float(np.nansum(rec[name])))
    # For pairing: items with an id; a failed row's metrics become NaN, so it is excluded like a missing item.
    paired = rec[(rec["flags"] & NO_ITEM) == 0]
    kept = [f for f in paired.dtype.names if f in ("item", "cluster") or f.startswith("m")]
    vectors = np.empty(len(paired), dtype=[(f, paired.dtype[f]) for f in kept])
    paired_failed = (paired["flags"] & FAILED) != 0
    for f in kept:
        vectors[f] = np.where(paired_failed, np.nan, paired[f]) if f.startswith("m") else paired[f]
    np.save(parts.scratch(f"vectors{index}.npy"), vectors)
    return out


def best_index(configs: list[ConfigSummary], metric: Metric) -> int | None:
    """The configuration with the best point estimate; ties go to the first in report order."""
    scored = [(c.metrics[metric.name].interval.estimate, pos) for pos, c in enumerate(configs)
              if c.metrics[metric.name].n > 0]
    if not scored:
        return None
    sign = -1 if metric.higher_is_better else 1
    return configs[min(scored, key=lambda t: (sign * t[0], t[1]))[1]].index


def _load(parts: Partitions, index: int, metric_pos: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    v = np.load(parts.scratch(f"vectors{index}.npy"))
    values = v[f"m{metric_pos}"]
    keep = ~np.isnan(values)
    clusters = v["cluster"][keep] if "cluster" in v.dtype.names else None
    return v["item"][keep], clusters, values[keep]


def compare_to_best(parts: Partitions, configs: list[ConfigSummary], metric: Metric, metric_pos: int,
                    opts: Options, reference: int | None = None) -> list[Comparison]:
    """Every configuration against the best (or the `reference` index), on shared items, one pair in memory
    at a time."""
    best = best_index(configs, metric) if reference is None else reference
    if best is None:
        return []
    ref_items, _, ref_values = _load(parts, best, metric_pos)
    by_index = {c.index: c for c in configs}
    ref_ratio = by_index[best].test_train_ratio
    out = []
    for c in configs:
        if c.index == best:
            continue
        items, clusters, values = _load(parts, c.index, metric_pos)
        _, i_ref, i_other = np.intersect1d(ref_items, items, assume_unique=True, return_indices=True)
        shared = len(i_ref)
        comp = Comparison(metric.name, c.index, best, len(ref_items) - shared, len(items) - shared, None,
                          binary=by_index[best].metrics[metric.name].binary and c.metrics[metric.name].binary)
        if shared:
            a, b = values[i_other], ref_values[i_ref]
            cl = clusters[i_other] if clusters is not None else None
            if cl is not None and len(np.unique(cl)) >= 2 and ref_ratio is not None and c.test_train_ratio:
                ratio = (ref_ratio + c.test_train_ratio) / 2  # the same folds give the same ratio on both sides
                comp.result = _stats.paired_corrected_resampled(a, b, cl, ratio, opts.confidence)
            elif cl is not None and len(np.unique(cl)) >= 2:
                comp.result = _stats.paired_clustered(a, b, cl, opts.confidence)
            elif comp.binary:
                comp.result = _stats.paired_binary(a, b, opts.confidence)
            else:
                comp.result = _stats.paired_continuous(a, b, opts.confidence, opts.resamples, opts.seed)
        out.append(comp)
        del items, clusters, values
    return out


def decide(comparisons: list[Comparison], metrics: dict[str, Metric], opts: Options) -> None:
    """Adjust every p-value of one version's report together, then give each comparison its verdict."""
    p = [c.result.p_value if c.result else math.nan for c in comparisons]
    for comp, adjusted in zip(comparisons, _stats.adjust_p_values(p, opts.adjust), strict=True):
        comp.p_adjusted = adjusted
        if comp.result is None or math.isnan(adjusted):
            comp.verdict = NOT_COMPARABLE
        elif adjusted < opts.alpha and comp.result.delta != 0:
            gain = comp.result.delta if metrics[comp.metric].higher_is_better else -comp.result.delta
            comp.verdict = BETTER if gain > 0 else WORSE
        else:
            comp.verdict = NO_DIFFERENCE

"""The statistics behind export_summary: intervals for one configuration, paired tests between two.

Every function is pure (numbers in, numbers out), deterministic given its seed, and uses numpy/scipy only.
What each method is for, and why it was chosen, is said where it is defined; references are in
references/statistics.md. Conventions:
- a *difference* is always `other - reference`, in the metric's own units;
- intervals are two-sided at `confidence` (0.95 by default) and are per comparison (not adjusted for
  multiplicity); the multiplicity adjustment is applied to p-values, and verdicts come from adjusted p-values;
- repeated cross-validation (seed x fold) is compared on per-fold values with the Nadeau-Bengio correction;
  replicate runs that share nothing but a seed use cluster-robust standard errors;
- "no detectable difference" means the data cannot tell the two apart at this sample size. It is not
  evidence that they are equal (a wide interval says how large a difference could still hide).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from scipy import special  # binomial and t distributions; scipy.stats (slow to import) only for Wilcoxon

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0
# Bootstrap cost is items x resamples. Above this many draws the bootstrap distribution of a mean is normal
# to within display precision (central limit theorem), so a normal interval is used and labelled as such.
MAX_BOOTSTRAP_DRAWS = 40_000_000
_CHUNK_DRAWS = 2_000_000  # memory per resampling chunk: 16 MB of indices
EXACT_WILCOXON_MAX_N = 50  # scipy's exact null distribution is valid without ties or zeros, for small n


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    method: str


@dataclass(frozen=True)
class PairedResult:
    """One paired comparison: `other - reference` on the items both have."""

    n: int  # shared items used
    delta: float
    low: float
    high: float
    p_value: float
    test: str
    interval_method: str
    effect_size: float | None  # Cohen's d_z: mean difference / SD of the differences
    discordant: tuple[int, int] | None = None  # binary only: (other right & reference wrong, the reverse)
    # rank tests only: +1 when the signed ranks favour other > reference, -1 the reverse, 0 neither. A rank test
    # judges where most items lie, the interval the mean: a few large differences can point them different ways.
    rank_direction: int | None = None


def z_value(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def t_quantile(probability: float, df: int) -> float:
    return float(special.stdtrit(df, probability))


def t_two_sided_p(t: float, df: int) -> float:
    return float(2 * special.stdtr(df, -abs(t)))


def fewest_deciding(decided: Callable[[float], bool], start: float = 1.0, limit: float = 1e12) -> float | None:
    """The fewest n (to within one, or 0.01 %) from `start` up for which `decided(n)` holds, assuming it stays true
    once true: doubling, then bisection. None past `limit`. How many calls (load.calls_to_decide) or items
    (target.items_to_decide) would decide a share that stays as it is."""
    high = float(start)
    while not decided(high):
        high *= 2
        if high > limit:
            return None
    low = high / 2
    while high - low > max(1.0, 1e-4 * high):
        middle = (low + high) / 2
        low, high = (low, middle) if decided(middle) else (middle, high)
    return high


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval for a proportion (Wilson 1927).

    Chosen over the textbook p +- z*SE because it keeps its coverage for small n and for p near 0 or 1,
    where the normal interval collapses to zero width (0 of 20 wrong is not "0 +- 0").
    """
    if n <= 0:
        return Interval(math.nan, math.nan, math.nan, "wilson")
    z = z_value(confidence)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), "wilson")


def _resample_means(values: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """Bootstrap distribution of the mean: items resampled with replacement, in memory-bounded chunks. The
    values are sorted first: the mean does not depend on the items' order, and the draws then do not either,
    so one seed gives one interval whatever order the items arrive in (text item keys are hashed per process,
    and the order of items follows their hashes)."""
    values = np.sort(values)
    rng = np.random.default_rng(seed)
    n = len(values)
    chunk = max(1, _CHUNK_DRAWS // n)
    out = np.empty(n_resamples)
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        out[start:start + size] = values[rng.integers(0, n, size=(size, n))].mean(axis=1)
    return out


def _no_interval(values: np.ndarray, unit: str) -> Interval:
    """Fewer than two values: the mean, if any, with no interval (a spread needs two values)."""
    if len(values) == 0:
        return Interval(math.nan, math.nan, math.nan, "none")
    return Interval(float(values.mean()), math.nan, math.nan, f"none (one {unit})")


def bootstrap_mean_interval(values: np.ndarray, confidence: float = 0.95, n_resamples: int = DEFAULT_RESAMPLES,
                            seed: int = DEFAULT_SEED) -> Interval:
    """Percentile bootstrap interval of a mean over independent items (Efron & Tibshirani 1993)."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n < 2:
        return _no_interval(values, "item")
    mean = float(values.mean())
    if n * n_resamples > MAX_BOOTSTRAP_DRAWS:
        half = z_value(confidence) * float(values.std(ddof=1)) / math.sqrt(n)
        return Interval(mean, mean - half, mean + half, f"normal ({n} items: too many to bootstrap)")
    alpha = 1 - confidence
    low, high = np.quantile(_resample_means(values, n_resamples, seed), [alpha / 2, 1 - alpha / 2])
    return Interval(mean, float(low), float(high), "bootstrap over items")


def _cluster_robust(values: np.ndarray, clusters: np.ndarray) -> tuple[float, float, int]:
    """Mean, cluster-robust standard error and number of clusters (Miller 2024, 'Adding Error Bars to
    Evals': the CR1 estimator for a mean). Rows of one cluster share a fitted model or a passage, so they
    count as one piece of evidence, not as many."""
    ids, inverse = np.unique(clusters, return_inverse=True)
    sums = np.bincount(inverse, weights=values, minlength=len(ids))
    counts = np.bincount(inverse, minlength=len(ids)).astype(float)
    total = counts.sum()
    mean = float(sums.sum() / total)
    g = len(ids)
    resid = sums - mean * counts
    se = math.sqrt(g / (g - 1) * float(resid @ resid)) / total if g > 1 else math.nan
    return mean, se, g


def cluster_mean_interval(values: np.ndarray, clusters: np.ndarray, confidence: float = 0.95) -> Interval:
    """Interval of a mean when rows come in independent clusters (the seeds of separate replicate runs):
    cluster-robust SE with t(G-1); not for the folds of cross-validation, which share training data (see
    corrected_resampled_interval).

    Chosen over a cluster bootstrap because its percentile interval is too narrow with few clusters: in
    400 simulated A/A comparisons the bootstrap's false-positive rate was 12% at 5 clusters and 10% at 10,
    against 4.5% and 6.5% for this interval (tests/test_stats.py keeps measuring it)."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return Interval(math.nan, math.nan, math.nan, "none")
    mean, se, g = _cluster_robust(values, np.asarray(clusters))
    if g < 2:
        return Interval(mean, math.nan, math.nan, "none (one cluster)")
    half = t_quantile(0.5 + confidence / 2, g - 1) * se
    return Interval(mean, mean - half, mean + half, f"cluster-robust t over {g} clusters")


def clip_to_unit(interval: Interval) -> Interval:
    """A proportion's interval kept within [0, 1], saying so when it had to be cut (t-based intervals of a
    mean near 0 or 1 can reach past the bounds: 0.983 [0.912, 1.055] is not a possible accuracy)."""
    low, high = max(0.0, interval.low), min(1.0, interval.high)
    if (low, high) == (interval.low, interval.high) or math.isnan(interval.low):
        return interval
    return Interval(interval.estimate, low, high, interval.method + ", clipped to [0, 1]")


def fold_means(values: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """The metric of each fold (the mean over the items it tested), in the order of the sorted fold ids."""
    _, inverse = np.unique(folds, return_inverse=True)
    return np.bincount(inverse, weights=np.asarray(values, dtype=float)) / np.bincount(inverse)


def test_train_ratio(folds: np.ndarray, repetitions: np.ndarray) -> float | None:
    """n_test / n_train of repeated k-fold cross-validation, read from the items themselves.

    One entry per tested item: its fold (one seed x fold) and its repetition (the seed). A fold's test set
    is its items; its training set is the rest of its repetition (the other folds of the same seed). Returns
    mean test size / mean training size, or None when a repetition has a single fold (a hold-out, not CV)."""
    ids, first, counts = np.unique(folds, return_index=True, return_counts=True)
    if len(ids) == 0:
        return None
    _, rep_of_fold = np.unique(np.asarray(repetitions)[first], return_inverse=True)
    train = np.bincount(rep_of_fold, weights=counts)[rep_of_fold] - counts
    if (train <= 0).any():
        return None
    return float(counts.mean() / train.mean())


def _corrected_se(fold_values: np.ndarray, ratio: float) -> float:
    """Nadeau & Bengio (2003): the variance of a mean over J cross-validation folds is not s^2/J but
    (1/J + n_test/n_train) s^2, because training sets of different folds overlap (their scores correlate)."""
    j = len(fold_values)
    return math.sqrt((1 / j + ratio) * float(np.var(fold_values, ddof=1)))


def corrected_resampled_interval(fold_values: np.ndarray, ratio: float, confidence: float = 0.95) -> Interval:
    """Interval of a mean over J cross-validation folds: mean +- t(J-1) x the Nadeau-Bengio corrected SE.

    For repeated k-fold CV (seed x fold). A cluster-robust or plain t over the folds treats them as
    independent and is too narrow (references/statistics.md section 5)."""
    x = np.asarray(fold_values, dtype=float)
    j = len(x)
    if j < 2:
        return _no_interval(x, "fold")
    mean = float(x.mean())
    half = t_quantile(0.5 + confidence / 2, j - 1) * _corrected_se(x, ratio)
    return Interval(mean, mean - half, mean + half, f"corrected resampled t over {j} folds")


def cohens_dz(mean: float, sum_sq: float, n: int) -> float | None:
    """Standardised mean difference of paired data, d_z = mean(d) / sd(d); None when sd is 0 or n < 2."""
    if n < 2:
        return None
    var = (sum_sq - n * mean * mean) / (n - 1)
    if var <= 1e-24:
        return None
    return mean / math.sqrt(var)


def effect_size_label(dz: float | None) -> str:
    """Cohen's (1988) conventional magnitudes, as a reading aid only."""
    if dz is None:
        return "n/a"
    size = abs(dz)
    return "negligible" if size < 0.2 else "small" if size < 0.5 else "medium" if size < 0.8 else "large"


def mcnemar_exact_p(b: int, c: int) -> float:
    """Exact McNemar test (McNemar 1947): under no difference, each discordant item is a fair coin flip.

    b = items only `other` got right, c = items only the reference got right. The exact binomial test on
    b of b+c is valid at any count; the chi-square version needs b+c >= 25.
    """
    if b + c == 0:
        return 1.0
    # Two-sided exact binomial at p = 1/2: the distribution is symmetric, so twice the smaller tail.
    return float(min(1.0, 2 * special.bdtr(min(b, c), b + c, 0.5)))


def newcombe_paired_interval(both: int, b: int, c: int, neither: int, confidence: float = 0.95
                             ) -> tuple[float, float, float]:
    """Interval for the difference of two paired proportions, (b - c)/n: Newcombe's square-and-add (1998,
    method 10), with the correlation corrected for continuity as in Fagerland, Lydersen & Laake, "Statistical
    Analysis of Contingency Tables" (2017), ch. 8.

    It combines the Wilson intervals of both proportions with their correlation, so it stays inside
    [-1, 1] and keeps its coverage when b and c are small, unlike the Wald interval. The correction matters
    when the two agree on (nearly) every item: the raw correlation is then 1 and the interval shrinks to a
    point (0 of 4 discordant items gave [-0.000000004, 0.000000004]); corrected, it keeps the width the
    shared items leave ([-0.35, 0.35]). tests/test_stats.py checks the book's example and the exact coverage.
    """
    n = both + b + c + neither
    p1, p2 = (both + b) / n, (both + c) / n  # other's and the reference's proportion correct
    w1 = wilson_interval(both + b, n, confidence)
    w2 = wilson_interval(both + c, n, confidence)
    denom = (both + b) * (c + neither) * (both + c) * (b + neither)
    cross = both * neither - b * c
    # continuity: a positive association counts only beyond n/2; a negative one as it is
    corrected = cross - n / 2 if cross > n / 2 else (0.0 if cross >= 0 else cross)
    phi = corrected / math.sqrt(denom) if denom > 0 else 0.0
    d1, u1 = p1 - w1.low, w1.high - p1
    d2, u2 = p2 - w2.low, w2.high - p2
    delta = p1 - p2
    low = delta - math.sqrt(max(0.0, d1 * d1 - 2 * phi * d1 * u2 + u2 * u2))
    high = delta + math.sqrt(max(0.0, u1 * u1 - 2 * phi * u1 * d2 + d2 * d2))
    return delta, max(-1.0, low), min(1.0, high)


def paired_binary(other: np.ndarray, reference: np.ndarray, confidence: float = 0.95) -> PairedResult:
    """McNemar's exact test and Newcombe's interval for 0/1 outcomes on the same items."""
    other = np.asarray(other, dtype=bool)
    reference = np.asarray(reference, dtype=bool)
    n = len(other)
    b = int(np.sum(other & ~reference))
    c = int(np.sum(~other & reference))
    both = int(np.sum(other & reference))
    if n == 0:
        return PairedResult(0, math.nan, math.nan, math.nan, math.nan, "mcnemar-exact", "none", None, (0, 0))
    delta, low, high = newcombe_paired_interval(both, b, c, n - both - b - c, confidence)
    # d in {-1, 0, 1}: sum of squares = number of discordant items
    return PairedResult(n, delta, low, high, mcnemar_exact_p(b, c), "mcnemar-exact", "newcombe",
                        cohens_dz(delta, b + c, n), (b, c))


def rank_ready(diffs: np.ndarray) -> np.ndarray:
    """Differences as a rank test should see them: float noise removed (12 significant digits of the largest
    |d|). A mean over 3 samples gives 2/3 - 1/3 = 0.33333333333333337 but 1/3 = 0.3333333333333333: without
    this, equal differences rank apart and a zero difference keeps a sign."""
    d = np.asarray(diffs, dtype=float)
    scale = float(np.max(np.abs(d))) if len(d) else 0.0
    if not scale or not math.isfinite(scale):
        return d
    return np.round(d / scale, 12) * scale


def wilcoxon_p(diffs: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value (Wilcoxon 1945) on non-zero differences.

    Zero differences carry no sign and are dropped (Wilcoxon's own convention); the exact null distribution
    is used for small n without ties, the normal approximation otherwise.
    """
    d = rank_ready(diffs)
    d = d[d != 0]
    if len(d) == 0:
        return 1.0
    from scipy import stats

    exact = len(d) <= EXACT_WILCOXON_MAX_N and len(np.unique(np.abs(d))) == len(d)
    return float(stats.wilcoxon(d, method="exact" if exact else "approx").pvalue)


def paired_continuous(other: np.ndarray, reference: np.ndarray, confidence: float = 0.95,
                      n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> PairedResult:
    """Per-item scores on the same items: Wilcoxon signed-rank p-value, paired-bootstrap interval of the mean
    difference (resampling items jointly for both configurations, Koehn 2004)."""
    d = np.asarray(other, dtype=float) - np.asarray(reference, dtype=float)
    n = len(d)
    if n == 0:
        return PairedResult(0, math.nan, math.nan, math.nan, math.nan, "wilcoxon", "none", None)
    interval = bootstrap_mean_interval(d, confidence, n_resamples, seed)
    return PairedResult(n, interval.estimate, interval.low, interval.high, wilcoxon_p(d), "wilcoxon",
                        "paired " + interval.method, cohens_dz(float(d.mean()), float(d @ d), n),
                        rank_direction=signed_rank_direction(d))


def signed_rank_direction(diffs: np.ndarray) -> int:
    """The side the Wilcoxon statistic leans to: the sign of (sum of the ranks of |d| where d > 0) minus (the
    same where d < 0), zeros dropped and ties given their average rank, as the test itself ranks them."""
    from scipy.stats import rankdata

    d = rank_ready(diffs)
    d = d[d != 0]
    if len(d) == 0:
        return 0
    ranks = rankdata(np.abs(d))
    return int(np.sign(ranks[d > 0].sum() - ranks[d < 0].sum()))


def paired_clustered(other: np.ndarray, reference: np.ndarray, clusters: np.ndarray,
                     confidence: float = 0.95) -> PairedResult:
    """Paired differences grouped in independent clusters (seeds of separate replicate runs, not CV folds):
    a cluster-robust t-test on the mean difference, with G-1 degrees of freedom; its interval and p-value
    always agree (see cluster_mean_interval)."""
    d = np.asarray(other, dtype=float) - np.asarray(reference, dtype=float)
    n = len(d)
    if n == 0:
        return PairedResult(0, math.nan, math.nan, math.nan, math.nan, "cluster-robust-t", "none", None)
    dz = cohens_dz(float(d.mean()), float(d @ d), n)
    interval = cluster_mean_interval(d, clusters, confidence)
    mean, se, g = _cluster_robust(d, np.asarray(clusters))
    p = _t_test_p(mean, se, g)
    return PairedResult(n, mean, interval.low, interval.high, p, "cluster-robust-t", interval.method, dz)


def _t_test_p(mean: float, se: float, units: int) -> float:
    """Two-sided p of mean / se on units - 1 degrees of freedom; with no spread at all, 1 for a zero mean and
    0 otherwise; NaN with fewer than two units (nothing to test)."""
    if units < 2:
        return math.nan
    if se > 0:
        return t_two_sided_p(mean / se, units - 1)
    return 1.0 if mean == 0 else 0.0


def paired_corrected_resampled(other: np.ndarray, reference: np.ndarray, folds: np.ndarray, ratio: float,
                               confidence: float = 0.95) -> PairedResult:
    """Repeated k-fold CV (seed x fold): the Nadeau-Bengio corrected resampled t-test (Nadeau & Bengio 2003;
    Bouckaert & Frank 2004) on the per-fold differences of the metric, with J-1 degrees of freedom; its
    interval uses the same corrected SE, so interval and p-value agree. `ratio` is n_test / n_train.

    The folds of one seed share most of their training data, so a test that treats folds (or seed x fold
    clusters) as independent is anti-conservative; this one is the correction for that."""
    d = np.asarray(other, dtype=float) - np.asarray(reference, dtype=float)
    n = len(d)
    if n == 0:
        return PairedResult(0, math.nan, math.nan, math.nan, math.nan, "corrected-resampled-t", "none", None)
    dz = cohens_dz(float(d.mean()), float(d @ d), n)  # per item, as for the other tests
    per_fold = fold_means(d, folds)
    interval = corrected_resampled_interval(per_fold, ratio, confidence)
    j, mean = len(per_fold), interval.estimate
    p = _t_test_p(mean, _corrected_se(per_fold, ratio) if j > 1 else math.nan, j)
    return PairedResult(n, mean, interval.low, interval.high, p, "corrected-resampled-t", interval.method, dz)


def adjust_p_values(p_values: list[float], method: str = "holm") -> list[float]:
    """Multiplicity adjustment: 'holm' (family-wise error, Holm 1979), 'bh' (false discovery rate,
    Benjamini & Hochberg 1995) or 'none'. NaN p-values (nothing to test) stay NaN and are not counted."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(len(p), math.nan)
    ok = ~np.isnan(p)
    if not ok.any() or method == "none":
        return [float(x) for x in np.where(ok, p, math.nan)]
    valid = p[ok]
    if method == "holm":
        m = len(valid)
        order = np.argsort(valid, kind="stable")
        scaled = np.minimum(1.0, valid[order] * (m - np.arange(m)))
        adjusted = np.empty(m)
        adjusted[order] = np.maximum.accumulate(scaled)
    elif method == "bh":
        m = len(valid)
        order = np.argsort(valid, kind="stable")
        scaled = valid[order] * m / np.arange(1, m + 1)
        adjusted = np.empty(m)
        adjusted[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    else:
        raise ValueError(f"unknown adjustment {method!r}")
    out[ok] = adjusted
    return [float(x) for x in out]


def percentile_intervals(values: np.ndarray, units: np.ndarray | None, qs: tuple[float, ...],
                         confidence: float = 0.95) -> dict[float, tuple[float | None, float | None]]:
    """For each q, a distribution-free interval for the q-th percentile from order statistics (Binomial(n, q)
    ranks; Hahn & Meeker 1991). Rows of one input (its samples, prompts, seeds; `units` names the input of each
    row, None when every row is its own) may be slow together, so n is the effective number of rows:
    n / (1 + (m - 1) rho), Kish's design effect, with rho the intra-input correlation of "slower than the
    percentile" (one-way ANOVA estimator) and m the rows per input; the ranks for that n are scaled to the rows.
    Independent rows give the exact interval. An end the data cannot bound is None. One O(n) partition for
    all q (a full sort per q cost 1.4 s at 10 M rows)."""
    keep = ~np.isnan(values)
    kept, n = values[keep], int(keep.sum())
    if n < 2:
        return {q: (None, None) for q in qs}
    at = np.unique(units[keep], return_inverse=True)[1] if units is not None else None
    alpha, ranks = 1 - confidence, {}
    for q in qs:
        deff = 1.0 if at is None else design_effect(kept > np.percentile(kept, q), at)
        scale = deff  # n rows / n_eff rows
        m = max(2, int(round(n / deff)))
        low = binom_ppf(alpha / 2, m, q / 100) - 1
        high = binom_ppf(1 - alpha / 2, m, q / 100)
        low_row = int(math.floor(low * scale)) if low >= 0 else None
        high_row = int(math.ceil((high + 1) * scale)) - 1 if high < m else None
        ranks[q] = (low_row, high_row if high_row is not None and high_row < n else None)
    wanted = sorted({r for pair in ranks.values() for r in pair if r is not None})
    part = np.partition(kept, wanted) if wanted else kept
    return {q: tuple(None if r is None else float(part[r]) for r in pair) for q, pair in ranks.items()}


def per_unit(values: np.ndarray, units: np.ndarray, statistic: str) -> np.ndarray:
    """One value per unit (an input's repeated timings): its median, min or mean, NaN left out; units with no
    value drop out. Vectorised (one sort), for millions of rows."""
    keep = ~np.isnan(values)
    values, units = values[keep], units[keep]
    if len(values) == 0:
        return values
    order = np.lexsort((values, units))
    values, units = values[order], units[order]
    starts = np.flatnonzero(np.r_[True, units[1:] != units[:-1]])
    counts = np.diff(np.r_[starts, len(values)])
    if statistic == "min":
        return values[starts]
    if statistic == "mean":
        return np.add.reduceat(values, starts) / counts
    return (values[starts + (counts - 1) // 2] + values[starts + counts // 2]) / 2  # the median


def binom_ppf(y: float, n: int, p: float) -> int:
    """The smallest k with P(Binomial(n, p) <= k) >= y, as scipy.stats.binom.ppf gives it, from
    scipy.special (importing scipy.stats costs ~0.4 s, which every export would pay)."""
    k = math.ceil(special.bdtrik(y, n, p))
    below = max(k - 1, 0)
    return int(below if special.bdtr(below, n, p) >= y * (1 - 1e-10) else k)  # float noise at an exact tie


def design_effect(flags: np.ndarray, at: np.ndarray) -> float:
    """1 + (m0 - 1) rho for a 0/1 outcome in clusters (`at`: each row's cluster, 0..k-1; Kish 1965): rho by
    one-way ANOVA, clipped to [0, 1]; 1 when every cluster has one row."""
    sizes = np.bincount(at)
    k, n = len(sizes), len(flags)
    if k >= n or k < 2:
        return 1.0
    y = flags.astype(float)
    means = np.bincount(at, weights=y) / sizes
    between = float(np.sum(sizes * (means - y.mean()) ** 2)) / (k - 1)
    within = float(np.sum((y - means[at]) ** 2)) / (n - k)
    m0 = (n - float(np.sum(sizes.astype(float) ** 2)) / n) / (k - 1)
    denominator = between + (m0 - 1) * within
    rho = min(1.0, max(0.0, (between - within) / denominator)) if denominator > 0 else 0.0
    return 1 + (m0 - 1) * rho


def percentiles(values: np.ndarray, qs: tuple[float, ...] = (50, 95, 99)) -> dict[str, float]:
    """Latency percentiles by linear interpolation between order statistics (Hyndman & Fan type 7, numpy's
    default); averaging percentiles across runs is wrong, so callers pass every raw value."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return {}
    return {f"p{q:g}": float(v) for q, v in zip(qs, np.percentile(values, qs), strict=True)}

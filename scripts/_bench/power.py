"""What a paired comparison could have detected, and how much data a difference needs.

"No detectable difference" means little without the size of difference the benchmark could have seen. Beside
each paired comparison export_summary reports the *minimum detectable difference* (MDE): the true difference
`other - reference` that the comparison's own test would call significant with probability `power` (80% by
default) at the `alpha` the verdict uses. The caller chooses alpha (for a Holm family of m comparisons it passes
alpha/m and labels the MDE conservative); this module only takes it.

Every MDE is computed from the OBSERVED data of that comparison (its discordance, its SD of differences, its
standard error), so it is itself an estimate: with few clusters or few discordant items it is noisy, and
`mde_from_se(..., calibrated=True)` says how to allow for that. The planning functions (`*_needed`) answer the
inverse question from a pilot: how many items, clusters or cross-validation repetitions a difference needs.

Pure functions, no I/O; numpy and scipy.special only (as stats.py). Conventions as stats.py: differences are
`other - reference` in the metric's units; tests are two-sided. References:
- Connor (1987) Biometrics 43:207-211, sample size for McNemar's test (unconditional, normal approximation);
- Bloom (1995) Evaluation Review 19:547-556, MDE = (t_{1-alpha/2, df} + t_{power, df}) x SE;
- Noether (1987) JASA 82:645-647 and Lehmann (1975), the Wilcoxon signed-rank test's sample size and its
  asymptotic relative efficiency (ARE) against the t-test: 3/pi for normal data, never below 108/125 = 0.864
  (Hodges & Lehmann 1956), above 1 for heavy tails;
- Nadeau & Bengio (2003) Machine Learning 52:239-281, the corrected resampled t of repeated cross-validation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

import numpy as np
from scipy import special

from _bench import stats as _stats

DEFAULT_POWER = 0.8
# Wilcoxon signed-rank vs the t-test for normal differences (Lehmann 1975). See mde_continuous for the choice.
WILCOXON_ARE = 3 / math.pi
MAX_PLANNED = 10_000_000  # planning searches stop here: beyond it the answer is "impractical", not a number


@dataclass(frozen=True)
class Mde:
    """The minimum detectable difference of one comparison, in the metric's units (None: not estimable)."""

    delta: float | None
    alpha: float
    power: float
    method: str  # how it was computed, e.g. "connor (1987) from 34 discordant of 569 items"
    note: str = ""  # why it is None, or what to keep in mind when reading it


@dataclass(frozen=True)
class Needed:
    """A planning answer: how many units (items, clusters, repetitions) a difference needs (None: unreachable)."""

    count: int | None
    unit: str
    explanation: str  # one line
    # where more of `unit` cannot reach it (repeated CV: folds share training data), more data at the same design:
    data_factor: float | None = None  # this many times the data
    inputs: int | None = None  # that many inputs (when the rows say how many there are now)


def _z(probability: float) -> float:
    return NormalDist().inv_cdf(probability)


def _quantile(probability: float, df: float | None) -> float:
    """Normal quantile when df is None (or infinite), Student t otherwise."""
    if df is None or math.isinf(df):
        return _z(probability)
    return _stats.t_quantile(probability, df)


def _check(alpha: float, power: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not 0.5 <= power < 1:
        raise ValueError(f"power must be in [0.5, 1), got {power}")


def multiplier(alpha: float, power: float = DEFAULT_POWER, df: float | None = None) -> float:
    """Bloom's (1995) MDE multiplier t_{1-alpha/2, df} + t_{power, df} (normal quantiles when df is None):
    a two-sided test at alpha detects a true difference of multiplier x SE with probability about `power`
    (the small chance of rejecting on the wrong side is ignored)."""
    _check(alpha, power)
    return _quantile(1 - alpha / 2, df) + _quantile(power, df)


# --- the four paired tests ---------------------------------------------------------------------------------

def mde_paired_binary(n: int, discordant: int, alpha: float, power: float = DEFAULT_POWER) -> float | None:
    """MDE of McNemar's test for 0/1 outcomes: the smallest (b - c)/n detected with probability `power`.

    Connor (1987): n = [z_{1-alpha/2} sqrt(psi) + z_power sqrt(psi - delta^2)]^2 / delta^2, with psi the
    discordant proportion (here the observed d/n) held fixed and delta = p_b - p_c, solved for delta in
    (0, psi]. Squaring gives a quadratic in delta whose relevant root is closed-form:

        delta = [z_a sqrt(n psi) + z_b sqrt(psi (n + z_b^2 - z_a^2))] / (n + z_b^2).

    Connor's formula is unconditional (the number of discordant items is random too), which matches how a
    benchmark is drawn. It is a normal approximation to the exact test stats.py runs; the exact test is
    discrete, so its power at this delta jumps with the critical count: 76-79% at alpha 0.05 over the
    designs tests/test_power.py enumerates, up to 87% with 15 discordant items at alpha 0.005. The observed
    discordance is itself an estimate: with under ~25 discordant items the MDE is rough (binary_mde notes it).

    Returns None when the MDE is not estimable:
    - d = 0: the two configurations agreed on every item. The MDE grows with the discordance, and the data
      say only that it is small, not how small; a floor (e.g. the rule-of-three bound psi <= 3/n) would put
      a number on an assumption rather than on the data. The Newcombe interval of the comparison already
      bounds how large a difference could hide, which is the honest statement here.
    - even delta = psi (every discordant item favouring one side) is not detectable with this power: too few
      discordant items for any difference to be seen.
    """
    _check(alpha, power)
    if n <= 0 or discordant <= 0 or discordant > n:
        return None
    psi = discordant / n
    za, zb = _z(1 - alpha / 2), _z(power)
    inside = n + zb * zb - za * za
    if inside < 0:
        return None
    delta = (za * math.sqrt(n * psi) + zb * math.sqrt(psi * inside)) / (n + zb * zb)
    delta = min(delta, psi) if delta <= psi * (1 + 1e-12) else math.nan
    # The squared equation has a second root; keep delta only if it solves Connor's equation itself.
    if not math.isfinite(delta) or abs(za * math.sqrt(psi) + zb * math.sqrt(psi - delta * delta)
                                       - delta * math.sqrt(n)) > 1e-9 * math.sqrt(n):
        return None
    return delta


def mde_continuous(sd: float, n: int, alpha: float, power: float = DEFAULT_POWER,
                   are: float = WILCOXON_ARE) -> float | None:
    """MDE of the Wilcoxon signed-rank test on n paired differences with standard deviation sd:

        delta = (t_{1-alpha/2, n-1} + t_{power, n-1}) x sd / sqrt(n) / sqrt(are).

    The first factor is what a paired t-test needs (t quantiles, not z, so small n is not flattered). The
    Wilcoxon test's efficiency relative to the t-test (ARE) depends on the distribution of the differences:
    3/pi = 0.955 for normal ones, never below 0.864 for any distribution, 1.5 for Laplace and unbounded for
    heavier tails. Dividing by sqrt(3/pi) (the default) makes the MDE right for normal differences, at most
    5% too small for the worst distribution there is (sqrt(0.955/0.864)), and too large for heavy-tailed
    differences, where Wilcoxon does better than the t-test. Benchmarks' score differences are often
    heavy-tailed, so the error falls on the side of claiming less sensitivity, never much more. Pass are=1
    for the t-test's MDE. Not covered by the ARE argument: differences with many exact zeros or ties
    (discrete judge scores), which Wilcoxon drops or ties; there the MDE is the t-test's, approximately. None when n < 2 or sd is not a positive number (no spread to scale by)."""
    _check(alpha, power)
    if n < 2 or not sd > 0 or not are > 0:
        return None
    return multiplier(alpha, power, n - 1) * sd / math.sqrt(n) / math.sqrt(are)


@lru_cache(maxsize=256)
def calibrated_multiplier(alpha: float, power: float, df: float, grid: int = 400) -> float:
    """The multiplier c such that a true difference of c x SE-hat, with SE-hat estimated on df degrees of
    freedom, is detected with probability `power` on average over the noise of SE-hat (normal data).

    Bloom's plug-in multiplier treats the estimated SE as exact. With few clusters it is not: SE-hat =
    SE x u with u = sqrt(chi2_df / df), and because power is concave around 80%, the average power at the
    plug-in MDE falls short (about 68% at 5 clusters, 74% at 10, 77% at 20 for alpha 0.05).

    A benchmark's t statistic is (delta/SE + Z) / w, w another independent sqrt(chi2_df / df), so at
    delta = c x SE x u it rejects with probability Phi(c u - t w) + Phi(-c u - t w), t = t_{1-alpha/2, df}.
    This averages that over u and w by a midpoint rule on their quantiles (grid x grid points; exact to
    about 1e-3 in power) and bisects on c. scipy's noncentral t (nctdtr) is avoided: it returns NaN for
    noncentralities above ~7.5 at one to three df."""
    _check(alpha, power)
    t_crit = _quantile(1 - alpha / 2, df)
    q = special.chdtri(df, 1 - (np.arange(grid) + 0.5) / grid)  # ascending quantiles of chi2_df
    u = np.sqrt(q / df)[:, None]
    tw = t_crit * np.sqrt(q / df)[None, :]

    def average_power(c: float) -> float:
        return float((special.ndtr(c * u - tw) + special.ndtr(-c * u - tw)).mean())

    low = high = multiplier(alpha, power, df)
    while average_power(low) > power:  # the plug-in already suffices (large df, or a grid effect)
        low /= 1.1
    while average_power(high) < power:
        high *= 1.5
    for _ in range(40):
        mid = (low + high) / 2
        low, high = (mid, high) if average_power(mid) < power else (low, mid)
    return high


def mde_from_se(se: float, df: float | None, alpha: float, power: float = DEFAULT_POWER,
                calibrated: bool = False) -> float | None:
    """MDE of a t-test (or a z-test when df is None) from its standard error: Bloom (1995),

        delta = (t_{1-alpha/2, df} + t_{power, df}) x se.

    For the cluster-robust t over G seeds use df = G - 1 and the se the test computes; for the corrected
    resampled t over J folds, df = J - 1 and the Nadeau-Bengio corrected se. With calibrated=True the
    multiplier also allows for se being estimated (see calibrated_multiplier): the MDE is larger with few
    degrees of freedom (x1.26 at df 4, x1.10 at df 9) and its power averages `power` over benchmarks rather
    than falling short; with df None the SE is taken as known and there is nothing to calibrate. None when se
    is not a positive finite number or df < 1."""
    _check(alpha, power)
    if not (se > 0 and math.isfinite(se)) or (df is not None and df < 1):
        return None
    if calibrated and df is not None:
        return calibrated_multiplier(alpha, power, float(df)) * se
    return multiplier(alpha, power, df) * se


# --- the same, from a comparison's own data (what export_summary calls) -----------------------------------

def binary_mde(n: int, b: int, c: int, alpha: float, power: float = DEFAULT_POWER) -> Mde:
    """The MDE of a McNemar comparison from its counts (PairedResult.n and .discordant), with a note."""
    d = b + c
    method = f"connor (1987) from {d} discordant of {n} items"
    delta = mde_paired_binary(n, d, alpha, power)
    if delta is not None:
        note = "" if d >= 25 else f"only {d} discordant items: the discordance rate, and so this MDE, is rough"
        return Mde(delta, alpha, power, method, note)
    if n == 0:
        note = "no shared items"
    elif d == 0:
        note = ("the two configurations agree on every item: no discordance to estimate what is detectable "
                "from (the interval bounds how large a difference could hide)")
    elif 2 * 0.5**d > alpha:  # McNemar's exact p when every discordant item goes one way
        note = (f"{d} discordant item{'s are' if d > 1 else ' is'} too few to detect any difference: all of them "
                f"one way still has p above {alpha:.3g}")
    else:
        # Trial A read "too few to detect any difference" beside a pair found worse: a one-sided split of a few
        # discordant items is detected; what they cannot give is power against any true difference.
        # Trial G re-read the first wording three times: say what is lacking, then why a verdict still stands.
        note = (f"{d} discordant items give under {power:.0%} power against any true difference, so no detectable "
                "difference can be named; a verdict of better or worse beside it still stands (a lopsided enough "
                "split of them is significant)")
    return Mde(None, alpha, power, method, note)


def continuous_mde(diffs: np.ndarray, alpha: float, power: float = DEFAULT_POWER,
                   are: float = WILCOXON_ARE) -> Mde:
    """The MDE of a Wilcoxon comparison from its per-item differences (other - reference)."""
    d = np.asarray(diffs, dtype=float)
    n = len(d)
    sd = float(d.std(ddof=1)) if n >= 2 else math.nan
    delta = mde_continuous(sd, n, alpha, power, are)
    method = f"t-based, SD of {n} differences, / sqrt(ARE {are:.3f})"
    note = "" if delta is not None else ("fewer than two items" if n < 2 else "the differences have no spread")
    return Mde(delta, alpha, power, method, note)


def clustered_mde(diffs: np.ndarray, clusters: np.ndarray, alpha: float, power: float = DEFAULT_POWER,
                  calibrated: bool = False) -> Mde:
    """The MDE of a cluster-robust t comparison: the test's own CR1 SE over G clusters, G - 1 df."""
    d = np.asarray(diffs, dtype=float)
    if len(d) == 0:
        return Mde(None, alpha, power, "cluster-robust t", "no shared items")
    _, se, g = _stats._cluster_robust(d, np.asarray(clusters))
    delta = mde_from_se(se, g - 1, alpha, power, calibrated) if g > 1 else None
    method = f"{'calibrated ' if calibrated else ''}bloom (1995), cluster-robust SE over {g} clusters"
    if delta is None:
        note = "one cluster: no spread between clusters to scale by" if g < 2 else "no spread between clusters"
    else:
        note = _few_units_note(g, "clusters", power, calibrated)
    return Mde(delta, alpha, power, method, note)


FEW_UNITS = 10  # at or below this many clusters or folds, the plug-in MDE's power falls short by 6+ points


def _few_units_note(units: int, label: str, power: float, calibrated: bool) -> str:
    if calibrated or units > FEW_UNITS:
        return ""
    return (f"SE from only {units} {label}: a true difference this size is detected less often than {power:.0%} "
            "(calibrated=True allows for it)")


def corrected_resampled_mde(diffs: np.ndarray, folds: np.ndarray, ratio: float, alpha: float,
                            power: float = DEFAULT_POWER, calibrated: bool = False) -> Mde:
    """The MDE of a corrected resampled t comparison: the Nadeau-Bengio SE over J fold means, J - 1 df."""
    per_fold = _stats.fold_means(np.asarray(diffs, dtype=float), np.asarray(folds)) if len(diffs) else []
    j = len(per_fold)
    method = f"{'calibrated ' if calibrated else ''}bloom (1995), Nadeau-Bengio SE over {j} folds"
    if j < 2:
        return Mde(None, alpha, power, method, "fewer than two folds")
    delta = mde_from_se(_stats._corrected_se(np.asarray(per_fold), ratio), j - 1, alpha, power, calibrated)
    note = _few_units_note(j, "folds", power, calibrated) if delta is not None else "the fold differences have no spread"
    return Mde(delta, alpha, power, method, note)


# --- planning from a pilot (--items-needed DELTA) -----------------------------------------------------------

def _smallest(k_min: int, ok) -> int | None:
    """The smallest integer k >= k_min with ok(k), for ok monotone (False then True); None past MAX_PLANNED."""
    if ok(k_min):
        return k_min
    low, high = k_min, k_min
    while not ok(high):
        if high >= MAX_PLANNED:
            return None
        low, high = high, min(MAX_PLANNED, high * 2)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if ok(mid) else (mid, high)
    return high


def items_needed_binary(delta: float, discordance: float, alpha: float, power: float = DEFAULT_POWER) -> Needed:
    """Items a McNemar comparison needs to detect an accuracy difference `delta` (a fraction, e.g. 0.02),
    given the pilot's discordance rate (share of items on which the two configurations disagree): Connor
    (1987), n = ceil([z_{1-alpha/2} sqrt(psi) + z_power sqrt(psi - delta^2)]^2 / delta^2)."""
    _check(alpha, power)
    delta = abs(delta)
    if not discordance > 0:
        return Needed(None, "items", "the pilot's configurations never disagree: its discordance rate is 0, "
                      "so it cannot say how many items a difference needs")
    if delta == 0:
        return Needed(None, "items", "a difference of 0 cannot be detected by any number of items")
    if delta > discordance:
        return Needed(None, "items", f"a difference of {delta:g} needs at least that share of items to be "
                      f"discordant; the pilot's configurations disagree on only {discordance:.3g}")
    za, zb = _z(1 - alpha / 2), _z(power)
    n = (za * math.sqrt(discordance) + zb * math.sqrt(discordance - delta * delta)) ** 2 / delta ** 2
    count = math.ceil(n - 1e-9)
    return Needed(count, "items", f"{count} items detect a difference of {delta:g} in a 0/1 metric with "
                  f"{power:.0%} power at alpha {alpha:g}, if {discordance:.1%} of items stay discordant (Connor 1987)")


def items_needed_continuous(delta: float, sd: float, alpha: float, power: float = DEFAULT_POWER,
                            are: float = WILCOXON_ARE) -> Needed:
    """Items a Wilcoxon comparison needs to detect a mean difference `delta`, given the pilot's SD of the
    per-item differences: the smallest n with mde_continuous(sd, n) <= delta."""
    _check(alpha, power)
    delta = abs(delta)
    if not sd > 0 or delta == 0:
        return Needed(None, "items", "needs a positive difference and a pilot whose differences vary")
    count = _smallest(2, lambda n: mde_continuous(sd, n, alpha, power, are) <= delta)
    if count is None:
        return Needed(None, "items", f"more than {MAX_PLANNED:,} items: impractical")
    return Needed(count, "items", f"{count} items detect a mean difference of {delta:g} with {power:.0%} power "
                  f"at alpha {alpha:g}, if the SD of the differences stays {sd:.3g}")


def clusters_needed(delta: float, se: float, clusters: int, alpha: float, power: float = DEFAULT_POWER) -> Needed:
    """Independent clusters (replicate seeds) a cluster-robust t comparison needs to detect `delta`, given
    the pilot's cluster-robust SE over `clusters` clusters of the same size: the SE scales as 1/sqrt(G)."""
    _check(alpha, power)
    delta = abs(delta)
    if clusters < 2 or not se > 0 or delta == 0:
        return Needed(None, "clusters", "needs a positive difference and a pilot with two or more clusters")
    spread = se * math.sqrt(clusters)
    count = _smallest(2, lambda g: multiplier(alpha, power, g - 1) * spread / math.sqrt(g) <= delta)
    if count is None:
        return Needed(None, "clusters", f"more than {MAX_PLANNED:,} clusters: impractical")
    return Needed(count, "clusters", f"{count} clusters (seeds) detect a difference of {delta:g} with "
                  f"{power:.0%} power at alpha {alpha:g}, if each cluster is as noisy as in the pilot")


def repetitions_needed(delta: float, fold_sd: float, ratio: float, alpha: float, power: float = DEFAULT_POWER,
                       folds_per_repetition: int | None = None) -> Needed:
    """Cross-validation folds (J = folds x seeds) a corrected resampled t comparison needs to detect `delta`,
    given the pilot's SD of the per-fold differences and its n_test/n_train ratio r.

    The corrected SE is s sqrt(1/J + r) (Nadeau & Bengio 2003): more repetitions only remove the 1/J part.
    No number of repetitions goes below the limit z-multiplier x s sqrt(r); a smaller delta needs more data
    in each fold (which lowers s), not more repetitions. With folds_per_repetition = k, the count is rounded
    up to whole repetitions (seeds) of k folds."""
    _check(alpha, power)
    delta = abs(delta)
    if not fold_sd > 0 or not ratio >= 0 or delta == 0:
        return Needed(None, "folds", "needs a positive difference and a pilot whose fold differences vary")
    floor = multiplier(alpha, power) * fold_sd * math.sqrt(ratio)
    if delta <= floor:
        return Needed(None, "folds", f"unreachable by more repetitions: even infinitely many leave an MDE of "
                      f"{floor:.3g} (the folds share training data); more data per fold is needed")
    k = folds_per_repetition or 1

    def mde(j: int) -> float:
        return multiplier(alpha, power, j - 1) * fold_sd * math.sqrt(1 / j + ratio)

    count = _smallest(1 if k >= 2 else 2, lambda reps: mde(reps * k) <= delta)
    if count is None:
        return Needed(None, "folds", f"more than {MAX_PLANNED:,} repetitions: impractical")
    j = count * k
    seeds = f" ({count} seeds x {k} folds)" if folds_per_repetition else ""
    return Needed(j, "folds", f"{j} folds{seeds} detect a difference of {delta:g} with {power:.0%} power at "
                  f"alpha {alpha:g}; no number of repetitions gets below {floor:.3g}")

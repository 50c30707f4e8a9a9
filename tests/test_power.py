"""scripts/_bench/power.py: minimum detectable differences and sample sizes, against hand computations,
published calculator values, and simulations that run the project's real tests (stats.py) at the MDE.

The simulation tests draw a pilot benchmark, compute the MDE the report would print from it, then draw a
benchmark whose TRUE difference is that MDE and run the real test: the share with p < alpha and the right sign
is the power actually achieved at the reported MDE (target 80%; accepted 70-90%). Seeds are fixed, so the
results are deterministic; each prints what it measured (pytest -s).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from _bench import power
from _bench import stats as _stats
from scipy import optimize, stats

Z_A, Z_B = stats.norm.ppf(0.975), stats.norm.ppf(0.8)  # 1.959964, 0.841621


def connor_n(delta: float, psi: float, alpha: float = 0.05, pw: float = 0.8) -> float:
    """Connor (1987) as published, written out independently of power.py."""
    za, zb = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(pw)
    return (za * math.sqrt(psi) + zb * math.sqrt(psi - delta**2)) ** 2 / delta**2


# --- formulas ---------------------------------------------------------------------------------------------

def test_multiplier_is_the_sum_of_two_quantiles():
    assert power.multiplier(0.05) == pytest.approx(2.801585, abs=1e-6)
    assert power.multiplier(0.05, 0.8, 4) == pytest.approx(stats.t.ppf(0.975, 4) + stats.t.ppf(0.8, 4))
    assert power.multiplier(0.05, 0.8, 4) == pytest.approx(2.776445 + 0.940965, abs=1e-6)
    assert power.multiplier(0.01, 0.9) == pytest.approx(2.575829 + 1.281552, abs=1e-6)


@pytest.mark.parametrize(("delta", "psi", "n"), [
    (0.4, 0.5, 23),     # p10 = 0.05, p01 = 0.45: Connor (1987) p. 209 as computed by powerandsamplesize.com
    (0.15, 0.45, 155),  # p10 = 0.30, p01 = 0.15: clinicaltrials-tools McNemar calculator (Connor 1987)
])
def test_items_needed_binary_reproduces_published_mcnemar_sample_sizes(delta, psi, n):
    got = power.items_needed_binary(delta, psi, 0.05)
    assert got.count == n and got.unit == "items"
    assert got.count == math.ceil(connor_n(delta, psi))


def test_mde_paired_binary_solves_connors_equation_for_delta():
    for n in (50, 100, 569, 5000):
        for d in (8, 20, 57, 200):
            if d > n:
                continue
            psi = d / n
            got = power.mde_paired_binary(n, d, 0.05)

            def f(delta, psi=psi, n=n):  # Connor's equation, unsquared, as a root-finding problem
                return Z_A * math.sqrt(psi) + Z_B * math.sqrt(psi - delta**2) - delta * math.sqrt(n)

            if f(psi) > 0:  # even every discordant item on one side is not enough
                assert got is None
                continue
            assert got == pytest.approx(optimize.brentq(f, 1e-9, psi), rel=1e-9)
            assert connor_n(got, psi) == pytest.approx(n, rel=1e-9)


def test_mde_paired_binary_hand_computed_case_and_its_monotonicity():
    # n = 569 items, 57 discordant (psi = 0.1): solve the quadratic by hand
    n, psi = 569, 57 / 569
    a = Z_A * math.sqrt(psi)
    delta = (a * math.sqrt(n) + Z_B * math.sqrt(psi * (n + Z_B**2 - Z_A**2))) / (n + Z_B**2)
    assert power.mde_paired_binary(569, 57, 0.05) == pytest.approx(delta, rel=1e-12)
    assert 0.036 < delta < 0.038  # about 3.7 accuracy points
    assert power.mde_paired_binary(2 * 569, 114, 0.05) < delta  # more items: smaller MDE
    assert power.mde_paired_binary(569, 114, 0.05) > delta  # more discordance: larger MDE
    assert power.mde_paired_binary(569, 57, 0.005) > delta  # stricter alpha (Holm): larger MDE


def test_mde_paired_binary_is_not_estimable_without_discordance_or_with_too_little():
    assert power.mde_paired_binary(569, 0, 0.05) is None
    assert power.mde_paired_binary(100, 3, 0.05) is None  # 3 discordant items can never reach p < 0.05 often
    got = power.binary_mde(569, 0, 0, 0.05)
    assert got.delta is None and "agree on every item" in got.note
    few = power.binary_mde(100, 2, 1, 0.05)
    assert few.delta is None and few.note.startswith("3 discordant items are too few to detect any difference: all "
                                                     "of them one way still has p above 0.05")
    # Trial A: 12 discordant items, all one way, were found worse beside "too few to detect any difference". Enough
    # for a one-sided split, not for 80 % power: the note says which.
    assert power.mde_paired_binary(100, 7, 0.05) is None and 2 * 0.5**7 < 0.05
    underpowered = power.binary_mde(100, 7, 0, 0.05)
    assert underpowered.delta is None and underpowered.note.startswith(
        "7 discordant items give under 80% power against any true difference, so no detectable difference can be "
        "named; a verdict of better or worse beside it still stands")
    rough = power.binary_mde(300, 10, 5, 0.05)
    assert rough.delta is not None and "rough" in rough.note and "15 discordant of 300" in rough.method


def test_mde_continuous_is_the_t_formula_over_sqrt_of_the_wilcoxon_efficiency():
    t_part = (stats.t.ppf(0.975, 99) + stats.t.ppf(0.8, 99)) * 2.0 / 10
    assert power.mde_continuous(2.0, 100, 0.05, are=1) == pytest.approx(t_part)
    assert power.mde_continuous(2.0, 100, 0.05) == pytest.approx(t_part / math.sqrt(3 / math.pi))
    # large n: the normal formula (z_a + z_b) sd / sqrt(n)
    assert power.mde_continuous(1.0, 10**6, 0.05, are=1) == pytest.approx((Z_A + Z_B) / 1000, rel=1e-5)
    assert power.mde_continuous(0.0, 100, 0.05) is None and power.mde_continuous(1.0, 1, 0.05) is None
    d = np.random.default_rng(0).normal(0.1, 1.5, size=80)
    got = power.continuous_mde(d, 0.05)
    assert got.delta == pytest.approx(power.mde_continuous(d.std(ddof=1), 80, 0.05))


def test_mde_from_se_is_blooms_multiplier_times_the_se():
    assert power.mde_from_se(0.01, 9, 0.05) == pytest.approx((stats.t.ppf(0.975, 9) + stats.t.ppf(0.8, 9)) * 0.01)
    assert power.mde_from_se(0.01, None, 0.05) == pytest.approx((Z_A + Z_B) * 0.01)
    assert power.mde_from_se(0.0, 9, 0.05) is None and power.mde_from_se(math.nan, 9, 0.05) is None
    assert power.mde_from_se(0.01, 0, 0.05) is None


def test_clustered_mde_uses_the_tests_own_cluster_robust_se():
    rng = np.random.default_rng(1)
    clusters = np.repeat(np.arange(6), 40)
    d = rng.normal(0, 1, size=240) + np.repeat(rng.normal(0, 0.5, size=6), 40)
    means = d.reshape(6, 40).mean(axis=1)
    se = means.std(ddof=1) / math.sqrt(6)  # CR1 with equal clusters is the t over cluster means
    got = power.clustered_mde(d, clusters, 0.05)
    assert got.delta == pytest.approx((stats.t.ppf(0.975, 5) + stats.t.ppf(0.8, 5)) * se)
    assert "6 clusters" in got.method and "less often" in got.note
    assert power.clustered_mde(d, np.zeros(240), 0.05).delta is None  # one cluster


def test_corrected_resampled_mde_uses_the_nadeau_bengio_se():
    per_fold = np.array([0.1, 0.0, 0.1, 0.0, 0.2, 0.0])
    folds = np.repeat(np.arange(6), 10)
    d = np.repeat(per_fold, 10)
    se = math.sqrt((1 / 6 + 0.5) * per_fold.var(ddof=1))
    got = power.corrected_resampled_mde(d, folds, 0.5, 0.05)
    assert got.delta == pytest.approx((stats.t.ppf(0.975, 5) + stats.t.ppf(0.8, 5)) * se)
    assert "6 folds" in got.method and "only 6 folds" in got.note
    assert power.corrected_resampled_mde(d, folds, 0.5, 0.05, calibrated=True).note == ""


@pytest.mark.parametrize("df", [2, 4, 9])
def test_calibrated_multiplier_averages_the_target_power_over_the_se_noise(df):
    """Independent check by direct simulation of the two stages: a pilot's SE-hat (SE = 1), the MDE c x SE-hat,
    then a benchmark's t statistic at that true difference (its own mean and SE-hat)."""
    c = power.calibrated_multiplier(0.05, 0.8, float(df))
    rng, draws = np.random.default_rng(df), 400_000
    mde = c * np.sqrt(rng.chisquare(df, draws) / df)
    t = (mde + rng.normal(size=draws)) / np.sqrt(rng.chisquare(df, draws) / df)
    assert np.mean(np.abs(t) > stats.t.ppf(0.975, df)) == pytest.approx(0.8, abs=0.004)
    plug_in = power.multiplier(0.05, 0.8, df) * np.sqrt(rng.chisquare(df, draws) / df)
    t = (plug_in + rng.normal(size=draws)) / np.sqrt(rng.chisquare(df, draws) / df)
    assert np.mean(np.abs(t) > stats.t.ppf(0.975, df)) < 0.78  # the plug-in falls short with few df
    assert power.mde_from_se(0.01, df, 0.05, calibrated=True) == pytest.approx(c * 0.01)


def test_calibration_vanishes_with_many_degrees_of_freedom():
    assert power.calibrated_multiplier(0.05, 0.8, 500.0) == pytest.approx(power.multiplier(0.05, 0.8, 500),
                                                                           rel=0.005)


def test_bad_alpha_or_power_is_refused():
    with pytest.raises(ValueError):
        power.mde_from_se(0.1, 5, 0.0)
    with pytest.raises(ValueError):
        power.mde_continuous(1.0, 10, 0.05, power=1.0)


# --- planning ---------------------------------------------------------------------------------------------

def test_items_needed_binary_says_when_the_discordance_cannot_carry_the_difference():
    too_big = power.items_needed_binary(0.05, 0.03, 0.05)  # delta > discordance
    assert too_big.count is None and "disagree on only 0.03" in too_big.explanation
    none = power.items_needed_binary(0.02, 0.0, 0.05)
    assert none.count is None and "never disagree" in none.explanation


def test_items_needed_continuous_is_the_smallest_n_whose_mde_reaches_delta():
    got = power.items_needed_continuous(0.1, 1.0, 0.05)
    n = got.count
    assert power.mde_continuous(1.0, n, 0.05) <= 0.1 < power.mde_continuous(1.0, n - 1, 0.05)
    # close to the normal formula (z_a + z_b)^2 sd^2 / delta^2 / ARE = 785 / 0.955 = 822
    assert n == pytest.approx((Z_A + Z_B) ** 2 / 0.01 / (3 / math.pi), abs=3)


def test_clusters_needed_is_the_smallest_g_whose_mde_reaches_delta():
    se, g0 = 0.05, 5  # pilot: SE 0.05 over 5 seeds, so one seed's SD is 0.05 sqrt(5)
    got = power.clusters_needed(0.1, se, g0, 0.05)

    def mde(g):
        return (stats.t.ppf(0.975, g - 1) + stats.t.ppf(0.8, g - 1)) * se * math.sqrt(g0 / g)

    assert mde(got.count) <= 0.1 < mde(got.count - 1)


def test_repetitions_needed_rounds_to_whole_seeds_and_knows_its_limit():
    s, r = 0.03, 0.25  # per-fold SD of the differences, n_test / n_train of 5-fold CV
    floor = (Z_A + Z_B) * s * math.sqrt(r)  # 0.042: what infinitely many repetitions reach
    assert floor == pytest.approx(0.04202, abs=1e-4)
    unreachable = power.repetitions_needed(0.04, s, r, 0.05, folds_per_repetition=5)
    assert unreachable.count is None and "more data per fold" in unreachable.explanation

    def mde(j):
        return (stats.t.ppf(0.975, j - 1) + stats.t.ppf(0.8, j - 1)) * s * math.sqrt(1 / j + r)

    got = power.repetitions_needed(0.05, s, r, 0.05, folds_per_repetition=5)
    assert got.count % 5 == 0 and mde(got.count) <= 0.05 < mde(got.count - 5)
    assert "seeds x 5 folds" in got.explanation
    plain = power.repetitions_needed(0.05, s, r, 0.05)
    assert mde(plain.count) <= 0.05 < mde(plain.count - 1)


# --- simulations: the power actually achieved at the reported MDE, with the project's real tests -----------

SIMULATIONS = 400
ALPHA = 0.05


def _report(name: str, hits: np.ndarray, started: float) -> float:
    rate = float(np.mean(hits))
    se = math.sqrt(rate * (1 - rate) / len(hits))
    print(f"\n{name}: power at the reported MDE {rate:.1%} (+- {se:.1%}) over {len(hits)} simulated "
          f"benchmarks, {time.perf_counter() - started:.1f} s")
    return rate


def _outcomes(rng, n, p_b, p_c, p_both):
    """0/1 outcomes of two configurations on n items with the given cell probabilities."""
    cell = rng.choice(4, size=n, p=[p_both, p_b, p_c, 1 - p_both - p_b - p_c])
    other = (cell == 0) | (cell == 1)
    reference = (cell == 0) | (cell == 2)
    return other, reference


@pytest.mark.slow
def test_mcnemar_power_at_the_reported_mde_by_simulation():
    """Pilot: 569 items, two classifiers of equal accuracy disagreeing on 10% of them. Benchmark at the MDE:
    same discordance, b - c = MDE. Real test: stats.paired_binary (exact McNemar)."""
    rng, started, hits = np.random.default_rng(11), time.perf_counter(), []
    n, psi, both = 569, 0.10, 0.75
    for _ in range(SIMULATIONS):
        res = _stats.paired_binary(*_outcomes(rng, n, psi / 2, psi / 2, both))
        mde = power.binary_mde(n, *res.discordant, ALPHA).delta
        bench = _stats.paired_binary(*_outcomes(rng, n, (psi + mde) / 2, (psi - mde) / 2, both - mde / 2))
        hits.append(bench.p_value < ALPHA and bench.delta > 0)
    assert 0.70 <= _report("McNemar exact, n=569, psi=0.10", np.array(hits), started) <= 0.90


def _exact_mcnemar_power(n: int, psi: float, delta: float, alpha: float) -> float:
    """Exact unconditional power of the exact McNemar test (right sign): the number of discordant items
    D ~ Binomial(n, psi), then b ~ Binomial(D, (psi + delta) / (2 psi)), summed over both."""
    q = (psi + delta) / (2 * psi)
    total = 0.0
    for d in range(1, n + 1):
        weight = stats.binom.pmf(d, n, psi)
        if weight < 1e-12:
            continue
        b = np.arange(d + 1)
        p = np.minimum(1, 2 * stats.binom.cdf(np.minimum(b, d - b), d, 0.5))
        reject = (p < alpha) & (b > d - b)
        total += weight * stats.binom.pmf(b[reject], d, q).sum()
    return total


@pytest.mark.slow
def test_mcnemar_power_at_the_mde_exactly_over_a_grid_of_designs():
    """No simulation noise: the exact test's power at the MDE for the true discordance. The exact test is
    discrete: its power jumps with the critical count, mostly a little under 80% (conservative), but above
    it where few discordant items meet a strict alpha."""
    started, rates = time.perf_counter(), []
    for n in (100, 300, 569, 2000):
        for psi in (0.05, 0.1, 0.2, 0.4):
            for alpha in (0.05, 0.005):
                d = round(n * psi)
                mde = power.mde_paired_binary(n, d, alpha)
                if mde is None:
                    continue
                rates.append((_exact_mcnemar_power(n, d / n, mde, alpha), n, d, alpha))
    low, high = min(rates), max(rates)
    print(f"\nMcNemar exact power at the MDE over {len(rates)} designs: {low[0]:.1%} (n={low[1]}, d={low[2]}, "
          f"alpha={low[3]}) to {high[0]:.1%} (n={high[1]}, d={high[2]}, alpha={high[3]}), "
          f"{time.perf_counter() - started:.1f} s")
    assert len(rates) >= 20 and low[0] >= 0.70 and high[0] <= 0.90


def _wilcoxon_power(rng, draw, n: int) -> float:
    started, hits = time.perf_counter(), []
    for _ in range(SIMULATIONS):
        reference = rng.normal(size=n)
        mde = power.continuous_mde(draw(rng, n), ALPHA).delta  # pilot: no true difference
        other = reference + mde + draw(rng, n)
        res = _stats.paired_continuous(other, reference, n_resamples=10)  # only the p-value is used
        hits.append(res.p_value < ALPHA and res.delta > 0)
    return _report(f"Wilcoxon, n={n}, {draw.__name__}", np.array(hits), started)


def normal_differences(rng, n):
    return rng.normal(0, 1.0, size=n)


def t3_differences(rng, n):
    return rng.standard_t(3, size=n)


@pytest.mark.slow
def test_wilcoxon_power_at_the_reported_mde_by_simulation():
    """Normal differences: the case the ARE 3/pi is right for."""
    assert 0.70 <= _wilcoxon_power(np.random.default_rng(12), normal_differences, 200) <= 0.90
    assert 0.70 <= _wilcoxon_power(np.random.default_rng(13), normal_differences, 30) <= 0.90  # exact test


@pytest.mark.slow
def test_wilcoxon_mde_is_conservative_for_heavy_tailed_differences():
    """Student t(3) differences: Wilcoxon beats the t-test (ARE 1.9), so the SD-based MDE is too large and
    the power at it exceeds 80%: the report undersells the benchmark, it does not oversell it."""
    assert _wilcoxon_power(np.random.default_rng(14), t3_differences, 200) >= 0.85


def _clustered(rng, seeds: int, items: int, mean: float):
    """Replicate runs: each seed shifts all its items' differences (seed SD 0.02); items add SD 0.1."""
    clusters = np.repeat(np.arange(seeds), items)
    d = mean + np.repeat(rng.normal(0, 0.02, size=seeds), items) + rng.normal(0, 0.1, size=seeds * items)
    reference = rng.uniform(size=seeds * items)
    return reference + d, reference, clusters


CLUSTER_SIMULATIONS = 1000  # cheap, and the plug-in's shortfall is a few points: binomial SE 1.4 points


def _cluster_power(seeds: int, calibrated: bool, seed: int) -> float:
    rng, started, hits = np.random.default_rng(seed), time.perf_counter(), []
    for _ in range(CLUSTER_SIMULATIONS):
        other, reference, clusters = _clustered(rng, seeds, 50, 0.0)
        mde = power.clustered_mde(other - reference, clusters, ALPHA, calibrated=calibrated).delta
        res = _stats.paired_clustered(*_clustered(rng, seeds, 50, mde))
        hits.append(res.p_value < ALPHA and res.delta > 0)
    label = "calibrated" if calibrated else "plug-in"
    return _report(f"cluster-robust t, {seeds} seeds, {label}", np.array(hits), started)


@pytest.mark.slow
def test_cluster_robust_power_at_the_reported_mde_by_simulation():
    """Bloom's plug-in MDE treats the SE as known; estimated from G seeds it is not, and the power at the
    plug-in MDE falls short: in theory 77% at 20 seeds, 74% at 10, 68% at 5. The calibrated MDE averages
    80% at any G (power.calibrated_multiplier)."""
    assert 0.70 <= _cluster_power(20, False, 21) <= 0.90
    assert 0.65 <= _cluster_power(10, False, 22) <= 0.80  # the shortfall the report's note warns about
    assert 0.70 <= _cluster_power(10, True, 23) <= 0.90
    calibrated_5 = _cluster_power(5, True, 24)
    assert 0.70 <= calibrated_5 <= 0.90
    assert _cluster_power(5, False, 25) < calibrated_5 - 0.05


def _repeated_cv(rng, seeds: int, k: int, per_fold: int, mean: float, sd: float = 0.02):
    """Item differences of repeated k-fold CV with the Nadeau-Bengio structure: the fold means are
    equicorrelated with rho = r / (1 + r), r = n_test / n_train = 1 / (k - 1), which is the model under which
    the corrected resampled t is exact. A fold mean = a fold effect (shared training data: correlated across
    all folds) + the mean of its items' independent noise (30% of the fold-mean variance)."""
    j, r = seeds * k, 1 / (k - 1)
    rho, noise = r / (1 + r), 0.3
    rho_u = rho / (1 - noise)  # correlation of the fold effects that gives rho for the fold means
    u = math.sqrt(1 - noise) * sd * (math.sqrt(rho_u) * rng.normal() + math.sqrt(1 - rho_u) * rng.normal(size=j))
    item_sd = math.sqrt(noise * per_fold) * sd
    folds = np.repeat(np.arange(j), per_fold)
    d = mean + np.repeat(u, per_fold) + rng.normal(0, item_sd, size=j * per_fold)
    reference = rng.uniform(size=j * per_fold)
    return reference + d, reference, folds, folds // k


def _cv_power(seeds: int, calibrated: bool, seed: int) -> float:
    """Repeated 5-fold CV of 100 items (20 per fold); ratio read from the items as export_summary reads it."""
    rng, started, hits = np.random.default_rng(seed), time.perf_counter(), []
    for _ in range(SIMULATIONS):
        other, reference, folds, reps = _repeated_cv(rng, seeds, 5, 20, 0.0)
        ratio = _stats.test_train_ratio(folds, reps)
        mde = power.corrected_resampled_mde(other - reference, folds, ratio, ALPHA, calibrated=calibrated).delta
        other, reference, folds, reps = _repeated_cv(rng, seeds, 5, 20, mde)
        res = _stats.paired_corrected_resampled(other, reference, folds, _stats.test_train_ratio(folds, reps))
        hits.append(res.p_value < ALPHA and res.delta > 0)
    label = "calibrated" if calibrated else "plug-in"
    return _report(f"corrected resampled t, {seeds} seeds x 5 folds, {label}", np.array(hits), started)


@pytest.mark.slow
def test_corrected_resampled_power_at_the_reported_mde_by_simulation():
    """J = 50 folds: the plug-in is fine (theory 78.7%). J = 10 (2 seeds x 5 folds): the plug-in falls to
    about 74% as for 10 clusters, the calibrated MDE is back near 80%."""
    assert 0.70 <= _cv_power(10, False, 31) <= 0.90
    assert 0.70 <= _cv_power(2, True, 33) <= 0.90
    assert 0.65 <= _cv_power(2, False, 34) <= 0.82


@pytest.mark.slow
def test_corrected_resampled_model_is_calibrated_under_no_difference():
    """The simulation model above is one where the corrected test holds its size (else power means little)."""
    rng = np.random.default_rng(32)
    p = []
    for _ in range(SIMULATIONS):
        other, reference, folds, reps = _repeated_cv(rng, 10, 5, 20, 0.0)
        p.append(_stats.paired_corrected_resampled(other, reference, folds,
                                                   _stats.test_train_ratio(folds, reps)).p_value)
    assert 0.02 <= np.mean(np.array(p) < ALPHA) <= 0.09

"""The gate's statistics on fixed inputs: McNemar, the sign test, the bootstrap, Holm, detectable drops."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from assistant.evals import stats
from assistant.evals.registry import Mean, Percentile


def exact_mcnemar_two_sided(worse: int, better: int) -> float:
    """Reference: twice the smaller binomial tail of the discordant pairs, capped at 1."""
    n = worse + better
    tail = sum(math.comb(n, i) for i in range(min(worse, better) + 1)) / 2**n
    return min(1.0, 2 * tail)


@pytest.mark.parametrize(("worse", "better"), [(10, 2), (6, 0), (3, 3), (25, 11), (1, 0)])
def test_mcnemar_matches_the_exact_binomial_reference(worse: int, better: int) -> None:
    before = [True] * worse + [False] * better + [True] * 7 + [False] * 5
    after = [False] * worse + [True] * better + [True] * 7 + [False] * 5
    result = stats.mcnemar(before, after)
    assert (result.worse, result.better) == (worse, better)
    assert result.p_two_sided == pytest.approx(exact_mcnemar_two_sided(worse, better), rel=1e-9)
    # One-sided: P(X >= worse) for X ~ Binomial(worse + better, 1/2).
    n = worse + better
    assert result.p_worse == pytest.approx(sum(math.comb(n, i) for i in range(worse, n + 1)) / 2**n)


def test_mcnemar_textbook_value_and_direction() -> None:
    # 6 discordant pairs all one way: p = 2 * 0.5**6 = 0.03125 two-sided, 0.015625 one-sided.
    result = stats.mcnemar([True] * 6 + [False] * 4, [False] * 6 + [False] * 4)
    assert result.p_two_sided == pytest.approx(0.03125)
    assert result.p_worse == pytest.approx(0.015625)
    # For a lower-is-better outcome (a false refusal) turning on is the worse direction.
    rises = stats.mcnemar([False] * 6, [True] * 6, lower_is_better=True)
    assert (rises.worse, rises.better) == (6, 0)
    assert stats.mcnemar([True, False], [True, False]).p_two_sided == 1.0


def test_sign_test_on_graded_values() -> None:
    before = [1.0, 0.5, 0.5, 1.0, 0.2, 0.7]
    after = [0.5, 0.5, 0.0, 0.0, 0.3, 0.6]
    result = stats.sign_test(before, after)
    assert (result.worse, result.better) == (4, 1)
    assert result.p_worse == pytest.approx(scipy_stats.binomtest(4, 5, 0.5, alternative="greater").pvalue)


def test_paired_bootstrap_matches_scipy_on_a_mean_difference() -> None:
    rng = np.random.default_rng(7)
    a = (rng.random(80) < 0.7).astype(float)
    b = a.copy()
    b[:9] = 0.0
    mean = Mean()
    ones = np.ones_like(a)
    ours = stats.paired_bootstrap((a, ones), (b, ones), mean.statistic, resamples=4000, seed=3)
    assert ours is not None
    reference = scipy_stats.bootstrap(
        (b - a,), np.mean, n_resamples=4000, method="percentile", rng=np.random.default_rng(3)
    )
    assert ours.difference == pytest.approx(float(np.mean(b - a)))
    assert ours.low == pytest.approx(reference.confidence_interval.low)
    assert ours.high == pytest.approx(reference.confidence_interval.high)
    assert ours.standard_error == pytest.approx(reference.standard_error, rel=1e-6)
    # Seeded: the same call gives the same interval.
    again = stats.paired_bootstrap((a, ones), (b, ones), mean.statistic, resamples=4000, seed=3)
    assert again == ours


def test_paired_bootstrap_reference_values() -> None:
    ones = np.ones(20)
    same = np.linspace(0, 1, 20)
    # No case changed: a zero-width interval at 0 and no evidence of a drop.
    result = stats.paired_bootstrap((same, ones), (same, ones), Mean().statistic, resamples=500)
    assert result is not None
    assert (result.difference, result.low, result.high) == (0.0, 0.0, 0.0)
    assert result.p_worse == 1.0
    # Every case down by 0.25: the interval is exactly [-0.25, -0.25], no spread, p = 0.
    result = stats.paired_bootstrap((same, ones), (same - 0.25, ones), Mean().statistic, resamples=500)
    assert result is not None
    assert result.low == pytest.approx(-0.25) and result.high == pytest.approx(-0.25)
    assert result.standard_error == pytest.approx(0.0, abs=1e-12) and result.p_worse == 0.0
    # With spread: the one-sided z-test with the bootstrap standard error.
    after = same - np.where(np.arange(20) % 2 == 0, 0.4, 0.0)
    result = stats.paired_bootstrap((same, ones), (after, ones), Mean().statistic, resamples=2000)
    assert result is not None and result.difference == pytest.approx(-0.2)
    assert result.p_worse == pytest.approx(scipy_stats.norm.cdf(-0.2 / result.standard_error))
    margin = stats.paired_bootstrap((same, ones), (after, ones), Mean().statistic, resamples=2000, margin=0.1)
    assert margin is not None
    assert margin.p_worse == pytest.approx(scipy_stats.norm.cdf((-0.2 + 0.1) / margin.standard_error))
    # Lower is better: the same fall is an improvement.
    result = stats.paired_bootstrap(
        (same, ones), (same - 0.25, ones), Mean().statistic, resamples=500, lower_is_better=True
    )
    assert result is not None and result.p_worse == 1.0
    # A margin: a drop of 0.25 is not "worse than -0.3".
    result = stats.paired_bootstrap((same, ones), (same - 0.25, ones), Mean().statistic, margin=0.3)
    assert result is not None and result.p_worse == 1.0
    # One case: nothing to resample, no evidence.
    one = stats.paired_bootstrap((np.ones(1), np.ones(1)), (np.zeros(1), np.ones(1)), Mean().statistic)
    assert one is not None and one.p_worse == 1.0 and one.low == one.high == -1.0


def test_paired_bootstrap_of_a_percentile_leaves_out_empty_resamples() -> None:
    # Five cases apply only in the baseline, five in both: resamples with none of the shared
    # five on the run's side give no value and are left out, never NaN.
    a = np.array([1.0, 2, 3, 4, 5, 10, 20, 30, 40, 50])
    b = np.array([np.nan] * 5 + [10.0, 20, 30, 40, 50])
    result = stats.paired_bootstrap((a,), (b,), Percentile(50).statistic, resamples=2000)
    assert result is not None
    assert result.difference == pytest.approx(30.0 - 7.5)
    assert result.resamples <= 2000
    assert all(math.isfinite(x) for x in (result.low, result.high, result.standard_error))


def test_holm_reference_values() -> None:
    # By hand: sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005, 3*0.01, 2*0.03, max(1*0.04, previous).
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert stats.holm([]) == []
    assert stats.holm([0.02]) == pytest.approx([0.02])


def test_fewest_cases_and_detectable_drop() -> None:
    # Exact McNemar at one-sided 0.025 needs 6 discordant pairs all one way (0.5**6 < 0.025 < 0.5**5).
    assert stats.fewest_cases_to_fail(100, binary=True, alpha=0.025) == 6
    # The bootstrap of a graded value: a resample misses all k cases with probability (1 - k/n)^n.
    assert stats.fewest_cases_to_fail(100, binary=False, alpha=0.025) == 4
    # No spread observed: the floor (6 cases of 116 = 0.052).
    assert stats.detectable_drop(0.0, 116, binary=True, bounded=True) == pytest.approx(6 / 116)
    # Spread observed: (z_0.975 + z_0.8) x standard error.
    z = scipy_stats.norm.ppf(0.975) + scipy_stats.norm.ppf(0.8)
    assert stats.detectable_drop(0.05, 400, binary=True, bounded=True) == pytest.approx(z * 0.05)
    assert stats.detectable_drop(3.0, 50, binary=False, bounded=False) == pytest.approx(z * 3.0)
    assert stats.detectable_drop(0.0, 3, binary=True, bounded=True) == 1.0

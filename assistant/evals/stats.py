"""The statistics of the paired gate: bootstrap intervals, exact McNemar, Holm, detectable drops.

* :func:`paired_bootstrap` resamples the shared cases (the same case indices for both runs,
  ``scipy.stats.bootstrap(paired=True)``) and recomputes the difference of the aggregate. For a
  metric that is a mean over the same cases in both runs this is the mean per-case difference.
  The interval is the percentile interval of those resampled differences; the one-sided
  p-value of "worse by more than the margin" is a z-test with their standard error.
* :func:`sign_test` counts the cases that got worse and better (``scipy.stats.binomtest``);
  on yes/no outcomes it is the exact McNemar test (:func:`mcnemar`).
* :func:`holm` adjusts p-values for the number of comparisons (written here: scipy has no
  family-wise step-down correction, only ``false_discovery_control``).
* :func:`detectable_drop`: the smallest true drop the set would flag with the stated power.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
POWER = 0.8
RESAMPLES = 10_000
SEED = 0
_BATCH = 1000  # resamples evaluated at once: bounds memory to ~batch x cases x arrays floats


@dataclass(frozen=True)
class BootstrapResult:
    """``difference`` (B minus A on all shared cases), its percentile interval, the bootstrap
    standard error, ``p_worse``: one-sided p-value that B is worse than A by more than the
    margin (orientation applied; z-test with the bootstrap standard error), and ``resamples``
    that gave a value on both sides."""

    difference: float
    low: float
    high: float
    standard_error: float
    p_worse: float
    resamples: int


def paired_bootstrap(
    arrays_a: Sequence[np.ndarray],
    arrays_b: Sequence[np.ndarray],
    statistic: Callable[..., np.ndarray],
    *,
    lower_is_better: bool = False,
    margin: float = 0.0,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> BootstrapResult | None:
    """Paired bootstrap of ``statistic(B) - statistic(A)`` over cases; None without a value.

    ``arrays_a``/``arrays_b``: the aggregation's per-case arrays of each run, case ``i`` of
    every array being the same case. ``statistic(*arrays, axis=-1)`` aggregates one run.
    Resamples in which either side has no eligible case are left out (``resamples`` counts
    the rest). Seeded: the same inputs and seed give the same result.
    """
    k = len(arrays_a)
    data = tuple(np.asarray(a, dtype=float) for a in (*arrays_a, *arrays_b))
    n = len(data[0]) if data else 0
    if n == 0:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = float(statistic(*data[k:], axis=-1) - statistic(*data[:k], axis=-1))
    if not np.isfinite(observed):
        return None
    if n == 1:  # nothing to resample: the one case says nothing about the spread
        return BootstrapResult(observed, observed, observed, 0.0, 1.0, 0)

    def difference(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return statistic(*samples[k:], axis=axis) - statistic(*samples[:k], axis=axis)

    with warnings.catch_warnings():
        # A constant distribution (no case changed) is not an error for the percentile method.
        warnings.simplefilter("ignore")
        result = stats.bootstrap(
            data,
            difference,
            paired=True,
            vectorized=True,
            n_resamples=resamples,
            batch=_BATCH,
            method="percentile",
            confidence_level=confidence,
            rng=np.random.default_rng(seed),
        )
    dist = np.asarray(result.bootstrap_distribution, dtype=float)
    dist = dist[np.isfinite(dist)]
    if dist.size == 0:
        return None
    tail = (1.0 - confidence) / 2.0
    low, high = (float(x) for x in np.percentile(dist, [100 * tail, 100 * (1 - tail)]))
    standard_error = float(np.std(dist, ddof=1)) if dist.size > 1 else 0.0
    gain = -observed if lower_is_better else observed
    # One-sided z-test of "worse by more than the margin" with the bootstrap standard error. The
    # share of resamples beyond -margin would say the same but cannot go below 1/(R + 1), too
    # coarse for a Holm correction over a hundred slice comparisons.
    if standard_error > 0:
        p_worse = float(stats.norm.cdf((gain + margin) / standard_error))
    else:
        p_worse = 0.0 if gain < -margin - 1e-12 else 1.0
    return BootstrapResult(
        difference=observed,
        low=low,
        high=high,
        standard_error=standard_error,
        p_worse=p_worse,
        resamples=int(dist.size),
    )


@dataclass(frozen=True)
class SignTestResult:
    """Cases that got ``worse`` and ``better`` (ties left out) and exact binomial p-values."""

    worse: int
    better: int
    p_two_sided: float
    p_worse: float


def sign_test(
    before: Sequence[float], after: Sequence[float], *, lower_is_better: bool = False
) -> SignTestResult:
    """Exact sign test of paired values (``before[i]`` and ``after[i]`` are one case):
    ``scipy.stats.binomtest`` on the cases that changed. For yes/no outcomes this is the exact
    McNemar test (the changed cases are the discordant pairs). ``p_worse`` is one-sided: more
    cases got worse than better; for a lower-is-better value a rise is worse.
    """
    b = np.asarray(before, dtype=float)
    a = np.asarray(after, dtype=float)
    gain = (b - a) if lower_is_better else (a - b)
    worse = int(np.count_nonzero(gain < -1e-12))
    better = int(np.count_nonzero(gain > 1e-12))
    n = worse + better
    if n == 0:
        return SignTestResult(0, 0, 1.0, 1.0)
    two = float(stats.binomtest(worse, n, 0.5, alternative="two-sided").pvalue)
    one = float(stats.binomtest(worse, n, 0.5, alternative="greater").pvalue)
    return SignTestResult(worse, better, two, one)


def mcnemar(
    before: Sequence[bool], after: Sequence[bool], *, lower_is_better: bool = False
) -> SignTestResult:
    """Exact McNemar test of paired yes/no outcomes (a binomial test on the discordant pairs)."""
    return sign_test([float(x) for x in before], [float(x) for x in after], lower_is_better=lower_is_better)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, kept monotone, capped at 1), input order.

    Written by hand: scipy.stats offers Benjamini-Hochberg/Yekutieli (false discovery rate)
    but no family-wise step-down correction.
    """
    p = np.asarray(p_values, dtype=float)
    m = p.size
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(np.argsort(p, kind="stable")):
        running = max(running, (m - rank) * p[index])
        adjusted[index] = min(1.0, running)
    return [float(x) for x in adjusted]


def fewest_cases_to_fail(n: int, *, binary: bool, alpha: float) -> int:
    """The fewest cases that must get wholly worse (and none better) for a one-sided test at
    ``alpha`` to flag a drop: exact McNemar for yes/no outcomes (``0.5**k < alpha``), the
    bootstrap otherwise (a resample misses all ``k`` cases with probability ``(1 - k/n)**n``)."""
    if n <= 0:
        return 0
    for k in range(1, n + 1):
        p = 0.5**k if binary else (1.0 - k / n) ** n
        if p < alpha:
            return k
    return n + 1


def detectable_drop(
    standard_error: float,
    n: int,
    *,
    binary: bool,
    bounded: bool,
    confidence: float = CONFIDENCE,
    power: float = POWER,
) -> float | None:
    """Smallest true drop flagged with probability ``power`` by a one-sided test at
    ``(1 - confidence) / 2``: ``(z_alpha + z_power) x standard_error``; for a metric whose
    per-case values lie in [0, 1] never below ``fewest_cases_to_fail / n`` (no smaller drop can
    fail at all). Before the correction for many comparisons, which raises it further."""
    if n <= 0:
        return None
    alpha = (1.0 - confidence) / 2.0
    z = float(stats.norm.ppf(1 - alpha) + stats.norm.ppf(power))
    estimate = z * standard_error
    if bounded:
        estimate = max(estimate, min(1.0, fewest_cases_to_fail(n, binary=binary, alpha=alpha) / n))
    return estimate if math.isfinite(estimate) else None

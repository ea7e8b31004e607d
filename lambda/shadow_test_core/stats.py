"""Interval estimates behind the shadow-test verdict: pure Python, standard library only.

Latency: the Hodges-Lehmann estimate of the per-period log ratios shadow/production with the
Wilcoxon signed-rank confidence interval (Hollander & Wolfe; R's ``wilcox.test(conf.int=TRUE)``).
Why this one:

- **Paired.** Both variants serve the same requests in the same period, so load, request mix and
  time of day cancel in the per-period ratio; only what differs between the models is left.
- **Distribution-free.** It assumes only that the log ratios are symmetric about their centre, not
  normal; per-period p99 latencies are skewed and heavy-tailed, their log ratios much less so.
- **Robust.** The estimate is the median of the pairwise (Walsh) averages and the interval ends are
  order statistics of them: one wild period moves each by at most one rank, never by its size, so
  one outlier period cannot flip the verdict (a mean or a t interval would follow it).
- **Exact where it matters.** With few periods the interval comes from the exact null
  distribution of the signed-rank statistic; its coverage never falls below the one asked for.
  A paired bootstrap, the alternative, under-covers precisely there and is not reproducible
  without fixing a random seed.

The exact distribution is used up to ``EXACT_LIMIT`` periods without ties or zero ratios (as
``scipy.stats.wilcoxon`` does); beyond it, or with ties, the normal approximation without
continuity correction. Walsh averages are selected, never all materialized: O(n log n) time and
O(n) memory, so a week of one-minute periods fits a small Lambda function.

5XX errors: the difference of two rates with Newcombe's hybrid score interval (his method 10),
built from two Wilson intervals: it stays inside [-1, 1], behaves at rates of zero (where the Wald
interval collapses to a point) and is the usual recommendation for a difference of proportions.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from statistics import NormalDist

__all__ = [
    "EXACT_LIMIT",
    "Interval",
    "hodges_lehmann",
    "newcombe_difference",
    "signed_rank_interval",
    "walsh_average",
    "walsh_averages",
    "wilson_interval",
]

#: Most periods for which the signed-rank interval uses the exact distribution (as scipy's default).
EXACT_LIMIT = 50

# Candidates left between the bisection bounds before they are enumerated and sorted.
_ENUMERATE_BELOW = 4
_MAX_BISECTIONS = 200


@dataclass(frozen=True, kw_only=True)
class Interval:
    """A point estimate with a two-sided confidence interval; unbounded ends are infinite."""

    estimate: float
    lower: float
    upper: float
    confidence: float
    exact: bool = False
    """Whether the interval comes from an exact distribution rather than an approximation."""


def two_sided_z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


# -- Walsh averages ---------------------------------------------------------------------


def _count_at_most(ordered: list[float], threshold: float) -> int:
    """Walsh averages (x_i + x_j) / 2, i <= j, that are <= threshold.

    Row i holds the j >= i with x_j <= 2 * threshold - x_i: one binary search per row, run by
    ``map`` in C (a Python two-pointer pass is several times slower on a week of periods). Only
    rows with x_i <= threshold have any. :func:`_between` draws the same lines, so the two agree
    to the last bit.
    """
    doubled = 2 * threshold
    rows = bisect_right(ordered, threshold)
    limits = [doubled - value for value in ordered[:rows]]
    ends = sum(map(bisect_right, repeat(ordered, rows), limits, range(rows)))
    return ends - rows * (rows - 1) // 2


def _between(ordered: list[float], above: float, at_most: float) -> list[float]:
    """Walsh averages in (above, at_most], sorted."""
    result: list[float] = []
    for low, value in enumerate(ordered):
        end = bisect_right(ordered, 2 * at_most - value, low)
        if end <= low:  # later rows start from larger values: none of theirs is small enough either
            break
        start = bisect_right(ordered, 2 * above - value, low)
        result.extend([(value + other) / 2 for other in ordered[start:end]])
    return sorted(result)


def walsh_average(ordered: list[float], rank: int) -> float:
    """The ``rank``-th smallest (1-based) Walsh average of the sorted sample ``ordered``.

    Bisection on the value with an O(n) count per step, then the few candidates left between the
    bounds are sorted: the n(n+1)/2 averages are never built.
    """
    return walsh_averages(ordered, (rank,))[0]


def walsh_averages(ordered: list[float], ranks: tuple[int, ...]) -> tuple[float, ...]:
    """The Walsh averages of several ``ranks`` (see :func:`walsh_average`), in one search.

    The ranks an estimate and its interval ask for lie close together, so their bisections take
    the same first steps; each count is made once and shared (about half the counts of separate
    searches on a week of periods).
    """
    size = len(ordered)
    total = size * (size + 1) // 2
    for rank in ranks:
        if not 1 <= rank <= total:
            raise ValueError(f"rank {rank} outside 1..{total}")
    counts: dict[float, int] = {}
    candidates: dict[tuple[float, float], list[float]] = {}
    return tuple(_select(ordered, rank, counts, candidates) for rank in ranks)


def _select(
    ordered: list[float], rank: int, counts: dict[float, int], candidates: dict[tuple[float, float], list[float]]
) -> float:
    size = len(ordered)
    # Every Walsh average lies in [min, max]; below min none does.
    low, high = ordered[0] - 1.0, ordered[-1]
    count_low, count_high = 0, size * (size + 1) // 2
    for _ in range(_MAX_BISECTIONS):
        if count_high - count_low <= _ENUMERATE_BELOW * size:
            break
        middle = (low + high) / 2
        if middle in (low, high):  # adjacent floats: all candidates are equal to high
            return high
        if middle not in counts:
            counts[middle] = _count_at_most(ordered, middle)
        count = counts[middle]
        if count < rank:
            low, count_low = middle, count
        else:
            high, count_high = middle, count
    if (low, high) not in candidates:
        candidates[low, high] = _between(ordered, low, high)
    return candidates[low, high][rank - count_low - 1]


def _median_ranks(total: int) -> tuple[int, ...]:
    """The rank or two ranks whose mean is the median of ``total`` ordered values."""
    return ((total + 1) // 2,) if total % 2 else (total // 2, total // 2 + 1)


def hodges_lehmann(sample: list[float]) -> float:
    """The one-sample Hodges-Lehmann estimate: the median of the Walsh averages."""
    if not sample:
        raise ValueError("the Hodges-Lehmann estimate needs at least one value")
    ordered = sorted(sample)
    middle = walsh_averages(ordered, _median_ranks(len(ordered) * (len(ordered) + 1) // 2))
    return sum(middle) / len(middle)


# -- Wilcoxon signed-rank ---------------------------------------------------------------


@lru_cache(maxsize=256)
def _signed_rank_counts(size: int) -> tuple[int, ...]:
    """How many sign assignments give each value 0..n(n+1)/2 of the signed-rank statistic."""
    counts = [1]
    for rank in range(1, size + 1):
        grown = counts + [0] * rank
        for value, ways in enumerate(counts):
            grown[value + rank] += ways
        counts = grown
    return tuple(counts)


@lru_cache(maxsize=1024)
def _exact_lower_rank(size: int, alpha: float) -> int | None:
    """R's ``qsignrank(alpha / 2, n)`` (at least 1): the rank of the interval's lower end.

    ``None`` when even the widest interval, [min, max] of the Walsh averages, covers less than
    asked: too few periods for this confidence.
    """
    counts = _signed_rank_counts(size)
    outcomes = 2**size
    if counts[0] / outcomes > alpha / 2:
        return None
    cumulative = 0
    for value, ways in enumerate(counts):
        cumulative += ways
        if cumulative / outcomes >= alpha / 2:
            return max(value, 1)
    raise AssertionError("the signed-rank distribution sums to one")


def _approximate_lower_rank(size: int, confidence: float) -> int | None:
    """Smallest k whose normal-approximation p-value ``2 * Phi((k - mean) / sd)`` is >= alpha."""
    total = size * (size + 1) // 2
    mean = total / 2
    deviation = math.sqrt(size * (size + 1) * (2 * size + 1) / 24)
    rank = math.ceil(mean - two_sided_z(confidence) * deviation)
    return rank if rank >= 1 else None


def _has_ties_or_zeros(sample: list[float]) -> bool:
    magnitudes = [abs(value) for value in sample]
    return 0.0 in magnitudes or len(set(magnitudes)) < len(magnitudes)


def signed_rank_interval(sample: list[float], confidence: float = 0.95) -> Interval:
    """Hodges-Lehmann estimate and Wilcoxon signed-rank interval of the centre of ``sample``.

    The interval holds the shifts the two-sided signed-rank test at level ``1 - confidence`` would
    not reject; its ends are Walsh averages. Infinite ends mean too few values to bound it.
    """
    if not sample:
        raise ValueError("the signed-rank interval needs at least one value")
    two_sided_z(confidence)
    ordered = sorted(sample)
    size = len(ordered)
    total = size * (size + 1) // 2
    exact = size <= EXACT_LIMIT and not _has_ties_or_zeros(ordered)
    alpha = 1 - confidence
    rank = _exact_lower_rank(size, round(alpha, 12)) if exact else _approximate_lower_rank(size, confidence)
    middle = _median_ranks(total)
    if rank is None or rank > total - rank + 1:
        centre = walsh_averages(ordered, middle)
        estimate = sum(centre) / len(centre)
        return Interval(estimate=estimate, lower=-math.inf, upper=math.inf, confidence=confidence, exact=exact)
    # One search for the interval's ends and the estimate's rank(s): they share their first steps.
    lower, upper, *centre_ = walsh_averages(ordered, (rank, total - rank + 1, *middle))
    estimate = sum(centre_) / len(centre_)
    return Interval(estimate=estimate, lower=lower, upper=upper, confidence=confidence, exact=exact)


# -- proportions ------------------------------------------------------------------------


def wilson_interval(successes: float, trials: float, confidence: float = 0.95) -> Interval:
    """Wilson score interval of a proportion (no continuity correction), as ``binomtest(...).proportion_ci``."""
    if trials <= 0:
        raise ValueError(f"the Wilson interval needs trials > 0, got {trials}")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must lie in 0..{trials}, got {successes}")
    z = two_sided_z(confidence)
    proportion = successes / trials
    denominator = 1 + z * z / trials
    centre = (proportion + z * z / (2 * trials)) / denominator
    half_width = z * math.sqrt(proportion * (1 - proportion) / trials + z * z / (4 * trials * trials)) / denominator
    return Interval(
        estimate=proportion,
        lower=max(0.0, centre - half_width),
        upper=min(1.0, centre + half_width),
        confidence=confidence,
    )


def newcombe_difference(
    successes_a: float,
    trials_a: float,
    successes_b: float,
    trials_b: float,
    confidence: float = 0.95,
) -> Interval:
    """Newcombe's hybrid score interval of the difference of proportions ``a - b`` (method 10).

    Each side of the interval combines the distances from each proportion to the matching end of
    its own Wilson interval.
    """
    a = wilson_interval(successes_a, trials_a, confidence)
    b = wilson_interval(successes_b, trials_b, confidence)
    difference = a.estimate - b.estimate
    lower = difference - math.hypot(a.estimate - a.lower, b.upper - b.estimate)
    upper = difference + math.hypot(a.upper - a.estimate, b.estimate - b.lower)
    return Interval(estimate=difference, lower=max(-1.0, lower), upper=min(1.0, upper), confidence=confidence)

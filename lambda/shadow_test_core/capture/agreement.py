"""Statistics of what the two models answered: agreement, accuracy and a promotion verdict.

Pure functions of the counts in :class:`~shadow_test_core.capture.pairing.PairingSummary`; the
standard library only (``math``, ``statistics.NormalDist``), checked against scipy in the tests.

- **Agreement** (share of pairs whose answers agree) and each variant's **accuracy** on the labelled
  pairs get Wilson score intervals: unlike the Wald interval they stay inside [0, 1] and keep close to
  their nominal coverage near 0 and 1, where agreement rates of good models live.
- **Accuracy difference** (shadow minus production) on the *same* labelled requests is a paired
  comparison: only discordant pairs (exactly one model right) carry information, as in McNemar's
  test. Its interval is **Tango's score interval** (Tango 1998, Statistics in Medicine 17:891-908):
  the set of differences ``d`` not rejected by the score test whose statistic at ``d = 0`` is exactly
  McNemar's ``(c - b) / sqrt(b + c)``, so the interval excludes 0 exactly when McNemar's test rejects.
  Fagerland, Lydersen and Laake (2013, Statistics in Medicine 32:1744) recommend it (with Newcombe's
  hybrid score interval) for its coverage; unlike the Wald interval it does not collapse to a point
  when no pair is discordant, and it needs no continuity correction. McNemar's exact p-value (a
  binomial test on the discordant pairs) is reported beside it.

Verdict with ground truth, against a margin of ``accuracy_margin`` points (non-inferiority):
promote when the interval's lower end is at least ``-margin`` (the shadow is not worse by more than
the margin), hold when its upper end is below ``-margin`` (it is), not enough data when the interval
straddles ``-margin`` or fewer than ``min_pairs`` pairs are labelled. Without ground truth the same
three outcomes compare the agreement interval with ``min_agreement`` when it is given; otherwise the
comparison is a report and its outcome is ``report`` (exit 0).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from shadow_test_core import stats

__all__ = [
    "CONFIDENCE",
    "AgreementReport",
    "AgreementThresholds",
    "Interval",
    "Outcome",
    "evaluate_agreement",
    "mcnemar_exact_p",
    "tango_interval",
    "wilson_interval",
]

#: Two-sided confidence level of every interval.
CONFIDENCE = 0.95


class Outcome(str, Enum):
    """What ``shadow-test compare`` concludes, with its exit code."""

    PROMOTE = "promote"
    HOLD = "hold"
    NOT_ENOUGH_DATA = "not enough data"
    REPORT = "report"

    def __str__(self) -> str:
        return str(self.value)

    @property
    def exit_code(self) -> int:
        """0 promote or report only, 1 hold, 2 not enough data."""
        return {"promote": 0, "hold": 1, "not enough data": 2, "report": 0}[self.value]


@dataclass(frozen=True, kw_only=True)
class Interval:
    """A two-sided confidence interval, as fractions."""

    low: float
    high: float


_z = stats.two_sided_z


def wilson_interval(successes: int, trials: int, confidence: float = CONFIDENCE) -> Interval | None:
    """The latency verdict's Wilson score interval (``paired_stats``) as low and high; ``None`` without trials."""
    if trials <= 0:
        return None
    shared = stats.wilson_interval(successes, trials, confidence)
    # The exact ends at 0 and 1 (rounding would leave 1e-17 off).
    low = 0.0 if successes == 0 else shared.lower
    high = 1.0 if successes == trials else shared.upper
    return Interval(low=low, high=high)


def _tango_z(delta: float, b: int, c: int, n: int) -> float:
    """Tango's score statistic for H0: shadow minus production accuracy = ``delta``.

    ``b`` pairs only production got right, ``c`` only the shadow, ``n`` pairs in all. The nuisance
    parameter (probability of a "production only" pair) is its maximum-likelihood value under H0,
    the positive root of ``2n q^2 - w q - b delta (1 - delta) = 0``.
    """
    w = b + c - delta * (2 * n + b - c)
    q = (w + math.sqrt(max(w * w + 8 * n * b * delta * (1 - delta), 0.0))) / (4 * n)
    variance = n * (2 * q + delta - delta * delta)
    numerator = c - b - n * delta
    if variance <= 0:
        return 0.0 if numerator == 0 else math.copysign(math.inf, numerator)
    return numerator / math.sqrt(variance)


def _bisect(function: Any, low: float, high: float, target: float) -> float:
    # function decreases on [low, high]; find where it crosses target (to double precision).
    for _ in range(200):
        middle = (low + high) / 2
        if middle in (low, high):
            break
        if function(middle) > target:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def tango_interval(b: int, c: int, n: int, confidence: float = CONFIDENCE) -> Interval | None:
    """Tango's score interval for the paired difference of two proportions (shadow minus production).

    :param b: pairs where only production is right.
    :param c: pairs where only the shadow is right.
    :param n: all labelled pairs (concordant ones included).
    :returns: ``None`` without pairs.
    """
    if n <= 0:
        return None
    if b < 0 or c < 0 or b + c > n:
        raise ValueError(f"need 0 <= b, c and b + c <= n (got b={b}, c={c}, n={n})")
    z = _z(confidence)
    estimate = (c - b) / n
    statistic = lambda delta: _tango_z(delta, b, c, n)  # noqa: E731
    low = -1.0 if statistic(-1.0) <= z else _bisect(statistic, -1.0, estimate, z)
    high = 1.0 if statistic(1.0) >= -z else _bisect(statistic, estimate, 1.0, -z)
    return Interval(low=low, high=high)


def mcnemar_exact_p(b: int, c: int) -> float:
    """McNemar's exact two-sided p-value: a binomial test of ``min(b, c)`` of ``b + c`` at 1/2."""
    m = b + c
    if m == 0:
        return 1.0
    k = min(b, c)
    if 2 * k == m:
        return 1.0
    log_half = m * math.log(0.5)
    log_m = math.lgamma(m + 1)
    total = 0.0
    # Terms grow towards m/2, so summing from k down stops as soon as they no longer count.
    for i in range(k, -1, -1):
        term = math.exp(log_m - math.lgamma(i + 1) - math.lgamma(m - i + 1) + log_half)
        total += term
        if term < total * 1e-17:
            break
    return min(1.0, 2 * total)


@dataclass(frozen=True, kw_only=True)
class AgreementThresholds:
    """What the verdict compares against.

    :param accuracy_margin: how many percentage points of accuracy the shadow may lose and still be
        promoted (with ground truth). Default: 1.
    :param min_agreement: lowest agreement rate in percent for a promotion without ground truth.
        Default: none (no verdict, only the report).
    :param min_pairs: labelled pairs (with ground truth) or pairs (against ``min_agreement``) a
        verdict needs. Default: 30.
    """

    accuracy_margin: float = 1.0
    min_agreement: float | None = None
    min_pairs: int = 30

    def __post_init__(self) -> None:
        if not 0 <= self.accuracy_margin <= 100:
            raise ValueError(f"accuracy margin must be within 0..100 points (got {self.accuracy_margin})")
        if self.min_agreement is not None and not 0 <= self.min_agreement <= 100:
            raise ValueError(f"minimum agreement must be within 0..100 percent (got {self.min_agreement})")
        if self.min_pairs < 1:
            raise ValueError(f"minimum pairs must be at least 1 (got {self.min_pairs})")


@dataclass(frozen=True, kw_only=True)
class AgreementReport:
    """The figures of a comparison and its verdict; fractions, not percent."""

    pairs: int
    agreement: float | None
    agreement_interval: Interval | None
    labelled_pairs: int | None = None
    production_accuracy: float | None = None
    production_accuracy_interval: Interval | None = None
    shadow_accuracy: float | None = None
    shadow_accuracy_interval: Interval | None = None
    accuracy_difference: float | None = None
    accuracy_difference_interval: Interval | None = None
    discordant_production_only: int | None = None
    discordant_shadow_only: int | None = None
    mcnemar_p_value: float | None = None
    outcome: Outcome
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures (intervals as ``{"low", "high"}``), the outcome and its exit code."""
        document = asdict(self)
        document["outcome"] = str(self.outcome)
        document["exit_code"] = self.outcome.exit_code
        return document


def _percent(value: float) -> str:
    return f"{100 * value:.2f} %"


def _points(value: float) -> str:
    return f"{value:g} point" if value == 1 else f"{value:g} points"


def _ground_truth_verdict(n: int, difference: Interval | None, thresholds: AgreementThresholds) -> tuple[Outcome, str]:
    margin = -thresholds.accuracy_margin / 100
    if n < thresholds.min_pairs or difference is None:
        return Outcome.NOT_ENOUGH_DATA, f"{n} labelled pairs; a verdict needs at least {thresholds.min_pairs}"
    span = f"interval {100 * difference.low:+.2f} to {100 * difference.high:+.2f} points"
    if difference.low >= margin:
        return (
            Outcome.PROMOTE,
            f"shadow accuracy is not worse by more than {_points(thresholds.accuracy_margin)} ({span})",
        )
    if difference.high < margin:
        return Outcome.HOLD, f"shadow accuracy is worse by more than {_points(thresholds.accuracy_margin)} ({span})"
    return Outcome.NOT_ENOUGH_DATA, f"the {span} straddles -{_points(thresholds.accuracy_margin)}"


def _agreement_verdict(pairs: int, interval: Interval | None, thresholds: AgreementThresholds) -> tuple[Outcome, str]:
    if thresholds.min_agreement is None:
        return Outcome.REPORT, "no ground truth and no minimum agreement: report only"
    if pairs < thresholds.min_pairs or interval is None:
        return Outcome.NOT_ENOUGH_DATA, f"{pairs} pairs; a verdict needs at least {thresholds.min_pairs}"
    floor = thresholds.min_agreement / 100
    span = f"interval {_percent(interval.low)} to {_percent(interval.high)}"
    if interval.low >= floor:
        return Outcome.PROMOTE, f"agreement is at least {_percent(floor)} ({span})"
    if interval.high < floor:
        return Outcome.HOLD, f"agreement is below {_percent(floor)} ({span})"
    return Outcome.NOT_ENOUGH_DATA, f"the {span} straddles {_percent(floor)}"


def evaluate_agreement(
    summary: Any,
    thresholds: AgreementThresholds | None = None,
    *,
    ground_truth: bool = False,
    confidence: float = CONFIDENCE,
) -> AgreementReport:
    """Figures and verdict from a ``PairingSummary`` (any object with its count attributes).

    :param ground_truth: whether labels were given: the verdict is then on accuracy.
    """
    thresholds = thresholds or AgreementThresholds()
    pairs = summary.pairs
    agreement_interval = wilson_interval(summary.agreements, pairs, confidence)
    agreement = summary.agreements / pairs if pairs else None
    if not ground_truth:
        outcome, reason = _agreement_verdict(pairs, agreement_interval, thresholds)
        return AgreementReport(
            pairs=pairs, agreement=agreement, agreement_interval=agreement_interval, outcome=outcome, reason=reason
        )
    n = summary.labelled_pairs
    b, c = summary.production_only_right, summary.shadow_only_right
    production_right = summary.both_right + b
    shadow_right = summary.both_right + c
    difference = tango_interval(b, c, n, confidence)
    outcome, reason = _ground_truth_verdict(n, difference, thresholds)
    return AgreementReport(
        pairs=pairs,
        agreement=agreement,
        agreement_interval=agreement_interval,
        labelled_pairs=n,
        production_accuracy=production_right / n if n else None,
        production_accuracy_interval=wilson_interval(production_right, n, confidence),
        shadow_accuracy=shadow_right / n if n else None,
        shadow_accuracy_interval=wilson_interval(shadow_right, n, confidence),
        accuracy_difference=(c - b) / n if n else None,
        accuracy_difference_interval=difference,
        discordant_production_only=b,
        discordant_shadow_only=c,
        mcnemar_p_value=mcnemar_exact_p(b, c),
        outcome=outcome,
        reason=reason,
    )

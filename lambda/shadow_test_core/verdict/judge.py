"""The promotion verdict of a shadow test: non-inferiority checks on paired per-period data.

Pure functions of :class:`~shadow_test_core.verdict.period_data.PeriodData`, standard library only, so the
CLI (``report`` and ``judge``) and a Lambda function give the same verdict from the same data.

Checks (statistics in :mod:`shadow_test_core.stats`):

- ``latency-p99`` decides: the per-period log ratios shadow/production of p99 ``ModelLatency``
  give a Hodges-Lehmann ratio and its Wilcoxon signed-rank interval. ``latency-p50`` and
  ``latency-p90`` are computed the same way and shown, not decided on: p99 is what users feel.
- ``error-5xx`` decides: shadow minus production 5XX rate, pooled over the periods, in
  percentage points, with Newcombe's hybrid Wilson interval.

A check passes when its whole interval lies within the margin, fails when its whole interval lies
beyond it, and otherwise has not enough data: an interval is a statement about what the data can
rule out, so a short or noisy test says so instead of guessing. A check with fewer than
``min_periods`` usable periods never decides: the interval treats periods as independent, which
neighbouring periods (a slow hour, a noisy neighbour) are not quite. Periods in which a variant had
no traffic are left out of every check, and counted.

Overall: any fail holds, all passing promotes, otherwise not enough data.

:func:`judge` is one fixed-horizon look; a verdict repeated over a test's schedule goes through
:func:`shadow_test_core.verdict.looks.judge_look`, which narrows each look's confidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from shadow_test_core.stats import Interval, newcombe_difference, signed_rank_interval
from shadow_test_core.verdict.period_data import Look, Period, PeriodData

__all__ = [
    "EXIT_CODES",
    "Check",
    "CheckStatus",
    "Margins",
    "Report",
    "Verdict",
    "judge",
    "judge_at",
    "overall_verdict",
    "paired_ratios",
    "percent",
    "usable_periods",
]


class _StrEnum(str, Enum):
    # enum.StrEnum is Python 3.11+; the package supports 3.10.
    def __str__(self) -> str:
        return str(self.value)


class Verdict(_StrEnum):
    """Overall outcome of a shadow test."""

    PROMOTE = "promote"
    HOLD = "hold"
    NOT_ENOUGH_DATA = "not enough data"


EXIT_CODES: dict[Verdict, int] = {Verdict.PROMOTE: 0, Verdict.HOLD: 1, Verdict.NOT_ENOUGH_DATA: 2}
"""Exit code of ``shadow-test report`` and ``judge`` for each verdict."""


class CheckStatus(_StrEnum):
    """Outcome of one check; ``shown`` checks inform and do not decide."""

    PASS = "pass"
    FAIL = "fail"
    NOT_ENOUGH_DATA = "not enough data"
    SHOWN = "shown"


@dataclass(frozen=True, kw_only=True)
class Margins:
    """What the shadow variant must be shown to stay within, and how sure to be.

    :param latency_ratio: largest acceptable shadow/production p99 latency ratio; 1 or below asks
        the shadow to be shown no slower, or faster. Default: 1.2.
    :param error_delta: largest acceptable shadow-minus-production 5XX rate, in percentage
        points. Default: 1.0.
    :param confidence: two-sided confidence of every interval; each check is a one-sided test at
        ``(1 - confidence) / 2``. Default: 0.95.
    :param min_periods: fewest usable periods before a check may decide. Default: 12 (an hour of
        the CLI's default 5-minute periods).
    """

    latency_ratio: float = 1.2
    error_delta: float = 1.0
    confidence: float = 0.95
    min_periods: int = 12

    def __post_init__(self) -> None:
        if not self.latency_ratio > 0:
            raise ValueError(f"latency ratio margin must be > 0, got {self.latency_ratio}")
        if not self.error_delta >= 0:
            raise ValueError(f"error delta margin must be >= 0 percentage points, got {self.error_delta}")
        if not 0.5 <= self.confidence < 1:
            raise ValueError(f"confidence must be at least 0.5 and below 1, got {self.confidence}")
        if self.min_periods < 1:
            raise ValueError(f"minimum periods must be >= 1, got {self.min_periods}")


@dataclass(frozen=True, kw_only=True)
class Check:
    """One check: estimate and interval (as ratios, or percentage points) against its margin."""

    name: str
    label: str
    unit: str
    """``ratio`` (shadow/production) or ``pp`` (percentage points, shadow minus production)."""
    status: CheckStatus
    estimate: float | None
    lower: float | None
    upper: float | None
    margin: float
    periods: int
    message: str

    @property
    def decides(self) -> bool:
        """Whether the check takes part in the verdict."""
        return self.status is not CheckStatus.SHOWN


@dataclass(frozen=True, kw_only=True)
class Report:
    """The checks and overall verdict of one judged :class:`PeriodData`."""

    experiment: str
    period_seconds: int
    margins: Margins
    checks: tuple[Check, ...]
    verdict: Verdict
    periods_total: int
    periods_without_traffic: int
    """Periods left out because production, shadow or both served no request."""
    confidence: float
    """Two-sided confidence of the checks' intervals: ``margins.confidence`` for a single look,
    higher at one of many looks (:mod:`shadow_test_core.verdict.looks`)."""
    look: Look | None = None
    """The look this verdict was taken at; ``None`` for a single, fixed-horizon look. Default: None."""

    @property
    def exit_code(self) -> int:
        """Process exit code: 0 promote, 1 hold, 2 not enough data."""
        return EXIT_CODES[self.verdict]


def usable_periods(data: PeriodData) -> list[Period]:
    """Periods in which both variants served traffic, oldest first."""
    return [period for period in data.periods if period.production.has_traffic and period.shadow.has_traffic]


def paired_ratios(periods: list[Period], field: str = "latency_p99_us") -> list[tuple[datetime, float]]:
    """Per-period shadow/production ratios of a latency field, where both variants published it."""
    ratios = []
    for period in periods:
        production, shadow = getattr(period.production, field), getattr(period.shadow, field)
        if production is not None and shadow is not None:
            ratios.append((period.start, shadow / production))
    return ratios


def percent(confidence: float) -> str:
    """A confidence as a percentage with the digits that matter: 95%, 99.5%, 99.987%."""
    return f"{100 * confidence:.5g}%"


def _ratio(value: float) -> str:
    return "0" if value == 0 else ("inf" if math.isinf(value) else f"x{value:.3f}")


def _decide(interval: Interval, margin: float) -> CheckStatus:
    if interval.upper <= margin:
        return CheckStatus.PASS
    if interval.lower > margin:
        return CheckStatus.FAIL
    return CheckStatus.NOT_ENOUGH_DATA


def _latency_check(periods: list[Period], field: str, percentile: str, margins: Margins, *, decides: bool) -> Check:
    ratios = [ratio for _start, ratio in paired_ratios(periods, field)]
    name, label = f"latency-{percentile}", f"Model latency {percentile} (shadow/production)"
    if not ratios:
        return Check(
            name=name,
            label=label,
            unit="ratio",
            status=CheckStatus.NOT_ENOUGH_DATA if decides else CheckStatus.SHOWN,
            estimate=None,
            lower=None,
            upper=None,
            margin=margins.latency_ratio,
            periods=0,
            message=f"no period with {percentile} latency from both variants",
        )
    interval = signed_rank_interval([math.log(ratio) for ratio in ratios], margins.confidence)
    estimate, lower, upper = math.exp(interval.estimate), math.exp(interval.lower), math.exp(interval.upper)
    status = _decide(interval, math.log(margins.latency_ratio))
    stated = f"{_ratio(estimate)} ({percent(margins.confidence)} interval {_ratio(lower)} to {_ratio(upper)})"
    status, message = _worded(status, stated, len(ratios), margins.min_periods, f"x{margins.latency_ratio:g}")
    return Check(
        name=name,
        label=label,
        unit="ratio",
        status=status if decides else CheckStatus.SHOWN,
        estimate=estimate,
        lower=lower,
        upper=upper,
        margin=margins.latency_ratio,
        periods=len(ratios),
        message=message if decides else f"{stated}; shown, p99 decides",
    )


def _worded(status: CheckStatus, stated: str, periods: int, min_periods: int, margin: str) -> tuple[CheckStatus, str]:
    """The check's status (too few periods never decide) and its sentence against ``margin``."""
    if periods < min_periods:
        return CheckStatus.NOT_ENOUGH_DATA, f"{stated}; {periods} periods, at least {min_periods} needed to decide"
    if status is CheckStatus.PASS:
        return status, f"{stated}, within {margin}"
    if status is CheckStatus.FAIL:
        return status, f"{stated}, beyond {margin}"
    return status, f"{stated} reaches across {margin}; more periods narrow it"


def _error_check(periods: list[Period], margins: Margins) -> Check:
    name, label = "error-5xx", "5XX error rate (shadow - production)"
    shadow_invocations = sum(period.shadow.invocations for period in periods)
    production_invocations = sum(period.production.invocations for period in periods)
    if not periods:
        return Check(
            name=name,
            label=label,
            unit="pp",
            status=CheckStatus.NOT_ENOUGH_DATA,
            estimate=None,
            lower=None,
            upper=None,
            margin=margins.error_delta,
            periods=0,
            message="no period with traffic in both variants",
        )
    # Pooled counts: a period's rate from 3 requests should not weigh as much as one from 3000.
    interval = newcombe_difference(
        sum(period.shadow.errors_5xx for period in periods),
        shadow_invocations,
        sum(period.production.errors_5xx for period in periods),
        production_invocations,
        margins.confidence,
    )
    points = Interval(
        estimate=100 * interval.estimate,
        lower=100 * interval.lower,
        upper=100 * interval.upper,
        confidence=interval.confidence,
    )
    status = _decide(points, margins.error_delta)
    stated = (
        f"{points.estimate:+.3f} pp ({percent(margins.confidence)} interval "
        f"{points.lower:+.3f} to {points.upper:+.3f} pp)"
    )
    status, message = _worded(status, stated, len(periods), margins.min_periods, f"+{margins.error_delta:g} pp")
    return Check(
        name=name,
        label=label,
        unit="pp",
        status=status,
        estimate=points.estimate,
        lower=points.lower,
        upper=points.upper,
        margin=margins.error_delta,
        periods=len(periods),
        message=message,
    )


def overall_verdict(checks: tuple[Check, ...]) -> Verdict:
    """Any deciding check failed: hold; all passed: promote; otherwise not enough data."""
    statuses = [check.status for check in checks if check.decides]
    if CheckStatus.FAIL in statuses:
        return Verdict.HOLD
    if statuses and all(status is CheckStatus.PASS for status in statuses):
        return Verdict.PROMOTE
    return Verdict.NOT_ENOUGH_DATA


def judge(data: PeriodData, margins: Margins | None = None) -> Report:
    """Run every check on ``data`` and give the overall verdict, as a single look."""
    margins = margins or Margins()
    return judge_at(data, margins, confidence=margins.confidence)


def judge_at(data: PeriodData, margins: Margins, *, confidence: float, look: Look | None = None) -> Report:
    """Every check with intervals at ``confidence`` instead of ``margins.confidence``, recording ``look``.

    The building block of :func:`judge` and of the sequential ``judge_look``.
    """
    at = replace(margins, confidence=confidence)
    periods = usable_periods(data)
    checks = (
        _latency_check(periods, "latency_p99_us", "p99", at, decides=True),
        _error_check(periods, at),
        _latency_check(periods, "latency_p90_us", "p90", at, decides=False),
        _latency_check(periods, "latency_p50_us", "p50", at, decides=False),
    )
    return Report(
        experiment=data.experiment,
        period_seconds=data.period_seconds,
        margins=margins,
        checks=checks,
        verdict=overall_verdict(checks),
        periods_total=len(data.periods),
        periods_without_traffic=len(data.periods) - len(periods),
        confidence=confidence,
        look=look,
    )

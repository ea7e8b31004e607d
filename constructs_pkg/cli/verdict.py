"""Promotion verdicts computed from the numbers of a shadow test.

Pure functions only: no AWS calls, no printing, so the rules that decide
whether a shadow model may replace production are testable on their own.

Rules (each check has the status ``pass``, ``fail`` or ``insufficient data``):

- ``min-invocations``: both variants received at least ``min_invocations``
  requests in the window; otherwise ``insufficient data``.
- ``latency-ratio``: shadow p99 ``ModelLatency`` / production p99 is at most
  ``latency_ratio``; ``insufficient data`` if either is unknown or production is 0.
- ``error-delta``: shadow 5XX error rate minus production 5XX error rate, in
  percentage points, is at most ``error_delta``; ``insufficient data`` if a
  variant had no invocations.

Overall: any ``insufficient data`` gives ``not enough data`` (a small sample
decides nothing, not even a hold); otherwise any ``fail`` gives ``hold``;
otherwise ``promote``. A value equal to its threshold passes, matching the
``GreaterThanThreshold`` regression alarms.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum

__all__ = [
    "EXIT_CODES",
    "Check",
    "CheckStatus",
    "ComparisonRow",
    "Report",
    "Thresholds",
    "VariantStats",
    "Verdict",
    "check_error_delta",
    "check_latency_ratio",
    "check_min_invocations",
    "comparison_rows",
    "error_rate",
    "evaluate",
    "overall_verdict",
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


EXIT_CODES: dict[Verdict, int] = {
    Verdict.PROMOTE: 0,
    Verdict.HOLD: 1,
    Verdict.NOT_ENOUGH_DATA: 2,
}
"""Exit code of ``shadow-test report`` for each verdict."""


class CheckStatus(_StrEnum):
    """Outcome of one threshold check."""

    PASS = "pass"
    FAIL = "fail"
    INSUFFICIENT = "insufficient data"


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """Limits a shadow variant must stay within to be promoted.

    :param latency_ratio: highest shadow/production p99 latency ratio. Default: 1.2.
    :param error_delta: highest shadow-minus-production 5XX error rate, in
        percentage points. Default: 1.0.
    :param min_invocations: fewest invocations each variant needs for a
        verdict. Default: 100.
    """

    latency_ratio: float = 1.2
    error_delta: float = 1.0
    min_invocations: int = 100

    def __post_init__(self) -> None:
        if self.latency_ratio <= 0:
            raise ValueError(f"latency ratio threshold must be > 0, got {self.latency_ratio}")
        if self.error_delta < 0:
            raise ValueError(f"error delta threshold must be >= 0, got {self.error_delta}")
        if self.min_invocations < 0:
            raise ValueError(f"minimum invocations must be >= 0, got {self.min_invocations}")


@dataclass(frozen=True, kw_only=True)
class VariantStats:
    """CloudWatch statistics of one variant over the report window.

    ``None`` means CloudWatch returned no datapoint. Latencies are in
    microseconds, as SageMaker publishes them; utilizations in percent.
    """

    invocations: float | None = None
    latency_p50_us: float | None = None
    latency_p90_us: float | None = None
    latency_p99_us: float | None = None
    errors_4xx: float | None = None
    errors_5xx: float | None = None
    model_errors: float | None = None
    cpu_utilization: float | None = None
    memory_utilization: float | None = None


@dataclass(frozen=True, kw_only=True)
class ComparisonRow:
    """One metric of the comparison table. ``delta`` is shadow minus production."""

    key: str
    label: str
    unit: str
    production: float | None
    shadow: float | None
    delta: float | None
    ratio: float | None


@dataclass(frozen=True, kw_only=True)
class Check:
    """Result of one threshold check."""

    name: str
    status: CheckStatus
    observed: float | None
    threshold: float
    message: str


@dataclass(frozen=True, kw_only=True)
class Report:
    """Comparison table, checks and overall verdict of a shadow test."""

    rows: list[ComparisonRow] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    verdict: Verdict = Verdict.NOT_ENOUGH_DATA

    @property
    def exit_code(self) -> int:
        """Process exit code for the verdict: 0 promote, 1 hold, 2 not enough data."""
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> dict[str, object]:
        """JSON-serializable form (enums as their string values)."""
        return {
            "metrics": [asdict(row) for row in self.rows],
            "checks": [{**asdict(check), "status": str(check.status)} for check in self.checks],
            "verdict": str(self.verdict),
            "exit_code": self.exit_code,
        }


def error_rate(errors: float | None, invocations: float | None) -> float | None:
    """Errors as a percentage of invocations, or ``None`` without invocations.

    A variant that had invocations but published no error datapoint had no
    errors: SageMaker may omit zero-valued error datapoints.
    """
    if not invocations:
        return None
    return 100.0 * (errors or 0.0) / invocations


def _difference(production: float | None, shadow: float | None) -> float | None:
    if production is None or shadow is None:
        return None
    return shadow - production


def _ratio(production: float | None, shadow: float | None) -> float | None:
    if production is None or shadow is None or production == 0:
        return None
    return shadow / production


def comparison_rows(production: VariantStats, shadow: VariantStats) -> list[ComparisonRow]:
    """The comparison table: invocations, latency percentiles (ms), error rates (%), CPU and memory (%)."""

    def ms(value: float | None) -> float | None:
        return None if value is None else value / 1000.0

    spec: list[tuple[str, str, str, float | None, float | None]] = [
        ("invocations", "Invocations", "count", production.invocations, shadow.invocations),
        ("latency_p50_ms", "Model latency p50", "ms", ms(production.latency_p50_us), ms(shadow.latency_p50_us)),
        ("latency_p90_ms", "Model latency p90", "ms", ms(production.latency_p90_us), ms(shadow.latency_p90_us)),
        ("latency_p99_ms", "Model latency p99", "ms", ms(production.latency_p99_us), ms(shadow.latency_p99_us)),
    ]
    for key, label, attribute in (
        ("error_rate_4xx_pct", "4XX error rate", "errors_4xx"),
        ("error_rate_5xx_pct", "5XX error rate", "errors_5xx"),
        ("model_error_rate_pct", "Model error rate", "model_errors"),
    ):
        spec.append(
            (
                key,
                label,
                "%",
                error_rate(getattr(production, attribute), production.invocations),
                error_rate(getattr(shadow, attribute), shadow.invocations),
            )
        )
    spec += [
        ("cpu_utilization_pct", "CPU utilization", "%", production.cpu_utilization, shadow.cpu_utilization),
        ("memory_utilization_pct", "Memory utilization", "%", production.memory_utilization, shadow.memory_utilization),
    ]
    return [
        ComparisonRow(
            key=key,
            label=label,
            unit=unit,
            production=prod,
            shadow=shad,
            delta=_difference(prod, shad),
            ratio=_ratio(prod, shad),
        )
        for key, label, unit, prod, shad in spec
    ]


def check_min_invocations(
    production_invocations: float | None,
    shadow_invocations: float | None,
    minimum: int,
) -> Check:
    """Whether both variants received at least ``minimum`` invocations."""
    fewest = min(production_invocations or 0.0, shadow_invocations or 0.0)
    if fewest >= minimum:
        status, message = CheckStatus.PASS, f"both variants received at least {minimum} invocations"
    else:
        status = CheckStatus.INSUFFICIENT
        message = (
            f"production received {production_invocations or 0:g} and shadow {shadow_invocations or 0:g} "
            f"invocations; each needs at least {minimum}"
        )
    return Check(name="min-invocations", status=status, observed=fewest, threshold=minimum, message=message)


def check_latency_ratio(
    production_p99_us: float | None,
    shadow_p99_us: float | None,
    threshold: float,
) -> Check:
    """Whether shadow p99 latency is at most ``threshold`` times production's."""
    ratio = _ratio(production_p99_us, shadow_p99_us)
    if ratio is None:
        status, message = CheckStatus.INSUFFICIENT, "p99 model latency is missing for a variant (or 0 for production)"
    elif ratio <= threshold:
        status, message = CheckStatus.PASS, f"shadow p99 latency is {ratio:.2f}x production (limit {threshold:g}x)"
    else:
        status, message = CheckStatus.FAIL, f"shadow p99 latency is {ratio:.2f}x production, above {threshold:g}x"
    return Check(name="latency-ratio", status=status, observed=ratio, threshold=threshold, message=message)


def check_error_delta(
    production_rate_pct: float | None,
    shadow_rate_pct: float | None,
    threshold: float,
) -> Check:
    """Whether shadow 5XX rate exceeds production's by at most ``threshold`` percentage points."""
    delta = _difference(production_rate_pct, shadow_rate_pct)
    if delta is None:
        status, message = CheckStatus.INSUFFICIENT, "5XX error rate is unknown for a variant without invocations"
    elif delta <= threshold:
        status = CheckStatus.PASS
        message = f"shadow 5XX rate is {delta:+.2f} pp from production (limit +{threshold:g} pp)"
    else:
        status = CheckStatus.FAIL
        message = f"shadow 5XX rate is {delta:+.2f} pp from production, above +{threshold:g} pp"
    return Check(name="error-delta", status=status, observed=delta, threshold=threshold, message=message)


def overall_verdict(checks: list[Check]) -> Verdict:
    """``not enough data`` if any check lacks data, else ``hold`` if any failed, else ``promote``."""
    statuses = {check.status for check in checks}
    if not checks or CheckStatus.INSUFFICIENT in statuses:
        return Verdict.NOT_ENOUGH_DATA
    if CheckStatus.FAIL in statuses:
        return Verdict.HOLD
    return Verdict.PROMOTE


def evaluate(production: VariantStats, shadow: VariantStats, thresholds: Thresholds) -> Report:
    """Build the comparison table and run every check."""
    checks = [
        check_min_invocations(production.invocations, shadow.invocations, thresholds.min_invocations),
        check_latency_ratio(production.latency_p99_us, shadow.latency_p99_us, thresholds.latency_ratio),
        check_error_delta(
            error_rate(production.errors_5xx, production.invocations),
            error_rate(shadow.errors_5xx, shadow.invocations),
            thresholds.error_delta,
        ),
    ]
    return Report(rows=comparison_rows(production, shadow), checks=checks, verdict=overall_verdict(checks))

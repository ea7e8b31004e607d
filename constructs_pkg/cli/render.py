"""Terminal and JSON output of ``shadow-test``."""

from __future__ import annotations

import math
import statistics
from datetime import datetime, timedelta

from rich.console import Console
from rich.table import Table

from shadow_test_core.verdict.judge import Check, CheckStatus, Report, Verdict, percent, usable_periods
from shadow_test_core.verdict.period_data import PeriodData

from .aws import ExperimentInfo, VariantInfo

__all__ = ["experiment_heading", "print_plan", "print_report", "print_status"]

_VERDICT_STYLE = {
    Verdict.PROMOTE: "bold green",
    Verdict.HOLD: "bold red",
    Verdict.NOT_ENOUGH_DATA: "bold yellow",
}
_CHECK_STYLE = {
    CheckStatus.PASS: "green",
    CheckStatus.FAIL: "red",
    CheckStatus.NOT_ENOUGH_DATA: "yellow",
    CheckStatus.SHOWN: "dim",
}
_MISSING = "-"


def _time(moment: datetime | None) -> str:
    return _MISSING if moment is None else moment.isoformat(timespec="seconds")


def _duration(seconds: int) -> str:
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _value(check: Check, value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return _MISSING
    if math.isinf(value):
        return "unbounded"
    if check.unit == "ratio":
        return f"x{value:.3f}"
    return f"{value:{'+' if signed else ''}.3f} pp"


def _interval(check: Check) -> str:
    if check.lower is None or check.upper is None:
        return _MISSING
    return f"{_value(check, check.lower, signed=True)} to {_value(check, check.upper, signed=True)}"


def _margin(check: Check) -> str:
    return f"<= x{check.margin:.2f}" if check.unit == "ratio" else f"<= +{check.margin:.2f} pp"


def _percent(part: int, whole: int) -> str:
    return _MISSING if whole == 0 else f"{100 * part / whole:.3f} %"


def _totals(data: PeriodData) -> Table:
    """Totals over the periods judged, for orientation; the checks above decide."""
    periods = usable_periods(data)
    table = Table(title=f"Production vs shadow over the {len(periods)} periods judged")
    table.add_column("Metric")
    table.add_column("Production", justify="right")
    table.add_column("Shadow", justify="right")
    roles = {
        "production": [period.production for period in periods],
        "shadow": [period.shadow for period in periods],
    }
    invocations = {role: sum(variant.invocations for variant in variants) for role, variants in roles.items()}
    table.add_row("Invocations", *(f"{invocations[role]:,}" for role in roles))
    for label, field_name in (
        ("5XX error rate", "errors_5xx"),
        ("4XX error rate", "errors_4xx"),
        ("Model error rate", "model_errors"),
    ):
        cells = []
        for variants in roles.values():
            counted = [variant for variant in variants if getattr(variant, field_name) is not None]
            errors = sum(getattr(variant, field_name) for variant in counted)
            cells.append(_percent(errors, sum(variant.invocations for variant in counted)))
        if any(cell != _MISSING for cell in cells):  # 4XX and model errors are optional in saved data
            table.add_row(label, *cells)
    for percentile in ("p50", "p90", "p99"):
        cells = []
        for variants in roles.values():
            values = [getattr(v, f"latency_{percentile}_us") for v in variants]
            known = [value for value in values if value is not None]
            cells.append(_MISSING if not known else f"{statistics.median(known) / 1000:,.2f} ms")
        if any(cell != _MISSING for cell in cells):
            table.add_row(f"Model latency {percentile} (median of periods)", *cells)
    return table


def print_report(console: Console, report: Report, data: PeriodData, *, heading: str) -> None:
    """The checks with their estimates, intervals and margins, the totals and the verdict."""
    console.print(heading)
    if data.periods:
        last = data.periods[-1].start + timedelta(seconds=data.period_seconds)
        console.print(
            f"Data: {report.periods_total} periods of {_duration(data.period_seconds)} from "
            f"{_time(data.periods[0].start)} to {_time(last)}; {report.periods_without_traffic} left out "
            "(no traffic in a variant)"
        )
    else:
        console.print("Data: no periods")

    look = (
        ""
        if report.look is None
        else f" (look {report.look.number} of {report.look.planned}: {percent(report.margins.confidence)} spent over them)"
    )
    checks = Table(title=f"Checks: {percent(report.confidence)} intervals{look}, each must lie within its margin")
    for column, justify in (
        ("Check", "left"),
        ("Estimate", "right"),
        ("Interval", "right"),
        ("Margin", "right"),
        ("Periods", "right"),
        ("Result", "left"),
    ):
        checks.add_column(column, justify=justify)  # type: ignore[arg-type]
    for check in report.checks:
        style = _CHECK_STYLE[check.status]
        checks.add_row(
            check.label,
            _value(check, check.estimate, signed=True),
            _interval(check),
            _margin(check),
            str(check.periods),
            f"[{style}]{check.status}[/]",
        )
    console.print(checks)
    for check in report.checks:
        if check.decides:
            console.print(f"  {check.name}: {check.message}", markup=False)
    console.print(_totals(data))
    console.print(f"Verdict: [{_VERDICT_STYLE[report.verdict]}]{report.verdict}[/] (exit code {report.exit_code})")


def experiment_heading(experiment: ExperimentInfo) -> str:
    """First line of ``report``: the experiment, its status and its endpoint."""
    return f"[bold]Shadow test {experiment.name}[/] ({experiment.status}) on endpoint {experiment.endpoint_name}"


def _variant_text(variant: VariantInfo) -> str:
    parts = [variant.variant_name]
    if variant.model_name:
        parts.append(f"model {variant.model_name}")
    if variant.instance_type:
        parts.append(f"{variant.instance_count or '?'} x {variant.instance_type}")
    if variant.status:
        parts.append(variant.status)
    return ", ".join(parts)


def print_status(console: Console, experiment: ExperimentInfo) -> None:
    """Status, status reason, schedule, variants and sampling percentage."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    sampling = _MISSING if experiment.sampling_percentage is None else f"{experiment.sampling_percentage} %"
    for label, value in (
        ("Experiment", experiment.name),
        ("Status", experiment.status),
        ("Status reason", experiment.status_reason or _MISSING),
        ("Schedule", f"{_time(experiment.schedule_start)} to {_time(experiment.schedule_end)}"),
        ("Completed", _time(experiment.completion_time)),
        ("Endpoint", experiment.endpoint_name),
        ("Production variant", _variant_text(experiment.production)),
        ("Shadow variant", _variant_text(experiment.shadow)),
        ("Sampling percentage", sampling),
    ):
        grid.add_row(label, value)
    console.print(grid)


def print_plan(console: Console, experiment: ExperimentInfo, action: str, desired_state: str) -> None:
    """What ``promote`` or ``stop`` is about to do, before the confirmation prompt."""
    production, shadow = experiment.production, experiment.shadow
    if action == "promote":
        console.print(
            f"Promote shadow variant [bold]{_variant_text(shadow)}[/] to serve all traffic of endpoint "
            f"{experiment.endpoint_name}, and remove production variant [bold]{production.variant_name}[/]."
        )
    else:
        console.print(
            f"Stop shadow test {experiment.name}: keep production variant [bold]{production.variant_name}[/] "
            f"serving endpoint {experiment.endpoint_name} and remove shadow variant [bold]{shadow.variant_name}[/]."
        )
    console.print(f"The experiment ({experiment.status}) will end as {desired_state}.")

"""Terminal and JSON output of ``shadow-test``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from .aws import ExperimentInfo, VariantInfo
from .verdict import CheckStatus, ComparisonRow, Report, Thresholds, Verdict

__all__ = ["print_plan", "print_report", "print_status", "report_document"]

_VERDICT_STYLE = {
    Verdict.PROMOTE: "bold green",
    Verdict.HOLD: "bold red",
    Verdict.NOT_ENOUGH_DATA: "bold yellow",
}
_CHECK_STYLE = {CheckStatus.PASS: "green", CheckStatus.FAIL: "red", CheckStatus.INSUFFICIENT: "yellow"}
_MISSING = "-"


def _time(moment: datetime | None) -> str:
    return _MISSING if moment is None else moment.isoformat(timespec="seconds")


def _number(value: float | None, unit: str, *, signed: bool = False) -> str:
    if value is None:
        return _MISSING
    sign = "+" if signed else ""
    if unit == "count":
        return f"{value:{sign},.0f}"
    suffix = " %" if unit == "%" else f" {unit}"
    return f"{value:{sign},.2f}{suffix}"


def _delta(row: ComparisonRow) -> str:
    text = _number(row.delta, "pp" if row.unit == "%" else row.unit, signed=True)
    if row.ratio is not None and row.unit != "%":
        text += f" (x{row.ratio:.2f})"
    return text


def print_report(
    console: Console,
    experiment: ExperimentInfo,
    report: Report,
    *,
    window: tuple[datetime, datetime] | None,
) -> None:
    """The comparison table, the checks and the verdict."""
    console.print(
        f"[bold]Shadow test {experiment.name}[/] ({experiment.status}) on endpoint {experiment.endpoint_name}"
    )
    if window is None:
        console.print("Window: the experiment was not scheduled during the requested period")
    else:
        console.print(f"Window: {_time(window[0])} to {_time(window[1])}")

    table = Table(title="Production vs shadow")
    table.add_column("Metric")
    table.add_column(f"Production ({experiment.production.variant_name})", justify="right")
    table.add_column(f"Shadow ({experiment.shadow.variant_name})", justify="right")
    table.add_column("Delta", justify="right")
    for row in report.rows:
        table.add_row(row.label, _number(row.production, row.unit), _number(row.shadow, row.unit), _delta(row))
    console.print(table)

    checks = Table(title="Checks")
    checks.add_column("Check")
    checks.add_column("Result")
    checks.add_column("Detail")
    for check in report.checks:
        style = _CHECK_STYLE[check.status]
        checks.add_row(check.name, f"[{style}]{check.status}[/]", check.message)
    console.print(checks)
    console.print(f"Verdict: [{_VERDICT_STYLE[report.verdict]}]{report.verdict}[/] (exit code {report.exit_code})")


def report_document(
    experiment: ExperimentInfo,
    report: Report,
    *,
    thresholds: Thresholds,
    window: tuple[datetime, datetime] | None,
) -> dict[str, Any]:
    """The ``--json`` document."""
    return {
        "experiment": {
            "name": experiment.name,
            "arn": experiment.arn,
            "status": experiment.status,
            "endpoint_name": experiment.endpoint_name,
            "production_variant": experiment.production.variant_name,
            "shadow_variant": experiment.shadow.variant_name,
        },
        "window": None if window is None else {"start": window[0].isoformat(), "end": window[1].isoformat()},
        "thresholds": {
            "latency_ratio": thresholds.latency_ratio,
            "error_delta_pp": thresholds.error_delta,
            "min_invocations": thresholds.min_invocations,
        },
        **report.to_dict(),
    }


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

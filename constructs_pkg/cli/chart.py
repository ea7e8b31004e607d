"""PNG chart of a verdict: the per-period paired comparisons, the interval and the margin band.

matplotlib is imported only when a chart is written, so the rest of the command line needs
neither it nor its start-up time.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from shadow_test_core.verdict.judge import Check, Report, paired_ratios, usable_periods
from shadow_test_core.verdict.period_data import PeriodData

__all__ = ["MatplotlibMissing", "ensure_matplotlib", "write_chart"]

_POINTS = "#1f77b4"
_INTERVAL = "#2ca02c"
_BEYOND = "#d62728"
_RATIO_TICKS = (0.1, 0.2, 0.3, 0.5, 0.8, 1.0, 1.2, 1.5, 2.0, 3.0, 5.0, 10.0)


#: How to get matplotlib: the package's ``png`` extra (pyproject.toml) declares the versions that draw these charts.
_INSTALL_PNG_EXTRA = "pip install 'cdk-sagemaker-shadow-test[png]'"


class MatplotlibMissing(RuntimeError):
    """``--png`` was asked for but matplotlib is not installed."""


def ensure_matplotlib() -> None:
    """Fail before any AWS call if the chart could not be drawn afterwards."""
    if importlib.util.find_spec("matplotlib") is None:
        raise MatplotlibMissing(f"--png needs matplotlib, which the package's png extra installs: {_INSTALL_PNG_EXTRA}")


def _check(report: Report, name: str) -> Check:
    return next(check for check in report.checks if check.name == name)


def _verdict_band(axes: Any, check: Check, *, label: str) -> None:
    """The estimate, its interval as a band, and the margin with the region beyond it shaded."""
    axes.axhline(check.margin, color=_BEYOND, linestyle="--", linewidth=1.2, label=f"margin {label}")
    axes.axhspan(check.margin, check.margin * 1e6 if check.unit == "ratio" else 1e6, color=_BEYOND, alpha=0.07)
    if check.estimate is not None and check.lower is not None and check.upper is not None:
        axes.axhline(check.estimate, color=_INTERVAL, linewidth=1.5, label=f"estimate ({check.status})")
        # Clip an unbounded interval to the visible range instead of drawing to infinity.
        bottom, top = axes.get_ylim()
        axes.axhspan(
            max(check.lower, bottom),
            min(check.upper, top),
            color=_INTERVAL,
            alpha=0.25,
            label=f"{check.periods} periods, interval",
        )


def write_chart(path: str | Path, data: PeriodData, report: Report, *, title: str) -> None:
    """Write the p99 latency ratio and 5XX rate difference of each period, with the verdict, to ``path``."""
    ensure_matplotlib()
    # The object-oriented API with an Agg canvas: no pyplot global state and no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 7), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    latency_axes, error_axes = figure.subplots(2, 1, sharex=True)
    periods = usable_periods(data)

    latency = _check(report, "latency-p99")
    ratios = paired_ratios(periods)
    latency_axes.set_yscale("log")
    # Ratios read as "x1.2", not as powers of ten.
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    latency_axes.yaxis.set_major_locator(FixedLocator(_RATIO_TICKS))
    latency_axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _position: f"x{value:g}"))
    latency_axes.yaxis.set_minor_formatter(NullFormatter())
    if ratios:
        latency_axes.plot(
            [start for start, _ in ratios],
            [ratio for _, ratio in ratios],
            ".",
            color=_POINTS,
            alpha=0.7,
            label="period: shadow p99 / production p99",
        )
    latency_axes.axhline(1.0, color="grey", linewidth=0.8)
    values = [ratio for _, ratio in ratios] + [latency.margin, 1.0]
    latency_axes.set_ylim(min(values) / 1.1, max(values) * 1.1)
    _verdict_band(latency_axes, latency, label=f"x{latency.margin:g}")
    latency_axes.set_ylabel("p99 model latency ratio (log scale)")

    errors = _check(report, "error-5xx")
    deltas = [
        (
            period.start,
            100 * (period.shadow.errors_5xx / period.shadow.invocations)
            - 100 * (period.production.errors_5xx / period.production.invocations),
        )
        for period in periods
    ]
    if deltas:
        error_axes.plot(
            [start for start, _ in deltas],
            [delta for _, delta in deltas],
            ".",
            color=_POINTS,
            alpha=0.7,
            label="period: shadow - production 5XX rate",
        )
    error_axes.axhline(0.0, color="grey", linewidth=0.8)
    spread = [delta for _, delta in deltas] + [errors.margin, 0.0]
    pad = 0.1 * (max(spread) - min(spread) or 1.0)
    error_axes.set_ylim(min(spread) - pad, max(spread) + pad)
    _verdict_band(error_axes, errors, label=f"+{errors.margin:g} pp")
    error_axes.set_ylabel("5XX error rate difference (pp)")
    error_axes.set_xlabel("Period start (UTC)")

    latency_axes.set_title(f"{title}: {report.verdict}")
    for axes in (latency_axes, error_axes):
        axes.grid(True, alpha=0.3)
        if not (ratios if axes is latency_axes else deltas):
            axes.text(
                0.5,
                0.5,
                "no period with traffic in both variants",
                ha="center",
                va="center",
                transform=axes.transAxes,
                color="grey",
            )
        # Outside the plot, so no point is hidden behind it.
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    figure.autofmt_xdate()
    figure.savefig(Path(path), format="png")

"""PNG chart of a shadow test's latency and error series.

matplotlib is imported only when a chart is written, so the rest of the
command line needs neither it nor its start-up time.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from .verdict import error_rate

if TYPE_CHECKING:
    from .aws import Series

__all__ = ["MatplotlibMissing", "ensure_matplotlib", "write_chart"]

_COLORS = {"production": "#1f77b4", "shadow": "#ff7f0e"}


class MatplotlibMissing(RuntimeError):
    """``--png`` was asked for but matplotlib is not installed."""


def ensure_matplotlib() -> None:
    """Fail before any AWS call if the chart could not be drawn afterwards."""
    if importlib.util.find_spec("matplotlib") is None:
        raise MatplotlibMissing("--png needs matplotlib; install it with: pip install 'matplotlib==3.11.2'")


def write_chart(
    path: str | Path,
    series: dict[str, dict[str, Series]],
    *,
    title: str,
    production_label: str,
    shadow_label: str,
) -> None:
    """Write p50/p99 model latency (ms) and 5XX error rate (%) of both variants to ``path``.

    :param series: ``{"production"|"shadow": {field_name: Series}}`` with the
        fields ``latency_p50_us``, ``latency_p99_us``, ``errors_5xx`` and
        ``invocations``, as returned by ``aws.fetch_series``.
    """
    ensure_matplotlib()
    # The object-oriented API with an Agg canvas: no pyplot global state and
    # no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 7), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    latency_axes, error_axes = figure.subplots(2, 1, sharex=True)
    labels = {"production": production_label, "shadow": shadow_label}

    for role in ("production", "shadow"):
        variant = series.get(role, {})
        color = _COLORS[role]
        for field_name, style, percentile in (("latency_p50_us", ":", "p50"), ("latency_p99_us", "-", "p99")):
            points = variant.get(field_name)
            if points is not None and points.values:
                latency_axes.plot(
                    points.timestamps,
                    [value / 1000.0 for value in points.values],
                    style,
                    color=color,
                    marker=".",
                    label=f"{labels[role]} {percentile}",
                )
        timestamps, rates = _error_rate_series(variant.get("errors_5xx"), variant.get("invocations"))
        if timestamps:
            error_axes.plot(timestamps, rates, "-", color=color, marker=".", label=f"{labels[role]} 5XX")

    latency_axes.set_title(title)
    latency_axes.set_ylabel("Model latency (ms)")
    error_axes.set_ylabel("5XX error rate (%)")
    error_axes.set_xlabel("Time (UTC)")
    for axes in (latency_axes, error_axes):
        axes.grid(True, alpha=0.3)
        axes.set_ylim(bottom=0)
        if axes.has_data():
            # Outside the plot, so no line is hidden behind it.
            axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        else:
            axes.text(0.5, 0.5, "no data", ha="center", va="center", transform=axes.transAxes, color="grey")
    figure.autofmt_xdate()
    figure.savefig(Path(path), format="png")


def _error_rate_series(errors: Series | None, invocations: Series | None) -> tuple[list, list[float]]:
    if invocations is None:
        return [], []
    errors_at = dict(zip(errors.timestamps, errors.values, strict=True)) if errors is not None else {}
    timestamps, rates = [], []
    for timestamp, count in zip(invocations.timestamps, invocations.values, strict=True):
        rate = error_rate(errors_at.get(timestamp), count)
        if rate is not None:
            timestamps.append(timestamp)
            rates.append(rate)
    return timestamps, rates

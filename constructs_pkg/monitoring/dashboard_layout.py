"""The dashboard's graphs: one per metric group and variant, side by side."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch

from constructs_pkg.monitoring.metrics import VariantMetrics

FULL_WIDTH = 24
HALF_WIDTH = 12
GRAPH_HEIGHT = 6


@dataclass(frozen=True, kw_only=True)
class GraphGroup:
    title: str
    y_label: str
    # (VariantMetrics method, line label, statistic or None for the method's default)
    lines: tuple[tuple[str, str, str | None], ...]


GRAPH_GROUPS = (
    GraphGroup(
        title="Model latency",
        y_label="microseconds",
        lines=(
            ("metric_model_latency", "p50", "p50"),
            ("metric_model_latency", "p90", "p90"),
            ("metric_model_latency", "p99", "p99"),
        ),
    ),
    GraphGroup(
        title="Errors",
        y_label="count",
        lines=(
            ("metric_invocation_4xx_errors", "4XX", None),
            ("metric_invocation_5xx_errors", "5XX", None),
            ("metric_invocation_model_errors", "Model errors", None),
        ),
    ),
    GraphGroup(
        title="Invocations",
        y_label="count",
        lines=(("metric_invocations", "Invocations", None),),
    ),
    GraphGroup(
        title="Instance utilization",
        y_label="percent",
        lines=(
            ("metric_cpu_utilization", "CPU", None),
            ("metric_memory_utilization", "Memory", None),
            ("metric_disk_utilization", "Disk", None),
        ),
    ),
)


def variant_graph(group: GraphGroup, role: str, variant: VariantMetrics, period: Duration) -> cloudwatch.GraphWidget:
    metrics: list[cloudwatch.IMetric] = []
    for method, label, statistic in group.lines:
        overrides: dict[str, object] = {"label": label, "period": period}
        if statistic is not None:
            overrides["statistic"] = statistic
        metrics.append(getattr(variant, method)(**overrides))
    return cloudwatch.GraphWidget(
        title=f"{group.title} - {role} ({variant.variant_name})",
        left=metrics,
        left_y_axis=cloudwatch.YAxisProps(label=group.y_label, min=0, show_units=False),
        width=HALF_WIDTH,
        height=GRAPH_HEIGHT,
    )

"""What a shadow test compares: shadow against production, as CloudWatch metric math.

Metric factories, kept apart from what to do about them (the dashboard and alarms of
``monitoring.py``), as cdk-monitoring-constructs keeps them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch

from constructs_pkg.monitoring.metrics import VariantMetrics

if TYPE_CHECKING:
    from typing import Unpack

__all__ = ["DEFAULT_PERIOD", "ComparisonMetricsMixin", "MathExpressionOverrides"]

#: The period of the comparison metrics unless overridden (Duration is immutable: one instance is safe).
DEFAULT_PERIOD = Duration.minutes(5)


class MathExpressionOverrides(TypedDict, total=False):
    """Keyword overrides accepted by the ``metric_*`` methods returning a ``MathExpression``.

    The same fields as ``aws_cloudwatch.MathExpressionOptions``.
    """

    color: str
    label: str
    period: Duration
    search_account: str
    search_region: str


class ComparisonMetricsMixin:
    """``metric_*`` comparisons of a shadow test's two variants; the class sets ``production`` and ``shadow``."""

    production: VariantMetrics
    """Metrics of the production (source) variant."""

    shadow: VariantMetrics
    """Metrics of the shadow variant."""

    def metric_latency_ratio(
        self,
        *,
        statistic: str = cloudwatch.Stats.p(99),
        **options: Unpack[MathExpressionOverrides],
    ) -> cloudwatch.MathExpression:
        """Shadow ``ModelLatency`` divided by production ``ModelLatency``.

        1.0 means parity, 1.2 means the shadow model is 20 % slower.

        :param statistic: statistic of both latencies. Default: ``p99``, since a
            model usually regresses in its tail first and the average hides it.
        :param options: ``MathExpressionOptions`` overrides. Default: period
            5 minutes, label ``"Shadow / production ModelLatency <statistic>"``.
        """
        production, shadow = self._variant_metrics()
        return self._math(
            "shadowLatency / productionLatency",
            {
                "shadowLatency": shadow.metric_model_latency(statistic=statistic),
                "productionLatency": production.metric_model_latency(statistic=statistic),
            },
            f"Shadow / production ModelLatency {statistic}",
            options,
        )

    def metric_error_rate_delta(self, **options: Unpack[MathExpressionOverrides]) -> cloudwatch.MathExpression:
        """Shadow 5XX error rate minus production 5XX error rate, in percentage points.

        Each rate is ``100 * Invocation5XXErrors / Invocations`` of its
        variant. Periods in which either variant had no invocations have no
        value.

        :param options: ``MathExpressionOptions`` overrides. Default: period
            5 minutes, label ``"Shadow - production 5XX error rate (pp)"``.
        """
        production, shadow = self._variant_metrics()
        return self._math(
            # A variant without errors may publish no Invocation5XXErrors
            # datapoint at all; FILL keeps the rate defined as 0 then.
            "100 * FILL(shadowErrors, 0) / shadowInvocations - 100 * FILL(productionErrors, 0) / productionInvocations",
            {
                "shadowErrors": shadow.metric_invocation_5xx_errors(),
                "shadowInvocations": shadow.metric_invocations(),
                "productionErrors": production.metric_invocation_5xx_errors(),
                "productionInvocations": production.metric_invocations(),
            },
            "Shadow - production 5XX error rate (pp)",
            options,
        )

    def _metric_missing_shadow_invocations(self, period: Duration) -> cloudwatch.MathExpression:
        production, shadow = self._variant_metrics()
        return self._math(
            # SageMaker publishes no Invocations datapoint for a period without
            # requests, so FILL turns "no datapoint" into the 0 it means.
            "IF(FILL(productionInvocations, 0) > 0 AND FILL(shadowInvocations, 0) == 0, 1, 0)",
            {
                "productionInvocations": production.metric_invocations(),
                "shadowInvocations": shadow.metric_invocations(),
            },
            "Shadow received no invocations while production did (1 = yes)",
            {"period": period},
        )

    @staticmethod
    def _math(
        expression: str,
        using_metrics: dict[str, cloudwatch.IMetric],
        label: str,
        options: MathExpressionOverrides,
    ) -> cloudwatch.MathExpression:
        props: dict[str, object] = {"label": label, "period": DEFAULT_PERIOD}
        props.update(options)
        return cloudwatch.MathExpression(expression=expression, using_metrics=using_metrics, **props)  # type: ignore[arg-type]

    def _variant_metrics(self) -> tuple[VariantMetrics, VariantMetrics]:
        production = getattr(self, "production", None)
        shadow = getattr(self, "shadow", None)
        if not isinstance(production, VariantMetrics) or not isinstance(shadow, VariantMetrics):
            raise AttributeError(
                f"{type(self).__name__} must set `production` and `shadow` to VariantMetrics "
                "before using the ExperimentMonitoringMixin methods"
            )
        return production, shadow

"""CloudWatch metrics of one SageMaker endpoint variant.

A shadow test compares two variants of the same endpoint, so every metric in
this package is addressed by the pair (endpoint name, variant name).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch

from constructs_pkg.tokens import is_token
from shadow_test_core.verdict import metric_names

if TYPE_CHECKING:
    from typing import Unpack

__all__ = [
    "ENDPOINT_INSTANCE_NAMESPACE",
    "INVOCATION_NAMESPACE",
    "MetricOverrides",
    "VariantMetrics",
]

INVOCATION_NAMESPACE = metric_names.INVOCATION_NAMESPACE
"""Namespace of the invocation metrics (counts, latencies, errors)."""

ENDPOINT_INSTANCE_NAMESPACE = metric_names.INSTANCE_NAMESPACE
"""Namespace of the instance metrics (CPU, memory, disk utilization)."""

_DEFAULT_PERIOD_MINUTES = 5


class MetricOverrides(TypedDict, total=False):
    """Keyword overrides accepted by every ``metric_*`` method.

    The same fields as ``aws_cloudwatch.MetricOptions``. ``dimensions_map``
    replaces the default ``EndpointName``/``VariantName`` dimensions rather
    than merging with them, as the ``metric*`` methods of aws-cdk-lib do.
    """

    account: str
    color: str
    dimensions_map: dict[str, str]
    id: str
    label: str
    period: Duration
    region: str
    stack_account: str
    stack_region: str
    statistic: str
    unit: cloudwatch.Unit
    visible: bool


@dataclass(frozen=True, kw_only=True)
class VariantMetrics:
    """The CloudWatch metrics of one production or shadow variant of an endpoint.

    Every method returns a new ``aws_cloudwatch.Metric`` with the dimensions
    ``EndpointName`` and ``VariantName`` and a period of 5 minutes. Count
    metrics default to the ``Sum`` statistic; latency and utilization
    metrics default to ``Average``. Any ``MetricOptions`` field can be
    overridden with a keyword argument, e.g.
    ``metric_model_latency(statistic="p99", period=Duration.minutes(1))``.

    :param endpoint_name: name of the SageMaker endpoint; may be a token.
    :param variant_name: name of the production or shadow variant; may be a token.
    """

    endpoint_name: str
    variant_name: str

    def __post_init__(self) -> None:
        for field_name in ("endpoint_name", "variant_name"):
            value = getattr(self, field_name)
            if not isinstance(value, str):
                raise TypeError(f"VariantMetrics.{field_name} must be a str, got {type(value).__name__}")
            if not is_token(value) and not value.strip():
                raise ValueError(f"VariantMetrics.{field_name} must not be empty")

    # -- generic ---------------------------------------------------------------

    def metric(
        self,
        metric_name: str,
        *,
        namespace: str = INVOCATION_NAMESPACE,
        **options: Unpack[MetricOverrides],
    ) -> cloudwatch.Metric:
        """Any metric of this variant.

        :param metric_name: CloudWatch metric name, e.g. ``"Invocations"``.
        :param namespace: CloudWatch namespace. Default: ``"AWS/SageMaker"``.
        :param options: ``MetricOptions`` overrides. Default: statistic
            ``Average``, period 5 minutes, dimensions ``EndpointName`` and
            ``VariantName`` of this variant.
        """
        props: dict[str, object] = {
            "statistic": cloudwatch.Stats.AVERAGE,
            "period": Duration.minutes(_DEFAULT_PERIOD_MINUTES),
            "dimensions_map": self._dimensions(),
        }
        props.update(options)
        return cloudwatch.Metric(metric_name=metric_name, namespace=namespace, **props)  # type: ignore[arg-type]

    # -- invocation metrics (AWS/SageMaker) -------------------------------------

    def metric_invocations(self, **options: Unpack[MetricOverrides]) -> cloudwatch.Metric:
        """Number of requests sent to this variant (``Invocations``).

        Default: ``Sum`` over 5 minutes.
        """
        return self._count(metric_names.INVOCATIONS, options)

    def metric_model_latency(self, **options: Unpack[MetricOverrides]) -> cloudwatch.Metric:
        """Time the model container took to respond, in microseconds (``ModelLatency``).

        Default: ``Average`` over 5 minutes. Pass ``statistic="p99"`` (or
        ``cloudwatch.Stats.p(99)``) for a tail latency.
        """
        return self._average(metric_names.MODEL_LATENCY, options)

    def metric_overhead_latency(self, **options: Unpack[MetricOverrides]) -> cloudwatch.Metric:
        """Time SageMaker added on top of the model, in microseconds (``OverheadLatency``).

        Default: ``Average`` over 5 minutes.
        """
        return self._average(metric_names.OVERHEAD_LATENCY, options)

    def metric_invocation_4xx_errors(self, **options: Unpack[MetricOverrides]) -> cloudwatch.Metric:
        """Requests for which the variant returned a 4xx code (``Invocation4XXErrors``).

        Default: ``Sum`` over 5 minutes.
        """
        return self._count(metric_names.INVOCATION_4XX_ERRORS, options)

    def metric_invocation_5xx_errors(self, **options: Unpack[MetricOverrides]) -> cloudwatch.Metric:
        """Requests for which the variant returned a 5xx code (``Invocation5XXErrors``).

        Default: ``Sum`` over 5 minutes.
        """
        return self._count(metric_names.INVOCATION_5XX_ERRORS, options)

    def metric_invocation_model_errors(self, **options: Unpack[MetricOverrides]) -> cloudwatch.Metric:
        """Requests for which the model returned a non-2xx response (``InvocationModelErrors``).

        Default: ``Sum`` over 5 minutes.
        """
        return self._count(metric_names.INVOCATION_MODEL_ERRORS, options)

    # -- instance metrics (/aws/sagemaker/Endpoints) -----------------------------

    def metric_cpu_utilization(self, **options: Unpack[MetricOverrides]) -> cloudwatch.Metric:
        """CPU utilization of the variant's instances, in percent (``CPUUtilization``).

        The value is summed over CPU cores, so it can exceed 100 on
        multi-core instances. Default: ``Average`` over 5 minutes.
        """
        return self._average(metric_names.CPU_UTILIZATION, options, namespace=ENDPOINT_INSTANCE_NAMESPACE)

    def metric_memory_utilization(self, **options: Unpack[MetricOverrides]) -> cloudwatch.Metric:
        """Memory utilization of the variant's instances, in percent (``MemoryUtilization``).

        Default: ``Average`` over 5 minutes.
        """
        return self._average(metric_names.MEMORY_UTILIZATION, options, namespace=ENDPOINT_INSTANCE_NAMESPACE)

    def metric_disk_utilization(self, **options: Unpack[MetricOverrides]) -> cloudwatch.Metric:
        """Disk utilization of the variant's instances, in percent (``DiskUtilization``).

        Default: ``Average`` over 5 minutes.
        """
        return self._average(metric_names.DISK_UTILIZATION, options, namespace=ENDPOINT_INSTANCE_NAMESPACE)

    # -- helpers -----------------------------------------------------------------

    def _dimensions(self) -> dict[str, str]:
        return {metric_names.ENDPOINT_DIMENSION: self.endpoint_name, metric_names.VARIANT_DIMENSION: self.variant_name}

    def _count(self, metric_name: str, options: MetricOverrides) -> cloudwatch.Metric:
        options.setdefault("statistic", cloudwatch.Stats.SUM)
        return self.metric(metric_name, **options)

    def _average(
        self,
        metric_name: str,
        options: MetricOverrides,
        *,
        namespace: str = INVOCATION_NAMESPACE,
    ) -> cloudwatch.Metric:
        options.setdefault("statistic", cloudwatch.Stats.AVERAGE)
        return self.metric(metric_name, namespace=namespace, **options)

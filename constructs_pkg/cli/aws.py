"""The AWS calls of ``shadow-test``: SageMaker inference experiments and CloudWatch metrics.

Clients come from boto3's default session, so the usual environment works:
``AWS_PROFILE``, ``AWS_REGION``, and ``AWS_ENDPOINT_URL_SAGEMAKER`` /
``AWS_ENDPOINT_URL_CLOUDWATCH`` for stand-ins.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import boto3

from shadow_test_core.experiment import settings
from shadow_test_core.experiment.sagemaker_api import described_values
from shadow_test_core.experiment.spec import stop_request
from shadow_test_core.experiment.statuses import ENDED
from shadow_test_core.verdict import metric_names
from shadow_test_core.verdict.period_data import Period, PeriodData, VariantPeriod

from .window import QueryWindow

__all__ = [
    "PERIOD_QUERIES",
    "TERMINAL_STATUSES",
    "ExperimentInfo",
    "MetricQuery",
    "Series",
    "VariantInfo",
    "WaitTimeout",
    "cloudwatch_client",
    "describe_experiment",
    "fetch_periods",
    "parse_experiment",
    "sagemaker_client",
    "stop_experiment",
    "wait_until_stopped",
]

TERMINAL_STATUSES = ENDED
"""Experiment statuses after which nothing changes any more."""

_MAX_QUERIES_PER_CALL = 500


def sagemaker_client(region: str | None = None) -> Any:
    """SageMaker client from the default boto3 session."""
    return boto3.client("sagemaker", region_name=region)


def cloudwatch_client(region: str | None = None) -> Any:
    """CloudWatch client from the default boto3 session."""
    return boto3.client("cloudwatch", region_name=region)


# -- experiments ----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class VariantInfo:
    """A model variant of the experiment, as ``DescribeInferenceExperiment`` reports it."""

    variant_name: str
    model_name: str | None = None
    instance_type: str | None = None
    instance_count: int | None = None
    status: str | None = None
    infrastructure_config: dict[str, Any] | None = None

    def model_variant_config(self) -> dict[str, Any]:
        """This variant as a ``ModelVariantConfig`` for ``StopInferenceExperiment``."""
        if self.model_name is None or self.infrastructure_config is None:
            raise ValueError(f"variant {self.variant_name!r} has no model or infrastructure configuration")
        return {
            "ModelName": self.model_name,
            "VariantName": self.variant_name,
            "InfrastructureConfig": self.infrastructure_config,
        }


@dataclass(frozen=True, kw_only=True)
class ExperimentInfo:
    """What ``shadow-test`` needs from ``DescribeInferenceExperiment``."""

    name: str
    arn: str | None
    status: str
    status_reason: str | None
    endpoint_name: str
    production: VariantInfo
    shadow: VariantInfo
    sampling_percentage: int | None
    schedule_start: datetime | None
    schedule_end: datetime | None
    completion_time: datetime | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_terminal(self) -> bool:
        """Whether the experiment is ``Completed`` or ``Cancelled``."""
        return self.status in TERMINAL_STATUSES


def parse_experiment(response: dict[str, Any]) -> ExperimentInfo:
    """Read a ``DescribeInferenceExperiment`` response of a ``ShadowMode`` experiment.

    The settings (variants, models, instances, sampling, schedule) are read by the core's
    ``described_values``, as the custom-resource handler reads them.
    """
    name = response["Name"]
    if response.get("Type", "ShadowMode") != "ShadowMode":
        raise ValueError(f"inference experiment {name!r} has type {response['Type']!r}, not ShadowMode")
    values = described_values(response)
    if not values["production_variant.variant_name"] or not values["shadow_variant.variant_name"]:
        raise ValueError(f"inference experiment {name!r} has no ShadowModeConfig with a shadow variant")
    statuses = {entry.get("VariantName"): entry for entry in response.get("ModelVariants", [])}

    def variant(prop: str) -> VariantInfo:
        variant_name = values[f"{prop}.variant_name"]
        entry = statuses.get(variant_name, {})
        return VariantInfo(
            variant_name=variant_name,
            model_name=values[f"{prop}.model_name"],
            instance_type=values[f"{prop}.instance_type"],
            instance_count=values[f"{prop}.instance_count"],
            status=entry.get("Status"),
            infrastructure_config=entry.get("InfrastructureConfig"),
        )

    return ExperimentInfo(
        name=name,
        arn=response.get("Arn"),
        status=response["Status"],
        status_reason=response.get("StatusReason"),
        endpoint_name=values["endpoint_name"],
        production=variant("production_variant"),
        shadow=variant("shadow_variant"),
        sampling_percentage=values["sampling_percentage"],
        schedule_start=values["schedule.start_time"],
        schedule_end=values["schedule.end_time"],
        completion_time=response.get("CompletionTime"),
        raw=response,
    )


def describe_experiment(client: Any, name: str) -> ExperimentInfo:
    """``DescribeInferenceExperiment``, parsed."""
    return parse_experiment(client.describe_inference_experiment(Name=name))


def stop_experiment(
    client: Any,
    experiment: ExperimentInfo,
    *,
    action: Literal["promote", "stop"],
    desired_state: str = settings.DESIRED_COMPLETED,
    reason: str | None = None,
) -> dict[str, Any]:
    """``StopInferenceExperiment``; returns the request that was sent.

    ``promote`` promotes the shadow variant (deployed with its own
    infrastructure configuration) and removes production; ``stop`` retains
    production and removes the shadow variant.
    """
    request = stop_request(
        name=experiment.name,
        production_variant=experiment.production.variant_name,
        shadow_variant=experiment.shadow.variant_name,
        action="Promote" if action == "promote" else "Remove",
        promoted=experiment.shadow.model_variant_config() if action == "promote" else None,
        desired_state=desired_state,
    )
    if reason:
        request["Reason"] = reason
    client.stop_inference_experiment(**request)
    return request


class WaitTimeout(TimeoutError):
    """The experiment did not reach a terminal status in time."""

    def __init__(self, experiment: ExperimentInfo, waited: float) -> None:
        super().__init__(f"{experiment.name} is still {experiment.status} after {waited:.0f}s")
        self.experiment = experiment


def wait_until_stopped(
    client: Any,
    name: str,
    *,
    poll_interval: float,
    timeout: float,
    on_poll: Callable[[ExperimentInfo, float], None] = lambda _experiment, _elapsed: None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ExperimentInfo:
    """Poll until the experiment is ``Completed`` or ``Cancelled``.

    :param on_poll: called after every poll with the experiment and the
        seconds elapsed, e.g. to show progress.
    :raises WaitTimeout: if ``timeout`` seconds pass first.
    """
    started = clock()
    while True:
        experiment = describe_experiment(client, name)
        elapsed = clock() - started
        on_poll(experiment, elapsed)
        if experiment.is_terminal:
            return experiment
        if elapsed + poll_interval > timeout:
            raise WaitTimeout(experiment, elapsed)
        sleep(poll_interval)


# -- metrics --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class MetricQuery:
    """One statistic of one metric of one variant, and the period-data field it fills."""

    field_name: str
    metric_name: str
    statistic: str
    namespace: str = metric_names.INVOCATION_NAMESPACE


PERIOD_QUERIES: tuple[MetricQuery, ...] = (
    MetricQuery(field_name="invocations", metric_name=metric_names.INVOCATIONS, statistic="Sum"),
    MetricQuery(field_name="errors_5xx", metric_name=metric_names.INVOCATION_5XX_ERRORS, statistic="Sum"),
    MetricQuery(field_name="errors_4xx", metric_name=metric_names.INVOCATION_4XX_ERRORS, statistic="Sum"),
    MetricQuery(field_name="model_errors", metric_name=metric_names.INVOCATION_MODEL_ERRORS, statistic="Sum"),
    MetricQuery(field_name="latency_p50_us", metric_name=metric_names.MODEL_LATENCY, statistic="p50"),
    MetricQuery(field_name="latency_p90_us", metric_name=metric_names.MODEL_LATENCY, statistic="p90"),
    MetricQuery(field_name="latency_p99_us", metric_name=metric_names.MODEL_LATENCY, statistic="p99"),
)
"""What the verdict is computed from, per variant and period."""


@dataclass(frozen=True, kw_only=True)
class Series:
    """Datapoints of one query, oldest first."""

    timestamps: list[datetime]
    values: list[float]


def _query_id(role: str, query: MetricQuery) -> str:
    # GetMetricData ids must start with a lowercase letter.
    return f"{role}_{query.field_name}"


def _metric_data_queries(
    experiment: ExperimentInfo,
    queries: Iterable[MetricQuery],
    period: int,
) -> list[dict[str, Any]]:
    result = []
    for role, variant in (("production", experiment.production), ("shadow", experiment.shadow)):
        for query in queries:
            result.append(
                {
                    "Id": _query_id(role, query),
                    "MetricStat": {
                        "Metric": {
                            "Namespace": query.namespace,
                            "MetricName": query.metric_name,
                            "Dimensions": [
                                {"Name": metric_names.ENDPOINT_DIMENSION, "Value": experiment.endpoint_name},
                                {"Name": metric_names.VARIANT_DIMENSION, "Value": variant.variant_name},
                            ],
                        },
                        "Period": period,
                        "Stat": query.statistic,
                    },
                    "ReturnData": True,
                }
            )
    return result


def _get_metric_data(client: Any, queries: list[dict[str, Any]], window: QueryWindow) -> dict[str, Series]:
    points: dict[str, dict[datetime, float]] = {query["Id"]: {} for query in queries}
    for offset in range(0, len(queries), _MAX_QUERIES_PER_CALL):
        batch = queries[offset : offset + _MAX_QUERIES_PER_CALL]
        kwargs: dict[str, Any] = {
            "MetricDataQueries": batch,
            "StartTime": window.start,
            "EndTime": window.end,
            "ScanBy": "TimestampAscending",
        }
        while True:
            response = client.get_metric_data(**kwargs)
            for result in response.get("MetricDataResults", []):
                for timestamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                    if value is not None:
                        points[result["Id"]][timestamp] = float(value)
            token = response.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
    return {
        query_id: Series(timestamps=sorted(by_time), values=[by_time[t] for t in sorted(by_time)])
        for query_id, by_time in points.items()
    }


def _by_period(series: Series, window: QueryWindow) -> dict[int, float]:
    """Datapoints keyed by the index of the period they fall in."""
    result = {}
    for timestamp, value in zip(series.timestamps, series.values, strict=True):
        index = int((timestamp - window.start).total_seconds() // window.period)
        result[index] = value
    return result


def _variant_period(values: dict[str, float | None]) -> VariantPeriod:
    invocations = round(values["invocations"] or 0)
    if invocations == 0:
        return VariantPeriod(invocations=0, errors_5xx=0, latency_p99_us=None, errors_4xx=0, model_errors=0)

    def count(field_name: str) -> int:
        # SageMaker may omit a zero error datapoint; an error count above the invocations (datapoints
        # published a moment apart) is capped so the period stays consistent.
        return min(invocations, round(values[field_name] or 0))

    return VariantPeriod(
        invocations=invocations,
        errors_5xx=count("errors_5xx"),
        errors_4xx=count("errors_4xx"),
        model_errors=count("model_errors"),
        latency_p50_us=values["latency_p50_us"] or None,
        latency_p90_us=values["latency_p90_us"] or None,
        latency_p99_us=values["latency_p99_us"] or None,
    )


def fetch_periods(client: Any, experiment: ExperimentInfo, window: QueryWindow) -> PeriodData:
    """Both variants' numbers for every period of ``window``, as the verdict and ``--json`` take them."""
    series = _get_metric_data(client, _metric_data_queries(experiment, PERIOD_QUERIES, window.period), window)
    indexed = {query_id: _by_period(points, window) for query_id, points in series.items()}
    count = int((window.end - window.start).total_seconds() // window.period)
    periods = []
    for index in range(count):
        variants = {
            role: _variant_period(
                {query.field_name: indexed[_query_id(role, query)].get(index) for query in PERIOD_QUERIES}
            )
            for role in ("production", "shadow")
        }
        periods.append(
            Period(
                start=window.start + timedelta(seconds=index * window.period),
                production=variants["production"],
                shadow=variants["shadow"],
            )
        )
    return PeriodData(experiment=experiment.name, period_seconds=window.period, periods=tuple(periods))

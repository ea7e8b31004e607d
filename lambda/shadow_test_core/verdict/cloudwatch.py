"""The one CloudWatch reader of the verdict: both variants' numbers per period, from ``GetMetricData``.

Plain ``MetricStat`` queries (no metric math), one per statistic, variant and metric, batched 500 to
a call and paged. ``shadow-test report`` and the conclusion function both read through
:func:`fetch_periods`, so they judge the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shadow_test_core.verdict import metric_names
from shadow_test_core.verdict.described import ExperimentInfo
from shadow_test_core.verdict.period_data import Period, PeriodData, VariantPeriod
from shadow_test_core.verdict.window import QueryWindow

__all__ = ["PERIOD_QUERIES", "MetricQuery", "Series", "fetch_periods"]

_MAX_QUERIES_PER_CALL = 500


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

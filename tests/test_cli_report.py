"""The ``shadow-test`` command line against moto (CloudWatch) and the loopback SageMaker stand-in.

moto 5.2.5 has no SageMaker inference experiments, so ``DescribeInferenceExperiment``
and ``StopInferenceExperiment`` are served by ``devtools/sagemaker_standin`` on
127.0.0.1, reached through ``AWS_ENDPOINT_URL_SAGEMAKER`` exactly as a user
would point the CLI at a stand-in; moto's in-process mock lets that loopback
traffic through. moto's ``GetMetricData`` does not compute percentile
statistics either, so ``_moto_percentiles`` teaches it ``pNN`` (nearest rank).
"""

from __future__ import annotations

import io
import itertools
import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.cloudwatch import models as cloudwatch_models

from constructs_pkg.cli import main as cli
from constructs_pkg.cli.aws import parse_experiment
from constructs_pkg.cli.verdict import (
    Check,
    CheckStatus,
    Thresholds,
    VariantStats,
    Verdict,
    check_error_delta,
    check_latency_ratio,
    check_min_invocations,
    error_rate,
    evaluate,
    overall_verdict,
)
from constructs_pkg.cli.window import parse_duration, report_window, series_window, summary_window
from devtools.sagemaker_standin import SageMakerStandIn

ROLE_ARN = "arn:aws:iam::123456789012:role/shadow-test"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# =====================================================================================
# Pure functions, table-driven
# =====================================================================================

GOOD = VariantStats(invocations=1000, latency_p99_us=50_000, errors_5xx=10)


@pytest.mark.parametrize(
    ("name", "production", "shadow", "thresholds", "verdict", "statuses"),
    [
        ("equal", GOOD, GOOD, Thresholds(), Verdict.PROMOTE, ["pass", "pass", "pass"]),
        (
            "faster and cleaner",
            GOOD,
            VariantStats(invocations=1000, latency_p99_us=40_000, errors_5xx=0),
            Thresholds(),
            Verdict.PROMOTE,
            ["pass", "pass", "pass"],
        ),
        (
            "latency exactly at the limit passes",
            GOOD,
            VariantStats(invocations=1000, latency_p99_us=60_000, errors_5xx=10),
            Thresholds(),
            Verdict.PROMOTE,
            ["pass", "pass", "pass"],
        ),
        (
            "latency just above the limit",
            GOOD,
            VariantStats(invocations=1000, latency_p99_us=60_001, errors_5xx=10),
            Thresholds(),
            Verdict.HOLD,
            ["pass", "fail", "pass"],
        ),
        (
            "errors one point above passes",
            GOOD,
            VariantStats(invocations=1000, latency_p99_us=50_000, errors_5xx=20),
            Thresholds(),
            Verdict.PROMOTE,
            ["pass", "pass", "pass"],
        ),
        (
            "errors above the limit",
            GOOD,
            VariantStats(invocations=1000, latency_p99_us=50_000, errors_5xx=21),
            Thresholds(),
            Verdict.HOLD,
            ["pass", "pass", "fail"],
        ),
        (
            "stricter error limit",
            GOOD,
            VariantStats(invocations=1000, latency_p99_us=50_000, errors_5xx=15),
            Thresholds(error_delta=0.25),
            Verdict.HOLD,
            ["pass", "pass", "fail"],
        ),
        (
            "both regress",
            GOOD,
            VariantStats(invocations=1000, latency_p99_us=90_000, errors_5xx=100),
            Thresholds(),
            Verdict.HOLD,
            ["pass", "fail", "fail"],
        ),
        (
            "too few shadow invocations beats a failure",
            GOOD,
            VariantStats(invocations=99, latency_p99_us=90_000, errors_5xx=50),
            Thresholds(),
            Verdict.NOT_ENOUGH_DATA,
            ["insufficient data", "fail", "fail"],
        ),
        (
            "lower minimum",
            GOOD,
            VariantStats(invocations=99, latency_p99_us=50_000, errors_5xx=1),
            Thresholds(min_invocations=50),
            Verdict.PROMOTE,
            ["pass", "pass", "pass"],
        ),
        (
            "no shadow data at all",
            GOOD,
            VariantStats(),
            Thresholds(),
            Verdict.NOT_ENOUGH_DATA,
            ["insufficient data", "insufficient data", "insufficient data"],
        ),
        (
            "no data at all",
            VariantStats(),
            VariantStats(),
            Thresholds(),
            Verdict.NOT_ENOUGH_DATA,
            ["insufficient data", "insufficient data", "insufficient data"],
        ),
        (
            "missing error datapoints mean no errors",
            VariantStats(invocations=1000, latency_p99_us=50_000),
            VariantStats(invocations=1000, latency_p99_us=50_000),
            Thresholds(),
            Verdict.PROMOTE,
            ["pass", "pass", "pass"],
        ),
        (
            "production latency of zero cannot be compared",
            VariantStats(invocations=1000, latency_p99_us=0),
            GOOD,
            Thresholds(),
            Verdict.NOT_ENOUGH_DATA,
            ["pass", "insufficient data", "pass"],
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_evaluate(
    name: str,
    production: VariantStats,
    shadow: VariantStats,
    thresholds: Thresholds,
    verdict: Verdict,
    statuses: list[str],
) -> None:
    report = evaluate(production, shadow, thresholds)
    assert report.verdict == verdict
    assert [check.name for check in report.checks] == ["min-invocations", "latency-ratio", "error-delta"]
    assert [str(check.status) for check in report.checks] == statuses
    assert report.exit_code == {Verdict.PROMOTE: 0, Verdict.HOLD: 1, Verdict.NOT_ENOUGH_DATA: 2}[verdict]


@pytest.mark.parametrize(
    ("production", "shadow", "threshold", "status", "observed"),
    [
        (100_000, 110_000, 1.2, CheckStatus.PASS, 1.1),
        (100_000, 120_000, 1.2, CheckStatus.PASS, 1.2),
        (100_000, 130_000, 1.2, CheckStatus.FAIL, 1.3),
        (100_000, 130_000, 1.5, CheckStatus.PASS, 1.3),
        (None, 130_000, 1.2, CheckStatus.INSUFFICIENT, None),
        (100_000, None, 1.2, CheckStatus.INSUFFICIENT, None),
        (0, 10, 1.2, CheckStatus.INSUFFICIENT, None),
    ],
)
def test_check_latency_ratio(
    production: float | None, shadow: float | None, threshold: float, status: CheckStatus, observed: float | None
) -> None:
    check = check_latency_ratio(production, shadow, threshold)
    assert check.status == status
    assert check.observed == (None if observed is None else pytest.approx(observed))


@pytest.mark.parametrize(
    ("production", "shadow", "threshold", "status"),
    [
        (0.5, 0.5, 1.0, CheckStatus.PASS),
        (0.5, 1.5, 1.0, CheckStatus.PASS),
        (0.5, 1.6, 1.0, CheckStatus.FAIL),
        (2.0, 0.0, 0.0, CheckStatus.PASS),
        (0.0, 0.1, 0.0, CheckStatus.FAIL),
        (None, 0.1, 1.0, CheckStatus.INSUFFICIENT),
    ],
)
def test_check_error_delta(
    production: float | None, shadow: float | None, threshold: float, status: CheckStatus
) -> None:
    assert check_error_delta(production, shadow, threshold).status == status


@pytest.mark.parametrize(
    ("production", "shadow", "minimum", "status"),
    [
        (100, 100, 100, CheckStatus.PASS),
        (100, 99, 100, CheckStatus.INSUFFICIENT),
        (None, 500, 100, CheckStatus.INSUFFICIENT),
        (None, None, 0, CheckStatus.PASS),
    ],
)
def test_check_min_invocations(
    production: float | None, shadow: float | None, minimum: int, status: CheckStatus
) -> None:
    assert check_min_invocations(production, shadow, minimum).status == status


@pytest.mark.parametrize(
    ("statuses", "verdict"),
    [
        ([], Verdict.NOT_ENOUGH_DATA),
        ([CheckStatus.PASS], Verdict.PROMOTE),
        ([CheckStatus.PASS, CheckStatus.FAIL], Verdict.HOLD),
        ([CheckStatus.FAIL, CheckStatus.INSUFFICIENT], Verdict.NOT_ENOUGH_DATA),
    ],
)
def test_overall_verdict(statuses: list[CheckStatus], verdict: Verdict) -> None:
    checks = [Check(name=f"c{i}", status=s, observed=None, threshold=0, message="") for i, s in enumerate(statuses)]
    assert overall_verdict(checks) == verdict


@pytest.mark.parametrize(
    ("errors", "invocations", "rate"),
    [(5, 100, 5.0), (None, 100, 0.0), (0, 0, None), (3, None, None)],
)
def test_error_rate(errors: float | None, invocations: float | None, rate: float | None) -> None:
    assert error_rate(errors, invocations) == rate


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"latency_ratio": 0}, "latency ratio"),
        ({"error_delta": -1}, "error delta"),
        ({"min_invocations": -1}, "minimum"),
    ],
)
def test_thresholds_are_validated(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Thresholds(**kwargs)


def test_comparison_rows_units_and_deltas() -> None:
    production = VariantStats(
        invocations=1000, latency_p50_us=10_000, latency_p99_us=50_000, errors_4xx=20, cpu_utilization=40
    )
    shadow = VariantStats(
        invocations=500, latency_p50_us=12_000, latency_p99_us=45_000, errors_4xx=5, cpu_utilization=55
    )
    rows = {row.key: row for row in evaluate(production, shadow, Thresholds()).rows}
    assert list(rows) == [
        "invocations",
        "latency_p50_ms",
        "latency_p90_ms",
        "latency_p99_ms",
        "error_rate_4xx_pct",
        "error_rate_5xx_pct",
        "model_error_rate_pct",
        "cpu_utilization_pct",
        "memory_utilization_pct",
    ]
    assert (rows["latency_p50_ms"].production, rows["latency_p50_ms"].shadow) == (10.0, 12.0)
    assert rows["latency_p50_ms"].delta == pytest.approx(2.0)
    assert rows["latency_p99_ms"].ratio == pytest.approx(0.9)
    assert (rows["error_rate_4xx_pct"].production, rows["error_rate_4xx_pct"].shadow) == (2.0, 1.0)
    assert rows["cpu_utilization_pct"].delta == 15
    assert rows["latency_p90_ms"].delta is None and rows["memory_utilization_pct"].ratio is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("30m", 1800), ("24h", 86400), ("7d", 604800), ("2w", 1209600), ("1.5h", 5400)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "h", "-1h", "1y", "1 hour"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


NOW = datetime(2026, 11, 28, 12, 34, 56, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("since", "start", "end", "expected"),
    [
        (timedelta(hours=24), None, None, (NOW - timedelta(hours=24), NOW)),
        (timedelta(hours=24), NOW - timedelta(hours=2), None, (NOW - timedelta(hours=2), NOW)),
        (timedelta(hours=1), NOW - timedelta(hours=2), None, (NOW - timedelta(hours=1), NOW)),
        (
            timedelta(hours=24),
            NOW - timedelta(hours=5),
            NOW - timedelta(hours=3),
            (NOW - timedelta(hours=5), NOW - timedelta(hours=3)),
        ),
        (timedelta(hours=24), NOW + timedelta(hours=1), None, None),
        (timedelta(hours=1), None, NOW - timedelta(hours=2), None),
    ],
)
def test_report_window_is_clipped_to_the_schedule(
    since: timedelta, start: datetime | None, end: datetime | None, expected: tuple[datetime, datetime] | None
) -> None:
    assert report_window(now=NOW, since=since, schedule_start=start, schedule_end=end) == expected


@pytest.mark.parametrize(
    ("age", "granularity"),
    [(timedelta(hours=2), 60), (timedelta(days=10), 60), (timedelta(days=20), 300), (timedelta(days=40), 3600)],
)
def test_summary_window_is_one_aligned_period_covering_the_window(age: timedelta, granularity: int) -> None:
    start, end = NOW - age, NOW - timedelta(seconds=7)
    window = summary_window(start, end, now=NOW)
    assert window.start <= start and window.end >= end
    assert window.start.timestamp() % granularity == 0
    assert window.period % granularity == 0
    assert window.period == (window.end - window.start).total_seconds()


@pytest.mark.parametrize("age", [timedelta(minutes=3), timedelta(hours=24), timedelta(days=14), timedelta(days=90)])
def test_series_window_has_few_enough_points(age: timedelta) -> None:
    window = series_window(NOW - age, NOW, now=NOW)
    assert window.period >= 300 and window.period % 60 == 0
    assert (window.end - window.start).total_seconds() / window.period <= 501


def test_parse_experiment_rejects_other_types() -> None:
    with pytest.raises(ValueError, match="not ShadowMode"):
        parse_experiment({"Name": "x", "Type": "Other"})


# =====================================================================================
# The command line against moto and the stand-in
# =====================================================================================


def _percentile(values: list[float], percentile: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percentile / 100 * len(ordered)) - 1)]


@pytest.fixture
def _moto_percentiles(monkeypatch: pytest.MonkeyPatch) -> None:
    original = cloudwatch_models.Statistics.get_statistics_for_type

    def get_statistics_for_type(self: Any, stat: str) -> Any:
        if stat.startswith("p") and stat[1:].replace(".", "", 1).isdigit():
            return _percentile(self.metric_single_values_list, float(stat[1:]))
        return original(self, stat)

    monkeypatch.setattr(cloudwatch_models.Statistics, "get_statistics_for_type", get_statistics_for_type)


@dataclass
class StandIn:
    server: SageMakerStandIn
    client: Any
    """Set-up client, talking to the stand-in directly."""
    cli_clients: dict[tuple[str | None, str], Any]


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    # One server and one set-up client per module: building a SageMaker client
    # takes a few hundred milliseconds. Tests stay apart by unique names.
    with SageMakerStandIn() as server:
        yield StandIn(server=server, client=boto3.client("sagemaker", endpoint_url=server.url), cli_clients={})


@dataclass
class Aws:
    standin: SageMakerStandIn
    sagemaker: Any
    cloudwatch: Any


@pytest.fixture
def aws(standin: StandIn, monkeypatch: pytest.MonkeyPatch, _moto_percentiles: None) -> Iterator[Aws]:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", standin.server.url)
    monkeypatch.delenv("AWS_ENDPOINT_URL_CLOUDWATCH", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    # Wide enough that rich wraps no cell the assertions look for.
    monkeypatch.setenv("COLUMNS", "200")

    # The CLI still builds its client from the default session and the
    # environment; it is only reused across the module's commands.
    real_factory = cli.aws.sagemaker_client

    def sagemaker_client(region: str | None = None) -> Any:
        key = (region, standin.server.url)
        if key not in standin.cli_clients:
            standin.cli_clients[key] = real_factory(region)
        return standin.cli_clients[key]

    monkeypatch.setattr(cli.aws, "sagemaker_client", sagemaker_client)
    try:
        with mock_aws():
            yield Aws(standin=standin.server, sagemaker=standin.client, cloudwatch=boto3.client("cloudwatch"))
    finally:
        standin.server.reset_faults()


def _variant_config(variant: str, model: str, instance_type: str, count: int) -> dict[str, Any]:
    return {
        "ModelName": model,
        "VariantName": variant,
        "InfrastructureConfig": {
            "InfrastructureType": "RealTimeInference",
            "RealTimeInferenceConfig": {"InstanceType": instance_type, "InstanceCount": count},
        },
    }


SHADOW_CONFIG = _variant_config("shadow", "model-b", "ml.c5.xlarge", 2)
_UNIQUE = itertools.count(1)


@dataclass(frozen=True)
class Started:
    name: str
    endpoint: str


def _running_experiment(aws: Aws, base: str, *, schedule_start: datetime | None = None) -> Started:
    """A Running experiment of ``shadow`` (model-b, 50 %) against ``prod`` (model-a) on its own endpoint."""
    started = Started(name=f"{base}-{next(_UNIQUE)}", endpoint=f"ep-{base}-{next(_UNIQUE)}")
    aws.standin.add_endpoint(started.endpoint, [{"VariantName": "prod", "ModelName": "model-a"}])
    start = schedule_start or datetime.now(timezone.utc) - timedelta(hours=2)
    aws.sagemaker.create_inference_experiment(
        Name=started.name,
        Type="ShadowMode",
        RoleArn=ROLE_ARN,
        EndpointName=started.endpoint,
        Schedule={"StartTime": start, "EndTime": start + timedelta(days=3)},
        ModelVariants=[_variant_config("prod", "model-a", "ml.m5.large", 1), SHADOW_CONFIG],
        ShadowModeConfig={
            "SourceModelVariantName": "prod",
            "ShadowModelVariants": [{"ShadowModelVariantName": "shadow", "SamplingPercentage": 50}],
        },
    )
    for _ in range(5):  # the stand-in moves one lifecycle step per describe
        if aws.sagemaker.describe_inference_experiment(Name=started.name)["Status"] in {"Running", "Created"}:
            break
    return started


@dataclass(frozen=True)
class Traffic:
    """Per 10-minute datapoint: invocations, latency distribution (µs → share of requests), 5XX count."""

    invocations: int
    latency_us: dict[int, float]
    errors_5xx: int
    cpu: float


PRODUCTION_TRAFFIC = Traffic(200, {10_000: 0.6, 20_000: 0.3, 50_000: 0.1}, 2, 40.0)
BETTER_SHADOW = Traffic(200, {8_000: 0.6, 15_000: 0.3, 45_000: 0.1}, 1, 35.0)
WORSE_SHADOW = Traffic(200, {15_000: 0.6, 30_000: 0.3, 90_000: 0.1}, 10, 70.0)


def _seed(aws: Aws, endpoint: str, variant: str, traffic: Traffic, *, datapoints: int = 6) -> None:
    now = datetime.now(timezone.utc)
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    values = [float(us) for us in traffic.latency_us]
    counts = [traffic.invocations * share for share in traffic.latency_us.values()]
    for index in range(datapoints):
        at = {"Dimensions": dimensions, "Timestamp": now - timedelta(minutes=5 + 10 * index)}
        aws.cloudwatch.put_metric_data(
            Namespace="AWS/SageMaker",
            MetricData=[
                {"MetricName": "Invocations", "Value": traffic.invocations, **at},
                {"MetricName": "Invocation5XXErrors", "Value": traffic.errors_5xx, **at},
                {"MetricName": "Invocation4XXErrors", "Value": 1, **at},
                {"MetricName": "InvocationModelErrors", "Value": 0, **at},
                {"MetricName": "ModelLatency", "Values": values, "Counts": counts, "Unit": "Microseconds", **at},
            ],
        )
        aws.cloudwatch.put_metric_data(
            Namespace="/aws/sagemaker/Endpoints",
            MetricData=[
                {"MetricName": "CPUUtilization", "Value": traffic.cpu, **at},
                {"MetricName": "MemoryUtilization", "Value": 30.0, **at},
            ],
        )


def _experiment_with_traffic(aws: Aws, base: str, shadow: Traffic | None) -> Started:
    started = _running_experiment(aws, base)
    _seed(aws, started.endpoint, "prod", PRODUCTION_TRAFFIC)
    if shadow is not None:
        _seed(aws, started.endpoint, "shadow", shadow)
    return started


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- report ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shadow", "code", "verdict", "statuses"),
    [
        (BETTER_SHADOW, 0, "promote", ["pass", "pass", "pass"]),
        (WORSE_SHADOW, 1, "hold", ["pass", "fail", "fail"]),
        (None, 2, "not enough data", ["insufficient data"] * 3),
    ],
    ids=["better", "worse", "empty"],
)
def test_report_verdicts_exit_codes_and_json(
    aws: Aws,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    shadow: Traffic | None,
    code: int,
    verdict: str,
    statuses: list[str],
) -> None:
    started = _experiment_with_traffic(aws, "churn", shadow)
    out_file = tmp_path / "report.json"
    exit_code, out, _err = _run(capsys, "report", started.name, "--since", "24h", "--json", str(out_file))
    assert exit_code == code
    assert f"Verdict: {verdict}" in out
    assert "Production vs shadow" in out and "Model latency p99" in out

    document = json.loads(out_file.read_text())
    assert document["verdict"] == verdict and document["exit_code"] == code
    assert [check["status"] for check in document["checks"]] == statuses
    assert document["experiment"] == {
        "name": started.name,
        "arn": f"arn:aws:sagemaker:us-east-1:123456789012:inference-experiment/{started.name}",
        "status": "Running",
        "endpoint_name": started.endpoint,
        "production_variant": "prod",
        "shadow_variant": "shadow",
    }
    assert document["thresholds"] == {"latency_ratio": 1.2, "error_delta_pp": 1.0, "min_invocations": 100}
    metrics = {row["key"]: row for row in document["metrics"]}
    production = metrics["invocations"]["production"], metrics["latency_p50_ms"]["production"]
    assert production == (1200, 10.0)
    assert (metrics["latency_p90_ms"]["production"], metrics["latency_p99_ms"]["production"]) == (20.0, 50.0)
    assert metrics["error_rate_5xx_pct"]["production"] == pytest.approx(1.0)
    assert metrics["cpu_utilization_pct"]["production"] == pytest.approx(40.0)
    if shadow is WORSE_SHADOW:
        assert metrics["latency_p99_ms"]["ratio"] == pytest.approx(1.8)
        assert metrics["error_rate_5xx_pct"]["delta"] == pytest.approx(4.0)
    if shadow is None:
        assert metrics["invocations"]["shadow"] is None


def test_report_thresholds_come_from_the_flags(aws: Aws, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    name = _experiment_with_traffic(aws, "lenient", WORSE_SHADOW).name
    out_file = tmp_path / "report.json"
    flags = ["--latency-ratio", "2", "--error-delta", "5", "--min-invocations", "10"]
    code, _out, _err = _run(capsys, "report", name, *flags, "--json", str(out_file))
    assert code == 0
    assert json.loads(out_file.read_text())["thresholds"] == {
        "latency_ratio": 2.0,
        "error_delta_pp": 5.0,
        "min_invocations": 10,
    }
    code, out, _err = _run(capsys, "report", name, "--min-invocations", "100000")
    assert code == 2 and "each needs at least 100000" in out


def test_report_before_the_schedule_starts_has_not_enough_data(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    started = _running_experiment(aws, "later", schedule_start=datetime.now(timezone.utc) + timedelta(days=1))
    code, out, _err = _run(capsys, "report", started.name)
    assert code == 2
    assert "not scheduled during the requested period" in out


def test_report_png(aws: Aws, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    name = _experiment_with_traffic(aws, "charted", WORSE_SHADOW).name
    chart = tmp_path / "chart.png"
    code, out, _err = _run(capsys, "report", name, "--since", "3h", "--png", str(chart))
    assert code == 1
    assert f"Wrote {chart}" in out
    data = chart.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 20_000  # two panels with four lines each, not an empty canvas


def test_report_png_without_data_still_writes_a_chart(
    aws: Aws, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    name = _running_experiment(aws, "quiet").name
    chart = tmp_path / "empty.png"
    code, _out, _err = _run(capsys, "report", name, "--png", str(chart))
    assert code == 2
    assert chart.read_bytes().startswith(PNG_MAGIC)


def test_report_of_an_unknown_experiment_is_an_error(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = _run(capsys, "report", "missing")
    assert code == 3
    assert "ResourceNotFound" in err and "missing" in err


@pytest.mark.parametrize(
    "argv",
    [["report"], ["report", "x", "--since", "soon"], ["report", "x", "--since", "0"], ["frobnicate", "x"]],
)
def test_usage_errors_exit_3_not_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _out, err = _run(capsys, *argv)
    assert code == 3
    assert "shadow-test" in err and "error" in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = _run(capsys, "--help")
    assert code == 0
    assert "Exit codes" in out


def test_matplotlib_is_imported_only_for_png(root: Path) -> None:
    probe = "import sys, constructs_pkg.cli.main; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# -- status ---------------------------------------------------------------------------


def test_status(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    started = _running_experiment(aws, "watched")
    code, out, _err = _run(capsys, "status", started.name)
    assert code == 0
    for text in ("Running", started.endpoint, "prod", "model-a", "shadow", "model-b", "2 x ml.c5.xlarge", "50 %"):
        assert text in out


# -- promote and stop -----------------------------------------------------------------


def _stop_calls(aws: Aws, name: str) -> list[dict[str, Any]]:
    return [call for call in aws.standin.calls_of("StopInferenceExperiment") if call["Name"] == name]


def test_promote_with_yes_waits_until_completed(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    started = _running_experiment(aws, "winner")
    code, out, _err = _run(capsys, "promote", started.name, "--yes", "--poll-interval", "0.01", "--reason", "faster")
    assert code == 0
    (request,) = _stop_calls(aws, started.name)
    assert request == {
        "Name": started.name,
        "DesiredState": "Completed",
        "ModelVariantActions": {"shadow": "Promote", "prod": "Remove"},
        "DesiredModelVariants": [SHADOW_CONFIG],
        "Reason": "faster",
    }
    assert "Stopping" in out and f"{started.name} is Completed" in out
    production = aws.standin.endpoint_config(started.endpoint)["ProductionVariants"]
    assert [(v["VariantName"], v["ModelName"]) for v in production] == [("shadow", "model-b")]


@pytest.mark.parametrize("desired_state", ["Completed", "Cancelled"])
def test_stop_keeps_production(aws: Aws, capsys: pytest.CaptureFixture[str], desired_state: str) -> None:
    started = _running_experiment(aws, "loser")
    code, out, _err = _run(capsys, "stop", started.name, "-y", "--poll-interval", "0", "--desired-state", desired_state)
    assert code == 0
    (request,) = _stop_calls(aws, started.name)
    assert request["ModelVariantActions"] == {"prod": "Retain", "shadow": "Remove"}
    assert "DesiredModelVariants" not in request and request["DesiredState"] == desired_state
    assert f"{started.name} is {desired_state}" in out
    assert aws.standin.endpoint_variants(started.endpoint) == ["prod"]


def test_no_wait_returns_after_the_request(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    name = _running_experiment(aws, "hurry").name
    code, out, _err = _run(capsys, "stop", name, "--yes", "--no-wait")
    assert code == 0 and f"Requested stop of {name}" in out
    assert aws.standin.experiments[name]["Status"] == "Stopping"


@pytest.mark.parametrize("command", ["promote", "stop"])
def test_without_a_terminal_and_without_yes_it_refuses(
    aws: Aws, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    name = _running_experiment(aws, "careful").name
    code, _out, err = _run(capsys, command, name)  # pytest's stdin is not a terminal
    assert code == 2
    assert "refusing" in err and "--yes" in err
    assert _stop_calls(aws, name) == []


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "code", "calls"), [("y\n", 0, 1), ("yes\n", 0, 1), ("n\n", 1, 0), ("", 1, 0)])
def test_confirmation_prompt(
    aws: Aws,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    code: int,
    calls: int,
) -> None:
    name = _running_experiment(aws, "asked").name
    monkeypatch.setattr(sys, "stdin", _Terminal(answer))
    exit_code, out, _err = _run(capsys, "promote", name, "--poll-interval", "0")
    assert "Proceed? [y/N]" in out
    assert exit_code == code
    assert len(_stop_calls(aws, name)) == calls


def test_waiting_gives_up_after_the_timeout(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    name = _running_experiment(aws, "slow").name
    aws.standin.hang_in("Stopping")
    started = time.monotonic()
    code, _out, err = _run(capsys, "stop", name, "--yes", "--poll-interval", "0.02", "--timeout", "0.1")
    assert code == 1
    assert "still Stopping" in err and f"shadow-test status {name}" in err
    assert time.monotonic() - started < 5


def test_stopping_a_finished_experiment_is_an_error(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    name = _running_experiment(aws, "done").name
    assert _run(capsys, "stop", name, "--yes", "--poll-interval", "0")[0] == 0
    code, _out, err = _run(capsys, "promote", name, "--yes")
    assert code == 3 and "already Completed" in err
    assert len(_stop_calls(aws, name)) == 1


def test_aws_errors_exit_3(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    name = _running_experiment(aws, "denied").name
    aws.standin.inject("access_denied", operation="StopInferenceExperiment")
    code, _out, err = _run(capsys, "stop", name, "--yes")
    assert code == 3 and "AccessDeniedException" in err

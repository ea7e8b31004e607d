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
from constructs_pkg.cli.window import parse_duration, period_window, report_window
from devtools.sagemaker_standin import SageMakerStandIn
from shadow_test_core.verdict.period_data import load_period_data

ROLE_ARN = "arn:aws:iam::123456789012:role/shadow-test"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# =====================================================================================
# Durations and query windows, table-driven
# =====================================================================================


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
    ("age", "period", "expected_period"),
    [
        (timedelta(hours=2), 300, 300),
        (timedelta(hours=2), 60, 60),
        (timedelta(days=20), 60, 300),
        (timedelta(days=20), 600, 600),
        (timedelta(days=40), 420, 600),
        (timedelta(days=70), 300, 3600),
    ],
)
def test_period_window_has_whole_periods_at_a_granularity_cloudwatch_keeps(
    age: timedelta, period: int, expected_period: int
) -> None:
    start, end = NOW - age, NOW - timedelta(seconds=7)
    window = period_window(start, end, period=period, now=NOW)
    assert window.period == expected_period
    assert window.start <= start < window.start + timedelta(seconds=window.period)
    assert window.end <= end and window.start.timestamp() % window.period == 0
    assert (window.end - window.start).total_seconds() % window.period == 0


def test_period_window_leaves_out_the_period_still_running() -> None:
    window = period_window(NOW - timedelta(minutes=3), NOW, period=300, now=NOW)
    assert window.start == window.end  # no complete period yet


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
    # As in a CI log: stdout is not a terminal, and no COLUMNS widens rich's output.
    monkeypatch.delenv("COLUMNS", raising=False)

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
    """Per 5-minute period: invocations, latency distribution (µs → share of requests), 5XX count."""

    invocations: int
    latency_us: dict[int, float]
    errors_5xx: int
    cpu: float


PRODUCTION_TRAFFIC = Traffic(200, {10_000: 0.6, 20_000: 0.3, 50_000: 0.1}, 2, 40.0)
BETTER_SHADOW = Traffic(200, {8_000: 0.6, 15_000: 0.3, 45_000: 0.1}, 1, 35.0)
WORSE_SHADOW = Traffic(200, {15_000: 0.6, 30_000: 0.3, 90_000: 0.1}, 10, 70.0)


PERIODS = 14
"""Seeded periods: more than the verdict's default minimum of 12."""


def _seed(aws: Aws, endpoint: str, variant: str, traffic: Traffic, *, datapoints: int = PERIODS) -> None:
    now = datetime.now(timezone.utc)
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    values = [float(us) for us in traffic.latency_us]
    counts = [traffic.invocations * share for share in traffic.latency_us.values()]
    for index in range(datapoints):
        # One datapoint in each of the last complete 5-minute periods.
        at = {"Dimensions": dimensions, "Timestamp": now - timedelta(minutes=7 + 5 * index)}
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
        (BETTER_SHADOW, 0, "promote", ["pass", "pass"]),
        (WORSE_SHADOW, 1, "hold", ["fail", "fail"]),
        (None, 2, "not enough data", ["not enough data", "not enough data"]),
    ],
    ids=["better", "worse", "empty"],
)
def test_report_verdicts_exit_codes_and_json_judged_again(
    aws: Aws,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    shadow: Traffic | None,
    code: int,
    verdict: str,
    statuses: list[str],
) -> None:
    started = _experiment_with_traffic(aws, "churn", shadow)
    out_file = tmp_path / "periods.json"
    exit_code, out, _err = _run(capsys, "report", started.name, "--since", "24h", "--json", str(out_file))
    assert exit_code == code
    assert f"Verdict: {verdict}" in out
    assert "Model latency p99 (shadow/production)" in out and "<= x1.20" in out and "<= +1.00 pp" in out
    assert "latency-p99: " in out and "error-5xx: " in out
    rows = [line for line in out.splitlines() if "│ Model latency p99 (shadow" in line or "│ 5XX error rate (" in line]
    assert [row.rstrip(" │").rsplit("│", 1)[1].strip() for row in rows] == statuses

    document = json.loads(out_file.read_text())
    assert set(document) == {"experiment", "period_seconds", "periods"}
    assert document["experiment"] == started.name and document["period_seconds"] == 300
    data = load_period_data(out_file)
    busy = [period for period in data.periods if period.production.invocations]
    assert len(busy) == PERIODS
    assert {(p.production.invocations, p.production.errors_5xx, p.production.latency_p99_us) for p in busy} == {
        (200, 2, 50_000.0)
    }
    assert {(p.production.latency_p50_us, p.production.latency_p90_us) for p in busy} == {(10_000.0, 20_000.0)}
    if shadow is None:
        assert all(period.shadow.invocations == 0 and period.shadow.latency_p99_us is None for period in busy)

    # The saved data gives the same verdict and the same table.
    judged_code, judged_out, _err = _run(capsys, "judge", str(out_file))
    assert judged_code == code
    assert judged_out.split("Data:", 1)[1] == out.split("Data:", 1)[1].replace(f"Wrote {out_file}\n", "")


def test_report_margins_come_from_the_flags(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    name = _experiment_with_traffic(aws, "lenient", WORSE_SHADOW).name
    code, out, _err = _run(capsys, "report", name, "--latency-ratio", "2", "--error-delta", "5")
    assert code == 0 and "<= x2.00" in out and "<= +5.00 pp" in out
    code, out, _err = _run(capsys, "report", name, "--min-periods", "1000")
    assert code == 2 and "at least 1000 needed" in out


def test_report_period_flag_sets_the_saved_period(aws: Aws, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    seeded_at = datetime.now(timezone.utc)
    name = _experiment_with_traffic(aws, "coarse", BETTER_SHADOW).name
    out_file = tmp_path / "periods.json"
    code, out, _err = _run(capsys, "report", name, "--period", "10m", "--json", str(out_file))
    assert "periods of 10 min" in out
    data = load_period_data(out_file)
    assert data.period_seconds == 600
    # The 10-minute period still running is left out: the datapoints seeded in it are not judged.
    running_since = seeded_at.replace(minute=seeded_at.minute - seeded_at.minute % 10, second=0, microsecond=0)
    judged = sum(1 for index in range(PERIODS) if seeded_at - timedelta(minutes=7 + 5 * index) < running_since)
    assert sum(period.production.invocations for period in data.periods) == 200 * judged
    assert code == 2  # 7 periods of 10 minutes: fewer than 12


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
    assert len(data) > 20_000  # two panels with points, bands and margins, not an empty canvas


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
    [
        ["report"],
        ["report", "x", "--since", "soon"],
        ["report", "x", "--since", "0"],
        ["report", "x", "--period", "90s"],
        ["report", "x", "--confidence", "high"],
        ["judge"],
        ["frobnicate", "x"],
    ],
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

"""The conclusion function as deployed: loaded from its synthesized asset, invoked with EventBridge's input.

The app is synthesized once; the function's code is its asset directory in the cloud assembly, and
its input is the rules' input transformer applied to a real ``Scheduled Event`` or ``CloudWatch
Alarm State Change`` event. It runs in a subprocess whose import path is the asset alone, against
the SageMaker stand-in (Describe/Stop), a botocore Stubber for CloudWatch's per-period data, moto
for S3 and a loopback recorder for EventBridge's PutEvents.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_s3 as s3

from constructs_pkg import ModelVariant, ShadowTestExperiment
from devtools.sagemaker_standin import SageMakerStandIn
from shadow_test_core import consts
from shadow_test_core.verdict.cloudwatch import PERIOD_QUERIES
from shadow_test_core.verdict.looks import Look, judge_look
from shadow_test_core.verdict.period_data import parse_period_data

REGION = "us-east-1"
ENDPOINT = "ep-1"
BUCKET = "evidence"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
ROLE_ARN = "arn:aws:iam::123456789012:role/shadow-test"

#: Runs in the subprocess: the asset's handler with a Stubber on CloudWatch, the rest on loopback.
_RUNNER = """
import json, sys
from datetime import datetime
import boto3
from botocore.stub import Stubber
from shadow_test_core.verdict import conclusion_handler as handler

request = json.load(sys.stdin)
cloudwatch = boto3.client("cloudwatch")
stubber = Stubber(cloudwatch)
for response in request["metric_responses"]:
    for result in response["MetricDataResults"]:
        result["Timestamps"] = [datetime.fromisoformat(t) for t in result["Timestamps"]]
    stubber.add_response("get_metric_data", response)
stubber.activate()
handler._clients = handler.Clients(
    sagemaker=handler.create_client(max_attempts=1),
    cloudwatch=cloudwatch,
    events=boto3.client("events"),
    s3=boto3.client("s3"),
    sns=None,
)
print("RESULT " + json.dumps(handler.handle(request["input"]), default=str))
print("FILE " + handler.__file__)
"""


# --- the synthesized app -------------------------------------------------------------------


def _build(app: App) -> Stack:
    stack = Stack(app, "Conclusion", env={"account": "123456789012", "region": REGION})
    # Each on its own endpoint (one experiment per endpoint); the function reads the endpoint that
    # SageMaker describes, the stand-in's ep-1.
    for name, promote in (("Judged", False), ("Promoted", True)):
        experiment = ShadowTestExperiment(
            stack,
            name,
            endpoint_name=f"{name.lower()}-endpoint",
            production_variant=ModelVariant(variant_name="prod", model_name="m-a", instance_type="ml.m5.large"),
            shadow_variant=ModelVariant(variant_name="shadow", model_name="m-b", instance_type="ml.m5.large"),
        )
        experiment.add_automatic_conclusion(
            promote=promote, evidence_bucket=s3.Bucket.from_bucket_name(experiment, "Evidence", BUCKET)
        )
        experiment.add_regression_alarms()
    return stack


@pytest.fixture(scope="module")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = App(outdir=str(outdir), context={"aws:cdk:enable-path-metadata": True})
    stack = _build(app)
    app.synth()
    template = json.loads((outdir / f"{stack.artifact_id}.template.json").read_text())
    functions = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == consts.CONCLUSION_ENTRY
    ]
    assert len(functions) == 1, "one conclusion function per stack"
    # The Code's S3 key is the asset's hash; the cloud assembly stages it as asset.<hash>.
    asset_hash = functions[0]["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    asset = outdir / f"asset.{asset_hash}"
    assert (asset / "shadow_test_core" / "verdict" / "conclusion_handler.py").is_file()
    # The asset is the function's import closure: no capture comparison, no deploy-time handler.
    assert not (asset / "shadow_test_core" / "capture").exists()
    assert not (asset / "shadow_test_core" / "experiment" / "handler.py").exists()
    return {"template": template, "asset": asset}


def _rule(template: dict[str, Any], experiment: str, kind: str) -> dict[str, Any]:
    for resource in template["Resources"].values():
        path = resource.get("Metadata", {}).get("aws:cdk:path", "")
        if resource["Type"] == "AWS::Events::Rule" and path.endswith(
            f"{experiment}/AutomaticConclusion/{kind}/Resource"
        ):
            return resource["Properties"]
    raise AssertionError(f"no {kind} rule for {experiment}")


def _resolve(value: Any, references: dict[str, str]) -> str:
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        delimiter, items = value["Fn::Join"]
        return delimiter.join(_resolve(item, references) for item in items)
    if "Fn::GetAtt" in value:
        return references[value["Fn::GetAtt"][0]]
    if "Ref" in value:
        return references[value["Ref"]]
    raise AssertionError(f"cannot resolve {value}")


def _transform(rule: dict[str, Any], event: dict[str, Any], references: dict[str, str]) -> dict[str, Any]:
    """What EventBridge's input transformer makes of ``event`` for the rule's one target."""
    (target,) = rule["Targets"]
    transformer = target["InputTransformer"]
    text = _resolve(transformer["InputTemplate"], references)
    for key, path in transformer["InputPathsMap"].items():
        assert path == "$"
        text = text.replace(f"<{key}>", json.dumps(event))
    return json.loads(text)


def _experiment_logical_id(template: dict[str, Any], experiment: str) -> str:
    for logical_id, resource in template["Resources"].items():
        if resource.get("Metadata", {}).get("aws:cdk:path", "").endswith(f"/{experiment}/Resource/Default"):
            return logical_id
    raise AssertionError(experiment)


def _references(template: dict[str, Any], experiment: str, arn: str) -> dict[str, str]:
    """What the template's references resolve to: the experiment's ARN and its alarms' ARNs."""
    references = {_experiment_logical_id(template, experiment): arn}
    for alarm in _alarm_logical_ids(template, experiment):
        references[alarm] = f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm}"
    return references


def _alarm_logical_ids(template: dict[str, Any], experiment: str) -> list[str]:
    return [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm" and f"/{experiment}/" in resource["Metadata"]["aws:cdk:path"]
    ]


# --- the stand-ins -------------------------------------------------------------------------


class _Events(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Events.received.append(json.loads(body))
        reply = json.dumps({"FailedEntryCount": 0, "Entries": [{"EventId": "1"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def events() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    _Events.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Events)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", _Events.received
    server.shutdown()


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=url, region_name=REGION, **_keys()).create_bucket(Bucket=BUCKET)
    yield url
    server.stop()


def _keys() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sagemaker() -> Iterator[tuple[SageMakerStandIn, Clock]]:
    clock = Clock()
    with SageMakerStandIn(clock=clock) as server:
        server.add_endpoint(
            ENDPOINT, [{"VariantName": "prod", "ModelName": "m-a", "InstanceType": "ml.m5.large", "InstanceCount": 1}]
        )
        yield server, clock


def _running_experiment(standin: SageMakerStandIn, clock: Clock, *, hours: float, remaining: timedelta) -> str:
    """An experiment that started ``hours`` ago (real time) and ends after ``remaining``, now Running."""
    client = boto3.client("sagemaker", endpoint_url=standin.url, region_name=REGION, **_keys())
    started = float(int(time.time() - hours * 3600))  # whole seconds: the request rounds the start
    clock.now = started
    variant = {
        "InfrastructureConfig": {
            "InfrastructureType": "RealTimeInference",
            "RealTimeInferenceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        }
    }
    response = client.create_inference_experiment(
        Name="exp-1",
        Type="ShadowMode",
        RoleArn=ROLE_ARN,
        EndpointName=ENDPOINT,
        Schedule={
            "StartTime": datetime.fromtimestamp(started, timezone.utc),
            "EndTime": datetime.now(timezone.utc) + remaining,
        },
        ModelVariants=[
            {"ModelName": "m-a", "VariantName": "prod", **variant},
            {"ModelName": "m-b", "VariantName": "shadow", **variant},
        ],
        ShadowModeConfig={
            "SourceModelVariantName": "prod",
            "ShadowModelVariants": [{"ShadowModelVariantName": "shadow", "SamplingPercentage": 100}],
        },
    )
    for _ in range(10):
        if client.describe_inference_experiment(Name="exp-1")["Status"] == "Running":
            break
    clock.now = time.time()
    assert client.describe_inference_experiment(Name="exp-1")["Status"] == "Running"
    return str(response["InferenceExperimentArn"])


def _metric_responses(*, hours: float, shadow_ratio: float, invocations: int = 600) -> list[dict[str, Any]]:
    """GetMetricData's answer: ``hours`` of 5-minute periods, the shadow's p99 ``shadow_ratio`` x production's."""
    now = datetime.now(timezone.utc)
    starts = [now - timedelta(minutes=5 * (i + 1)) for i in range(int(hours * 12))]
    results = []
    for role in ("production", "shadow"):
        for query in PERIOD_QUERIES:
            values = []
            for index, _start in enumerate(starts):
                wobble = 1 + 0.05 * ((index * 7919) % 11 - 5) / 5
                latency = 80_000 * wobble * (shadow_ratio if role == "shadow" else 1)
                values.append(
                    float(invocations)
                    if query.field_name == "invocations"
                    else 0.0
                    if query.field_name.startswith(("errors", "model"))
                    else latency
                )
            results.append(
                {
                    "Id": f"{role}_{query.field_name}",
                    "Timestamps": [s.isoformat() for s in starts],
                    "Values": values,
                    "StatusCode": "Complete",
                }
            )
    return [{"MetricDataResults": results}]


def _invoke(assembly: dict[str, Any], payload: dict[str, Any], responses: list[dict[str, Any]], urls: dict[str, str]):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(assembly["asset"]),
        **CREDENTIALS,
        "AWS_ENDPOINT_URL_SAGEMAKER": urls["sagemaker"],
        "AWS_ENDPOINT_URL_EVENTBRIDGE": urls["events"],
        "AWS_ENDPOINT_URL_S3": urls["s3"],
    }
    completed = subprocess.run(
        [sys.executable, "-c", _RUNNER],
        input=json.dumps({"input": payload, "metric_responses": responses}),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    lines = dict(line.split(" ", 1) for line in completed.stdout.splitlines() if line.startswith(("RESULT", "FILE")))
    assert lines["FILE"].startswith(str(assembly["asset"])), "the handler must come from the synthesized asset"
    return json.loads(lines["RESULT"])


def _scheduled_event() -> dict[str, Any]:
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/look"],
        "detail": {},
    }


def _alarm_event(alarm_arn: str, state: str = "ALARM") -> dict[str, Any]:
    return {
        "version": "0",
        "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [alarm_arn],
        "detail": {
            "alarmName": alarm_arn.rpartition(":")[2],
            "state": {"value": state, "reason": "Threshold Crossed", "timestamp": "2026-12-03T20:00:00.000+0000"},
            "previousState": {"value": "OK"},
        },
    }


@pytest.fixture
def world(assembly, sagemaker, events, s3_url):  # type: ignore[no-untyped-def]
    standin, clock = sagemaker
    url, received = events
    return {
        "standin": standin,
        "clock": clock,
        "received": received,
        "urls": {"sagemaker": standin.url, "events": url, "s3": s3_url},
    }


def _look(assembly, world, experiment: str, arn: str, responses):  # type: ignore[no-untyped-def]
    template = assembly["template"]
    payload = _transform(
        _rule(template, experiment, "Schedule"), _scheduled_event(), _references(template, experiment, arn)
    )
    return _invoke(assembly, payload, responses, world["urls"])


def _stops(standin: SageMakerStandIn) -> list[dict[str, Any]]:
    return [params for operation, params in standin.calls if operation == "StopInferenceExperiment"]


def test_look_stops_a_regressing_shadow_with_the_shadow_removed(assembly, world) -> None:  # type: ignore[no-untyped-def]
    arn = _running_experiment(world["standin"], world["clock"], hours=3, remaining=timedelta(days=5))
    record = _look(assembly, world, "Judged", arn, _metric_responses(hours=3, shadow_ratio=1.6))
    assert (record["outcome"], record["action"]) == ("stopped", "stop")
    (stop,) = _stops(world["standin"])
    assert stop["ModelVariantActions"] == {"prod": "Retain", "shadow": "Remove"}
    assert stop["DesiredState"] == "Cancelled"
    (put,) = world["received"]
    (entry,) = put["Entries"]
    detail = json.loads(entry["Detail"])
    assert entry["Source"] == consts.CONCLUSION_EVENT_SOURCE and entry["Resources"] == [arn]
    p99 = next(c for c in detail["verdict"]["checks"] if c["name"] == "latency-p99")
    assert p99["status"] == "fail" and p99["lower"] > 1.2 and detail["periods"] == 36
    # The evidence reproduces the decision: shadow-test judge reads it.
    s3 = boto3.client("s3", endpoint_url=world["urls"]["s3"], region_name=REGION, **_keys())
    key = detail["evidence"].removeprefix(f"s3://{BUCKET}/")
    assert key.startswith("verdicts/exp-1/")
    saved = parse_period_data(json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()))
    assert saved.look == Look(number=3, planned=detail["look"]["planned"]) and detail["look"]["number"] == 3
    assert str(judge_look(saved, saved.look).verdict) == detail["verdict"]["verdict"] == "hold"


def test_look_leaves_an_equal_shadow_running(assembly, world) -> None:  # type: ignore[no-untyped-def]
    arn = _running_experiment(world["standin"], world["clock"], hours=3, remaining=timedelta(days=5))
    record = _look(assembly, world, "Judged", arn, _metric_responses(hours=3, shadow_ratio=1.0))
    assert (record["outcome"], record["action"]) == ("non-inferior so far", "none")
    assert _stops(world["standin"]) == [] and world["received"] == []


def test_look_leaves_a_test_with_too_little_data_alone(assembly, world) -> None:  # type: ignore[no-untyped-def]
    arn = _running_experiment(world["standin"], world["clock"], hours=0.5, remaining=timedelta(days=5))
    record = _look(assembly, world, "Promoted", arn, _metric_responses(hours=0.5, shadow_ratio=1.6))
    assert (record["outcome"], record["action"]) == ("not enough data", "none")
    assert _stops(world["standin"]) == []


@pytest.mark.parametrize(("experiment", "promoted"), [("Judged", False), ("Promoted", True)])
def test_last_look_promotes_only_when_asked(assembly, world, experiment: str, promoted: bool) -> None:  # type: ignore[no-untyped-def]
    arn = _running_experiment(world["standin"], world["clock"], hours=3, remaining=timedelta(minutes=20))
    record = _look(assembly, world, experiment, arn, _metric_responses(hours=3, shadow_ratio=1.0))
    stops = _stops(world["standin"])
    if promoted:
        assert (record["outcome"], record["action"], record["promotedModel"]) == ("promoted", "promote", "m-b")
        (stop,) = stops
        assert stop["ModelVariantActions"] == {"prod": "Remove", "shadow": "Promote"}
        assert [v["VariantName"] for v in stop["DesiredModelVariants"]] == ["shadow"]
    else:
        assert (record["outcome"], record["action"]) == ("passed", "none")
        assert stops == []
    assert len(world["received"]) == 1


def test_second_alarm_delivery_makes_no_second_stop(assembly, world) -> None:  # type: ignore[no-untyped-def]
    template = assembly["template"]
    arn = _running_experiment(world["standin"], world["clock"], hours=3, remaining=timedelta(days=5))
    references = _references(template, "Judged", arn)
    rule = _rule(template, "Judged", "Alarms")
    watched = [_resolve(r, references) for r in rule["EventPattern"]["resources"]]
    assert len(watched) == 2, "the latency and error-rate regression alarms, added after the conclusion"
    alarm_arn = watched[0]
    payload = _transform(rule, _alarm_event(alarm_arn), references)
    first = _invoke(assembly, payload, [], world["urls"])
    second = _invoke(assembly, payload, [], world["urls"])
    assert (first["action"], second["action"]) == ("stop", "none")
    assert len(_stops(world["standin"])) == 1
    assert len(world["received"]) == 1


def test_alarm_of_another_experiment_does_nothing(assembly, world) -> None:  # type: ignore[no-untyped-def]
    template = assembly["template"]
    arn = _running_experiment(world["standin"], world["clock"], hours=3, remaining=timedelta(days=5))
    other = _alarm_logical_ids(template, "Promoted")[0]
    references = _references(template, "Judged", arn)
    payload = _transform(
        _rule(template, "Judged", "Alarms"),
        _alarm_event(f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{other}"),
        references,
    )
    record = _invoke(assembly, payload, [], world["urls"])
    assert (record["outcome"], record["action"]) == ("alarm not of this experiment", "none")
    assert _stops(world["standin"]) == []

"""The stand-in's server: validation by the core's walker, operations served, faults, rate limit."""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from devtools.sagemaker_standin import SUPPORTED_OPERATIONS, SageMakerStandIn
from shadow_test_core.experiment.service_model import service_model
from tests.standin.helpers import (
    ENDPOINT,
    ROLE_ARN,
    ClientFactory,
    create_params,
    error_of,
    production_variant,
    sagemaker_client,
    start_running,
    wait_for,
)

ROOT = Path(__file__).resolve().parent.parent.parent


# --------------------------------------------------------------------------- #
# Server-side validation
# --------------------------------------------------------------------------- #


def test_requests_breaking_the_model_are_refused_as_sagemaker_words_it(
    standin: SageMakerStandIn, raw_client: BaseClient
) -> None:
    params = create_params(Name="bad_name", Type="CanaryMode")

    error = error_of(raw_client.create_inference_experiment, **params)

    assert error["Code"] == "ValidationException"
    assert error["Message"].startswith("2 validation errors detected: Value 'bad_name' at 'Name' failed to satisfy")
    assert (
        "Value 'CanaryMode' at 'Type' failed to satisfy constraint: Member must satisfy enum value set"
        in (error["Message"])
    )
    assert standin.experiments == {}
    assert len(standin.calls_of("CreateInferenceExperiment")) == 1  # rejected calls are recorded


def test_unknown_member_is_rejected(standin: SageMakerStandIn, client: BaseClient) -> None:
    def add_unknown_member(params: dict[str, Any], **_: Any) -> None:
        body = json.loads(params["body"])
        body["ModelVariants"][0]["Colour"] = "blue"
        params["body"] = json.dumps(body).encode()

    client.meta.events.register("before-call.sagemaker.CreateInferenceExperiment", add_unknown_member)

    error = error_of(client.create_inference_experiment, **create_params())

    assert error["Code"] == "ValidationException"
    assert "Unknown member 'ModelVariants[0].Colour'" in error["Message"]
    assert standin.calls_of("CreateInferenceExperiment")[0]["ModelVariants"][0]["Colour"] == "blue"


# --------------------------------------------------------------------------- #
# Operations served
# --------------------------------------------------------------------------- #

SOURCES = [
    *(ROOT / "lambda" / "shadow_test_core").rglob("*.py"),
    *(ROOT / "constructs_pkg" / "cli").glob("*.py"),
]


def _snake_case(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def test_serves_exactly_the_operations_the_handler_and_the_cli_call() -> None:
    code = "\n".join(path.read_text() for path in SOURCES)

    def called(operation: str) -> bool:
        snake = _snake_case(operation)
        # by name in a planned call, directly on a client, or through a paginator
        return any(f in code for f in (f'"{operation}"', f"client.{snake}(", f'get_paginator("{snake}")'))

    assert {operation for operation in service_model().operation_names if called(operation)} == SUPPORTED_OPERATIONS


@pytest.mark.parametrize("call", ["describe_model", "create_endpoint"])
def test_other_operations_are_unknown(client: BaseClient, call: str) -> None:
    params = {"ModelName": "m-a"} if call == "describe_model" else {"EndpointName": "e", "EndpointConfigName": "c"}

    error = error_of(getattr(client, call), **params)

    assert error["Code"] == "UnknownOperationException"


def test_non_json_body_is_a_serialization_error(standin: SageMakerStandIn) -> None:
    host, port = standin.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    connection.request("POST", "/", body=b"{not json", headers={"X-Amz-Target": "SageMaker.DescribeEndpoint"})
    response = connection.getresponse()

    assert response.status == 400
    assert json.loads(response.read())["__type"] == "SerializationException"
    connection.close()


# --------------------------------------------------------------------------- #
# Faults
# --------------------------------------------------------------------------- #


@pytest.mark.usefixtures("fast_backoff")
def test_throttle_is_retried_by_standard_mode(standin: SageMakerStandIn, make_client: ClientFactory) -> None:
    standin.inject("throttle", count=2)
    client = make_client(max_attempts=3)

    response = client.describe_endpoint(EndpointName=ENDPOINT)

    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert len(standin.calls_of("DescribeEndpoint")) == 3


def test_throttle_surfaces_without_retries(standin: SageMakerStandIn, client: BaseClient) -> None:
    standin.inject("throttle")

    error = error_of(client.describe_endpoint, EndpointName=ENDPOINT)

    assert error["Code"] == "ThrottlingException"
    client.describe_endpoint(EndpointName=ENDPOINT)  # only one call was throttled


def test_server_error_is_http_500(standin: SageMakerStandIn, client: BaseClient) -> None:
    standin.inject("server_error")

    with pytest.raises(ClientError) as caught:
        client.describe_endpoint(EndpointName=ENDPOINT)

    assert caught.value.response["Error"]["Code"] == "InternalFailure"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


@pytest.mark.usefixtures("fast_backoff")
def test_drop_closes_connection(standin: SageMakerStandIn, make_client: ClientFactory) -> None:
    standin.inject("drop")
    with pytest.raises(ConnectionClosedError):
        make_client().describe_endpoint(EndpointName=ENDPOINT)

    standin.inject("drop")
    response = make_client(max_attempts=2).describe_endpoint(EndpointName=ENDPOINT)
    assert response["ResponseMetadata"]["RetryAttempts"] == 1


def test_slow_answers_after_the_clients_read_timeout(standin: SageMakerStandIn, make_client: ClientFactory) -> None:
    standin.inject("slow", delay=0.5)
    with pytest.raises(ReadTimeoutError):
        make_client(read_timeout=0.1).describe_endpoint(EndpointName=ENDPOINT)


@pytest.mark.parametrize(
    ("kind", "code", "message"),
    [
        ("access_denied", "AccessDeniedException", "not allowed here"),
        ("unavailable", "ServiceUnavailable", "Service is unavailable."),
    ],
)
def test_error_faults(standin: SageMakerStandIn, client: BaseClient, kind: str, code: str, message: str) -> None:
    standin.inject(kind, message="not allowed here" if kind == "access_denied" else None)

    error = error_of(client.describe_endpoint, EndpointName=ENDPOINT)

    assert (error["Code"], error["Message"]) == (code, message)


def test_access_denied_default_message_names_operation(standin: SageMakerStandIn, client: BaseClient) -> None:
    standin.inject("access_denied", operation="ListTags")

    error = error_of(client.list_tags, ResourceArn=client.describe_endpoint(EndpointName=ENDPOINT)["EndpointArn"])

    assert error["Message"] == "User is not authorized to perform: sagemaker:ListTags"


def test_faults_target_operation_and_count(standin: SageMakerStandIn, client: BaseClient) -> None:
    standin.inject("throttle", operation="DescribeEndpoint", count=2)

    client.list_inference_experiments()
    for _ in range(2):
        assert error_of(client.describe_endpoint, EndpointName=ENDPOINT)["Code"] == "ThrottlingException"
    client.describe_endpoint(EndpointName=ENDPOINT)

    assert [name for name, _ in standin.calls] == ["ListInferenceExperiments"] + ["DescribeEndpoint"] * 3


def test_reset_faults_clears_pending_faults(standin: SageMakerStandIn, client: BaseClient) -> None:
    standin.inject("server_error", count=5)
    standin.cancel_next_start("never")
    standin.reset_faults()

    # Without the reset the describe would fail with a server error and the start would never come.
    assert client.describe_endpoint(EndpointName=ENDPOINT)["EndpointName"] == ENDPOINT
    start_running(client)
    assert client.describe_inference_experiment(Name="exp-1")["Status"] == "Running"
    assert [name for name, _ in standin.calls].count("DescribeEndpoint") == 1  # no retried attempt


def test_inject_rejects_unknown_kind(standin: SageMakerStandIn) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        standin.inject("meteor")


# --------------------------------------------------------------------------- #
# Rate limit, concurrency, server lifecycle
# --------------------------------------------------------------------------- #


def test_rate_limit_throttles_bursts() -> None:
    with SageMakerStandIn(rate_limit_per_second=5) as limited:
        limited.add_endpoint(ENDPOINT, [production_variant()])
        client = sagemaker_client(limited.url)

        outcomes = [_succeeds(client) for _ in range(10)]
        time.sleep(0.25)
        recovered = _succeeds(client)

    assert 5 <= outcomes.count(True) <= 6
    assert outcomes[:5] == [True] * 5
    assert recovered


def _succeeds(client: BaseClient) -> bool:
    try:
        client.describe_endpoint(EndpointName=ENDPOINT)
    except ClientError as error:
        assert error.response["Error"]["Code"] == "ThrottlingException"
        return False
    return True


def test_concurrent_clients(standin: SageMakerStandIn, make_client: ClientFactory) -> None:
    clients = [make_client() for _ in range(8)]
    failures: list[BaseException] = []

    def hammer(client: BaseClient, worker: int) -> None:
        try:
            standin.add_endpoint(f"ep-w{worker}", [production_variant()])
            client.create_inference_experiment(**create_params(f"w{worker}", f"ep-w{worker}"))
            wait_for(client, f"w{worker}", "Running")
            for _ in range(10):
                client.describe_endpoint(EndpointName=ENDPOINT)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=hammer, args=(c, i)) for i, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert failures == []
    assert len(standin.calls_of("DescribeEndpoint")) == 80
    assert all(record["Status"] == "Running" for record in standin.experiments.values())
    assert len(standin.experiments) == 8


def test_endpoint_url_from_environment(standin: SageMakerStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", standin.url)
    client = boto3.client(
        "sagemaker", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )

    assert client.describe_endpoint(EndpointName=ENDPOINT)["EndpointName"] == ENDPOINT


def test_listens_on_loopback_only_and_stops_cleanly() -> None:
    standin = SageMakerStandIn().start()
    host, port = standin.url.removeprefix("http://").split(":")
    assert host == "127.0.0.1"
    standin.add_endpoint(ENDPOINT, [production_variant()])
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    connection.request("POST", "/", body=b"{}", headers={"X-Amz-Target": "SageMaker.ListInferenceExperiments"})
    assert connection.getresponse().read()  # leaves an idle keep-alive connection open

    standin.stop()

    with pytest.raises(OSError), socket.create_connection((host, int(port)), timeout=1):
        pass
    connection.close()


# --------------------------------------------------------------------------- #
# A role IAM has not propagated yet
# --------------------------------------------------------------------------- #

#: SageMaker's words when it cannot assume a role (e.g. awslabs/predictive-maintenance-using-machine-learning#3).
ROLE_REFUSAL = (
    "Could not assume role {role}. Please ensure that the role exists and allows principal "
    "'sagemaker.amazonaws.com' to assume the role."
)


def test_role_not_assumable_fault_names_the_requests_role(standin: SageMakerStandIn, client: BaseClient) -> None:
    standin.inject("role_not_assumable", operation="CreateInferenceExperiment", count=2)

    for _ in range(2):
        error = error_of(client.create_inference_experiment, **create_params())
        assert (error["Code"], error["Message"]) == ("ValidationException", ROLE_REFUSAL.format(role=ROLE_ARN))
    assert standin.experiments == {}
    client.create_inference_experiment(**create_params())
    assert list(standin.experiments) == ["exp-1"]


def test_roles_are_refused_for_the_first_seconds_of_the_standins_clock() -> None:
    now = [1_000.0]
    with SageMakerStandIn(clock=lambda: now[0]) as standin:
        standin.add_endpoint(ENDPOINT, [production_variant()])
        client = sagemaker_client(standin.url)
        standin.refuse_roles_for(90)

        now[0] += 89
        error = error_of(client.create_inference_experiment, **create_params())
        assert (error["Code"], error["Message"]) == ("ValidationException", ROLE_REFUSAL.format(role=ROLE_ARN))
        assert standin.experiments == {}
        now[0] += 1
        client.create_inference_experiment(**create_params())
        assert list(standin.experiments) == ["exp-1"]

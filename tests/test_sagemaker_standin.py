"""Tests of the SageMaker stand-in, driven through the real boto3 client."""

from __future__ import annotations

import copy
import functools
import http.client
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.retries.standard
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from devtools.sagemaker_standin import SUPPORTED_OPERATIONS, SageMakerStandIn
from shadow_test_core.service_model import service_model

ROOT = Path(__file__).resolve().parent.parent
ROLE_ARN = "arn:aws:iam::123456789012:role/shadow-test"
ENDPOINT = "ep-1"

ClientFactory = Callable[..., BaseClient]

# --------------------------------------------------------------------------- #
# Fixtures and helpers
# --------------------------------------------------------------------------- #


@pytest.fixture
def standin() -> Iterator[SageMakerStandIn]:
    """A running stand-in with endpoint ``ep-1`` serving production variant ``prod``."""
    with SageMakerStandIn() as server:
        server.add_endpoint(ENDPOINT, [production_variant()])
        yield server


def sagemaker_client(url: str, max_attempts: int = 1, **config: Any) -> BaseClient:
    """A real SageMaker client for the stand-in at ``url``.

    ``max_attempts`` counts the first attempt too (botocore's ``total_max_attempts``); the
    default of 1 means no retries.
    """
    return boto3.client(
        "sagemaker",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": max_attempts}, **config),
    )


@pytest.fixture
def make_client(standin: SageMakerStandIn) -> ClientFactory:
    """Build clients for the per-test stand-in (see :func:`sagemaker_client`)."""
    return functools.partial(sagemaker_client, standin.url)


@pytest.fixture
def client(make_client: ClientFactory) -> BaseClient:
    """Client with botocore's own parameter validation on (the normal case)."""
    return make_client()


@pytest.fixture
def raw_client(make_client: ClientFactory) -> BaseClient:
    """Client that sends parameters unchecked, so the stand-in's validation is exercised."""
    return make_client(parameter_validation=False)


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shrink botocore's standard-mode backoff scales so retry tests stay fast."""
    monkeypatch.setattr(
        botocore.retries.standard.ExponentialBackoff,
        "_DEFAULT_BACKOFF_CONFIG",
        {"throttling_base_scale": 0.01, "non_throttling_base_scale": 0.01},
    )


def production_variant(name: str = "prod", model: str = "m-a") -> dict[str, Any]:
    return {"VariantName": name, "ModelName": model, "InstanceType": "ml.m5.large", "InstanceCount": 1}


def model_variant(name: str, model: str, instance_type: str = "ml.m5.large") -> dict[str, Any]:
    return {
        "ModelName": model,
        "VariantName": name,
        "InfrastructureConfig": {
            "InfrastructureType": "RealTimeInference",
            "RealTimeInferenceConfig": {"InstanceType": instance_type, "InstanceCount": 1},
        },
    }


def create_params(name: str = "exp-1", endpoint: str = ENDPOINT, **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "Name": name,
        "Type": "ShadowMode",
        "RoleArn": ROLE_ARN,
        "EndpointName": endpoint,
        "ModelVariants": [model_variant("prod", "m-a"), model_variant("shadow", "m-b")],
        "ShadowModeConfig": {
            "SourceModelVariantName": "prod",
            "ShadowModelVariants": [{"ShadowModelVariantName": "shadow", "SamplingPercentage": 50}],
        },
    }
    params.update(overrides)
    return params


def statuses(client: BaseClient, name: str, count: int) -> list[str]:
    return [client.describe_inference_experiment(Name=name)["Status"] for _ in range(count)]


def wait_for(client: BaseClient, name: str, status: str, limit: int = 10) -> None:
    for _ in range(limit):
        if client.describe_inference_experiment(Name=name)["Status"] == status:
            return
    raise AssertionError(f"{name} never reached {status}")


def start_running(client: BaseClient, name: str = "exp-1", **overrides: Any) -> None:
    client.create_inference_experiment(**create_params(name, **overrides))
    wait_for(client, name, "Running")


def error_of(call: Callable[..., Any], **params: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return caught.value.response["Error"]


# --------------------------------------------------------------------------- #
# Lifecycle
# --------------------------------------------------------------------------- #


def test_create_advances_to_running_and_deploys_shadow(standin: SageMakerStandIn, client: BaseClient) -> None:
    arn = client.create_inference_experiment(**create_params("Exp-Upper"))["InferenceExperimentArn"]

    assert arn == "arn:aws:sagemaker:us-east-1:123456789012:inference-experiment/exp-upper"
    assert standin.endpoint_variants(ENDPOINT) == ["prod"]
    assert statuses(client, "Exp-Upper", 4) == ["Creating", "Starting", "Running", "Running"]
    assert standin.experiments["Exp-Upper"]["Status"] == "Running"
    assert standin.endpoint_variants(ENDPOINT) == ["prod", "shadow"]
    endpoint = client.describe_endpoint(EndpointName=ENDPOINT)
    assert endpoint["EndpointStatus"] == "InService"
    assert [v["VariantName"] for v in endpoint["ProductionVariants"]] == ["prod"]
    assert [v["VariantName"] for v in endpoint["ShadowProductionVariants"]] == ["shadow"]


def test_describe_reports_schedule_and_variant_statuses(client: BaseClient) -> None:
    start_running(client, Description="first try")

    described = client.describe_inference_experiment(Name="exp-1")

    assert described["Description"] == "first try"
    assert described["EndpointMetadata"]["EndpointName"] == ENDPOINT
    assert {v["VariantName"]: v["Status"] for v in described["ModelVariants"]} == {
        "prod": "InService",
        "shadow": "InService",
    }
    schedule = described["Schedule"]
    assert (schedule["EndTime"] - schedule["StartTime"]).days == 7


def test_steps_per_transition_repeats_each_status() -> None:
    with SageMakerStandIn(steps_per_transition=2) as slow_standin:
        slow_standin.add_endpoint(ENDPOINT, [production_variant()])
        client = sagemaker_client(slow_standin.url)
        client.create_inference_experiment(**create_params())

        observed = statuses(client, "exp-1", 5)

    assert observed == ["Creating", "Creating", "Starting", "Starting", "Running"]


def test_future_start_waits_in_created_until_start_time(standin: SageMakerStandIn, client: BaseClient) -> None:
    later = time.time() + 3600
    client.create_inference_experiment(**create_params(Schedule={"StartTime": later}))

    assert statuses(client, "exp-1", 4) == ["Creating", "Created", "Created", "Created"]
    assert standin.endpoint_variants(ENDPOINT) == ["prod"]

    client.update_inference_experiment(Name="exp-1", Schedule={"StartTime": time.time() - 1})
    assert statuses(client, "exp-1", 4) == ["Updating", "Created", "Starting", "Running"]


def test_running_past_end_time_completes_and_withdraws_shadow(standin: SageMakerStandIn, client: BaseClient) -> None:
    start_running(client)
    start = standin.experiments["exp-1"]["Schedule"]["StartTime"]

    client.update_inference_experiment(Name="exp-1", Schedule={"EndTime": start + 0.001})

    assert statuses(client, "exp-1", 3) == ["Updating", "Running", "Completed"]
    assert standin.experiments["exp-1"]["CompletionTime"] is not None
    assert standin.endpoint_variants(ENDPOINT) == ["prod"]


def test_cancel_next_start_cancels_with_reason(standin: SageMakerStandIn, client: BaseClient) -> None:
    standin.cancel_next_start("Insufficient capacity for ml.m5.large")
    client.create_inference_experiment(**create_params())

    assert statuses(client, "exp-1", 3) == ["Creating", "Starting", "Cancelled"]
    described = client.describe_inference_experiment(Name="exp-1")
    assert described["StatusReason"] == "Insufficient capacity for ml.m5.large"
    assert "CompletionTime" in described
    assert standin.endpoint_variants(ENDPOINT) == ["prod"]

    client.create_inference_experiment(**create_params("exp-2"))
    wait_for(client, "exp-2", "Running")  # only the next start was cancelled


def test_hang_in_holds_status_until_reset(standin: SageMakerStandIn, client: BaseClient) -> None:
    standin.hang_in("Starting")
    client.create_inference_experiment(**create_params())

    assert statuses(client, "exp-1", 5) == ["Creating"] + ["Starting"] * 4

    standin.reset_faults()
    assert statuses(client, "exp-1", 2) == ["Starting", "Running"]


def test_hang_in_rejects_unknown_status(standin: SageMakerStandIn) -> None:
    with pytest.raises(ValueError, match="unknown status"):
        standin.hang_in("Sleeping")


# --------------------------------------------------------------------------- #
# Create rules
# --------------------------------------------------------------------------- #


def test_create_requires_existing_endpoint(standin: SageMakerStandIn, client: BaseClient) -> None:
    error = error_of(client.create_inference_experiment, **create_params(endpoint="nope"))

    assert error["Code"] == "ValidationException"
    assert error["Message"].startswith("Could not find endpoint")
    assert "nope" in error["Message"]
    assert standin.experiments == {}


def test_create_requires_source_variant_on_endpoint(client: BaseClient) -> None:
    params = create_params(
        ModelVariants=[model_variant("other", "m-a"), model_variant("shadow", "m-b")],
        ShadowModeConfig={
            "SourceModelVariantName": "other",
            "ShadowModelVariants": [{"ShadowModelVariantName": "shadow", "SamplingPercentage": 10}],
        },
    )

    error = error_of(client.create_inference_experiment, **params)

    assert error["Code"] == "ValidationException"
    assert "'other' is not a production variant" in error["Message"]


def test_create_requires_source_variant_among_model_variants(client: BaseClient) -> None:
    params = create_params(ModelVariants=[model_variant("shadow", "m-b")])

    error = error_of(client.create_inference_experiment, **params)

    assert "SourceModelVariantName 'prod' is not one of ModelVariants" in error["Message"]


def test_duplicate_name_is_resource_in_use(client: BaseClient) -> None:
    client.create_inference_experiment(**create_params())

    error = error_of(client.create_inference_experiment, **create_params())

    assert error["Code"] == "ResourceInUse"
    assert "already exists" in error["Message"]


def test_one_active_experiment_per_endpoint(client: BaseClient) -> None:
    start_running(client)

    error = error_of(client.create_inference_experiment, **create_params("exp-2"))

    assert error["Code"] == "ResourceInUse"
    assert "'exp-1'" in error["Message"]


def test_new_experiment_allowed_once_previous_completed(client: BaseClient) -> None:
    start_running(client)
    client.stop_inference_experiment(Name="exp-1", ModelVariantActions={"prod": "Retain", "shadow": "Remove"})
    wait_for(client, "exp-1", "Completed")

    client.create_inference_experiment(**create_params("exp-2"))

    wait_for(client, "exp-2", "Running")


def test_tags_from_create_are_listed(standin: SageMakerStandIn, client: BaseClient) -> None:
    tags = [{"Key": "환경", "Value": "Prüfung 日本 ١٢٣"}, {"Key": "team", "Value": "ml-ops"}]
    arn = client.create_inference_experiment(**create_params(Tags=tags))["InferenceExperimentArn"]

    assert client.list_tags(ResourceArn=arn)["Tags"] == tags
    assert standin.experiments["exp-1"]["Tags"] == tags


# --------------------------------------------------------------------------- #
# Update, stop, delete
# --------------------------------------------------------------------------- #


def test_update_applies_sampling_and_description(standin: SageMakerStandIn, client: BaseClient) -> None:
    start_running(client)
    shadow_config = copy.deepcopy(create_params()["ShadowModeConfig"])
    shadow_config["ShadowModelVariants"][0]["SamplingPercentage"] = 100

    client.update_inference_experiment(Name="exp-1", ShadowModeConfig=shadow_config, Description="full traffic")

    assert statuses(client, "exp-1", 2) == ["Updating", "Running"]
    described = client.describe_inference_experiment(Name="exp-1")
    assert described["ShadowModeConfig"]["ShadowModelVariants"][0]["SamplingPercentage"] == 100
    assert described["Description"] == "full traffic"
    assert standin.endpoint_variants(ENDPOINT) == ["prod", "shadow"]


def test_update_cannot_move_start_time_while_running(client: BaseClient) -> None:
    start_running(client)

    error = error_of(client.update_inference_experiment, Name="exp-1", Schedule={"StartTime": time.time() + 60})

    assert error["Code"] == "ValidationException"
    assert "StartTime" in error["Message"]


def test_update_rejected_outside_created_or_running(client: BaseClient) -> None:
    client.create_inference_experiment(**create_params())

    error = error_of(client.update_inference_experiment, Name="exp-1", Description="x")

    assert error["Code"] == "ConflictException"
    assert "Creating" in error["Message"]


@pytest.mark.parametrize(
    ("actions", "expected_variants", "expected_models"),
    [
        ({"prod": "Retain", "shadow": "Remove"}, ["prod"], ["m-a"]),
        ({"prod": "Retain", "shadow": "Retain"}, ["prod", "shadow"], ["m-a", "m-b"]),
        ({"prod": "Remove", "shadow": "Promote"}, ["prod"], ["m-b"]),
    ],
    ids=["remove-shadow", "retain-shadow", "promote-shadow"],
)
def test_stop_applies_variant_actions_to_endpoint(
    standin: SageMakerStandIn,
    client: BaseClient,
    actions: dict[str, str],
    expected_variants: list[str],
    expected_models: list[str],
) -> None:
    start_running(client)
    promoted = [model_variant("prod", "m-b")] if "Promote" in actions.values() else None

    client.stop_inference_experiment(
        Name="exp-1", ModelVariantActions=actions, **({"DesiredModelVariants": promoted} if promoted else {})
    )

    assert statuses(client, "exp-1", 2) == ["Stopping", "Completed"]
    assert standin.endpoint_variants(ENDPOINT) == expected_variants
    production = standin.endpoint_config(ENDPOINT)["ProductionVariants"]
    assert [v["ModelName"] for v in production] == expected_models
    assert "ShadowProductionVariants" not in client.describe_endpoint(EndpointName=ENDPOINT)


def test_stop_with_cancelled_state_records_reason(client: BaseClient) -> None:
    start_running(client)

    client.stop_inference_experiment(
        Name="exp-1",
        ModelVariantActions={"prod": "Retain", "shadow": "Remove"},
        DesiredState="Cancelled",
        Reason="bad metrics",
    )

    assert statuses(client, "exp-1", 2) == ["Stopping", "Cancelled"]
    assert client.describe_inference_experiment(Name="exp-1")["StatusReason"] == "bad metrics"


@pytest.mark.parametrize(
    ("actions", "desired", "message"),
    [
        ({"prod": "Retain", "canary": "Remove"}, None, "['canary']"),
        ({"prod": "Remove", "shadow": "Promote"}, None, "DesiredModelVariants is required"),
        ({"prod": "Retain", "shadow": "Promote"}, [model_variant("prod", "m-b")], "requires removing"),
        ({"prod": "Promote", "shadow": "Remove"}, None, "cannot be promoted"),
    ],
    ids=["unknown-variant", "promote-without-desired", "promote-keeping-prod", "promote-prod"],
)
def test_stop_rejects_invalid_actions(
    client: BaseClient, actions: dict[str, str], desired: list[dict[str, Any]] | None, message: str
) -> None:
    start_running(client)
    extra = {"DesiredModelVariants": desired} if desired else {}

    error = error_of(client.stop_inference_experiment, Name="exp-1", ModelVariantActions=actions, **extra)

    assert error["Code"] == "ValidationException"
    assert message in error["Message"]


def test_stop_rejected_while_creating(client: BaseClient) -> None:
    client.create_inference_experiment(**create_params())

    error = error_of(client.stop_inference_experiment, Name="exp-1", ModelVariantActions={"shadow": "Remove"})

    assert error["Code"] == "ValidationException"
    assert "Creating" in error["Message"]


def test_delete_only_after_completion(standin: SageMakerStandIn, client: BaseClient) -> None:
    start_running(client)

    error = error_of(client.delete_inference_experiment, Name="exp-1")
    assert error["Code"] == "ValidationException"
    assert "Running" in error["Message"]

    client.stop_inference_experiment(Name="exp-1", ModelVariantActions={"shadow": "Remove"})
    wait_for(client, "exp-1", "Completed")
    deleted = client.delete_inference_experiment(Name="exp-1")

    assert deleted["InferenceExperimentArn"].endswith(":inference-experiment/exp-1")
    assert "exp-1" not in standin.experiments
    missing = error_of(client.describe_inference_experiment, Name="exp-1")
    assert missing["Code"] == "ResourceNotFound"
    assert "does not exist" in missing["Message"]


# --------------------------------------------------------------------------- #
# List, endpoint, tags
# --------------------------------------------------------------------------- #


def test_list_filters_and_pages(standin: SageMakerStandIn, client: BaseClient) -> None:
    for index in range(3):
        endpoint = f"ep-list-{index}"
        standin.add_endpoint(endpoint, [production_variant()])
        client.create_inference_experiment(**create_params(f"shadow-{index}", endpoint))
    standin.add_endpoint("ep-other", [production_variant()])
    client.create_inference_experiment(**create_params("other", "ep-other"))
    wait_for(client, "shadow-1", "Running")

    first = client.list_inference_experiments(NameContains="shadow", MaxResults=2)
    second = client.list_inference_experiments(NameContains="shadow", MaxResults=2, NextToken=first["NextToken"])
    running = client.list_inference_experiments(StatusEquals="Running")["InferenceExperiments"]
    ascending = client.list_inference_experiments(SortBy="Name", SortOrder="Ascending")

    assert [e["Name"] for e in first["InferenceExperiments"]] == ["shadow-2", "shadow-1"]
    assert [e["Name"] for e in second["InferenceExperiments"]] == ["shadow-0"]
    assert "NextToken" not in second
    assert [e["Name"] for e in running] == ["shadow-1"]
    assert [e["Name"] for e in ascending["InferenceExperiments"]] == [
        "other", "shadow-0", "shadow-1", "shadow-2",
    ]  # fmt: skip
    pages = client.get_paginator("list_inference_experiments").paginate(PaginationConfig={"PageSize": 1})
    assert len([e for page in pages for e in page["InferenceExperiments"]]) == 4


def test_list_rejects_bad_token(client: BaseClient) -> None:
    error = error_of(client.list_inference_experiments, NextToken="garbage")

    assert error["Code"] == "ValidationException"
    assert "pagination token" in error["Message"]


def test_describe_unknown_endpoint(client: BaseClient) -> None:
    error = error_of(client.describe_endpoint, EndpointName="ghost")

    assert error["Code"] == "ValidationException"
    assert error["Message"].startswith("Could not find endpoint")


def test_list_tags_of_an_unknown_resource_is_a_validation_error(client: BaseClient) -> None:
    missing = error_of(client.list_tags, ResourceArn="arn:aws:sagemaker:us-east-1:123456789012:endpoint/ghost")

    assert missing["Code"] == "ValidationException"
    assert "does not exist" in missing["Message"]


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
    *(ROOT / "lambda" / "shadow_test_core").glob("*.py"),
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


@pytest.mark.parametrize("call", ["describe_model", "add_tags"])
def test_other_operations_are_unknown(client: BaseClient, call: str) -> None:
    params = {"ModelName": "m-a"} if call == "describe_model" else {"ResourceArn": "arn", "Tags": []}

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

    client.describe_endpoint(EndpointName=ENDPOINT)
    start_running(client)


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

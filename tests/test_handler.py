"""The handler end to end: the real boto3 client against the SageMaker stand-in on loopback HTTP."""

from __future__ import annotations

import copy
import re
from datetime import datetime, timedelta, timezone

import boto3
import pytest

from devtools.provider_driver import CREATE_FAILED_MARKER, RESPONSE_URL, ProviderDriver
from devtools.sagemaker_standin import SageMakerStandIn
from shadow_test_core import handler

ENDPOINT = "churn-endpoint"
PROPS = {
    "EndpointName": ENDPOINT,
    "RoleArn": "arn:aws:iam::123456789012:role/shadow-runner",
    "ProductionVariant": {
        "VariantName": "prod",
        "ModelName": "model-a",
        "InstanceType": "ml.m5.large",
        "InstanceCount": 1,
    },
    "ShadowVariant": {
        "VariantName": "shadow",
        "ModelName": "model-b",
        "InstanceType": "ml.c5.xlarge",
        "InstanceCount": 2,
    },
    "SamplingPercentage": 40,
    "ShadowActionOnDelete": "Remove",
    "Tags": [{"Key": "team", "Value": "churn"}],
}
NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,119}")


def props(**changes) -> dict:
    result = copy.deepcopy(PROPS)
    result.update(changes)
    return result


@pytest.fixture
def standin(monkeypatch):
    with SageMakerStandIn() as server:
        server.add_endpoint(
            ENDPOINT,
            [{"VariantName": "prod", "ModelName": "model-a", "InstanceType": "ml.m5.large", "InstanceCount": 1}],
        )
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", server.url)
        monkeypatch.setenv("SAGEMAKER_MAX_ATTEMPTS", "4")
        handler.reset_clients()
        yield server
        handler.reset_clients()


@pytest.fixture
def driver() -> ProviderDriver:
    return ProviderDriver()


def _active(standin: SageMakerStandIn) -> list[str]:
    return [n for n, e in standin.experiments.items() if e["Status"] not in ("Completed", "Cancelled")]


def test_create_waits_until_running_and_answers_arn_and_name(standin, driver) -> None:
    outcome = driver.create("Shadow", PROPS)
    assert outcome.status == "SUCCESS", outcome.reason
    name = outcome.physical_id
    assert NAME_PATTERN.fullmatch(name) and name.startswith("ShadowStack-Shadow-")
    assert outcome.data == {"ExperimentName": name, "ExperimentArn": standin.experiments[name]["Arn"]}
    assert standin.experiments[name]["Status"] == "Running"
    (request,) = standin.calls_of("CreateInferenceExperiment")
    assert request["Type"] == "ShadowMode"
    assert request["ShadowModeConfig"] == {
        "SourceModelVariantName": "prod",
        "ShadowModelVariants": [{"ShadowModelVariantName": "shadow", "SamplingPercentage": 40}],
    }
    assert request["ModelVariants"][1]["InfrastructureConfig"]["RealTimeInferenceConfig"] == {
        "InstanceType": "ml.c5.xlarge",
        "InstanceCount": 2,
    }
    tags = {t["Key"]: t["Value"] for t in request["Tags"]}
    assert tags == {
        "team": "churn",
        "cdk-shadow-test:stack-id": driver.stack_id,
        "cdk-shadow-test:logical-id": "Shadow",
    }
    assert "shadow" in standin.endpoint_variants(ENDPOINT)


def test_create_with_a_future_start_completes_when_created(standin, driver) -> None:
    start = datetime.now(timezone.utc) + timedelta(days=2)
    outcome = driver.create("Shadow", props(Schedule={"StartTime": start.isoformat(), "DurationSeconds": 86400}))
    assert outcome.status == "SUCCESS", outcome.reason
    experiment = standin.experiments[outcome.physical_id]
    assert experiment["Status"] == "Created"
    (request,) = standin.calls_of("CreateInferenceExperiment")
    assert request["Schedule"]["EndTime"] - request["Schedule"]["StartTime"] == pytest.approx(86400)


def test_duration_becomes_start_and_end_at_deploy_time(standin, driver) -> None:
    before = datetime.now(timezone.utc).timestamp()
    assert driver.create("Shadow", props(Schedule={"DurationSeconds": 3 * 86400})).status == "SUCCESS"
    (request,) = standin.calls_of("CreateInferenceExperiment")
    assert before - 1 <= request["Schedule"]["StartTime"] <= datetime.now(timezone.utc).timestamp() + 1
    assert request["Schedule"]["EndTime"] - request["Schedule"]["StartTime"] == pytest.approx(3 * 86400)


def test_create_that_ends_cancelled_deletes_it_and_fails_with_sagemakers_reason(standin, driver) -> None:
    standin.cancel_next_start("Insufficient capacity for ml.c5.xlarge")
    outcome = driver.create("Shadow", PROPS)
    assert outcome.status == "FAILED"
    assert "Insufficient capacity for ml.c5.xlarge" in outcome.reason
    assert standin.experiments == {}
    calls_before = len(standin.calls)
    # CloudFormation's rollback: Delete of the physical id the failed create answered with.
    rollback = driver.delete("Shadow", outcome.physical_id, PROPS)
    assert rollback.status == "SUCCESS"
    assert {op for op, _ in standin.calls[calls_before:]} == {"DescribeInferenceExperiment"}


def test_invalid_resolved_properties_fail_before_any_sagemaker_call(standin, driver) -> None:
    bad = props(SamplingPercentage=0, ShadowVariant={**PROPS["ShadowVariant"], "InstanceType": "m5.large"})
    outcome = driver.create("Shadow", bad)
    assert outcome.status == "FAILED" and outcome.physical_id == CREATE_FAILED_MARKER
    assert "sampling_percentage: must be 1-100, got 0" in outcome.reason
    assert "shadow_variant.instance_type: 'm5.large' is not allowed; did you mean 'ml.m5.large'?" in outcome.reason
    assert standin.calls == []
    assert driver.delete("Shadow", outcome.physical_id, bad).status == "SUCCESS"


def test_missing_production_variant_fails_listing_the_endpoints_variants(standin, driver) -> None:
    outcome = driver.create("Shadow", props(ProductionVariant={**PROPS["ProductionVariant"], "VariantName": "primary"}))
    assert outcome.status == "FAILED"
    assert "endpoint 'churn-endpoint' has no variant 'primary' (its variants: prod)" in outcome.reason
    assert standin.calls_of("CreateInferenceExperiment") == []


def test_missing_endpoint_fails_before_create(standin, driver) -> None:
    outcome = driver.create("Shadow", props(EndpointName="no-such-endpoint"))
    assert outcome.status == "FAILED" and "endpoint_name" in outcome.reason
    assert standin.calls_of("CreateInferenceExperiment") == []


def test_in_place_update_keeps_the_physical_id(standin, driver) -> None:
    created = driver.create("Shadow", PROPS)
    new = props(SamplingPercentage=75, Description="more traffic")
    outcome = driver.update("Shadow", created.physical_id, new, PROPS)
    assert outcome.status == "SUCCESS", outcome.reason
    assert outcome.physical_id == created.physical_id
    (update,) = standin.calls_of("UpdateInferenceExperiment")
    assert update["ShadowModeConfig"]["ShadowModelVariants"][0]["SamplingPercentage"] == 75
    assert update["Description"] == "more traffic"
    experiment = standin.experiments[created.physical_id]
    assert experiment["Status"] == "Running"
    assert experiment["ShadowModeConfig"]["ShadowModelVariants"][0]["SamplingPercentage"] == 75


def test_update_rollback_restores_the_old_settings(standin, driver) -> None:
    created = driver.create("Shadow", PROPS)
    new = props(SamplingPercentage=75)
    driver.update("Shadow", created.physical_id, new, PROPS)
    rolled_back = driver.update("Shadow", created.physical_id, PROPS, new)
    assert rolled_back.status == "SUCCESS" and rolled_back.physical_id == created.physical_id
    config = standin.experiments[created.physical_id]["ShadowModeConfig"]
    assert config["ShadowModelVariants"][0]["SamplingPercentage"] == 40


def test_changing_only_the_delete_action_calls_no_mutating_api(standin, driver) -> None:
    created = driver.create("Shadow", PROPS)
    outcome = driver.update("Shadow", created.physical_id, props(ShadowActionOnDelete="Retain"), PROPS)
    assert outcome.status == "SUCCESS" and outcome.physical_id == created.physical_id
    assert {op for op, _ in standin.calls} <= {
        "CreateInferenceExperiment",
        "DescribeInferenceExperiment",
        "ListTags",
        "DescribeEndpoint",
    }


def test_replacement_on_the_same_endpoint_stops_the_old_one_first(standin, driver) -> None:
    created = driver.create("Shadow", PROPS)
    new = props(ShadowVariant={**PROPS["ShadowVariant"], "InstanceType": "ml.g5.xlarge"})
    outcome = driver.update("Shadow", created.physical_id, new, PROPS)
    assert outcome.status == "SUCCESS", outcome.reason
    assert outcome.physical_id != created.physical_id
    assert _active(standin) == [outcome.physical_id]
    assert created.physical_id not in standin.experiments  # CloudFormation's cleanup deleted it
    stops = standin.calls_of("StopInferenceExperiment")
    assert stops[0]["Name"] == created.physical_id
    assert stops[0]["ModelVariantActions"] == {"prod": "Retain", "shadow": "Remove"}


def test_replacement_under_an_unchanged_fixed_name_keeps_the_physical_id(standin, driver) -> None:
    fixed = props(ExperimentName="churn-shadow")
    created = driver.create("Shadow", fixed)
    assert created.physical_id == "churn-shadow"
    new = props(ExperimentName="churn-shadow", ShadowVariant={**PROPS["ShadowVariant"], "ModelName": "model-c"})
    outcome = driver.update("Shadow", "churn-shadow", new, fixed)
    assert outcome.status == "SUCCESS", outcome.reason
    assert outcome.physical_id == "churn-shadow"
    experiment = standin.experiments["churn-shadow"]
    assert experiment["Status"] == "Running"
    assert experiment["ModelVariants"][1]["ModelName"] == "model-c"
    assert [c["Name"] for c in standin.calls_of("DeleteInferenceExperiment")] == ["churn-shadow"]
    assert len(standin.calls_of("CreateInferenceExperiment")) == 2


def test_update_of_a_completed_experiment_creates_a_new_one(standin, driver) -> None:
    created = driver.create("Shadow", PROPS)
    _end_out_of_band(standin, created.physical_id)
    outcome = driver.update("Shadow", created.physical_id, props(SamplingPercentage=50), PROPS)
    assert outcome.status == "SUCCESS", outcome.reason
    assert outcome.physical_id != created.physical_id
    assert _active(standin) == [outcome.physical_id]


def _end_out_of_band(standin: SageMakerStandIn, name: str) -> None:
    """The experiment's schedule ends: SageMaker stops it and removes the shadow variant."""
    client = boto3.client("sagemaker", endpoint_url=standin.url)
    client.stop_inference_experiment(Name=name, ModelVariantActions={"prod": "Retain", "shadow": "Remove"})
    while client.describe_inference_experiment(Name=name)["Status"] != "Completed":
        pass


@pytest.mark.parametrize(
    ("action", "expected_actions", "variants_after"),
    [
        ("Remove", {"prod": "Retain", "shadow": "Remove"}, ["prod"]),
        ("Retain", {"prod": "Retain", "shadow": "Retain"}, ["prod", "shadow"]),
        ("Promote", {"prod": "Remove", "shadow": "Promote"}, ["shadow"]),
    ],
)
def test_delete_stops_with_the_configured_action_then_deletes(
    standin, driver, action, expected_actions, variants_after
) -> None:
    settings = props(ShadowActionOnDelete=action)
    created = driver.create("Shadow", settings)
    outcome = driver.delete("Shadow", created.physical_id, settings)
    assert outcome.status == "SUCCESS", outcome.reason
    (stop,) = standin.calls_of("StopInferenceExperiment")
    assert stop["ModelVariantActions"] == expected_actions
    if action == "Promote":
        assert stop["DesiredModelVariants"][0]["ModelName"] == "model-b"
    assert standin.experiments == {}
    assert sorted(standin.endpoint_variants(ENDPOINT)) == variants_after


@pytest.mark.parametrize(
    "physical_id",
    ["never-created", CREATE_FAILED_MARKER, "AWSCDK::CustomResourceProviderFramework::MISSING_PHYSICAL_ID"],
)
def test_delete_of_something_not_ours_succeeds_without_touching_anything(standin, driver, physical_id) -> None:
    outcome = driver.delete("Shadow", physical_id, PROPS)
    assert outcome.status == "SUCCESS"
    assert not [op for op, _ in standin.calls if op not in ("DescribeInferenceExperiment",)]


def test_foreign_experiment_under_our_fixed_name_is_neither_adopted_nor_deleted(standin, driver) -> None:
    other = ProviderDriver(stack_id="arn:aws:cloudformation:us-east-1:123456789012:stack/Other/0000")
    theirs = other.create("Theirs", props(ExperimentName="shared-name"))
    assert theirs.status == "SUCCESS"
    standin.add_endpoint(
        "second-endpoint",
        [{"VariantName": "prod", "ModelName": "model-a", "InstanceType": "ml.m5.large", "InstanceCount": 1}],
    )
    ours = driver.create("Shadow", props(ExperimentName="shared-name", EndpointName="second-endpoint"))
    assert ours.status == "FAILED" and "did not create" in ours.reason
    assert driver.delete("Shadow", "shared-name", PROPS).status == "SUCCESS"
    assert standin.experiments["shared-name"]["Status"] == "Running"


def test_the_same_create_delivered_twice_adopts_the_first_experiment(standin, driver) -> None:
    first = driver.create("Shadow", PROPS, request_id="req-1")
    second = driver.create("Shadow", PROPS, request_id="req-1")
    assert first.status == second.status == "SUCCESS"
    assert first.physical_id == second.physical_id
    assert len(standin.calls_of("CreateInferenceExperiment")) == 1


def test_throttled_calls_are_retried_and_the_outcome_is_unchanged(standin, driver) -> None:
    standin.inject("throttle", operation="CreateInferenceExperiment", count=2)
    standin.inject("server_error", operation="DescribeInferenceExperiment", count=1)
    outcome = driver.create("Shadow", PROPS)
    assert outcome.status == "SUCCESS", outcome.reason
    assert len(standin.calls_of("CreateInferenceExperiment")) == 3


def test_a_describe_still_throttled_after_retries_means_not_complete_yet(standin, monkeypatch) -> None:
    created = ProviderDriver().create("Shadow", PROPS)
    monkeypatch.setenv("SAGEMAKER_MAX_ATTEMPTS", "1")
    handler.reset_clients()
    standin.inject("throttle", operation="DescribeInferenceExperiment", count=100)
    event = {
        "RequestType": "Create",
        "StackId": ProviderDriver().stack_id,
        "LogicalResourceId": "Shadow",
        "RequestId": "r",
        "PhysicalResourceId": created.physical_id,
        "ResourceProperties": PROPS,
    }
    assert handler.is_complete(event) == {"IsComplete": False}
    standin.reset_faults()
    assert handler.is_complete(event)["IsComplete"] is True


def test_logs_are_json_lines_without_the_response_url(standin, capsys) -> None:
    driver = ProviderDriver()
    created = driver.create("Shadow", PROPS)
    # Even an unsanitized event (ResponseURL present) must not leak it.
    handler.on_event(
        {
            "RequestType": "Delete",
            "ResponseURL": RESPONSE_URL,
            "StackId": driver.stack_id,
            "LogicalResourceId": "Shadow",
            "RequestId": "r2",
            "PhysicalResourceId": created.physical_id,
            "ResourceProperties": PROPS,
        }
    )
    out = capsys.readouterr().out
    assert "X-Amz-Signature" not in out and RESPONSE_URL not in out
    import json

    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert records and all("message" in r and "requestType" in r for r in records)
    assert any(r.get("call") == "CreateInferenceExperiment" for r in records)

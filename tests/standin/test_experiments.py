"""The stand-in's inference experiments and endpoints, driven through the real boto3 client."""

from __future__ import annotations

import copy
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.client import BaseClient

from devtools.sagemaker_standin import SageMakerStandIn
from tests.standin.helpers import (
    ENDPOINT,
    create_params,
    error_of,
    model_variant,
    production_variant,
    sagemaker_client,
    start_running,
    statuses,
    wait_for,
)

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

    # Whole seconds (older botocore sends no fraction of a second), then the clock passes the end.
    client.update_inference_experiment(Name="exp-1", Schedule={"EndTime": start + 1})
    standin.service.clock = lambda: start + 2

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
# What an update may change, by status (SageMaker's "Edit a shadow test" guide)
# --------------------------------------------------------------------------- #

_CAPTURE = {"Destination": "s3://capture-bucket/shadow"}


def _schedule_later(client: BaseClient, name: str = "exp-1") -> None:
    start = datetime.now(timezone.utc) + timedelta(days=1)
    client.create_inference_experiment(
        **create_params(name, Schedule={"StartTime": start, "EndTime": start + timedelta(days=2)})
    )
    wait_for(client, name, "Created")


def test_update_resizes_only_the_variant_it_names_before_the_start(client: BaseClient) -> None:
    _schedule_later(client)

    client.update_inference_experiment(Name="exp-1", ModelVariants=[model_variant("shadow", "m-b", "ml.c5.xlarge")])

    variants = {v["VariantName"]: v for v in client.describe_inference_experiment(Name="exp-1")["ModelVariants"]}
    assert variants["shadow"]["InfrastructureConfig"]["RealTimeInferenceConfig"]["InstanceType"] == "ml.c5.xlarge"
    assert variants["prod"]["InfrastructureConfig"]["RealTimeInferenceConfig"]["InstanceType"] == "ml.m5.large"


def test_update_refuses_a_new_model_at_any_status(client: BaseClient) -> None:
    _schedule_later(client)

    error = error_of(client.update_inference_experiment, Name="exp-1", ModelVariants=[model_variant("shadow", "m-c")])

    assert error["Code"] == "ValidationException" and "model" in error["Message"]


def test_update_refuses_infrastructure_changes_while_running(client: BaseClient) -> None:
    start_running(client)

    error = error_of(
        client.update_inference_experiment, Name="exp-1", ModelVariants=[model_variant("shadow", "m-b", "ml.c5.xlarge")]
    )

    assert error["Code"] == "ValidationException" and "Running" in error["Message"]


def test_update_sets_capture_before_the_start(client: BaseClient) -> None:
    _schedule_later(client)
    client.update_inference_experiment(Name="exp-1", DataStorageConfig=_CAPTURE)
    assert client.describe_inference_experiment(Name="exp-1")["DataStorageConfig"] == _CAPTURE


def test_update_refuses_capture_changes_while_running(client: BaseClient) -> None:
    start_running(client)

    error = error_of(client.update_inference_experiment, Name="exp-1", DataStorageConfig=_CAPTURE)

    assert error["Code"] == "ValidationException" and "Running" in error["Message"]


def test_add_and_delete_tags_change_only_the_keys_named(client: BaseClient) -> None:
    start_running(client, Tags=[{"Key": "team", "Value": "a"}, {"Key": "owner", "Value": "x"}])
    arn = client.describe_inference_experiment(Name="exp-1")["Arn"]

    client.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "b"}, {"Key": "cost", "Value": "ml"}])
    client.delete_tags(ResourceArn=arn, TagKeys=["owner"])

    tags = {t["Key"]: t["Value"] for t in client.list_tags(ResourceArn=arn)["Tags"]}
    assert tags == {"team": "b", "cost": "ml"}

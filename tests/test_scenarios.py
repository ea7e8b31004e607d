"""The scenario matrix of docs/scenarios.md: the handler end to end, one named test per scenario.

The test bed: the SageMaker stand-in on loopback HTTP, the real boto3 client with its retries
(botocore's backoff shrunk), and ``ProviderDriver`` playing the Provider framework and
CloudFormation with a simulated clock: every poll moves time on by the query interval, so the
45-minute total timeout costs no waiting. After every scenario :meth:`Bed.assert_nothing_lost`
checks the stand-in's end state.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import boto3
import botocore.retries.bucket
import botocore.retries.standard
import pytest
from botocore.config import Config

from devtools.provider_driver import (
    CHURN_VALUES,
    CREATE_FAILED_MARKER,
    RESPONSE_LIMIT_BYTES,
    RESPONSE_URL,
    ProviderDriver,
    SimulatedClock,
    properties,
)
from devtools.sagemaker_standin import TERMINAL_STATUSES, SageMakerStandIn
from shadow_test_core.experiment import rules as request_rules
from shadow_test_core.experiment.sagemaker_api import SageMakerApi, create_client
from shadow_test_core.experiment.spec import OWNER_RESOURCE_TAG, OWNER_STACK_TAG

ENDPOINT = "churn-endpoint"
ROLE_ARN = "arn:aws:iam::123456789012:role/shadow-runner"
PRODUCTION = {"VariantName": "prod", "ModelName": "model-a", "InstanceType": "ml.m5.large", "InstanceCount": 1}
#: The resource's settings as prop-path values (what a user writes in ShadowTestExperiment).
VALUES: dict[str, Any] = CHURN_VALUES
PROPS: dict[str, Any] = properties(VALUES)
OTHER_STACK = "arn:aws:cloudformation:us-east-1:123456789012:stack/OtherStack/99999999-0000-1111-2222-333344445555"
NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,119}")
MAX_ATTEMPTS = 4  # per SageMaker call, the first included
TOTAL_TIMEOUT = 45 * 60
QUERY_INTERVAL = 30
MUTATING = frozenset(
    {"CreateInferenceExperiment", "UpdateInferenceExperiment", "StopInferenceExperiment", "DeleteInferenceExperiment"}
)


def props(**changes: Any) -> dict[str, Any]:
    """The properties the construct writes for VALUES with ``changes`` (``shadow_variant__model_name=``)."""
    return properties(VALUES, **changes)


def tags_of(record: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in record["Tags"]}


#: botocore's backoff runs this many times faster than in Lambda (its throttling base scale is 1 s).
BACKOFF_SCALE = 0.01


class _FastTokenBucket(botocore.retries.bucket.TokenBucket):
    """Adaptive mode's client-side rate limiter, its floor raised a hundredfold like the backoff."""

    def __init__(self, max_rate: float, clock: Any, min_rate: float = 0.5) -> None:
        super().__init__(max_rate=max_rate, clock=clock, min_rate=min_rate / BACKOFF_SCALE)


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Shrink botocore's retry waits a hundredfold so retries cost milliseconds.

    The handler's client uses adaptive mode: standard mode's exponential backoff, plus a client-side
    token bucket that throttling slows down to half a request a second. Both run a hundredfold faster,
    except the bucket in the load scenario (marked slow), which measures adaptive mode holding many
    clients under a real rate limit: there the bucket must slow them down for real.
    """
    monkeypatch.setattr(
        botocore.retries.standard.ExponentialBackoff,
        "_DEFAULT_BACKOFF_CONFIG",
        {"throttling_base_scale": BACKOFF_SCALE, "non_throttling_base_scale": 0.05 * BACKOFF_SCALE},
    )
    if request.node.get_closest_marker("slow") is None:
        monkeypatch.setattr(botocore.retries.bucket, "TokenBucket", _FastTokenBucket)


@pytest.fixture(autouse=True)
def provider_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """What the provider's functions get from their environment (each driver makes its own client)."""
    monkeypatch.setenv("SAGEMAKER_MAX_ATTEMPTS", str(MAX_ATTEMPTS))
    monkeypatch.setenv("PROVIDER_TOTAL_TIMEOUT_SECONDS", str(TOTAL_TIMEOUT))
    monkeypatch.setenv("PROVIDER_QUERY_INTERVAL_SECONDS", str(QUERY_INTERVAL))
    yield


@dataclass
class Bed:
    """The stand-in, a stack (the driver) and what the invariants need to know."""

    standin: SageMakerStandIn
    driver: ProviderDriver
    clock: SimulatedClock
    #: Endpoint -> its production variants' names before anything ran.
    endpoints: dict[str, list[str]] = field(default_factory=dict)
    #: Experiments that the stack did not create (planted by the scenario).
    foreign: set[str] = field(default_factory=set)
    #: Endpoint -> the delete action used on it, when not Remove (its variants change on purpose).
    actions: dict[str, str] = field(default_factory=dict)

    def add_endpoint(self, name: str, variants: list[dict[str, Any]] | None = None) -> None:
        variants = variants or [PRODUCTION]
        self.standin.add_endpoint(name, variants)
        self.endpoints[name] = [v["VariantName"] for v in variants]

    def client(self) -> Any:
        """A plain client outside the handler (SageMaker's console, another tool, its scheduler)."""
        return boto3.client(
            "sagemaker",
            endpoint_url=self.standin.url,
            config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
        )

    def describe(self, name: str) -> str:
        """Look once (the stand-in's lifecycle moves on looks); the status it had."""
        return self.client().describe_inference_experiment(Name=name)["Status"]

    def plant_foreign(self, name: str, endpoint: str, *, tagged_by_other_stack: bool) -> None:
        """A running experiment that this stack did not create."""
        if tagged_by_other_stack:
            other = ProviderDriver(stack_id=OTHER_STACK, clock=self.clock)
            assert other.create("Theirs", props(experiment_name=name, endpoint_name=endpoint)).status == "SUCCESS"
        else:
            params = {
                "Name": name,
                "Type": "ShadowMode",
                "RoleArn": ROLE_ARN,
                "EndpointName": endpoint,
                "ModelVariants": [
                    {"ModelName": m, "VariantName": v, "InfrastructureConfig": {"InfrastructureType": "RealTimeInference",
                     "RealTimeInferenceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1}}}
                    for v, m in (("prod", "model-a"), ("canary", "model-z"))
                ],
                "ShadowModeConfig": {"SourceModelVariantName": "prod",
                                     "ShadowModelVariants": [{"ShadowModelVariantName": "canary", "SamplingPercentage": 5}]},
            }  # fmt: skip
            self.client().create_inference_experiment(**params)
            while self.describe(name) != "Running":
                pass
        self.foreign.add(name)

    def end_by_schedule(self, name: str) -> None:
        """The experiment's schedule runs out: time passes and SageMaker completes it."""
        end = self.standin.experiments[name]["Schedule"]["EndTime"]
        self.clock.advance(max(0.0, end - self.clock.time()) + 1)
        while self.describe(name) != "Completed":
            pass

    def delete_stack(self, props_of: dict[str, dict[str, Any]]) -> None:
        """CloudFormation deletes every resource the stack still has."""
        for logical_id, physical_id in list(self.driver.resources.items()):
            outcome = self.driver.delete(logical_id, physical_id, props_of[logical_id])
            assert outcome.status == "SUCCESS", outcome.reason

    def assert_nothing_lost(self) -> None:
        """The invariants every scenario ends with.

        * every experiment the stack created is one its resources hold (none left behind, none
          duplicated), and every other experiment is one the scenario planted;
        * nothing the stack did not create was stopped, updated or deleted;
        * an endpoint without an active experiment has exactly its original production variants
          and no shadow variant (unless the scenario deleted with Retain or Promote there);
        * every response to CloudFormation fits in its 4 KB limit.
        """
        experiments = copy.deepcopy(self.standin.experiments)
        live = set(self.driver.resources.values())
        for name, record in experiments.items():
            tags = tags_of(record)
            if tags.get(OWNER_STACK_TAG) == self.driver.stack_id:
                assert name in live, f"{name} ({record['Status']}) left behind; the stack holds {sorted(live)}"
            else:
                assert name in self.foreign, f"{name} ({record['Status']}) appeared from nowhere"
        held = [tags_of(r).get(OWNER_RESOURCE_TAG) for r in experiments.values() if r["Name"] in live]
        assert len(held) == len(set(held)), f"a resource holds more than one experiment: {held}"
        for name in self.foreign:
            assert name in experiments, f"foreign experiment {name} was deleted"
            touched = [op for op, params in self.standin.calls if op in MUTATING and params.get("Name") == name]
            assert touched in ([], ["CreateInferenceExperiment"]), f"foreign experiment {name} was touched: {touched}"
        for endpoint, original in self.endpoints.items():
            active = [
                r
                for r in experiments.values()
                if r["EndpointName"] == endpoint and r["Status"] not in TERMINAL_STATUSES
            ]
            if active or endpoint in self.actions:
                continue
            config = self.standin.endpoint_config(endpoint)
            assert config["ShadowProductionVariants"] == [], f"shadow variant left on {endpoint}"
            assert [v["VariantName"] for v in config["ProductionVariants"]] == original
        for outcome in self.driver.responses:
            size = len(outcome.response_body.encode())
            assert size < RESPONSE_LIMIT_BYTES, f"{outcome.request_type} response of {size} bytes"


@pytest.fixture
def bed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bed]:
    clock = SimulatedClock()
    with SageMakerStandIn(clock=clock.time) as standin:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", standin.url)
        driver = ProviderDriver(clock=clock, total_timeout_seconds=TOTAL_TIMEOUT, query_interval_seconds=QUERY_INTERVAL)
        testbed = Bed(standin, driver, clock)
        testbed.add_endpoint(ENDPOINT)
        yield testbed


def _ok(outcome: Any) -> Any:
    assert outcome.status == "SUCCESS", outcome.reason
    return outcome


# --- 1-3: create -----------------------------------------------------------------------------


def test_01_create_reaches_running(bed: Bed) -> None:
    created = _ok(bed.driver.create("Shadow", PROPS))
    assert NAME_PATTERN.fullmatch(created.physical_id) and created.physical_id.startswith("ShadowStack-Shadow-")
    record = bed.standin.experiments[created.physical_id]
    assert record["Status"] == "Running"
    (request,) = bed.standin.calls_of("CreateInferenceExperiment")
    assert request["Type"] == "ShadowMode"
    assert request["ShadowModeConfig"] == {
        "SourceModelVariantName": "prod",
        "ShadowModelVariants": [{"ShadowModelVariantName": "shadow", "SamplingPercentage": 40}],
    }
    assert request["ModelVariants"][1]["InfrastructureConfig"] == {
        "InfrastructureType": "RealTimeInference",
        "RealTimeInferenceConfig": {"InstanceType": "ml.c5.xlarge", "InstanceCount": 2},
    }
    assert tags_of(request) == {"team": "churn", OWNER_STACK_TAG: bed.driver.stack_id, OWNER_RESOURCE_TAG: "Shadow"}
    assert created.data == {"ExperimentName": created.physical_id, "ExperimentArn": record["Arn"]}
    assert bed.standin.endpoint_variants(ENDPOINT) == ["prod", "shadow"]
    assert tags_of(record)[OWNER_RESOURCE_TAG] == "Shadow"
    bed.assert_nothing_lost()
    bed.delete_stack({"Shadow": PROPS})
    bed.assert_nothing_lost()


def test_02_create_with_a_future_start_completes_created(bed: Bed) -> None:
    start = bed.clock.now() + timedelta(days=2)
    settings = props(schedule__start_time=start, schedule__duration=timedelta(days=1))
    created = _ok(bed.driver.create("Shadow", settings))
    assert bed.standin.experiments[created.physical_id]["Status"] == "Created"
    (request,) = bed.standin.calls_of("CreateInferenceExperiment")
    assert request["Schedule"]["StartTime"] == pytest.approx(start.timestamp())
    assert request["Schedule"]["EndTime"] - request["Schedule"]["StartTime"] == pytest.approx(86400)
    assert bed.standin.endpoint_variants(ENDPOINT) == ["prod"]  # nothing deployed before the start
    bed.assert_nothing_lost()
    bed.delete_stack({"Shadow": settings})
    bed.assert_nothing_lost()


def test_03_create_that_ends_cancelled_is_deleted_and_fails_with_status_reason(bed: Bed) -> None:
    bed.standin.cancel_next_start("Insufficient capacity for ml.c5.xlarge in us-east-1a")
    failed = bed.driver.create("Shadow", PROPS, rollback=True)
    assert failed.status == "FAILED"
    assert "ended Cancelled" in failed.reason
    assert "Insufficient capacity for ml.c5.xlarge in us-east-1a" in failed.reason
    assert bed.standin.experiments == {}
    assert [c["Name"] for c in bed.standin.calls_of("DeleteInferenceExperiment")] == [failed.physical_id]
    bed.assert_nothing_lost()


# --- 4: the rollback Delete after a failed create ----------------------------------------------


@pytest.mark.parametrize("physical_id", ["marker", "request-id"])
def test_04_rollback_delete_of_a_marker_or_request_id_makes_no_call(bed: Bed, physical_id: str) -> None:
    # A Create that failed in on_event (invalid properties) answers the marker, whose Delete the
    # framework answers itself; a Create answered without a physical id gets the request id.
    failed = bed.driver.create("Shadow", props(sampling_percentage=0))
    assert failed.status == "FAILED" and failed.physical_id == CREATE_FAILED_MARKER
    calls_before = len(bed.standin.calls)
    rollback_id = CREATE_FAILED_MARKER if physical_id == "marker" else str(uuid.uuid4())
    _ok(bed.driver.delete("Shadow", rollback_id, PROPS))
    assert bed.standin.calls[calls_before:] == []
    bed.assert_nothing_lost()


def test_04_rollback_delete_of_a_generated_name_only_describes_it(bed: Bed) -> None:
    """A name this resource generated may still hold an experiment (a create that timed out):
    one Describe finds out. Nothing else is called when it is gone."""
    bed.standin.cancel_next_start("capacity")
    failed = bed.driver.create("Shadow", PROPS)
    assert failed.status == "FAILED" and failed.physical_id.startswith("ShadowStack-Shadow-")
    calls_before = len(bed.standin.calls)
    _ok(bed.driver.delete("Shadow", failed.physical_id, PROPS))
    assert [op for op, _ in bed.standin.calls[calls_before:]] == ["DescribeInferenceExperiment"]
    bed.assert_nothing_lost()


# --- 5-7: creates that meet something already there ------------------------------------------


def test_05_the_same_create_delivered_twice_adopts_what_it_made(bed: Bed) -> None:
    first = _ok(bed.driver.create("Shadow", PROPS, request_id="req-1"))
    second = _ok(bed.driver.create("Shadow", PROPS, request_id="req-1"))
    assert second.physical_id == first.physical_id
    assert len(bed.standin.calls_of("CreateInferenceExperiment")) == 1
    owner = {OWNER_STACK_TAG: bed.driver.stack_id, OWNER_RESOURCE_TAG: "Shadow"}
    assert tags_of(bed.standin.experiments[first.physical_id]).items() >= owner.items()
    bed.assert_nothing_lost()
    bed.delete_stack({"Shadow": PROPS})
    bed.assert_nothing_lost()


def test_05_a_create_whose_answer_was_lost_adopts_what_it_made(bed: Bed) -> None:
    """The Create went through but its answer was lost; botocore's retry meets ResourceInUse."""
    bed.standin.inject("drop_after", operation="CreateInferenceExperiment")
    created = _ok(bed.driver.create("Shadow", PROPS))
    assert len(bed.standin.calls_of("CreateInferenceExperiment")) == 2
    assert list(bed.standin.experiments) == [created.physical_id]
    bed.assert_nothing_lost()
    bed.delete_stack({"Shadow": PROPS})
    bed.assert_nothing_lost()


@pytest.mark.parametrize("tagged_by_other_stack", [True, False], ids=["other-stack", "untagged"])
def test_06_endpoint_running_a_foreign_experiment_fails_naming_it(bed: Bed, tagged_by_other_stack: bool) -> None:
    bed.plant_foreign("someone-elses-test", ENDPOINT, tagged_by_other_stack=tagged_by_other_stack)
    creates_before = len(bed.standin.calls_of("CreateInferenceExperiment"))
    failed = bed.driver.create("Shadow", PROPS, rollback=True)
    assert failed.status == "FAILED"
    assert "'someone-elses-test'" in failed.reason and "status Running" in failed.reason
    assert f"endpoint {ENDPOINT!r} already has an active inference experiment" in failed.reason
    owner = (
        "created by resource Theirs of stack OtherStack"
        if tagged_by_other_stack
        else "not created by a ShadowTestExperiment"
    )
    assert owner in failed.reason
    assert "nothing was created" in failed.reason
    assert len(bed.standin.calls_of("CreateInferenceExperiment")) == creates_before + 1  # refused
    assert set(bed.standin.experiments) == {"someone-elses-test"}
    bed.assert_nothing_lost()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"endpoint_name": "no-such-endpoint"}, "endpoint_name: SageMaker endpoint 'no-such-endpoint' does not exist"),
        (
            {"production_variant__variant_name": "primary"},
            "endpoint 'churn-endpoint' has no variant 'primary' (its variants: blue, prod)",
        ),
    ],
    ids=["no-endpoint", "no-variant"],
)
def test_07_missing_endpoint_or_variant_fails_before_create(bed: Bed, changes: dict[str, Any], expected: str) -> None:
    bed.add_endpoint(ENDPOINT, [{**PRODUCTION, "VariantName": "blue"}, PRODUCTION])
    failed = bed.driver.create("Shadow", props(**changes), rollback=True)
    assert failed.status == "FAILED"
    assert expected in failed.reason
    assert bed.standin.calls_of("CreateInferenceExperiment") == []
    assert {op for op, _ in bed.standin.calls} == {"DescribeEndpoint", "DescribeInferenceExperiment"}
    bed.assert_nothing_lost()


# --- 8-11: updates -----------------------------------------------------------------------------


def test_08_in_place_update_runs_again_under_the_same_id(bed: Bed) -> None:
    created = _ok(bed.driver.create("Shadow", PROPS))
    new = props(sampling_percentage=75, description="more traffic")
    updated = _ok(bed.driver.update("Shadow", created.physical_id, new, PROPS))
    assert updated.physical_id == created.physical_id
    (update,) = bed.standin.calls_of("UpdateInferenceExperiment")
    assert update == {
        "Name": created.physical_id,
        "Description": "more traffic",
        "ShadowModeConfig": {
            "SourceModelVariantName": "prod",
            "ShadowModelVariants": [{"ShadowModelVariantName": "shadow", "SamplingPercentage": 75}],
        },
    }
    record = bed.standin.experiments[created.physical_id]
    assert record["Status"] == "Running"
    assert record["ShadowModeConfig"]["ShadowModelVariants"][0]["SamplingPercentage"] == 75
    assert record["Description"] == "more traffic"
    assert len(bed.standin.calls_of("CreateInferenceExperiment")) == 1
    bed.assert_nothing_lost()
    bed.delete_stack({"Shadow": new})
    bed.assert_nothing_lost()


@pytest.mark.parametrize("fixed_name", [None, "churn-shadow"], ids=["generated-name", "same-fixed-name"])
def test_09_replacement_on_the_same_endpoint(bed: Bed, fixed_name: str | None) -> None:
    old_values = {**VALUES, "experiment_name": fixed_name}
    old = properties(old_values)
    created = _ok(bed.driver.create("Shadow", old))
    new = properties(old_values, shadow_variant__model_name="model-c", shadow_variant__instance_type="ml.g5.xlarge")
    replaced = _ok(bed.driver.update("Shadow", created.physical_id, new, old))
    record = bed.standin.experiments[replaced.physical_id]
    assert record["Status"] == "Running" and record["ModelVariants"][1]["ModelName"] == "model-c"
    if fixed_name:
        assert replaced.physical_id == fixed_name
        assert [c["Name"] for c in bed.standin.calls_of("DeleteInferenceExperiment")] == [fixed_name]
        assert len(bed.standin.calls_of("CreateInferenceExperiment")) == 2
    else:
        assert replaced.physical_id != created.physical_id
        assert created.physical_id not in bed.standin.experiments  # CloudFormation's cleanup deleted it
    stop = bed.standin.calls_of("StopInferenceExperiment")[0]
    assert stop["Name"] == created.physical_id and stop["ModelVariantActions"] == {"prod": "Retain", "shadow": "Remove"}
    assert bed.standin.endpoint_config(ENDPOINT)["ShadowProductionVariants"][0]["InstanceType"] == "ml.g5.xlarge"
    bed.assert_nothing_lost()
    bed.delete_stack({"Shadow": new})
    bed.assert_nothing_lost()


def test_10_update_rollback_restores_the_old_settings(bed: Bed) -> None:
    created = _ok(bed.driver.create("Shadow", PROPS))
    new = props(sampling_percentage=75)
    _ok(bed.driver.update("Shadow", created.physical_id, new, PROPS))
    # Another resource of the stack failed: CloudFormation rolls this one back.
    rolled_back = _ok(bed.driver.update("Shadow", created.physical_id, PROPS, new))
    assert rolled_back.physical_id == created.physical_id
    record = bed.standin.experiments[created.physical_id]
    assert record["Status"] == "Running"
    assert record["ShadowModeConfig"]["ShadowModelVariants"][0]["SamplingPercentage"] == 40
    bed.assert_nothing_lost()
    bed.delete_stack({"Shadow": PROPS})
    bed.assert_nothing_lost()


def test_10_rollback_of_a_failed_replacement_restores_the_old_settings(bed: Bed) -> None:
    created = _ok(bed.driver.create("Shadow", PROPS))
    new = props(shadow_variant__model_name="model-c")
    bed.standin.cancel_next_start("model-c failed its health check")
    failed = bed.driver.update("Shadow", created.physical_id, new, PROPS, rollback=True)
    assert failed.status == "FAILED" and "model-c failed its health check" in failed.reason
    # The old experiment was stopped to free the endpoint; the rollback made a new one like it.
    (current,) = bed.driver.resources.values()
    record = bed.standin.experiments[current]
    assert record["Status"] == "Running" and record["ModelVariants"][1]["ModelName"] == "model-b"
    assert record["ShadowModeConfig"]["ShadowModelVariants"][0]["SamplingPercentage"] == 40
    bed.assert_nothing_lost()
    bed.delete_stack({"Shadow": PROPS})
    bed.assert_nothing_lost()


@pytest.mark.parametrize("when", ["before", "during"])
def test_11_update_of_an_experiment_whose_schedule_ended_creates_a_new_one(bed: Bed, when: str) -> None:
    settings = props(schedule__duration=timedelta(hours=1))
    created = _ok(bed.driver.create("Shadow", settings))
    if when == "before":
        bed.end_by_schedule(created.physical_id)
    else:  # SageMaker completes it between the handler's describe and its update
        bed.clock.advance(7200)
    new = props(schedule__duration=timedelta(hours=1), sampling_percentage=50)
    updated = _ok(bed.driver.update("Shadow", created.physical_id, new, settings))
    assert updated.physical_id != created.physical_id
    record = bed.standin.experiments[updated.physical_id]
    assert record["Status"] == "Running"
    assert record["ShadowModeConfig"]["ShadowModelVariants"][0]["SamplingPercentage"] == 50
    bed.assert_nothing_lost()
    bed.delete_stack({"Shadow": new})
    bed.assert_nothing_lost()


# --- 12-14: deletes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "expected_actions", "variants_after"),
    [
        ("Remove", {"prod": "Retain", "shadow": "Remove"}, ["prod"]),
        ("Retain", {"prod": "Retain", "shadow": "Retain"}, ["prod", "shadow"]),
        ("Promote", {"prod": "Remove", "shadow": "Promote"}, ["shadow"]),
    ],
    ids=["Remove", "Retain", "Promote"],
)
def test_12_delete_with_remove_retain_and_promote(
    bed: Bed, action: str, expected_actions: dict[str, str], variants_after: list[str]
) -> None:
    settings = props(shadow_action_on_delete=action)
    created = _ok(bed.driver.create("Shadow", settings))
    _ok(bed.driver.delete("Shadow", created.physical_id, settings))
    (stop,) = bed.standin.calls_of("StopInferenceExperiment")
    assert stop["ModelVariantActions"] == expected_actions
    assert bed.standin.experiments == {}
    assert bed.standin.endpoint_variants(ENDPOINT) == variants_after
    if action == "Promote":
        assert [v["ModelName"] for v in stop["DesiredModelVariants"]] == ["model-b"]
        (promoted,) = bed.standin.endpoint_config(ENDPOINT)["ProductionVariants"]
        assert (promoted["ModelName"], promoted["InstanceType"]) == ("model-b", "ml.c5.xlarge")
    if action != "Remove":
        bed.actions[ENDPOINT] = action
    bed.assert_nothing_lost()


@pytest.mark.parametrize("status", ["Starting", "Updating"])
def test_13_delete_while_starting_or_updating_waits_then_stops(
    bed: Bed, status: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if status == "Starting":
        # The schedule's start comes as the stack is deleted: SageMaker is starting the experiment.
        start = bed.clock.now() + timedelta(hours=1)
        settings = props(schedule__start_time=start, schedule__duration=timedelta(days=1))
        created = _ok(bed.driver.create("Shadow", settings))
        bed.clock.advance(3600)
    else:
        settings = PROPS
        created = _ok(bed.driver.create("Shadow", settings))
        bed.client().update_inference_experiment(Name=created.physical_id, Description="by hand")
    bed.standin.hang_in(status)
    bed.driver.on_poll = lambda poll: bed.standin.reset_faults() if poll == 4 else None
    capsys.readouterr()
    deleted = _ok(bed.driver.delete("Shadow", created.physical_id, settings))
    seen = [r["status"] for r in _log_records(capsys) if r["message"] == "decided" and r.get("status")]
    assert seen[1:3] == [status, status], seen  # waited while SageMaker was busy with it
    assert seen[-3:] == ["Running", "Stopping", "Completed"], seen  # then stopped and deleted it
    assert deleted.polls >= 6
    assert bed.standin.calls_of("StopInferenceExperiment")[-1]["Name"] == created.physical_id
    assert bed.standin.experiments == {}
    bed.assert_nothing_lost()


def _log_records(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_14_delete_of_an_experiment_deleted_out_of_band(bed: Bed) -> None:
    created = _ok(bed.driver.create("Shadow", PROPS))
    client = bed.client()
    client.stop_inference_experiment(
        Name=created.physical_id, ModelVariantActions={"prod": "Retain", "shadow": "Remove"}
    )
    while bed.describe(created.physical_id) != "Completed":
        pass
    client.delete_inference_experiment(Name=created.physical_id)
    calls_before = len(bed.standin.calls)
    _ok(bed.driver.delete("Shadow", created.physical_id, PROPS))
    assert [op for op, _ in bed.standin.calls[calls_before:]] == ["DescribeInferenceExperiment"]
    bed.assert_nothing_lost()


# --- 15-16: a busy or flaky SageMaker ------------------------------------------------------------

FAULT_OPERATIONS = (
    "DescribeEndpoint",
    "DescribeInferenceExperiment",
    "ListTags",
    "CreateInferenceExperiment",
    "UpdateInferenceExperiment",
    "StopInferenceExperiment",
    "DeleteInferenceExperiment",
    "ListInferenceExperiments",
)
FAULT_KINDS = ("throttle", "server_error", "unavailable", "drop", "drop_after", "slow")
FAULTS_PER_CASE = 2  # fewer than MAX_ATTEMPTS: the client's retries must absorb them


def _lifecycle(bed: Bed) -> list[tuple[str, str]]:
    """Create, update in place, a second create refused by the first's endpoint, delete: what came out."""
    created = bed.driver.create("Shadow", PROPS)
    assert created.status == "SUCCESS", created.reason
    name = created.physical_id
    running = bed.standin.experiments[name]["Status"]
    new = props(sampling_percentage=75)
    updated = bed.driver.update("Shadow", name, new, PROPS)
    refused = bed.driver.create("Second", props(shadow_variant__variant_name="shadow-2"), rollback=True)
    deleted = bed.driver.delete("Shadow", name, new)
    return [
        (created.status, running),
        (updated.status, "same id" if updated.physical_id == name else updated.physical_id),
        (refused.status, "names the blocker" if f"{name!r} (status Running" in refused.reason else refused.reason),
        (deleted.status, "all gone" if bed.standin.experiments == {} else str(bed.standin.experiments)),
    ]


EXPECTED_LIFECYCLE = [
    ("SUCCESS", "Running"),
    ("SUCCESS", "same id"),
    ("FAILED", "names the blocker"),
    ("SUCCESS", "all gone"),
]


def test_15_baseline_lifecycle_without_faults(bed: Bed) -> None:
    assert _lifecycle(bed) == EXPECTED_LIFECYCLE
    bed.assert_nothing_lost()


@pytest.mark.parametrize("kind", FAULT_KINDS)
@pytest.mark.parametrize("operation", FAULT_OPERATIONS)
def test_15_transient_faults_on_every_call_type_are_retried(bed: Bed, operation: str, kind: str) -> None:
    count = 1 if kind == "slow" else FAULTS_PER_CASE  # a slow answer is no error: nothing is retried
    bed.standin.inject(kind, operation=operation, count=count, delay=0.05)
    assert _lifecycle(bed) == EXPECTED_LIFECYCLE
    assert bed.standin.pending_faults() == 0  # every fault was met
    bed.assert_nothing_lost()


def test_16_a_throttled_describe_in_is_complete_is_not_complete_yet(bed: Bed) -> None:
    throttle_all_attempts = lambda poll: (  # noqa: E731
        bed.standin.inject("throttle", operation="DescribeInferenceExperiment", count=MAX_ATTEMPTS)
        if poll == 2
        else None
    )
    bed.driver.on_poll = throttle_all_attempts
    created = _ok(bed.driver.create("Shadow", PROPS))
    assert created.answers[1] is False  # the throttled poll: not complete, not failed
    assert created.answers[-1] is True
    assert bed.standin.experiments[created.physical_id]["Status"] == "Running"
    bed.driver.on_poll = None
    bed.assert_nothing_lost()
    bed.delete_stack({"Shadow": PROPS})
    bed.assert_nothing_lost()


# --- 17: permissions -----------------------------------------------------------------------------


def test_17_passrole_denied_names_the_role_and_the_permission(bed: Bed) -> None:
    denial = (
        "User: arn:aws:sts::123456789012:assumed-role/ShadowStack-HandlerRole/ShadowStack-OnEvent is not "
        f"authorized to perform: iam:PassRole on resource: {ROLE_ARN} because no identity-based policy "
        "allows the iam:PassRole action"
    )
    bed.standin.inject("access_denied", operation="CreateInferenceExperiment", message=denial)
    failed = bed.driver.create("Shadow", PROPS, rollback=True)
    assert failed.status == "FAILED"
    assert f"may not pass the experiment's role {ROLE_ARN} to SageMaker" in failed.reason
    assert f"grant iam:PassRole on {ROLE_ARN}" in failed.reason
    assert "iam:PassedToService = sagemaker.amazonaws.com" in failed.reason
    assert len(bed.standin.calls_of("CreateInferenceExperiment")) == 1  # access denied is not retried
    assert bed.standin.experiments == {}
    bed.assert_nothing_lost()


# --- 18: an experiment that never leaves Starting ------------------------------------------------


def test_18_stuck_in_starting_fails_at_the_total_timeout_and_the_rollback_cleans_up(bed: Bed) -> None:
    bed.standin.hang_in("Starting")
    began = bed.clock.now()
    failed = bed.driver.create("Shadow", PROPS)
    assert failed.status == "FAILED"
    assert "was not ready at the provider's total timeout: last status Starting" in failed.reason
    assert failed.reason != "Operation timed out"  # the handler answered, not the framework's timer
    waited = bed.clock.now() - began
    assert timedelta(minutes=43) <= waited < timedelta(minutes=45)
    assert failed.polls < bed.driver.poll_budget
    # CloudFormation's rollback: SageMaker finishes starting it while the Delete waits.
    bed.driver.on_poll = lambda poll: bed.standin.reset_faults() if poll == 3 else None
    _ok(bed.driver.delete("Shadow", failed.physical_id, PROPS))
    assert bed.standin.experiments == {}
    assert [c["Name"] for c in bed.standin.calls_of("StopInferenceExperiment")] == [failed.physical_id]
    bed.assert_nothing_lost()


def test_18_stuck_through_the_rollback_too_fails_the_delete_naming_it_then_a_retry_cleans_up(bed: Bed) -> None:
    bed.standin.hang_in("Starting")
    failed = bed.driver.create("Shadow", PROPS)
    rollback = bed.driver.delete("Shadow", failed.physical_id, PROPS)
    assert rollback.status == "FAILED"
    assert (
        f"inference experiment {failed.physical_id} was still Starting at the provider's total timeout"
        in rollback.reason
    )
    assert failed.physical_id in bed.standin.experiments  # not forgotten: the stack still has the resource
    # SageMaker gives up on it; the operator continues the rollback (CloudFormation retries the Delete).
    bed.standin.reset_faults()
    bed.standin.cancel_next_start("Timed out provisioning the shadow variant")
    _ok(bed.driver.delete("Shadow", failed.physical_id, PROPS))
    assert bed.standin.experiments == {}
    bed.assert_nothing_lost()


def test_18_replacement_stuck_in_starting_is_cleared_by_the_update_rollback(bed: Bed) -> None:
    created = _ok(bed.driver.create("Shadow", PROPS))
    new = props(shadow_variant__model_name="model-c")
    bed.standin.hang_in("Starting")
    failed = bed.driver.update("Shadow", created.physical_id, new, PROPS)
    assert failed.status == "FAILED" and "last status Starting" in failed.reason
    # The rollback (old properties again) finds the stuck replacement on the endpoint: a leftover
    # of this very resource, which it waits for, stops and deletes before creating anew.
    bed.driver.on_poll = lambda poll: bed.standin.reset_faults() if poll == 3 else None
    restored = _ok(bed.driver.update("Shadow", created.physical_id, PROPS, new))
    record = bed.standin.experiments[restored.physical_id]
    assert record["Status"] == "Running" and record["ModelVariants"][1]["ModelName"] == "model-b"
    assert failed.physical_id not in bed.standin.experiments
    bed.assert_nothing_lost()
    bed.delete_stack({"Shadow": PROPS})
    bed.assert_nothing_lost()


# --- 19-20: what goes back to CloudFormation and into the logs ------------------------------------

LONG_STACK = (
    "arn:aws:cloudformation:us-east-1:123456789012:stack/" + "S" * 128 + "/5a1b2c3d-0000-1111-2222-333344445555"
)
LONG_LOGICAL_ID = "L" * 255


def test_19_every_response_stays_under_cloudformations_4kb(bed: Bed) -> None:
    bed.driver.stack_id = LONG_STACK
    long_name = "n" * 120
    settings = props(experiment_name=long_name, description="d" * 1024)
    created = _ok(bed.driver.create(LONG_LOGICAL_ID, settings))
    assert set(created.data) == {"ExperimentArn", "ExperimentName"}  # handler state stays out of Data
    _ok(
        bed.driver.update(
            LONG_LOGICAL_ID,
            long_name,
            props(experiment_name=long_name, description="d" * 1024, sampling_percentage=90),
            settings,
        )
    )
    # Failures: every problem of 48 bad tags, and SageMaker's longest StatusReason.
    bad_tags = {f"aws:reserved-{i:02d}-" + "k" * 100: "not allowed!" * 20 for i in range(48)}
    invalid = bed.driver.create("Invalid" + "I" * 240, props(tags=bad_tags), rollback=True)
    assert invalid.status == "FAILED" and "characters in all; the handler's log has the rest" in invalid.reason
    bed.add_endpoint("second-endpoint")
    bed.standin.cancel_next_start("r" * 1024)
    cancelled = bed.driver.create("Cancelled" + "C" * 240, props(endpoint_name="second-endpoint"), rollback=True)
    assert cancelled.status == "FAILED" and "r" * 1024 in cancelled.reason
    sizes = [len(o.response_body.encode()) for o in bed.driver.responses]
    assert max(sizes) < RESPONSE_LIMIT_BYTES, sizes
    bed.assert_nothing_lost()
    bed.delete_stack({LONG_LOGICAL_ID: settings})
    bed.assert_nothing_lost()


def test_20_no_log_line_holds_the_response_url(bed: Bed, capsys: pytest.CaptureFixture[str]) -> None:
    bed.driver.mask_response_url = False  # worse than the framework: hand the handler the real URL
    created = _ok(bed.driver.create("Shadow", PROPS))
    _ok(bed.driver.update("Shadow", created.physical_id, props(sampling_percentage=60), PROPS))
    bed.driver.create("Invalid", props(sampling_percentage=0), rollback=True)
    bed.standin.inject("access_denied", operation="UpdateInferenceExperiment")
    bed.driver.update("Shadow", created.physical_id, props(sampling_percentage=70), props(sampling_percentage=60))
    _ok(bed.driver.delete("Shadow", created.physical_id, props(sampling_percentage=60)))
    out = capsys.readouterr().out
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) > 20 and all(isinstance(r, dict) and r["message"] for r in records)
    assert "decided" in {r["message"] for r in records} and "failed" in {r["message"] for r in records}
    for text in (out, *(o.reason for o in bed.driver.responses)):
        assert RESPONSE_URL not in text and "X-Amz-Signature" not in text and "ResponseURL" not in text
    bed.assert_nothing_lost()


# --- 21: under load ------------------------------------------------------------------------------

LOAD_SIZE = 50
#: The stand-in's API rate limit (calls per second) for the load scenario; see docs/scenarios.md.
LOAD_RATE = float(os.environ.get("SCENARIO_LOAD_RATE", "20"))
#: What the last load scenario measured (calls, seconds), for measuring runs; see docs/scenarios.md.
LOAD_REPORT: dict[str, float] = {}


def _concurrently(work: list[Any]) -> list[Any]:
    """Run each callable in its own thread (its own Lambda container), all released at once."""
    results: list[Any] = [None] * len(work)
    start = threading.Barrier(len(work))

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = work[index]()
        except BaseException as error:  # reported by the assertion below
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.mark.slow
def test_21_fifty_experiments_created_then_deleted_concurrently_under_a_rate_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Time runs 100 times faster than in Lambda for botocore's backoff and for the query interval
    (30 s -> 0.3 s between polls); the poll budget is the framework's (1 + 45 min / 30 s)."""
    monkeypatch.delenv("SAGEMAKER_MAX_ATTEMPTS")  # the handler's own default: 8 attempts per call
    with SageMakerStandIn(rate_limit_per_second=LOAD_RATE) as standin:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", standin.url)
        stack = ProviderDriver(max_polls=1 + TOTAL_TIMEOUT // QUERY_INTERVAL)
        bed = Bed(standin, stack, SimulatedClock())
        ids = [f"Shadow{i:02d}" for i in range(LOAD_SIZE)]
        settings = {logical_id: props(endpoint_name=f"ep-{logical_id}") for logical_id in ids}
        for logical_id in ids:
            bed.add_endpoint(f"ep-{logical_id}")
        # Each resource's requests run in its own thread with its own driver and SageMaker client;
        # polls are paced like the query interval, scaled down.
        # Fifty Lambda containers start cold on fifty CPUs at once; two test CPUs cannot play that,
        # so the process-wide caches of a cold start (botocore's service model) are warmed first.
        request_rules.allowed_instance_types()
        pause = QUERY_INTERVAL * BACKOFF_SCALE
        drivers = {
            logical_id: ProviderDriver(max_polls=stack.max_polls, poll_pause=pause, api=SageMakerApi(create_client()))
            for logical_id in ids
        }
        began = time.monotonic()
        created = _concurrently([lambda i=i: drivers[i].create(i, settings[i]) for i in ids])
        create_seconds = time.monotonic() - began
        assert [getattr(o, "status", o) for o in created] == ["SUCCESS"] * LOAD_SIZE, [
            getattr(o, "reason", o) for o in created if getattr(o, "status", None) != "SUCCESS"
        ]
        for driver in drivers.values():
            stack.resources.update(driver.resources)
            stack.responses.extend(driver.responses)
        assert len(standin.experiments) == LOAD_SIZE
        assert all(r["Status"] == "Running" for r in standin.experiments.values())
        owners = sorted(tags_of(r)[OWNER_RESOURCE_TAG] for r in standin.experiments.values())
        assert owners == ids  # one each: nothing duplicated
        bed.assert_nothing_lost()

        deleted = _concurrently([lambda i=i: drivers[i].delete(i, stack.resources[i], settings[i]) for i in ids])
        assert [getattr(o, "status", o) for o in deleted] == ["SUCCESS"] * LOAD_SIZE, [
            getattr(o, "reason", o) for o in deleted if getattr(o, "status", None) != "SUCCESS"
        ]
        stack.resources.clear()
        stack.responses.extend(o for o in deleted if not isinstance(o, BaseException))
        assert standin.experiments == {}
        bed.assert_nothing_lost()
        LOAD_REPORT.update(calls=len(standin.calls), create_seconds=create_seconds, seconds=time.monotonic() - began)


# --- beyond the matrix ---------------------------------------------------------------------------


def test_22_more_user_tags_than_room_beside_the_ownership_tags_fail_before_any_call(bed: Bed) -> None:
    """SageMaker allows 50 tags; the handler adds two (stack id, logical id) to find its experiments."""
    tags = {f"k{i}": "v" for i in range(49)}
    failed = bed.driver.create("Shadow", props(tags=tags), rollback=True)
    assert failed.status == "FAILED" and failed.physical_id == CREATE_FAILED_MARKER
    assert "tags: at most 48 tags (got 49)" in failed.reason
    assert bed.standin.calls == []
    _ok(bed.driver.create("Shadow", props(tags=dict(list(tags.items())[:48]))))
    bed.assert_nothing_lost()
    bed.delete_stack({"Shadow": props(tags=dict(list(tags.items())[:48]))})
    bed.assert_nothing_lost()


def test_23_update_in_place_while_an_earlier_change_is_still_updating_waits_then_applies(bed: Bed) -> None:
    created = _ok(bed.driver.create("Shadow", PROPS))
    bed.client().update_inference_experiment(Name=created.physical_id, Description="by hand")
    bed.standin.hang_in("Updating")
    bed.driver.on_poll = lambda poll: bed.standin.reset_faults() if poll == 3 else None
    new = props(sampling_percentage=80)
    updated = _ok(bed.driver.update("Shadow", created.physical_id, new, PROPS))
    assert updated.physical_id == created.physical_id
    record = bed.standin.experiments[created.physical_id]
    assert record["Status"] == "Running"
    assert record["ShadowModeConfig"]["ShadowModelVariants"][0]["SamplingPercentage"] == 80
    assert record["Description"] == ""  # the stack's settings win over the change by hand
    bed.driver.on_poll = None
    bed.assert_nothing_lost()
    bed.delete_stack({"Shadow": new})
    bed.assert_nothing_lost()


# --- more of the handler end to end --------------------------------------------------------------


def test_duration_becomes_start_and_end_at_deploy_time(bed: Bed) -> None:
    settings = props(schedule__duration=timedelta(days=3))
    deployed_at = bed.clock.now()
    _ok(bed.driver.create("Shadow", settings))
    (request,) = bed.standin.calls_of("CreateInferenceExperiment")
    assert request["Schedule"]["StartTime"] == pytest.approx(deployed_at.timestamp())
    assert request["Schedule"]["EndTime"] - request["Schedule"]["StartTime"] == pytest.approx(3 * 86400)
    bed.delete_stack({"Shadow": settings})
    bed.assert_nothing_lost()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"sampling_percentage": 0}, "sampling_percentage: must be 1-100, got 0"),
        ({"shadow_variant__instance_count": 0}, "shadow_variant.instance_count: must be at least 1, got 0"),
        ({"shadow_variant__variant_name": "prod"}, "shadow_variant.variant_name: must differ"),
    ],
    ids=["sampling-0", "instance-count-0", "same-variant-names"],
)
def test_invalid_resolved_properties_fail_before_any_sagemaker_call(
    bed: Bed, changes: dict[str, Any], expected: str
) -> None:
    failed = bed.driver.create("Shadow", props(**changes), rollback=True)
    assert failed.status == "FAILED" and failed.physical_id == CREATE_FAILED_MARKER
    assert expected in failed.reason
    assert bed.standin.calls == []
    bed.assert_nothing_lost()


def test_changing_only_the_delete_action_calls_no_mutating_api(bed: Bed) -> None:
    created = _ok(bed.driver.create("Shadow", PROPS))
    retain = props(shadow_action_on_delete="Retain")
    updated = _ok(bed.driver.update("Shadow", created.physical_id, retain, PROPS))
    assert updated.physical_id == created.physical_id
    assert [op for op, _ in bed.standin.calls if op in MUTATING] == ["CreateInferenceExperiment"]
    _ok(bed.driver.delete("Shadow", created.physical_id, retain))
    assert bed.standin.calls_of("StopInferenceExperiment")[-1]["ModelVariantActions"] == {
        "prod": "Retain",
        "shadow": "Retain",
    }
    bed.actions[ENDPOINT] = "Retain"
    bed.assert_nothing_lost()


def test_delete_of_a_name_this_resource_never_gave_makes_no_call(bed: Bed) -> None:
    _ok(bed.driver.delete("Shadow", "never-created", PROPS))
    assert bed.standin.calls == []
    bed.assert_nothing_lost()


def test_foreign_experiment_under_our_fixed_name_is_neither_adopted_nor_deleted(bed: Bed) -> None:
    bed.plant_foreign("shared-name", ENDPOINT, tagged_by_other_stack=True)
    bed.add_endpoint("second-endpoint")
    settings = props(experiment_name="shared-name", endpoint_name="second-endpoint")
    failed = bed.driver.create("Shadow", settings)
    assert failed.status == "FAILED" and "did not create" in failed.reason
    # CloudFormation's rollback deletes what the failed create answered: the foreign name.
    _ok(bed.driver.delete("Shadow", failed.physical_id, settings))
    assert bed.standin.experiments["shared-name"]["Status"] == "Running"
    bed.assert_nothing_lost()


# --- the handler never refuses at deploy what synth accepted (issue 12) --------------------------

PRODUCTION_INSTANCE_TYPE = "ModelVariants[].InfrastructureConfig.RealTimeInferenceConfig.InstanceType"


@pytest.mark.parametrize("deferred", [[], ["production_variant.instance_type"]], ids=["known-at-synth", "token"])
def test_an_older_runtime_botocore_model_never_refuses_what_synth_accepted(
    bed: Bed, monkeypatch: pytest.MonkeyPatch, deferred: list[str]
) -> None:
    """The Lambda runtime's botocore lacks ml.m5.large; SageMaker (the stand-in) has it."""
    newer_model = request_rules.member_shape

    def older_model(member_path: str) -> Any:
        shape = newer_model(member_path)
        if member_path != PRODUCTION_INSTANCE_TYPE:
            return shape
        older = copy.copy(shape)
        older.__dict__.pop("metadata", None)  # botocore caches it on the instance
        older.__dict__.pop("enum", None)
        older._shape_model = {**shape._shape_model, "enum": [t for t in shape.enum if t != "ml.m5.large"]}
        return older

    # The handler's rules see the older model; SageMaker (the stand-in) the newer one.
    monkeypatch.setattr(request_rules, "member_shape", older_model)
    assert request_rules.check_settings({"production_variant.instance_type": "ml.m5.large"})  # the old model refuses
    settings = {**PROPS, "DeployTimeChecks": deferred}
    created = _ok(bed.driver.create("Shadow", settings))
    assert (
        bed.standin.calls_of("CreateInferenceExperiment")[0]["ModelVariants"][0]["InfrastructureConfig"][
            "RealTimeInferenceConfig"
        ]["InstanceType"]
        == "ml.m5.large"
    )
    assert bed.standin.experiments[created.physical_id]["Status"] == "Running"
    bed.delete_stack({"Shadow": settings})
    bed.assert_nothing_lost()


def test_a_prop_that_was_a_token_at_synth_is_checked_at_deploy(bed: Bed) -> None:
    settings = {**props(sampling_percentage=101), "DeployTimeChecks": ["sampling_percentage"]}
    failed = bed.driver.create("Shadow", settings, rollback=True)
    assert failed.status == "FAILED" and "sampling_percentage: must be 1-100, got 101" in failed.reason
    assert bed.standin.calls == []
    bed.assert_nothing_lost()


# --- defect 1: no credential in the logs at any log level (issue 12) ------------------------------

SESSION_TOKEN = "SECRET-SESSION-TOKEN-3c1e5f7a9b"
SDK_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_no_credential_reaches_the_log_with_the_function_log_level_at_debug(
    bed: Bed, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Lambda's advanced logging controls at DEBUG: the root logger at DEBUG, writing to stdout."""
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    for name in SDK_LOGGERS:  # as in a fresh Lambda container: nothing has capped them yet
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    root = logging.getLogger()
    records, stdout = _Records(), logging.StreamHandler(sys.stdout)
    monkeypatch.setattr(root, "level", logging.DEBUG)
    root.addHandler(records)
    root.addHandler(stdout)
    try:
        driver = ProviderDriver(
            clock=bed.clock, total_timeout_seconds=TOTAL_TIMEOUT, query_interval_seconds=QUERY_INTERVAL
        )
        created = _ok(driver.create("Shadow", PROPS))
        _ok(driver.delete("Shadow", created.physical_id, PROPS))
    finally:
        root.removeHandler(records)
        root.removeHandler(stdout)
    out = capsys.readouterr().out
    assert any("sagemaker call" in line for line in out.splitlines())  # the handler did log
    for text in (*records.lines, *out.splitlines()):
        assert SESSION_TOKEN not in text
        assert "x-amz-security-token" not in text.lower()
    bed.assert_nothing_lost()


# --- in place exactly where SageMaker allows it (issue 13) ---------------------------------------


def _scheduled(bed: Bed, **changes: Any) -> dict[str, Any]:
    """A test that starts in two days (status Created), with ``changes``."""
    start = bed.clock.now() + timedelta(days=2)
    return props(schedule__start_time=start, schedule__duration=timedelta(days=1), **changes)


def _assert_updated_in_place(bed: Bed, created: Any, updated: Any, status: str) -> dict[str, Any]:
    assert updated.physical_id == created.physical_id
    assert len(bed.standin.calls_of("CreateInferenceExperiment")) == 1
    assert bed.standin.calls_of("StopInferenceExperiment") == []
    record = bed.standin.experiments[created.physical_id]
    assert record["Status"] == status
    return record


def test_sampling_change_on_running_experiment_updates_in_place(bed: Bed) -> None:
    created = _ok(bed.driver.create("Shadow", PROPS))
    new = props(sampling_percentage=10)
    updated = _ok(bed.driver.update("Shadow", created.physical_id, new, PROPS))
    record = _assert_updated_in_place(bed, created, updated, "Running")
    assert record["ShadowModeConfig"]["ShadowModelVariants"][0]["SamplingPercentage"] == 10
    bed.delete_stack({"Shadow": new})
    bed.assert_nothing_lost()


def test_shadow_instance_type_change_before_start_updates_in_place(bed: Bed) -> None:
    old = _scheduled(bed)
    created = _ok(bed.driver.create("Shadow", old))
    new = {**_scheduled(bed), **props(shadow_variant__instance_type="ml.c5.2xlarge", shadow_variant__instance_count=3)}
    new["Schedule"] = old["Schedule"]
    updated = _ok(bed.driver.update("Shadow", created.physical_id, new, old))
    record = _assert_updated_in_place(bed, created, updated, "Created")
    shadow_variant = next(v for v in record["ModelVariants"] if v["VariantName"] == "shadow")
    assert shadow_variant["InfrastructureConfig"]["RealTimeInferenceConfig"] == {
        "InstanceType": "ml.c5.2xlarge",
        "InstanceCount": 3,
    }
    bed.delete_stack({"Shadow": new})
    bed.assert_nothing_lost()


def test_shadow_instance_type_change_on_running_experiment_replaces_it(bed: Bed) -> None:
    created = _ok(bed.driver.create("Shadow", PROPS))
    new = props(shadow_variant__instance_type="ml.c5.2xlarge")
    replaced = _ok(bed.driver.update("Shadow", created.physical_id, new, PROPS))
    assert replaced.physical_id != created.physical_id
    assert [c["Name"] for c in bed.standin.calls_of("StopInferenceExperiment")] == [created.physical_id]
    assert bed.standin.calls_of("UpdateInferenceExperiment") == []
    bed.delete_stack({"Shadow": new})
    bed.assert_nothing_lost()


def test_start_time_change_before_start_updates_in_place(bed: Bed) -> None:
    start = bed.clock.now() + timedelta(days=2)
    old = props(schedule__start_time=start, schedule__duration=timedelta(days=1))
    created = _ok(bed.driver.create("Shadow", old))
    later = start + timedelta(days=1)
    new = props(schedule__start_time=later, schedule__duration=timedelta(days=1))
    updated = _ok(bed.driver.update("Shadow", created.physical_id, new, old))
    record = _assert_updated_in_place(bed, created, updated, "Created")
    assert record["Schedule"]["StartTime"] == pytest.approx(later.timestamp())
    assert record["Schedule"]["EndTime"] == pytest.approx((later + timedelta(days=1)).timestamp())
    bed.delete_stack({"Shadow": new})
    bed.assert_nothing_lost()


def test_start_time_change_on_running_experiment_replaces_it(bed: Bed) -> None:
    start = bed.clock.now() + timedelta(minutes=10)
    old = props(schedule__start_time=start, schedule__duration=timedelta(days=1))
    created = _ok(bed.driver.create("Shadow", old))
    bed.clock.advance(3600)
    while bed.describe(created.physical_id) != "Running":
        pass
    new = props(schedule__start_time=bed.clock.now() + timedelta(minutes=5), schedule__duration=timedelta(days=1))
    replaced = _ok(bed.driver.update("Shadow", created.physical_id, new, old))
    assert replaced.physical_id != created.physical_id
    assert bed.standin.calls_of("UpdateInferenceExperiment") == []  # SageMaker would refuse it
    assert [c["Name"] for c in bed.standin.calls_of("StopInferenceExperiment")] == [created.physical_id]
    bed.delete_stack({"Shadow": new})
    bed.assert_nothing_lost()


def test_end_time_change_on_running_experiment_updates_in_place(bed: Bed) -> None:
    old = props(schedule__duration=timedelta(days=1))
    created = _ok(bed.driver.create("Shadow", old))
    new = props(schedule__duration=timedelta(days=2))
    updated = _ok(bed.driver.update("Shadow", created.physical_id, new, old))
    record = _assert_updated_in_place(bed, created, updated, "Running")
    assert record["Schedule"]["EndTime"] - record["Schedule"]["StartTime"] == pytest.approx(2 * 86400)
    bed.delete_stack({"Shadow": new})
    bed.assert_nothing_lost()


def test_capture_change_before_start_updates_in_place(bed: Bed) -> None:
    old = _scheduled(bed, data_capture__destination="s3://capture-bucket/one")
    created = _ok(bed.driver.create("Shadow", old))
    new = {**old, "DataStorageConfig": {"Destination": "s3://capture-bucket/two"}}
    updated = _ok(bed.driver.update("Shadow", created.physical_id, new, old))
    record = _assert_updated_in_place(bed, created, updated, "Created")
    assert record["DataStorageConfig"]["Destination"] == "s3://capture-bucket/two"
    bed.delete_stack({"Shadow": new})
    bed.assert_nothing_lost()


def test_description_change_before_start_updates_in_place(bed: Bed) -> None:
    old = _scheduled(bed)
    created = _ok(bed.driver.create("Shadow", old))
    new = {**old, "Description": "bigger shadow"}
    updated = _ok(bed.driver.update("Shadow", created.physical_id, new, old))
    assert _assert_updated_in_place(bed, created, updated, "Created")["Description"] == "bigger shadow"
    bed.delete_stack({"Shadow": new})
    bed.assert_nothing_lost()


def test_tag_change_adds_and_deletes_tags_in_place(bed: Bed) -> None:
    old = props(tags={"team": "churn", "stage": "beta"})
    created = _ok(bed.driver.create("Shadow", old))
    new = props(tags={"team": "ml", "cost-center": "42"})
    updated = _ok(bed.driver.update("Shadow", created.physical_id, new, old))
    record = _assert_updated_in_place(bed, created, updated, "Running")
    assert bed.standin.calls_of("UpdateInferenceExperiment") == []
    assert tags_of(record) == {
        "team": "ml",
        "cost-center": "42",
        OWNER_STACK_TAG: bed.driver.stack_id,
        OWNER_RESOURCE_TAG: "Shadow",
    }
    (deleted,) = bed.standin.calls_of("DeleteTags")
    assert deleted["TagKeys"] == ["stage"]
    bed.delete_stack({"Shadow": new})
    bed.assert_nothing_lost()


# --- desired_state (issue 13) ------------------------------------------------------------------


def test_desired_state_running_starts_a_scheduled_test_now(bed: Bed) -> None:
    old = _scheduled(bed)
    created = _ok(bed.driver.create("Shadow", old))
    assert bed.standin.experiments[created.physical_id]["Status"] == "Created"
    new = {**old, "DesiredState": "Running"}
    updated = _ok(bed.driver.update("Shadow", created.physical_id, new, old))
    assert updated.physical_id == created.physical_id
    assert bed.standin.calls_of("StartInferenceExperiment") == [{"Name": created.physical_id}]
    # The start time is never moved by hand; only the end follows, so the test keeps its duration.
    assert all("StartTime" not in u.get("Schedule", {}) for u in bed.standin.calls_of("UpdateInferenceExperiment"))
    record = bed.standin.experiments[created.physical_id]
    assert record["Status"] == "Running"
    assert record["Schedule"]["StartTime"] == pytest.approx(bed.clock.now().timestamp(), abs=120)
    assert record["Schedule"]["EndTime"] - record["Schedule"]["StartTime"] == pytest.approx(86400, abs=120)
    bed.delete_stack({"Shadow": new})
    bed.assert_nothing_lost()


def test_create_with_desired_state_running_ignores_a_future_start(bed: Bed) -> None:
    new = {**_scheduled(bed), "DesiredState": "Running"}
    created = _ok(bed.driver.create("Shadow", new))
    (create,) = bed.standin.calls_of("CreateInferenceExperiment")
    assert create["Schedule"]["StartTime"] == pytest.approx(bed.clock.now().timestamp(), abs=3600)
    assert bed.standin.experiments[created.physical_id]["Status"] == "Running"
    bed.delete_stack({"Shadow": new})
    bed.assert_nothing_lost()


@pytest.mark.parametrize("desired", ["Completed", "Cancelled"])
def test_desired_state_ends_a_running_test_with_the_shadow_action_and_keeps_it(bed: Bed, desired: str) -> None:
    created = _ok(bed.driver.create("Shadow", PROPS))
    new = {**PROPS, "DesiredState": desired, "ShadowActionOnDelete": "Retain"}
    updated = _ok(bed.driver.update("Shadow", created.physical_id, new, PROPS))
    assert updated.physical_id == created.physical_id
    (stop,) = bed.standin.calls_of("StopInferenceExperiment")
    assert stop["DesiredState"] == desired
    assert stop["ModelVariantActions"] == {"prod": "Retain", "shadow": "Retain"}
    assert bed.standin.experiments[created.physical_id]["Status"] == desired
    assert bed.standin.endpoint_variants(ENDPOINT) == ["prod", "shadow"]  # retained, as asked
    # Other changes to an ended test stay in the template: no call, no new experiment.
    later = {**new, **props(sampling_percentage=10), "DesiredState": desired, "ShadowActionOnDelete": "Retain"}
    kept = _ok(bed.driver.update("Shadow", created.physical_id, later, new))
    assert kept.physical_id == created.physical_id
    assert len(bed.standin.calls_of("CreateInferenceExperiment")) == 1
    assert bed.standin.calls_of("UpdateInferenceExperiment") == []
    # Deleting it deletes it, without a second stop.
    bed.driver.delete("Shadow", created.physical_id, later)
    assert len(bed.standin.calls_of("StopInferenceExperiment")) == 1
    assert created.physical_id not in bed.standin.experiments


def test_desired_state_completed_with_promote_promotes_the_shadow(bed: Bed) -> None:
    created = _ok(bed.driver.create("Shadow", PROPS))
    new = {**PROPS, "DesiredState": "Completed", "ShadowActionOnDelete": "Promote"}
    _ok(bed.driver.update("Shadow", created.physical_id, new, PROPS))
    (stop,) = bed.standin.calls_of("StopInferenceExperiment")
    assert stop["ModelVariantActions"] == {"prod": "Remove", "shadow": "Promote"}
    assert [v["VariantName"] for v in stop["DesiredModelVariants"]] == ["shadow"]
    assert bed.standin.endpoint_variants(ENDPOINT) == ["shadow"]
    bed.delete_stack({"Shadow": new})


def test_removing_desired_state_from_an_ended_test_starts_a_new_one(bed: Bed) -> None:
    created = _ok(bed.driver.create("Shadow", PROPS))
    ended = {**PROPS, "DesiredState": "Completed"}
    _ok(bed.driver.update("Shadow", created.physical_id, ended, PROPS))
    restarted = _ok(bed.driver.update("Shadow", created.physical_id, PROPS, ended))
    assert restarted.physical_id != created.physical_id
    assert bed.standin.experiments[restarted.physical_id]["Status"] == "Running"
    bed.delete_stack({"Shadow": PROPS})
    bed.assert_nothing_lost()


# --- a first deploy racing IAM (issue 21) ---------------------------------------------------------

#: SageMaker's words when it cannot assume a role (e.g. awslabs/predictive-maintenance-using-machine-learning#3).
ROLE_REFUSAL = (
    f"Could not assume role {ROLE_ARN}. Please ensure that the role exists and allows principal "
    "'sagemaker.amazonaws.com' to assume the role."
)


@pytest.mark.parametrize("refused", ["for-75-seconds", "for-3-calls"])
def test_39_a_role_iam_has_not_propagated_yet_is_retried_until_sagemaker_accepts_it(bed: Bed, refused: str) -> None:
    if refused == "for-75-seconds":
        bed.standin.refuse_roles_for(75)
    else:
        bed.standin.inject("role_not_assumable", operation="CreateInferenceExperiment", count=3)
    began = bed.clock.now()
    created = _ok(bed.driver.create("Shadow", PROPS))
    # Polls at 0, 30, 60 s were refused; the one at 90 s created it. botocore does not retry a
    # ValidationException: each refusal is one call, and the Provider framework's polling waits.
    assert len(bed.standin.calls_of("CreateInferenceExperiment")) == 4
    record = bed.standin.experiments[created.physical_id]
    assert record["Status"] == "Running"
    assert record["CreationTime"] - began.timestamp() == 90
    bed.delete_stack({"Shadow": PROPS})
    bed.assert_nothing_lost()


def test_39_a_role_still_refused_two_minutes_after_the_request_fails_with_sagemakers_message(bed: Bed) -> None:
    bed.standin.refuse_roles_for(600)
    began = bed.clock.now()
    failed = bed.driver.create("Shadow", PROPS, rollback=True)
    assert failed.status == "FAILED"
    assert f"SageMaker said: ValidationException: {ROLE_REFUSAL}" in failed.reason
    # Refused at 0, 30, 60 and 90 s ("not yet"), failed at 120 s: two minutes after the request began.
    assert len(bed.standin.calls_of("CreateInferenceExperiment")) == 5
    assert timedelta(minutes=2) <= bed.clock.now() - began < timedelta(minutes=3)
    assert bed.standin.experiments == {}  # nothing half-created; the rollback Delete had nothing to do
    bed.assert_nothing_lost()


def test_39_a_validation_refusal_not_about_the_role_fails_at_once(bed: Bed) -> None:
    refusal = "Variant 'shadow' already exists on endpoint 'churn-endpoint'."
    bed.standin.inject("invalid", operation="CreateInferenceExperiment", message=refusal)
    failed = bed.driver.create("Shadow", PROPS, rollback=True)
    assert failed.status == "FAILED"
    assert f"SageMaker said: ValidationException: {refusal}" in failed.reason
    assert len(bed.standin.calls_of("CreateInferenceExperiment")) == 1
    assert bed.standin.experiments == {}
    bed.assert_nothing_lost()

"""The pure decision functions, exhaustively: every request type x experiment status x ownership.

No I/O: requests and described experiments are built by hand, and each Plan's calls, physical id,
completeness and failure are checked against tables written out below (not derived from the code).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator
from hypothesis import given, settings
from hypothesis import strategies as st

from devtools.provider_driver import (
    CREATE_FAILED_MARKER,
    MISSING_PHYSICAL_ID_MARKER,
    as_cloudformation_sends,
    properties,
)
from shadow_test_core.consts import DELETES_REPLACED, REPLACES_CREATED, REPLACES_NAME, STARTED_AT
from shadow_test_core.experiment import decisions, recovery
from shadow_test_core.experiment.decisions import (
    Call,
    Experiment,
    Plan,
    Request,
)
from shadow_test_core.experiment.spec import (
    OWNER_RESOURCE_TAG,
    OWNER_STACK_TAG,
    ExperimentSpec,
    generated_name,
    parse_properties,
)
from tests.hypothesis_budget import examples

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
STACK = "arn:aws:cloudformation:us-east-1:123456789012:stack/ShadowStack/5a1b2c3d-0000-1111-2222-333344445555"
LOGICAL = "Shadow"
ENDPOINT = "churn-endpoint"
ROLE = "arn:aws:iam::123456789012:role/shadow-runner"
#: The resource's settings as prop-path values; ``spec(**changes)`` builds properties from them
#: as the construct does (``settings.to_properties``) and parses them as the handler does.
VALUES: dict[str, Any] = {
    "endpoint_name": ENDPOINT,
    "role": ROLE,
    "production_variant.variant_name": "prod",
    "production_variant.model_name": "model-a",
    "production_variant.instance_type": "ml.m5.large",
    "production_variant.instance_count": 1,
    "shadow_variant.variant_name": "shadow",
    "shadow_variant.model_name": "model-b",
    "shadow_variant.instance_type": "ml.c5.xlarge",
    "shadow_variant.instance_count": 2,
    "sampling_percentage": 40,
    "shadow_action_on_delete": "Remove",
}
#: What ``DescribeInferenceExperiment`` reports of an experiment made with VALUES, written out
#: (not derived from the spec under test): the settings SageMaker holds, as prop-path values.
DESCRIBED: dict[str, Any] = {
    "endpoint_name": "churn-endpoint",
    "role": "arn:aws:iam::123456789012:role/shadow-runner",
    "production_variant.variant_name": "prod",
    "production_variant.model_name": "model-a",
    "production_variant.instance_type": "ml.m5.large",
    "production_variant.instance_count": 1,
    "shadow_variant.variant_name": "shadow",
    "shadow_variant.model_name": "model-b",
    "shadow_variant.instance_type": "ml.c5.xlarge",
    "shadow_variant.instance_count": 2,
    "sampling_percentage": 40,
}
#: None (no experiment) and the eight statuses of botocore's model.
STATUSES: list[str | None] = [
    None,
    "Creating",
    "Created",
    "Updating",
    "Starting",
    "Running",
    "Stopping",
    "Completed",
    "Cancelled",
]
TRANSITIONING = ["Creating", "Updating", "Starting", "Stopping"]
ENDED = ["Completed", "Cancelled"]
OLD_NAME = generated_name(stack_id=STACK, logical_id=LOGICAL, request_id="create-request")
NEW_NAME = generated_name(stack_id=STACK, logical_id=LOGICAL, request_id="req-1")
FIXED = "churn-shadow"
MODEL = botocore.session.get_session().get_service_model("sagemaker")


def spec(**changes: Any) -> ExperimentSpec:
    """The handler's spec for VALUES with ``changes`` (``shadow_variant__model_name=...``), via CloudFormation."""
    return parse_properties(as_cloudformation_sends(properties(VALUES, **changes)))


def request(
    request_type: str,
    *,
    physical_id: str | None = OLD_NAME,
    new: Any = None,
    old: Any = None,
    state: dict[str, str] | None = None,
    deadline: datetime | None = None,
    request_id: str = "req-1",
) -> Request:
    return Request(
        request_type=request_type,
        stack_id=STACK,
        logical_id=LOGICAL,
        request_id=request_id,
        physical_id=physical_id,
        spec=new or spec(),
        old_spec=old,
        state=state or {},
        deadline=deadline,
    )


def experiment(
    status: str,
    *,
    name: str = OLD_NAME,
    owned: bool = True,
    endpoint: str = ENDPOINT,
    start_time: datetime | None = None,
    creation_time: str | None = "2026-03-01T10:00:00+00:00",
    sampling: int | None = 40,
    description: str | None = "",
    reason: str | None = None,
    described: dict[str, Any] | None = None,
) -> Experiment:
    """An experiment as described: :data:`DESCRIBED` unless ``described`` (prop-path values) says otherwise."""
    values = {**DESCRIBED, "sampling_percentage": sampling, "description": description, **(described or {})}
    return Experiment(
        name=name,
        arn=f"arn:aws:sagemaker:us-east-1:123456789012:inference-experiment/{name.lower()}",
        status=status,
        endpoint_name=endpoint,
        owned=owned,
        status_reason=reason,
        creation_time=creation_time,
        start_time=start_time if start_time is not None else NOW - timedelta(hours=1),
        described=values,
        source_variant="prod",
        shadow_variant="shadow",
        owner_stack_id=STACK if owned else "arn:aws:cloudformation:us-east-1:123456789012:stack/Other/1",
        owner_logical_id=LOGICAL if owned else "Theirs",
    )


def described_as(status: str | None, owned: bool = True, **changes: Any) -> Experiment | None:
    return None if status is None else experiment(status, owned=owned, **changes)


def operations(plan: Plan) -> list[str]:
    return [call.operation for call in plan.calls]


def assert_valid_calls(plan: Plan) -> None:
    """Every call's parameters satisfy botocore's model for its operation."""
    for call in plan.calls:
        report = ParamValidator().validate(call.params, MODEL.operation_model(call.operation).input_shape)
        assert not report.has_errors(), f"{call.operation}: {report.generate_report()}"


def assert_waits(plan: Plan) -> None:
    assert (plan.calls, plan.complete, plan.failure) == ((), False, None), plan


# --- on_event: Create ------------------------------------------------------------------------


@pytest.mark.parametrize("fixed_name", [None, FIXED])
def test_plan_create_names_the_experiment_and_calls_nothing(fixed_name: str | None) -> None:
    plan = decisions.plan_create(
        request("Create", physical_id=None, new=spec(experiment_name=fixed_name) if fixed_name else None)
    )
    assert plan.physical_id == (fixed_name or NEW_NAME)
    assert (plan.calls, plan.complete, plan.failure, plan.state) == ((), False, None, {})


def test_a_create_delivered_twice_names_the_same_experiment() -> None:
    first = decisions.plan_create(request("Create", physical_id=None, request_id="r"))
    again = decisions.plan_create(request("Create", physical_id=None, request_id="r"))
    other = decisions.plan_create(request("Create", physical_id=None, request_id="another"))
    assert first.physical_id == again.physical_id != other.physical_id


# --- is_complete: Create (no replacement) ---------------------------------------------------------

#: status -> what a poll of a Create does with its own (owned) experiment.
CREATE_POLL = {
    None: "create",
    "Creating": "wait",
    "Created": "wait",  # a Created experiment whose start time has passed is about to start
    "Updating": "wait",
    "Starting": "wait",
    "Running": "complete",
    "Stopping": "wait",
    "Completed": "delete+fail",
    "Cancelled": "delete+fail",
}


@pytest.mark.parametrize("owned", [True, False], ids=["owned", "not-owned"])
@pytest.mark.parametrize("status", STATUSES)
def test_create_poll(status: str | None, owned: bool) -> None:
    target = described_as(status, owned, reason="Insufficient capacity")
    plan = decisions.plan_completion(
        request("Create", physical_id=NEW_NAME), target and replace(target, name=NEW_NAME), None, NOW
    )
    assert_valid_calls(plan)
    expected = CREATE_POLL[status] if owned or status is None else "foreign"
    if expected == "create":
        assert operations(plan) == ["CreateInferenceExperiment"] and plan.failure is None and not plan.complete
        params = plan.calls[0].params
        assert params["Name"] == NEW_NAME
        assert {OWNER_STACK_TAG: STACK, OWNER_RESOURCE_TAG: LOGICAL}.items() <= {
            t["Key"]: t["Value"] for t in params["Tags"]
        }.items()
    elif expected == "wait":
        assert_waits(plan)
    elif expected == "complete":
        assert plan.complete and plan.failure is None and plan.calls == ()
        assert plan.data == {"ExperimentName": NEW_NAME, "ExperimentArn": target.arn}  # type: ignore[union-attr]
    elif expected == "delete+fail":
        assert operations(plan) == ["DeleteInferenceExperiment"] and plan.calls[0].params == {"Name": NEW_NAME}
        assert f"ended {status} instead of running: Insufficient capacity" in (plan.failure or "")
    else:
        assert plan.calls == () and "this stack did not" in (plan.failure or "")


@pytest.mark.parametrize(
    ("start", "complete"), [(timedelta(days=2), True), (timedelta(0), False), (-timedelta(minutes=5), False)]
)
def test_created_is_ready_only_while_its_start_is_ahead(start: timedelta, complete: bool) -> None:
    target = experiment("Created", name=NEW_NAME, start_time=NOW + start)
    plan = decisions.plan_completion(request("Create", physical_id=NEW_NAME), target, None, NOW)
    assert plan.complete is complete and plan.failure is None


# --- on_event: Update ------------------------------------------------------------------------------

#: Update kinds: (new spec, old spec, physical id, name of a replacement).
KINDS: dict[str, tuple[Any, Any, str, str]] = {
    "no-op": (spec(shadow_action_on_delete="Retain"), spec(), OLD_NAME, NEW_NAME),
    "in-place": (spec(sampling_percentage=75, description="more"), spec(), OLD_NAME, NEW_NAME),
    "replacement": (spec(shadow_variant__model_name="model-c"), spec(), OLD_NAME, NEW_NAME),
    "same-fixed-name": (
        spec(experiment_name=FIXED, shadow_variant__model_name="model-c"),
        spec(experiment_name=FIXED),
        FIXED,
        FIXED,
    ),
    "different-endpoint": (spec(endpoint_name="other-endpoint"), spec(), OLD_NAME, NEW_NAME),
}

#: kind -> status of the (owned) current experiment -> what on_event plans. A current experiment
#: this stack did not create counts as none ("None" column): it is never updated or stopped.
#:   done: nothing to do;  update: UpdateInferenceExperiment;  defer: is_complete updates after the
#:   transition;  stop+replace: stop it, is_complete creates the new one;  await+replace: is_complete
#:   waits for it (and deletes it under the same name), then creates;  create: create the new one now.
UPDATE_PLAN: dict[str, dict[str | None, str]] = {
    "no-op": {
        None: "create", "Creating": "done", "Created": "done", "Updating": "done", "Starting": "done",
        "Running": "done", "Stopping": "await+replace", "Completed": "create", "Cancelled": "create",
    },
    "in-place": {
        None: "create", "Creating": "defer", "Created": "update", "Updating": "defer", "Starting": "defer",
        "Running": "update", "Stopping": "await+replace", "Completed": "create", "Cancelled": "create",
    },
    "replacement": {
        None: "create", "Creating": "await+replace", "Created": "stop+replace", "Updating": "await+replace",
        "Starting": "await+replace", "Running": "stop+replace", "Stopping": "await+replace",
        "Completed": "create", "Cancelled": "create",
    },
    "same-fixed-name": {
        None: "create", "Creating": "await+replace", "Created": "stop+replace", "Updating": "await+replace",
        "Starting": "await+replace", "Running": "stop+replace", "Stopping": "await+replace",
        "Completed": "await+replace", "Cancelled": "await+replace",
    },
    "different-endpoint": dict.fromkeys(STATUSES, "create"),
}  # fmt: skip


@pytest.mark.parametrize("owned", [True, False], ids=["owned", "not-owned"])
@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("kind", list(KINDS))
def test_update_plan(kind: str, status: str | None, owned: bool) -> None:
    new, old, physical_id, new_name = KINDS[kind]
    current = described_as(status, owned, name=physical_id)
    plan = decisions.plan_update(request("Update", physical_id=physical_id, new=new, old=old), current, NOW)
    assert_valid_calls(plan)
    assert plan.failure is None
    expected = UPDATE_PLAN[kind][status if owned else None]
    if expected == "done":
        assert (plan.calls, plan.complete, plan.physical_id) == ((), True, physical_id)
    elif expected == "update":
        assert operations(plan) == ["UpdateInferenceExperiment"] and plan.physical_id == physical_id
        params = plan.calls[0].params
        assert params["Name"] == physical_id and params["Description"] == "more"
        assert params["ShadowModeConfig"]["ShadowModelVariants"][0]["SamplingPercentage"] == 75
        assert not plan.complete and plan.state == {}
    elif expected == "defer":
        assert (plan.calls, plan.complete, plan.physical_id, plan.state) == ((), False, physical_id, {})
    elif expected in ("stop+replace", "await+replace"):
        assert plan.physical_id == new_name and not plan.complete
        assert plan.state == {REPLACES_NAME: physical_id, REPLACES_CREATED: current.creation_time}  # type: ignore[union-attr]
        if expected == "stop+replace":
            (stop,) = plan.calls
            assert stop == Call(
                "StopInferenceExperiment",
                {"Name": physical_id, "ModelVariantActions": {"prod": "Retain", "shadow": "Remove"}},
            )
        else:
            assert plan.calls == ()
        assert plan.creates
    else:
        assert operations(plan) == ["CreateInferenceExperiment"] and plan.physical_id == new_name
        assert plan.calls[0].params["Name"] == new_name and plan.calls[0].params["EndpointName"] == new.endpoint_name
        assert not plan.complete and plan.state == {} and plan.creates


def test_a_replacement_never_stops_an_experiment_this_stack_did_not_create() -> None:
    new, old, _, _ = KINDS["replacement"]
    for status in STATUSES[1:]:
        plan = decisions.plan_update(request("Update", new=new, old=old), experiment(status, owned=False), NOW)
        assert "StopInferenceExperiment" not in operations(plan)
        assert "UpdateInferenceExperiment" not in operations(plan)


# --- in place exactly where SageMaker allows it (issue 13) -----------------------------------------

START = NOW + timedelta(days=2)
CAPTURE = "s3://capture-bucket/shadow"
#: The shadow variant as UpdateInferenceExperiment gets it after a resize (its model unchanged).
RESIZED_SHADOW = {
    "ModelName": "model-b",
    "VariantName": "shadow",
    "InfrastructureConfig": {
        "InfrastructureType": "RealTimeInference",
        "RealTimeInferenceConfig": {"InstanceType": "ml.c5.2xlarge", "InstanceCount": 3},
    },
}


def plan_change(status: str, old: dict[str, Any], new: dict[str, Any]) -> Plan:
    """on_event's plan for changing ``old`` to ``new`` (keyword prop paths) on our experiment in ``status``."""
    started = START if status == "Created" else NOW - timedelta(hours=1)
    current = experiment(status, start_time=started)
    plan = decisions.plan_update(request("Update", new=spec(**new), old=spec(**old)), current, NOW)
    assert_valid_calls(plan)
    assert plan.failure is None
    return plan


def assert_updates_in_place(plan: Plan, params: dict[str, Any]) -> None:
    assert operations(plan) == ["UpdateInferenceExperiment"], plan
    assert plan.calls[0].params == {"Name": OLD_NAME, **params}
    assert plan.physical_id == OLD_NAME and plan.state == {} and not plan.creates


def assert_replaces(plan: Plan) -> None:
    """Stop the old experiment; is_complete creates the new one under a new name."""
    assert operations(plan) == ["StopInferenceExperiment"] and plan.creates, plan
    assert plan.physical_id == NEW_NAME and plan.state[REPLACES_NAME] == OLD_NAME


SHADOW_CONFIG_75 = {
    "SourceModelVariantName": "prod",
    "ShadowModelVariants": [{"ShadowModelVariantName": "shadow", "SamplingPercentage": 75}],
}


@pytest.mark.parametrize("status", ["Created", "Running"])
def test_sampling_change_on_running_experiment_updates_in_place(status: str) -> None:
    plan = plan_change(status, {}, {"sampling_percentage": 75})
    assert_updates_in_place(plan, {"ShadowModeConfig": SHADOW_CONFIG_75})


@pytest.mark.parametrize("status", ["Created", "Running"])
def test_description_change_updates_in_place(status: str) -> None:
    assert_updates_in_place(plan_change(status, {}, {"description": "more"}), {"Description": "more"})


def test_shadow_instance_type_change_before_start_updates_in_place() -> None:
    scheduled = {"schedule__start_time": START, "schedule__duration": timedelta(days=1)}
    resized = {**scheduled, "shadow_variant__instance_type": "ml.c5.2xlarge", "shadow_variant__instance_count": 3}
    plan = plan_change("Created", scheduled, resized)
    assert_updates_in_place(plan, {"ModelVariants": [RESIZED_SHADOW]})


@pytest.mark.parametrize(
    "change", [{"shadow_variant__instance_type": "ml.c5.2xlarge"}, {"shadow_variant__instance_count": 3}]
)
def test_shadow_instance_change_on_running_experiment_replaces_it(change: dict[str, Any]) -> None:
    assert_replaces(plan_change("Running", {}, change))


@pytest.mark.parametrize("status", ["Created", "Running"])
@pytest.mark.parametrize(
    "change",
    [
        {"shadow_variant__model_name": "model-c"},
        {"production_variant__model_name": "model-z"},
        {"production_variant__instance_type": "ml.m5.xlarge"},
        {"shadow_variant__variant_name": "shadow-2"},
    ],
)
def test_model_or_production_change_replaces_in_any_status(status: str, change: dict[str, Any]) -> None:
    assert_replaces(plan_change(status, {}, change))


def test_start_time_change_before_start_updates_in_place() -> None:
    later = START + timedelta(days=1)
    plan = plan_change("Created", {"schedule__start_time": START}, {"schedule__start_time": later})
    assert_updates_in_place(plan, {"Schedule": {"StartTime": later}})


def test_start_time_change_on_running_experiment_replaces_it() -> None:
    assert_replaces(
        plan_change("Running", {"schedule__start_time": NOW - timedelta(hours=1)}, {"schedule__start_time": NOW})
    )


@pytest.mark.parametrize("status", ["Created", "Running"])
def test_end_time_change_updates_in_place(status: str) -> None:
    old_end, new_end = NOW + timedelta(days=3), NOW + timedelta(days=4)
    plan = plan_change(status, {"schedule__end_time": old_end}, {"schedule__end_time": new_end})
    assert_updates_in_place(plan, {"Schedule": {"EndTime": new_end}})


def test_duration_change_on_running_experiment_moves_only_its_end() -> None:
    """The duration is the construct's: on_event calls nothing, the first poll sees the end differ."""
    old, new = {"schedule__duration": timedelta(days=1)}, {"schedule__duration": timedelta(days=2)}
    plan = plan_change("Running", old, new)
    assert (plan.calls, plan.complete, plan.physical_id, plan.creates) == ((), False, OLD_NAME, False)
    started = NOW - timedelta(hours=1)
    target = experiment("Running", start_time=started, described={"schedule.end_time": started + timedelta(days=1)})
    poll = decisions.plan_completion(request("Update", new=spec(**new), old=spec(**old)), target, None, NOW)
    assert poll.calls == (
        Call("UpdateInferenceExperiment", {"Name": OLD_NAME, "Schedule": {"EndTime": started + timedelta(days=2)}}),
    )


def test_capture_change_before_start_updates_in_place() -> None:
    old = {"schedule__start_time": START, "data_capture__destination": CAPTURE}
    new = {**old, "data_capture__destination": CAPTURE + "-2", "data_capture__json_content_types": ["application/json"]}
    plan = plan_change("Created", old, new)
    storage = {"Destination": CAPTURE + "-2", "ContentType": {"JsonContentTypes": ["application/json"]}}
    assert_updates_in_place(plan, {"DataStorageConfig": storage})


def test_capture_turned_on_before_start_updates_in_place() -> None:
    plan = plan_change(
        "Created",
        {"schedule__start_time": START},
        {"schedule__start_time": START, "data_capture__destination": CAPTURE},
    )
    assert_updates_in_place(plan, {"DataStorageConfig": {"Destination": CAPTURE}})


def test_capture_change_on_running_experiment_replaces_it() -> None:
    assert_replaces(
        plan_change("Running", {"data_capture__destination": CAPTURE}, {"data_capture__destination": CAPTURE + "-2"})
    )


def test_capture_turned_off_replaces_even_before_start() -> None:
    old = {"schedule__start_time": START, "data_capture__destination": CAPTURE}
    assert_replaces(plan_change("Created", old, {"schedule__start_time": START}))


@pytest.mark.parametrize("status", ["Created", "Running"])
def test_tag_change_adds_and_deletes_tags_in_place(status: str) -> None:
    old = {"tags": {"team": "churn", "stage": "beta", "gone": "soon"}}
    new = {"tags": {"team": "ml", "stage": "beta", "cost-center": "42"}}
    plan = plan_change(status, old, new)
    arn = experiment(status).arn
    assert plan.calls == (
        Call(
            "AddTags",
            {"ResourceArn": arn, "Tags": [{"Key": "cost-center", "Value": "42"}, {"Key": "team", "Value": "ml"}]},
        ),
        Call("DeleteTags", {"ResourceArn": arn, "TagKeys": ["gone"]}),
    )
    assert plan.physical_id == OLD_NAME and not plan.creates


def test_tags_and_sampling_change_together_make_both_calls_in_place() -> None:
    plan = plan_change("Running", {"tags": {"team": "churn"}}, {"tags": {"team": "ml"}, "sampling_percentage": 75})
    assert operations(plan) == ["AddTags", "UpdateInferenceExperiment"]
    assert plan.calls[1].params == {"Name": OLD_NAME, "ShadowModeConfig": SHADOW_CONFIG_75}


def test_tag_change_never_deletes_the_ownership_tags() -> None:
    plan = plan_change("Running", {"tags": {"team": "churn"}}, {})
    assert plan.calls == (Call("DeleteTags", {"ResourceArn": experiment("Running").arn, "TagKeys": ["team"]}),)
    for call in plan.calls:
        assert not {OWNER_STACK_TAG, OWNER_RESOURCE_TAG} & set(call.params.get("TagKeys", []))


# --- Delete (on_event makes no call; is_complete decides) -------------------------------------------

#: status of our experiment -> what one poll of a Delete does.
DELETE_POLL = {
    None: "done",
    "Creating": "wait",
    "Created": "stop",
    "Updating": "wait",
    "Starting": "wait",
    "Running": "stop",
    "Stopping": "wait",
    "Completed": "delete",
    "Cancelled": "delete",
}
ACTIONS = {
    "Remove": {"ModelVariantActions": {"prod": "Retain", "shadow": "Remove"}},
    "Retain": {"ModelVariantActions": {"prod": "Retain", "shadow": "Retain"}},
    "Promote": {
        "ModelVariantActions": {"prod": "Remove", "shadow": "Promote"},
        "DesiredModelVariants": [
            {
                "ModelName": "model-b",
                "VariantName": "shadow",
                "InfrastructureConfig": {
                    "InfrastructureType": "RealTimeInference",
                    "RealTimeInferenceConfig": {"InstanceType": "ml.c5.xlarge", "InstanceCount": 2},
                },
            }
        ],
    },
}


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("owned", [True, False], ids=["owned", "not-owned"])
@pytest.mark.parametrize("status", STATUSES)
def test_delete_poll(status: str | None, owned: bool, action: str) -> None:
    delete = request("Delete", new=spec(shadow_action_on_delete=action))
    plan = decisions.plan_completion(delete, described_as(status, owned), None, NOW)
    assert decisions.plan_delete(delete, described_as(status, owned)) == plan
    assert_valid_calls(plan)
    assert plan.failure is None and plan.physical_id == OLD_NAME
    expected = DELETE_POLL[status] if owned else "done"
    if expected == "done":
        assert (plan.calls, plan.complete) == ((), True)
    elif expected == "wait":
        assert (plan.calls, plan.complete) == ((), False)
    elif expected == "stop":
        assert plan.calls == (Call("StopInferenceExperiment", {"Name": OLD_NAME, **ACTIONS[action]}),)
        assert not plan.complete
    else:
        assert (plan.calls, plan.complete) == ((Call("DeleteInferenceExperiment", {"Name": OLD_NAME}),), True)


@pytest.mark.parametrize(
    ("physical_id", "ours"),
    [
        (OLD_NAME, True),
        (generated_name(stack_id=STACK, logical_id=LOGICAL, request_id="any other request"), True),
        (generated_name(stack_id=STACK, logical_id="OtherResource", request_id="create-request"), False),
        (
            generated_name(stack_id=STACK.replace("ShadowStack", "OtherStack"), logical_id=LOGICAL, request_id="x"),
            False,
        ),
        (CREATE_FAILED_MARKER, False),
        (MISSING_PHYSICAL_ID_MARKER, False),
        ("5a1b2c3d-0000-1111-2222-333344445555", False),  # a Create's request id: the framework's default
        ("req-1", False),  # this request's id
        ("never-created", False),
        ("", False),
        (None, False),
    ],
)
def test_only_names_this_resource_could_have_given_reach_sagemaker(physical_id: str | None, ours: bool) -> None:
    delete = request("Delete", physical_id=physical_id)
    assert decisions.is_ours(delete) is ours
    if not ours:  # even if an owned experiment were described under it, nothing is called
        plan = decisions.plan_delete(delete, experiment("Running", name=physical_id or "x"))
        assert (plan.calls, plan.complete) == ((), True)


def test_fixed_names_old_and_new_are_ours() -> None:
    assert decisions.is_ours(request("Delete", physical_id=FIXED, new=spec(experiment_name=FIXED)))
    renamed = request("Update", physical_id=FIXED, new=spec(experiment_name="renamed"), old=spec(experiment_name=FIXED))
    assert decisions.is_ours(renamed)
    assert not decisions.is_ours(request("Delete", physical_id=FIXED))


# --- is_complete: Update in place ----------------------------------------------------------------


@pytest.mark.parametrize("differs", [False, True], ids=["matches", "differs"])
@pytest.mark.parametrize("owned", [True, False], ids=["owned", "not-owned"])
@pytest.mark.parametrize("status", STATUSES)
def test_update_poll_in_place(status: str | None, owned: bool, differs: bool) -> None:
    new = spec(sampling_percentage=75, description="more")
    target = described_as(
        status, owned, sampling=40 if differs else 75, description="" if differs else "more", reason="r"
    )
    plan = decisions.plan_completion(request("Update", new=new, old=spec()), target, None, NOW)
    assert_valid_calls(plan)
    if status is None:
        assert "disappeared" in (plan.failure or "")
    elif not owned:
        assert "this stack did not" in (plan.failure or "")
    elif status == "Running" and differs:
        assert operations(plan) == ["UpdateInferenceExperiment"] and not plan.complete and plan.failure is None
    elif status == "Running":
        assert plan.complete and plan.failure is None and plan.calls == ()
    elif status in ENDED:
        assert operations(plan) == ["DeleteInferenceExperiment"] and plan.failure
    else:
        assert_waits(plan)


def test_a_create_poll_never_updates() -> None:
    target = experiment("Running", name=NEW_NAME, sampling=10)
    plan = decisions.plan_completion(request("Create", physical_id=NEW_NAME), target, None, NOW)
    assert plan.complete


@pytest.mark.parametrize(
    ("changes", "seen", "pending"),
    [
        ({}, {}, []),
        ({"sampling_percentage": 41}, {}, ["sampling_percentage"]),
        ({"description": "x"}, {}, ["description"]),
        ({}, {"description": None}, []),  # unknown is not different
        ({}, {"sampling_percentage": None}, []),
        ({"schedule__duration": timedelta(hours=1)}, {"schedule.end_time": NOW + timedelta(seconds=3630)}, []),
        (
            {"schedule__duration": timedelta(hours=1)},
            {"schedule.end_time": NOW + timedelta(hours=2)},
            ["schedule.end_time"],
        ),
        ({"schedule__duration": timedelta(hours=1)}, {}, []),  # end unknown
        # Running: the shadow's size is no longer SageMaker's to change in place, so it is not pending.
        ({"shadow_variant__instance_count": 3}, {}, []),
    ],
)
def test_pending_updates_of_a_running_experiment(
    changes: dict[str, Any], seen: dict[str, Any], pending: list[str]
) -> None:
    target = experiment("Running", start_time=NOW, described=seen)
    assert [s.prop for s in decisions.pending_updates(spec(**changes), target, NOW)] == pending


def test_pending_updates_before_the_start_include_the_shadow_size_and_capture() -> None:
    target = experiment("Created", start_time=NOW + timedelta(days=1))
    wanted = spec(
        shadow_variant__instance_count=3,
        shadow_variant__instance_type="ml.c5.2xlarge",
        schedule__start_time=NOW + timedelta(days=1),
    )
    props = [s.prop for s in decisions.pending_updates(wanted, target, NOW)]
    assert props == ["shadow_variant.instance_type", "shadow_variant.instance_count"]


# --- is_complete: replacements -------------------------------------------------------------------

#: status of the experiment being replaced (another name) -> what the poll does first.
PREVIOUS = {
    "Creating": "wait",
    "Created": "stop",
    "Updating": "wait",
    "Starting": "wait",
    "Running": "stop",
    "Stopping": "wait",
    "Completed": "clear",
    "Cancelled": "clear",
}


@pytest.mark.parametrize("deletes", [False, True], ids=["cloudformation-deletes", "handler-deletes"])
@pytest.mark.parametrize("owned", [True, False], ids=["owned", "not-owned"])
@pytest.mark.parametrize("status", list(PREVIOUS))
def test_replacement_poll_clears_the_previous_experiment_first(status: str, owned: bool, deletes: bool) -> None:
    state = {REPLACES_NAME: OLD_NAME, REPLACES_CREATED: "2026-03-01T10:00:00+00:00"}
    if deletes:
        state[DELETES_REPLACED] = "true"
    update = request("Update", physical_id=NEW_NAME, new=KINDS["replacement"][0], old=spec(), state=state)
    plan = decisions.plan_completion(update, None, experiment(status, owned=owned), NOW)
    assert_valid_calls(plan)
    expected = PREVIOUS[status] if owned else "clear"
    if expected == "wait":
        assert_waits(plan)
    elif expected == "stop":
        assert plan.calls == (
            Call(
                "StopInferenceExperiment",
                {"Name": OLD_NAME, "ModelVariantActions": {"prod": "Retain", "shadow": "Remove"}},
            ),
        )
    elif deletes and owned:
        assert plan.calls == (Call("DeleteInferenceExperiment", {"Name": OLD_NAME}),)
    else:  # clear: the new one is created
        assert operations(plan) == ["CreateInferenceExperiment"] and plan.calls[0].params["Name"] == NEW_NAME
    assert plan.failure is None and not plan.complete


@pytest.mark.parametrize("owned", [True, False], ids=["owned", "not-owned"])
@pytest.mark.parametrize("status", [s for s in STATUSES if s is not None])
def test_same_name_replacement_poll(status: str, owned: bool) -> None:
    """Under one fixed name, the old experiment (its creation time) is stopped, deleted, then re-created."""
    state = {REPLACES_NAME: FIXED, REPLACES_CREATED: "2026-03-01T10:00:00+00:00"}
    new, old, _, _ = KINDS["same-fixed-name"]
    update = request("Update", physical_id=FIXED, new=new, old=old, state=state)
    previous = experiment(status, name=FIXED, owned=owned)
    plan = decisions.plan_completion(update, previous, previous, NOW)
    assert_valid_calls(plan)
    if not owned:
        assert "this stack did not" in (plan.failure or "")
    elif status in ("Created", "Running"):
        assert operations(plan) == ["StopInferenceExperiment"]
    elif status in TRANSITIONING:
        assert_waits(plan)
    else:
        assert plan.calls == (Call("DeleteInferenceExperiment", {"Name": FIXED}),)
    # Once the new one exists (another creation time), it is the target like any other.
    newer = experiment(status, name=FIXED, owned=owned, creation_time="2026-03-01T11:00:00+00:00")
    again = decisions.plan_completion(update, newer, newer, NOW)
    plain = decisions.plan_completion(request("Update", physical_id=FIXED, new=new, old=old), newer, None, NOW)
    assert again == plain


# --- the deadline ----------------------------------------------------------------------------------


@pytest.mark.parametrize("request_type", ["Create", "Update", "Delete"])
@pytest.mark.parametrize("status", TRANSITIONING)
def test_past_the_deadline_a_wait_becomes_a_failure_naming_the_last_status(request_type: str, status: str) -> None:
    target = experiment(status, reason="provisioning shadow variant")
    waiting = request(
        request_type, old=spec() if request_type == "Update" else None, deadline=NOW + timedelta(seconds=1)
    )
    assert_waits(decisions.plan_completion(waiting, target, None, NOW))
    late = replace(waiting, deadline=NOW)
    plan = decisions.plan_completion(late, target, None, NOW)
    assert plan.calls == () and not plan.complete
    if request_type == "Delete":
        assert f"was still {status} at the provider's total timeout" in (plan.failure or "")
    else:
        assert f"last status {status} (provisioning shadow variant)" in (plan.failure or "")
        assert "rollback" in (plan.failure or "")


def test_past_the_deadline_waiting_for_the_replaced_experiment_names_it() -> None:
    state = {REPLACES_NAME: OLD_NAME, REPLACES_CREATED: ""}
    update = request("Update", physical_id=NEW_NAME, new=KINDS["replacement"][0], old=spec(), state=state, deadline=NOW)
    plan = decisions.plan_completion(update, None, experiment("Stopping"), NOW)
    assert f"the experiment it replaces, {OLD_NAME}, was still Stopping" in (plan.failure or "")


def test_the_deadline_never_overrides_completion_or_a_failure() -> None:
    done = decisions.plan_completion(
        request("Create", physical_id=NEW_NAME, deadline=NOW), experiment("Running", name=NEW_NAME), None, NOW
    )
    assert done.complete
    failed = decisions.plan_completion(
        request("Create", physical_id=NEW_NAME, deadline=NOW), experiment("Cancelled", name=NEW_NAME), None, NOW
    )
    assert "ended Cancelled" in (failed.failure or "")


@pytest.mark.parametrize(
    ("started", "total", "interval", "expected"),
    [
        (NOW.isoformat(), 2700, 30, NOW + timedelta(seconds=2640)),
        (NOW.isoformat(), 60, 30, NOW + timedelta(seconds=30)),  # the margin is at most half the total
        (None, 2700, 30, None),
        (NOW.isoformat(), None, 30, None),
        ("not a time", 2700, 30, None),
    ],
)
def test_deadline(started: str | None, total: float | None, interval: float, expected: datetime | None) -> None:
    assert decisions.deadline(started, total, interval) == expected


def test_started_at_is_carried_in_state_not_data() -> None:
    assert (
        STARTED_AT
        not in decisions.plan_completion(
            request("Create", physical_id=NEW_NAME, state={STARTED_AT: NOW.isoformat()}),
            experiment("Running", name=NEW_NAME),
            None,
            NOW,
        ).data
    )


# --- refusals ----------------------------------------------------------------------------------


def test_create_refused_adopts_what_this_resource_made() -> None:
    plan = recovery.plan_create_refused(
        request("Create", physical_id=NEW_NAME),
        NEW_NAME,
        "ResourceInUse",
        "already exists",
        experiment("Creating", name=NEW_NAME),
        None,
    )
    assert (plan.physical_id, plan.failure, plan.calls) == (NEW_NAME, None, ())


def test_create_refused_under_a_name_someone_else_holds() -> None:
    plan = recovery.plan_create_refused(
        request("Create"),
        FIXED,
        "ResourceInUse",
        "already exists",
        experiment("Running", name=FIXED, owned=False),
        None,
    )
    assert "experiment_name 'churn-shadow' is already used" in (plan.failure or "")


@pytest.mark.parametrize("polling", [False, True])
@pytest.mark.parametrize("owned", [True, False], ids=["leftover-of-this-resource", "foreign"])
@pytest.mark.parametrize("status", ["Creating", "Created", "Updating", "Starting", "Running", "Stopping"])
def test_create_refused_by_the_endpoints_active_experiment(status: str, owned: bool, polling: bool) -> None:
    blocker = experiment(status, name="blocker", owned=owned)
    plan = recovery.plan_create_refused(
        request("Create", physical_id=NEW_NAME),
        NEW_NAME,
        "ResourceInUse",
        "endpoint busy",
        None,
        blocker,
        polling=polling,
    )
    assert_valid_calls(plan)
    if owned and not polling:
        # Cleared out of the way first (then deleted: CloudFormation does not know it).
        assert plan.failure is None and plan.physical_id == NEW_NAME
        assert plan.state == {
            REPLACES_NAME: "blocker",
            REPLACES_CREATED: blocker.creation_time,
            DELETES_REPLACED: "true",
        }
        assert operations(plan) == (["StopInferenceExperiment"] if status in ("Created", "Running") else [])
    else:
        assert f"already has an active inference experiment 'blocker' (status {status}" in (plan.failure or "")
        assert "nothing was created" in (plan.failure or "") and "endpoint busy" in (plan.failure or "")
        owner = (
            "created by resource Shadow of stack ShadowStack" if owned else "created by resource Theirs of stack Other"
        )
        assert owner in (plan.failure or "")


def test_create_refused_without_a_blocker_passes_sagemakers_words_on() -> None:
    plan = recovery.plan_create_refused(
        request("Create"), NEW_NAME, "ValidationException", "Variant 'shadow' already exists", None, None
    )
    assert "SageMaker said: ValidationException: Variant 'shadow' already exists" in (plan.failure or "")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (f"User: x is not authorized to perform: iam:PassRole on resource: {ROLE}", f"grant iam:PassRole on {ROLE}"),
        (
            "User: x is not authorized to perform: sagemaker:CreateInferenceExperiment",
            "needs sagemaker:CreateInferenceExperiment",
        ),
    ],
)
def test_access_denied_names_the_permission(message: str, expected: str) -> None:
    plan = recovery.plan_create_refused(request("Create"), NEW_NAME, "AccessDeniedException", message, None, None)
    assert expected in (plan.failure or "") and message in (plan.failure or "")


#: operation -> status after the refusal -> "carry on" / "fail" / "replace" (in on_event of an Update).
REFUSED = {
    "StopInferenceExperiment": {
        None: "carry on", "Creating": "carry on", "Created": "fail", "Updating": "carry on", "Starting": "carry on",
        "Running": "fail", "Stopping": "carry on", "Completed": "carry on", "Cancelled": "carry on",
    },
    "DeleteInferenceExperiment": {
        None: "carry on", "Creating": "fail", "Created": "fail", "Updating": "fail", "Starting": "fail",
        "Running": "fail", "Stopping": "fail", "Completed": "fail", "Cancelled": "fail",
    },
    "UpdateInferenceExperiment": {
        None: "replace", "Creating": "carry on", "Created": "fail", "Updating": "carry on", "Starting": "carry on",
        "Running": "fail", "Stopping": "replace", "Completed": "replace", "Cancelled": "replace",
    },
}  # fmt: skip


@pytest.mark.parametrize("polling", [False, True])
@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("operation", list(REFUSED))
def test_call_refused(operation: str, status: str | None, polling: bool) -> None:
    update = request("Update", new=spec(sampling_percentage=75), old=spec())
    call = Call(operation, {"Name": OLD_NAME})
    plan = recovery.plan_call_refused(
        update, call, "ConflictException", "busy", described_as(status), NOW, polling=polling
    )
    expected = REFUSED[operation][status]
    if expected == "replace" and polling:
        expected = "carry on" if status == "Stopping" else "fail"
    if expected == "carry on":
        assert (plan.failure, plan.physical_id, plan.calls) == (None, None, ())
    elif expected == "fail":
        assert f"SageMaker refused {operation} for inference experiment {OLD_NAME!r}" in (plan.failure or "")
    else:
        assert plan.failure is None and plan.physical_id == NEW_NAME and plan.creates


def test_a_refused_call_denied_names_the_permission() -> None:
    plan = recovery.plan_call_refused(
        request("Delete"), Call("StopInferenceExperiment", {"Name": OLD_NAME}), "AccessDeniedException", "no", None, NOW
    )
    assert "needs sagemaker:StopInferenceExperiment" in (plan.failure or "")


# --- properties over random situations -----------------------------------------------------------


@settings(max_examples=examples(400), deadline=None)
@given(
    request_type=st.sampled_from(["Create", "Update", "Delete"]),
    kind=st.sampled_from(list(KINDS)),
    status=st.sampled_from(STATUSES),
    owned=st.booleans(),
    previous_status=st.sampled_from(STATUSES),
    previous_owned=st.booleans(),
    late=st.booleans(),
)
def test_plans_are_well_formed(
    request_type: str,
    kind: str,
    status: str | None,
    owned: bool,
    previous_status: str | None,
    previous_owned: bool,
    late: bool,
) -> None:
    """Whatever SageMaker reports: a plan is never both done and failed, its calls are valid, and
    nothing is ever stopped, updated or deleted that this stack did not create."""
    new, old, physical_id, _ = KINDS[kind]
    target = described_as(status, owned, name=physical_id)
    previous = described_as(previous_status, previous_owned, name="previous-one")
    state = (
        {REPLACES_NAME: "previous-one", REPLACES_CREATED: ""}
        if previous is not None and request_type != "Delete"
        else {}
    )
    the_request = request(
        request_type,
        physical_id=physical_id,
        new=new,
        old=old if request_type == "Update" else None,
        state=state,
        deadline=NOW if late else None,
    )
    plans = [decisions.plan_completion(the_request, target, previous, NOW)]
    if request_type == "Update":
        plans.append(decisions.plan_update(the_request, target, NOW))
    elif request_type == "Delete":
        plans.append(decisions.plan_delete(the_request, target))
    foreign = {e.name for e in (target, previous) if e is not None and not e.owned}
    for plan in plans:
        assert not (plan.complete and plan.failure)
        assert_valid_calls(plan)
        for call in plan.calls:
            if call.operation != "CreateInferenceExperiment":
                assert call.params["Name"] not in foreign, (call, plan)


# --- desired_state, by status (issue 13) ------------------------------------------------------

#: status -> the plan's first call (or the outcome) when desired_state asks to end the test.
END_NOW = {
    "Creating": "wait",
    "Created": "StopInferenceExperiment",
    "Updating": "wait",
    "Starting": "wait",
    "Running": "StopInferenceExperiment",
    "Stopping": "wait",
    "Completed": "complete",
    "Cancelled": "complete",
}


def _outcome(plan: Plan) -> str:
    if plan.failure:
        return "failed"
    if plan.calls:
        return plan.calls[0].operation
    return "complete" if plan.complete else "wait"


@pytest.mark.parametrize("desired", ["Completed", "Cancelled"])
@pytest.mark.parametrize("status", list(END_NOW))
def test_desired_state_ending_the_test_by_status(desired: str, status: str) -> None:
    new = spec(desired_state=desired, shadow_action_on_delete="Promote")
    plan = decisions.plan_completion(request("Update", new=new, old=spec()), experiment(status), None, NOW)
    assert _outcome(plan) == END_NOW[status]
    if plan.calls:
        stop = plan.calls[0].params
        assert stop["DesiredState"] == desired
        assert stop["ModelVariantActions"] == {"prod": "Remove", "shadow": "Promote"}


def test_desired_state_running_starts_a_created_test_now() -> None:
    later = NOW + timedelta(days=1)
    new = spec(desired_state="Running", schedule__start_time=later, schedule__duration=timedelta(hours=5))
    plan = decisions.plan_completion(
        request("Update", new=new, old=new), experiment("Created", start_time=later), None, NOW
    )
    (call,) = plan.calls
    assert (call.operation, call.params) == ("StartInferenceExperiment", {"Name": OLD_NAME})


def test_desired_state_running_changes_nothing_once_running() -> None:
    new = spec(desired_state="Running")
    plan = decisions.plan_completion(request("Update", new=new, old=spec()), experiment("Running"), None, NOW)
    assert plan.complete and not plan.calls


def test_create_with_desired_state_running_sends_no_future_start() -> None:
    later = NOW + timedelta(days=1)
    new = spec(desired_state="Running", schedule__start_time=later, schedule__duration=timedelta(hours=5))
    create = new.create_request(name="n", now=NOW, owner_tags={})
    assert create["Schedule"] == {"StartTime": NOW, "EndTime": NOW + timedelta(hours=5)}


@pytest.mark.parametrize("status", ["Completed", "Cancelled", "Stopping"])
def test_changes_to_an_ended_test_with_desired_state_ended_are_kept_in_the_template(status: str) -> None:
    old = spec(desired_state="Completed")
    new = spec(desired_state="Completed", sampling_percentage=10, shadow_variant__model_name="model-c")
    plan = decisions.plan_update(request("Update", new=new, old=old), experiment(status), NOW)
    assert plan.physical_id == OLD_NAME and not plan.calls and not plan.state


def test_setting_desired_state_on_a_running_test_is_no_replacement() -> None:
    plan = decisions.plan_update(
        request("Update", new=spec(desired_state="Cancelled"), old=spec()), experiment("Running"), NOW
    )
    assert plan.physical_id == OLD_NAME and not plan.calls and REPLACES_NAME not in plan.state


# --- after an automatic conclusion stopped the test (add_automatic_conclusion) ---------------
# A deploy with no change sends the resource no request at all (CloudFormation compares the
# properties), so the ended experiment is left alone; these are the requests a deploy can send.

AUTOMATICALLY_STOPPED = ["Cancelled", "Completed", "Stopping"]


@pytest.mark.parametrize("status", AUTOMATICALLY_STOPPED)
def test_deploy_with_changes_after_an_automatic_stop_replaces_it_with_a_new_test(status: str) -> None:
    stopped = experiment(status, reason="alarm LatencyRegressionAlarm entered ALARM: shadow removed")
    plan = decisions.plan_update(
        request("Update", new=spec(sampling_percentage=10), old=spec(), request_id="deploy-2"), stopped, NOW
    )
    assert plan.physical_id == generated_name(stack_id=STACK, logical_id=LOGICAL, request_id="deploy-2")
    assert "StopInferenceExperiment" not in operations(plan)


@pytest.mark.parametrize("status", ["Cancelled", "Completed"])
def test_delete_after_an_automatic_stop_deletes_without_a_second_stop(status: str) -> None:
    plan = decisions.plan_delete(request("Delete"), experiment(status))
    assert operations(plan) == ["DeleteInferenceExperiment"] and plan.complete


def test_delete_while_the_automatic_stop_is_still_stopping_waits_without_a_second_stop() -> None:
    plan = decisions.plan_delete(request("Delete"), experiment("Stopping"))
    assert operations(plan) == [] and not plan.complete


# --- a role IAM has not propagated yet ---------------------------------------------------------

ROLE_REFUSAL = (
    f"Could not assume role {ROLE}. Please ensure that the role exists and allows principal "
    "'sagemaker.amazonaws.com' to assume the role."
)


def role_refused(waited: timedelta, message: str = ROLE_REFUSAL, *, polling: bool = True) -> Plan:
    """``CreateInferenceExperiment`` refused with ``message``, ``waited`` after the request began."""
    began = request("Create", physical_id=NEW_NAME, state={STARTED_AT: NOW.isoformat()})
    return recovery.plan_create_refused(
        began, NEW_NAME, "ValidationException", message, None, None, polling=polling, now=NOW + waited
    )


@pytest.mark.parametrize("waited", [timedelta(0), timedelta(seconds=30), timedelta(seconds=119)])
@pytest.mark.parametrize(
    "message",
    [
        ROLE_REFUSAL,
        f'The execution role ARN "{ROLE}" is invalid. Please ensure that the role exists and that its trust '
        'relationship policy allows the action "sts:AssumeRole" for the service principal "sagemaker.amazonaws.com".',
    ],
    ids=["could-not-assume", "trust-policy"],
)
def test_a_refused_role_within_two_minutes_of_the_request_is_not_yet(waited: timedelta, message: str) -> None:
    plan = role_refused(waited, message)
    assert plan.failure is None and plan.physical_id is None and not plan.complete and plan.calls == ()
    assert "role" in plan.reason


@pytest.mark.parametrize("waited", [timedelta(seconds=120), timedelta(minutes=10)])
def test_a_refused_role_two_minutes_after_the_request_fails_with_sagemakers_message(waited: timedelta) -> None:
    plan = role_refused(waited)
    assert f"SageMaker said: ValidationException: {ROLE_REFUSAL}" in (plan.failure or "")
    assert ROLE in (plan.failure or "") and "nothing was created" in (plan.failure or "")


def test_a_refusal_not_about_the_role_fails_at_once() -> None:
    plan = role_refused(timedelta(0), "Variant 'shadow' already exists on endpoint 'churn-endpoint'.")
    assert "SageMaker said: ValidationException: Variant 'shadow' already exists" in (plan.failure or "")


def test_a_refused_role_in_on_event_fails_at_once() -> None:
    # on_event runs once: it cannot poll again (only an Update's replacement creates there).
    assert "Could not assume role" in (role_refused(timedelta(0), polling=False).failure or "")

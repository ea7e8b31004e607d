"""What to do next, decided from the CloudFormation request and the experiments' described state.

Nothing here performs I/O: every function takes plain values and returns a :class:`Plan`, the
SageMaker calls to make and what to answer. ``handler.py`` describes, calls and answers.

SageMaker allows one active experiment per endpoint and cannot restart a stopped one, so the
work of a request is a small state machine that ``is_complete`` advances on every poll:

* create: (stop the experiment being replaced on the same endpoint; delete it when it holds the
  same name) -> create -> wait for ``Running`` (``Created`` when the schedule starts later);
* in-place update: update -> wait for ``Running``/``Created`` again;
* delete: wait out transitions -> stop with the configured variant actions -> delete.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from experiment_spec import ExperimentSpec, generated_name

ACTIVE = frozenset({"Created", "Running"})
TRANSITIONING = frozenset({"Creating", "Starting", "Updating", "Stopping"})
ENDED = frozenset({"Completed", "Cancelled"})

#: ``Data`` keys that carry the replaced experiment from ``on_event`` to ``is_complete``.
REPLACES_NAME = "ReplacesExperimentName"
REPLACES_CREATED = "ReplacesExperimentCreationTime"


@dataclass(frozen=True, kw_only=True)
class Experiment:
    """What ``DescribeInferenceExperiment`` (and ``ListTags``) told us about one experiment."""

    name: str
    arn: str
    status: str
    endpoint_name: str
    owned: bool
    status_reason: str | None = None
    creation_time: str | None = None
    start_time: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class Request:
    """The parts of a CloudFormation custom-resource event that decisions depend on."""

    request_type: str
    stack_id: str
    logical_id: str
    request_id: str
    physical_id: str | None
    spec: ExperimentSpec
    old_spec: ExperimentSpec | None = None
    data: dict[str, str] = field(default_factory=dict)

    def target_name(self) -> str:
        """The experiment this request creates: the fixed name or one generated for it."""
        return self.spec.experiment_name or generated_name(
            stack_id=self.stack_id, logical_id=self.logical_id, request_id=self.request_id
        )


@dataclass(frozen=True)
class Call:
    operation: str
    params: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Plan:
    """SageMaker calls to make, in order, then the answer to give."""

    calls: tuple[Call, ...] = ()
    physical_id: str | None = None
    data: dict[str, str] = field(default_factory=dict)
    complete: bool = False
    failure: str | None = None
    reason: str = ""


def _data(experiment: Experiment) -> dict[str, str]:
    return {"ExperimentArn": experiment.arn, "ExperimentName": experiment.name}


def _create_call(request: Request, name: str, now: datetime) -> Call:
    tags = {"cdk-shadow-test:stack-id": request.stack_id, "cdk-shadow-test:logical-id": request.logical_id}
    return Call("CreateInferenceExperiment", request.spec.create_request(name=name, now=now, owner_tags=tags))


def _foreign_name_failure(name: str) -> str:
    return (
        f"experiment_name {name!r} is already used by an inference experiment that this stack did not "
        "create; choose another name or delete that experiment"
    )


# --- on_event ------------------------------------------------------------------------------


def plan_create(request: Request, existing: Experiment | None, now: datetime) -> Plan:
    """Create the experiment, or adopt the one an earlier delivery of this Create made."""
    name = request.target_name()
    if existing is None:
        return Plan(calls=(_create_call(request, name, now),), physical_id=name, reason="create")
    if not existing.owned:
        return Plan(failure=_foreign_name_failure(name), reason="name taken")
    return Plan(physical_id=name, reason="adopt the experiment an earlier delivery created")


def plan_update(request: Request, current: Experiment | None, now: datetime) -> Plan:
    """Update in place, or start a replacement (finished by :func:`plan_completion`)."""
    assert request.old_spec is not None and request.physical_id is not None
    old, new, physical_id = request.old_spec, request.spec, request.physical_id
    ended = current is None or current.status in ENDED
    if not ended and old == _with_action(new, old.shadow_action_on_delete):
        return Plan(physical_id=physical_id, complete=True, reason="nothing SageMaker holds changed")
    if not ended and old.changes_in_place_only(new):
        assert current is not None
        params = new.update_request(name=physical_id, started_at=current.start_time, now=now)
        return Plan(calls=(Call("UpdateInferenceExperiment", params),), physical_id=physical_id, reason="update in place")
    name = new.experiment_name or generated_name(
        stack_id=request.stack_id, logical_id=request.logical_id, request_id=request.request_id
    )
    blocks_endpoint = current is not None and current.status not in ENDED and current.endpoint_name == new.endpoint_name
    if current is not None and (name == physical_id or blocks_endpoint):
        # The new experiment cannot exist beside the old one: is_complete stops (and, under the
        # same name, deletes) the old one first, then creates the new one.
        data = {REPLACES_NAME: current.name, REPLACES_CREATED: current.creation_time or ""}
        calls = ()
        if current.status in ACTIVE and current.owned:
            calls = (Call("StopInferenceExperiment", old.stop_request(name=current.name, action="Remove")),)
        return Plan(calls=calls, physical_id=name, data=data, reason="replace: stop the old experiment first")
    return Plan(calls=(_create_call(request, name, now),), physical_id=name, reason="replace")


def _with_action(spec: ExperimentSpec, action: str) -> ExperimentSpec:
    return replace(spec, shadow_action_on_delete=action)


def is_ours(request: Request) -> bool:
    """Whether the physical id can name an experiment this resource made (not a failure marker)."""
    physical_id = request.physical_id or ""
    return bool(physical_id) and physical_id != request.request_id and "::" not in physical_id


def plan_delete(request: Request, current: Experiment | None) -> Plan:
    """Stop (with the configured variant actions) and delete, touching nothing we did not create."""
    physical_id = request.physical_id or ""
    if current is None or not current.owned or not is_ours(request):
        return Plan(physical_id=physical_id, complete=True, reason="nothing of ours to delete")
    if current.status in ACTIVE:
        stop = request.spec.stop_request(name=current.name)
        return Plan(calls=(Call("StopInferenceExperiment", stop),), physical_id=physical_id, reason="stop")
    if current.status in ENDED:
        return Plan(calls=(Call("DeleteInferenceExperiment", {"Name": current.name}),), physical_id=physical_id, complete=True, reason="delete")
    return Plan(physical_id=physical_id, reason=f"wait: {current.status}")


# --- is_complete ---------------------------------------------------------------------------


def _settled(request: Request, target: Experiment) -> bool:
    if target.status == "Running":
        return True
    starts_later = target.start_time is not None and target.status == "Created"
    return starts_later


def plan_completion(
    request: Request,
    target: Experiment | None,
    previous: Experiment | None,
    now: datetime,
) -> Plan:
    """One poll of ``is_complete``: the next call, if any, and whether the resource is done."""
    if request.request_type == "Delete":
        return plan_delete(request, target)
    replaces = request.data.get(REPLACES_NAME)
    if previous is not None and replaces is not None:
        same_name = previous.name == request.physical_id
        is_old = not same_name or (previous.creation_time or "") == request.data.get(REPLACES_CREATED, "")
        if is_old:
            step = _clear_previous(request, previous, same_name)
            if step is not None:
                return step
            if same_name:
                target = None
    if target is None:
        if replaces is None:
            return Plan(failure=f"inference experiment {request.physical_id} disappeared before it was ready", reason="gone")
        return Plan(calls=(_create_call(request, request.physical_id or "", now),), reason="create the replacement")
    if not target.owned:
        return Plan(failure=_foreign_name_failure(target.name), reason="name taken")
    if _settled(request, target):
        return Plan(complete=True, data=_data(target), reason=target.status)
    if target.status in ENDED:
        reason = target.status_reason or "no reason given"
        return Plan(
            calls=(Call("DeleteInferenceExperiment", {"Name": target.name}),),
            failure=f"inference experiment {target.name} ended {target.status} instead of running: {reason}",
            reason="failed: clean up",
        )
    return Plan(reason=f"wait: {target.status}")


def _clear_previous(request: Request, previous: Experiment, same_name: bool) -> Plan | None:
    """Stop the experiment being replaced; under the same name, delete it too. None when clear."""
    if not previous.owned:
        return None if not same_name else Plan(failure=_foreign_name_failure(previous.name))
    if previous.status in ACTIVE:
        assert request.old_spec is not None
        return Plan(calls=(Call("StopInferenceExperiment", request.old_spec.stop_request(name=previous.name, action="Remove")),), reason="stop the replaced experiment")
    if previous.status in TRANSITIONING:
        return Plan(reason=f"wait for the replaced experiment: {previous.status}")
    if same_name:
        return Plan(calls=(Call("DeleteInferenceExperiment", {"Name": previous.name}),), reason="delete the replaced experiment")
    return None

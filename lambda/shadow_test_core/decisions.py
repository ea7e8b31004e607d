"""What to do next, decided from the CloudFormation request and the experiments' described state.

Nothing here performs I/O: every function takes plain values and returns a :class:`Plan`, the
SageMaker calls to make and what to answer. ``handler.py`` describes, calls and answers.

SageMaker allows one active experiment per endpoint and cannot restart a stopped one, so the
work of a request is a small state machine that ``is_complete`` advances on every poll:

* create: name it (``on_event``) -> (stop the experiment being replaced on the same endpoint;
  delete it when it holds the same name or is a leftover of this resource) -> create, or adopt
  what an earlier delivery created -> wait for ``Running`` (``Created`` when the schedule starts
  later);
* in-place update: update (once the experiment is out of any transition) -> wait for
  ``Running``/``Created`` with the new settings;
* delete: wait out transitions -> stop with the configured variant actions -> delete.

Every poll also watches the deadline: the provider's total timeout less a margin. Past it, the
request fails naming the last status seen, before the Provider framework's own timeout would
answer a bare "Operation timed out" and leave the work half done. CloudFormation's rollback
(a Delete after a failed create, an Update with the old properties after a failed update)
then cleans up.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from .experiment_spec import OWNER_RESOURCE_TAG, OWNER_STACK_TAG, ExperimentSpec, generated_name, is_generated_name
from .statuses import ACTIVE, ENDED, TRANSITIONING

#: Keys of the state ``on_event`` hands ``is_complete`` (:attr:`Plan.state`). The handler returns
#: it as an extra top-level field, which the Provider framework passes through to ``is_complete``
#: but never sends to CloudFormation (so it is neither a resource attribute nor part of the 4 KB
#: response). First the experiment being replaced:
REPLACES_NAME = "ReplacesExperimentName"
REPLACES_CREATED = "ReplacesExperimentCreationTime"
#: ``"true"`` when ``is_complete`` deletes the replaced experiment itself (CloudFormation will not).
DELETES_REPLACED = "DeletesReplacedExperiment"
#: When ``on_event`` began the request (ISO 8601): the start of the total-timeout clock.
STARTED_AT = "RequestStartedAt"

#: The deadline falls this many query intervals before the Provider framework's total timeout.
DEADLINE_MARGIN_INTERVALS = 2
#: The end time SageMaker reports may differ from the one asked for by less than this.
_END_TIME_TOLERANCE = timedelta(seconds=60)


@dataclass(frozen=True, kw_only=True)
class Experiment:
    """What ``DescribeInferenceExperiment`` (and ``ListTags``) told us about one experiment.

    ``None`` in an optional field means "not known", never "empty".
    """

    name: str
    arn: str
    status: str
    endpoint_name: str
    owned: bool
    status_reason: str | None = None
    creation_time: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    sampling_percentage: int | None = None
    description: str | None = None
    source_variant: str | None = None
    shadow_variant: str | None = None
    owner_stack_id: str | None = None
    owner_logical_id: str | None = None


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
    #: What ``on_event`` handed on to ``is_complete`` (see :attr:`Plan.state`).
    state: dict[str, str] = field(default_factory=dict)
    #: When ``is_complete`` gives up (see :func:`deadline`); None when the handler was not told.
    deadline: datetime | None = None

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
    #: The resource's attributes (``Data``), given when complete.
    data: dict[str, str] = field(default_factory=dict)
    #: What ``on_event`` hands on to ``is_complete`` (never sent to CloudFormation).
    state: dict[str, str] = field(default_factory=dict)
    complete: bool = False
    failure: str | None = None
    reason: str = ""

    @property
    def creates(self) -> bool:
        """Whether this plan leads to a new experiment (now, or once the old one is out of the way)."""
        return REPLACES_NAME in self.state or any(c.operation == "CreateInferenceExperiment" for c in self.calls)


def deadline(
    started_at: str | None, total_timeout_seconds: float | None, query_interval_seconds: float
) -> datetime | None:
    """When ``is_complete`` stops waiting: the total timeout after the start, less two query intervals.

    The Provider framework polls ``is_complete`` every query interval until its total timeout
    and then answers "Operation timed out" itself; giving up a little earlier lets the handler
    fail with what it last saw instead.
    """
    if not started_at or not total_timeout_seconds:
        return None
    try:
        started = datetime.fromisoformat(started_at)
    except ValueError:
        return None
    margin = min(DEADLINE_MARGIN_INTERVALS * query_interval_seconds, total_timeout_seconds / 2)
    return started + timedelta(seconds=total_timeout_seconds - margin)


def _data(experiment: Experiment) -> dict[str, str]:
    return {"ExperimentArn": experiment.arn, "ExperimentName": experiment.name}


def _create_call(request: Request, name: str, now: datetime) -> Call:
    tags = {OWNER_STACK_TAG: request.stack_id, OWNER_RESOURCE_TAG: request.logical_id}
    return Call("CreateInferenceExperiment", request.spec.create_request(name=name, now=now, owner_tags=tags))


def _withdraw_call(experiment: Experiment, spec: ExperimentSpec) -> Call:
    """Stop ``experiment`` removing its shadow variant, naming the variants it was made with."""
    params = spec.stop_request(name=experiment.name, action="Remove")
    if experiment.source_variant and experiment.shadow_variant:
        params["ModelVariantActions"] = {experiment.source_variant: "Retain", experiment.shadow_variant: "Remove"}
    return Call("StopInferenceExperiment", params)


def _foreign_name_failure(name: str) -> str:
    return (
        f"experiment_name {name!r} is already used by an inference experiment that this stack did not "
        "create; choose another name or delete that experiment"
    )


def _owner_words(experiment: Experiment) -> str:
    if experiment.owner_stack_id and experiment.owner_logical_id:
        stack = (
            experiment.owner_stack_id.split("/")[1]
            if experiment.owner_stack_id.count("/") >= 2
            else experiment.owner_stack_id
        )
        return f", created by resource {experiment.owner_logical_id} of stack {stack}"
    return ", not created by a ShadowTestExperiment"


def is_ours(request: Request) -> bool:
    """Whether the physical id can name an experiment this resource made.

    Only a name this resource could have given an experiment qualifies: its fixed name (old or
    new) or a name generated for its stack and logical id. A failure marker, the request id the
    Provider framework answers with when there is no physical id, and anything else never
    reach SageMaker at all.
    """
    physical_id = request.physical_id or ""
    if not physical_id or "::" in physical_id or physical_id == request.request_id:
        return False
    fixed = {s.experiment_name for s in (request.spec, request.old_spec) if s is not None and s.experiment_name}
    return physical_id in fixed or is_generated_name(
        physical_id, stack_id=request.stack_id, logical_id=request.logical_id
    )


def access_denied_failure(operation: str, message: str, role_arn: str) -> str:
    """Name the permission the handler's role lacks, and for ``iam:PassRole`` the role concerned."""
    if "iam:PassRole" in message:
        return (
            f"SageMaker {operation} was denied because the custom resource's handler may not pass the "
            f"experiment's role {role_arn} to SageMaker: grant iam:PassRole on {role_arn} (condition "
            f"iam:PassedToService = sagemaker.amazonaws.com) to the handler's role. AWS said: {message}"
        )
    return (
        f"SageMaker {operation} was denied: the custom resource's handler needs sagemaker:{operation} "
        f"on this resource. AWS said: {message}"
    )


# --- on_event ------------------------------------------------------------------------------


def plan_create(request: Request) -> Plan:
    """Name the experiment; the first poll of ``is_complete`` creates it (or adopts it).

    ``on_event`` runs once, so a SageMaker call there that stays throttled through every retry
    fails the resource; in ``is_complete`` it only means "poll again". The name is fixed or
    derived from the request id, so a Create delivered twice names the same experiment, and
    ``is_complete`` adopts it when its tags say this resource made it.
    """
    return Plan(physical_id=request.target_name(), reason="create it on the first poll")


def plan_create_refused(
    request: Request,
    name: str,
    code: str,
    message: str,
    target: Experiment | None,
    blocker: Experiment | None,
    *,
    polling: bool = False,
) -> Plan:
    """``CreateInferenceExperiment`` failed (or its answer was lost): adopt, clear the way, or explain.

    ``target`` is the experiment described under ``name`` afterwards; ``blocker`` an active
    experiment found on the endpoint. ``polling`` when called from ``is_complete``, which can
    carry nothing to a later poll.
    """
    endpoint = request.spec.endpoint_name
    if target is not None:
        if target.owned:
            return Plan(physical_id=name, reason="adopt: an earlier attempt of this request created it")
        return Plan(failure=_foreign_name_failure(name), reason="name taken")
    if code == "AccessDeniedException":
        return Plan(
            failure=access_denied_failure("CreateInferenceExperiment", message, request.spec.role_arn), reason="denied"
        )
    said = f"SageMaker said: {code}: {message}"
    if blocker is None:
        return Plan(
            failure=f"SageMaker refused to create inference experiment {name!r} on endpoint {endpoint!r}. {said}",
            reason="refused",
        )
    leftover = blocker.owned and blocker.name != request.physical_id
    if leftover and not polling:
        # An experiment this very resource made in an earlier, failed attempt (its failure
        # answer could not hand CloudFormation the name): clear it out of the way, then create.
        state = {REPLACES_NAME: blocker.name, REPLACES_CREATED: blocker.creation_time or "", DELETES_REPLACED: "true"}
        calls = (_withdraw_call(blocker, request.spec),) if blocker.status in ACTIVE else ()
        return Plan(calls=calls, physical_id=name, state=state, reason="clear a leftover of this resource first")
    return Plan(
        failure=(
            f"endpoint {endpoint!r} already has an active inference experiment {blocker.name!r} "
            f"(status {blocker.status}{_owner_words(blocker)}); SageMaker allows one per endpoint, so "
            f"nothing was created. Stop that experiment or shadow another endpoint. {said}"
        ),
        reason="endpoint busy",
    )


def plan_call_refused(
    request: Request,
    call: Call,
    code: str,
    message: str,
    after: Experiment | None,
    now: datetime,
    *,
    polling: bool = False,
) -> Plan:
    """SageMaker refused a stop, update or delete; ``after`` is the experiment described again.

    A refusal that the experiment's state explains (already stopping, already gone, still in a
    transition) is no failure: the next poll looks again. A plan with neither ``failure`` nor
    ``physical_id`` means "carry on"; one with a ``physical_id`` replaces the plan refused (an
    in-place update of an experiment that ended meanwhile becomes a replacement).
    """
    operation, name = call.operation, call.params.get("Name")
    if code == "AccessDeniedException":
        return Plan(failure=access_denied_failure(operation, message, request.spec.role_arn), reason="denied")
    status = after.status if after is not None else None
    ended = status is None or status in ENDED or status == "Stopping"
    if operation == "UpdateInferenceExperiment" and request.request_type == "Update" and ended and not polling:
        # Its schedule ran out between the describe and the update: replace it after all.
        return replace(plan_update(request, after, now), reason="ended meanwhile: replace it")
    if operation == "StopInferenceExperiment" and (status is None or status == "Stopping" or status in ENDED):
        return Plan(reason=f"already {status or 'gone'}")
    if operation == "DeleteInferenceExperiment" and status is None:
        return Plan(reason="already deleted")
    if operation in ("StopInferenceExperiment", "UpdateInferenceExperiment") and status in TRANSITIONING:
        return Plan(reason=f"refused while {status}: look again on the next poll")
    return Plan(
        failure=f"SageMaker refused {operation} for inference experiment {name!r} (status {status or 'gone'}): {code}: {message}",
        reason="refused",
    )


def plan_update(request: Request, current: Experiment | None, now: datetime) -> Plan:
    """Update in place, or start a replacement (finished by :func:`plan_completion`)."""
    assert request.old_spec is not None and request.physical_id is not None
    old, new, physical_id = request.old_spec, request.spec, request.physical_id
    if current is not None and not current.owned:
        current = None  # never update or stop an experiment this stack did not create
    # A stopping experiment is as good as ended: it cannot be updated any more.
    ended = current is None or current.status in ENDED or current.status == "Stopping"
    if not ended and old == _with_action(new, old.shadow_action_on_delete):
        return Plan(physical_id=physical_id, complete=True, reason="nothing SageMaker holds changed")
    if not ended and old.changes_in_place_only(new):
        assert current is not None
        if current.status in TRANSITIONING:
            return Plan(physical_id=physical_id, reason=f"update in place once {current.status} is over")
        params = new.update_request(name=physical_id, started_at=current.start_time, now=now)
        return Plan(
            calls=(Call("UpdateInferenceExperiment", params),), physical_id=physical_id, reason="update in place"
        )
    name = new.experiment_name or generated_name(
        stack_id=request.stack_id, logical_id=request.logical_id, request_id=request.request_id
    )
    blocks_endpoint = current is not None and current.status not in ENDED and current.endpoint_name == new.endpoint_name
    if current is not None and (name == physical_id or blocks_endpoint):
        # The new experiment cannot exist beside the old one: is_complete stops (and, under the
        # same name, deletes) the old one first, then creates the new one.
        state = {REPLACES_NAME: current.name, REPLACES_CREATED: current.creation_time or ""}
        calls: tuple[Call, ...] = ()
        if current.status in ACTIVE:
            calls = (_withdraw_call(current, old),)
        return Plan(calls=calls, physical_id=name, state=state, reason="replace: stop the old experiment first")
    return Plan(calls=(_create_call(request, name, now),), physical_id=name, reason="replace")


def _with_action(spec: ExperimentSpec, action: str) -> ExperimentSpec:
    return replace(spec, shadow_action_on_delete=action)


def plan_delete(request: Request, current: Experiment | None) -> Plan:
    """Stop (with the configured variant actions) and delete, touching nothing we did not create."""
    physical_id = request.physical_id or ""
    if current is None or not current.owned or not is_ours(request):
        return Plan(physical_id=physical_id, complete=True, reason="nothing of ours to delete")
    if current.status in ACTIVE:
        stop = request.spec.stop_request(name=current.name)
        return Plan(calls=(Call("StopInferenceExperiment", stop),), physical_id=physical_id, reason="stop")
    if current.status in ENDED:
        delete = Call("DeleteInferenceExperiment", {"Name": current.name})
        return Plan(calls=(delete,), physical_id=physical_id, complete=True, reason="delete")
    return Plan(physical_id=physical_id, reason=f"wait: {current.status}")


# --- is_complete ---------------------------------------------------------------------------


def _settled(target: Experiment, now: datetime) -> bool:
    """Running, or Created and waiting for a start time that is still ahead."""
    if target.status == "Running":
        return True
    return target.status == "Created" and target.start_time is not None and target.start_time > now


def differs(spec: ExperimentSpec, experiment: Experiment, now: datetime) -> bool:
    """Whether what SageMaker updates in place (sampling, description, end time) differs from ``spec``."""
    if experiment.sampling_percentage is not None and experiment.sampling_percentage != spec.sampling_percentage:
        return True
    if experiment.description is not None and experiment.description != (spec.description or ""):
        return True
    if spec.schedule is not None and experiment.end_time is not None:
        _start, end = spec.schedule.resolve(experiment.start_time or now)
        if end is not None and abs(end - experiment.end_time) > _END_TIME_TOLERANCE:
            return True
    return False


def plan_completion(
    request: Request,
    target: Experiment | None,
    previous: Experiment | None,
    now: datetime,
) -> Plan:
    """One poll of ``is_complete``: the next call, if any, and whether the resource is done."""
    plan = _next_step(request, target, previous, now)
    if plan.complete or plan.failure or request.deadline is None or now < request.deadline:
        return plan
    return _timed_out(request, target, previous)


def _next_step(request: Request, target: Experiment | None, previous: Experiment | None, now: datetime) -> Plan:
    if request.request_type == "Delete":
        return plan_delete(request, target)
    replaces = request.state.get(REPLACES_NAME)
    if previous is not None and replaces is not None:
        same_name = previous.name == request.physical_id
        is_old = not same_name or (previous.creation_time or "") == request.state.get(REPLACES_CREATED, "")
        if is_old:
            step = _clear_previous(request, previous, same_name)
            if step is not None:
                return step
            if same_name:
                target = None
    if target is None:
        if replaces is not None:
            return Plan(calls=(_create_call(request, request.physical_id or "", now),), reason="create the replacement")
        if request.request_type == "Create":
            return Plan(calls=(_create_call(request, request.physical_id or "", now),), reason="create")
        return Plan(
            failure=f"inference experiment {request.physical_id} disappeared before it was ready", reason="gone"
        )
    if not target.owned:
        return Plan(failure=_foreign_name_failure(target.name), reason="name taken")
    if _settled(target, now):
        if request.request_type == "Update" and differs(request.spec, target, now):
            params = request.spec.update_request(name=target.name, started_at=target.start_time, now=now)
            return Plan(calls=(Call("UpdateInferenceExperiment", params),), reason="update in place")
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
    """Stop the experiment being replaced; delete it too when nobody else will. None when clear."""
    if not previous.owned:
        return None if not same_name else Plan(failure=_foreign_name_failure(previous.name))
    if previous.status in ACTIVE:
        spec = request.old_spec or request.spec
        return Plan(calls=(_withdraw_call(previous, spec),), reason="stop the replaced experiment")
    if previous.status in TRANSITIONING:
        return Plan(reason=f"wait for the replaced experiment: {previous.status}")
    if same_name or request.state.get(DELETES_REPLACED) == "true":
        return Plan(
            calls=(Call("DeleteInferenceExperiment", {"Name": previous.name}),), reason="delete the replaced experiment"
        )
    return None


def _timed_out(request: Request, target: Experiment | None, previous: Experiment | None) -> Plan:
    """Past the deadline: fail with the last status seen; the rollback cleans up."""
    name = request.physical_id or ""
    if request.request_type == "Delete":
        status = target.status if target else "gone"
        return Plan(
            failure=(
                f"inference experiment {name} was still {status} at the provider's total timeout, so it "
                "was not deleted yet; delete the stack again (or continue the rollback) once SageMaker "
                "has finished with it"
            ),
            reason="timed out",
        )
    replaces = request.state.get(REPLACES_NAME)
    if target is None and previous is not None and replaces:
        seen = f"the experiment it replaces, {previous.name}, was still {previous.status}"
    elif target is not None:
        why = f" ({target.status_reason})" if target.status_reason else ""
        seen = f"last status {target.status}{why}"
    else:
        seen = "it was not created yet"
    return Plan(
        failure=(
            f"inference experiment {name} was not ready at the provider's total timeout: {seen}. "
            "CloudFormation's rollback stops and deletes what this request started"
        ),
        reason="timed out",
    )

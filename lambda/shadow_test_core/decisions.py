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

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from . import settings
from .experiment_spec import OWNER_RESOURCE_TAG, OWNER_STACK_TAG, ExperimentSpec, generated_name, is_generated_name
from .settings import Setting
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
    #: Whether the request's resource created it (see :func:`recognise`).
    owned: bool = False
    status_reason: str | None = None
    creation_time: str | None = None
    start_time: datetime | None = None
    #: The experiment's settings as prop-path values (see ``settings.from_properties``).
    described: Mapping[str, Any] = field(default_factory=dict)
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


def owner_evident(request: Request, name: str) -> bool:
    """Whether ``name`` alone proves this resource made the experiment, so its tags need no read.

    A generated name holds a hash of this stack's id, the logical id and a request id: nobody
    else makes it. A fixed ``experiment_name`` proves nothing; its owner tags must say.
    """
    return is_generated_name(name, stack_id=request.stack_id, logical_id=request.logical_id)


def recognise(request: Request, experiment: Experiment | None) -> Experiment | None:
    """``experiment`` with ``owned`` set: its name proves it, or its owner tags name this resource."""
    if experiment is None:
        return None
    tagged = experiment.owner_stack_id == request.stack_id and experiment.owner_logical_id == request.logical_id
    return replace(experiment, owned=tagged or owner_evident(request, experiment.name))


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


# --- on_event ------------------------------------------------------------------------------


def plan_create(request: Request) -> Plan:
    """Name the experiment; the first poll of ``is_complete`` creates it (or adopts it).

    ``on_event`` runs once, so a SageMaker call there that stays throttled through every retry
    fails the resource; in ``is_complete`` it only means "poll again". The name is fixed or
    derived from the request id, so a Create delivered twice names the same experiment, and
    ``is_complete`` adopts it when its tags say this resource made it.
    """
    return Plan(physical_id=request.target_name(), reason="create it on the first poll")


def plan_update(request: Request, current: Experiment | None, now: datetime) -> Plan:
    """Update in place, or start a replacement (finished by :func:`plan_completion`)."""
    assert request.old_spec is not None and request.physical_id is not None
    old, new, physical_id = request.old_spec, request.spec, request.physical_id
    if current is not None and not current.owned:
        current = None  # never update or stop an experiment this stack did not create
    # A stopping experiment is as good as ended: it cannot be updated any more.
    ended = current is None or current.status in ENDED or current.status == "Stopping"
    changed = [s for s in settings.changed_settings(old.values, new.values) if s.prop != "shadow_action_on_delete"]
    if current is not None and new.desired_state in ENDED and current.status in (*ENDED, "Stopping"):
        # A stopped test never restarts, so nothing else can apply to it: keep it as it is.
        return Plan(physical_id=physical_id, reason=f"ended ({current.status}): kept, as desired_state asks")
    if not ended and not changed:
        return Plan(physical_id=physical_id, complete=True, reason="nothing SageMaker holds changed")
    if not ended:
        assert current is not None
        # Deferred only what stays in place once the transition ends, whether it ends Created or Running.
        if current.status in TRANSITIONING and not settings.changes_needing_replacement(
            old.values, new.values, "Running"
        ):
            return Plan(physical_id=physical_id, reason=f"update in place once {current.status} is over")
        if not settings.changes_needing_replacement(old.values, new.values, current.status):
            return _update_in_place(request, current, changed, now)
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


def _update_in_place(request: Request, current: Experiment, changed: list[Setting], now: datetime) -> Plan:
    """Tag and update calls that apply ``changed`` to ``current`` without replacing it."""
    assert request.old_spec is not None
    calls = list(_tag_calls(current.arn, request.old_spec.tags, request.spec.tags))
    held = [s for s in changed if s.sent_to_sagemaker and s.kind != settings.TAGS]
    if held:
        params = request.spec.update_request(name=current.name, changed=held, started_at=current.start_time, now=now)
        calls.append(Call("UpdateInferenceExperiment", params))
    props = ", ".join(s.prop for s in changed)
    return Plan(calls=tuple(calls), physical_id=current.name, reason=f"update in place: {props}")


def _tag_calls(arn: str, old: dict[str, str], new: dict[str, str]) -> list[Call]:
    """``AddTags`` for new and changed tags, ``DeleteTags`` for removed ones (ownership tags untouched)."""
    calls = []
    added = {k: v for k, v in new.items() if old.get(k) != v}
    removed = sorted(set(old) - set(new) - {OWNER_STACK_TAG, OWNER_RESOURCE_TAG})
    if added:
        calls.append(Call("AddTags", {"ResourceArn": arn, "Tags": [{"Key": k, "Value": v} for k, v in added.items()]}))
    if removed:
        calls.append(Call("DeleteTags", {"ResourceArn": arn, "TagKeys": removed}))
    return calls


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


def pending_updates(spec: ExperimentSpec, experiment: Experiment, now: datetime) -> list[Setting]:
    """The settings SageMaker could change in place whose described value differs from ``spec``.

    Only values ``spec`` sets are compared (SageMaker fills in defaults of its own), and an end
    time counts as equal within a minute of the one asked for.
    """
    if not experiment.described:
        return []
    start, end = spec.schedule(experiment.start_time or now)
    wanted = {**spec.values, "schedule.start_time": start, "schedule.end_time": end, "schedule.duration": None}
    if wanted.get("description") is None:
        wanted["description"] = ""
    pending = []
    for setting in settings.SETTINGS:
        if not setting.sent_to_sagemaker or setting.kind == settings.TAGS:
            continue
        if not setting.changes_in_place(experiment.status):
            continue
        value, seen = wanted.get(setting.prop), experiment.described.get(setting.prop)
        if value is None or value == [] or seen is None:
            continue
        if isinstance(value, datetime) and isinstance(seen, datetime):
            if abs(value - seen) > _END_TIME_TOLERANCE:
                pending.append(setting)
        elif value != seen:
            pending.append(setting)
    return pending


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
    desired = _towards_desired_state(request.spec, target, now)
    if desired is not None:
        return desired
    if _settled(target, now):
        pending = pending_updates(request.spec, target, now) if request.request_type == "Update" else []
        if pending:
            params = request.spec.update_request(
                name=target.name, changed=pending, started_at=target.start_time, now=now
            )
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


def _towards_desired_state(spec: ExperimentSpec, target: Experiment, now: datetime) -> Plan | None:
    """The step towards ``desired_state``; None when it is unset or asks for what the schedule does."""
    desired = spec.desired_state
    if desired in ENDED:
        if target.status in ENDED:
            return Plan(complete=True, data=_data(target), reason=f"{target.status}, as desired_state asks")
        if target.status in ACTIVE:
            stop = spec.stop_request(name=target.name, desired_state=desired)
            return Plan(calls=(Call("StopInferenceExperiment", stop),), reason=f"end it: desired_state {desired}")
        return Plan(reason=f"wait: {target.status}")
    if desired == "Running" and target.status == "Created" and target.start_time and target.start_time > now:
        _start, end = spec.schedule(now)
        schedule = {"StartTime": now, **({"EndTime": end} if end else {})}
        update = {"Name": target.name, "Schedule": schedule}
        return Plan(calls=(Call("UpdateInferenceExperiment", update),), reason="start it now: desired_state Running")
    return None


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

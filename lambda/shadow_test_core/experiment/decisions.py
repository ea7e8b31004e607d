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

from datetime import datetime

from shadow_test_core.consts import DELETES_REPLACED, REPLACES_CREATED, REPLACES_NAME
from shadow_test_core.experiment import settings
from shadow_test_core.experiment.in_place import pending_updates, towards_desired_state, update_in_place
from shadow_test_core.experiment.ownership import is_ours, owner_evident, recognise
from shadow_test_core.experiment.plans import (
    DEADLINE_MARGIN_INTERVALS,
    Call,
    Experiment,
    Plan,
    Request,
    create_call,
    deadline,
    experiment_data,
    foreign_name_failure,
    withdraw_call,
)
from shadow_test_core.experiment.spec import generated_name
from shadow_test_core.experiment.statuses import ACTIVE, ENDED, STATUSES, TRANSITIONING

#: The names tests and the handler reach through this module, as before the split.
__all__ = [
    "ACTIVE",
    "DEADLINE_MARGIN_INTERVALS",
    "ENDED",
    "STATUSES",
    "TRANSITIONING",
    "Call",
    "Experiment",
    "Plan",
    "Request",
    "deadline",
    "is_ours",
    "owner_evident",
    "pending_updates",
    "plan_completion",
    "plan_create",
    "plan_delete",
    "plan_update",
    "recognise",
]

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
            return update_in_place(request, current, changed, now)
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
            calls = (withdraw_call(current, old),)
        return Plan(calls=calls, physical_id=name, state=state, reason="replace: stop the old experiment first")
    return Plan(calls=(create_call(request, name, now),), physical_id=name, reason="replace")


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
            return Plan(calls=(create_call(request, request.physical_id or "", now),), reason="create the replacement")
        if request.request_type == "Create":
            return Plan(calls=(create_call(request, request.physical_id or "", now),), reason="create")
        return Plan(
            failure=f"inference experiment {request.physical_id} disappeared before it was ready", reason="gone"
        )
    if not target.owned:
        return Plan(failure=foreign_name_failure(target.name), reason="name taken")
    desired = towards_desired_state(request.spec, target, now)
    if desired is not None:
        return desired
    if _settled(target, now):
        pending = pending_updates(request.spec, target, now) if request.request_type == "Update" else []
        if pending:
            params = request.spec.update_request(
                name=target.name, changed=pending, started_at=target.start_time, now=now
            )
            return Plan(calls=(Call("UpdateInferenceExperiment", params),), reason="update in place")
        return Plan(complete=True, data=experiment_data(target), reason=target.status)
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
        return None if not same_name else Plan(failure=foreign_name_failure(previous.name))
    if previous.status in ACTIVE:
        spec = request.old_spec or request.spec
        return Plan(calls=(withdraw_call(previous, spec),), reason="stop the replaced experiment")
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

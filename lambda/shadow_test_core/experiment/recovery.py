"""What to do when SageMaker refuses a call: adopt, clear the way, carry on, or explain.

Pure, like :mod:`decisions`: the handler describes the experiment again after a refusal and
hands what it saw to these functions, which return the plan that replaces the refused one.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from shadow_test_core.consts import DELETES_REPLACED, REPLACES_CREATED, REPLACES_NAME
from shadow_test_core.experiment.decisions import plan_update
from shadow_test_core.experiment.plans import (
    Call,
    Experiment,
    Plan,
    Request,
    foreign_name_failure,
    withdraw_call,
)
from shadow_test_core.experiment.spec import stack_name
from shadow_test_core.experiment.statuses import ACTIVE, ENDED, TRANSITIONING


def _owner_words(experiment: Experiment) -> str:
    if experiment.owner_stack_id and experiment.owner_logical_id:
        stack = stack_name(experiment.owner_stack_id) or experiment.owner_stack_id
        return f", created by resource {experiment.owner_logical_id} of stack {stack}"
    return ", not created by a ShadowTestExperiment"


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
        return Plan(failure=foreign_name_failure(name), reason="name taken")
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
        calls = (withdraw_call(blocker, request.spec),) if blocker.status in ACTIVE else ()
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

"""What to do when SageMaker refuses a call: adopt, clear the way, carry on, or explain.

Pure, like :mod:`decisions`: the handler describes the experiment again after a refusal and
hands what it saw to these functions, which return the plan that replaces the refused one.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from shadow_test_core.consts import DELETES_REPLACED, REPLACES_CREATED, REPLACES_NAME, STARTED_AT
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

#: How long after the request began a refusal of the experiment's role means "not yet". IAM takes
#: seconds to propagate a new role, and the role is created in the same deploy, just before the
#: experiment. terraform-provider-aws retries SageMaker's CreateModel for the same reason
#: (``tfresource.RetryWhenAWSErrCodeEquals(2*time.Minute, ..., "ValidationException")`` in
#: internal/service/sagemaker/model.go).
ROLE_PROPAGATION_WINDOW = timedelta(minutes=2)


def refuses_the_role(code: str, message: str, role_arn: str) -> bool:
    """Whether SageMaker refused a create because it cannot assume the experiment's role (yet).

    SageMaker answers ``ValidationException`` "Could not assume role <ARN>. Please ensure that the
    role exists and allows principal 'sagemaker.amazonaws.com' to assume the role." (or names
    ``sts:AssumeRole`` in the trust policy): a ValidationException that names the role's ARN or
    says "assume". Narrower than terraform's retry of every ValidationException, so a refusal for
    any other reason fails at once.
    """
    if code != "ValidationException":
        return False
    return (bool(role_arn) and role_arn in message) or "assume" in message.lower()


def _role_refused(request: Request, name: str, code: str, message: str, now: datetime | None, polling: bool) -> Plan:
    """Not yet while IAM may still be propagating the role; SageMaker's own words after that.

    The window starts when the request began (``on_event``'s time, handed on in the state), not at
    the role's creation, which the handler cannot know: CloudFormation creates the role before the
    experiment that references it, so the role is at least as old as the request and gets at least
    two minutes. ``on_event`` (an Update's replacement) cannot poll again and fails at once.
    """
    started = request.state.get(STARTED_AT)
    began = datetime.fromisoformat(started) if started else None
    if polling and now is not None and began is not None and now - began < ROLE_PROPAGATION_WINDOW:
        return Plan(reason="role not assumable yet (IAM may still be propagating it): create again on the next poll")
    waited = f" {(now - began).total_seconds():.0f} s after the request began" if now and began else ""
    return Plan(
        failure=(
            f"SageMaker could not assume the experiment's role {request.spec.role_arn}{waited}, so inference "
            f"experiment {name!r} was not created and nothing was created: check that the role exists and that "
            f"its trust policy allows sagemaker.amazonaws.com to assume it. SageMaker said: {code}: {message}"
        ),
        reason="role refused",
    )


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
    now: datetime | None = None,
) -> Plan:
    """``CreateInferenceExperiment`` failed (or its answer was lost): adopt, wait, clear the way, or explain.

    ``target`` is the experiment described under ``name`` afterwards; ``blocker`` an active
    experiment found on the endpoint. ``polling`` when called from ``is_complete``, which can
    carry nothing to a later poll. A refusal of the role is "not yet" in ``is_complete`` for
    :data:`ROLE_PROPAGATION_WINDOW` after the request began (``now`` is the time of the refusal).
    """
    endpoint = request.spec.endpoint_name
    if target is not None:
        if target.owned:
            return Plan(physical_id=name, reason="adopt: an earlier attempt of this request created it")
        return Plan(failure=foreign_name_failure(name), reason="name taken")
    if refuses_the_role(code, message, request.spec.role_arn):
        return _role_refused(request, name, code, message, now, polling)
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

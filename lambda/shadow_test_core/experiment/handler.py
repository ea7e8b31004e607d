"""Custom-resource handler for ``ShadowTestExperiment``: parse, decide, act, answer.

Entry points for the aws-cdk-lib ``custom_resources.Provider`` framework: ``on_event`` starts the
work of a CloudFormation request and ``is_complete`` advances it on every poll; ``handle`` is the
deployed function's one handler and routes each invocation to one of them. Each reads the
experiments' state through :mod:`sagemaker_api`, asks :mod:`decisions` (pure) what to do, makes
those calls and answers. A refused call is explained by describing again and asking
:mod:`recovery`. The SageMaker client and the clock are parameters of :func:`handle_on_event`
and :func:`handle_is_complete`; the Lambda entry points pass the real ones.

``on_event`` runs once, so it does as little as it can: for a Create it only validates and names
the experiment, for a Delete nothing at all; ``is_complete`` creates, stops and deletes, and
treats throttling or a brief outage that outlasts the client's retries as "not yet", and so, for
two minutes after the request began, a create refused because SageMaker cannot assume the role
yet (IAM propagating a role created in the same deploy; see ``recovery.ROLE_PROPAGATION_WINDOW``).

Log lines are one JSON object each and never hold the event (its ``ResponseURL`` is a presigned
URL). State for ``is_complete`` travels in the extra top-level field ``HandlerState``, which the
framework passes through but never sends to CloudFormation.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from shadow_test_core.consts import (
    DEFAULT_QUERY_INTERVAL_SECONDS,
    ENV_QUERY_INTERVAL,
    ENV_TOTAL_TIMEOUT,
    HANDLER_STATE,
    REPLACES_NAME,
    STARTED_AT,
)
from shadow_test_core.experiment import decisions, recovery
from shadow_test_core.experiment.decisions import Call, Plan, Request
from shadow_test_core.experiment.rules import utc_now
from shadow_test_core.experiment.sagemaker_api import SageMakerApi, create_client, error_code, is_refusal, is_transient
from shadow_test_core.experiment.spec import InvalidProperties, parse_properties, validated_spec

#: Failure reasons longer than this are cut: CloudFormation refuses responses over 4 KB.
MAX_REASON_CHARACTERS = 2000

Clock = Callable[[], datetime]
_api: SageMakerApi | None = None


def _default_api() -> SageMakerApi:
    """The container's client, created on first use (Lambda reuses it across invocations)."""
    global _api
    if _api is None:
        _api = SageMakerApi(create_client())
    return _api


def on_event(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point: start a Create, Update or Delete; ``is_complete`` finishes it."""
    return handle_on_event(event, api=_default_api(), clock=utc_now)


def is_complete(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point: advance the request by one step; ``{"IsComplete": False}`` polls again."""
    return handle_is_complete(event, api=_default_api(), clock=utc_now)


def handle(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point of the provider's one function, serving the framework's onEvent and isComplete.

    The framework invokes isComplete with the request merged with on_event's answer, and only that
    answer carries ``HandlerState`` (CloudFormation's requests never do): its presence routes the poll.
    """
    if is_poll(event):
        return is_complete(event, context)
    return on_event(event, context)


def is_poll(event: dict[str, Any]) -> bool:
    """Whether the framework sends ``event`` to isComplete (it carries on_event's answer)."""
    return HANDLER_STATE in event


def _log(event: dict[str, Any], message: str, **fields: Any) -> None:
    """One JSON object per line; never the event itself (it carries the presigned ResponseURL)."""
    record = {
        "message": message,
        "requestType": event.get("RequestType"),
        "logicalResourceId": event.get("LogicalResourceId"),
        "physicalResourceId": event.get("PhysicalResourceId"),
        **fields,
    }
    print(json.dumps(record, default=str), file=sys.stdout, flush=True)


def _reported(event: dict[str, Any], error: Exception) -> Exception:
    """Log a failure in full; hand the framework a reason short enough for CloudFormation."""
    text = str(error)
    _log(event, "failed", error=type(error).__name__, reason=text)
    if len(text) <= MAX_REASON_CHARACTERS:
        return error
    cut = text[: MAX_REASON_CHARACTERS - 80].rstrip()
    return RuntimeError(f"{cut} ... ({len(text)} characters in all; the handler's log has the rest)")


def _parse_request(event: dict[str, Any], *, validate: bool, now: datetime) -> Request:
    properties = event.get("ResourceProperties", {})
    spec = validated_spec(properties, now=now) if validate else parse_properties(properties)
    old_properties = event.get("OldResourceProperties")
    carried = event.get(HANDLER_STATE)
    state = {k: str(v) for k, v in (carried if isinstance(carried, dict) else {}).items()}
    total = os.environ.get(ENV_TOTAL_TIMEOUT)
    interval = float(os.environ.get(ENV_QUERY_INTERVAL) or DEFAULT_QUERY_INTERVAL_SECONDS)
    return Request(
        request_type=event["RequestType"],
        stack_id=event.get("StackId", ""),
        logical_id=event.get("LogicalResourceId", ""),
        request_id=event.get("RequestId", ""),
        physical_id=event.get("PhysicalResourceId"),
        spec=spec,
        old_spec=parse_properties(old_properties) if old_properties else None,
        state=state,
        deadline=decisions.deadline(state.get(STARTED_AT), float(total) if total else None, interval),
    )


class _Run:
    """One invocation: the event, the parsed request, SageMaker and the time."""

    def __init__(self, event: dict[str, Any], request: Request, api: SageMakerApi, now: datetime) -> None:
        self.event, self.request, self.api, self.now = event, request, api, now

    def describe(self, name: str, *, read_tags: bool | None = None) -> decisions.Experiment | None:
        """The experiment, recognised; its tags are read only when its name does not prove the owner."""
        if read_tags is None:
            read_tags = not decisions.owner_evident(self.request, name)
        return decisions.recognise(self.request, self.api.describe(name, read_tags=read_tags))

    def describe_if_possible(self, name: str) -> decisions.Experiment | None:
        try:
            return self.describe(name)
        except Exception as error:  # only used to explain another error
            _log(self.event, "describe failed", name=name, code=error_code(error) or type(error).__name__)
            return None

    def blocker(self, besides: str) -> decisions.Experiment | None:
        try:
            found = self.api.active_on_endpoint(self.request.spec.endpoint_name, besides=besides)
        except Exception as error:  # without the list, SageMaker's own message must do
            _log(self.event, "could not look for the endpoint's experiment", code=error_code(error) or "")
            return None
        return decisions.recognise(self.request, found)

    def check_endpoint(self) -> None:
        spec = self.request.spec
        problem = self.api.endpoint_problem(spec.endpoint_name, spec.production_variant_name)
        if problem:
            raise InvalidProperties([problem])

    def execute(self, plan: Plan, *, polling: bool, depth: int = 0) -> Plan:
        """Make the plan's calls; a refused call is explained by :mod:`recovery`, which may change the plan."""
        for call in plan.calls:
            try:
                response = self.api.call(call.operation, call.params)
            except Exception as error:
                recovered = self.recover(call, error, polling=polling)
                self.log_call(
                    call, "refused", code=error_code(error) or type(error).__name__, decision=recovered.reason
                )
                if recovered.failure:
                    return replace(plan, failure=recovered.failure)
                if recovered.physical_id is not None:
                    # Adopt, clear the way or replace after all: the recovered plan replaces this one.
                    return recovered if depth else self.execute(recovered, polling=polling, depth=1)
                continue
            self.log_call(call, "ok", arn=response.get("InferenceExperimentArn"))
        return plan

    def log_call(self, call: Call, outcome: str, **fields: Any) -> None:
        name = call.params.get("Name") or call.params.get("ResourceArn")
        _log(self.event, "sagemaker call", call=call.operation, name=name, outcome=outcome, **fields)

    def recover(self, call: Call, error: Exception, *, polling: bool) -> Plan:
        request, name = self.request, call.params.get("Name", "")
        if not is_refusal(error):
            # Retries exhausted, or the answer was lost: did the create happen anyway?
            if call.operation == "CreateInferenceExperiment":
                target = self.describe_if_possible(name)
                if target is not None and target.owned:
                    return recovery.plan_create_refused(request, name, "", "", target, None, polling=polling)
            raise error
        code, message = error_code(error), str(getattr(error, "response", {}).get("Error", {}).get("Message", ""))
        denied = code == "AccessDeniedException"
        if call.operation == "CreateInferenceExperiment":
            target = self.describe_if_possible(name)
            # A refused role says nothing of the endpoint: no need to look for its experiment.
            look = target is None and not denied and not recovery.refuses_the_role(code, message, request.spec.role_arn)
            blocker = self.blocker(name) if look else None
            return recovery.plan_create_refused(
                request, name, code, message, target, blocker, polling=polling, now=self.now
            )
        after = self.describe_if_possible(name) if name and not denied else None
        return recovery.plan_call_refused(request, call, code, message or str(error), after, self.now, polling=polling)


def handle_on_event(event: dict[str, Any], *, api: SageMakerApi, clock: Clock) -> dict[str, Any]:
    """``on_event`` with SageMaker and the clock given (the Lambda entry point passes the real ones)."""
    _log(event, "request received")
    try:
        return _on_event(event, api, clock())
    except Exception as error:
        raise _reported(event, error) from None


def _on_event(event: dict[str, Any], api: SageMakerApi, now: datetime) -> dict[str, Any]:
    started = {STARTED_AT: now.isoformat()}
    if event["RequestType"] == "Delete":
        # Deleting is all waiting and reacting to what SageMaker reports: is_complete does it,
        # treating throttling as "not yet". Here nothing is called at all.
        return {"PhysicalResourceId": event.get("PhysicalResourceId"), HANDLER_STATE: started}
    try:
        request = _parse_request(event, validate=True, now=now)
    except InvalidProperties as error:
        _log(event, "invalid properties", problems=error.problems)
        raise
    run = _Run(event, request, api, now)
    if request.request_type == "Create":
        plan = decisions.plan_create(request)
    else:
        current = run.describe(request.physical_id or "") if decisions.is_ours(request) else None
        plan = decisions.plan_update(request, current, now)
        if plan.creates:
            run.check_endpoint()
    _log(event, "decided", decision=plan.reason, calls=[c.operation for c in plan.calls])
    plan = run.execute(plan, polling=False)
    if plan.failure:
        raise RuntimeError(plan.failure)
    return {"PhysicalResourceId": plan.physical_id or request.physical_id, HANDLER_STATE: {**plan.state, **started}}


def handle_is_complete(event: dict[str, Any], *, api: SageMakerApi, clock: Clock) -> dict[str, Any]:
    """``is_complete`` with SageMaker and the clock given (the Lambda entry point passes the real ones)."""
    try:
        return _is_complete(event, api, clock())
    except Exception as error:
        raise _reported(event, error) from None


def _is_complete(event: dict[str, Any], api: SageMakerApi, now: datetime) -> dict[str, Any]:
    try:
        request = _parse_request(event, validate=False, now=now)
    except InvalidProperties:
        if event["RequestType"] == "Delete":
            return {"IsComplete": True}  # properties that never parsed never created anything
        raise
    run, name = _Run(event, request, api, now), request.physical_id or ""
    try:
        target = run.describe(name) if decisions.is_ours(request) else None
        replaced = request.state.get(REPLACES_NAME)
        previous = None
        if replaced:
            previous = target if replaced == name else run.describe(replaced)
        plan = decisions.plan_completion(request, target, previous, now)
        status = target.status if target else None
        _log(event, "decided", decision=plan.reason, calls=[c.operation for c in plan.calls], status=status)
        if plan.creates:
            run.check_endpoint()
        plan = run.execute(plan, polling=True)
    except Exception as error:
        if not is_transient(error) or (request.deadline is not None and now >= request.deadline):
            raise
        # Throttled (or SageMaker briefly unavailable) beyond the client's retries: not yet.
        # Every step is decided afresh from what SageMaker reports, so the next poll resumes.
        _log(event, "sagemaker busy: polling again", code=error_code(error) or type(error).__name__)
        return {"IsComplete": False}
    if plan.failure:
        raise RuntimeError(plan.failure)
    if not plan.complete:
        return {"IsComplete": False}
    return {"IsComplete": True, "Data": plan.data} if plan.data else {"IsComplete": True}

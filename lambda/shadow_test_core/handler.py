"""Custom-resource handler for ``ShadowTestExperiment``: the thin I/O layer.

Entry points for the aws-cdk-lib ``custom_resources.Provider`` framework: ``on_event`` starts
the work of a CloudFormation request and ``is_complete`` advances it on every poll. Both read the
experiments' state, ask :mod:`decisions` what to do, make those SageMaker calls and answer.

``on_event`` runs once, so it does as little as it can: for a Create it only validates and names
the experiment, for a Delete nothing at all; ``is_complete`` creates, stops and deletes, and
treats throttling or a brief outage that outlasts the client's retries as "not yet". A call that
SageMaker refuses is explained by describing the experiment again (:func:`_recover`): already
done, still in a transition, or a failure worth its own message.

Log lines are one JSON object each and never hold the event (its ``ResponseURL`` is a presigned
URL). State for ``is_complete`` travels in the extra top-level field ``HandlerState``, which the
framework passes through but never sends to CloudFormation.

Environment:

* ``SAGEMAKER_MAX_ATTEMPTS``: attempts per SageMaker call, the first included (default 8);
  botocore's standard retry mode spaces them with exponential backoff.
* ``PROVIDER_TOTAL_TIMEOUT_SECONDS`` and ``PROVIDER_QUERY_INTERVAL_SECONDS``: the Provider
  framework's total timeout and poll interval. With them ``is_complete`` gives up two query
  intervals before the framework would, failing with the last status it saw.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from . import decisions
from .decisions import Call, Experiment, Plan, Request
from .experiment_spec import OWNER_RESOURCE_TAG, OWNER_STACK_TAG, InvalidProperties, parse_properties, validated_spec
from .rules import utc_now

_THROTTLING = frozenset(
    {"Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded", "TooManyRequestsException"}
)
_TRANSIENT = _THROTTLING | {"InternalFailure", "InternalServerError", "ServiceUnavailable", "InternalError"}
_DEFAULT_MAX_ATTEMPTS = 8
_DEFAULT_QUERY_INTERVAL_SECONDS = 30.0
#: The field of on_event's answer that carries state to is_complete. The Provider framework passes
#: any extra field through to is_complete and sends only Data to CloudFormation.
HANDLER_STATE = "HandlerState"
#: Failure reasons longer than this are cut: CloudFormation refuses responses over 4 KB.
MAX_REASON_CHARACTERS = 2000

# One client per invocation context. Lambda runs one invocation at a time per container on one
# thread, so this is the usual per-container client; tests run concurrent "containers" as
# threads, each with its own client and retry quota. ``reset_clients`` retires them all.
_invocation = threading.local()
_client_lock = threading.Lock()
_client_generation = 0
_session: Any = None


def reset_clients() -> None:
    """Make every invocation context build a new client (after the environment changed)."""
    global _client_generation
    with _client_lock:
        _client_generation += 1


def set_clock(clock: Callable[[], datetime] | None) -> None:
    """Use ``clock`` for "now" in this invocation context (tests simulate time); None: the real one."""
    _invocation.clock = clock


def _now() -> datetime:
    clock = getattr(_invocation, "clock", None)
    return clock() if clock is not None else utc_now()


def _sagemaker() -> Any:
    """This invocation context's SageMaker client, created on first use."""
    if getattr(_invocation, "generation", None) != _client_generation:
        global _session
        with _client_lock:  # botocore sessions are not thread-safe; the clients they make are
            import botocore.session
            from botocore.config import Config

            if _session is None:
                _session = botocore.session.get_session()
            attempts = int(os.environ.get("SAGEMAKER_MAX_ATTEMPTS", str(_DEFAULT_MAX_ATTEMPTS)))
            _invocation.client = _session.create_client(
                "sagemaker",
                config=Config(
                    retries={"mode": "standard", "total_max_attempts": max(1, attempts)},
                    connect_timeout=5,
                    read_timeout=30,
                ),
            )
            _invocation.generation = _client_generation
    return _invocation.client


def _log(request: dict[str, Any], message: str, **fields: Any) -> None:
    """One JSON object per line; never the event itself (it carries the presigned ResponseURL)."""
    record = {
        "message": message,
        "requestType": request.get("RequestType"),
        "logicalResourceId": request.get("LogicalResourceId"),
        "physicalResourceId": request.get("PhysicalResourceId"),
        **fields,
    }
    print(json.dumps(record, default=str), file=sys.stdout, flush=True)


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _error_message(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Message", "")) or str(error)


def _is_client_error(error: Exception) -> bool:
    from botocore.exceptions import ClientError

    return isinstance(error, ClientError)


def _transient(error: Exception) -> bool:
    """Throttling, a server error or a lost connection that outlasted the client's retries."""
    from botocore.exceptions import BotoCoreError

    return isinstance(error, BotoCoreError) or _error_code(error) in _TRANSIENT


# --- reading SageMaker ---------------------------------------------------------------------


def _describe(name: str, request: Request) -> Experiment | None:
    """The experiment's state and whether this resource owns it, or None when it does not exist."""
    client = _sagemaker()
    try:
        described = client.describe_inference_experiment(Name=name)
    except client.exceptions.ResourceNotFound:
        return None
    tags: dict[str, str] = {}
    for page in client.get_paginator("list_tags").paginate(ResourceArn=described["Arn"]):
        tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
    created = described.get("CreationTime")
    schedule = described.get("Schedule") or {}
    shadow_config = described.get("ShadowModeConfig") or {}
    shadows = shadow_config.get("ShadowModelVariants") or [{}]
    return Experiment(
        name=described["Name"],
        arn=described["Arn"],
        status=described["Status"],
        status_reason=described.get("StatusReason"),
        endpoint_name=described["EndpointMetadata"]["EndpointName"],
        creation_time=created.isoformat() if isinstance(created, datetime) else None,
        start_time=schedule.get("StartTime"),
        end_time=schedule.get("EndTime"),
        sampling_percentage=shadows[0].get("SamplingPercentage"),
        description=described.get("Description", ""),
        source_variant=shadow_config.get("SourceModelVariantName"),
        shadow_variant=shadows[0].get("ShadowModelVariantName"),
        owner_stack_id=tags.get(OWNER_STACK_TAG),
        owner_logical_id=tags.get(OWNER_RESOURCE_TAG),
        owned=tags.get(OWNER_STACK_TAG) == request.stack_id and tags.get(OWNER_RESOURCE_TAG) == request.logical_id,
    )


def _describe_if_possible(name: str, request: Request, event: dict[str, Any]) -> Experiment | None:
    try:
        return _describe(name, request)
    except Exception as error:  # only used to explain another error
        _log(event, "describe failed", name=name, code=_error_code(error) or type(error).__name__)
        return None


def _active_on_endpoint(
    endpoint_name: str, request: Request, event: dict[str, Any], *, besides: str
) -> Experiment | None:
    """The active experiment on ``endpoint_name`` (SageMaker allows one), found by listing and describing."""
    client = _sagemaker()
    try:
        for page in client.get_paginator("list_inference_experiments").paginate(Type="ShadowMode"):
            for summary in page.get("InferenceExperiments", []):
                if summary["Status"] in decisions.ENDED or summary["Name"] == besides:
                    continue
                candidate = _describe(summary["Name"], request)
                if candidate and candidate.endpoint_name == endpoint_name and candidate.status not in decisions.ENDED:
                    return candidate
    except Exception as error:  # without the list, SageMaker's own message must do
        _log(event, "could not look for the endpoint's experiment", code=_error_code(error) or type(error).__name__)
    return None


def _endpoint_problem(spec_endpoint: str, production_variant: str) -> str | None:
    """Why the production variant cannot be shadowed, checked before anything is created."""
    client = _sagemaker()
    try:
        endpoint = client.describe_endpoint(EndpointName=spec_endpoint)
    except client.exceptions.ClientError as error:
        if _error_code(error) == "ValidationException":
            return f"endpoint_name: SageMaker endpoint {spec_endpoint!r} does not exist ({_error_message(error)})"
        raise
    variants = [v["VariantName"] for v in endpoint.get("ProductionVariants", [])]
    if production_variant not in variants:
        return (
            f"production_variant.variant_name: endpoint {spec_endpoint!r} has no variant "
            f"{production_variant!r} (its variants: {', '.join(variants) or 'none'})"
        )
    return None


# --- calling SageMaker ---------------------------------------------------------------------


def _execute(plan: Plan, event: dict[str, Any], request: Request, *, polling: bool, depth: int = 0) -> Plan:
    """Make the plan's calls; a refused call is explained by :mod:`decisions`, which may change the plan."""
    for call in plan.calls:
        try:
            response = getattr(_sagemaker(), _snake_case(call.operation))(**call.params)
        except Exception as error:
            recovered = _recover(call, error, request, event, polling=polling)
            _log(
                event,
                "sagemaker call",
                call=call.operation,
                name=call.params.get("Name"),
                outcome="refused",
                code=_error_code(error) or type(error).__name__,
                decision=recovered.reason,
            )
            if recovered.failure:
                return replace(plan, failure=recovered.failure)
            if recovered.physical_id is not None:
                # Adopt, clear the way or replace after all: the recovered plan replaces this one.
                return recovered if depth else _execute(recovered, event, request, polling=polling, depth=1)
            continue
        _log(
            event,
            "sagemaker call",
            call=call.operation,
            name=call.params.get("Name"),
            outcome="ok",
            arn=response.get("InferenceExperimentArn"),
        )
    return plan


def _recover(call: Call, error: Exception, request: Request, event: dict[str, Any], *, polling: bool) -> Plan:
    if not _is_client_error(error) or _error_code(error) in _TRANSIENT:
        # Retries exhausted, or the answer was lost: did the call happen anyway?
        if call.operation == "CreateInferenceExperiment":
            target = _describe_if_possible(call.params["Name"], request, event)
            if target is not None and target.owned:
                return decisions.plan_create_refused(request, target.name, "", "", target, None, polling=polling)
        raise error
    code, message = _error_code(error), _error_message(error)
    name = call.params["Name"]
    if call.operation == "CreateInferenceExperiment":
        target = _describe_if_possible(name, request, event)
        blocker = None
        if target is None and code != "AccessDeniedException":
            blocker = _active_on_endpoint(request.spec.endpoint_name, request, event, besides=name)
        return decisions.plan_create_refused(request, name, code, message, target, blocker, polling=polling)
    after = _describe_if_possible(name, request, event) if code != "AccessDeniedException" else None
    return decisions.plan_call_refused(request, call, code, message, after, _now(), polling=polling)


def _snake_case(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


# --- the entry points ----------------------------------------------------------------------


def _parse_request(event: dict[str, Any], *, validate: bool, now: datetime) -> Request:
    properties = event.get("ResourceProperties", {})
    spec = validated_spec(properties, now=now) if validate else parse_properties(properties)
    old_properties = event.get("OldResourceProperties")
    carried = event.get(HANDLER_STATE)
    state = {k: str(v) for k, v in (carried if isinstance(carried, dict) else {}).items()}
    total = os.environ.get("PROVIDER_TOTAL_TIMEOUT_SECONDS")
    interval = float(os.environ.get("PROVIDER_QUERY_INTERVAL_SECONDS") or _DEFAULT_QUERY_INTERVAL_SECONDS)
    return Request(
        request_type=event["RequestType"],
        stack_id=event.get("StackId", ""),
        logical_id=event.get("LogicalResourceId", ""),
        request_id=event.get("RequestId", ""),
        physical_id=event.get("PhysicalResourceId"),
        spec=spec,
        old_spec=parse_properties(old_properties) if old_properties else None,
        state=state,
        deadline=decisions.deadline(state.get(decisions.STARTED_AT), float(total) if total else None, interval),
    )


def _reported(event: dict[str, Any], error: Exception) -> Exception:
    """Log a failure in full; hand the framework a reason short enough for CloudFormation."""
    text = str(error)
    _log(event, "failed", error=type(error).__name__, reason=text)
    if len(text) <= MAX_REASON_CHARACTERS:
        return error
    cut = text[: MAX_REASON_CHARACTERS - 80].rstrip()
    return RuntimeError(f"{cut} ... ({len(text)} characters in all; the handler's log has the rest)")


def on_event(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Start a Create, Update or Delete; ``is_complete`` finishes it."""
    _log(event, "request received")
    try:
        return _on_event(event)
    except Exception as error:
        raise _reported(event, error) from None


def _on_event(event: dict[str, Any]) -> dict[str, Any]:
    request_type = event["RequestType"]
    now = _now()
    started = {decisions.STARTED_AT: now.isoformat()}
    if request_type == "Delete":
        # Deleting is all waiting and reacting to what SageMaker reports: is_complete does it,
        # treating throttling as "not yet". Here nothing is called at all.
        return {"PhysicalResourceId": event.get("PhysicalResourceId"), HANDLER_STATE: started}
    try:
        request = _parse_request(event, validate=True, now=now)
    except InvalidProperties as error:
        _log(event, "invalid properties", problems=error.problems)
        raise
    if request_type == "Create":
        plan = decisions.plan_create(request)
    else:
        current = _describe(request.physical_id or "", request) if decisions.is_ours(request) else None
        plan = decisions.plan_update(request, current, now)
        if plan.creates:
            _check_endpoint(request)
    _log(event, "decided", decision=plan.reason, calls=[c.operation for c in plan.calls])
    plan = _execute(plan, event, request, polling=False)
    if plan.failure:
        raise RuntimeError(plan.failure)
    return {"PhysicalResourceId": plan.physical_id or request.physical_id, HANDLER_STATE: {**plan.state, **started}}


def _check_endpoint(request: Request) -> None:
    problem = _endpoint_problem(request.spec.endpoint_name, request.spec.production.variant_name)
    if problem:
        raise InvalidProperties([problem])


def is_complete(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Advance the request by one step; ``{"IsComplete": False}`` asks to be polled again."""
    try:
        return _is_complete(event)
    except Exception as error:
        raise _reported(event, error) from None


def _is_complete(event: dict[str, Any]) -> dict[str, Any]:
    now = _now()
    try:
        request = _parse_request(event, validate=False, now=now)
    except InvalidProperties:
        if event["RequestType"] == "Delete":
            return {"IsComplete": True}  # properties that never parsed never created anything
        raise
    name = request.physical_id or ""
    try:
        target = _describe(name, request) if decisions.is_ours(request) else None
        replaced = request.state.get(decisions.REPLACES_NAME)
        previous = None
        if replaced:
            previous = target if replaced == name else _describe(replaced, request)
        plan = decisions.plan_completion(request, target, previous, now)
        _log(
            event,
            "decided",
            decision=plan.reason,
            calls=[c.operation for c in plan.calls],
            status=target.status if target else None,
        )
        if plan.creates:
            _check_endpoint(request)
        plan = _execute(plan, event, request, polling=True)
    except Exception as error:
        if not _transient(error):
            raise
        # Throttled (or SageMaker briefly unavailable) beyond the client's retries: not yet.
        # Every step is decided afresh from what SageMaker reports, so the next poll resumes.
        if request.deadline is not None and now >= request.deadline:
            raise
        _log(event, "sagemaker busy: polling again", code=_error_code(error) or type(error).__name__)
        return {"IsComplete": False}
    if plan.failure:
        raise RuntimeError(plan.failure)
    if not plan.complete:
        return {"IsComplete": False}
    return {"IsComplete": True, "Data": plan.data} if plan.data else {"IsComplete": True}

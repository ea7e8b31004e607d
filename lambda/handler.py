"""Custom-resource handler for ``ShadowTestExperiment``: the thin I/O layer.

Entry points for the aws-cdk-lib ``custom_resources.Provider`` framework: ``on_event`` starts
the work of a CloudFormation request and ``is_complete`` advances it on every poll. Both read the
experiments' state, ask :mod:`decisions` what to do, make those SageMaker calls and answer.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from typing import Any

import decisions
from decisions import Experiment, Plan, Request
from experiment_spec import OWNER_RESOURCE_TAG, OWNER_STACK_TAG, InvalidProperties, parse_properties, validated_spec
from request_rules import utc_now

_THROTTLING = frozenset({"Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded", "TooManyRequestsException"})
_client: Any = None


def _sagemaker() -> Any:
    """The SageMaker client, created on first use so that importing this module stays cheap."""
    global _client
    if _client is None:
        import boto3
        from botocore.config import Config

        retries = int(os.environ.get("SAGEMAKER_MAX_ATTEMPTS", "8"))
        _client = boto3.client(
            "sagemaker",
            config=Config(retries={"mode": "standard", "max_attempts": retries}, connect_timeout=5, read_timeout=30),
        )
    return _client


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
    return Experiment(
        name=described["Name"],
        arn=described["Arn"],
        status=described["Status"],
        status_reason=described.get("StatusReason"),
        endpoint_name=described["EndpointMetadata"]["EndpointName"],
        creation_time=created.isoformat() if isinstance(created, datetime) else None,
        start_time=(described.get("Schedule") or {}).get("StartTime"),
        owned=tags.get(OWNER_STACK_TAG) == request.stack_id and tags.get(OWNER_RESOURCE_TAG) == request.logical_id,
    )


def _endpoint_problem(spec_endpoint: str, production_variant: str) -> str | None:
    """Why the production variant cannot be shadowed, checked before anything is created."""
    client = _sagemaker()
    try:
        endpoint = client.describe_endpoint(EndpointName=spec_endpoint)
    except client.exceptions.ClientError as error:
        if _error_code(error) == "ValidationException":
            return f"endpoint_name: SageMaker endpoint {spec_endpoint!r} does not exist ({error})"
        raise
    variants = [v["VariantName"] for v in endpoint.get("ProductionVariants", [])]
    if production_variant not in variants:
        return (
            f"production_variant.variant_name: endpoint {spec_endpoint!r} has no variant "
            f"{production_variant!r} (its variants: {', '.join(variants) or 'none'})"
        )
    return None


def _execute(plan: Plan, event: dict[str, Any]) -> None:
    client = _sagemaker()
    for call in plan.calls:
        method = getattr(client, _snake_case(call.operation))
        response = method(**call.params)
        _log(event, "sagemaker call", call=call.operation, name=call.params.get("Name"), outcome="ok",
             arn=response.get("InferenceExperimentArn"))


def _snake_case(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def _parse_request(event: dict[str, Any], *, validate: bool) -> Request:
    now = utc_now()
    properties = event.get("ResourceProperties", {})
    spec = validated_spec(properties, now=now) if validate else parse_properties(properties)
    old_properties = event.get("OldResourceProperties")
    return Request(
        request_type=event["RequestType"],
        stack_id=event.get("StackId", ""),
        logical_id=event.get("LogicalResourceId", ""),
        request_id=event.get("RequestId", ""),
        physical_id=event.get("PhysicalResourceId"),
        spec=spec,
        old_spec=parse_properties(old_properties) if old_properties else None,
        data={k: str(v) for k, v in (event.get("Data") or {}).items()},
    )


def on_event(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Start a Create, Update or Delete; ``is_complete`` finishes it."""
    request_type = event["RequestType"]
    _log(event, "request received")
    try:
        request = _parse_request(event, validate=request_type != "Delete")
    except InvalidProperties as error:
        _log(event, "invalid properties", problems=error.problems)
        if request_type == "Delete":
            # Properties that never parsed never created anything.
            return {"PhysicalResourceId": event.get("PhysicalResourceId")}
        raise
    now = utc_now()
    if request_type == "Create":
        problem = _endpoint_problem(request.spec.endpoint_name, request.spec.production.variant_name)
        if problem:
            raise InvalidProperties([problem])
        plan = decisions.plan_create(request, _describe(request.target_name(), request), now)
    elif request_type == "Update":
        current = _describe(request.physical_id or "", request) if decisions.is_ours(request) else None
        plan = decisions.plan_update(request, current, now)
    else:
        current = _describe(request.physical_id or "", request) if decisions.is_ours(request) else None
        plan = decisions.plan_delete(request, current)
    return _answer(plan, event, request)


def _answer(plan: Plan, event: dict[str, Any], request: Request) -> dict[str, Any]:
    _log(event, "decided", decision=plan.reason, calls=[c.operation for c in plan.calls])
    _execute(plan, event)
    if plan.failure:
        raise RuntimeError(plan.failure)
    answer: dict[str, Any] = {"PhysicalResourceId": plan.physical_id or request.physical_id}
    if plan.data:
        answer["Data"] = plan.data
    return answer


def is_complete(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Advance the request by one step; ``{"IsComplete": False}`` asks to be polled again."""
    request = _parse_request(event, validate=False) if event["RequestType"] != "Delete" else _parse_delete(event)
    if request is None:
        return {"IsComplete": True}
    name = request.physical_id or ""
    try:
        target = _describe(name, request) if decisions.is_ours(request) else None
        replaced = request.data.get(decisions.REPLACES_NAME)
        previous = None
        if replaced:
            previous = target if replaced == name else _describe(replaced, request)
    except Exception as error:  # noqa: BLE001 - a throttled describe only means "not yet"
        if _error_code(error) in _THROTTLING:
            _log(event, "describe throttled: polling again", code=_error_code(error))
            return {"IsComplete": False}
        raise
    plan = decisions.plan_completion(request, target, previous, utc_now())
    _log(event, "decided", decision=plan.reason, calls=[c.operation for c in plan.calls],
         status=target.status if target else None)
    _execute(plan, event)
    if plan.failure:
        raise RuntimeError(plan.failure)
    if not plan.complete:
        return {"IsComplete": False}
    return {"IsComplete": True, "Data": plan.data} if plan.data else {"IsComplete": True}


def _parse_delete(event: dict[str, Any]) -> Request | None:
    try:
        return _parse_request(event, validate=False)
    except InvalidProperties:
        return None

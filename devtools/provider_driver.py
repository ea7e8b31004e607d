"""Plays CloudFormation and the CDK Provider framework around the handler's two entry points.

Like the framework it sends ``on_event``, then ``is_complete`` with ``on_event``'s answer merged
in, until complete or the total timeout runs out (then it answers "Operation timed out" itself,
as the framework's ``onTimeout`` does); answers FAILED with the framework's marker physical id
when a Create fails in ``on_event``; answers the Delete of that marker itself; and, like
CloudFormation, stringifies every scalar property, deletes the old physical id after an update
that replaced the resource, rolls a failed Create back with a Delete and a failed Update with an
Update whose old and new properties are swapped, and keeps track of the stack's resources.

Time: with a :class:`SimulatedClock` each poll moves the clock on by the query interval instead
of sleeping, the handler reads that clock and the poll budget is the
framework's: one poll at once, then one per interval until the total timeout. Without a clock,
``max_polls`` stands in for the total timeout and ``poll_pause`` (real seconds) for the interval.

The handler gets its SageMaker and its clock as parameters: each driver holds one
:class:`SageMakerApi` (its own client, like one Lambda container) and hands its clock on.

:func:`properties` builds a resource's properties as the construct does, from prop-path values
through ``settings.to_properties``.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from shadow_test_core.experiment import handler, settings
from shadow_test_core.experiment.rules import utc_now
from shadow_test_core.experiment.sagemaker_api import SageMakerApi, create_client

CREATE_FAILED_MARKER = "AWSCDK::CustomResourceProviderFramework::CREATE_FAILED"
MISSING_PHYSICAL_ID_MARKER = "AWSCDK::CustomResourceProviderFramework::MISSING_PHYSICAL_ID"
RESPONSE_URL = "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/secret?X-Amz-Signature=abc"
#: CloudFormation refuses a custom resource's response body above this many bytes.
RESPONSE_LIMIT_BYTES = 4096
# The framework appends the user function's log group to an error (a Lambda name has <= 64 characters).
_LOGS_SUFFIX = "\n\nLogs: /aws/lambda/ShadowStack-ShadowTestProviderIsCompleteE1A2B3C4-AbCdEfGh1234\n"


#: A shadow test's settings as prop-path values (what a user writes in ShadowTestExperiment), shared
#: by the handler's tests and the deploy benchmark: ``properties(CHURN_VALUES, **changes)``.
CHURN_VALUES: dict[str, Any] = {
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
    "shadow_action_on_delete": "Remove",
    "tags": {"team": "churn"},
}


def properties(values: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """The custom resource's properties for prop-path ``values``, as the construct writes them.

    ``changes`` override ``values``; a keyword ``shadow_variant__model_name`` names the prop path
    ``shadow_variant.model_name``. A value of None leaves the prop out.
    """
    merged = {**values, **{key.replace("__", "."): value for key, value in changes.items()}}
    unknown = set(merged) - set(settings.BY_PROP)
    assert not unknown, f"not prop paths: {sorted(unknown)}"
    return settings.to_properties(merged)


def as_cloudformation_sends(value: Any) -> Any:
    """CloudFormation passes every scalar property to a custom resource as a string."""
    if isinstance(value, dict):
        return {k: as_cloudformation_sends(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_cloudformation_sends(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class SimulatedClock:
    """A thread-safe clock that moves only when told to (for the handler and the stand-in)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def time(self) -> float:
        return self.now().timestamp()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)


@dataclass
class Outcome:
    status: str  # SUCCESS or FAILED
    physical_id: str | None
    data: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    polls: int = 0
    #: What each poll of is_complete answered (True: complete).
    answers: list[bool] = field(default_factory=list)
    #: The response body the framework would send to CloudFormation.
    response_body: str = ""
    request_type: str = ""


@dataclass
class ProviderDriver:
    stack_id: str = (
        "arn:aws:cloudformation:us-east-1:123456789012:stack/ShadowStack/5a1b2c3d-0000-1111-2222-333344445555"
    )
    max_polls: int = 200
    responses: list[Outcome] = field(default_factory=list)
    clock: SimulatedClock | None = None
    total_timeout_seconds: int = 45 * 60
    query_interval_seconds: int = 30
    #: Real seconds to sleep between polls (the query interval, scaled down) when there is no clock.
    poll_pause: float = 0.0
    #: The framework masks ResponseURL before calling user functions; False hands the real one on.
    mask_response_url: bool = True
    #: Called with the poll number (1, 2, ...) before each is_complete call: a hook for faults.
    on_poll: Callable[[int], None] | None = None
    #: The stack's resources as CloudFormation knows them: logical id -> physical id.
    resources: dict[str, str] = field(default_factory=dict)
    #: SageMaker as the handler sees it; by default a client of its own, made on first use (from the
    #: environment: ``AWS_ENDPOINT_URL_SAGEMAKER``, ``SAGEMAKER_MAX_ATTEMPTS``).
    api: SageMakerApi | None = None

    def sagemaker(self) -> SageMakerApi:
        """The driver's SageMaker (one client per driver, like one Lambda container)."""
        if self.api is None:
            self.api = SageMakerApi(create_client())
        return self.api

    def now(self) -> datetime:
        return self.clock.now() if self.clock is not None else utc_now()

    def _event(self, request_type: str, logical_id: str, props: dict[str, Any], **extra: Any) -> dict[str, Any]:
        event = {
            "RequestType": request_type,
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:provider",
            "ResponseURL": RESPONSE_URL,
            "StackId": self.stack_id,
            "RequestId": extra.pop("request_id", None) or str(uuid.uuid4()),
            "LogicalResourceId": logical_id,
            "ResourceType": "Custom::ShadowTestExperiment",
            "ResourceProperties": as_cloudformation_sends({"ServiceToken": "token", **props}),
        }
        event.update(extra)
        return event

    @property
    def poll_budget(self) -> int:
        """How often the framework calls is_complete before its total timeout."""
        if self.clock is None:
            return self.max_polls
        return 1 + self.total_timeout_seconds // self.query_interval_seconds

    def send(self, event: dict[str, Any]) -> Outcome:
        """Deliver one event through on_event and is_complete, as the framework does."""
        if event["RequestType"] == "Delete" and event.get("PhysicalResourceId") == CREATE_FAILED_MARKER:
            # The framework answers this Delete itself, without calling the user's functions.
            return self._record(event, Outcome("SUCCESS", CREATE_FAILED_MARKER))
        # The framework hands user functions a copy whose ResponseURL is masked.
        sanitized = copy.deepcopy(event)
        if self.mask_response_url:
            sanitized["ResponseURL"] = "..."
        try:
            result = handler.handle_on_event(sanitized, api=self.sagemaker(), clock=self.now)
        except Exception as error:  # the framework turns any error into FAILED
            physical = event.get("PhysicalResourceId") or CREATE_FAILED_MARKER
            return self._record(event, Outcome("FAILED", physical, reason=str(error)))
        merged = {**sanitized, **result}
        merged["PhysicalResourceId"] = (
            result.get("PhysicalResourceId") or event.get("PhysicalResourceId") or event["RequestId"]
        )
        answers: list[bool] = []
        for poll in range(1, self.poll_budget + 1):
            if poll > 1:
                if self.clock is not None:
                    self.clock.advance(self.query_interval_seconds)
                if self.poll_pause:
                    time.sleep(self.poll_pause)
            if self.on_poll is not None:
                self.on_poll(poll)
            try:
                answer = handler.handle_is_complete(copy.deepcopy(merged), api=self.sagemaker(), clock=self.now)
            except Exception as error:
                return self._record(
                    merged,
                    Outcome(
                        "FAILED",
                        merged["PhysicalResourceId"],
                        dict(merged.get("Data") or {}),
                        str(error),
                        poll,
                        answers,
                    ),
                )
            answers.append(bool(answer.get("IsComplete")))
            if answer.get("IsComplete"):
                data = {**(merged.get("Data") or {}), **(answer.get("Data") or {})}
                return self._record(
                    merged, Outcome("SUCCESS", merged["PhysicalResourceId"], data, polls=poll, answers=answers)
                )
            assert not answer.get("Data"), "the framework refuses Data unless IsComplete"
        timed_out = Outcome(
            "FAILED",
            merged["PhysicalResourceId"],
            dict(merged.get("Data") or {}),
            "Operation timed out",
            self.poll_budget,
            answers,
        )
        return self._record(merged, timed_out)

    def _record(self, event: dict[str, Any], outcome: Outcome) -> Outcome:
        outcome.request_type = event["RequestType"]
        reason = outcome.reason + _LOGS_SUFFIX if outcome.status == "FAILED" else outcome.status
        body = {
            "Status": outcome.status,
            "Reason": reason,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "PhysicalResourceId": outcome.physical_id or MISSING_PHYSICAL_ID_MARKER,
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": outcome.data,
        }
        outcome.response_body = json.dumps(body, ensure_ascii=False)
        self.responses.append(outcome)
        return outcome

    # --- CloudFormation ----------------------------------------------------------------------

    def create(
        self, logical_id: str, props: dict[str, Any], *, request_id: str | None = None, rollback: bool = False
    ) -> Outcome:
        """Create; with ``rollback``, a failure is followed by CloudFormation's Delete of what it answered."""
        outcome = self.send(self._event("Create", logical_id, props, request_id=request_id))
        if outcome.status == "SUCCESS":
            self.resources[logical_id] = outcome.physical_id or ""
        elif rollback:
            deleted = self.delete(logical_id, outcome.physical_id or CREATE_FAILED_MARKER, props)
            assert deleted.status == "SUCCESS", f"rollback failed: {deleted.reason}"
        return outcome

    def update(
        self,
        logical_id: str,
        physical_id: str,
        props: dict[str, Any],
        old_props: dict[str, Any],
        *,
        cleanup: bool = True,
        rollback: bool = False,
    ) -> Outcome:
        """Update; when the physical id changes, CloudFormation later deletes the old one.

        With ``rollback``, a failure is followed by CloudFormation's rollback: an Update of the
        resource's (unchanged) physical id with the old and new properties swapped.
        """
        outcome = self.send(
            self._event(
                "Update",
                logical_id,
                props,
                PhysicalResourceId=physical_id,
                OldResourceProperties=as_cloudformation_sends({"ServiceToken": "token", **old_props}),
            )
        )
        if outcome.status == "SUCCESS":
            self.resources[logical_id] = outcome.physical_id or physical_id
            if cleanup and outcome.physical_id != physical_id:
                deleted = self.delete(logical_id, physical_id, old_props, forget=False)
                assert deleted.status == "SUCCESS", deleted.reason
        elif rollback:
            # A FAILED answer's physical id is ignored: the resource keeps the one it had.
            restored = self.update(logical_id, physical_id, old_props, props, cleanup=cleanup)
            assert restored.status == "SUCCESS", f"update rollback failed: {restored.reason}"
        return outcome

    def delete(self, logical_id: str, physical_id: str, props: dict[str, Any], *, forget: bool = True) -> Outcome:
        outcome = self.send(self._event("Delete", logical_id, props, PhysicalResourceId=physical_id))
        if outcome.status == "SUCCESS" and forget and self.resources.get(logical_id) == physical_id:
            del self.resources[logical_id]
        return outcome

"""Plays CloudFormation and the CDK Provider framework around the handler's two entry points.

Like the framework it sends ``on_event``, then ``is_complete`` with ``on_event``'s answer merged
in, until complete or the poll budget (standing in for the total timeout) runs out; answers
FAILED with the framework's marker physical id when a Create fails in ``on_event``; and, like
CloudFormation, stringifies every scalar property and deletes the old physical id after an
update that replaced the resource.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import Any

import handler

CREATE_FAILED_MARKER = "AWSCDK::CustomResourceProviderFramework::CREATE_FAILED"
RESPONSE_URL = "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/secret?X-Amz-Signature=abc"


def as_cloudformation_sends(value: Any) -> Any:
    """CloudFormation passes every scalar property to a custom resource as a string."""
    if isinstance(value, dict):
        return {k: as_cloudformation_sends(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_cloudformation_sends(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class Outcome:
    status: str  # SUCCESS or FAILED
    physical_id: str | None
    data: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    polls: int = 0


@dataclass
class ProviderDriver:
    stack_id: str = "arn:aws:cloudformation:us-east-1:123456789012:stack/ShadowStack/5a1b2c3d-0000-1111-2222-333344445555"
    max_polls: int = 200
    responses: list[Outcome] = field(default_factory=list)

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

    def send(self, event: dict[str, Any]) -> Outcome:
        """Deliver one event through on_event and is_complete, as the framework does."""
        # The framework hands user functions a copy whose ResponseURL is masked.
        sanitized = {**copy.deepcopy(event), "ResponseURL": "..."}
        try:
            result = handler.on_event(sanitized, None)
        except Exception as error:  # the framework turns any error into FAILED
            physical = event.get("PhysicalResourceId") or CREATE_FAILED_MARKER
            return self._record(Outcome("FAILED", physical, reason=str(error)))
        merged = {**sanitized, **result}
        merged["PhysicalResourceId"] = result.get("PhysicalResourceId") or event.get("PhysicalResourceId")
        for poll in range(1, self.max_polls + 1):
            try:
                answer = handler.is_complete(copy.deepcopy(merged), None)
            except Exception as error:
                return self._record(Outcome("FAILED", merged["PhysicalResourceId"], reason=str(error), polls=poll))
            if answer.get("IsComplete"):
                data = {**(merged.get("Data") or {}), **(answer.get("Data") or {})}
                return self._record(Outcome("SUCCESS", merged["PhysicalResourceId"], data, polls=poll))
        return self._record(Outcome("FAILED", merged["PhysicalResourceId"], reason="Operation timed out", polls=self.max_polls))

    def _record(self, outcome: Outcome) -> Outcome:
        self.responses.append(outcome)
        return outcome

    def create(self, logical_id: str, props: dict[str, Any], *, request_id: str | None = None) -> Outcome:
        return self.send(self._event("Create", logical_id, props, request_id=request_id))

    def update(
        self, logical_id: str, physical_id: str, props: dict[str, Any], old_props: dict[str, Any], *, cleanup: bool = True
    ) -> Outcome:
        """Update; when the physical id changes, CloudFormation later deletes the old one."""
        outcome = self.send(
            self._event(
                "Update",
                logical_id,
                props,
                PhysicalResourceId=physical_id,
                OldResourceProperties=as_cloudformation_sends({"ServiceToken": "token", **old_props}),
            )
        )
        if cleanup and outcome.status == "SUCCESS" and outcome.physical_id != physical_id:
            deleted = self.delete(logical_id, physical_id, old_props)
            assert deleted.status == "SUCCESS", deleted.reason
        return outcome

    def delete(self, logical_id: str, physical_id: str, props: dict[str, Any]) -> Outcome:
        if physical_id == CREATE_FAILED_MARKER:
            # The framework answers this Delete itself, without calling the user's functions.
            return self._record(Outcome("SUCCESS", physical_id))
        return self.send(self._event("Delete", logical_id, props, PhysicalResourceId=physical_id))

"""What the SageMaker stand-in remembers: endpoints, experiments' bookkeeping, list pages."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from typing import Any

from devtools.sagemaker_standin.faults import validation_error

JsonDict = dict[str, Any]
TERMINAL_STATUSES = frozenset({"Completed", "Cancelled"})
DEFAULT_DURATION_SECONDS = 7 * 24 * 3600  # SageMaker's default experiment length
DEFAULT_LIST_PAGE_SIZE = 10
MAX_TAGS_PER_RESOURCE = 50


@dataclass
class Endpoint:
    """An ``InService`` endpoint: its production variants and the shadow variants experiments add."""

    name: str
    arn: str
    production: list[JsonDict]
    shadow: list[JsonDict] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    modified: float = field(default_factory=time.time)

    def variant_names(self) -> list[str]:
        return [variant["VariantName"] for variant in (*self.production, *self.shadow)]


@dataclass
class StopPlan:
    """What a ``StopInferenceExperiment`` asked for, carried out when ``Stopping`` ends."""

    actions: dict[str, str]
    desired_variants: list[JsonDict] | None
    desired_state: str
    reason: str | None


@dataclass
class Lifecycle:
    """Private bookkeeping for one experiment (the public record stays API-shaped)."""

    sequence: int
    describes: int = 0
    resume_status: str = "Running"
    shadow_deployed: bool = False
    stop_plan: StopPlan | None = None


def drop_none(values: JsonDict) -> JsonDict:
    """``values`` without its None members (SageMaker leaves absent members out of an answer)."""
    return {key: value for key, value in values.items() if value is not None}


def endpoint_variant(config: JsonDict) -> JsonDict:
    """An endpoint variant from a ``ModelVariantConfig``."""
    real_time = config["InfrastructureConfig"]["RealTimeInferenceConfig"]
    return {
        "VariantName": config["VariantName"],
        "ModelName": config["ModelName"],
        "InstanceType": real_time["InstanceType"],
        "InstanceCount": real_time["InstanceCount"],
    }


def variant_summary(variant: JsonDict) -> JsonDict:
    """A ``ProductionVariantSummary`` of ``DescribeEndpoint`` for an endpoint variant."""
    count = variant.get("InstanceCount", 1)
    return {
        "VariantName": variant["VariantName"],
        "CurrentWeight": 1.0,
        "DesiredWeight": 1.0,
        "CurrentInstanceCount": count,
        "DesiredInstanceCount": count,
    }


def next_status(record: JsonDict, lifecycle: Lifecycle, now: float) -> str | None:
    """The status ``record`` moves to on its next step, or None while it must stay put."""
    status, schedule = record["Status"], record["Schedule"]
    start, end = schedule.get("StartTime", now), schedule.get("EndTime", float("inf"))
    if status == "Creating":
        return "Created" if start > now else "Starting"
    if status == "Created":
        return "Starting" if start <= now else None
    if status == "Starting":
        return "Running"
    if status == "Updating":
        return lifecycle.resume_status
    if status == "Running":
        return "Completed" if end <= now else None
    if status == "Stopping" and lifecycle.stop_plan is not None:
        return lifecycle.stop_plan.desired_state
    return None


def replace_variant(variants: list[JsonDict], name: str, replacements: list[JsonDict]) -> list[JsonDict]:
    """``variants`` with the one called ``name`` replaced (in place) by ``replacements``."""
    names = [variant["VariantName"] for variant in variants]
    if name not in names:
        return [*variants, *replacements]
    index = names.index(name)
    return [*variants[:index], *replacements, *variants[index + 1 :]]


def shadow_variant_name(record: JsonDict) -> str:
    """The name of an experiment's (single) shadow variant."""
    return record["ShadowModeConfig"]["ShadowModelVariants"][0]["ShadowModelVariantName"]


def source_variant_name(record: JsonDict) -> str:
    """The name of the production variant an experiment shadows."""
    return record["ShadowModeConfig"]["SourceModelVariantName"]


def encode_token(offset: int) -> str:
    """A list operation's ``NextToken`` for the page starting at ``offset``."""
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def decode_token(token: str | None, total: int) -> int:
    """The offset a ``NextToken`` stands for; refuses a token this stand-in did not make."""
    if token is None:
        return 0
    try:
        prefix, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        value = int(offset)
    except ValueError:
        value = -1
        prefix = ""
    if prefix != "offset" or not 0 <= value <= total:
        raise validation_error(f"Invalid pagination token {token!r}.")
    return value


def list_filter(record: JsonDict, params: JsonDict) -> bool:
    """Whether ``ListInferenceExperiments`` with ``params`` lists ``record``."""
    checks = (
        params.get("NameContains", "") in record["Name"],
        params.get("StatusEquals", record["Status"]) == record["Status"],
        params.get("Type", record["Type"]) == record["Type"],
        record["CreationTime"] > params.get("CreationTimeAfter", float("-inf")),
        record["CreationTime"] < params.get("CreationTimeBefore", float("inf")),
        record["LastModifiedTime"] > params.get("LastModifiedTimeAfter", float("-inf")),
        record["LastModifiedTime"] < params.get("LastModifiedTimeBefore", float("inf")),
    )
    return all(checks)


def summary(record: JsonDict) -> JsonDict:
    """An ``InferenceExperimentSummary`` of ``ListInferenceExperiments``."""
    keys = (
        "Name", "Type", "Schedule", "Status", "StatusReason", "Description",
        "CreationTime", "CompletionTime", "LastModifiedTime", "RoleArn",
    )  # fmt: skip
    return drop_none({key: record[key] for key in keys})


def variant_status(record: JsonDict, variant_name: str) -> str:
    """A model variant's status in ``DescribeInferenceExperiment``, following the experiment's."""
    if variant_name == source_variant_name(record):
        return "InService"
    return {
        "Creating": "Creating",
        "Created": "Creating",
        "Starting": "Creating",
        "Running": "InService",
        "Updating": "Updating",
        "Stopping": "Deleting",
    }.get(record["Status"], "Deleted")

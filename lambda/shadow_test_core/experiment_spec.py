"""The custom resource's properties, parsed from CloudFormation's strings into typed settings.

CloudFormation hands every scalar property to the handler as a string ("40", "true"), so each
value is converted here, once, and checked with the same rules the construct applies at synth.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from . import rules as request_rules

#: Tag keys that mark an experiment as created by one resource of one stack.
OWNER_STACK_TAG = "cdk-shadow-test:stack-id"
OWNER_RESOURCE_TAG = "cdk-shadow-test:logical-id"

SHADOW_ACTIONS = ("Remove", "Retain", "Promote")
_NAME_LIMIT = 120


class InvalidProperties(ValueError):
    """The resolved properties break a rule: raised before any SageMaker call."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Invalid shadow test settings:\n" + "\n".join(f"- {p}" for p in problems))


@dataclass(frozen=True, kw_only=True)
class Variant:
    variant_name: str
    model_name: str
    instance_type: str
    instance_count: int

    def model_variant_config(self) -> dict[str, Any]:
        return {
            "ModelName": self.model_name,
            "VariantName": self.variant_name,
            "InfrastructureConfig": {
                "InfrastructureType": "RealTimeInference",
                "RealTimeInferenceConfig": {
                    "InstanceType": self.instance_type,
                    "InstanceCount": self.instance_count,
                },
            },
        }


@dataclass(frozen=True, kw_only=True)
class Capture:
    destination: str
    kms_key: str | None = None
    json_content_types: tuple[str, ...] = ()
    csv_content_types: tuple[str, ...] = ()

    def data_storage_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"Destination": self.destination}
        if self.kms_key:
            config["KmsKey"] = self.kms_key
        content_types = {}
        if self.json_content_types:
            content_types["JsonContentTypes"] = list(self.json_content_types)
        if self.csv_content_types:
            content_types["CsvContentTypes"] = list(self.csv_content_types)
        if content_types:
            config["ContentType"] = content_types
        return config


@dataclass(frozen=True, kw_only=True)
class ScheduleSpec:
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration: timedelta | None = None

    def resolve(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        """Start and end as SageMaker should get them; a duration counts from ``now``."""
        if self.duration is None:
            return self.start_time, self.end_time
        start = self.start_time or now
        return start, start + self.duration


@dataclass(frozen=True, kw_only=True)
class ExperimentSpec:
    """Everything one ``ShadowTestExperiment`` asks of SageMaker."""

    endpoint_name: str
    role_arn: str
    production: Variant
    shadow: Variant
    sampling_percentage: int
    experiment_name: str | None = None
    description: str | None = None
    kms_key: str | None = None
    capture: Capture | None = None
    schedule: ScheduleSpec | None = None
    shadow_action_on_delete: str = "Remove"
    tags: dict[str, str] = field(default_factory=dict)

    def changes_in_place_only(self, other: ExperimentSpec) -> bool:
        """Whether ``other`` differs from this spec only in what SageMaker updates in place."""
        return _without_in_place_fields(self) == _without_in_place_fields(other)

    def shadow_mode_config(self) -> dict[str, Any]:
        return {
            "SourceModelVariantName": self.production.variant_name,
            "ShadowModelVariants": [
                {
                    "ShadowModelVariantName": self.shadow.variant_name,
                    "SamplingPercentage": self.sampling_percentage,
                }
            ],
        }

    def create_request(self, *, name: str, now: datetime, owner_tags: dict[str, str]) -> dict[str, Any]:
        """The ``CreateInferenceExperiment`` parameters for this spec."""
        request: dict[str, Any] = {
            "Name": name,
            "Type": "ShadowMode",
            "RoleArn": self.role_arn,
            "EndpointName": self.endpoint_name,
            "ModelVariants": [
                self.production.model_variant_config(),
                self.shadow.model_variant_config(),
            ],
            "ShadowModeConfig": self.shadow_mode_config(),
            "Tags": [{"Key": k, "Value": v} for k, v in {**self.tags, **owner_tags}.items()],
        }
        if self.description is not None:
            request["Description"] = self.description
        if self.kms_key:
            request["KmsKey"] = self.kms_key
        if self.capture:
            request["DataStorageConfig"] = self.capture.data_storage_config()
        schedule = _schedule_request(self.schedule, now)
        if schedule:
            request["Schedule"] = schedule
        return request

    def update_request(self, *, name: str, started_at: datetime | None, now: datetime) -> dict[str, Any]:
        """The ``UpdateInferenceExperiment`` parameters that bring an experiment to this spec."""
        request: dict[str, Any] = {
            "Name": name,
            "Description": self.description or "",
            "ShadowModeConfig": self.shadow_mode_config(),
        }
        if self.schedule is not None:
            _start, end = self.schedule.resolve(started_at or now)
            if end is not None:
                request["Schedule"] = {"EndTime": end}
        return request

    def stop_request(self, *, name: str, action: str | None = None) -> dict[str, Any]:
        """The ``StopInferenceExperiment`` parameters for the shadow variant's action."""
        action = action or self.shadow_action_on_delete
        request: dict[str, Any] = {"Name": name}
        if action == "Promote":
            request["ModelVariantActions"] = {
                self.production.variant_name: "Remove",
                self.shadow.variant_name: "Promote",
            }
            request["DesiredModelVariants"] = [self.shadow.model_variant_config()]
        else:
            request["ModelVariantActions"] = {
                self.production.variant_name: "Retain",
                self.shadow.variant_name: action,
            }
        return request


def _without_in_place_fields(spec: ExperimentSpec) -> ExperimentSpec:
    """The spec less what changes in place: description, sampling, end time, the delete action."""
    start = spec.schedule.start_time if spec.schedule else None
    return replace(
        spec,
        description=None,
        sampling_percentage=0,
        shadow_action_on_delete="",
        schedule=ScheduleSpec(start_time=start) if start else None,
    )


def _schedule_request(schedule: ScheduleSpec | None, now: datetime) -> dict[str, datetime]:
    if schedule is None:
        return {}
    start, end = schedule.resolve(now)
    request = {}
    if start is not None:
        request["StartTime"] = start
    if end is not None:
        request["EndTime"] = end
    return request


def generated_name(*, stack_id: str, logical_id: str, request_id: str) -> str:
    """A valid, unique experiment name: ``<stack>-<logical id>-<hash>``, at most 120 characters.

    The hash covers the request id, so a Create delivered twice yields the same name (and can be
    recognised), while a replacement (a new request) yields a new one.
    """
    stack_name = stack_id.split("/")[1] if stack_id.count("/") >= 2 else "stack"
    digest = hashlib.sha256(f"{stack_id}|{logical_id}|{request_id}".encode()).hexdigest()[:8]
    stem = re.sub(r"[^a-zA-Z0-9]+", "-", f"{stack_name}-{logical_id}").strip("-")
    stem = stem[: _NAME_LIMIT - len(digest) - 1].rstrip("-")
    return f"{stem}-{digest}" if stem else f"shadow-{digest}"


def is_generated_name(name: str, *, stack_id: str, logical_id: str) -> bool:
    """Whether ``name`` is one :func:`generated_name` makes for this stack and logical id (any request)."""
    stem = generated_name(stack_id=stack_id, logical_id=logical_id, request_id="")[:-8]
    digest = name[len(stem) :]
    return name.startswith(stem) and len(digest) == 8 and all(c in "0123456789abcdef" for c in digest)


def owner_tags(*, stack_id: str, logical_id: str) -> dict[str, str]:
    return {OWNER_STACK_TAG: stack_id, OWNER_RESOURCE_TAG: logical_id}


# --- parsing -------------------------------------------------------------------------------


class _Reader:
    """Reads CloudFormation's string properties, collecting every problem instead of stopping."""

    def __init__(self, properties: dict[str, Any]) -> None:
        self.properties = properties
        self.problems: list[str] = []

    def text(self, source: dict[str, Any], key: str, prop: str, *, required: bool = False) -> str | None:
        value = source.get(key)
        if value is None or value == "":
            if required:
                self.problems.append(f"{prop}: is required")
            return None
        return str(value)

    def whole_number(self, source: dict[str, Any], key: str, prop: str, default: int | None = None) -> int | None:
        value = source.get(key)
        if value is None or value == "":
            return default
        try:
            return int(str(value), 10)
        except ValueError:
            self.problems.append(f"{prop}: expected a whole number (got {value!r})")
            return None

    def moment(self, source: dict[str, Any], key: str, prop: str) -> datetime | None:
        value = source.get(key)
        if not value:
            return None
        try:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            self.problems.append(f"{prop}: expected an ISO 8601 time (got {value!r})")
            return None

    def string_list(self, source: dict[str, Any], key: str) -> tuple[str, ...]:
        value = source.get(key) or []
        return tuple(str(item) for item in value)


def _read_variant(reader: _Reader, prop: str, raw: Any) -> Variant | None:
    if not isinstance(raw, dict):
        reader.problems.append(f"{prop}: is required")
        return None
    values = {
        "variant_name": reader.text(raw, "VariantName", f"{prop}.variant_name", required=True),
        "model_name": reader.text(raw, "ModelName", f"{prop}.model_name", required=True),
        "instance_type": reader.text(raw, "InstanceType", f"{prop}.instance_type", required=True),
        "instance_count": reader.whole_number(raw, "InstanceCount", f"{prop}.instance_count", default=1),
    }
    if any(v is None for v in values.values()):
        return None
    return Variant(**values)  # type: ignore[arg-type]


def parse_properties(properties: dict[str, Any]) -> ExperimentSpec:
    """Turn ``ResourceProperties`` into an :class:`ExperimentSpec`, or raise :class:`InvalidProperties`."""
    reader = _Reader(properties)
    production = _read_variant(reader, "production_variant", properties.get("ProductionVariant"))
    shadow = _read_variant(reader, "shadow_variant", properties.get("ShadowVariant"))
    capture = None
    if isinstance(properties.get("DataCapture"), dict):
        raw = properties["DataCapture"]
        destination = reader.text(raw, "Destination", "data_capture.destination", required=True)
        if destination:
            capture = Capture(
                destination=destination,
                kms_key=reader.text(raw, "KmsKey", "data_capture.kms_key"),
                json_content_types=reader.string_list(raw, "JsonContentTypes"),
                csv_content_types=reader.string_list(raw, "CsvContentTypes"),
            )
    schedule = None
    if isinstance(properties.get("Schedule"), dict):
        raw = properties["Schedule"]
        seconds = reader.whole_number(raw, "DurationSeconds", "schedule.duration")
        schedule = ScheduleSpec(
            start_time=reader.moment(raw, "StartTime", "schedule.start_time"),
            end_time=reader.moment(raw, "EndTime", "schedule.end_time"),
            duration=timedelta(seconds=seconds) if seconds is not None else None,
        )
    action = reader.text(properties, "ShadowActionOnDelete", "shadow_action_on_delete") or "Remove"
    if action not in SHADOW_ACTIONS:
        reader.problems.append(
            f"shadow_action_on_delete: {action!r} is not allowed (allowed: {', '.join(SHADOW_ACTIONS)})"
        )
    raw_tags = properties.get("Tags") or []
    tags = {str(t.get("Key")): str(t.get("Value", "")) for t in raw_tags if isinstance(t, dict)}
    endpoint_name = reader.text(properties, "EndpointName", "endpoint_name", required=True)
    role_arn = reader.text(properties, "RoleArn", "role", required=True)
    sampling = reader.whole_number(properties, "SamplingPercentage", "sampling_percentage", default=100)
    if reader.problems or production is None or shadow is None:
        raise InvalidProperties(reader.problems)
    spec = ExperimentSpec(
        endpoint_name=endpoint_name or "",
        role_arn=role_arn or "",
        production=production,
        shadow=shadow,
        sampling_percentage=sampling if sampling is not None else 100,
        experiment_name=reader.text(properties, "ExperimentName", "experiment_name"),
        description=reader.text(properties, "Description", "description"),
        kms_key=reader.text(properties, "KmsKey", "kms_key"),
        capture=capture,
        schedule=schedule,
        shadow_action_on_delete=action,
        tags=tags,
    )
    return spec


def settings_of(spec: ExperimentSpec) -> dict[str, Any]:
    """The spec as prop-path values, the form :func:`request_rules.check_settings` takes."""
    values: dict[str, Any] = {
        "endpoint_name": spec.endpoint_name,
        "experiment_name": spec.experiment_name,
        "description": spec.description,
        "role": spec.role_arn,
        "kms_key": spec.kms_key,
        "sampling_percentage": spec.sampling_percentage,
        "tags": spec.tags,
        "data_capture": spec.capture is not None,
    }
    for prop, variant in (("production_variant", spec.production), ("shadow_variant", spec.shadow)):
        for attribute in ("variant_name", "model_name", "instance_type", "instance_count"):
            values[f"{prop}.{attribute}"] = getattr(variant, attribute)
    if spec.capture:
        values["data_capture.destination"] = spec.capture.destination
        values["data_capture.kms_key"] = spec.capture.kms_key
        for kind in ("json_content_types", "csv_content_types"):
            if getattr(spec.capture, kind):
                values[f"data_capture.{kind}"] = list(getattr(spec.capture, kind))
    if spec.schedule:
        values["schedule.start_time"] = spec.schedule.start_time
        values["schedule.end_time"] = spec.schedule.end_time
        values["schedule.duration"] = spec.schedule.duration
    return {k: v for k, v in values.items() if v is not None}


def validated_spec(properties: dict[str, Any], *, now: datetime) -> ExperimentSpec:
    """Parse and check the properties; raise :class:`InvalidProperties` listing every problem."""
    spec = parse_properties(properties)
    problems = request_rules.check_settings(settings_of(spec), now=now)
    if problems:
        raise InvalidProperties(problems)
    return spec

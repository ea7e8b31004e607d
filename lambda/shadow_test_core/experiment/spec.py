"""One experiment's settings as the handler holds them, and the SageMaker requests they become.

The custom resource's properties are already in ``CreateInferenceExperiment``'s shape (see
:mod:`settings`); :func:`parse_properties` reads them back from CloudFormation's strings into
prop-path values, and :class:`ExperimentSpec` builds the create, update and stop requests.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shadow_test_core.consts import OWNER_RESOURCE_TAG, OWNER_STACK_TAG
from shadow_test_core.experiment import rules, settings
from shadow_test_core.experiment.settings import Setting

_NAME_LIMIT = 120

__all__ = [
    "OWNER_RESOURCE_TAG",
    "OWNER_STACK_TAG",
    "ExperimentSpec",
    "InvalidProperties",
    "generated_name",
    "is_generated_name",
    "owner_tags",
    "parse_properties",
    "stack_name",
    "stop_request",
    "validated_spec",
]


class InvalidProperties(ValueError):
    """The resolved properties break a rule: raised before any SageMaker call."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Invalid shadow test settings:\n" + "\n".join(f"- {p}" for p in problems))


@dataclass(frozen=True)
class ExperimentSpec:
    """Everything one ``ShadowTestExperiment`` asks of SageMaker, as prop-path values."""

    values: Mapping[str, Any]

    def __getitem__(self, prop: str) -> Any:
        return self.values.get(prop)

    @property
    def endpoint_name(self) -> str:
        return str(self["endpoint_name"])

    @property
    def experiment_name(self) -> str | None:
        return self["experiment_name"]

    @property
    def role_arn(self) -> str:
        return str(self["role"])

    @property
    def production_variant_name(self) -> str:
        return str(self["production_variant.variant_name"])

    @property
    def shadow_variant_name(self) -> str:
        return str(self["shadow_variant.variant_name"])

    @property
    def shadow_action_on_delete(self) -> str:
        return str(self["shadow_action_on_delete"])

    @property
    def desired_state(self) -> str | None:
        return self["desired_state"]

    @property
    def tags(self) -> dict[str, str]:
        return dict(self["tags"] or {})

    def schedule(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        """Start and end as SageMaker should get them; a duration counts from the start (or ``now``)."""
        start, end, duration = self["schedule.start_time"], self["schedule.end_time"], self["schedule.duration"]
        if self.desired_state == settings.DESIRED_RUNNING and start is not None and start > now:
            start = now  # asked to run now, not at its scheduled start
        if duration is None:
            return start, end
        start = start or now
        return start, start + duration

    def with_values(self, **changes: Any) -> ExperimentSpec:
        return ExperimentSpec({**self.values, **changes})

    def sagemaker_values(self) -> dict[str, Any]:
        """The values SageMaker holds (tags and the construct's own settings aside)."""
        return {s.prop: self[s.prop] for s in settings.SETTINGS if s.sent_to_sagemaker and s.kind != settings.TAGS}

    def create_request(self, *, name: str, now: datetime, owner_tags: Mapping[str, str]) -> dict[str, Any]:
        """The ``CreateInferenceExperiment`` parameters for this spec."""
        values = {**self.values, "schedule.start_time": None, "schedule.end_time": None, "tags": None}
        request = settings.to_request(values)
        request.update(Name=name, Type="ShadowMode", Tags=_tag_list({**self.tags, **owner_tags}))
        schedule = _schedule_members(*self.schedule(now))
        if schedule:
            request["Schedule"] = schedule
        return request

    def update_request(
        self, *, name: str, changed: Iterable[Setting], started_at: datetime | None, now: datetime
    ) -> dict[str, Any]:
        """The ``UpdateInferenceExperiment`` parameters that apply the ``changed`` settings.

        Each member is sent whole (SageMaker replaces a structure it is given): a changed
        sampling percentage sends the ``ShadowModeConfig``, a resized shadow variant its
        ``ModelVariantConfig``, any capture change the ``DataStorageConfig``.
        """
        request: dict[str, Any] = {"Name": name}
        roots = {s.member.split(".")[0].split("[")[0] for s in changed if s.sent_to_sagemaker}
        if any(s.prop.startswith("schedule.") for s in changed):
            roots.add("Schedule")
        full = settings.to_request(self.values)
        if "Description" in roots:
            request["Description"] = self["description"] or ""
        if "ShadowModeConfig" in roots:
            request["ShadowModeConfig"] = full["ShadowModeConfig"]
        if "ModelVariants" in roots:
            request["ModelVariants"] = [full["ModelVariants"][settings.SHADOW_INDEX]]
        if "DataStorageConfig" in roots and "DataStorageConfig" in full:
            request["DataStorageConfig"] = full["DataStorageConfig"]
        if "Schedule" in roots:
            start, end = self.schedule(started_at or now)
            # A running experiment's start is history: only its end can move.
            schedule = _schedule_members(None if started_at and started_at <= now else start, end)
            if schedule:
                request["Schedule"] = schedule
        return request

    def stop_request(self, *, name: str, action: str | None = None, desired_state: str | None = None) -> dict[str, Any]:
        """The ``StopInferenceExperiment`` parameters for the shadow variant's action."""
        action = action or self.shadow_action_on_delete
        promoted = None
        if action == "Promote":
            promoted = settings.to_request(self.values)["ModelVariants"][settings.SHADOW_INDEX]
        return stop_request(
            name=name,
            production_variant=self.production_variant_name,
            shadow_variant=self.shadow_variant_name,
            action=action,
            promoted=promoted,
            desired_state=desired_state,
        )


def stop_request(
    *,
    name: str,
    production_variant: str,
    shadow_variant: str,
    action: str,
    promoted: Mapping[str, Any] | None = None,
    desired_state: str | None = None,
) -> dict[str, Any]:
    """``StopInferenceExperiment`` parameters: the shadow variant's ``action`` and where production goes.

    ``Promote`` removes production and deploys ``promoted`` (the shadow's ``ModelVariantConfig``);
    ``Remove`` and ``Retain`` keep production. Shared by the handler and the ``shadow-test`` CLI.
    """
    request: dict[str, Any] = {"Name": name}
    if action == "Promote":
        if promoted is None:
            raise ValueError("promoting the shadow variant needs its model variant configuration")
        request["ModelVariantActions"] = {production_variant: "Remove", shadow_variant: "Promote"}
        request["DesiredModelVariants"] = [dict(promoted)]
    else:
        request["ModelVariantActions"] = {production_variant: "Retain", shadow_variant: action}
    if desired_state is not None:
        request["DesiredState"] = desired_state
    return request


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _schedule_members(start: datetime | None, end: datetime | None) -> dict[str, datetime]:
    members = {}
    if start is not None:
        members["StartTime"] = start
    if end is not None:
        members["EndTime"] = end
    return members


def stack_name(stack_id: str) -> str | None:
    """The stack's name in a CloudFormation stack id (``arn:...:stack/<name>/<uuid>``), or None."""
    return stack_id.split("/")[1] if stack_id.count("/") >= 2 else None


def generated_name(*, stack_id: str, logical_id: str, request_id: str) -> str:
    """A valid, unique experiment name: ``<stack>-<logical id>-<hash>``, at most 120 characters.

    The hash covers the request id, so a Create delivered twice yields the same name (and can be
    recognised), while a replacement (a new request) yields a new one.
    """
    digest = hashlib.sha256(f"{stack_id}|{logical_id}|{request_id}".encode()).hexdigest()[:8]
    stem = re.sub(r"[^a-zA-Z0-9]+", "-", f"{stack_name(stack_id) or 'stack'}-{logical_id}").strip("-")
    stem = stem[: _NAME_LIMIT - len(digest) - 1].rstrip("-")
    return f"{stem}-{digest}" if stem else f"shadow-{digest}"


def is_generated_name(name: str, *, stack_id: str, logical_id: str) -> bool:
    """Whether ``name`` is one :func:`generated_name` makes for this stack and logical id (any request)."""
    stem = generated_name(stack_id=stack_id, logical_id=logical_id, request_id="")[:-8]
    digest = name[len(stem) :]
    return name.startswith(stem) and len(digest) == 8 and all(c in "0123456789abcdef" for c in digest)


def owner_tags(*, stack_id: str, logical_id: str) -> dict[str, str]:
    return {OWNER_STACK_TAG: stack_id, OWNER_RESOURCE_TAG: logical_id}


def parse_properties(properties: Mapping[str, Any]) -> ExperimentSpec:
    """Turn ``ResourceProperties`` into an :class:`ExperimentSpec`, or raise :class:`InvalidProperties`."""
    values, problems = settings.from_properties(properties)
    if problems:
        raise InvalidProperties(problems)
    return ExperimentSpec(values)


#: Where the construct lists the settings it could not check at synth (tokens).
DEPLOY_TIME_CHECKS = "DeployTimeChecks"


def validated_spec(properties: Mapping[str, Any], *, now: datetime) -> ExperimentSpec:
    """Parse the properties and check, before any SageMaker call, what synth could not.

    Synth checked every value it knew against the synthesizing machine's botocore model; the
    Lambda runtime's botocore is usually older, so values synth accepted are not checked again
    (that could refuse an instance type SageMaker has and the old model lacks). Checked here:
    the props the construct lists as tokens at synth (without the model's enums, for the same
    reason), the rules that relate settings to each other, and those that depend on the clock.
    """
    spec = parse_properties(properties)
    deferred = properties.get(DEPLOY_TIME_CHECKS)
    listed = set(deferred) if isinstance(deferred, list) else None
    problems = rules.check_settings(_present(spec.values), now=now, only=listed, enums=False)
    if problems:
        raise InvalidProperties(problems)
    return spec


def _present(values: Mapping[str, Any]) -> dict[str, Any]:
    present = {k: v for k, v in values.items() if v is not None}
    for kind in ("json_content_types", "csv_content_types"):
        if not present.get(f"data_capture.{kind}"):
            present.pop(f"data_capture.{kind}", None)
    return present

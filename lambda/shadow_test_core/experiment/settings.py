"""One declaration per setting of a shadow test: everything else reads :data:`SETTINGS`.

A setting is addressed by its prop path (``shadow_variant.instance_type``), the name users write
in ``ShadowTestExperiment(...)``. Its declaration says which ``CreateInferenceExperiment`` request
member(s) it fills, its type and default, whether it is required, and in which experiment
statuses SageMaker lets it change in place. From the table come:

* the custom resource's properties, in the API's own shape (:func:`to_properties`, at synth);
* the handler's parsing of CloudFormation's strings back into values (:func:`from_properties`);
* the rules' shapes and limits (``rules.py`` walks each member's botocore shape);
* the in-place/replace decision (:func:`changes_needing_replacement`).

Settings that SageMaker does not hold (``schedule.duration``, ``shadow_action_on_delete``) have
members outside the request's shape (:data:`CONSTRUCT_MEMBERS`); the handler strips them before
calling SageMaker.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shadow_test_core.experiment.statuses import ACTIVE

TEXT = "text"
INTEGER = "integer"
TIME = "time"
SECONDS = "seconds"
TEXT_LIST = "text list"
TAGS = "tags"

#: In place whatever the experiment's status (no SageMaker call, or one SageMaker always takes).
ALWAYS = frozenset({"*"})
#: In place only before the test starts (status ``Created``).
BEFORE_START = frozenset({"Created"})
#: In place while the test is waiting or running.
WHILE_ACTIVE = ACTIVE
#: Never in place: a change replaces the experiment.
NEVER: frozenset[str] = frozenset()

#: Members of the custom resource's properties that are the construct's, not SageMaker's.
SCHEDULE_DURATION_MEMBER = "ScheduleDurationSeconds"
SHADOW_ACTION_MEMBER = "ShadowActionOnDelete"
DESIRED_STATE_MEMBER = "DesiredState"
CONSTRUCT_MEMBERS = frozenset({SCHEDULE_DURATION_MEMBER, SHADOW_ACTION_MEMBER, DESIRED_STATE_MEMBER, "ServiceToken"})

#: Values of ``shadow_action_on_delete`` (``VariantAction`` in the library).
REMOVE, RETAIN, PROMOTE = "Remove", "Retain", "Promote"
SHADOW_ACTIONS = (REMOVE, RETAIN, PROMOTE)
#: Values of ``desired_state`` (``DesiredState`` in the library), as the native resource spells them.
DESIRED_RUNNING, DESIRED_COMPLETED, DESIRED_CANCELLED = "Running", "Completed", "Cancelled"
DESIRED_STATES = (DESIRED_RUNNING, DESIRED_COMPLETED, DESIRED_CANCELLED)
#: The desired states that end a test (``shadow-test stop --desired-state``).
ENDING_STATES = (DESIRED_COMPLETED, DESIRED_CANCELLED)


@dataclass(frozen=True, kw_only=True)
class Setting:
    """One setting: its prop path, the request member(s) it fills, and how it may change.

    :param prop: the prop path users write (``data_capture.kms_key``).
    :param members: where the value goes in ``CreateInferenceExperiment``'s request, as dotted
        paths with list indexes (``ModelVariants[1].VariantName``); the first is read back.
    :param kind: how CloudFormation's string is turned back into a value.
    :param default: the value when the prop is left out; None: absent.
    :param required: whether the prop must be given.
    :param in_place: the statuses in which a change is applied in place; elsewhere a change
        replaces the experiment.
    :param minimum: a lower bound SageMaker enforces beyond its model.
    """

    prop: str
    members: tuple[str, ...]
    kind: str = TEXT
    default: Any = None
    required: bool = False
    in_place: frozenset[str] = NEVER
    minimum: int | None = None

    @property
    def member(self) -> str:
        return self.members[0]

    @property
    def sent_to_sagemaker(self) -> bool:
        return self.member not in CONSTRUCT_MEMBERS

    def changes_in_place(self, status: str) -> bool:
        return "*" in self.in_place or status in self.in_place


def _variant(prop: str, index: int, name_member: str, *, shadow: bool) -> tuple[Setting, ...]:
    infrastructure = f"ModelVariants[{index}].InfrastructureConfig.RealTimeInferenceConfig"
    # SageMaker resizes the shadow variant before the test starts; production is the endpoint's own.
    resizable = BEFORE_START if shadow else NEVER
    return (
        Setting(
            prop=f"{prop}.variant_name",
            members=(f"ModelVariants[{index}].VariantName", name_member),
            required=True,
        ),
        Setting(prop=f"{prop}.model_name", members=(f"ModelVariants[{index}].ModelName",), required=True),
        Setting(
            prop=f"{prop}.instance_type", members=(f"{infrastructure}.InstanceType",), required=True, in_place=resizable
        ),
        Setting(
            prop=f"{prop}.instance_count",
            members=(f"{infrastructure}.InstanceCount",),
            kind=INTEGER,
            default=1,
            minimum=1,
            in_place=resizable,
        ),
    )


#: Where each variant sits in the request's ``ModelVariants``.
PRODUCTION_INDEX = 0
SHADOW_INDEX = 1
#: The infrastructure of every variant a shadow test runs (``ModelVariantConfig.InfrastructureConfig``).
INFRASTRUCTURE_TYPE = "RealTimeInference"

_SHADOW = "ShadowModeConfig.ShadowModelVariants[0]"

SETTINGS: tuple[Setting, ...] = (
    Setting(prop="experiment_name", members=("Name",)),
    Setting(prop="endpoint_name", members=("EndpointName",), required=True),
    Setting(prop="role", members=("RoleArn",), required=True),
    Setting(prop="description", members=("Description",), in_place=WHILE_ACTIVE),
    Setting(prop="kms_key", members=("KmsKey",)),
    *_variant("production_variant", PRODUCTION_INDEX, "ShadowModeConfig.SourceModelVariantName", shadow=False),
    *_variant("shadow_variant", SHADOW_INDEX, f"{_SHADOW}.ShadowModelVariantName", shadow=True),
    Setting(
        prop="sampling_percentage",
        members=(f"{_SHADOW}.SamplingPercentage",),
        kind=INTEGER,
        default=100,
        minimum=1,
        in_place=WHILE_ACTIVE,
    ),
    Setting(prop="data_capture.destination", members=("DataStorageConfig.Destination",), in_place=BEFORE_START),
    Setting(prop="data_capture.kms_key", members=("DataStorageConfig.KmsKey",), in_place=BEFORE_START),
    Setting(
        prop="data_capture.json_content_types",
        members=("DataStorageConfig.ContentType.JsonContentTypes",),
        kind=TEXT_LIST,
        in_place=BEFORE_START,
    ),
    Setting(
        prop="data_capture.csv_content_types",
        members=("DataStorageConfig.ContentType.CsvContentTypes",),
        kind=TEXT_LIST,
        in_place=BEFORE_START,
    ),
    Setting(prop="schedule.start_time", members=("Schedule.StartTime",), kind=TIME, in_place=BEFORE_START),
    Setting(prop="schedule.end_time", members=("Schedule.EndTime",), kind=TIME, in_place=WHILE_ACTIVE),
    Setting(prop="schedule.duration", members=(SCHEDULE_DURATION_MEMBER,), kind=SECONDS, in_place=WHILE_ACTIVE),
    Setting(prop="shadow_action_on_delete", members=(SHADOW_ACTION_MEMBER,), default=REMOVE, in_place=ALWAYS),
    Setting(prop="desired_state", members=(DESIRED_STATE_MEMBER,), in_place=ALWAYS),
    Setting(prop="tags", members=("Tags",), kind=TAGS, in_place=ALWAYS),
)

BY_PROP: dict[str, Setting] = {setting.prop: setting for setting in SETTINGS}

_STEP = re.compile(r"^(?P<name>[A-Za-z]+)(?:\[(?P<index>\d+)\])?$")


def _steps(member: str) -> list[tuple[str, int | None]]:
    steps = []
    for step in member.split("."):
        match = _STEP.match(step)
        assert match, step
        index = match.group("index")
        steps.append((match.group("name"), int(index) if index is not None else None))
    return steps


def put(document: dict[str, Any], member: str, value: Any) -> None:
    """Set ``member`` (``A.B[1].C``) in ``document``, creating the structures on the way."""
    node: Any = document
    steps = _steps(member)
    for position, (name, index) in enumerate(steps):
        last = position == len(steps) - 1
        if index is None:
            if last:
                node[name] = value
                return
            node = node.setdefault(name, {})
            continue
        items = node.setdefault(name, [])
        while len(items) <= index:
            items.append({})
        if last:
            items[index] = value
            return
        node = items[index]


def get(document: Mapping[str, Any], member: str) -> Any:
    """The value at ``member`` in ``document``, or None when any step is missing."""
    node: Any = document
    for name, index in _steps(member):
        if not isinstance(node, Mapping) or name not in node:
            return None
        node = node[name]
        if index is not None:
            if not isinstance(node, list) or len(node) <= index:
                return None
            node = node[index]
    return node


def _plain(setting: Setting, value: Any) -> Any:
    if setting.kind == TIME and isinstance(value, datetime):
        return value.isoformat()
    if setting.kind == SECONDS and isinstance(value, timedelta):
        return int(value.total_seconds())
    if setting.kind == TAGS and isinstance(value, Mapping):
        return [{"Key": key, "Value": value[key]} for key in sorted(value)]
    if setting.kind == TEXT_LIST:
        return list(value)
    return value


def _assemble(values: Mapping[str, Any], settings: Iterable[Setting], *, plain: bool) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for setting in settings:
        value = values.get(setting.prop)
        if value is None or (setting.kind in (TEXT_LIST, TAGS) and not value):
            continue
        for member in setting.members:
            put(document, member, _plain(setting, value) if plain or setting.kind == TAGS else value)
    return document


def to_properties(values: Mapping[str, Any]) -> dict[str, Any]:
    """The custom resource's properties for prop-path ``values``: the request's own shape.

    Values may be CDK tokens (strings or numbers); absent and None values are left out, empty
    lists and tag maps too. The fixed members (``Type``, the infrastructure type) are the handler's.
    """
    return _assemble(values, SETTINGS, plain=True)


def to_request(values: Mapping[str, Any], settings: Iterable[Setting] | None = None) -> dict[str, Any]:
    """Request members for ``values`` of the settings SageMaker holds (times stay ``datetime``).

    Each model variant gets its fixed ``InfrastructureType``.
    """
    chosen = settings if settings is not None else SETTINGS
    request = _assemble(values, (s for s in chosen if s.sent_to_sagemaker), plain=False)
    for variant in request.get("ModelVariants", []):
        if "InfrastructureConfig" in variant:
            variant["InfrastructureConfig"]["InfrastructureType"] = INFRASTRUCTURE_TYPE
    return request


class _Reader:
    """Turns CloudFormation's strings back into values, collecting every problem."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def read(self, setting: Setting, raw: Any) -> Any:
        if raw is None or raw == "" or raw == []:
            if setting.required:
                self.problems.append(f"{setting.prop}: is required")
            return setting.default
        if setting.kind == TEXT:
            return str(raw)
        if setting.kind in (INTEGER, SECONDS):
            number = self._whole_number(setting.prop, raw)
            if number is None or setting.kind == INTEGER:
                return number
            return timedelta(seconds=number)
        if setting.kind == TIME:
            try:
                return datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
            except ValueError:
                self.problems.append(f"{setting.prop}: expected an ISO 8601 time (got {raw!r})")
                return None
        if setting.kind == TEXT_LIST:
            return [str(item) for item in raw] if isinstance(raw, list) else self._expected(setting, "a list", raw)
        if setting.kind == TAGS:
            if not isinstance(raw, list) or not all(isinstance(t, Mapping) and "Key" in t for t in raw):
                return self._expected(setting, "a list of {Key, Value}", raw)
            return {str(t["Key"]): str(t.get("Value", "")) for t in raw}
        raise AssertionError(setting.kind)

    def _whole_number(self, prop: str, raw: Any) -> int | None:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        try:
            return int(str(raw), 10)
        except ValueError:
            self.problems.append(f"{prop}: expected a whole number (got {raw!r})")
            return None

    def _expected(self, setting: Setting, what: str, raw: Any) -> None:
        self.problems.append(f"{setting.prop}: expected {what} (got {raw!r})")
        return None


def from_properties(properties: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Prop-path values read back from the custom resource's properties, and what failed to parse.

    Every setting is present in the result, with its default when the property is absent.
    """
    reader = _Reader()
    values = {setting.prop: reader.read(setting, get(properties, setting.member)) for setting in SETTINGS}
    for prop, allowed in (("shadow_action_on_delete", SHADOW_ACTIONS), ("desired_state", DESIRED_STATES)):
        if values[prop] is not None and values[prop] not in allowed:
            reader.problems.append(f"{prop}: {values[prop]!r} is not allowed (allowed: {', '.join(allowed)})")
    # The construct's DataCapture holds the content types, so only hand-written properties get here.
    if values["data_capture.destination"] is None:
        for prop in ("data_capture.json_content_types", "data_capture.csv_content_types"):
            if values[prop]:
                reader.problems.append(f"{prop}: content types need data_capture (no destination is set)")
    return values, reader.problems


def changed_settings(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Setting]:
    """The settings whose values differ between two sets of prop-path values."""
    return [setting for setting in SETTINGS if old.get(setting.prop) != new.get(setting.prop)]


def changes_needing_replacement(old: Mapping[str, Any], new: Mapping[str, Any], status: str) -> list[str]:
    """The changed props that SageMaker cannot change in place while the experiment is ``status``.

    Turning data capture off is one: an update can set a ``DataStorageConfig``, not remove it.
    """
    props = [s.prop for s in changed_settings(old, new) if not s.changes_in_place(status)]
    if old.get("data_capture.destination") is not None and new.get("data_capture.destination") is None:
        props.append("data_capture")
    return props

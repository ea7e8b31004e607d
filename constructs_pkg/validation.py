"""Synth-time checks of ``ShadowTestExperiment`` props: errors all at once, warnings for risks.

Each setting's value is read from the props by its path in the core's ``settings`` table, and
checked by the core's ``rules`` (derived from botocore's ``sagemaker`` model): the handler applies
the same rules at deploy to what is a token here, and to nothing else.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from aws_cdk import Annotations, Duration, Token
from constructs import Construct

from constructs_pkg.errors import ValidationError
from constructs_pkg.props import DataCapture, DesiredState, ModelVariant, Schedule, VariantAction
from constructs_pkg.tokens import is_token
from shadow_test_core.experiment import rules, settings

#: Warning ids, for ``Annotations``/``Validations`` acknowledgements.
WARN_NO_DATA_CAPTURE = "constructs_pkg:noDataCapture"
WARN_SHADOW_SMALLER_THAN_PRODUCTION = "constructs_pkg:shadowSmallerThanProduction"
WARN_LONG_SCHEDULE = "constructs_pkg:longSchedule"
WARN_RETAINED_SHADOW = "constructs_pkg:shadowRetainedOnDelete"

_LONG_SCHEDULE = timedelta(days=14)


def _known(value: Any) -> bool:
    """Whether a value is known at synth (tokens resolve only at deploy)."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return not is_token(value)
    if isinstance(value, list):
        return all(_known(item) for item in value)
    if isinstance(value, Mapping):
        return all(_known(k) and _known(v) for k, v in value.items())
    return value is not None


def _plain(value: Any) -> Any:
    """A prop's value as the settings hold it: ARNs for roles and keys, seconds for durations."""
    # Interfaces of jsii do not support isinstance: a role is what has a role ARN.
    if hasattr(value, "role_arn"):
        return value.role_arn
    if hasattr(value, "key_arn"):
        return value.key_arn
    if isinstance(value, Duration):
        seconds = value.to_seconds()
        return seconds if Token.is_unresolved(seconds) else timedelta(seconds=seconds)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return value


def _prop_value(props: Mapping[str, Any], prop: str) -> Any:
    """``props["data_capture"].kms_key`` for ``data_capture.kms_key``; None when a step is unset."""
    root, *attributes = prop.split(".")
    value = props.get(root)
    for attribute in attributes:
        value = getattr(value, attribute, None)
    return value


def setting_values(props: Mapping[str, Any]) -> dict[str, Any]:
    """Every setting's value from the construct's props, by prop path (tokens included).

    A prop left out takes its setting's declared default (``settings.py`` states each default
    once), so the template shows the value the handler will use.
    """
    values = {}
    for setting in settings.SETTINGS:
        value = _plain(_prop_value(props, setting.prop))
        if (
            value is None
            and setting.default is not None
            and (props.get(setting.prop.split(".")[0]) is not None or "." not in setting.prop)
        ):
            value = setting.default
        if value is not None:
            values[setting.prop] = value
    return values


def _one_of(kind: type[enum.Enum]) -> str:
    *others, last = (member.name for member in kind)
    return f"a {kind.__name__} ({', '.join(others)} or {last})"


def _type_problems(props: Mapping[str, Any]) -> list[str]:
    """Props of the wrong Python type, which the model-derived rules cannot name well."""
    expected: dict[str, tuple[type, str]] = {
        "production_variant": (ModelVariant, "a ModelVariant"),
        "shadow_variant": (ModelVariant, "a ModelVariant"),
        "data_capture": (DataCapture, "a DataCapture"),
        "schedule": (Schedule, "a Schedule"),
        "shadow_action_on_delete": (VariantAction, _one_of(VariantAction)),
        "desired_state": (DesiredState, _one_of(DesiredState)),
    }
    problems = []
    for prop, (kind, words) in expected.items():
        value = props.get(prop)
        if value is not None and not isinstance(value, kind):
            problems.append(f"{prop}: expected {words}, got {type(value).__name__} {value!r}")
    for prop in ("production_variant", "shadow_variant"):
        if props.get(prop) is None:
            problems.append(f"{prop}: is required")
    return problems


def check_props(construct: Construct, props: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Check the props; return every setting's value and the props left to the handler (tokens).

    Raises :class:`ValidationError` listing every invalid prop; warns about risky ones.
    """
    problems = _type_problems(props)
    if problems:
        raise ValidationError(construct.node.path, problems)
    values = setting_values(props)
    known = {prop: value for prop, value in values.items() if _known(value)}
    deferred = sorted(prop for prop in values if prop not in known)
    problems = rules.check_settings(known, now=rules.utc_now())
    if problems:
        raise ValidationError(construct.node.path, problems)
    _warn_about_risks(construct, known, props)
    return values, deferred


def _warn_about_risks(construct: Construct, values: Mapping[str, Any], props: Mapping[str, Any]) -> None:
    annotations = Annotations.of(construct)
    if props.get("data_capture") is None:
        annotations.add_warning_v2(
            WARN_NO_DATA_CAPTURE,
            "data_capture is not set: the variants' responses are not stored, so they cannot be "
            "compared after the test. Set data_capture=DataCapture(...) to keep the evidence.",
        )
    production = values.get("production_variant.instance_count")
    shadow = values.get("shadow_variant.instance_count")
    if values.get("sampling_percentage") == 100 and production and shadow and shadow < production:
        annotations.add_warning_v2(
            WARN_SHADOW_SMALLER_THAN_PRODUCTION,
            f"shadow_variant.instance_count ({shadow}) is below production_variant.instance_count "
            f"({production}) at 100% sampling: the shadow variant gets all of production's traffic on "
            "fewer instances, so its latency will look worse than the model is.",
        )
    length = _schedule_length(values)
    if length is not None and length > _LONG_SCHEDULE:
        annotations.add_warning_v2(
            WARN_LONG_SCHEDULE,
            f"schedule: the test runs {length.days} days (over 14): the shadow variant's instances "
            "are billed for all of it.",
        )
    if props.get("shadow_action_on_delete") is VariantAction.RETAIN:
        annotations.add_warning_v2(
            WARN_RETAINED_SHADOW,
            "shadow_action_on_delete is RETAIN: deleting the experiment leaves the shadow variant "
            "on the endpoint, serving (and billed) until you remove it.",
        )


def _schedule_length(values: Mapping[str, Any]) -> timedelta | None:
    duration = values.get("schedule.duration")
    if duration is not None:
        return duration
    start, end = values.get("schedule.start_time"), values.get("schedule.end_time")
    if start is not None and end is not None:
        return end - start
    return None

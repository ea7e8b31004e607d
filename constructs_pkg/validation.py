"""Synth-time checks of ``ShadowTestExperiment`` props: errors all at once, warnings for risks.

The rules themselves live in the handler's ``request_rules`` module (derived from botocore's
``sagemaker`` model), so ``cdk synth`` and the deploy-time handler apply exactly the same ones.
Values that are tokens are unknown here and left to the handler.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from aws_cdk import Annotations, Duration, Token
from aws_cdk import aws_kms as kms
from constructs import Construct

from constructs_pkg.data_capture import DataCapture
from constructs_pkg.errors import ValidationError
from constructs_pkg.schedule import Schedule
from constructs_pkg.variant import ModelVariant, VariantAction
from shadow_test_core import rules

#: Warning ids, for ``Annotations``/``Validations`` acknowledgements.
WARN_NO_DATA_CAPTURE = "constructs_pkg:noDataCapture"
WARN_SHADOW_SMALLER_THAN_PRODUCTION = "constructs_pkg:shadowSmallerThanProduction"
WARN_LONG_SCHEDULE = "constructs_pkg:longSchedule"
WARN_RETAINED_SHADOW = "constructs_pkg:shadowRetainedOnDelete"

_LONG_SCHEDULE = timedelta(days=14)


def _known(value: Any) -> bool:
    """Whether a value is known at synth (tokens resolve only at deploy)."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return not Token.is_unresolved(value)
    return value is not None


def _known_list(items: Sequence[str] | None) -> list[str] | None:
    if items is None:
        return None
    return [item for item in items if _known(item)]


def _seconds(duration: Duration | None) -> timedelta | None:
    if duration is None:
        return None
    seconds = duration.to_seconds()
    return None if Token.is_unresolved(seconds) else timedelta(seconds=seconds)


def settings_known_at_synth(
    *,
    endpoint_name: str,
    production_variant: ModelVariant,
    shadow_variant: ModelVariant,
    sampling_percentage: int,
    experiment_name: str | None,
    description: str | None,
    kms_key: kms.IKey | str | None,
    data_capture: DataCapture | None,
    schedule: Schedule | None,
    tags: Mapping[str, str] | None,
) -> dict[str, Any]:
    """The props as prop-path values for ``request_rules.check_settings``, tokens left out."""
    values: dict[str, Any] = {
        "endpoint_name": endpoint_name,
        "sampling_percentage": sampling_percentage,
        "experiment_name": experiment_name,
        "description": description,
        "kms_key": kms_key if isinstance(kms_key, str) else None,
        "data_capture": data_capture is not None,
    }
    for prop, variant in (("production_variant", production_variant), ("shadow_variant", shadow_variant)):
        for attribute in ("variant_name", "model_name", "instance_type", "instance_count"):
            values[f"{prop}.{attribute}"] = getattr(variant, attribute)
    if data_capture is not None:
        values["data_capture.json_content_types"] = _known_list(data_capture.json_content_types)
        values["data_capture.csv_content_types"] = _known_list(data_capture.csv_content_types)
    if schedule is not None:
        values["schedule.start_time"] = schedule.start_time
        values["schedule.end_time"] = schedule.end_time
        values["schedule.duration"] = _seconds(schedule.duration)
    if tags:
        values["tags"] = {k: v for k, v in tags.items() if _known(k) and _known(v)}
    return {k: v for k, v in values.items() if _known(v)}


def _type_problems(props: Mapping[str, Any]) -> list[str]:
    """Props of the wrong Python type, which the model-derived rules cannot name well."""
    problems = []
    for prop in ("production_variant", "shadow_variant"):
        if not isinstance(props[prop], ModelVariant):
            problems.append(f"{prop}: expected a ModelVariant, got {type(props[prop]).__name__}")
    if props["data_capture"] is not None and not isinstance(props["data_capture"], DataCapture):
        problems.append(f"data_capture: expected a DataCapture, got {type(props['data_capture']).__name__}")
    if props["schedule"] is not None and not isinstance(props["schedule"], Schedule):
        problems.append(f"schedule: expected a Schedule, got {type(props['schedule']).__name__}")
    return problems


def check_props(construct: Construct, *, shadow_action_on_delete: VariantAction, **props: Any) -> None:
    """Raise :class:`ValidationError` listing every invalid prop; warn about risky ones."""
    problems = _type_problems(props)
    if problems:
        raise ValidationError(construct.node.path, problems)
    values = settings_known_at_synth(**props)
    problems = rules.check_settings(values, now=rules.utc_now())
    if not isinstance(shadow_action_on_delete, VariantAction):
        problems.append(
            "shadow_action_on_delete: expected a VariantAction (PROMOTE, RETAIN or REMOVE), "
            f"got {shadow_action_on_delete!r}"
        )
    if problems:
        raise ValidationError(construct.node.path, problems)
    _warn_about_risks(construct, values, shadow_action_on_delete)


def _warn_about_risks(construct: Construct, values: Mapping[str, Any], action: VariantAction) -> None:
    annotations = Annotations.of(construct)
    if not values.get("data_capture"):
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
    if action is VariantAction.RETAIN:
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

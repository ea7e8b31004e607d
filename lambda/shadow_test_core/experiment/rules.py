"""Rules every shadow-test setting must pass, derived from botocore's ``sagemaker`` model.

This module is shared: the construct runs it at ``cdk synth`` on the values it knows, and the
custom-resource handler runs it again on the resolved properties before its first SageMaker call.
It imports nothing but the standard library and botocore, both present in the Lambda runtime.

Each setting is addressed by its Python prop path (``shadow_variant.instance_type``) and mapped
to the ``CreateInferenceExperiment`` request member it becomes. Lengths, patterns, enums, ranges
and list sizes come from walking that member's shape (``service_model``); rules the model cannot
express (variant names differ, schedule limits, ``aws:`` tag prefixes...) are written out below.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from shadow_test_core.experiment import service_model, settings
from shadow_test_core.experiment.service_model import Violation
from shadow_test_core.experiment.service_model import matches_pattern as matches_pattern  # re-exported

OPERATION = "CreateInferenceExperiment"

#: SageMaker refuses shadow tests that run longer than this.
MAX_SCHEDULE = timedelta(days=30)
#: The limit as the messages say it.
_MAX_SCHEDULE_TEXT = f"{MAX_SCHEDULE.days} days"


def _model_path(member: str) -> str:
    """A settings member path (``ModelVariants[1].VariantName``) as the walker's (``ModelVariants[].VariantName``)."""
    return re.sub(r"\[\d+\]", "[]", member)


#: Prop path -> path of the request member it becomes, for the settings SageMaker holds whose
#: model shape says what is allowed (the schedule's and the tags' rules are written out below).
PROP_MEMBERS: dict[str, str] = {
    s.prop: _model_path(s.member)
    for s in settings.SETTINGS
    if s.sent_to_sagemaker and s.kind not in (settings.TAGS, settings.TIME)
}
PROP_MEMBERS["tags"] = "Tags"

_KMS_KEY_FORMS = (
    re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
    re.compile(r"mrk-[0-9a-fA-F]{32}"),
    re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/(mrk-)?[0-9a-fA-F-]{32,36}"),
    re.compile(r"alias/[a-zA-Z0-9:/_-]{1,250}"),
    re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:alias/[a-zA-Z0-9:/_-]{1,250}"),
)


def member_shape(member_path: str) -> Any:
    """Return the botocore shape of a ``CreateInferenceExperiment`` request member."""
    return service_model.member_shape(OPERATION, member_path)


def allowed_instance_types() -> list[str]:
    """SageMaker's production-variant instance types, as the installed botocore knows them."""
    return list(member_shape(PROP_MEMBERS["production_variant.instance_type"]).enum)


_NAME_WORDS = "letters, digits and hyphens, starting and ending with a letter or digit"
_KMS_KEY_WORDS = "a KMS key id, key ARN, alias name or alias ARN"

#: What each prop's pattern in botocore's model allows, in words. Keyed by the prop, not by the
#: pattern's text, so the words stay when botocore rewrites a pattern; tests/test_validation.py
#: checks that every prop whose member has a pattern has its words here.
PATTERN_WORDS: dict[str, str] = {
    "experiment_name": _NAME_WORDS,
    "endpoint_name": _NAME_WORDS,
    "role": "an IAM role ARN",
    "description": "a single line of text",
    "kms_key": _KMS_KEY_WORDS,
    "production_variant.variant_name": _NAME_WORDS,
    "production_variant.model_name": _NAME_WORDS,
    "shadow_variant.variant_name": _NAME_WORDS,
    "shadow_variant.model_name": _NAME_WORDS,
    "data_capture.destination": "an s3:// or https:// URI",
    "data_capture.kms_key": _KMS_KEY_WORDS,
}


def _describe_pattern(prop: str, pattern: str) -> str:
    words = PATTERN_WORDS.get(prop)
    return f"{words} (pattern {pattern})" if words else f"pattern {pattern}"


def _suggest(value: str, choices: list[str]) -> str:
    candidates = [f"ml.{value}"] if f"ml.{value}" in choices else []
    candidates += difflib.get_close_matches(value, choices, n=1, cutoff=0.75)
    return f"; did you mean {candidates[0]!r}?" if candidates else ""


# Minimums SageMaker enforces beyond its model (a 0% shadow or a 0-instance variant is refused).
_TIGHTER_MINIMUMS = {s.prop: s.minimum for s in settings.SETTINGS if s.minimum is not None}


def _describe_range(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"{low}-{high}"
    return f"at least {low}" if low is not None else f"at most {high}"


_TYPE_WORDS = {"string": "a string", "integer": "a whole number", "long": "a whole number", "list": "a list"}


def _check_scalar(prop: str, value: Any, shape: Any) -> list[str]:
    """Every way ``value`` breaks ``shape`` (walked by ``service_model``), worded for the prop path."""
    violations = service_model.shape_violations(shape, value)
    tighter = _TIGHTER_MINIMUMS.get(prop)
    if tighter is not None and not violations and isinstance(value, int) and value < tighter:
        violations.append(Violation(path="", value=value, kind="min_value", shape=shape, limit=tighter))
    # A value outside an enum is reported for that alone: its length or pattern adds nothing.
    outside_enum = {violation.path for violation in violations if violation.kind == "enum"}
    return [
        _worded(prop, violation)
        for violation in violations
        if violation.kind == "enum" or violation.path not in outside_enum
    ]


def _worded(prop: str, violation: Violation) -> str:
    path, value, shape, meta = violation.path, violation.value, violation.shape, violation.shape.metadata
    where = f"{prop}{path}" if not path or path.startswith("[") else f"{prop}.{path}"
    if violation.kind == "type":
        return f"{where}: expected {_TYPE_WORDS.get(shape.type_name, 'a ' + shape.type_name)} (got {value!r})"
    if violation.kind == "enum":
        enum = list(shape.enum)
        allowed = ", ".join(enum) if len(enum) <= 12 else f"one of {len(enum)} values such as {', '.join(enum[:6])}"
        return f"{where}: {value!r} is not allowed{_suggest(value, enum)} (allowed: {allowed})"
    if violation.kind in ("min_length", "max_length"):
        low, high = meta.get("min", 0), meta.get("max")
        if shape.type_name == "string":
            return f"{where}: length must be {low}-{high} characters (got {len(value)}: {value!r})"
        return f"{where}: must hold {low}-{high} items (got {len(value)})"
    if violation.kind in ("min_value", "max_value"):
        low = _TIGHTER_MINIMUMS.get(prop, meta.get("min")) if not path else meta.get("min")
        return f"{where}: must be {_describe_range(low, meta.get('max'))}, got {value}"
    if violation.kind == "pattern":
        return f"{where}: {value!r} must be {_describe_pattern(where, violation.limit)}"
    if violation.kind == "required":
        return f"{where}: is required"
    return f"{where}: {shape.name} has no member {violation.limit!r}"


def check_member(prop: str, value: Any, member_path: str) -> list[str]:
    """Check one value against the shape of the request member it becomes."""
    return _check_scalar(prop, list(value) if isinstance(value, tuple) else value, member_shape(member_path))


#: Tags the handler adds to every experiment to mark the stack and resource that own it.
OWNER_TAG_COUNT = 2


def _check_tags(tags: Mapping[str, str]) -> list[str]:
    problems = []
    room = member_shape("Tags").metadata.get("max", 50) - OWNER_TAG_COUNT
    if len(tags) > room:
        problems.append(
            f"tags: at most {room} tags (got {len(tags)}): SageMaker allows {room + OWNER_TAG_COUNT} "
            f"per experiment and the construct adds {OWNER_TAG_COUNT} that mark its owner"
        )
    tag_shape = member_shape("Tags").member
    for key, value in tags.items():
        if key.lower().startswith("aws:"):
            problems.append(f"tags: key {key!r} uses the reserved prefix 'aws:'")
        problems += _check_scalar(f"tags[{key!r}].key", key, tag_shape.members["Key"])
        problems += _check_scalar(f"tags[{key!r}].value", value, tag_shape.members["Value"])
    return problems


def _check_schedule(values: Mapping[str, Any], now: datetime | None) -> list[str]:
    start, end, duration = (values.get(f"schedule.{k}") for k in ("start_time", "end_time", "duration"))
    problems = []
    for name, moment in (("start_time", start), ("end_time", end)):
        if moment is not None and moment.tzinfo is None:
            problems.append(f"schedule.{name}: must be timezone-aware (got naive {moment.isoformat()})")
    if problems:
        return problems
    if end is not None and duration is not None:
        problems.append("schedule: give end_time or duration, not both")
    if duration is not None and not timedelta(0) < duration <= MAX_SCHEDULE:
        problems.append(f"schedule.duration: must be more than 0 and at most {_MAX_SCHEDULE_TEXT}, got {duration}")
    if start is not None and end is not None:
        if end <= start:
            problems.append(f"schedule.end_time: must be after start_time ({end.isoformat()} <= {start.isoformat()})")
        elif end - start > MAX_SCHEDULE:
            problems.append(f"schedule: must be at most {_MAX_SCHEDULE_TEXT} long, got {end - start}")
    if end is not None and now is not None and end <= now:
        problems.append(f"schedule.end_time: {end.isoformat()} is in the past")
    if end is not None and start is None and now is not None and end - now > MAX_SCHEDULE:
        problems.append(f"schedule.end_time: must be at most {_MAX_SCHEDULE_TEXT} from now, got {end - now}")
    return problems


def check_settings(
    values: Mapping[str, Any],
    *,
    now: datetime | None = None,
    only: Collection[str] | None = None,
    enums: bool = True,
) -> list[str]:
    """Every problem of a set of shadow-test settings, as ``prop.path: what is wrong`` lines.

    ``values`` maps prop paths to plain values; a prop the caller cannot know yet (a CDK token)
    is simply left out. ``schedule.*`` values are ``datetime``/``timedelta``; ``tags`` a dict.
    ``now`` enables the checks against the clock (an end time in the past). ``only`` limits the
    checks of single values to those props (the rules relating settings always run); without
    ``enums``, values the model lists (instance types) are not checked against that list.
    """
    problems: list[str] = []
    for prop, value in values.items():
        member = PROP_MEMBERS.get(prop)
        if not member or prop == "tags" or value is None or (only is not None and prop not in only):
            continue
        if not enums and getattr(member_shape(member), "enum", None):
            continue
        problems += check_member(prop, value, member)
    production, shadow = values.get("production_variant.variant_name"), values.get("shadow_variant.variant_name")
    if production is not None and production == shadow:
        problems.append(
            f"shadow_variant.variant_name: must differ from production_variant.variant_name (both {production!r})"
        )
    kms_key = values.get("kms_key")
    if isinstance(kms_key, str) and not any(form.fullmatch(kms_key) for form in _KMS_KEY_FORMS):
        problems.append(f"kms_key: {kms_key!r} is not a KMS key id, key ARN, alias name (alias/...) or alias ARN")
    if values.get("tags") and (only is None or "tags" in only):
        problems += _check_tags(values["tags"])
    problems += _check_schedule(values, now)
    return problems


def utc_now() -> datetime:
    """The current time, timezone-aware (a seam for tests)."""
    return datetime.now(timezone.utc)

"""The core's walker of botocore's sagemaker model: Java patterns, request problems, shape paths."""

from __future__ import annotations

import copy
import unicodedata
from typing import Any

import pytest
from botocore.validate import ParamValidator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shadow_test_core.experiment import rules, service_model
from shadow_test_core.experiment.service_model import (
    UnsupportedPatternError,
    compile_java_pattern,
    input_problems,
    matches_pattern,
    member_shape,
    shape_violations,
)
from tests.hypothesis_budget import examples

try:  # a full Unicode regex engine, an oracle for the \p{..} translation
    import regex
except ImportError:  # pragma: no cover - optional
    regex = None

TAG_PATTERN = r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)"
INSTANCE_TYPE = "ModelVariants[].InfrastructureConfig.RealTimeInferenceConfig.InstanceType"


# --- Java patterns ------------------------------------------------------------------------------


def test_every_pattern_of_the_model_translates() -> None:
    model = service_model.service_model()
    patterns = {
        model.shape_for(name).metadata["pattern"]
        for name in model.shape_names
        if "pattern" in model.shape_for(name).metadata
    }

    assert len(patterns) > 100
    for pattern in patterns:
        compile_java_pattern(pattern)  # raises UnsupportedPatternError if not


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        (TAG_PATTERN, "Straße 東京 ٣", True),
        (TAG_PATTERN, "emoji 😀", False),  # So, not L/N/Z
        (TAG_PATTERN, "tab\there", False),
        (r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", "ab-c", True),
        (r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", "ab-", False),  # a full match, not a search
        (r"([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,128}", "anchor quantifier", True),
        (r"arn:[\p{Alnum}\-]+:lambda:[\p{Alnum}\-]+:[0-9]{12}:function:.*", "arn:aws:lambda:us-east-1:123456789012:function:f", True),
        (r"arn:[\p{Alnum}\-]+:lambda:.*", "arn:äws:lambda:x", False),  # POSIX classes are ASCII
        (r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*", "supplementary 😀", True),
        (r"\d+", "١٢٣", False),  # Java's \d is ASCII
        (r".*", "a\rb", False),  # Java's "." excludes every line terminator...
        (r".*", "a\x85b", False),
        (r".*", "a\u2028b", False),
        (r".*", "a\nb", False),
        (r".*", "tab\tand ü", True),  # ...and nothing else
        (r"\p{L}+", "Ünïcödé", True),  # a class outside brackets
        (r"\p{L}+", "a-zA-Z", False),
        (r"[a\p{N}]*", "é", False),  # a non-ASCII letter is not the ASCII letter "a"
        (r"[^\p{L}]*", "東", False),  # a negated category class
        (r"[^\p{L}]*", "٣!", True),
        (r"\p{IsL}+", "東京", True),
        (r"[a-z]+\z", "abc", True),
    ],
)  # fmt: skip
def test_java_pattern_semantics(pattern: str, value: str, matches: bool) -> None:
    assert matches_pattern(value, pattern) is matches


@pytest.mark.parametrize("pattern", [r"\P{L}*", r"\Qa.b\E", r"[a-z&&[^b]]", r"\p{InGreek}"])
def test_untranslatable_patterns_refuse_nothing(pattern: str) -> None:
    with pytest.raises(UnsupportedPatternError):
        compile_java_pattern(pattern)
    assert matches_pattern("anything at all", pattern)


@pytest.mark.skipif(regex is None, reason="needs the 'regex' package as an oracle")
@settings(max_examples=examples(300), deadline=None)
@given(st.text(st.characters(exclude_categories=("Cs", "Cn")), max_size=12))
def test_tag_pattern_agrees_with_a_unicode_regex_engine(value: str) -> None:
    expected = regex.fullmatch(TAG_PATTERN, value, flags=regex.V0) is not None

    assert matches_pattern(value, TAG_PATTERN) is expected


@settings(max_examples=examples(300), deadline=None)
@given(st.text(st.characters(exclude_categories=("Cs",)), max_size=12))
def test_tag_pattern_accepts_exactly_letters_separators_digits_and_its_punctuation(value: str) -> None:
    expected = all(unicodedata.category(char)[0] in "LZN" or char in "_.:/=+-@" for char in value)

    assert matches_pattern(value, TAG_PATTERN) is expected


def test_rules_share_the_walkers_pattern_matching() -> None:
    assert rules.matches_pattern is matches_pattern


# --- Shapes and paths ---------------------------------------------------------------------------


def test_member_shape_steps_into_lists_with_brackets_or_indexes() -> None:
    by_brackets = member_shape("CreateInferenceExperiment", INSTANCE_TYPE)
    by_index = member_shape("CreateInferenceExperiment", INSTANCE_TYPE.replace("[]", "[1]"))

    assert by_brackets is by_index
    assert "ml.m5.large" in by_brackets.enum
    assert rules.member_shape(INSTANCE_TYPE) is by_brackets


# --- Request problems, worded as SageMaker words them -------------------------------------------


def model_variant(name: str, model: str, instance_type: str = "ml.m5.large") -> dict[str, Any]:
    return {
        "ModelName": model,
        "VariantName": name,
        "InfrastructureConfig": {
            "InfrastructureType": "RealTimeInference",
            "RealTimeInferenceConfig": {"InstanceType": instance_type, "InstanceCount": 1},
        },
    }


CREATE: dict[str, Any] = {
    "Name": "exp-1",
    "Type": "ShadowMode",
    "RoleArn": "arn:aws:iam::123456789012:role/shadow-test",
    "EndpointName": "ep-1",
    "ModelVariants": [model_variant("prod", "m-a"), model_variant("shadow", "m-b")],
    "ShadowModeConfig": {
        "SourceModelVariantName": "prod",
        "ShadowModelVariants": [{"ShadowModelVariantName": "shadow", "SamplingPercentage": 50}],
    },
    "Tags": [{"Key": "Ünïcödé ключ 키", "Value": "値 ١٢٣ café\u00a0space"}, {"Key": "aws:cdk/path=+-@", "Value": ""}],
}


def with_change(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """CREATE with the member at ``path`` replaced by ``value`` (removed when ``value`` is ``...``)."""
    params = copy.deepcopy(CREATE)
    target: Any = params
    for step in path[:-1]:
        target = target[step]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return params


INSTANCE_TYPE_PATH = ("ModelVariants", 1, "InfrastructureConfig", "RealTimeInferenceConfig", "InstanceType")
INSTANCE_COUNT_PATH = ("ModelVariants", 0, "InfrastructureConfig", "RealTimeInferenceConfig", "InstanceCount")
SAMPLING_PATH = ("ShadowModeConfig", "ShadowModelVariants", 0, "SamplingPercentage")


def test_a_valid_request_has_no_problems() -> None:
    assert input_problems("CreateInferenceExperiment", CREATE) == []


@pytest.mark.parametrize(
    ("params", "member", "constraint"),
    [
        (with_change(("RoleArn",), ...), "RoleArn", "Member must not be null"),
        (with_change(("Name",), "n" * 121), "Name", "length less than or equal to 120"),
        (with_change(("Name",), "bad_name"), "Name", "regular expression pattern"),
        (
            with_change(INSTANCE_TYPE_PATH, "ml.bogus.huge"),
            "ModelVariants[1].InfrastructureConfig.RealTimeInferenceConfig.InstanceType",
            "enum value set",
        ),
        (with_change(("Type",), "CanaryMode"), "Type", "enum value set: [ShadowMode]"),
        (
            with_change(SAMPLING_PATH, 101),
            "ShadowModeConfig.ShadowModelVariants[0].SamplingPercentage",
            "value less than or equal to 100",
        ),
        (
            with_change(INSTANCE_COUNT_PATH, -1),
            "ModelVariants[0].InfrastructureConfig.RealTimeInferenceConfig.InstanceCount",
            "value greater than or equal to 0",
        ),
        (
            with_change(INSTANCE_COUNT_PATH, "two"),
            "ModelVariants[0].InfrastructureConfig.RealTimeInferenceConfig.InstanceCount",
            "must be of type integer",
        ),
        (
            with_change(INSTANCE_COUNT_PATH, True),
            "ModelVariants[0].InfrastructureConfig.RealTimeInferenceConfig.InstanceCount",
            "must be of type integer",
        ),
        (
            with_change(("ModelVariants",), [model_variant(f"v{i}", "m") for i in range(3)]),
            "ModelVariants",
            "length less than or equal to 2",
        ),
        (
            with_change(("ShadowModeConfig", "ShadowModelVariants"), []),
            "ShadowModeConfig.ShadowModelVariants",
            "length greater than or equal to 1",
        ),
        (with_change(("Tags",), [{"Key": "bad#key", "Value": "v"}]), "Tags[0].Key", "regular expression"),
        (with_change(("Tags",), [{"Key": "", "Value": "v"}]), "Tags[0].Key", "length greater than or equal to 1"),
        (with_change(("Description",), "line one\nline two"), "Description", "regular expression pattern: .*"),
    ],
    ids=[
        "missing-required", "too-long", "pattern", "enum-nested", "enum", "int-max", "int-min",
        "wrong-type", "bool-is-no-integer", "list-max", "list-min", "tag-pattern", "tag-min-length", "java-dot",
    ],
)  # fmt: skip
def test_each_broken_constraint_is_a_problem_naming_the_member(
    params: dict[str, Any], member: str, constraint: str
) -> None:
    problems = input_problems("CreateInferenceExperiment", params)

    assert [p for p in problems if f"at '{member}' failed to satisfy constraint" in p and constraint in p], problems


def test_every_problem_is_reported() -> None:
    params = with_change(("Name",), "bad_name")
    params["Type"] = "Other"

    assert len(input_problems("CreateInferenceExperiment", params)) == 2


def test_unknown_members_are_problems_naming_the_valid_ones() -> None:
    params = copy.deepcopy(CREATE)
    params["ModelVariants"][0]["Colour"] = "blue"

    (problem,) = input_problems("CreateInferenceExperiment", params)

    assert problem.startswith("Unknown member 'ModelVariants[0].Colour': ModelVariantConfig has no member 'Colour'")
    assert "valid members are ModelName, VariantName, InfrastructureConfig" in problem


def test_map_keys_values_and_sizes_are_checked() -> None:
    bad_value = input_problems("StopInferenceExperiment", {"Name": "e", "ModelVariantActions": {"prod": "Explode"}})
    empty = input_problems("StopInferenceExperiment", {"Name": "e", "ModelVariantActions": {}})

    assert len(bad_value) == 1
    assert "at 'ModelVariantActions.prod'" in bad_value[0]
    assert "enum value set: [Retain, Remove, Promote]" in bad_value[0]
    assert "at 'ModelVariantActions' failed to satisfy constraint: Member must have length greater than" in empty[0]


def test_a_null_member_counts_as_absent() -> None:
    assert input_problems("CreateInferenceExperiment", {**CREATE, "Description": None}) == []
    assert (
        "'RoleArn' failed to satisfy constraint: Member must not be null"
        in (input_problems("CreateInferenceExperiment", {**CREATE, "RoleArn": None})[0])
    )


def test_violations_carry_kind_limit_and_path() -> None:
    shape = member_shape("CreateInferenceExperiment", "ShadowModeConfig")
    value = {"SourceModelVariantName": "prod", "ShadowModelVariants": [{"ShadowModelVariantName": "s"}]}

    (violation,) = shape_violations(shape, value, "ShadowModeConfig")

    assert (violation.kind, violation.path) == (
        "required",
        "ShadowModeConfig.ShadowModelVariants[0].SamplingPercentage",
    )


def test_rules_word_the_walkers_violations_by_prop() -> None:
    assert rules.check_member(
        "sampling_percentage", 0, "ShadowModeConfig.ShadowModelVariants[].SamplingPercentage"
    ) == ["sampling_percentage: must be 1-100, got 0"]
    assert rules.check_member("data_capture.json_content_types", ("a/" + "b" * 298,), "DataStorageConfig.ContentType.JsonContentTypes") == [
        f"data_capture.json_content_types[0]: length must be 1-256 characters (got 300: {'a/' + 'b' * 298!r})"
    ]  # fmt: skip


# --- Agreement with botocore's own ParamValidator ------------------------------------------------

# A character of each major Unicode category, put back where a generated value holds the
# translation's placeholder for that category.
_REPRESENTATIVES = {"C": "\x85", "L": "é", "M": "\u0301", "N": "٣", "P": "¡", "S": "©", "Z": "\u2003"}
_FROM_PLACEHOLDER = str.maketrans({chr(0xE000 + i): _REPRESENTATIVES[major] for i, major in enumerate("CLMNPSZ")})
_MAX_DEPTH = 6


def _strings(shape: Any, wrong: bool) -> st.SearchStrategy[str]:
    meta = shape.metadata
    low, high = meta.get("min", 0), min(meta.get("max", 40), 40)
    if meta.get("enum"):
        enum = st.sampled_from(list(meta["enum"]))
        return st.one_of(enum, st.text(max_size=4)) if wrong else enum
    length = st.text(min_size=low, max_size=high)
    if "pattern" not in meta:
        return st.one_of(length, st.text(max_size=3)) if wrong else length
    try:
        compiled = compile_java_pattern(meta["pattern"])
    except UnsupportedPatternError:
        return length
    from_pattern = st.from_regex(compiled.regex, fullmatch=True).map(lambda v: v.translate(_FROM_PLACEHOLDER))
    if wrong:
        return st.one_of(from_pattern, length)
    return from_pattern.filter(lambda v: low <= len(v) <= meta.get("max", len(v)))


def _numbers(shape: Any, integers: bool, wrong: bool) -> st.SearchStrategy[Any]:
    margin = 2 if wrong else 0
    low, high = shape.metadata.get("min", -(2**31)), shape.metadata.get("max", 2**31)
    if integers:
        return st.integers(int(low) - margin, int(high) + margin)
    return st.floats(float(low) - margin, float(high) + margin, allow_nan=False)


def _values(shape: Any, wrong: bool, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values for ``shape`` near its limits; with ``wrong``, also past them and of wrong types (never None)."""
    kind = shape.type_name
    if kind == "structure":
        if depth > _MAX_DEPTH:
            return st.just({})
        members = {name: _values(member, wrong, depth + 1) for name, member in shape.members.items()}
        required = {name: members.pop(name) for name in shape.required_members}
        return st.fixed_dictionaries(required, optional=members)
    if kind in ("list", "map"):
        low = 0 if wrong else shape.metadata.get("min", 0)
        high = min(shape.metadata.get("max", 3), 3) + (1 if wrong else 0)
        if depth > _MAX_DEPTH:
            return st.just([] if kind == "list" else {})
        if kind == "list":
            return st.lists(_values(shape.member, wrong, depth + 1), min_size=low, max_size=max(low, high))
        keys, values = _strings(shape.key, wrong), _values(shape.value, wrong, depth + 1)
        return st.dictionaries(keys, values, min_size=low, max_size=max(low, high))
    if kind == "string":
        return st.one_of(_strings(shape, wrong), st.integers()) if wrong else _strings(shape, wrong)
    if kind in ("integer", "long", "float", "double"):
        numbers = _numbers(shape, kind in ("integer", "long"), wrong)
        return st.one_of(numbers, st.booleans(), st.text(max_size=2)) if wrong else numbers
    if kind == "boolean":
        return st.one_of(st.booleans(), st.integers(0, 1)) if wrong else st.booleans()
    if kind == "timestamp":
        return st.integers(0, 2**31)
    return st.text(max_size=8)  # blob: base64 text on the wire


_SERVED = (
    "CreateInferenceExperiment",
    "DescribeInferenceExperiment",
    "UpdateInferenceExperiment",
    "StopInferenceExperiment",
    "DeleteInferenceExperiment",
    "ListInferenceExperiments",
    "ListTags",
    "DescribeEndpoint",
)


def _requests(wrong: bool) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    shapes = {operation: service_model.input_shape(operation) for operation in _SERVED}
    return st.one_of([st.tuples(st.just(op), _values(shape, wrong)) for op, shape in shapes.items()])


def _agree_with_botocore(operation: str, params: dict[str, Any]) -> bool:
    """Whether the walker accepted ``params``, after checking that botocore decides alike where it can."""
    botocore_report = ParamValidator().validate(params, service_model.input_shape(operation))
    accepted = not input_problems(operation, params)
    if accepted:
        assert not botocore_report.has_errors(), botocore_report.generate_report()
    if botocore_report.has_errors():  # the same, read the other way round
        assert not accepted
    return accepted


_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@_SETTINGS
@given(_requests(wrong=False))
def test_requests_within_the_models_limits_are_accepted_by_the_walker_and_botocore(
    request: tuple[str, dict[str, Any]],
) -> None:
    assert _agree_with_botocore(*request), input_problems(*request)


@_SETTINGS
@given(_requests(wrong=True))
def test_whatever_the_walker_accepts_botocore_accepts_too(request: tuple[str, dict[str, Any]]) -> None:
    _agree_with_botocore(*request)

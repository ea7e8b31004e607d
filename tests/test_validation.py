"""Synth-time validation: every rule refuses a bad value with a message naming the prop."""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta, timezone

import pytest
from aws_cdk import App, Duration, Stack, Stage, Token
from aws_cdk.assertions import Annotations, Match
from aws_cdk.aws_logs import RetentionDays
from aws_cdk.aws_sagemaker import CfnEndpoint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from constructs_pkg import DataCapture, ModelVariant, Schedule, ShadowTestExperiment, ValidationError, VariantAction
from devtools.provider_driver import as_cloudformation_sends, properties
from shadow_test_core.experiment import rules as request_rules
from shadow_test_core.experiment.service_model import input_problems
from shadow_test_core.experiment.spec import InvalidProperties, parse_properties
from tests.hypothesis_budget import examples

PROD = ModelVariant(variant_name="prod", model_name="model-a", instance_type="ml.m5.large")
SHADOW = ModelVariant(variant_name="shadow", model_name="model-b", instance_type="ml.c5.xlarge")
NOW = datetime.now(timezone.utc)
_ids = itertools.count()


@pytest.fixture(scope="module")
def stack() -> Stack:
    return Stack(App(analytics_reporting=False), "Validation")


def build(stack: Stack, **overrides) -> ShadowTestExperiment:
    props = {
        "endpoint_name": "churn-endpoint",
        "production_variant": PROD,
        "shadow_variant": SHADOW,
        "data_capture": DataCapture(prefix="p"),
    }
    props.update(overrides)
    return ShadowTestExperiment(stack, f"Exp{next(_ids)}", **props)


def shadow(**changes) -> ModelVariant:
    return ModelVariant(**{**SHADOW.__dict__, **changes})


# rule -> (props that break it, a fragment of the message, props that satisfy it)
RULES = {
    "sampling_percentage above 100": (
        {"sampling_percentage": 101},
        "sampling_percentage: must be 1-100, got 101",
        {"sampling_percentage": 100},
    ),
    "sampling_percentage below 1": (
        {"sampling_percentage": 0},
        "sampling_percentage: must be 1-100, got 0",
        {"sampling_percentage": 1},
    ),
    "experiment_name pattern": (
        {"experiment_name": "bad_name"},
        "experiment_name: 'bad_name' must be letters, digits and hyphens",
        {"experiment_name": "good-name-1"},
    ),
    "experiment_name length": (
        {"experiment_name": "a" * 121},
        "experiment_name: length must be 1-120",
        {"experiment_name": "a" * 120},
    ),
    "endpoint_name length": (
        {"endpoint_name": "e" * 64},
        "endpoint_name: length must be 0-63",
        {"endpoint_name": "e" * 63},
    ),
    "endpoint_name pattern": (
        {"endpoint_name": "churn.endpoint"},
        "endpoint_name: 'churn.endpoint' must be letters",
        {"endpoint_name": "churn-endpoint"},
    ),
    "description single line": (
        {"description": "two\nlines"},
        "description: 'two\\nlines' must be a single line of text",
        {"description": "one line"},
    ),
    "description length": (
        {"description": "d" * 1025},
        "description: length must be 0-1024",
        {"description": "d" * 1024},
    ),
    "instance_type enum with suggestion": (
        {"shadow_variant": shadow(instance_type="m5.large")},
        "shadow_variant.instance_type: 'm5.large' is not allowed; did you mean 'ml.m5.large'?",
        {"shadow_variant": shadow(instance_type="ml.m5.large")},
    ),
    "instance_type typo": (
        {"production_variant": ModelVariant(variant_name="prod", model_name="m", instance_type="ml.m5.larg")},
        "production_variant.instance_type: 'ml.m5.larg' is not allowed; did you mean 'ml.m5.large'?",
        {"production_variant": ModelVariant(variant_name="prod", model_name="m", instance_type="ml.g5.xlarge")},
    ),
    "instance_count at least 1": (
        {"shadow_variant": shadow(instance_count=0)},
        "shadow_variant.instance_count: must be at least 1, got 0",
        {"shadow_variant": shadow(instance_count=1)},
    ),
    "variant_name pattern": (
        {"shadow_variant": shadow(variant_name="shadow_1")},
        "shadow_variant.variant_name: 'shadow_1' must be letters",
        {"shadow_variant": shadow(variant_name="shadow-1")},
    ),
    "model_name length": (
        {"shadow_variant": shadow(model_name="m" * 64)},
        "shadow_variant.model_name: length must be 0-63",
        {"shadow_variant": shadow(model_name="m" * 63)},
    ),
    "variant names differ": (
        {"shadow_variant": shadow(variant_name="prod")},
        "shadow_variant.variant_name: must differ from production_variant.variant_name",
        {"shadow_variant": shadow(variant_name="shadow")},
    ),
    "schedule at most 30 days (duration)": (
        {"schedule": Schedule(duration=Duration.days(31))},
        "schedule.duration: must be more than 0 and at most 30 days",
        {"schedule": Schedule(duration=Duration.days(30))},
    ),
    "schedule at most 30 days (times)": (
        {"schedule": Schedule(start_time=NOW + timedelta(days=1), end_time=NOW + timedelta(days=32))},
        "schedule: must be at most 30 days long",
        {"schedule": Schedule(start_time=NOW + timedelta(days=1), end_time=NOW + timedelta(days=31))},
    ),
    "schedule end after start": (
        {"schedule": Schedule(start_time=NOW + timedelta(days=2), end_time=NOW + timedelta(days=1))},
        "schedule.end_time: must be after start_time",
        {"schedule": Schedule(start_time=NOW + timedelta(days=1), end_time=NOW + timedelta(days=2))},
    ),
    "schedule end not in the past": (
        {"schedule": Schedule(end_time=NOW - timedelta(hours=1))},
        "is in the past",
        {"schedule": Schedule(end_time=NOW + timedelta(days=1))},
    ),
    "schedule end or duration": (
        {"schedule": Schedule(end_time=NOW + timedelta(days=1), duration=Duration.days(1))},
        "schedule: give end_time or duration, not both",
        {"schedule": Schedule(duration=Duration.days(1))},
    ),
    "schedule times timezone-aware": (
        {"schedule": Schedule(start_time=datetime(2030, 1, 1))},
        "schedule.start_time: must be timezone-aware",
        {"schedule": Schedule(start_time=datetime(2030, 1, 1, tzinfo=timezone.utc))},
    ),
    "tag prefix aws:": (
        {"tags": {"aws:team": "x"}},
        "tags: key 'aws:team' uses the reserved prefix 'aws:'",
        {"tags": {"team": "x"}},
    ),
    "tag key length": ({"tags": {"k" * 129: "x"}}, "length must be 1-128", {"tags": {"k" * 128: "x"}}),
    "tag value length": ({"tags": {"team": "v" * 257}}, "length must be 0-256", {"tags": {"team": "v" * 256}}),
    "tag value pattern": (
        {"tags": {"team": "a;b"}},
        "tags['team'].value: 'a;b' must be pattern",
        {"tags": {"team": "a b-c_d"}},
    ),
    "tag count": (
        {"tags": {f"k{i}": "v" for i in range(49)}},
        "tags: at most 48 tags (got 49)",
        {"tags": {f"k{i}": "v" for i in range(48)}},
    ),
    "kms_key forms": (
        {"kms_key": "my-key"},
        "kms_key: 'my-key' is not a KMS key id, key ARN, alias name",
        {"kms_key": "alias/my-key"},
    ),
    "capture content type pattern": (
        {"data_capture": DataCapture(json_content_types=["json"])},
        "data_capture.json_content_types[0]: 'json' must be pattern",
        {"data_capture": DataCapture(json_content_types=["application/json"])},
    ),
    "capture content type count": (
        {"data_capture": DataCapture(csv_content_types=[f"text/csv{i}" for i in range(11)])},
        "data_capture.csv_content_types: must hold 1-10 items (got 11)",
        {"data_capture": DataCapture(csv_content_types=["text/csv"])},
    ),
    "shadow_action_on_delete type": (
        {"shadow_action_on_delete": "Remove"},
        "shadow_action_on_delete: expected a VariantAction",
        {"shadow_action_on_delete": VariantAction.RETAIN},
    ),
    "variant type": (
        {"shadow_variant": {"variant_name": "s"}},
        "shadow_variant: expected a ModelVariant, got dict",
        {"shadow_variant": SHADOW},
    ),
}


@pytest.mark.parametrize(("bad", "message", "good"), list(RULES.values()), ids=list(RULES))
def test_rule_refuses_the_bad_value_and_accepts_the_good_one(stack, bad, message, good) -> None:
    with pytest.raises(ValidationError) as caught:
        build(stack, **bad)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)
    build(stack, **good)


def test_every_problem_is_reported_at_once(stack) -> None:
    with pytest.raises(ValidationError) as caught:
        build(
            stack,
            sampling_percentage=250,
            endpoint_name="bad.endpoint",
            shadow_variant=shadow(variant_name="prod", instance_type="c5.xlarge", instance_count=0),
            schedule=Schedule(duration=Duration.days(45)),
            tags={"aws:x": "y"},
        )
    problems = caught.value.problems
    props = {p.split(":")[0] for p in problems}
    assert {
        "sampling_percentage",
        "endpoint_name",
        "shadow_variant.variant_name",
        "shadow_variant.instance_type",
        "shadow_variant.instance_count",
        "schedule.duration",
        "tags",
    } <= props
    assert str(caught.value).startswith("Validation/Exp")


def test_tokens_are_left_to_the_handler(stack) -> None:
    experiment = build(
        stack,
        endpoint_name=Token.as_string({"Ref": "EndpointName"}),
        sampling_percentage=Token.as_number({"Ref": "Sampling"}),
        shadow_variant=shadow(
            instance_type=Token.as_string({"Ref": "InstanceType"}), model_name=Token.as_string({"Ref": "M"})
        ),
        tags={"team": Token.as_string({"Ref": "Team"})},
    )
    properties = stack.resolve(experiment.resource.node.default_child._cfn_properties)  # type: ignore[attr-defined]
    assert properties["DeployTimeChecks"] == [
        "endpoint_name",
        "sampling_percentage",
        "shadow_variant.instance_type",
        "shadow_variant.model_name",
        "tags",
    ]


def test_instance_types_come_from_the_service_model() -> None:
    allowed = request_rules.allowed_instance_types()
    assert {"ml.m5.large", "ml.c5.xlarge", "ml.g5.xlarge", "ml.p4d.24xlarge"} <= set(allowed)
    assert "ml.m5.huge" not in allowed and "m5.large" not in allowed
    assert len(allowed) > 100


# --- warnings ------------------------------------------------------------------------------


WARNING_CASES = {
    "constructs_pkg:noDataCapture": {"data_capture": None},
    "constructs_pkg:shadowSmallerThanProduction": {
        "production_variant": ModelVariant(
            variant_name="prod", model_name="a", instance_type="ml.m5.large", instance_count=4
        )
    },
    "constructs_pkg:longSchedule": {"schedule": Schedule(duration=Duration.days(20))},
    "constructs_pkg:shadowRetainedOnDelete": {"shadow_action_on_delete": VariantAction.RETAIN},
}


@pytest.fixture(scope="module")
def warned() -> dict[str, Stack]:
    """One app, synthesized once: a stack per risky setting and one safe stack."""
    app = App(analytics_reporting=False)
    stacks = {}
    for index, (warning_id, overrides) in enumerate(WARNING_CASES.items()):
        stacks[warning_id] = Stack(app, f"Risky{index}")
        build(stacks[warning_id], endpoint_name=f"risky-endpoint-{index}", **overrides)
    stacks["safe"] = Stack(app, "Safe")
    build(stacks["safe"])
    app.synth()
    return stacks


@pytest.mark.parametrize("warning_id", list(WARNING_CASES))
def test_risky_settings_get_a_warning_with_an_id(warned, warning_id) -> None:
    Annotations.from_stack(warned[warning_id]).has_warning("*", Match.string_like_regexp(f"\\[ack: {warning_id}\\]"))


def test_safe_settings_get_no_warning(warned) -> None:
    assert not Annotations.from_stack(warned["safe"]).find_warning("*", Match.any_value())


# --- properties: what the validator accepts, SageMaker's model accepts --------------------

_name = st.from_regex(r"[a-zA-Z0-9](-?[a-zA-Z0-9]){0,20}", fullmatch=True)
_one_line = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x85\u2028\u2029"), max_size=40
)
_tag_text = st.from_regex(r"[a-zA-Z0-9_.:/=+\-@ ]{1,20}", fullmatch=True).filter(
    lambda t: not t.lower().startswith("aws:")
)


def _variant(prop, name, model_name, instance_type, instance_count):
    return {
        f"{prop}.variant_name": name,
        f"{prop}.model_name": model_name,
        f"{prop}.instance_type": instance_type,
        f"{prop}.instance_count": instance_count,
    }


def _settings(*, name, text, instance_type, count, sampling, tag_text):
    """The custom resource's properties (as the construct writes them) from strategies for each kind of value."""
    values = st.fixed_dictionaries(
        {
            "endpoint_name": name,
            "role": st.just("arn:aws:iam::123456789012:role/shadow"),
            **_variant("production_variant", st.just("prod"), name, instance_type, count),
            **_variant("shadow_variant", name.filter(lambda n: n != "prod"), name, instance_type, count),
            "sampling_percentage": sampling,
            "description": text,
            "tags": st.dictionaries(tag_text, tag_text, max_size=3),
        }
    )
    return values.map(properties)


_instance_types = st.sampled_from(request_rules.allowed_instance_types())
#: Settings SageMaker accepts: the validator must accept every one of them.
_valid_properties = _settings(
    name=_name,
    text=_one_line,
    instance_type=_instance_types,
    count=st.integers(1, 20),
    sampling=st.integers(1, 100),
    tag_text=_tag_text,
)
#: Anything, valid or not.
_properties = st.one_of(
    _valid_properties,
    _settings(
        name=st.one_of(_name, st.text(max_size=70)),
        text=st.text(max_size=30),
        instance_type=st.one_of(_instance_types, st.text(max_size=12)),
        count=st.integers(-2, 20),
        sampling=st.integers(-5, 120),
        tag_text=st.text(max_size=8),
    ),
)


def _request_problems(spec) -> list[str]:
    request = spec.create_request(name="generated-name", now=NOW, owner_tags={"cdk-shadow-test:stack-id": "s"})
    return input_problems("CreateInferenceExperiment", _as_wire(request))


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_valid_properties)
def test_valid_settings_are_accepted_and_make_requests_the_model_accepts(props) -> None:
    spec = parse_properties(as_cloudformation_sends(props))
    assert request_rules.check_settings(_known(spec), now=NOW) == []
    assert _request_problems(spec) == []


_PROPS_ROOTS = {"endpoint_name", "role", "production_variant", "shadow_variant", "sampling_percentage", "schedule"}


def _known(spec) -> dict:
    """The spec's values as synth checks them: props left out are absent."""
    return {prop: value for prop, value in spec.values.items() if value is not None}


def _as_wire(value):
    """A request as it goes over the wire: datetimes as epoch seconds."""
    if isinstance(value, dict):
        return {k: _as_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_wire(v) for v in value]
    if isinstance(value, datetime):
        return value.timestamp()
    return value


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_properties)
def test_accepted_settings_make_requests_the_model_accepts(props) -> None:
    try:
        spec = parse_properties(as_cloudformation_sends(props))
    except InvalidProperties as refused:
        assert refused.problems and all(p.split(":")[0].split(".")[0] in _PROPS_ROOTS for p in refused.problems)
        return
    values = _known(spec)
    problems = request_rules.check_settings(values, now=NOW)
    model_problems = _request_problems(spec)
    if not problems:
        assert model_problems == []
    else:
        known = set(request_rules.PROP_MEMBERS) | {"schedule", "tags", "shadow_action_on_delete"}
        for problem in problems:
            prop = problem.split(":")[0].split("[")[0]
            assert prop in known or prop.startswith(("tags", "schedule")), problem
    if model_problems:
        # Anything SageMaker's model refuses, the validator refused first.
        assert problems


# --- settings of the stack's shared provider ------------------------------------------------

PROVIDER_SETTINGS = {
    "query_interval": (Duration.seconds(20), "20 s", "30 s"),
    "total_timeout": (Duration.minutes(30), "1800 s", "2700 s"),
    "log_retention": (RetentionDays.ONE_WEEK, "ONE_WEEK", "ONE_YEAR"),
}


@pytest.mark.parametrize("prop", list(PROVIDER_SETTINGS))
def test_a_provider_setting_that_differs_from_the_default_names_both_experiments_and_the_fix(prop) -> None:
    stack = Stack(App(analytics_reporting=False), "Shared")
    build(stack, endpoint_name="first-endpoint")  # leaves the setting out: the provider takes the default
    value, wanted, default = PROVIDER_SETTINGS[prop]
    with pytest.raises(ValidationError) as caught:
        ShadowTestExperiment(
            stack,
            "Second",
            endpoint_name="second-endpoint",
            production_variant=PROD,
            shadow_variant=SHADOW,
            data_capture=DataCapture(prefix="p"),
            **{prop: value},
        )
    message = str(caught.value)
    assert message.startswith("Shared/Second:")
    (problem,) = caught.value.problems
    assert problem.startswith(f"{prop}: {wanted} conflicts with {default}")
    assert "already set" not in message
    assert "the default" in problem and "Shared/Exp" in problem  # who made the provider, with nothing set
    assert "Shared/ShadowTestProvider" in problem
    assert f"set {prop}" in problem  # the fix


@pytest.mark.parametrize("prop", list(PROVIDER_SETTINGS))
def test_a_provider_setting_that_differs_from_another_experiments_names_that_experiment(prop) -> None:
    stack = Stack(App(analytics_reporting=False), "Shared")
    value, _wanted, _default = PROVIDER_SETTINGS[prop]
    first = build(stack, endpoint_name="first-endpoint", **{prop: value})
    other = {
        "query_interval": Duration.seconds(10),
        "total_timeout": Duration.minutes(20),
        "log_retention": RetentionDays.ONE_MONTH,
    }[prop]
    with pytest.raises(ValidationError) as caught:
        build(stack, endpoint_name="second-endpoint", **{prop: other})
    (problem,) = caught.value.problems
    assert f"set by {first.node.path}" in problem
    assert "the default" not in problem


def test_an_equal_provider_setting_on_a_second_experiment_is_accepted() -> None:
    stack = Stack(App(analytics_reporting=False), "Shared")
    build(stack, endpoint_name="first-endpoint", query_interval=Duration.seconds(20))
    build(stack, endpoint_name="second-endpoint", query_interval=Duration.seconds(20))
    build(stack, endpoint_name="third-endpoint")


# --- one experiment per endpoint across the app ----------------------------------------------

ONE_PER_ENDPOINT = r"SageMaker allows one active inference experiment per endpoint"


def test_two_experiments_on_one_literal_endpoint_in_one_stack_are_refused_at_synth_naming_both() -> None:
    app = App(analytics_reporting=False)
    stack = Stack(app, "Twice")
    first = build(stack, endpoint_name="shared-endpoint")
    second = build(stack, endpoint_name="shared-endpoint")
    with pytest.raises(Exception, match=ONE_PER_ENDPOINT) as caught:
        app.synth()
    message = str(caught.value)
    assert first.node.path in message and second.node.path in message
    assert "'shared-endpoint'" in message and "Fix:" in message


def test_two_experiments_on_the_same_endpoint_token_in_two_stacks_are_refused_at_synth() -> None:
    app = App(analytics_reporting=False)
    serving = Stack(app, "Serving")
    endpoint = CfnEndpoint(serving, "Endpoint", endpoint_config_name="config")
    ShadowTestExperiment(
        serving, "First", endpoint_name=endpoint.attr_endpoint_name, production_variant=PROD, shadow_variant=SHADOW
    )
    ShadowTestExperiment(
        Stack(app, "Testing"),
        "Second",
        endpoint_name=endpoint.attr_endpoint_name,
        production_variant=PROD,
        shadow_variant=SHADOW,
    )
    with pytest.raises(Exception, match=ONE_PER_ENDPOINT) as caught:
        app.synth()
    assert "Serving/First" in str(caught.value) and "Testing/Second" in str(caught.value)
    assert "the same token" in str(caught.value)


def test_a_stack_inside_a_stage_is_checked_against_the_apps_other_stacks() -> None:
    app = App(analytics_reporting=False)
    build(Stack(app, "Top"), endpoint_name="shared-endpoint")
    build(Stack(Stage(app, "Prod"), "Nested"), endpoint_name="shared-endpoint")
    with pytest.raises(Exception, match=ONE_PER_ENDPOINT) as caught:
        app.synth()
    assert re.search(r"Top/Exp\d+", str(caught.value)) and re.search(r"Prod/Nested/Exp\d+", str(caught.value))


def test_experiments_on_different_endpoints_or_different_tokens_pass_synth() -> None:
    app = App(analytics_reporting=False)
    stack = Stack(app, "Apart")
    build(stack, endpoint_name="endpoint-a")
    build(Stack(Stage(app, "Prod"), "Nested"), endpoint_name="endpoint-b")
    # Two tokens may resolve to one name, but synth never resolves them: the handler finds out at deploy.
    build(stack, endpoint_name=Token.as_string({"Ref": "One"}))
    build(stack, endpoint_name=Token.as_string({"Ref": "One"}))
    app.synth()


def test_every_patterned_prop_has_its_pattern_in_words_keyed_by_the_prop() -> None:
    patterned = {
        prop
        for prop, member in request_rules.PROP_MEMBERS.items()
        if request_rules.member_shape(member).metadata.get("pattern")
    }
    assert patterned == set(request_rules.PATTERN_WORDS)


def test_a_pattern_message_keeps_its_words_whatever_the_pattern_text() -> None:
    (problem,) = request_rules.check_member("endpoint_name", "bad_name!", "EndpointName")
    assert "letters, digits and hyphens, starting and ending with a letter or digit (pattern " in problem
    role = request_rules.check_member("role", "arn:aws:iam::123456789012:user/someone", "RoleArn")
    assert role and "an IAM role ARN (pattern " in role[-1]

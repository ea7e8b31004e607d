"""VariantMetrics, the monitoring mixin, the dashboard and the regression alarms."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import pytest
from aws_cdk import App, CfnParameter, Duration, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template
from constructs import Construct

from constructs_pkg.errors import ValidationError
from constructs_pkg.monitoring.experiment_monitoring import (
    DASHBOARD_ID,
    ERROR_RATE_ALARM_ID,
    LATENCY_ALARM_ID,
    MISSING_SHADOW_INVOCATIONS_ALARM_ID,
    ExperimentMonitoringMixin,
)
from constructs_pkg.monitoring.imported_experiment import ImportedShadowTestExperiment, import_experiment
from constructs_pkg.monitoring.metrics import ENDPOINT_INSTANCE_NAMESPACE, INVOCATION_NAMESPACE, VariantMetrics
from tests.synth import synth

EXPERIMENT = "churn-shadow"
ENDPOINT = "churn-endpoint"
PRODUCTION = "prod"
SHADOW = "shadow"


# -- the synthesized stack (once per module) ------------------------------------------


@dataclass
class Synthesized:
    template: Template
    stack: Stack
    experiment: ImportedShadowTestExperiment
    alarms: list[cloudwatch.Alarm]
    dashboard: cloudwatch.Dashboard


@pytest.fixture(scope="module")
def synthesized() -> Synthesized:
    built: dict[str, Any] = {}

    def build(stack: Stack) -> None:
        experiment = import_experiment(
            stack,
            "Imported",
            EXPERIMENT,
            endpoint_name=ENDPOINT,
            production_variant_name=PRODUCTION,
            shadow_variant_name=SHADOW,
        )
        built["dashboard"] = experiment.add_dashboard("churn-shadow-test")
        built["alarms"] = experiment.add_regression_alarms()
        topic = sns.Topic(stack, "Pager")
        for alarm in built["alarms"]:
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))
        built["experiment"] = experiment

    template, stack = synth(build)
    return Synthesized(template=template, stack=stack, **built)


def _parse_body(body: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(body, dict):  # Fn::Join around the region reference
        separator, parts = body["Fn::Join"]
        body = separator.join(part if isinstance(part, str) else "REGION" for part in parts)
    return json.loads(body)


def _dashboard_body(template: Template) -> dict[str, Any]:
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    return _parse_body(dashboard["Properties"]["DashboardBody"])


def _metric_lines(widget: dict[str, Any]) -> list[list[Any]]:
    return widget["properties"]["metrics"]


def _alarm(template: Template, construct_id: str) -> dict[str, Any]:
    (alarm,) = [
        resource["Properties"]
        for logical_id, resource in template.find_resources("AWS::CloudWatch::Alarm").items()
        if logical_id.startswith(f"Imported{construct_id}")
    ]
    return alarm


# -- dashboard ------------------------------------------------------------------------


def test_one_dashboard_named_as_given(synthesized: Synthesized) -> None:
    synthesized.template.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    synthesized.template.has_resource_properties("AWS::CloudWatch::Dashboard", {"DashboardName": "churn-shadow-test"})
    assert synthesized.experiment.node.find_child(DASHBOARD_ID) is synthesized.dashboard


def test_dashboard_starts_with_a_title_naming_the_experiment(synthesized: Synthesized) -> None:
    title = _dashboard_body(synthesized.template)["widgets"][0]
    assert title["type"] == "text"
    assert (title["x"], title["y"], title["width"]) == (0, 0, 24)
    markdown = title["properties"]["markdown"]
    assert markdown.startswith(f"# Shadow test {EXPERIMENT}")
    assert ENDPOINT in markdown and PRODUCTION in markdown and SHADOW in markdown


def test_dashboard_second_row_compares_the_variants(synthesized: Synthesized) -> None:
    ratio, delta = _dashboard_body(synthesized.template)["widgets"][1:3]
    assert ratio["y"] == delta["y"] and (ratio["x"], delta["x"]) == (0, 12)
    assert _metric_lines(ratio)[0][0]["expression"] == "shadowLatency / productionLatency"
    assert ratio["properties"]["annotations"]["horizontal"][0]["value"] == 1
    assert "FILL(shadowErrors, 0)" in _metric_lines(delta)[0][0]["expression"]


# One row per metric group: (title prefix, namespace, [(metric name, stat)]).
DASHBOARD_ROWS = [
    (
        "Model latency",
        INVOCATION_NAMESPACE,
        [("ModelLatency", "p50"), ("ModelLatency", "p90"), ("ModelLatency", "p99")],
    ),
    (
        "Errors",
        INVOCATION_NAMESPACE,
        [("Invocation4XXErrors", "Sum"), ("Invocation5XXErrors", "Sum"), ("InvocationModelErrors", "Sum")],
    ),
    ("Invocations", INVOCATION_NAMESPACE, [("Invocations", "Sum")]),
    (
        "Instance utilization",
        ENDPOINT_INSTANCE_NAMESPACE,
        [("CPUUtilization", "Average"), ("MemoryUtilization", "Average"), ("DiskUtilization", "Average")],
    ),
]


@pytest.mark.parametrize(("row", "expected"), list(enumerate(DASHBOARD_ROWS)), ids=[r[0] for r in DASHBOARD_ROWS])
def test_dashboard_shows_production_and_shadow_side_by_side(
    synthesized: Synthesized, row: int, expected: tuple[str, str, list[tuple[str, str]]]
) -> None:
    title, namespace, lines = expected
    widgets = _dashboard_body(synthesized.template)["widgets"]
    production, shadow = widgets[3 + 2 * row : 5 + 2 * row]
    assert production["y"] == shadow["y"] and (production["x"], shadow["x"]) == (0, 12)
    assert production["width"] == shadow["width"] == 12
    # CloudWatch's own defaults (Average, 300 s) are left out of the body.
    for widget, role, variant in ((production, "production", PRODUCTION), (shadow, "shadow", SHADOW)):
        assert widget["properties"]["title"] == f"{title} - {role} ({variant})"
        assert widget["properties"]["region"] == "REGION"
        assert [
            (line[0], line[1], line[2:6], line[6].get("stat", "Average"), line[6].get("period", 300))
            for line in _metric_lines(widget)
        ] == [(namespace, name, ["EndpointName", ENDPOINT, "VariantName", variant], stat, 300) for name, stat in lines]


def test_dashboard_has_nothing_else(synthesized: Synthesized) -> None:
    assert len(_dashboard_body(synthesized.template)["widgets"]) == 1 + 2 + 2 * len(DASHBOARD_ROWS)


def test_dashboard_period_is_applied_to_every_graph() -> None:
    stack = Stack(App(), "Periods")
    rows = _imported(stack).dashboard_widgets(period=Duration.minutes(1))
    dashboard = cloudwatch.Dashboard(stack, "Mine", widgets=rows)
    body = _parse_body(stack.resolve(dashboard.node.default_child.dashboard_body))
    periods = {
        (widget["properties"]["title"], option.get("period"))
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for line in _metric_lines(widget)
        for option in line
        if isinstance(option, dict) and "expression" not in option
    }
    assert {period for _title, period in periods} == {60}
    assert len({title for title, _period in periods}) == 2 + 2 * len(DASHBOARD_ROWS)


def test_add_dashboard_twice_is_an_error_naming_the_alternative() -> None:
    experiment = _imported(Stack(App(), "Twice"))
    experiment.add_dashboard()
    with pytest.raises(RuntimeError, match=r"already has a dashboard.*dashboard_widgets\(\)"):
        experiment.add_dashboard("another")


# -- alarms ---------------------------------------------------------------------------


def test_three_alarms_in_a_stable_order(synthesized: Synthesized) -> None:
    synthesized.template.resource_count_is("AWS::CloudWatch::Alarm", 3)
    assert [alarm.node.id for alarm in synthesized.alarms] == [
        LATENCY_ALARM_ID,
        ERROR_RATE_ALARM_ID,
        MISSING_SHADOW_INVOCATIONS_ALARM_ID,
    ]


def _variant_stat(variant: str, metric_name: str, stat: str, metric_id: str) -> dict[str, Any]:
    return Match.object_like(
        {
            "Id": metric_id,
            "ReturnData": False,
            "MetricStat": {
                "Metric": {
                    "Namespace": INVOCATION_NAMESPACE,
                    "MetricName": metric_name,
                    "Dimensions": [
                        {"Name": "EndpointName", "Value": ENDPOINT},
                        {"Name": "VariantName", "Value": variant},
                    ],
                },
                "Period": 300,
                "Stat": stat,
            },
        }
    )


ALARM_SHAPES = {
    LATENCY_ALARM_ID: (
        "shadowLatency / productionLatency",
        1.2,
        "GreaterThanThreshold",
        [
            _variant_stat(SHADOW, "ModelLatency", "p99", "shadowLatency"),
            _variant_stat(PRODUCTION, "ModelLatency", "p99", "productionLatency"),
        ],
    ),
    ERROR_RATE_ALARM_ID: (
        "100 * FILL(shadowErrors, 0) / shadowInvocations - 100 * FILL(productionErrors, 0) / productionInvocations",
        1,
        "GreaterThanThreshold",
        [
            _variant_stat(SHADOW, "Invocation5XXErrors", "Sum", "shadowErrors"),
            _variant_stat(SHADOW, "Invocations", "Sum", "shadowInvocations"),
            _variant_stat(PRODUCTION, "Invocation5XXErrors", "Sum", "productionErrors"),
            _variant_stat(PRODUCTION, "Invocations", "Sum", "productionInvocations"),
        ],
    ),
    MISSING_SHADOW_INVOCATIONS_ALARM_ID: (
        "IF(FILL(productionInvocations, 0) > 0 AND FILL(shadowInvocations, 0) == 0, 1, 0)",
        1,
        "GreaterThanOrEqualToThreshold",
        [
            _variant_stat(PRODUCTION, "Invocations", "Sum", "productionInvocations"),
            _variant_stat(SHADOW, "Invocations", "Sum", "shadowInvocations"),
        ],
    ),
}


@pytest.mark.parametrize("construct_id", list(ALARM_SHAPES))
def test_alarm_metric_math_threshold_and_operator(synthesized: Synthesized, construct_id: str) -> None:
    expression, threshold, operator, inputs = ALARM_SHAPES[construct_id]
    synthesized.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Threshold": threshold,
            "ComparisonOperator": operator,
            "EvaluationPeriods": 3,
            "DatapointsToAlarm": 3,
            "TreatMissingData": "notBreaching",
            "Metrics": Match.array_with([Match.object_like({"Expression": expression, "ReturnData": True}), *inputs]),
            "AlarmActions": [{"Ref": Match.string_like_regexp("^Pager")}],
        },
    )
    assert len(_alarm(synthesized.template, construct_id)["Metrics"]) == 1 + len(inputs)


@pytest.mark.parametrize(
    ("construct_id", "phrases"),
    [
        (LATENCY_ALARM_ID, ["p99 model latency", "1.2x", "do not promote", f"shadow-test report {EXPERIMENT}"]),
        (ERROR_RATE_ALARM_ID, ["5XX error rate", "1 percentage points", "do not promote", "logs"]),
        (MISSING_SHADOW_INVOCATIONS_ALARM_ID, ["received none", "sampling percentage", "shadow-test status"]),
    ],
)
def test_alarm_descriptions_say_what_happened_and_what_to_do(
    synthesized: Synthesized, construct_id: str, phrases: list[str]
) -> None:
    description = _alarm(synthesized.template, construct_id)["AlarmDescription"]
    assert description.startswith(f"Shadow test {EXPERIMENT}:")
    assert "3 of 3 periods of 5 minutes" in description
    for phrase in phrases:
        assert phrase in description


def _cfn_alarm(alarm: cloudwatch.Alarm) -> cloudwatch.CfnAlarm:
    child = alarm.node.default_child
    assert isinstance(child, cloudwatch.CfnAlarm)
    return child


def test_alarm_options_are_applied() -> None:
    experiment = _imported(Stack(App(), "Options"))
    alarms = experiment.add_regression_alarms(
        latency_ratio_threshold=1.5,
        error_rate_delta_threshold=0.5,
        alarm_on_missing_shadow_invocations=False,
        evaluation_periods=5,
        datapoints_to_alarm=2,
        period=Duration.minutes(1),
    )
    assert [alarm.node.id for alarm in alarms] == [LATENCY_ALARM_ID, ERROR_RATE_ALARM_ID]
    latency, errors = (_cfn_alarm(alarm) for alarm in alarms)
    assert (latency.threshold, errors.threshold) == (1.5, 0.5)
    assert {(c.evaluation_periods, c.datapoints_to_alarm) for c in (latency, errors)} == {(5, 2)}
    periods = {query.metric_stat.period for alarm in (latency, errors) for query in alarm.metrics if query.metric_stat}
    assert periods == {60}
    assert "2 of 5 periods of 1 minute" in latency.alarm_description


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"latency_ratio_threshold": 0}, "latency_ratio_threshold"),
        ({"error_rate_delta_threshold": -1}, "error_rate_delta_threshold"),
        ({"evaluation_periods": 0}, "evaluation_periods"),
        ({"evaluation_periods": 3, "datapoints_to_alarm": 4}, "datapoints_to_alarm"),
    ],
)
def test_invalid_alarm_options_are_rejected(kwargs: dict[str, Any], message: str) -> None:
    experiment = _imported(Stack(App(), "Invalid"))
    with pytest.raises(ValueError, match=message):
        experiment.add_regression_alarms(**kwargs)
    assert experiment.node.try_find_child(LATENCY_ALARM_ID) is None


def test_add_regression_alarms_twice_is_an_error() -> None:
    experiment = _imported(Stack(App(), "TwiceAlarms"))
    experiment.add_regression_alarms()
    with pytest.raises(RuntimeError, match="already has regression alarms"):
        experiment.add_regression_alarms()


def test_dashboard_and_alarms_coexist_with_distinct_ids(synthesized: Synthesized) -> None:
    ids = [child.node.id for child in synthesized.experiment.node.children]
    assert sorted(ids) == sorted(
        [DASHBOARD_ID, LATENCY_ALARM_ID, ERROR_RATE_ALARM_ID, MISSING_SHADOW_INVOCATIONS_ALARM_ID]
    )


# -- comparison metrics ---------------------------------------------------------------


def test_latency_ratio_statistic_and_overrides() -> None:
    experiment = _imported(Stack(App(), "Ratio"))
    ratio = experiment.metric_latency_ratio(statistic="p90", period=Duration.minutes(1), label="r", color="#000000")
    assert ratio.expression == "shadowLatency / productionLatency"
    assert (ratio.period.to_seconds(), ratio.label, ratio.color) == (60, "r", "#000000")
    assert {name: metric.statistic for name, metric in ratio.using_metrics.items()} == {
        "shadowLatency": "p90",
        "productionLatency": "p90",
    }
    assert experiment.metric_latency_ratio().label == "Shadow / production ModelLatency p99"


def test_error_rate_delta_uses_both_variants() -> None:
    experiment = _imported(Stack(App(), "Delta"))
    delta = experiment.metric_error_rate_delta()
    assert {
        name: (metric.metric_name, metric.dimensions["VariantName"]) for name, metric in delta.using_metrics.items()
    } == {
        "shadowErrors": ("Invocation5XXErrors", SHADOW),
        "shadowInvocations": ("Invocations", SHADOW),
        "productionErrors": ("Invocation5XXErrors", PRODUCTION),
        "productionInvocations": ("Invocations", PRODUCTION),
    }
    assert delta.period.to_minutes() == 5


# -- imported experiments and tokens --------------------------------------------------


def test_imported_experiment_attributes_and_arn() -> None:
    stack = Stack(App(), "Arn")
    experiment = _imported(stack)
    assert experiment.experiment_name == EXPERIMENT
    assert experiment.production == VariantMetrics(endpoint_name=ENDPOINT, variant_name=PRODUCTION)
    assert experiment.shadow == VariantMetrics(endpoint_name=ENDPOINT, variant_name=SHADOW)
    arn = json.dumps(stack.resolve(experiment.experiment_arn))
    assert f":inference-experiment/{EXPERIMENT}" in arn and "AWS::Region" in arn


def test_names_may_be_tokens() -> None:
    stack = Stack(App(), "Tokens")
    name = CfnParameter(stack, "ExperimentName").value_as_string
    endpoint = CfnParameter(stack, "EndpointName").value_as_string
    experiment = import_experiment(
        stack, "Imported", name, endpoint_name=endpoint, production_variant_name="a", shadow_variant_name="b"
    )
    (latency, *_) = experiment.add_regression_alarms()
    experiment.add_dashboard()
    cfn = _cfn_alarm(latency)
    resolved = json.dumps(stack.resolve([cfn.alarm_description, cfn.metrics]))
    assert '{"Ref": "ExperimentName"}' in resolved and '{"Ref": "EndpointName"}' in resolved
    assert Token.is_unresolved(experiment.production.endpoint_name)


# -- the mixin on other constructs ----------------------------------------------------


class _CustomExperiment(ExperimentMonitoringMixin, Construct):
    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        self.experiment_name = "custom"
        self.production = VariantMetrics(endpoint_name="ep", variant_name="blue")
        self.shadow = VariantMetrics(endpoint_name="ep", variant_name="green")


def test_mixin_works_with_the_jsii_construct_metaclass() -> None:
    assert type(_CustomExperiment) is type(Construct)  # jsii's metaclass won the MRO
    stack = Stack(App(), "Custom")
    custom = _CustomExperiment(stack, "Custom")
    assert Construct.is_construct(custom)
    assert custom.node.path == "Custom/Custom"
    dashboard = custom.add_dashboard()
    alarms = custom.add_regression_alarms()
    assert dashboard.node.scope is custom
    assert [alarm.node.path for alarm in alarms] == [
        f"Custom/Custom/{LATENCY_ALARM_ID}",
        f"Custom/Custom/{ERROR_RATE_ALARM_ID}",
        f"Custom/Custom/{MISSING_SHADOW_INVOCATIONS_ALARM_ID}",
    ]
    dimensions = json.dumps(stack.resolve(_cfn_alarm(alarms[0]).metrics))
    assert '"blue"' in dimensions and '"green"' in dimensions


def test_mixin_without_variants_explains_what_is_missing() -> None:
    class Incomplete(ExperimentMonitoringMixin, Construct):
        pass

    incomplete = Incomplete(Stack(App(), "Incomplete"), "Incomplete")
    with pytest.raises(AttributeError, match="must set `production` and `shadow`"):
        incomplete.add_dashboard()
    incomplete.production = incomplete.shadow = VariantMetrics(endpoint_name="e", variant_name="v")
    with pytest.raises(AttributeError, match="must set `experiment_name`"):
        incomplete.add_regression_alarms()


def test_mixin_outside_a_construct_is_a_type_error() -> None:
    class NotAConstruct(ExperimentMonitoringMixin):
        experiment_name = "x"
        production = VariantMetrics(endpoint_name="e", variant_name="p")
        shadow = VariantMetrics(endpoint_name="e", variant_name="s")

    with pytest.raises(TypeError, match=r"is not a constructs\.Construct"):
        NotAConstruct().add_regression_alarms()


# -- VariantMetrics -------------------------------------------------------------------

VARIANT = VariantMetrics(endpoint_name="my-endpoint", variant_name="my-variant")

METRIC_METHODS = [
    ("metric_invocations", "Invocations", INVOCATION_NAMESPACE, "Sum"),
    ("metric_model_latency", "ModelLatency", INVOCATION_NAMESPACE, "Average"),
    ("metric_overhead_latency", "OverheadLatency", INVOCATION_NAMESPACE, "Average"),
    ("metric_invocation_4xx_errors", "Invocation4XXErrors", INVOCATION_NAMESPACE, "Sum"),
    ("metric_invocation_5xx_errors", "Invocation5XXErrors", INVOCATION_NAMESPACE, "Sum"),
    ("metric_invocation_model_errors", "InvocationModelErrors", INVOCATION_NAMESPACE, "Sum"),
    ("metric_cpu_utilization", "CPUUtilization", ENDPOINT_INSTANCE_NAMESPACE, "Average"),
    ("metric_memory_utilization", "MemoryUtilization", ENDPOINT_INSTANCE_NAMESPACE, "Average"),
    ("metric_disk_utilization", "DiskUtilization", ENDPOINT_INSTANCE_NAMESPACE, "Average"),
]


@pytest.mark.parametrize(("method", "metric_name", "namespace", "statistic"), METRIC_METHODS)
def test_variant_metric_defaults(method: str, metric_name: str, namespace: str, statistic: str) -> None:
    metric = getattr(VARIANT, method)()
    assert isinstance(metric, cloudwatch.Metric)
    assert (metric.metric_name, metric.namespace, metric.statistic) == (metric_name, namespace, statistic)
    assert metric.dimensions == {"EndpointName": "my-endpoint", "VariantName": "my-variant"}
    assert metric.period.to_seconds() == 300


@pytest.mark.parametrize("method", [m[0] for m in METRIC_METHODS])
def test_variant_metric_overrides(method: str) -> None:
    metric = getattr(VARIANT, method)(
        statistic="p99",
        period=Duration.minutes(1),
        label="mine",
        color="#ff0000",
        unit=cloudwatch.Unit.MICROSECONDS,
        account="210987654321",
        region="eu-west-1",
    )
    assert (metric.statistic, metric.period.to_seconds(), metric.label, metric.color) == ("p99", 60, "mine", "#ff0000")
    assert (metric.unit, metric.account, metric.region) == (cloudwatch.Unit.MICROSECONDS, "210987654321", "eu-west-1")
    assert metric.dimensions == {"EndpointName": "my-endpoint", "VariantName": "my-variant"}


def test_dimensions_map_override_replaces_the_dimensions() -> None:
    metric = VARIANT.metric_invocations(dimensions_map={"EndpointName": "other"})
    assert metric.dimensions == {"EndpointName": "other"}


def test_generic_metric_defaults_and_namespace() -> None:
    metric = VARIANT.metric("GPUUtilization", namespace=ENDPOINT_INSTANCE_NAMESPACE)
    assert (metric.metric_name, metric.namespace, metric.statistic) == (
        "GPUUtilization",
        ENDPOINT_INSTANCE_NAMESPACE,
        "Average",
    )
    assert VARIANT.metric("ModelSetupTime").namespace == INVOCATION_NAMESPACE


def test_variant_metrics_is_a_frozen_keyword_only_value() -> None:
    assert VariantMetrics(endpoint_name="my-endpoint", variant_name="my-variant") == VARIANT
    assert (VARIANT.endpoint_name, VARIANT.variant_name) == ("my-endpoint", "my-variant")
    with pytest.raises(dataclasses.FrozenInstanceError):
        VARIANT.variant_name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        VariantMetrics("my-endpoint", "my-variant")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"endpoint_name": "", "variant_name": "v"}, ValueError),
        ({"endpoint_name": "e", "variant_name": "  "}, ValueError),
        ({"endpoint_name": "e", "variant_name": 3}, TypeError),
    ],
)
def test_variant_metrics_rejects_empty_names(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        VariantMetrics(**kwargs)


def test_variant_metrics_accepts_tokens() -> None:
    stack = Stack(App(), "VariantTokens")
    name = CfnParameter(stack, "Variant").value_as_string
    metric = VariantMetrics(endpoint_name="e", variant_name=name).metric_invocations()
    assert stack.resolve(metric.dimensions["VariantName"]) == {"Ref": "Variant"}


# -- helpers --------------------------------------------------------------------------


def _imported(stack: Stack) -> ImportedShadowTestExperiment:
    return import_experiment(
        stack,
        "Imported",
        EXPERIMENT,
        endpoint_name=ENDPOINT,
        production_variant_name=PRODUCTION,
        shadow_variant_name=SHADOW,
    )


def test_invalid_alarm_options_name_the_construct_path_and_every_option() -> None:
    experiment = _imported(Stack(App(), "InvalidAll"))
    with pytest.raises(ValidationError) as caught:
        experiment.add_regression_alarms(latency_ratio_threshold=0, evaluation_periods=0)
    assert str(caught.value).startswith(f"{experiment.node.path}:")
    assert caught.value.problems == [
        "latency_ratio_threshold: must be > 0 (got 0)",
        "evaluation_periods: must be >= 1 (got 0)",
    ]


@pytest.mark.parametrize("prop", ["endpoint_name", "production_variant_name", "shadow_variant_name"])
def test_an_imported_experiment_with_an_empty_name_names_its_path_and_the_prop(prop: str) -> None:
    names = {"endpoint_name": "e", "production_variant_name": "a", "shadow_variant_name": "b", prop: " "}
    with pytest.raises(ValidationError) as caught:
        import_experiment(Stack(App(), "EmptyName"), "Imported", "elsewhere", **names)
    assert str(caught.value).startswith("EmptyName/Imported:")
    (problem,) = caught.value.problems
    assert problem.startswith(f"{prop}: ")

"""add_automatic_conclusion at synth: rules, the default alarms, the evidence grant, validation."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk.assertions import Match, Template

from constructs_pkg import DataCapture, ModelVariant, ShadowTestExperiment, ValidationError


def _experiment(stack: Stack, id: str = "Shadow", **props: Any) -> ShadowTestExperiment:
    return ShadowTestExperiment(
        stack,
        id,
        endpoint_name=f"{id.lower()}-endpoint",
        production_variant=ModelVariant(variant_name="prod", model_name="m-a", instance_type="ml.m5.large"),
        shadow_variant=ModelVariant(variant_name="shadow", model_name="m-b", instance_type="ml.m5.large"),
        **props,
    )


@pytest.fixture(scope="module")
def template() -> Template:
    stack = Stack(App(), "Stack")
    before = _experiment(stack, "Before", data_capture=DataCapture(prefix="capture"))
    before.add_regression_alarms()  # called before: still watched
    before.add_automatic_conclusion(judge_every=Duration.minutes(30))
    _experiment(stack, "NoAlarms").add_automatic_conclusion(alarms=[])
    return Template.from_stack(stack)


def test_one_conclusion_function_per_stack(template: Template) -> None:
    template.resource_properties_count_is(
        "AWS::Lambda::Function", {"Handler": "shadow_test_core.verdict.conclusion_handler.handle"}, 1
    )


def test_a_schedule_rule_per_experiment_at_judge_every(template: Template) -> None:
    template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(30 minutes)"})
    template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(1 hour)"})


def test_alarm_rule_matches_exactly_the_regression_alarms_added_before(template: Template) -> None:
    rules = template.find_resources("AWS::Events::Rule", {"Properties": {"EventPattern": Match.any_value()}})
    (rule,) = rules.values()
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["CloudWatch Alarm State Change"] and pattern["detail"]["state"]["value"] == [
        "ALARM"
    ]
    alarms = sorted(ref["Fn::GetAtt"][0] for ref in pattern["resources"])
    assert len(alarms) == 2 and all("Regression" in alarm for alarm in alarms)


def test_evidence_defaults_to_the_capture_bucket_under_verdicts(template: Template) -> None:
    (policy,) = [
        p
        for p in template.find_resources("AWS::IAM::Policy").values()
        if "ShadowTestConclusionRole" in str(p["Properties"]["Roles"])
    ]
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"] if "Sid" in s}
    (resource,) = [statements["WriteConclusionEvidence"]["Resource"]]
    assert "/verdicts/*" in str(resource) and "BeforeCaptureBucket" in str(resource)
    stop = statements["ConcludeStackExperiments"]["Resource"]
    assert len(stop) == 2 and "*" not in str(stop)


@pytest.mark.parametrize(
    ("props", "problem"),
    [
        ({"judge_every": Duration.seconds(90)}, "judge_every: must be whole minutes"),
        ({"judge_every": Duration.minutes(2)}, "judge_every: must be at least one period"),
        ({"evidence_prefix": "verdicts"}, "evidence_prefix: must end with '/'"),
    ],
)
def test_invalid_props_name_the_prop(props: dict[str, Any], problem: str) -> None:
    stack = Stack(App(), "Invalid")
    with pytest.raises(ValidationError, match=problem):
        _experiment(stack).add_automatic_conclusion(**props)

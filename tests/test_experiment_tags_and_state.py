"""Tags like an L2 (the prop and ``cdk.Tags.of``) and ``desired_state`` on the synthesized resource."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Stack, Tags
from aws_cdk.assertions import Template

from constructs_pkg import DesiredState, ModelVariant, ShadowTestExperiment, ValidationError

PROD = ModelVariant(variant_name="prod", model_name="model-a", instance_type="ml.m5.large")
SHADOW = ModelVariant(variant_name="shadow", model_name="model-b", instance_type="ml.m5.large")


def _experiment(stack: Stack, id: str = "Shadow", **props: Any) -> ShadowTestExperiment:
    return ShadowTestExperiment(
        stack, id, endpoint_name="churn-endpoint", production_variant=PROD, shadow_variant=SHADOW, **props
    )


def _properties(template: Template) -> dict[str, Any]:
    (resource,) = template.find_resources("Custom::ShadowTestExperiment").values()
    return resource["Properties"]


@pytest.fixture(scope="module")
def tagged() -> dict[str, Any]:
    app = App(analytics_reporting=False)
    stack = Stack(app, "Tagged")
    _experiment(stack, tags={"team": "churn", "cost-center": "from-prop"}, desired_state=DesiredState.COMPLETED)
    Tags.of(stack).add("cost-center", "from-stack")
    Tags.of(stack).add("env", "prod")
    return _properties(Template.from_stack(stack))


def test_tags_of_the_stack_reach_the_experiment(tagged: dict[str, Any]) -> None:
    assert {"Key": "env", "Value": "prod"} in tagged["Tags"]


def test_the_tags_prop_wins_over_tags_of_on_the_same_key(tagged: dict[str, Any]) -> None:
    tags = {t["Key"]: t["Value"] for t in tagged["Tags"]}
    assert tags == {"team": "churn", "cost-center": "from-prop", "env": "prod"}


def test_desired_state_is_a_property_of_the_resource(tagged: dict[str, Any]) -> None:
    assert tagged["DesiredState"] == "Completed"


def test_no_desired_state_leaves_the_schedule_in_charge() -> None:
    stack = Stack(App(analytics_reporting=False), "Plain")
    _experiment(stack)
    assert "DesiredState" not in _properties(Template.from_stack(stack))


def test_the_tag_limit_counts_tags_of_the_stack_too() -> None:
    app = App(analytics_reporting=False)
    stack = Stack(app, "TooMany")
    _experiment(stack, tags={f"prop-{i}": "v" for i in range(40)})
    for i in range(9):
        Tags.of(stack).add(f"stack-{i}", "v")
    with pytest.raises(Exception, match=r"tags: at most 48 tags \(got 49\)"):
        app.synth()


def test_a_bad_tag_from_tags_of_is_refused_at_synth() -> None:
    app = App(analytics_reporting=False)
    stack = Stack(app, "BadTag")
    _experiment(stack)
    Tags.of(stack).add("team", "x" * 300)
    with pytest.raises(Exception, match=r"tags\['team'\]\.value: length must be"):
        app.synth()


def test_desired_state_of_the_wrong_type_names_the_prop() -> None:
    stack = Stack(App(analytics_reporting=False), "WrongType")
    with pytest.raises(ValidationError, match="desired_state: expected a DesiredState"):
        _experiment(stack, desired_state="Running")

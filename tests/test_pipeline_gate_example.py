"""examples/pipeline_gate.py synthesizes: the promotion stage waits for the verdict step."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App, Environment

from examples.pipeline_gate import EXPERIMENT_NAME, GATE_ROLE_NAME, PipelineGateStack

ENV = Environment(account="123456789012", region="us-east-1")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    app = App(outdir=str(tmp_path_factory.mktemp("pipeline")))
    stack = PipelineGateStack(
        app,
        "Gate",
        repository="owner/repo",
        connection_arn="arn:aws:codeconnections:us-east-1:123456789012:connection/abc",
        env=ENV,
    )
    assembly = app.synth()
    return {"template": assembly.get_stack_by_name(stack.stack_name).template, "assembly": assembly}


def test_promotion_stage_runs_only_after_the_verdict_step(pipeline: dict[str, Any]) -> None:
    (definition,) = [
        r["Properties"]
        for r in pipeline["template"]["Resources"].values()
        if r["Type"] == "AWS::CodePipeline::Pipeline"
    ]
    stages = [stage["Name"] for stage in definition["Stages"]]
    assert stages.index("Shadow") < stages.index("Promote")
    promote = next(stage for stage in definition["Stages"] if stage["Name"] == "Promote")
    verdict = next(action for action in promote["Actions"] if action["Name"] == "ShadowVerdict")
    deploys = [action for action in promote["Actions"] if action["Name"] != "ShadowVerdict"]
    assert deploys and all(action["RunOrder"] > verdict["RunOrder"] for action in deploys)


def test_verdict_step_runs_shadow_test_report(pipeline: dict[str, Any]) -> None:
    projects = [
        r["Properties"] for r in pipeline["template"]["Resources"].values() if r["Type"] == "AWS::CodeBuild::Project"
    ]
    specs = [json.loads(p["Source"]["BuildSpec"]) for p in projects if "BuildSpec" in p.get("Source", {})]
    commands = [c for spec in specs for c in spec["phases"]["build"]["commands"]]
    assert f"shadow-test report {EXPERIMENT_NAME} --json verdict.json" in commands


def test_gate_role_may_read_the_verdict(pipeline: dict[str, Any]) -> None:
    (shadow,) = [a for a in pipeline["assembly"].nested_assemblies if a.id.endswith("Shadow")]
    template = shadow.nested_assembly.stacks[0].template
    policies = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"]
    gate = [p for p in policies if p.get("Roles") == [GATE_ROLE_NAME]]
    actions = {a for p in gate for s in p["PolicyDocument"]["Statement"] for a in _list(s["Action"])}
    assert {"sagemaker:DescribeInferenceExperiment", "cloudwatch:GetMetricData"} <= actions


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]

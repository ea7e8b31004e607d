"""The example app: a snapshot of its template, determinism, and what it is made of."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from aws_cdk import App, Environment
from aws_cdk.assertions import Template
from syrupy.extensions.json import JSONSnapshotExtension

from examples.shadow_test_stack import ShadowTestExampleStack


def _synth_example() -> dict:
    app = App(analytics_reporting=False)
    stack = ShadowTestExampleStack(app, "ShadowTestExample", env=Environment(region="us-east-1"))
    return Template.from_stack(stack).to_json()


@pytest.fixture(scope="module")
def template() -> dict:
    return _synth_example()


@pytest.fixture
def json_snapshot(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


def test_example_template_matches_the_snapshot(template, json_snapshot) -> None:
    assert template == json_snapshot


def test_example_has_models_endpoint_and_one_experiment(template) -> None:
    types = [r["Type"] for r in template["Resources"].values()]
    assert types.count("AWS::SageMaker::Model") == 2
    assert types.count("AWS::SageMaker::EndpointConfig") == 1
    assert types.count("AWS::SageMaker::Endpoint") == 1
    assert types.count("Custom::ShadowTestExperiment") == 1
    assert any(
        o["Value"] == {"Fn::GetAtt": [k, "ExperimentArn"]}
        for o in template["Outputs"].values()
        for k in template["Resources"]
    )


@pytest.mark.slow
def test_synthesis_is_deterministic_across_processes(template, root) -> None:
    # A fresh interpreter, after the handler tests may have left bytecode around: same bytes.
    code = (
        "import json, sys; sys.path.insert(0, '.');"
        "from tests.test_example_app import _synth_example;"
        "print(json.dumps(_synth_example(), sort_keys=True))"
    )
    fresh = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert json.loads(fresh.stdout) == template

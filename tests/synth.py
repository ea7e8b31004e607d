"""Synthesizing stacks for tests: one ``App`` per stack, version reporting off (deterministic)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_cdk import App, Environment, Stack
from aws_cdk.assertions import Template

from constructs_pkg import DataCapture, ModelVariant, ShadowTestExperiment

ENV = Environment(account="123456789012", region="us-east-1")
#: Two variants of a classifier endpoint, for experiments whose variants do not matter to the test.
PROD = ModelVariant(variant_name="prod", model_name="model-a", instance_type="ml.m5.large")
SHADOW = ModelVariant(variant_name="shadow", model_name="model-b", instance_type="ml.m5.large")


def experiment(stack: Stack, id: str, data_capture: DataCapture | None, **props: Any) -> ShadowTestExperiment:
    """An experiment of ``PROD`` and ``SHADOW`` on the endpoint ``ep-<id>``."""
    return ShadowTestExperiment(
        stack,
        id,
        endpoint_name=f"ep-{id.lower()}",
        production_variant=PROD,
        shadow_variant=SHADOW,
        data_capture=data_capture,
        **props,
    )


def synth(build: Callable[[Stack], object], *, env: Environment | None = ENV) -> tuple[Template, Stack]:
    """Build a stack with ``build(stack)`` and return its template and the stack."""
    app = App(analytics_reporting=False)
    stack = Stack(app, "TestStack", env=env)
    build(stack)
    return Template.from_stack(stack), stack


def resources_of(template: Template, resource_type: str) -> dict[str, dict]:
    return template.find_resources(resource_type)


#: A script that synthesizes a stack "OneExperiment" of one experiment into the folder given as its
#: argument: for a synth in a fresh process (``python -c ONE_EXPERIMENT_APP OUTDIR``).
ONE_EXPERIMENT_APP = """
import sys
from aws_cdk import App, Stack
from constructs_pkg import ModelVariant, ShadowTestExperiment
app = App(analytics_reporting=False, outdir=sys.argv[1])
stack = Stack(app, "OneExperiment")
ShadowTestExperiment(stack, "Shadow", endpoint_name="e",
    production_variant=ModelVariant(variant_name="a", model_name="m-a", instance_type="ml.m5.large"),
    shadow_variant=ModelVariant(variant_name="b", model_name="m-b", instance_type="ml.m5.large"))
app.synth()
"""

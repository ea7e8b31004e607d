"""A CDK Pipelines gate: the promotion stage runs only when ``shadow-test report`` says promote.

The ``Shadow`` stage deploys the shadow test (with its automatic conclusion). The ``Promote``
stage, which would put the shadow's model into production, has a pre-step that runs
``shadow-test report NAME``: its exit code is 0 only when the verdict is promote (1 hold, 2 not
enough data), so any other verdict fails the step and stops the pipeline before promotion.
"""

from __future__ import annotations

from aws_cdk import Stack, Stage, pipelines
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_pkg import ModelVariant, ShadowTestExperiment

#: The experiment's name, fixed so the gate can name it.
EXPERIMENT_NAME = "churn-model-b-shadow"
#: The role the gate's CodeBuild project runs with, named so the shadow stage can grant it.
GATE_ROLE_NAME = "shadow-test-verdict-gate"


class ShadowTestStage(Stage):
    """The shadow test, its conclusion, and the gate role's read access to its verdict."""

    def __init__(self, scope: Construct, id: str, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        stack = Stack(self, "ShadowTest")
        experiment = ShadowTestExperiment(
            stack,
            "Churn",
            endpoint_name="churn-endpoint",
            experiment_name=EXPERIMENT_NAME,
            production_variant=ModelVariant(variant_name="prod", model_name="model-a", instance_type="ml.m5.large"),
            shadow_variant=ModelVariant(variant_name="shadow", model_name="model-b", instance_type="ml.m5.large"),
        )
        experiment.add_regression_alarms()
        experiment.add_automatic_conclusion()
        gate = iam.Role.from_role_name(stack, "Gate", GATE_ROLE_NAME)
        experiment.grant_read_verdict(gate)


class PromotionStage(Stage):
    """What promotion deploys (here an empty stack: your endpoint config naming the new model)."""

    def __init__(self, scope: Construct, id: str, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        Stack(self, "Production")


class PipelineGateStack(Stack):
    """The pipeline: synth, the shadow test, then promotion gated on the verdict."""

    def __init__(self, scope: Construct, id: str, *, repository: str, connection_arn: str, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        source = pipelines.CodePipelineSource.connection(repository, "main", connection_arn=connection_arn)
        pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            synth=pipelines.ShellStep("Synth", input=source, commands=["pip install .", "npx cdk synth"]),
        )
        pipeline.add_stage(ShadowTestStage(self, "Shadow"))
        gate_role = iam.Role(
            self,
            "GateRole",
            role_name=GATE_ROLE_NAME,
            assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
        )
        verdict = pipelines.CodeBuildStep(
            "ShadowVerdict",
            input=source,
            role=gate_role,
            commands=[
                "pip install .",
                # Exit 0 only on promote: hold (1) and not enough data (2) stop the promotion.
                f"shadow-test report {EXPERIMENT_NAME} --json verdict.json",
            ],
        )
        pipeline.add_stage(PromotionStage(self, "Promote"), pre=[verdict])

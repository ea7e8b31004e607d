"""One synth, run as its own process: ``python -m benchmarks.synth_app KIND COUNT OUTDIR``.

Builds a stack with ``COUNT`` shadow tests, each on its own endpoint, either with the
``ShadowTestExperiment`` construct (``construct``) or as the native resource, an L1
``CfnInferenceExperiment`` with a hand-written role granting the same permissions (``l1``); synthesizes
it into ``OUTDIR`` and prints one JSON line with the phases' times and the template's size.

The imports of ``aws_cdk`` and ``constructs_pkg`` happen inside the timed functions on purpose: in
a fresh process they are part of what ``cdk synth`` costs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT, REGION = "123456789012", "us-east-1"
STACK_NAME = "BenchStack"


def endpoint_name(index: int) -> str:
    return f"endpoint-{index:03d}"


def _cdk_context() -> dict[str, Any]:
    """The project's feature flags (cdk.json), so the stack synthesizes as the example app does."""
    return json.loads((ROOT / "cdk.json").read_text())["context"]


class ValidationTimer:
    """Wraps ``shadow_test_core.experiment.rules.check_settings`` (the construct's synth-time validation) to time its calls.

    The first call pays for importing botocore and reading its ``sagemaker`` service model.
    """

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.load_seconds = 0.0

    def install(self) -> None:
        started = time.perf_counter()
        from shadow_test_core.experiment import rules

        self.load_seconds = time.perf_counter() - started
        original: Callable[..., list[str]] = rules.check_settings

        def timed(*args: Any, **kwargs: Any) -> list[str]:
            begun = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.calls.append(time.perf_counter() - begun)

        rules.check_settings = timed


def build_construct_experiments(stack: Any, count: int) -> None:
    from constructs_pkg import ModelVariant, ShadowTestExperiment

    for index in range(count):
        ShadowTestExperiment(
            stack,
            f"Shadow{index:03d}",
            endpoint_name=endpoint_name(index),
            production_variant=ModelVariant(variant_name="prod", model_name="model-a", instance_type="ml.m5.large"),
            shadow_variant=ModelVariant(
                variant_name="shadow", model_name="model-b", instance_type="ml.c5.xlarge", instance_count=2
            ),
            sampling_percentage=40,
        )


def _l1_role(stack: Any, index: int) -> Any:
    """The role a user would write by hand: what SageMaker needs to run the test on one endpoint."""
    from aws_cdk import aws_iam as iam

    def arn(resource: str, name: str) -> str:
        return stack.format_arn(service="sagemaker", resource=resource, resource_name=name)

    document = iam.PolicyDocument(
        statements=[
            iam.PolicyStatement(
                actions=["sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpoint"],
                resources=[arn("endpoint", endpoint_name(index))],
            ),
            iam.PolicyStatement(
                actions=[
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:DeleteEndpointConfig",
                ],
                resources=[arn("endpoint-config", "*")],
            ),
            iam.PolicyStatement(
                actions=["sagemaker:DescribeModel"], resources=[arn("model", "model-a"), arn("model", "model-b")]
            ),
        ]
    )
    return iam.Role(
        stack,
        f"Shadow{index:03d}Role",
        assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
        inline_policies={"ShadowTest": document},
    )


def _l1_variant(variant_name: str, model_name: str, instance_type: str, instance_count: int) -> Any:
    from aws_cdk.aws_sagemaker import CfnInferenceExperiment as L1

    return L1.ModelVariantConfigProperty(
        variant_name=variant_name,
        model_name=model_name,
        infrastructure_config=L1.ModelInfrastructureConfigProperty(
            infrastructure_type="RealTimeInference",
            real_time_inference_config=L1.RealTimeInferenceConfigProperty(
                instance_type=instance_type, instance_count=instance_count
            ),
        ),
    )


def build_l1_experiments(stack: Any, count: int) -> None:
    from aws_cdk import CfnOutput
    from aws_cdk import aws_sagemaker as sagemaker

    for index in range(count):
        role = _l1_role(stack, index)
        experiment = sagemaker.CfnInferenceExperiment(
            stack,
            f"Shadow{index:03d}",
            name=f"shadow-{index:03d}",
            type="ShadowMode",
            endpoint_name=endpoint_name(index),
            role_arn=role.role_arn,
            model_variants=[
                _l1_variant("prod", "model-a", "ml.m5.large", 1),
                _l1_variant("shadow", "model-b", "ml.c5.xlarge", 2),
            ],
            shadow_mode_config=sagemaker.CfnInferenceExperiment.ShadowModeConfigProperty(
                source_model_variant_name="prod",
                shadow_model_variants=[
                    sagemaker.CfnInferenceExperiment.ShadowModelVariantConfigProperty(
                        shadow_model_variant_name="shadow", sampling_percentage=40
                    )
                ],
            ),
        )
        experiment.node.add_dependency(role)
        # The construct outputs its experiment's ARN; so does the hand-written version.
        CfnOutput(stack, f"Shadow{index:03d}Arn", value=experiment.attr_arn)


BUILDERS: dict[str, Callable[[Any, int], None]] = {
    "construct": build_construct_experiments,
    "l1": build_l1_experiments,
}


def template_facts(outdir: Path) -> dict[str, Any]:
    path = outdir / f"{STACK_NAME}.template.json"
    raw = path.read_bytes()
    template = json.loads(raw)
    resources = template.get("Resources", {})
    return {
        "resources": len(resources),
        "outputs": len(template.get("Outputs", {})),
        "template_bytes": len(raw),
        "template_bytes_minified": len(json.dumps(template, separators=(",", ":")).encode()),
        "resource_types": dict(sorted(Counter(r["Type"] for r in resources.values()).items())),
        "max_managed_policies_per_role": max(_managed_policies_per_role(resources).values(), default=0),
    }


def _managed_policies_per_role(resources: dict[str, Any]) -> Counter[str]:
    """IAM allows 10 managed policies per role (quota, up to 20): CDK's overflow policies count."""
    attached: Counter[str] = Counter()
    for resource in resources.values():
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            for role in resource.get("Properties", {}).get("Roles", []):
                attached[json.dumps(role, sort_keys=True)] += 1
    return attached


def _import_library(kind: str) -> None:
    """What the app's author imports: aws_cdk, and the construct library for ``construct``."""
    import aws_cdk  # noqa: F401

    if kind == "construct":
        import constructs_pkg  # noqa: F401


def run(kind: str, count: int, outdir: Path) -> dict[str, Any]:
    validation = ValidationTimer()
    started = time.perf_counter()
    _import_library(kind)
    imported = time.perf_counter()
    if kind == "construct":
        validation.install()
    from aws_cdk import App, Environment, Stack

    app = App(outdir=str(outdir), analytics_reporting=False, context=_cdk_context())
    stack = Stack(app, STACK_NAME, env=Environment(account=ACCOUNT, region=REGION))
    begun = time.perf_counter()
    BUILDERS[kind](stack, count)
    built = time.perf_counter()
    app.synth()
    synthesized = time.perf_counter()
    return {
        # Epoch seconds at the end of the work: the parent times the exit (jsii stops node) from it.
        "finished_at": time.time(),
        "kind": kind,
        "experiments": count,
        "import_seconds": imported - started,
        "build_seconds": built - begun,
        "synth_seconds": synthesized - built,
        "in_process_seconds": synthesized - started,
        "validation_calls": len(validation.calls),
        "validation_first_seconds": validation.calls[0] if validation.calls else 0.0,
        "validation_total_seconds": sum(validation.calls),
        "validation_module_load_seconds": validation.load_seconds,
        **template_facts(outdir),
    }


def main(argv: list[str]) -> int:
    kind, count, outdir = argv[0], int(argv[1]), Path(argv[2])
    if kind not in BUILDERS:
        raise SystemExit(f"kind must be one of {sorted(BUILDERS)}, got {kind!r}")
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    print(json.dumps(run(kind, count, outdir)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""What cfn-lint catches on the native ``AWS::SageMaker::InferenceExperiment`` before any deploy.

Each case is one bad value in an otherwise valid L1 template; the table says which cfn-lint
rules report it and what ``ShadowTestExperiment`` says at ``cdk synth`` for the same value.
Run: ``python -m benchmarks.l1_cfn_lint`` (writes the markdown table to stdout).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cfnlint import api

_VALID: dict[str, Any] = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Resources": {
        "Experiment": {
            "Type": "AWS::SageMaker::InferenceExperiment",
            "Properties": {
                "Name": "churn-shadow",
                "Type": "ShadowMode",
                "RoleArn": "arn:aws:iam::123456789012:role/shadow-runner",
                "EndpointName": "churn-endpoint",
                "ModelVariants": [
                    {
                        "ModelName": "model-a",
                        "VariantName": "prod",
                        "InfrastructureConfig": {
                            "InfrastructureType": "RealTimeInference",
                            "RealTimeInferenceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
                        },
                    },
                    {
                        "ModelName": "model-b",
                        "VariantName": "shadow",
                        "InfrastructureConfig": {
                            "InfrastructureType": "RealTimeInference",
                            "RealTimeInferenceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
                        },
                    },
                ],
                "ShadowModeConfig": {
                    "SourceModelVariantName": "prod",
                    "ShadowModelVariants": [{"ShadowModelVariantName": "shadow", "SamplingPercentage": 50}],
                },
            },
        }
    },
}


def _props(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]["Experiment"]["Properties"]


def _shadow_sampling(value: int) -> Callable[[dict[str, Any]], None]:
    def change(props: dict[str, Any]) -> None:
        props["ShadowModeConfig"]["ShadowModelVariants"][0]["SamplingPercentage"] = value

    return change


def _shadow_infrastructure(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(props: dict[str, Any]) -> None:
        props["ModelVariants"][1]["InfrastructureConfig"]["RealTimeInferenceConfig"][key] = value

    return change


@dataclass(frozen=True)
class Case:
    """One bad value: how it is written on the L1 resource and as the construct's prop."""

    what: str
    prop: str
    change: Callable[[dict[str, Any]], None]


CASES = (
    Case("name not matching the pattern", "experiment_name", lambda p: p.update(Name="churn_shadow!")),
    Case("51 tags", "tags", lambda p: p.update(Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])),
    Case("description of 1,025 characters", "description", lambda p: p.update(Description="d" * 1025)),
    Case("sampling 101%", "sampling_percentage", _shadow_sampling(101)),
    Case("unknown instance type", "shadow_variant.instance_type", _shadow_infrastructure("InstanceType", "ml.m5.huge")),
    Case("sampling 0%", "sampling_percentage", _shadow_sampling(0)),
    Case("instance count 0", "shadow_variant.instance_count", _shadow_infrastructure("InstanceCount", 0)),
    Case(
        "59-day schedule",
        "schedule",
        lambda p: p.update(Schedule={"StartTime": "2030-01-01T00:00:00Z", "EndTime": "2030-03-01T00:00:00Z"}),
    ),
)


def lint_rules(case: Case) -> list[str]:
    """The ids of the cfn-lint rules that report the case's bad value (none: it passes the lint)."""
    template = copy.deepcopy(_VALID)
    case.change(_props(template))
    matches = api.lint(json.dumps(template), regions=["us-east-1"])
    return sorted({match.rule.id for match in matches})


def baseline_is_clean() -> bool:
    return not api.lint(json.dumps(_VALID), regions=["us-east-1"])


def main() -> None:
    assert baseline_is_clean(), "the valid L1 template must lint clean"
    print("| bad value | cfn-lint on the L1 template | ShadowTestExperiment |")
    print("|---|---|---|")
    for case in CASES:
        rules = lint_rules(case)
        print(
            f"| {case.what} | {', '.join(rules) if rules else 'not caught'} | refused at synth, naming `{case.prop}` |"
        )


if __name__ == "__main__":
    main()

"""An inference experiment as ``DescribeInferenceExperiment`` reports it, for the verdict's readers.

The ``shadow-test`` CLI and the conclusion function read the same facts from the same response:
the variants (and the shadow's configuration, to promote it), the status and the schedule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shadow_test_core.experiment.sagemaker_api import described_values
from shadow_test_core.experiment.spec import stop_request
from shadow_test_core.experiment.statuses import ENDED

__all__ = ["TERMINAL_STATUSES", "ExperimentInfo", "VariantInfo", "parse_experiment", "stop_request_for"]

TERMINAL_STATUSES = ENDED
"""Experiment statuses after which nothing changes any more."""


@dataclass(frozen=True, kw_only=True)
class VariantInfo:
    """A model variant of the experiment, as ``DescribeInferenceExperiment`` reports it."""

    variant_name: str
    model_name: str | None = None
    instance_type: str | None = None
    instance_count: int | None = None
    status: str | None = None
    infrastructure_config: dict[str, Any] | None = None

    def model_variant_config(self) -> dict[str, Any]:
        """This variant as a ``ModelVariantConfig`` for ``StopInferenceExperiment``."""
        if self.model_name is None or self.infrastructure_config is None:
            raise ValueError(f"variant {self.variant_name!r} has no model or infrastructure configuration")
        return {
            "ModelName": self.model_name,
            "VariantName": self.variant_name,
            "InfrastructureConfig": self.infrastructure_config,
        }


@dataclass(frozen=True, kw_only=True)
class ExperimentInfo:
    """What ``shadow-test`` needs from ``DescribeInferenceExperiment``."""

    name: str
    arn: str | None
    status: str
    status_reason: str | None
    endpoint_name: str
    production: VariantInfo
    shadow: VariantInfo
    sampling_percentage: int | None
    schedule_start: datetime | None
    schedule_end: datetime | None
    completion_time: datetime | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_terminal(self) -> bool:
        """Whether the experiment is ``Completed`` or ``Cancelled``."""
        return self.status in TERMINAL_STATUSES


def parse_experiment(response: dict[str, Any]) -> ExperimentInfo:
    """Read a ``DescribeInferenceExperiment`` response of a ``ShadowMode`` experiment.

    The settings (variants, models, instances, sampling, schedule) are read by the core's
    ``described_values``, as the custom-resource handler reads them.
    """
    name = response["Name"]
    if response.get("Type", "ShadowMode") != "ShadowMode":
        raise ValueError(f"inference experiment {name!r} has type {response['Type']!r}, not ShadowMode")
    values = described_values(response)
    if not values["production_variant.variant_name"] or not values["shadow_variant.variant_name"]:
        raise ValueError(f"inference experiment {name!r} has no ShadowModeConfig with a shadow variant")
    statuses = {entry.get("VariantName"): entry for entry in response.get("ModelVariants", [])}

    def variant(prop: str) -> VariantInfo:
        variant_name = values[f"{prop}.variant_name"]
        entry = statuses.get(variant_name, {})
        return VariantInfo(
            variant_name=variant_name,
            model_name=values[f"{prop}.model_name"],
            instance_type=values[f"{prop}.instance_type"],
            instance_count=values[f"{prop}.instance_count"],
            status=entry.get("Status"),
            infrastructure_config=entry.get("InfrastructureConfig"),
        )

    return ExperimentInfo(
        name=name,
        arn=response.get("Arn"),
        status=response["Status"],
        status_reason=response.get("StatusReason"),
        endpoint_name=values["endpoint_name"],
        production=variant("production_variant"),
        shadow=variant("shadow_variant"),
        sampling_percentage=values["sampling_percentage"],
        schedule_start=values["schedule.start_time"],
        schedule_end=values["schedule.end_time"],
        completion_time=response.get("CompletionTime"),
        raw=response,
    )


def stop_request_for(
    experiment: ExperimentInfo,
    *,
    action: str,
    desired_state: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """The ``StopInferenceExperiment`` parameters that end ``experiment``.

    ``promote`` promotes the shadow variant (deployed with its own infrastructure configuration)
    and removes production; ``stop`` retains production and removes the shadow variant.
    """
    request = stop_request(
        name=experiment.name,
        production_variant=experiment.production.variant_name,
        shadow_variant=experiment.shadow.variant_name,
        action="Promote" if action == "promote" else "Remove",
        promoted=experiment.shadow.model_variant_config() if action == "promote" else None,
        desired_state=desired_state,
    )
    if reason:
        request["Reason"] = reason
    return request

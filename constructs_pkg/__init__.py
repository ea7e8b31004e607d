"""AWS CDK constructs for Amazon SageMaker shadow tests (``ShadowMode`` inference experiments).

Names are imported on first use (PEP 562), so the ``shadow-test`` CLI starts without loading
aws-cdk-lib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "AutomaticConclusion": "constructs_pkg.conclusion",
    "ConclusionFunction": "constructs_pkg.conclusion",
    "Margins": "shadow_test_core.verdict.judge",
    "CaptureTable": "constructs_pkg.capture_table",
    "DataCapture": "constructs_pkg.props",
    "DesiredState": "constructs_pkg.props",
    "ExperimentMonitoringMixin": "constructs_pkg.monitoring.experiment_monitoring",
    "ImportedShadowTestExperiment": "constructs_pkg.monitoring.imported_experiment",
    "ModelVariant": "constructs_pkg.props",
    "Schedule": "constructs_pkg.props",
    "ShadowTestExperiment": "constructs_pkg.experiment",
    "ShadowTestProvider": "constructs_pkg.provider",
    "ValidationError": "constructs_pkg.errors",
    "VariantAction": "constructs_pkg.props",
    "VariantMetrics": "constructs_pkg.monitoring.metrics",
}

__all__ = [
    "AutomaticConclusion",
    "CaptureTable",
    "ConclusionFunction",
    "DataCapture",
    "DesiredState",
    "ExperimentMonitoringMixin",
    "ImportedShadowTestExperiment",
    "Margins",
    "ModelVariant",
    "Schedule",
    "ShadowTestExperiment",
    "ShadowTestProvider",
    "ValidationError",
    "VariantAction",
    "VariantMetrics",
]
assert sorted(__all__) == sorted(_EXPORTS)

if TYPE_CHECKING:
    from constructs_pkg.capture_table import CaptureTable
    from constructs_pkg.conclusion import AutomaticConclusion, ConclusionFunction
    from constructs_pkg.errors import ValidationError
    from constructs_pkg.experiment import ShadowTestExperiment
    from constructs_pkg.monitoring.experiment_monitoring import ExperimentMonitoringMixin
    from constructs_pkg.monitoring.imported_experiment import ImportedShadowTestExperiment
    from constructs_pkg.monitoring.metrics import VariantMetrics
    from constructs_pkg.props import DataCapture, DesiredState, ModelVariant, Schedule, VariantAction
    from constructs_pkg.provider import ShadowTestProvider
    from shadow_test_core.verdict.judge import Margins


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'constructs_pkg' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

"""AWS CDK constructs for Amazon SageMaker shadow tests (``ShadowMode`` inference experiments).

The public API is ``_EXPORTS``, listed once: each name and the module that defines it. Names are
imported on first use (PEP 562), so the ``shadow-test`` CLI (``constructs_pkg.cli``) starts without
loading aws-cdk-lib and its Node.js process. The ``TYPE_CHECKING`` imports repeat them for type checkers
and editors only; tests/test_import_graph.py checks that they name the same modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "AutomaticConclusion": "constructs_pkg.conclusion",
    "CaptureTable": "constructs_pkg.capture_table",
    "ConclusionFunction": "constructs_pkg.conclusion",
    "DataCapture": "constructs_pkg.props",
    "DesiredState": "constructs_pkg.props",
    "ExperimentMonitoringMixin": "constructs_pkg.monitoring.experiment_monitoring",
    "ImportedShadowTestExperiment": "constructs_pkg.monitoring.imported_experiment",
    "Margins": "shadow_test_core.verdict.judge",
    "ModelVariant": "constructs_pkg.props",
    "Schedule": "constructs_pkg.props",
    "ShadowTestExperiment": "constructs_pkg.experiment",
    "ShadowTestProvider": "constructs_pkg.provider",
    "ValidationError": "constructs_pkg.errors",
    "VariantAction": "constructs_pkg.props",
    "VariantMetrics": "constructs_pkg.monitoring.metrics",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from constructs_pkg.capture_table import CaptureTable as CaptureTable
    from constructs_pkg.conclusion import (
        AutomaticConclusion as AutomaticConclusion,
    )
    from constructs_pkg.conclusion import (
        ConclusionFunction as ConclusionFunction,
    )
    from constructs_pkg.errors import ValidationError as ValidationError
    from constructs_pkg.experiment import ShadowTestExperiment as ShadowTestExperiment
    from constructs_pkg.monitoring.experiment_monitoring import ExperimentMonitoringMixin as ExperimentMonitoringMixin
    from constructs_pkg.monitoring.imported_experiment import (
        ImportedShadowTestExperiment as ImportedShadowTestExperiment,
    )
    from constructs_pkg.monitoring.metrics import VariantMetrics as VariantMetrics
    from constructs_pkg.props import (
        DataCapture as DataCapture,
    )
    from constructs_pkg.props import (
        DesiredState as DesiredState,
    )
    from constructs_pkg.props import (
        ModelVariant as ModelVariant,
    )
    from constructs_pkg.props import (
        Schedule as Schedule,
    )
    from constructs_pkg.props import (
        VariantAction as VariantAction,
    )
    from constructs_pkg.provider import ShadowTestProvider as ShadowTestProvider
    from shadow_test_core.verdict.judge import Margins as Margins


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'constructs_pkg' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

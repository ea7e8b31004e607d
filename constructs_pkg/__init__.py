"""AWS CDK constructs for Amazon SageMaker shadow tests (``ShadowMode`` inference experiments)."""

from constructs_pkg.data_capture import DataCapture
from constructs_pkg.errors import ValidationError
from constructs_pkg.experiment import ShadowTestExperiment
from constructs_pkg.provider import ShadowTestProvider
from constructs_pkg.schedule import Schedule
from constructs_pkg.variant import ModelVariant, VariantAction

__all__ = [
    "DataCapture",
    "ModelVariant",
    "Schedule",
    "ShadowTestExperiment",
    "ShadowTestProvider",
    "ValidationError",
    "VariantAction",
]

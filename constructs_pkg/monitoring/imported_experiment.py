"""A shadow test created elsewhere, referenced for its dashboard and alarms."""

from __future__ import annotations

from aws_cdk import Stack, Token
from constructs import Construct

from constructs_pkg.errors import ValidationError
from constructs_pkg.monitoring.experiment_monitoring import ExperimentMonitoringMixin
from constructs_pkg.monitoring.metrics import VariantMetrics

__all__ = ["ImportedShadowTestExperiment", "import_experiment"]


class ImportedShadowTestExperiment(ExperimentMonitoringMixin, Construct):
    """A shadow test created outside this CDK app, for monitoring only.

    Nothing is deployed for the experiment itself; ``add_dashboard`` and
    ``add_regression_alarms`` create resources as children of this construct.
    Prefer ``import_experiment`` (or
    ``ShadowTestExperiment.from_experiment_name``) to calling this directly.

    :param scope: scope of this construct.
    :param id: id of this construct.
    :param experiment_name: name of the inference experiment; may be a token.
    :param endpoint_name: name of the endpoint the experiment runs on; may be a token.
    :param production_variant_name: name of the production (source) variant; may be a token.
    :param shadow_variant_name: name of the shadow variant; may be a token.
    :raises ValidationError: naming this construct and every empty name.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        experiment_name: str,
        endpoint_name: str,
        production_variant_name: str,
        shadow_variant_name: str,
    ) -> None:
        super().__init__(scope, id)
        names = {
            "experiment_name": experiment_name,
            "endpoint_name": endpoint_name,
            "production_variant_name": production_variant_name,
            "shadow_variant_name": shadow_variant_name,
        }
        problems = [
            f"{prop}: must be a non-empty string or a token (got {value!r})"
            for prop, value in names.items()
            if not isinstance(value, str) or (not Token.is_unresolved(value) and not value.strip())
        ]
        if problems:
            raise ValidationError(self.node.path, problems)
        self.experiment_name = experiment_name
        self.endpoint_name = endpoint_name
        self.production = VariantMetrics(endpoint_name=endpoint_name, variant_name=production_variant_name)
        self.shadow = VariantMetrics(endpoint_name=endpoint_name, variant_name=shadow_variant_name)

    @property
    def experiment_arn(self) -> str:
        """ARN of the inference experiment, in this construct's stack account and region."""
        return Stack.of(self).format_arn(
            service="sagemaker",
            resource="inference-experiment",
            resource_name=self.experiment_name,
        )


def import_experiment(
    scope: Construct,
    id: str,
    experiment_name: str,
    *,
    endpoint_name: str,
    production_variant_name: str,
    shadow_variant_name: str,
) -> ImportedShadowTestExperiment:
    """Reference a shadow test created elsewhere, to add a dashboard and alarms to it.

    Exposed as ``ShadowTestExperiment.from_experiment_name``. All names may
    be tokens.
    """
    return ImportedShadowTestExperiment(
        scope,
        id,
        experiment_name=experiment_name,
        endpoint_name=endpoint_name,
        production_variant_name=production_variant_name,
        shadow_variant_name=shadow_variant_name,
    )

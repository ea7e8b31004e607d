"""A realistic stack: two models, an endpoint serving the first, and a shadow test of the second."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from constructs_pkg import DataCapture, ModelVariant, Schedule, ShadowTestExperiment

#: SageMaker's XGBoost image in us-east-1 (the region of the example).
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


class ShadowTestExampleStack(Stack):
    """Production model A on an endpoint; model B shadows it on 40% of the traffic for 3 days."""

    def __init__(self, scope: Construct, id: str, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        key = kms.Key(self, "Key", enable_key_rotation=True, description="Shadow test volumes and capture")
        artifacts = s3.Bucket(
            self,
            "ModelArtifacts",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            versioned=True,
        )
        model_role = iam.Role(self, "ModelRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
        artifacts.grant_read(model_role)
        model_a = self._model("ModelA", "churn-model-a", artifacts, model_role, "model-a/model.tar.gz")
        model_b = self._model("ModelB", "churn-model-b", artifacts, model_role, "model-b/model.tar.gz")

        config = sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            kms_key_id=key.key_arn,
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name="prod",
                    model_name=model_a.attr_model_name,
                    initial_instance_count=1,
                    instance_type="ml.m5.large",
                    initial_variant_weight=1.0,
                )
            ],
        )
        endpoint = sagemaker.CfnEndpoint(
            self, "Endpoint", endpoint_config_name=config.attr_endpoint_config_name, endpoint_name="churn-endpoint"
        )

        self.experiment = ShadowTestExperiment(
            self,
            "Shadow",
            endpoint_name=endpoint.attr_endpoint_name,
            production_variant=ModelVariant(
                variant_name="prod", model_name=model_a.attr_model_name, instance_type="ml.m5.large"
            ),
            shadow_variant=ModelVariant(
                variant_name="shadow",
                model_name=model_b.attr_model_name,
                instance_type="ml.c5.xlarge",
                instance_count=2,
            ),
            sampling_percentage=40,
            description="Churn model B shadowing model A",
            kms_key=key,
            data_capture=DataCapture(prefix="shadow-capture", kms_key=key),
            schedule=Schedule(duration=Duration.days(3)),
            artifact_buckets=[artifacts],
            tags={"team": "churn"},
        )

    def _model(
        self, id: str, name: str, artifacts: s3.IBucket, role: iam.IRole, key: str
    ) -> sagemaker.CfnModel:
        model = sagemaker.CfnModel(
            self,
            id,
            model_name=name,
            execution_role_arn=role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=XGBOOST_IMAGE, model_data_url=artifacts.s3_url_for_object(key)
            ),
        )
        model.node.add_dependency(role)
        return model

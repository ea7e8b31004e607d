"""A realistic stack: two models, an endpoint serving the first, and a shadow test of the second."""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnResource, Duration, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from constructs_pkg import DataCapture, ModelVariant, Schedule, ShadowTestExperiment, ShadowTestProvider

#: SageMaker's XGBoost image in us-east-1 (the region of the example).
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
#: The models' artifacts in the artifacts bucket.
MODEL_KEYS = {"ModelA": "model-a/model.tar.gz", "ModelB": "model-b/model.tar.gz"}


class ShadowTestExampleStack(Stack):
    """Production model A on an endpoint; model B shadows it on 40% of the traffic for 3 days."""

    def __init__(self, scope: Construct, id: str, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        # S3 server access logging through bucket policies, not ACLs (what `cdk init` sets in cdk.json).
        self.node.set_context("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", True)
        key = kms.Key(self, "Key", enable_key_rotation=True, description="Shadow test volumes, capture and logs")
        access_logs = self._access_logs_bucket()
        artifacts = s3.Bucket(
            self,
            "ModelArtifacts",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            versioned=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="model-artifacts/",
        )
        _acknowledge(artifacts, _SINGLE_REGION, "S3BucketReplicationEnabled")
        model_role = iam.Role(self, "ModelRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
        # Exactly the two artifacts, in a customer managed policy: no wildcard, no inline policy.
        model_policy = iam.ManagedPolicy(
            self,
            "ModelPolicy",
            roles=[model_role],
            statements=[
                iam.PolicyStatement(
                    actions=["s3:GetObject"], resources=[artifacts.arn_for_objects(k) for k in MODEL_KEYS.values()]
                ),
                iam.PolicyStatement(actions=["kms:Decrypt"], resources=[key.key_arn]),
            ],
        )
        model_a = self._model("ModelA", "churn-model-a", artifacts, model_role, model_policy)
        model_b = self._model("ModelB", "churn-model-b", artifacts, model_role, model_policy)

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

        # Before the first experiment: the provider's log groups encrypted with the stack's key.
        ShadowTestProvider.of(self, encryption_key=key)
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
            capture_access_logs_bucket=access_logs,
            capture_access_logs_prefix="shadow-capture/",
            schedule=Schedule(duration=Duration.days(3)),
            artifact_buckets=[artifacts],
            tags={"team": "churn"},
        )

    def _access_logs_bucket(self) -> s3.Bucket:
        """Where S3 writes the buckets' server access logs (S3-managed keys: logging supports no other)."""
        bucket = s3.Bucket(
            self,
            "AccessLogs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
        )
        # cdk-nag accepts a log destination without logging of its own; checkov does not.
        _acknowledge(bucket, _SINGLE_REGION, "S3BucketReplicationEnabled")
        _acknowledge(bucket, _LOGS_NEED_SSE_S3, "S3DefaultEncryptionKMS")
        assert isinstance(bucket.node.default_child, CfnResource)
        bucket.node.default_child.add_metadata("checkov", {"skip": [{"id": "CKV_AWS_18", "comment": _LOG_DESTINATION}]})
        return bucket

    def _model(
        self, id: str, name: str, artifacts: s3.IBucket, role: iam.IRole, policy: iam.ManagedPolicy
    ) -> sagemaker.CfnModel:
        model = sagemaker.CfnModel(
            self,
            id,
            model_name=name,
            execution_role_arn=role.role_arn,
            # The built-in XGBoost container needs no network: no calls out of the model's container.
            enable_network_isolation=True,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=XGBOOST_IMAGE, model_data_url=artifacts.s3_url_for_object(MODEL_KEYS[id])
            ),
        )
        # The role's ARN already orders the role first; the policy must be attached before the model.
        model.node.add_dependency(policy)
        return model


_SINGLE_REGION = (
    "Single-region example: the artifacts are rebuilt by the training pipeline and the access logs are "
    "operational records; cross-region replication is a disaster-recovery decision of a real deployment"
)
_LOG_DESTINATION = "This bucket is the destination of the server access logs; logging it would need another bucket"
_LOGS_NEED_SSE_S3 = "S3 server access logging delivers only to buckets encrypted with S3-managed keys (SSE-S3)"
_COMPLIANCE_PACKS = ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")


def _acknowledge(bucket: s3.Bucket, reason: str, rule: str) -> None:
    """Acknowledge ``rule`` of the HIPAA, NIST 800-53 rev 5 and PCI DSS packs on the bucket's resource."""
    Validations.of(bucket.node.default_child).acknowledge(
        *(Acknowledgment(id=f"{pack}::{pack}-{rule}", reason=reason) for pack in _COMPLIANCE_PACKS)
    )

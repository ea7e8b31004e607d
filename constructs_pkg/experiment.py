"""``ShadowTestExperiment``: a SageMaker shadow test as one CDK construct."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Annotations, CfnOutput, CustomResource, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from constructs_pkg._acknowledgements import EXPERIMENT, acknowledge_findings
from constructs_pkg.capture_access import CaptureAccessMixin
from constructs_pkg.data_capture import DataCapture
from constructs_pkg.metrics import VariantMetrics
from constructs_pkg.monitoring import ExperimentMonitoringMixin, import_experiment
from constructs_pkg.provider import ShadowTestProvider
from constructs_pkg.schedule import Schedule
from constructs_pkg.validation import check_props
from constructs_pkg.variant import ModelVariant, VariantAction

_SAGEMAKER = iam.ServicePrincipal("sagemaker.amazonaws.com")
_RESOURCE_TYPE = "Custom::ShadowTestExperiment"


class ShadowTestExperiment(ExperimentMonitoringMixin, CaptureAccessMixin, Construct):
    """A SageMaker shadow test (``ShadowMode`` inference experiment) on an existing endpoint.

    SageMaker copies ``sampling_percentage`` percent of the requests that the production variant
    serves to a shadow variant, whose responses are captured but never returned. The construct
    creates the experiment through a custom resource that handles create, update, replacement,
    delete and rollback; the role SageMaker assumes; KMS grants; an optional capture bucket; and
    a stack output holding the experiment's ARN.

    :param scope: the parent construct.
    :param id: the construct id.
    :param endpoint_name: the endpoint to shadow (a literal or a token).
    :param production_variant: the variant serving production traffic on that endpoint.
    :param shadow_variant: the variant that receives copies of the requests.
    :param sampling_percentage: the percentage (1-100) of requests copied to the shadow variant.
        Default: 100.
    :param experiment_name: the experiment's name. Changing it replaces the experiment.
        Default: a unique name generated at create time from the stack and construct.
    :param description: a description of the experiment. Default: none.
    :param role: the role SageMaker assumes to run the test. Default: a role granted exactly what
        the test needs (see README.md).
    :param kms_key: the key encrypting the storage volumes of the shadow variant's instances: a
        key, or a key ARN, key id, alias name or alias ARN. Default: AWS-managed encryption.
    :param data_capture: capture requests and responses to S3. Default: no capture.
    :param schedule: when the test runs. Default: starts at once and runs SageMaker's 7 days.
    :param shadow_action_on_delete: what happens to the shadow variant when the experiment is
        deleted. Default: ``VariantAction.REMOVE`` (the endpoint keeps only production).
    :param tags: tags of the experiment. Default: none.
    :param artifact_buckets: buckets holding the models' artifacts, readable by the role.
        Default: none.
    :param ecr_repositories: repositories holding the models' images, pullable by the role.
        Default: none.
    :param query_interval: time between two status polls while SageMaker works; shared by all
        experiments of the stack. Default: 30 seconds.
    :param total_timeout: how long a create, update or delete may take before it fails; shared
        by all experiments of the stack. Default: 45 minutes (CloudFormation allows one hour).
    :param log_retention: retention of the handler's logs. Default: one year.
    :param capture_bucket_removal_policy: what happens to a capture bucket the construct created
        when the stack is deleted. Default: ``RemovalPolicy.RETAIN`` (capture data is evidence).
    :param capture_access_logs_bucket: the bucket receiving the S3 server access logs of a capture
        bucket the construct creates (not of ``data_capture.bucket``). A bucket of the app gets the
        bucket-policy statement that lets S3 logging write; an imported one must allow it already.
        Default: no access logs (cdk-nag and checkov then report the capture bucket's logging).
    :param capture_access_logs_prefix: the key prefix of those access logs.
        Default: none (the root of ``capture_access_logs_bucket``).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint_name: str,
        production_variant: ModelVariant,
        shadow_variant: ModelVariant,
        sampling_percentage: int = 100,
        experiment_name: str | None = None,
        description: str | None = None,
        role: iam.IRole | None = None,
        kms_key: kms.IKey | str | None = None,
        data_capture: DataCapture | None = None,
        schedule: Schedule | None = None,
        shadow_action_on_delete: VariantAction = VariantAction.REMOVE,
        tags: Mapping[str, str] | None = None,
        artifact_buckets: Sequence[s3.IBucket] | None = None,
        ecr_repositories: Sequence[ecr.IRepository] | None = None,
        query_interval: Duration | None = None,
        total_timeout: Duration | None = None,
        log_retention: logs.RetentionDays | None = None,
        capture_bucket_removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        capture_access_logs_bucket: s3.IBucket | None = None,
        capture_access_logs_prefix: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        check_props(
            self,
            endpoint_name=endpoint_name,
            production_variant=production_variant,
            shadow_variant=shadow_variant,
            sampling_percentage=sampling_percentage,
            experiment_name=experiment_name,
            description=description,
            kms_key=kms_key,
            data_capture=data_capture,
            schedule=schedule,
            shadow_action_on_delete=shadow_action_on_delete,
            tags=tags,
        )
        self.endpoint_name = endpoint_name
        self.production_variant = production_variant
        self.shadow_variant = shadow_variant
        self.data_capture_bucket: s3.IBucket | None = None
        self.data_capture = data_capture  # read by grant_read_capture
        capture_destination = None
        if data_capture is not None:
            self.data_capture_bucket = data_capture.bucket or self._create_capture_bucket(
                data_capture.kms_key,
                capture_bucket_removal_policy,
                access_logs_bucket=capture_access_logs_bucket,
                access_logs_prefix=capture_access_logs_prefix,
            )
            prefix = (data_capture.prefix or "").strip("/")
            capture_destination = f"s3://{self.data_capture_bucket.bucket_name}/{prefix}".rstrip("/")
        if capture_access_logs_bucket is not None and (data_capture is None or data_capture.bucket is not None):
            Annotations.of(self).add_warning_v2(
                "shadow-test:capture-access-logs-unused",
                "capture_access_logs_bucket applies only to a capture bucket the construct creates: it is ignored",
            )

        self.role: iam.IRole = role or iam.Role(
            self,
            "Role",
            assumed_by=_SAGEMAKER,
            description="Assumed by SageMaker to run a shadow test on one endpoint",
        )
        if role is None:
            self._grant_shadow_test(capture_destination_prefix=(data_capture.prefix if data_capture else None))
        _grant_key_use(self, self.role, kms_key, _VOLUME_KEY_ACTIONS, "VolumeKey")
        if data_capture is not None and data_capture.kms_key is not None:
            data_capture.kms_key.grant(self.role, *_CAPTURE_KEY_ACTIONS)
        for bucket in artifact_buckets or ():
            bucket.grant_read(self.role)
        for repository in ecr_repositories or ():
            repository.grant_pull(self.role)

        provider = ShadowTestProvider.of(
            self, query_interval=query_interval, total_timeout=total_timeout, log_retention=log_retention
        )
        provider.grant_experiment(role=self.role)
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type=_RESOURCE_TYPE,
            properties=_resource_properties(
                endpoint_name=endpoint_name,
                role_arn=self.role.role_arn,
                production_variant=production_variant,
                shadow_variant=shadow_variant,
                sampling_percentage=sampling_percentage,
                experiment_name=experiment_name,
                description=description,
                kms_key=_key_reference(kms_key),
                capture_destination=capture_destination,
                data_capture=data_capture,
                schedule=schedule,
                shadow_action_on_delete=shadow_action_on_delete,
                tags=tags,
            ),
        )
        # SageMaker must be allowed to use everything before the experiment starts: wait for the
        # role's policy (the role itself is already referenced through RoleArn).
        role_policy = self.role.node.try_find_child("DefaultPolicy")
        if role_policy is not None:
            self.resource.node.add_dependency(role_policy)
        self.experiment_arn: str = self.resource.get_att_string("ExperimentArn")
        self.experiment_name: str = self.resource.ref
        CfnOutput(
            self, "ExperimentArn", value=self.experiment_arn, description=f"ARN of the shadow test {self.node.path}"
        )
        # cdk-nag findings and checkov checks on the construct's own resources, with reasons (docs/security.md).
        acknowledge_findings(self, EXPERIMENT)
        #: CloudWatch metrics of each variant (see ``add_dashboard``, ``add_regression_alarms``).
        self.production = VariantMetrics(endpoint_name=endpoint_name, variant_name=production_variant.variant_name)
        self.shadow = VariantMetrics(endpoint_name=endpoint_name, variant_name=shadow_variant.variant_name)

    #: Reference a shadow test created elsewhere (``from_experiment_name(scope, id, experiment_name, *,
    #: endpoint_name, production_variant_name, shadow_variant_name)``), with the same metric,
    #: dashboard and alarm helpers.
    from_experiment_name = staticmethod(import_experiment)

    def _create_capture_bucket(
        self,
        key: kms.IKey | None,
        removal_policy: RemovalPolicy,
        *,
        access_logs_bucket: s3.IBucket | None,
        access_logs_prefix: str | None,
    ) -> s3.Bucket:
        """Private, TLS-only, encrypted (with the capture key when given), versioned, owner-enforced."""
        return s3.Bucket(
            self,
            "CaptureBucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.KMS if key else s3.BucketEncryption.S3_MANAGED,
            encryption_key=key,
            bucket_key_enabled=True if key else None,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            removal_policy=removal_policy,
            auto_delete_objects=False,
            server_access_logs_bucket=access_logs_bucket,
            server_access_logs_prefix=access_logs_prefix,
        )

    def _arn(self, resource: str, name: str) -> str:
        # SageMaker writes resource names lower-case in ARNs; a token is used as it resolves.
        resource_name = name if Token.is_unresolved(name) else name.lower()
        return Stack.of(self).format_arn(service="sagemaker", resource=resource, resource_name=resource_name)

    def _endpoint_arns(self) -> list[str]:
        return [self._arn("endpoint", self.endpoint_name)]

    def _grant_shadow_test(self, *, capture_destination_prefix: str | None) -> None:
        """What SageMaker does with the role: run the shadow variant on this endpoint."""
        policy = [
            iam.PolicyStatement(
                sid="ManageShadowVariantOnEndpoint",
                actions=["sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpoint"],
                resources=self._endpoint_arns(),
            ),
            iam.PolicyStatement(
                sid="ManageEndpointConfigs",
                actions=[
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:DeleteEndpointConfig",
                ],
                resources=[self._arn("endpoint-config", "*")],
            ),
            iam.PolicyStatement(
                sid="DescribeVariantModels",
                actions=["sagemaker:DescribeModel"],
                # Deduplicated in variant order: sorting would order token strings by token number,
                # which differs between syntheses in one process (non-deterministic templates).
                resources=list(
                    dict.fromkeys(
                        self._arn("model", v.model_name) for v in (self.production_variant, self.shadow_variant)
                    )
                ),
            ),
        ]
        if self.data_capture_bucket is not None:
            prefix = (capture_destination_prefix or "").strip("/")
            objects = f"{prefix}/*" if prefix else "*"
            policy.append(
                iam.PolicyStatement(
                    sid="WriteCapturedData",
                    actions=["s3:PutObject"],
                    resources=[self.data_capture_bucket.arn_for_objects(objects)],
                )
            )
            bucket_key = self.data_capture_bucket.encryption_key
            if bucket_key is not None:
                bucket_key.grant(self.role, *_CAPTURE_KEY_ACTIONS)
        for statement in policy:
            self.role.add_to_principal_policy(statement)


_VOLUME_KEY_ACTIONS = ("kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey")
_CAPTURE_KEY_ACTIONS = ("kms:Encrypt", "kms:GenerateDataKey")


def _key_reference(key: kms.IKey | str | None) -> str | None:
    if key is None or isinstance(key, str):
        return key
    return key.key_arn


def _grant_key_use(
    scope: Construct, role: iam.IRole, key: kms.IKey | str | None, actions: Sequence[str], sid: str
) -> None:
    """Grant ``actions`` on a key given as an ``IKey`` or as a key ARN, key id, alias or alias ARN."""
    if key is None:
        return
    if not isinstance(key, str):
        key.grant(role, *actions)
        return
    stack = Stack.of(scope)
    if Token.is_unresolved(key) or (key.startswith("arn:") and ":key/" in key):
        statement = iam.PolicyStatement(sid=sid, actions=list(actions), resources=[key])
    elif key.startswith("alias/") or ":alias/" in key:
        alias = "alias/" + key.split(":alias/", 1)[-1].removeprefix("alias/")
        statement = iam.PolicyStatement(
            sid=sid,
            actions=list(actions),
            resources=[stack.format_arn(service="kms", resource="key", resource_name="*")],
            conditions={"ForAnyValue:StringEquals": {"kms:ResourceAliases": [alias]}},
        )
    else:
        key_arn = stack.format_arn(service="kms", resource="key", resource_name=key)
        statement = iam.PolicyStatement(sid=sid, actions=list(actions), resources=[key_arn])
    role.add_to_principal_policy(statement)


def _variant_properties(variant: ModelVariant) -> dict[str, Any]:
    return {
        "VariantName": variant.variant_name,
        "ModelName": variant.model_name,
        "InstanceType": variant.instance_type,
        "InstanceCount": variant.instance_count,
    }


def _resource_properties(
    *,
    endpoint_name: str,
    role_arn: str,
    production_variant: ModelVariant,
    shadow_variant: ModelVariant,
    sampling_percentage: int,
    experiment_name: str | None,
    description: str | None,
    kms_key: str | None,
    capture_destination: str | None,
    data_capture: DataCapture | None,
    schedule: Schedule | None,
    shadow_action_on_delete: VariantAction,
    tags: Mapping[str, str] | None,
) -> dict[str, Any]:
    """The custom resource's properties; the handler parses them back (as strings)."""
    properties: dict[str, Any] = {
        "EndpointName": endpoint_name,
        "RoleArn": role_arn,
        "ProductionVariant": _variant_properties(production_variant),
        "ShadowVariant": _variant_properties(shadow_variant),
        "SamplingPercentage": sampling_percentage,
        "ShadowActionOnDelete": shadow_action_on_delete.value,
    }
    optional = {"ExperimentName": experiment_name, "Description": description, "KmsKey": kms_key}
    properties.update({k: v for k, v in optional.items() if v is not None})
    if data_capture is not None and capture_destination is not None:
        capture: dict[str, Any] = {"Destination": capture_destination}
        if data_capture.kms_key is not None:
            capture["KmsKey"] = data_capture.kms_key.key_arn
        if data_capture.json_content_types:
            capture["JsonContentTypes"] = list(data_capture.json_content_types)
        if data_capture.csv_content_types:
            capture["CsvContentTypes"] = list(data_capture.csv_content_types)
        properties["DataCapture"] = capture
    if schedule is not None:
        timing: dict[str, Any] = {}
        if schedule.start_time is not None:
            timing["StartTime"] = schedule.start_time.isoformat()
        if schedule.end_time is not None:
            timing["EndTime"] = schedule.end_time.isoformat()
        if schedule.duration is not None:
            timing["DurationSeconds"] = int(schedule.duration.to_seconds())
        if timing:
            properties["Schedule"] = timing
    if tags:
        properties["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
    return properties

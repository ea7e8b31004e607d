"""The statements of an experiment's role and of the capture and access-log buckets' policies."""

from __future__ import annotations

from constructs_pkg.capture_table import RESULTS_FOLDER
from constructs_pkg.security.declaration import IDENTITY, RESOURCE, Condition, Statement, trust

_EXPERIMENT_ROLE = "{experiment}/Role"
_CAPTURE_BUCKET = "{experiment}/CaptureBucket"
_CAPTURE_LOG_BUCKET = "{experiment}/CaptureAccessLogs"
_CAPTURE_TABLE = "{experiment}/CaptureTable"
_GLUE_ARN = "arn:{partition}:glue:{region}:{account}"
_SAGEMAKER_ARN = "arn:{partition}:sagemaker:{region}:{account}"
_KEY_ARN = "arn:{partition}:kms:{region}:{account}:key"
_VOLUME_KEY_ACTIONS = ("kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey")
_ALIAS = Condition(operator="ForAnyValue:StringEquals", key="kms:ResourceAliases", values=("alias/{given}",))
_NO_TLS = Condition(operator="Bool", key="aws:SecureTransport", values=("false",))


def _tls_only(bucket: str, name: str, when: str) -> Statement:
    return Statement(
        sid="TlsOnly",
        policy_of=bucket,
        kind=RESOURCE,
        actions=("s3:*",),
        resources=(f"<{bucket}.Arn>", f"<{bucket}.Arn>/*"),
        principal="AWS:*",
        effect="Deny",
        conditions=(_NO_TLS,),
        why=f"Refuse every request to the {name} that does not use TLS (enforce_ssl)",
        when=when,
        written_by="aws-cdk-lib: s3.Bucket(enforce_ssl=True)",
    )


def _log_delivery(policy_of: str, objects: str, why: str, when: str) -> Statement:
    return Statement(
        sid="S3ServerAccessLogsPolicy",
        policy_of=policy_of,
        kind=RESOURCE,
        actions=("s3:PutObject",),
        resources=(objects,),
        principal="Service:logging.s3.amazonaws.com",
        conditions=(
            Condition(operator="ArnLike", key="aws:SourceArn", values=(f"<{_CAPTURE_BUCKET}.Arn>",)),
            Condition(operator="StringEquals", key="aws:SourceAccount", values=("{account}",)),
        ),
        why=why,
        wildcard="S3 server access logging chooses the log objects' keys under the prefix",
        when=when,
        written_by="aws-cdk-lib: s3.Bucket(server_access_logs_bucket=...), with the feature flag "
        "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy",
    )


# --- the role SageMaker assumes to run an experiment (not created when ``role`` is given) ----------

EXPERIMENT_TRUST = trust(
    _EXPERIMENT_ROLE, "Service:sagemaker.amazonaws.com", "SageMaker assumes the role to run the shadow test"
)
SHADOW_VARIANT_ON_ENDPOINT = Statement(
    sid="ManageShadowVariantOnEndpoint",
    policy_of=_EXPERIMENT_ROLE,
    kind=IDENTITY,
    actions=("sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpoint"),
    resources=(f"{_SAGEMAKER_ARN}:endpoint/{{given}}",),
    why="SageMaker adds the shadow variant to the one endpoint, and removes or promotes it",
)
ENDPOINT_CONFIGS = Statement(
    sid="ManageEndpointConfigs",
    policy_of=_EXPERIMENT_ROLE,
    kind=IDENTITY,
    actions=("sagemaker:CreateEndpointConfig", "sagemaker:DescribeEndpointConfig", "sagemaker:DeleteEndpointConfig"),
    resources=(f"{_SAGEMAKER_ARN}:endpoint-config/*",),
    why="SageMaker creates the endpoint configurations that hold the shadow variant",
    wildcard="SageMaker names the endpoint configurations it creates for the experiment itself, so their ARNs are "
    "unknown at synth; the statement is limited to endpoint configurations of this account and region",
)
VARIANT_MODELS = Statement(
    sid="DescribeVariantModels",
    policy_of=_EXPERIMENT_ROLE,
    kind=IDENTITY,
    actions=("sagemaker:DescribeModel",),
    resources=(f"{_SAGEMAKER_ARN}:model/{{given}}",),
    why="SageMaker reads the two variants' models",
)
WRITE_CAPTURED_DATA = Statement(
    sid="WriteCapturedData",
    policy_of=_EXPERIMENT_ROLE,
    kind=IDENTITY,
    actions=("s3:PutObject",),
    resources=(f"<{_CAPTURE_BUCKET}.Arn>/{{prefix}}*", "{given}/{prefix}*"),
    why="SageMaker writes captured requests and responses under the capture prefix",
    wildcard="SageMaker chooses the keys of captured data under the capture prefix (endpoint, variant, date and "
    "time), so the statement allows s3:PutObject on that prefix of the capture bucket only",
    when="data_capture given",
)
CAPTURE_KEY = Statement(
    sid="CaptureKey",
    policy_of=_EXPERIMENT_ROLE,
    kind=IDENTITY,
    actions=("kms:Encrypt", "kms:GenerateDataKey"),
    resources=("{given}",),
    why="SageMaker encrypts captured data with data_capture.kms_key, or with the given capture bucket's key",
    when="a capture key",
    written_by="aws-cdk-lib: kms.IKey.grant(role, *these actions)",
)
VOLUME_KEY = Statement(
    sid="VolumeKey",
    policy_of=_EXPERIMENT_ROLE,
    kind=IDENTITY,
    actions=_VOLUME_KEY_ACTIONS,
    resources=("{given}",),
    why="The shadow variant's instances encrypt their storage volumes with kms_key",
    when="kms_key given as a key",
    written_by="aws-cdk-lib: kms.IKey.grant(role, *these actions)",
)
VOLUME_KEY_BY_ARN = Statement(
    sid="VolumeKey",
    policy_of=_EXPERIMENT_ROLE,
    kind=IDENTITY,
    actions=_VOLUME_KEY_ACTIONS,
    resources=("{given}",),
    why="The same for kms_key given as a key ARN (or a token)",
    when="kms_key given as a key ARN",
)
VOLUME_KEY_BY_ID = Statement(
    sid="VolumeKey",
    policy_of=_EXPERIMENT_ROLE,
    kind=IDENTITY,
    actions=_VOLUME_KEY_ACTIONS,
    resources=(f"{_KEY_ARN}/{{given}}",),
    why="The same for kms_key given as a key id: the key of that id in the stack's account and region",
    when="kms_key given as a key id",
)
VOLUME_KEY_BY_ALIAS = Statement(
    sid="VolumeKey",
    policy_of=_EXPERIMENT_ROLE,
    kind=IDENTITY,
    actions=_VOLUME_KEY_ACTIONS,
    resources=(f"{_KEY_ARN}/*",),
    conditions=(_ALIAS,),
    why="The same for kms_key given as an alias: only the key that carries that alias",
    wildcard="A key given by alias has a key id unknown at synth; the kms:ResourceAliases condition limits the "
    "statement to the key that carries the alias",
    when="kms_key given as an alias",
)
_EXPERIMENT_STATEMENTS = (
    EXPERIMENT_TRUST,
    SHADOW_VARIANT_ON_ENDPOINT,
    ENDPOINT_CONFIGS,
    VARIANT_MODELS,
    WRITE_CAPTURED_DATA,
    CAPTURE_KEY,
    VOLUME_KEY,
    VOLUME_KEY_BY_ARN,
    VOLUME_KEY_BY_ID,
    VOLUME_KEY_BY_ALIAS,
    Statement(
        sid="ReadArtifacts",
        policy_of=_EXPERIMENT_ROLE,
        kind=IDENTITY,
        actions=("s3:GetObject*", "s3:GetBucket*", "s3:List*"),
        resources=("{given}", "{given}/*"),
        why="SageMaker reads the model artifacts in artifact_buckets",
        wildcard="aws-cdk-lib's Bucket.grant_read on each bucket passed as artifact_buckets: read actions on that "
        "bucket and its objects, whose keys the models' artifact URLs choose",
        when="artifact_buckets given",
        written_by="aws-cdk-lib: s3.IBucket.grant_read",
    ),
    Statement(
        sid="ReadArtifactsKey",
        policy_of=_EXPERIMENT_ROLE,
        kind=IDENTITY,
        actions=("kms:Decrypt", "kms:DescribeKey"),
        resources=("{given}",),
        why="Read artifacts from an artifact bucket encrypted with a KMS key",
        when="an artifact bucket with a KMS key",
        written_by="aws-cdk-lib: s3.IBucket.grant_read",
    ),
    Statement(
        sid="PullImages",
        policy_of=_EXPERIMENT_ROLE,
        kind=IDENTITY,
        actions=("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"),
        resources=("{given}",),
        why="SageMaker pulls the models' images from ecr_repositories",
        when="ecr_repositories given",
        written_by="aws-cdk-lib: ecr.IRepository.grant_pull",
    ),
    Statement(
        sid="LogInToRegistry",
        policy_of=_EXPERIMENT_ROLE,
        kind=IDENTITY,
        actions=("ecr:GetAuthorizationToken",),
        resources=("*",),
        why="Log in to ECR to pull those images",
        wildcard="ECR's GetAuthorizationToken does not support resource-level permissions: ECR accepts only "
        "Resource '*'",
        when="ecr_repositories given",
        written_by="aws-cdk-lib: ecr.IRepository.grant_pull",
    ),
)

# --- what grant_read_capture gives (policy of the grantee passed in) ----------------------------

READ_CAPTURE_LIST = Statement(
    sid="ListCapture",
    policy_of="{given}",
    kind=IDENTITY,
    actions=("s3:ListBucket",),
    resources=(f"<{_CAPTURE_BUCKET}.Arn>", "{given}"),
    conditions=(Condition(operator="StringLike", key="s3:prefix", values=("{prefix}*",)),),
    why="shadow-test compare lists the capture objects under the capture prefix of the capture bucket",
    when="grant_read_capture or grant_query_capture called (the s3:prefix condition only with a prefix)",
    written_by="aws-cdk-lib: iam.Grant.add_to_principal",
)
READ_CAPTURE_OBJECTS = Statement(
    sid="ReadCapture",
    policy_of="{given}",
    kind=IDENTITY,
    actions=("s3:GetObject",),
    resources=(f"<{_CAPTURE_BUCKET}.Arn>/{{prefix}}*", "{given}/{prefix}*"),
    why="shadow-test compare reads the captured requests and responses",
    wildcard="SageMaker chooses the keys of captured data under the capture prefix, so reading them takes that "
    "prefix's objects",
    when="grant_read_capture or grant_query_capture called",
    written_by="aws-cdk-lib: iam.Grant.add_to_principal",
)
READ_CAPTURE_KEY = Statement(
    sid="DecryptCapture",
    policy_of="{given}",
    kind=IDENTITY,
    actions=("kms:Decrypt",),
    resources=("{given}",),
    why="Captured objects are encrypted with the capture bucket's key or data_capture.kms_key",
    when="grant_read_capture or grant_query_capture called, with a capture key",
    written_by="aws-cdk-lib: kms.IKey.grant_decrypt",
)
_READ_CAPTURE_STATEMENTS = (READ_CAPTURE_LIST, READ_CAPTURE_OBJECTS, READ_CAPTURE_KEY)

# --- what grant_query_capture adds (policy of the grantee passed in; the table from add_capture_table) --

QUERY_WORKGROUP = Statement(
    sid="QueryCaptureWorkGroup",
    policy_of="{given}",
    kind=IDENTITY,
    actions=(
        "athena:StartQueryExecution",
        "athena:GetQueryExecution",
        "athena:GetQueryResults",
        "athena:StopQueryExecution",
    ),
    resources=(f"arn:{{partition}}:athena:{{region}}:{{account}}:workgroup/<{_CAPTURE_TABLE}/WorkGroup>",),
    why="shadow-test compare --engine athena runs the pairing query in the capture's workgroup, waits for it, "
    "reads its results and stops it when interrupted",
    when="grant_query_capture called",
    written_by="aws-cdk-lib: iam.Grant.add_to_principal",
)
QUERY_CATALOG = Statement(
    sid="ReadCaptureTable",
    policy_of="{given}",
    kind=IDENTITY,
    actions=("glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"),
    resources=(
        f"{_GLUE_ARN}:catalog",
        f"{_GLUE_ARN}:database/<{_CAPTURE_TABLE}/Database>",
        f"{_GLUE_ARN}:table/<{_CAPTURE_TABLE}/Database>/{{given}}",
    ),
    why="Athena reads the capture table's definition (columns, SerDe, partition projection) from the Glue "
    "catalog with the caller's permissions",
    when="grant_query_capture called",
    written_by="aws-cdk-lib: iam.Grant.add_to_principal",
)
QUERY_RESULTS_BUCKET = Statement(
    sid="LocateQueryResults",
    policy_of="{given}",
    kind=IDENTITY,
    actions=("s3:GetBucketLocation",),
    resources=(f"<{_CAPTURE_BUCKET}.Arn>", "{given}"),
    why="Athena checks the region of the bucket holding the workgroup's results (the capture bucket)",
    when="grant_query_capture called",
    written_by="aws-cdk-lib: iam.Grant.add_to_principal",
)
QUERY_RESULTS = Statement(
    sid="WriteQueryResults",
    policy_of="{given}",
    kind=IDENTITY,
    actions=("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"),
    resources=(f"<{_CAPTURE_BUCKET}.Arn>/{{prefix}}{RESULTS_FOLDER}/*", f"{{given}}/{{prefix}}{RESULTS_FOLDER}/*"),
    why="Athena writes the query's results under the workgroup's results prefix with the caller's permissions, "
    "and GetQueryResults reads them back",
    wildcard="Athena names each query's result objects after the query's id, so the statement allows the "
    "workgroup's results prefix of the capture bucket only",
    when="grant_query_capture called",
    written_by="aws-cdk-lib: iam.Grant.add_to_principal",
)
QUERY_RESULTS_KEY = Statement(
    sid="EncryptQueryResults",
    policy_of="{given}",
    kind=IDENTITY,
    actions=("kms:GenerateDataKey",),
    resources=("{given}",),
    why="The workgroup encrypts its results with the capture key (SSE_KMS); reading them back takes the "
    "kms:Decrypt of the capture's read statements",
    when="grant_query_capture called, with a capture key",
    written_by="aws-cdk-lib: kms.IKey.grant",
)
_QUERY_CAPTURE_STATEMENTS = (QUERY_WORKGROUP, QUERY_CATALOG, QUERY_RESULTS_BUCKET, QUERY_RESULTS, QUERY_RESULTS_KEY)

# --- resource policies --------------------------------------------------------------------------

_RESOURCE_STATEMENTS = (
    _tls_only(_CAPTURE_BUCKET, "capture bucket", "the construct creates the capture bucket"),
    _tls_only(_CAPTURE_LOG_BUCKET, "access-log bucket", "the construct creates the access-log bucket"),
    _log_delivery(
        _CAPTURE_LOG_BUCKET,
        f"<{_CAPTURE_LOG_BUCKET}.Arn>/*",
        "S3 server access logging writes the capture bucket's access logs to the access-log bucket the construct "
        "creates",
        "the construct creates the access-log bucket",
    ),
    _log_delivery(
        "{given}",
        "{given}/{prefix}*",
        "S3 server access logging writes the capture bucket's access logs to capture_access_logs_bucket "
        "(aws-cdk-lib adds this to a bucket of the app)",
        "capture_access_logs_bucket given",
    ),
)


#: The experiment's statements, in the order of docs/security.md's table.
EXPERIMENT_STATEMENTS: tuple[Statement, ...] = (
    *_EXPERIMENT_STATEMENTS,
    *_READ_CAPTURE_STATEMENTS,
    *_QUERY_CAPTURE_STATEMENTS,
    *_RESOURCE_STATEMENTS,
)

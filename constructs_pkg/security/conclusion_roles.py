"""The statements of the conclusion function's role (``add_automatic_conclusion``)."""

from __future__ import annotations

from constructs_pkg.security.declaration import IDENTITY, Statement, trust

#: The id of the stack's conclusion construct (created at the stack's root).
CONCLUSION_ID = "ShadowTestConclusion"

_ROLE = f"{CONCLUSION_ID}/Role"
_SAGEMAKER_ARN = "arn:{partition}:sagemaker:{region}:{account}"

CONCLUSION_TRUST = trust(_ROLE, "Service:lambda.amazonaws.com", "Lambda runs the conclusion function with this role")
STOP_EXPERIMENTS = Statement(
    sid="ConcludeStackExperiments",
    policy_of=_ROLE,
    kind=IDENTITY,
    actions=("sagemaker:DescribeInferenceExperiment", "sagemaker:StopInferenceExperiment"),
    resources=("<{experiment}/Resource/Default.ExperimentArn>", f"{_SAGEMAKER_ARN}:inference-experiment/{{given}}"),
    why="Describe each experiment with an automatic conclusion (status, schedule, variants) and stop it: the "
    "shadow removed on a regression or an alarm, promoted when asked; only the stack's experiments, by ARN",
)
READ_METRICS = Statement(
    sid="ReadVariantMetrics",
    policy_of=_ROLE,
    kind=IDENTITY,
    actions=("cloudwatch:GetMetricData",),
    resources=("*",),
    why="Read both variants' per-period invocations, errors and latency percentiles, as shadow-test report does",
    wildcard="CloudWatch's GetMetricData does not support resource-level permissions: it accepts only Resource "
    "'*'. The action only reads metric values",
)
PUT_CONCLUSION_EVENTS = Statement(
    sid="PutConclusionEvents",
    policy_of=_ROLE,
    kind=IDENTITY,
    actions=("events:PutEvents",),
    resources=("arn:{partition}:events:{region}:{account}:event-bus/default",),
    why="Put an event for each conclusion (stopped, promoted, passed, inconclusive, metrics unreadable) on the "
    "default event bus, and only there",
)
WRITE_EVIDENCE = Statement(
    sid="WriteConclusionEvidence",
    policy_of=_ROLE,
    kind=IDENTITY,
    actions=("s3:PutObject", "s3:GetObject"),
    resources=("<{experiment}/CaptureBucket.Arn>/{prefix}*", "{given}/{prefix}*"),
    why="Write the per-period data of each look (the shadow-test judge FILE format) and the count of looks "
    "that could not read the metrics under the evidence prefix, and only there",
    wildcard="Objects under the evidence prefix: one object per look, named by its time",
    when="an evidence bucket (by default the capture bucket)",
)
EVIDENCE_KEY = Statement(
    sid="EncryptConclusionEvidence",
    policy_of=_ROLE,
    kind=IDENTITY,
    actions=("kms:Decrypt", "kms:Encrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"),
    resources=("{given}",),
    why="Write and read the evidence in a bucket encrypted with a KMS key",
    wildcard="aws-cdk-lib's grant_encrypt_decrypt names the ReEncrypt and GenerateDataKey families; on this key only",
    when="the evidence bucket is encrypted with a KMS key",
    written_by="aws-cdk-lib: kms.IKey.grant_encrypt_decrypt",
)
PUBLISH_CONCLUSIONS = Statement(
    sid="PublishConclusions",
    policy_of=_ROLE,
    kind=IDENTITY,
    actions=("sns:Publish",),
    resources=("{given}",),
    why="Publish each conclusion to the topic given",
    when="topic given",
    written_by="aws-cdk-lib: sns.ITopic.grant_publish",
)

READ_VERDICT = Statement(
    sid="ReadVerdict",
    policy_of="{given}",
    kind=IDENTITY,
    actions=("sagemaker:DescribeInferenceExperiment",),
    resources=("<{experiment}/Resource/Default.ExperimentArn>",),
    why="grant_read_verdict: shadow-test report describes the experiment (variants, schedule, status)",
    when="grant_read_verdict called",
    written_by="aws-cdk-lib: iam.Grant.add_to_principal",
)
READ_VERDICT_METRICS = Statement(
    sid="ReadVerdictMetrics",
    policy_of="{given}",
    kind=IDENTITY,
    actions=READ_METRICS.actions,
    resources=("*",),
    why="grant_read_verdict: shadow-test report reads both variants' per-period metrics",
    wildcard=READ_METRICS.wildcard,
    when="grant_read_verdict called",
)
READ_EVIDENCE = Statement(
    sid="ReadConclusionEvidence",
    policy_of="{given}",
    kind=IDENTITY,
    actions=("s3:GetObject*", "s3:GetBucket*", "s3:List*"),
    resources=(
        "<{experiment}/CaptureBucket.Arn>",
        "<{experiment}/CaptureBucket.Arn>/{prefix}*",
        "{given}",
        "{given}/{prefix}*",
    ),
    why="grant_read_verdict: read the per-period data each look saved, for shadow-test judge",
    wildcard="aws-cdk-lib's grant_read names the GetObject, GetBucket and List families; on the evidence bucket "
    "and the objects under the evidence prefix only",
    when="grant_read_verdict called with an automatic conclusion writing evidence",
    written_by="aws-cdk-lib: s3.IBucket.grant_read",
)

#: The conclusion function's statements, in the order of docs/security.md's table.
CONCLUSION_STATEMENTS: tuple[Statement, ...] = (
    CONCLUSION_TRUST,
    Statement(
        sid="ConclusionLogs",
        policy_of=_ROLE,
        kind=IDENTITY,
        actions=("logs:CreateLogStream", "logs:PutLogEvents"),
        resources=(f"<{CONCLUSION_ID}/Logs.Arn>",),
        why="The conclusion function writes its JSON logs to its log group (replaces AWSLambdaBasicExecutionRole)",
        written_by="aws-cdk-lib: logs.LogGroup.grant_write",
    ),
    Statement(
        sid="ConclusionTracing",
        policy_of=_ROLE,
        kind=IDENTITY,
        actions=("xray:PutTraceSegments", "xray:PutTelemetryRecords"),
        resources=("*",),
        why="Active X-Ray tracing of the conclusion function",
        wildcard="X-Ray's PutTraceSegments and PutTelemetryRecords do not support resource-level permissions: "
        "X-Ray accepts only Resource '*'",
        written_by="aws-cdk-lib: lambda_.Function(tracing=Tracing.ACTIVE)",
    ),
    STOP_EXPERIMENTS,
    READ_METRICS,
    PUT_CONCLUSION_EVENTS,
    WRITE_EVIDENCE,
    EVIDENCE_KEY,
    PUBLISH_CONCLUSIONS,
    READ_VERDICT,
    READ_VERDICT_METRICS,
    READ_EVIDENCE,
)

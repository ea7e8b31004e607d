"""The security catalog: every IAM statement the constructs create, and the findings they acknowledge.

One source for three uses:

* :data:`STATEMENTS` lists every policy statement ``ShadowTestExperiment`` and its provider create,
  with why each is needed. tests/test_security.py fails when a synthesized policy holds a
  statement outside it; docs/security.md shows it (``.ci/security_doc.py`` writes the tables and a
  test checks that they agree).
* :data:`ACKNOWLEDGEMENTS` and the ``wildcard`` reasons of :data:`STATEMENTS` are the cdk-nag
  findings the constructs acknowledge on their own resources, so that cdk-nag reports on a user's
  stack only what the user can act on. Each is scoped to one resource and pack-qualified
  (``Pack::Rule``), which keeps the finding, with its reason, in ``suppressedViolations`` of the
  cloud assembly's validation report.
* :data:`CHECKOV_SKIPS` become ``Metadata.checkov.skip`` of the exact resources.

:func:`acknowledge_findings` applies them when the app is synthesized (an aspect), once every
statement exists: a wildcard is acknowledged only when every statement that carries it is one of
:data:`STATEMENTS`, so a statement a user adds to a construct's role is still reported.

Patterns in :data:`STATEMENTS` use ``{partition}``, ``{region}`` and ``{account}`` (the stack's),
``{given}`` (a name, ARN or resource passed as a prop; never a wildcard), ``{prefix}`` (an
optional key prefix ending with ``/``), ``{experiment}`` (the experiment construct's path) and
``<path.Attribute>`` (an attribute of the constructs' own resource at that path).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsii
from aws_cdk import Acknowledgment, Aspects, CfnResource, IAspect, Stack, Token, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct

#: The id of the stack's provider construct (constructs_pkg.provider creates it at the stack's root).
PROVIDER_ID = "ShadowTestProvider"

AWS_SOLUTIONS = "AwsSolutions"
SERVERLESS = "Serverless"
HIPAA = "HIPAA.Security"
NIST = "NIST.800.53.R5"
PCI = "PCI.DSS.321"
#: The cdk-nag packs the constructs are checked against, by plugin name.
PACKS = (AWS_SOLUTIONS, SERVERLESS, HIPAA, NIST, PCI)

IDENTITY = "identity"
TRUST = "trust"
RESOURCE = "resource"

PROVIDER = "provider"
EXPERIMENT = "experiment"


def rule_id(pack: str, rule: str, finding: str | None = None) -> str:
    """A pack-qualified acknowledgement id, such as ``AwsSolutions::AwsSolutions-IAM5[Resource::*]``."""
    return f"{pack}::{pack}-{rule}" + (f"[{finding}]" if finding else "")


# --- the catalog ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """One policy statement (or a family of statements of one shape) that the constructs create.

    :param policy_of: whose policy: a role or resource path, or ``{given}`` (a resource passed in).
    :param kind: ``identity`` (a role's policy), ``trust`` (who may assume the role) or
        ``resource`` (a bucket or key policy).
    :param actions: the actions; a synthesized statement may hold any subset of them.
    :param resources: patterns, one of which each resource of the statement matches.
    :param why: why the statement is needed.
    :param principal: the principal of a trust or resource policy.
    :param effect: ``Allow`` or ``Deny``.
    :param condition: the condition, as ``Operator key=value`` joined by ``; ``.
    :param wildcard: why a wildcard in the actions or resources cannot be avoided; the reason of
        the ``AwsSolutions-IAM5`` acknowledgement. Default: none (no wildcard allowed).
    :param when: when the statement exists. Default: always.
    """

    policy_of: str
    kind: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    why: str
    principal: str | None = None
    effect: str = "Allow"
    condition: str | None = None
    wildcard: str | None = None
    when: str = "always"

    def matches(self, atom: Atom) -> bool:
        return (
            atom.kind == self.kind
            and atom.effect == self.effect
            and atom.action in self.actions
            and _full_match(self.policy_of, atom.policy_of)
            and _optional_match(self.principal, atom.principal)
            and _optional_match(self.condition, atom.condition)
            and (any(_full_match(p, atom.resource) for p in self.resources) if self.resources else not atom.resource)
        )


_HANDLER = f"{PROVIDER_ID}/HandlerRole"
_FRAMEWORK_ROLES = (f"{PROVIDER_ID}/FrameworkOnEventRole", f"{PROVIDER_ID}/FrameworkCompleteRole")
_WAITER_ROLE = f"{PROVIDER_ID}/Provider/waiter-state-machine/Role"
_EXPERIMENT_ROLE = "{experiment}/Role"
_CAPTURE_BUCKET = "{experiment}/CaptureBucket"
_SAGEMAKER_ARN = "arn:{partition}:sagemaker:{region}:{account}"
_XRAY_WRITE = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
_XRAY_REASON = (
    "X-Ray's PutTraceSegments, PutTelemetryRecords, GetSamplingRules and GetSamplingTargets do not "
    "support resource-level permissions: X-Ray accepts only Resource '*'"
)
_LAMBDA_FUNCTIONS = (
    f"<{PROVIDER_ID}/OnEvent.Arn>",
    f"<{PROVIDER_ID}/IsComplete.Arn>",
)
_LOGS_WRITE = ("logs:CreateLogStream", "logs:PutLogEvents")

STATEMENTS: tuple[Statement, ...] = (
    # The handler functions' role (OnEvent and IsComplete).
    Statement(
        _HANDLER,
        TRUST,
        ("sts:AssumeRole",),
        (),
        "Lambda runs the two handler functions with this role",
        principal="Service:lambda.amazonaws.com",
    ),
    Statement(
        _HANDLER,
        IDENTITY,
        _LOGS_WRITE,
        (f"<{PROVIDER_ID}/HandlerLogs.Arn>",),
        "The handlers write their JSON logs to their log group (replaces AWSLambdaBasicExecutionRole)",
    ),
    Statement(
        _HANDLER,
        IDENTITY,
        _XRAY_WRITE,
        ("*",),
        "Active X-Ray tracing of the handlers",
        wildcard=_XRAY_REASON,
    ),
    Statement(
        _HANDLER,
        IDENTITY,
        (
            "sagemaker:CreateInferenceExperiment",
            "sagemaker:DescribeInferenceExperiment",
            "sagemaker:UpdateInferenceExperiment",
            "sagemaker:StopInferenceExperiment",
            "sagemaker:DeleteInferenceExperiment",
            "sagemaker:AddTags",
            "sagemaker:ListTags",
        ),
        (f"{_SAGEMAKER_ARN}:inference-experiment/*",),
        "Create, describe, update, stop and delete the experiments; tag them with their owning stack "
        "and resource and read those tags before touching an experiment",
        wildcard=(
            "Experiment names are generated at deploy time (or given as tokens), so the statement is "
            "scoped to inference experiments of this account and region; the handler acts only on "
            "experiments tagged with its own stack id and logical id"
        ),
    ),
    Statement(
        _HANDLER,
        IDENTITY,
        ("sagemaker:ListInferenceExperiments",),
        ("*",),
        "When SageMaker refuses a create because the endpoint already runs an experiment, find and "
        "name that experiment in the error",
        wildcard="SageMaker's ListInferenceExperiments does not support resource-level permissions: it accepts only Resource '*'",
    ),
    Statement(
        _HANDLER,
        IDENTITY,
        ("iam:PassRole",),
        ("<{experiment}/Role.Arn>", "{given}"),
        "Pass each experiment's role to SageMaker in CreateInferenceExperiment, and to SageMaker only",
        condition="StringEquals iam:PassedToService=sagemaker.amazonaws.com",
    ),
    Statement(
        _HANDLER,
        IDENTITY,
        ("sagemaker:DescribeEndpoint",),
        (f"{_SAGEMAKER_ARN}:endpoint/*",),
        "Check before creating that the shadowed endpoint exists and serves the production variant",
        wildcard=(
            "Read-only: DescribeEndpoint shows an endpoint's configuration, not its data. One statement for "
            "the stack's endpoints keeps the handler's policy from growing with every experiment (with one ARN "
            "per endpoint, 50 experiments overflow the role's inline policy size)"
        ),
    ),
    # The Provider framework's functions (framework-onEvent; framework-isComplete and framework-onTimeout).
    *(
        statement
        for role in _FRAMEWORK_ROLES
        for statement in (
            Statement(
                role,
                TRUST,
                ("sts:AssumeRole",),
                (),
                "Lambda runs the Provider framework's functions with this role",
                principal="Service:lambda.amazonaws.com",
            ),
            Statement(
                role,
                IDENTITY,
                _LOGS_WRITE,
                (f"<{PROVIDER_ID}/ProviderLogs.Arn>",),
                "The framework functions write to the provider's log group (replaces AWSLambdaBasicExecutionRole)",
            ),
            Statement(
                role,
                IDENTITY,
                _XRAY_WRITE,
                ("*",),
                "Active X-Ray tracing of the framework functions",
                wildcard=_XRAY_REASON,
            ),
            Statement(
                role,
                IDENTITY,
                ("lambda:InvokeFunction",),
                (*_LAMBDA_FUNCTIONS, *(f"{f}:*" for f in _LAMBDA_FUNCTIONS)),
                "The framework calls the two handler functions (aws-cdk-lib's Provider grants this)",
                wildcard=(
                    "aws-cdk-lib's Provider grants lambda:InvokeFunction on the construct's own handler function "
                    "and its qualified ARNs (':*', versions and aliases); the grant cannot be narrowed from outside "
                    "the Provider and names no other function"
                ),
            ),
            Statement(
                role,
                IDENTITY,
                ("lambda:GetFunction",),
                _LAMBDA_FUNCTIONS,
                "The framework waits for the handler functions to be active (aws-cdk-lib's Provider grants this)",
            ),
        )
    ),
    Statement(
        _FRAMEWORK_ROLES[0],
        IDENTITY,
        ("states:StartExecution",),
        (f"<{PROVIDER_ID}/Provider/waiter-state-machine>",),
        "framework-onEvent starts the waiter state machine that polls IsComplete",
    ),
    # The framework's waiter state machine.
    Statement(
        _WAITER_ROLE,
        TRUST,
        ("sts:AssumeRole",),
        (),
        "Step Functions runs the waiter state machine with this role",
        principal="Service:states.amazonaws.com",
    ),
    Statement(
        _WAITER_ROLE,
        IDENTITY,
        ("lambda:InvokeFunction",),
        tuple(
            f"<{PROVIDER_ID}/Provider/{name}.Arn>{suffix}"
            for name in ("framework-isComplete", "framework-onTimeout")
            for suffix in ("", ":*")
        ),
        "The waiter calls framework-isComplete until done, then framework-onTimeout (aws-cdk-lib grants this)",
        wildcard=(
            "aws-cdk-lib's waiter state machine grants lambda:InvokeFunction on the framework's own isComplete and "
            "onTimeout functions and their qualified ARNs (':*'); it names no other function"
        ),
    ),
    Statement(
        _WAITER_ROLE,
        IDENTITY,
        (*_XRAY_WRITE, "xray:GetSamplingRules", "xray:GetSamplingTargets"),
        ("*",),
        "X-Ray tracing of the waiter state machine",
        wildcard=_XRAY_REASON,
    ),
    # The role SageMaker assumes to run an experiment (not created when ``role`` is given).
    Statement(
        _EXPERIMENT_ROLE,
        TRUST,
        ("sts:AssumeRole",),
        (),
        "SageMaker assumes the role to run the shadow test",
        principal="Service:sagemaker.amazonaws.com",
    ),
    Statement(
        _EXPERIMENT_ROLE,
        IDENTITY,
        ("sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpoint"),
        (f"{_SAGEMAKER_ARN}:endpoint/{{given}}",),
        "SageMaker adds the shadow variant to the one endpoint, and removes or promotes it",
    ),
    Statement(
        _EXPERIMENT_ROLE,
        IDENTITY,
        ("sagemaker:CreateEndpointConfig", "sagemaker:DescribeEndpointConfig", "sagemaker:DeleteEndpointConfig"),
        (f"{_SAGEMAKER_ARN}:endpoint-config/*",),
        "SageMaker creates the endpoint configurations that hold the shadow variant",
        wildcard=(
            "SageMaker names the endpoint configurations it creates for the experiment itself, so their ARNs "
            "are unknown at synth; the statement is limited to endpoint configurations of this account and region"
        ),
    ),
    Statement(
        _EXPERIMENT_ROLE,
        IDENTITY,
        ("sagemaker:DescribeModel",),
        (f"{_SAGEMAKER_ARN}:model/{{given}}",),
        "SageMaker reads the two variants' models",
    ),
    Statement(
        _EXPERIMENT_ROLE,
        IDENTITY,
        ("s3:PutObject",),
        (f"<{_CAPTURE_BUCKET}.Arn>/{{prefix}}*", "{given}/{prefix}*"),
        "SageMaker writes captured requests and responses under the capture prefix",
        wildcard=(
            "SageMaker chooses the keys of captured data under the capture prefix (endpoint, variant, date and "
            "time), so the statement allows s3:PutObject on that prefix of the capture bucket only"
        ),
        when="data_capture given",
    ),
    Statement(
        _EXPERIMENT_ROLE,
        IDENTITY,
        ("kms:Encrypt", "kms:GenerateDataKey"),
        ("{given}",),
        "SageMaker encrypts captured data with data_capture.kms_key, or with the given capture bucket's key",
        when="a capture key",
    ),
    Statement(
        _EXPERIMENT_ROLE,
        IDENTITY,
        ("kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"),
        ("{given}", "arn:{partition}:kms:{region}:{account}:key/{given}"),
        "The shadow variant's instances encrypt their storage volumes with kms_key (given as a key, key ARN or id)",
        when="kms_key given",
    ),
    Statement(
        _EXPERIMENT_ROLE,
        IDENTITY,
        ("kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"),
        ("arn:{partition}:kms:{region}:{account}:key/*",),
        "The same for kms_key given as an alias: only the key that carries that alias",
        condition="ForAnyValue:StringEquals kms:ResourceAliases=alias/{given}",
        wildcard=(
            "A key given by alias has a key id unknown at synth; the kms:ResourceAliases condition limits the "
            "statement to the key that carries the alias"
        ),
        when="kms_key given as an alias",
    ),
    Statement(
        _EXPERIMENT_ROLE,
        IDENTITY,
        ("s3:GetObject*", "s3:GetBucket*", "s3:List*"),
        ("{given}", "{given}/*"),
        "SageMaker reads the model artifacts in artifact_buckets (aws-cdk-lib's Bucket.grant_read)",
        wildcard=(
            "aws-cdk-lib's Bucket.grant_read on each bucket passed as artifact_buckets: read actions on that "
            "bucket and its objects, whose keys the models' artifact URLs choose"
        ),
        when="artifact_buckets given",
    ),
    Statement(
        _EXPERIMENT_ROLE,
        IDENTITY,
        ("kms:Decrypt", "kms:DescribeKey"),
        ("{given}",),
        "Read artifacts from an artifact bucket encrypted with a KMS key (aws-cdk-lib's Bucket.grant_read)",
        when="an artifact bucket with a KMS key",
    ),
    Statement(
        _EXPERIMENT_ROLE,
        IDENTITY,
        ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"),
        ("{given}",),
        "SageMaker pulls the models' images from ecr_repositories (aws-cdk-lib's Repository.grant_pull)",
        when="ecr_repositories given",
    ),
    Statement(
        _EXPERIMENT_ROLE,
        IDENTITY,
        ("ecr:GetAuthorizationToken",),
        ("*",),
        "Log in to ECR to pull those images (aws-cdk-lib's Repository.grant_pull)",
        wildcard="ECR's GetAuthorizationToken does not support resource-level permissions: ECR accepts only Resource '*'",
        when="ecr_repositories given",
    ),
    # Resource policies.
    Statement(
        _CAPTURE_BUCKET,
        RESOURCE,
        ("s3:*",),
        (f"<{_CAPTURE_BUCKET}.Arn>", f"<{_CAPTURE_BUCKET}.Arn>/*"),
        "Refuse every request to the capture bucket that does not use TLS (enforce_ssl)",
        principal="AWS:*",
        effect="Deny",
        condition="Bool aws:SecureTransport=false",
        when="the construct creates the capture bucket",
    ),
    Statement(
        "{given}",
        RESOURCE,
        ("s3:PutObject",),
        ("{given}/{prefix}*",),
        "S3 server access logging writes the capture bucket's access logs to capture_access_logs_bucket "
        "(aws-cdk-lib adds this to a bucket of the app)",
        principal="Service:logging.s3.amazonaws.com",
        condition=f"ArnLike aws:SourceArn=<{_CAPTURE_BUCKET}.Arn>; StringEquals aws:SourceAccount={{account}}",
        wildcard="S3 server access logging chooses the log objects' keys under the prefix",
        when="capture_access_logs_bucket given",
    ),
    Statement(
        "{given}",
        RESOURCE,
        ("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"),
        ("*",),
        "CloudWatch Logs encrypts the provider's log groups with encryption_key (added to a key of the app)",
        principal="Service:logs.{region}.amazonaws.com",
        condition="ArnLike kms:EncryptionContext:aws:logs:arn=arn:{partition}:logs:{region}:{account}:log-group:*",
        wildcard=(
            "The statement AWS documents for CloudWatch Logs encryption; in a key policy Resource '*' means this "
            "key, and the condition limits it to log groups of this account and region"
        ),
        when="encryption_key given",
    ),
)


@dataclass(frozen=True)
class Acknowledgement:
    """cdk-nag findings acknowledged on the constructs' own resources.

    :param owner: ``provider`` or ``experiment``: the construct the targets are relative to.
    :param targets: paths, relative to the owner, of the resources (a target that does not exist
        is skipped: the experiment's role is not created when a role is given).
    :param rules: pack-qualified rule ids (see :func:`rule_id`).
    :param reason: why the finding cannot be fixed inside the construct.
    :param when: when it applies. Default: always.
    """

    owner: str
    targets: tuple[str, ...]
    rules: tuple[str, ...]
    reason: str
    when: str = "always"


@dataclass(frozen=True)
class CheckovSkip:
    """A checkov check skipped on the constructs' own resources (``Metadata.checkov.skip``)."""

    owner: str
    targets: tuple[str, ...]
    check: str
    comment: str
    when: str = "always"


_FUNCTIONS = (
    "OnEvent/Resource",
    "IsComplete/Resource",
    *(f"Provider/{name}/Resource" for name in ("framework-onEvent", "framework-isComplete", "framework-onTimeout")),
)
_PROVIDER_POLICIES = (
    "HandlerRole/DefaultPolicy/Resource",
    "FrameworkOnEventRole/DefaultPolicy/Resource",
    "FrameworkCompleteRole/DefaultPolicy/Resource",
    "Provider/waiter-state-machine/Role/DefaultPolicy/Resource",
)
_LOG_GROUPS = ("HandlerLogs/Resource", "ProviderLogs/Resource")
_STATE_MACHINE = "Provider/waiter-state-machine/Resource"
_NO_ENCRYPTION_KEY = "without encryption_key"

_DLQ_REASON = (
    "A dead-letter queue receives only failed asynchronous invocations. The handler functions are invoked "
    "synchronously by the Provider framework; framework-onEvent is invoked by CloudFormation, whose events carry "
    "the presigned ResponseURL that a queue would store, and framework-isComplete and framework-onTimeout by the "
    "waiter state machine. Failures are answered to CloudFormation, which otherwise times the request out"
)
_CONCURRENCY_REASON = (
    "The functions run only while CloudFormation deploys the stack, one request per experiment at a time. "
    "Reserved concurrency would take capacity from the account's unreserved pool and fails to deploy in "
    "accounts whose concurrency quota is at its minimum"
)
_VPC_REASON = (
    "The functions reach only AWS APIs (SageMaker, Lambda, Step Functions) and CloudFormation's response URL, "
    "no resource in a VPC; a VPC would need NAT or interface endpoints that the construct cannot assume exist"
)
_INLINE_POLICY_REASON = (
    "The statements belong to this one role and are created and deleted with it; a customer managed policy "
    "would be a separate account-wide object that nothing else should attach. Every statement is listed in "
    "docs/security.md"
)
_LOGS_KEY_REASON = (
    "CloudWatch Logs encrypts every log group at rest with AWS owned keys; the logs hold no request bodies, "
    "credentials or response URL. Pass encryption_key to ShadowTestProvider.of for a customer managed key "
    "(a key per stack by default would add cost and a key lifecycle to every user)"
)
_ENV_KEY_REASON = (
    "The functions' environment holds only the provider's timeout and polling interval (handlers) or ARNs of "
    "the construct's own functions and state machine (framework), encrypted at rest by Lambda with an AWS "
    "managed key. Pass encryption_key to "
    "ShadowTestProvider.of for a customer managed key"
)
_WAITER_LOGGING_REASON = (
    "The waiter is a Standard workflow: Step Functions keeps the execution history of every step (the "
    "framework-isComplete calls) for 90 days, and the functions it calls log to their own log groups. Delivery "
    "to CloudWatch Logs would make aws-cdk-lib grant the waiter role logs:CreateLogStream and logs:PutLogEvents "
    "on Resource '*', which the construct's least-privilege rule does not allow"
)
_REPLICATION_REASON = (
    "Captured data is the evidence of one time-boxed shadow test and may hold personal data; copying it to a "
    "second region is the owner's decision and needs a bucket there, which the construct cannot create. "
    "Versioning and the default RETAIN removal policy protect it against deletion"
)

ACKNOWLEDGEMENTS: tuple[Acknowledgement, ...] = (
    Acknowledgement(
        PROVIDER,
        _FUNCTIONS,
        (rule_id(SERVERLESS, "LambdaDLQ"), rule_id(HIPAA, "LambdaDLQ"), rule_id(NIST, "LambdaDLQ")),
        _DLQ_REASON,
    ),
    Acknowledgement(
        PROVIDER,
        _FUNCTIONS,
        (rule_id(HIPAA, "LambdaConcurrency"), rule_id(NIST, "LambdaConcurrency")),
        _CONCURRENCY_REASON,
    ),
    Acknowledgement(
        PROVIDER,
        _FUNCTIONS,
        (rule_id(HIPAA, "LambdaInsideVPC"), rule_id(NIST, "LambdaInsideVPC"), rule_id(PCI, "LambdaInsideVPC")),
        _VPC_REASON,
    ),
    Acknowledgement(
        PROVIDER,
        _PROVIDER_POLICIES,
        (rule_id(HIPAA, "IAMNoInlinePolicy"), rule_id(NIST, "IAMNoInlinePolicy"), rule_id(PCI, "IAMNoInlinePolicy")),
        _INLINE_POLICY_REASON,
    ),
    Acknowledgement(
        PROVIDER,
        _LOG_GROUPS,
        (
            rule_id(HIPAA, "CloudWatchLogGroupEncrypted"),
            rule_id(NIST, "CloudWatchLogGroupEncrypted"),
            rule_id(PCI, "CloudWatchLogGroupEncrypted"),
        ),
        _LOGS_KEY_REASON,
        when=_NO_ENCRYPTION_KEY,
    ),
    Acknowledgement(PROVIDER, (_STATE_MACHINE,), (rule_id(AWS_SOLUTIONS, "SF1"),), _WAITER_LOGGING_REASON),
    Acknowledgement(
        EXPERIMENT,
        ("Role/DefaultPolicy/Resource",),
        (rule_id(HIPAA, "IAMNoInlinePolicy"), rule_id(NIST, "IAMNoInlinePolicy"), rule_id(PCI, "IAMNoInlinePolicy")),
        _INLINE_POLICY_REASON,
    ),
    Acknowledgement(
        EXPERIMENT,
        ("CaptureBucket/Resource",),
        (
            rule_id(HIPAA, "S3BucketReplicationEnabled"),
            rule_id(NIST, "S3BucketReplicationEnabled"),
            rule_id(PCI, "S3BucketReplicationEnabled"),
        ),
        _REPLICATION_REASON,
    ),
)

CHECKOV_SKIPS: tuple[CheckovSkip, ...] = (
    CheckovSkip(PROVIDER, _FUNCTIONS, "CKV_AWS_116", _DLQ_REASON),
    CheckovSkip(PROVIDER, _FUNCTIONS, "CKV_AWS_115", _CONCURRENCY_REASON),
    CheckovSkip(PROVIDER, _FUNCTIONS, "CKV_AWS_117", _VPC_REASON),
    CheckovSkip(PROVIDER, _LOG_GROUPS, "CKV_AWS_158", _LOGS_KEY_REASON, when=_NO_ENCRYPTION_KEY),
    CheckovSkip(PROVIDER, _FUNCTIONS, "CKV_AWS_173", _ENV_KEY_REASON, when=_NO_ENCRYPTION_KEY),
)

#: When an acknowledgement or skip applies, by its ``when``.
_WHEN: Mapping[str, Callable[[IConstruct], bool]] = {
    "always": lambda owner: True,
    _NO_ENCRYPTION_KEY: lambda owner: getattr(owner, "encryption_key", None) is None,
}


def applies(when: str, owner: IConstruct) -> bool:
    """Whether an acknowledgement or skip with this ``when`` applies to ``owner``."""
    return _WHEN[when](owner)


# --- reading policies ----------------------------------------------------------------------


@dataclass(frozen=True)
class Atom:
    """One action on one resource of one synthesized statement, in the catalog's terms."""

    policy_of: str
    kind: str
    effect: str
    principal: str | None
    action: str
    resource: str
    condition: str | None
    #: The resource as cdk-nag writes it in finding ids.
    nag_resource: str
    sid: str | None = None

    def describe(self) -> str:
        text = f"{self.policy_of} ({self.kind}) {self.effect} {self.action} on {self.resource or '-'}"
        if self.principal:
            text += f" for {self.principal}"
        return text + (f" when {self.condition}" if self.condition else "")


_PSEUDO = {
    "AWS::Partition": "{partition}",
    "AWS::Region": "{region}",
    "AWS::AccountId": "{account}",
    "AWS::URLSuffix": "{url_suffix}",
    "AWS::StackName": "{stack_name}",
    "AWS::StackId": "{stack_id}",
}
_ARN_ACCOUNT_REGION = re.compile(r"arn:\{partition\}:([^:]*):([^:]*):([^:]*):")


def nag_flatten(value: Any) -> str:
    """A resolved value the way cdk-nag writes it in finding ids (its ``flattenCfnReference``)."""
    return _render(value, lambda name, attribute: f"<{name}.{attribute}>" if attribute else f"<{name}>")


def _render(value: Any, reference: Callable[[str, str | None], str]) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return delimiter.join(_render(item, reference) for item in items)
        if "Fn::Sub" in value:
            return _render(value["Fn::Sub"], reference)
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return reference(_render(resource, reference), _render(attribute, reference))
        if "Fn::ImportValue" in value:
            return _render(value["Fn::ImportValue"], reference)
        if "Ref" in value:
            return reference(_render(value["Ref"], reference), None)
    return json.dumps(value, separators=(",", ":"))


class Canonical:
    """Writes resolved values in the catalog's terms.

    :param paths: the stack's resources: logical id to construct path relative to the stack.
    :param experiments: the paths, relative to the stack, of its ``ShadowTestExperiment`` constructs.
    :param region: the stack's region when concrete, written as ``{region}`` in ARNs.
    :param account: the stack's account when concrete, written as ``{account}`` in ARNs.
    """

    def __init__(
        self, paths: Mapping[str, str], experiments: Iterable[str], *, region: str | None, account: str | None
    ) -> None:
        self._paths = paths
        self._experiments = sorted(experiments, key=len, reverse=True)
        self._region = region
        self._account = account

    def owned_path(self, path: str) -> str | None:
        """A path in the catalog's terms when it is the constructs' own, else None."""
        path = path.removesuffix("/Resource")
        for experiment in self._experiments:
            if path == experiment or path.startswith(experiment + "/"):
                return "{experiment}" + path[len(experiment) :]
        if path == PROVIDER_ID or path.startswith(PROVIDER_ID + "/"):
            return path
        return None

    def of_logical_id(self, logical_id: str) -> str | None:
        path = self._paths.get(logical_id)
        return self.owned_path(path) if path is not None else None

    def value(self, value: Any) -> str:
        def reference(name: str, attribute: str | None) -> str:
            if name in _PSEUDO and attribute is None:
                return _PSEUDO[name]
            owned = self.of_logical_id(name)
            if owned is None:
                return "{given}"
            return f"<{owned}.{attribute}>" if attribute else f"<{owned}>"

        text = _render(value, reference)
        return _ARN_ACCOUNT_REGION.sub(self._arn_fields, text)

    def _arn_fields(self, match: re.Match[str]) -> str:
        service, region, account = match.groups()
        region = "{region}" if region and region == self._region else region
        account = "{account}" if account and account == self._account else account
        return f"arn:{{partition}}:{service}:{region}:{account}:"

    def principal(self, principal: Any) -> str | None:
        if principal is None:
            return None
        if not isinstance(principal, dict):
            return f"AWS:{self.value(principal)}"
        texts = []
        for kind in sorted(principal):
            for item in _as_list(principal[kind]):
                text = self.value(item)
                if self._region:
                    text = text.replace(f".{self._region}.", ".{region}.")
                texts.append(f"{kind}:{text}")
        return ", ".join(texts)

    def condition(self, condition: Mapping[str, Any] | None) -> str | None:
        if not condition:
            return None
        parts = []
        for operator in sorted(condition):
            for key in sorted(condition[operator]):
                values = sorted(
                    self.value(v) if not isinstance(v, bool) else str(v).lower()
                    for v in _as_list(condition[operator][key])
                )
                parts.append(f"{operator} {key}={','.join(values)}")
        return "; ".join(parts)

    def atoms(self, document: Mapping[str, Any], *, policy_of: str, kind: str) -> list[Atom]:
        """Every action on every resource of ``document``'s statements."""
        result = []
        for statement in _as_list(document.get("Statement")):
            actions = [f"NotAction:{a}" for a in _as_list(statement.get("NotAction"))] + _as_list(
                statement.get("Action")
            )
            resources = [{"NotResource": r} for r in _as_list(statement.get("NotResource"))]
            resources += _as_list(statement.get("Resource")) or ([] if resources else [None])
            principal = self.principal(statement.get("Principal") or statement.get("NotPrincipal"))
            condition = self.condition(statement.get("Condition"))
            for action in actions:
                for resource in resources:
                    result.append(
                        Atom(
                            policy_of=policy_of,
                            kind=kind,
                            effect=statement.get("Effect", ""),
                            principal=principal,
                            action=action if isinstance(action, str) else json.dumps(action),
                            resource=self.value(resource),
                            condition=condition,
                            nag_resource=nag_flatten(resource),
                            sid=statement.get("Sid"),
                        )
                    )
        return result


def rows_for(atom: Atom) -> list[Statement]:
    """The catalog statements that allow ``atom`` (none: the statement is not in docs/security.md)."""
    return [row for row in STATEMENTS if row.matches(atom)]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    regex = re.escape(pattern)
    regex = regex.replace(re.escape("{given}"), r"[^*<>]+").replace(re.escape("{prefix}"), r"(?:[^*<>]*/)?")
    return re.compile(regex)


def _full_match(pattern: str, text: str) -> bool:
    return _compiled(pattern).fullmatch(text) is not None


def _optional_match(pattern: str | None, text: str | None) -> bool:
    if pattern is None or text is None:
        return pattern is None and text is None
    return _full_match(pattern, text)


# --- applying the acknowledgements ----------------------------------------------------------


def acknowledge_findings(owner: Construct, kind: str = PROVIDER) -> None:
    """Acknowledge the catalog's findings on ``owner``'s resources when the app is synthesized.

    :param owner: a ``ShadowTestProvider`` (``kind="provider"``) or ``ShadowTestExperiment``
        (``kind="experiment"``).
    """
    Aspects.of(owner).add(_Acknowledge(owner, kind))


@jsii.implements(IAspect)
class _Acknowledge:
    """Applies the catalog to one owner, once, when the aspect first visits it."""

    def __init__(self, owner: Construct, kind: str) -> None:
        self._owner = owner
        self._kind = kind
        self._done = False

    def visit(self, node: IConstruct) -> None:
        if self._done or node.node.path != self._owner.node.path:
            return
        self._done = True
        _acknowledge_listed(self._owner, self._kind)
        _acknowledge_wildcards(self._owner)
        _skip_checkov_checks(self._owner, self._kind)


def _targets(owner: Construct, paths: Sequence[str]) -> Iterable[IConstruct]:
    for path in paths:
        node: IConstruct | None = owner
        for part in path.split("/"):
            node = node.node.try_find_child(part) if node is not None else None
        if node is not None:
            yield node


def _acknowledge_listed(owner: Construct, kind: str) -> None:
    for entry in ACKNOWLEDGEMENTS:
        if entry.owner == kind and applies(entry.when, owner):
            for target in _targets(owner, entry.targets):
                Validations.of(target).acknowledge(
                    *(Acknowledgment(id=rule, reason=entry.reason) for rule in entry.rules)
                )


def _skip_checkov_checks(owner: Construct, kind: str) -> None:
    for entry in CHECKOV_SKIPS:
        if entry.owner == kind and applies(entry.when, owner):
            for target in _targets(owner, entry.targets):
                assert isinstance(target, CfnResource), target.node.path
                skips = [
                    s for s in (target.get_metadata("checkov") or {}).get("skip", []) if s.get("id") != entry.check
                ]
                target.add_metadata("checkov", {"skip": [*skips, {"id": entry.check, "comment": entry.comment}]})


def canonical_for(stack: Stack) -> Canonical:
    """The :class:`Canonical` of a stack's construct tree (the aspect's view; tests read templates)."""
    from constructs_pkg.experiment import ShadowTestExperiment  # imports this module: import when used

    root = stack.node.path + "/" if stack.node.path else ""
    paths: dict[str, str] = {}
    experiments = []
    for construct in stack.node.find_all():
        if isinstance(construct, CfnResource) and Stack.of(construct) is stack:
            paths[stack.resolve(construct.logical_id)] = construct.node.path.removeprefix(root)
        if isinstance(construct, ShadowTestExperiment):
            experiments.append(construct.node.path.removeprefix(root))
    return Canonical(
        paths,
        experiments,
        region=None if Token.is_unresolved(stack.region) else stack.region,
        account=None if Token.is_unresolved(stack.account) else stack.account,
    )


def _acknowledge_wildcards(owner: Construct) -> None:
    """Acknowledge ``AwsSolutions-IAM5`` findings whose every statement is a catalog statement with a reason."""
    stack = Stack.of(owner)
    canonical = canonical_for(stack)
    for policy in owner.node.find_all():
        if not isinstance(policy, iam.CfnPolicy):
            continue
        roles = [canonical.of_logical_id(r.get("Ref", "")) for r in _as_list(stack.resolve(policy.roles))]
        if not roles or None in roles:
            continue
        findings: dict[str, list[str | None]] = {}
        for role in roles:
            assert role is not None
            for atom in canonical.atoms(stack.resolve(policy.policy_document), policy_of=role, kind=IDENTITY):
                if atom.effect != "Allow":
                    continue
                reasons = [row.wildcard for row in rows_for(atom)]
                reason = next((r for r in reasons if r), None)
                if "*" in atom.action:
                    findings.setdefault(f"Action::{atom.action}", []).append(reason)
                if "*" in atom.nag_resource:
                    findings.setdefault(f"Resource::{atom.nag_resource}", []).append(reason)
        acknowledgements = [
            Acknowledgment(id=rule_id(AWS_SOLUTIONS, "IAM5", finding), reason=" / ".join(dict.fromkeys(justified)))
            for finding, reasons in sorted(findings.items())
            if len(justified := [r for r in reasons if r]) == len(reasons)
        ]
        if acknowledgements:
            Validations.of(policy).acknowledge(*acknowledgements)

"""The statements of the provider's roles (handler, Provider framework, waiter) and key policy."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from constructs_pkg.security.declaration import IDENTITY, RESOURCE, Condition, Statement, trust

#: The id of the stack's provider construct (created at the stack's root).
PROVIDER_ID = "ShadowTestProvider"
#: The ids of the Provider framework functions' roles, under the provider.
FRAMEWORK_ROLE_IDS = ("FrameworkOnEventRole", "FrameworkCompleteRole")
#: Sid of the statement the provider adds to ``encryption_key``'s key policy.
LOGS_KEY_POLICY_SID = "ShadowTestProviderLogsEncryption"

_HANDLER = f"{PROVIDER_ID}/HandlerRole"
_WAITER_ROLE = f"{PROVIDER_ID}/Provider/waiter-state-machine/Role"
_EXPERIMENT_ROLE = "{experiment}/Role"
_SAGEMAKER_ARN = "arn:{partition}:sagemaker:{region}:{account}"
_LAMBDA = "Service:lambda.amazonaws.com"
_XRAY_WRITE = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
_XRAY_REASON = (
    "X-Ray's PutTraceSegments, PutTelemetryRecords, GetSamplingRules and GetSamplingTargets do not "
    "support resource-level permissions: X-Ray accepts only Resource '*'"
)
_LOGS_WRITE = ("logs:CreateLogStream", "logs:PutLogEvents")
#: The id of the one handler function (serving on_event and is_complete), under the provider.
HANDLER_FUNCTION_ID = "Handler"
_HANDLER_FUNCTIONS = (f"<{PROVIDER_ID}/{HANDLER_FUNCTION_ID}.Arn>",)
_PROVIDER = "aws-cdk-lib: custom_resources.Provider"


# --- the handler function's role (on_event and is_complete) ---------------------------------------

HANDLER_TRUST = trust(_HANDLER, _LAMBDA, "Lambda runs the handler function with this role")
LIFECYCLE = Statement(
    sid="InferenceExperimentLifecycle",
    policy_of=_HANDLER,
    kind=IDENTITY,
    actions=(
        "sagemaker:CreateInferenceExperiment",
        "sagemaker:DescribeInferenceExperiment",
        "sagemaker:UpdateInferenceExperiment",
        "sagemaker:StartInferenceExperiment",
        "sagemaker:StopInferenceExperiment",
        "sagemaker:DeleteInferenceExperiment",
        "sagemaker:AddTags",
        "sagemaker:DeleteTags",
        "sagemaker:ListTags",
    ),
    resources=(f"{_SAGEMAKER_ARN}:inference-experiment/*",),
    why="Create, describe, update, start (desired_state RUNNING), stop and delete the experiments; tag them with their owning stack and resource, "
    "apply tag changes in place, and read the owner tags of an experiment whose name does not prove its owner",
    wildcard="Experiment names are generated at deploy time (or given as tokens), so the statement is scoped to "
    "inference experiments of this account and region; the handler acts only on experiments it named (a hash "
    "of its stack id and logical id) or tagged with them",
)
FIND_ACTIVE_EXPERIMENTS = Statement(
    sid="FindActiveExperiments",
    policy_of=_HANDLER,
    kind=IDENTITY,
    actions=("sagemaker:ListInferenceExperiments",),
    resources=("*",),
    why="When SageMaker refuses a create because the endpoint already runs an experiment, find and name that "
    "experiment in the error",
    wildcard="SageMaker's ListInferenceExperiments does not support resource-level permissions: it accepts only "
    "Resource '*'",
)
PASS_EXPERIMENT_ROLES = Statement(
    sid="PassExperimentRolesToSageMaker",
    policy_of=_HANDLER,
    kind=IDENTITY,
    actions=("iam:PassRole",),
    resources=(f"<{_EXPERIMENT_ROLE}.Arn>", "{given}"),
    conditions=(Condition(operator="StringEquals", key="iam:PassedToService", values=("sagemaker.amazonaws.com",)),),
    why="Pass each experiment's role to SageMaker in CreateInferenceExperiment, and to SageMaker only",
)
CHECK_SHADOWED_ENDPOINTS = Statement(
    sid="CheckShadowedEndpoints",
    policy_of=_HANDLER,
    kind=IDENTITY,
    actions=("sagemaker:DescribeEndpoint",),
    resources=(f"{_SAGEMAKER_ARN}:endpoint/*",),
    why="Check before creating that the shadowed endpoint exists and serves the production variant",
    wildcard="Read-only: DescribeEndpoint shows an endpoint's configuration, not its data. One statement for the "
    "stack's endpoints keeps the handler's policy from growing with every experiment (with one ARN per endpoint, "
    "50 experiments overflow the role's inline policy size)",
)
_HANDLER_STATEMENTS = (
    HANDLER_TRUST,
    Statement(
        sid="HandlerLogs",
        policy_of=_HANDLER,
        kind=IDENTITY,
        actions=_LOGS_WRITE,
        resources=(f"<{PROVIDER_ID}/HandlerLogs.Arn>",),
        why="The handlers write their JSON logs to their log group (replaces AWSLambdaBasicExecutionRole)",
        written_by="aws-cdk-lib: logs.LogGroup.grant_write",
    ),
    Statement(
        sid="HandlerTracing",
        policy_of=_HANDLER,
        kind=IDENTITY,
        actions=_XRAY_WRITE,
        resources=("*",),
        why="Active X-Ray tracing of the handlers",
        wildcard=_XRAY_REASON,
        written_by="aws-cdk-lib: lambda_.Function(tracing=Tracing.ACTIVE)",
    ),
    LIFECYCLE,
    FIND_ACTIVE_EXPERIMENTS,
    PASS_EXPERIMENT_ROLES,
    CHECK_SHADOWED_ENDPOINTS,
)

# --- the Provider framework's functions and waiter state machine ---------------------------------


def _framework_tracing(role_id: str) -> Statement:
    return Statement(
        sid="FrameworkTracing",
        policy_of=f"{PROVIDER_ID}/{role_id}",
        kind=IDENTITY,
        actions=_XRAY_WRITE,
        resources=("*",),
        why="Active X-Ray tracing of the framework functions",
        wildcard=_XRAY_REASON,
    )


#: Who may assume each framework role, by role id.
FRAMEWORK_TRUST: Mapping[str, Statement] = MappingProxyType(
    {
        r: trust(f"{PROVIDER_ID}/{r}", _LAMBDA, "Lambda runs the Provider framework's functions with this role")
        for r in FRAMEWORK_ROLE_IDS
    }
)
#: The X-Ray statement of each framework role, by role id.
FRAMEWORK_TRACING: Mapping[str, Statement] = MappingProxyType({r: _framework_tracing(r) for r in FRAMEWORK_ROLE_IDS})


def _framework_statements(role_id: str) -> tuple[Statement, ...]:
    role = f"{PROVIDER_ID}/{role_id}"
    return (
        FRAMEWORK_TRUST[role_id],
        Statement(
            sid="FrameworkLogs",
            policy_of=role,
            kind=IDENTITY,
            actions=_LOGS_WRITE,
            resources=(f"<{PROVIDER_ID}/ProviderLogs.Arn>",),
            why="The framework functions write to the provider's log group (replaces AWSLambdaBasicExecutionRole)",
            written_by="aws-cdk-lib: logs.LogGroup.grant_write",
        ),
        FRAMEWORK_TRACING[role_id],
        Statement(
            sid="InvokeHandlers",
            policy_of=role,
            kind=IDENTITY,
            actions=("lambda:InvokeFunction",),
            resources=(*_HANDLER_FUNCTIONS, *(f"{f}:*" for f in _HANDLER_FUNCTIONS)),
            why="The framework calls the handler function (for onEvent and isComplete)",
            wildcard="aws-cdk-lib's Provider grants lambda:InvokeFunction on the construct's own handler function and "
            "its qualified ARNs (':*', versions and aliases); the grant cannot be narrowed from outside the Provider "
            "and names no other function",
            written_by=_PROVIDER,
        ),
        Statement(
            sid="WaitForHandlers",
            policy_of=role,
            kind=IDENTITY,
            actions=("lambda:GetFunction",),
            resources=_HANDLER_FUNCTIONS,
            why="The framework waits for the handler function to be active",
            written_by=_PROVIDER,
        ),
    )


WAITER_TRACING = Statement(
    sid="WaiterTracing",
    policy_of=_WAITER_ROLE,
    kind=IDENTITY,
    actions=(*_XRAY_WRITE, "xray:GetSamplingRules", "xray:GetSamplingTargets"),
    resources=("*",),
    why="X-Ray tracing of the waiter state machine",
    wildcard=_XRAY_REASON,
)
_FRAMEWORK_STATEMENTS = (
    *(statement for role_id in FRAMEWORK_ROLE_IDS for statement in _framework_statements(role_id)),
    Statement(
        sid="StartWaiter",
        policy_of=f"{PROVIDER_ID}/{FRAMEWORK_ROLE_IDS[0]}",
        kind=IDENTITY,
        actions=("states:StartExecution",),
        resources=(f"<{PROVIDER_ID}/Provider/waiter-state-machine>",),
        why="framework-onEvent starts the waiter state machine that polls IsComplete",
        written_by=_PROVIDER,
    ),
    trust(_WAITER_ROLE, "Service:states.amazonaws.com", "Step Functions runs the waiter state machine with this role"),
    Statement(
        sid="InvokeFramework",
        policy_of=_WAITER_ROLE,
        kind=IDENTITY,
        actions=("lambda:InvokeFunction",),
        resources=tuple(
            f"<{PROVIDER_ID}/Provider/{name}.Arn>{suffix}"
            for name in ("framework-isComplete", "framework-onTimeout")
            for suffix in ("", ":*")
        ),
        why="The waiter calls framework-isComplete until done, then framework-onTimeout",
        wildcard="aws-cdk-lib's waiter state machine grants lambda:InvokeFunction on the framework's own isComplete "
        "and onTimeout functions and their qualified ARNs (':*'); it names no other function",
        written_by=_PROVIDER,
    ),
    WAITER_TRACING,
)


LOGS_KEY_POLICY = Statement(
    sid=LOGS_KEY_POLICY_SID,
    policy_of="{given}",
    kind=RESOURCE,
    actions=("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"),
    resources=("*",),
    principal="Service:logs.{region}.amazonaws.com",
    conditions=(
        Condition(
            operator="ArnLike",
            key="kms:EncryptionContext:aws:logs:arn",
            values=("arn:{partition}:logs:{region}:{account}:log-group:*",),
        ),
    ),
    why="CloudWatch Logs encrypts the provider's log groups with encryption_key (added to a key of the app)",
    wildcard="The statement AWS documents for CloudWatch Logs encryption; in a key policy Resource '*' means this "
    "key, and the condition limits it to log groups of this account and region",
    when="encryption_key given",
)

#: The provider's statements, in the order of docs/security.md's table.
PROVIDER_STATEMENTS: tuple[Statement, ...] = (*_HANDLER_STATEMENTS, *_FRAMEWORK_STATEMENTS, LOGS_KEY_POLICY)

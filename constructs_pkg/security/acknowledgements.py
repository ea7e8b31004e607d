"""The cdk-nag findings and checkov checks the constructs acknowledge on their own resources.

Each acknowledgement is scoped to exact resources, pack-qualified (``Pack::Rule``, which keeps the
finding with its reason in ``suppressedViolations`` of the cloud assembly's validation report) and
carries a written reason; each checkov skip is ``Metadata.checkov.skip`` of the exact resource.
:class:`OwnFindings` applies them once per stack, when the app is synthesized.

``AwsSolutions-IAM5`` (wildcards) is acknowledged from the ``wildcard`` reasons of the declared
statements (constructs_pkg/security/statements), on each policy of the constructs: a wildcard is
acknowledged only when every statement that carries it is declared, so a statement a user adds to a
construct's role is still reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jsii
from aws_cdk import Acknowledgment, Aspects, CfnResource, IAspect, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct

from constructs_pkg.security.declaration import IDENTITY, Placeholders
from constructs_pkg.security.policy_reading import Canonical, declarations_allowing

AWS_SOLUTIONS = "AwsSolutions"
SERVERLESS = "Serverless"
HIPAA = "HIPAA.Security"
NIST = "NIST.800.53.R5"
PCI = "PCI.DSS.321"
#: The cdk-nag packs the constructs are checked against, by plugin name.
PACKS = (AWS_SOLUTIONS, SERVERLESS, HIPAA, NIST, PCI)

#: Owners: the construct that acknowledgement targets are relative to.
PROVIDER = "provider"
EXPERIMENT = "experiment"
CONCLUSION = "conclusion"
CONCLUSION_RULE = "conclusion rule"
#: Conditions of an acknowledgement or skip (``when``).
ALWAYS = "always"
NO_ENCRYPTION_KEY = "without encryption_key"
CONSTRUCT_LOG_BUCKET = "the construct creates the access-log bucket"
_LOG_BUCKET = "CaptureAccessLogs/Resource"


def rule_id(pack: str, rule: str, finding: str | None = None) -> str:
    """A pack-qualified acknowledgement id, such as ``AwsSolutions::AwsSolutions-IAM5[Resource::*]``."""
    return f"{pack}::{pack}-{rule}" + (f"[{finding}]" if finding else "")


def _compliance(rule: str) -> tuple[str, ...]:
    """``rule`` of the HIPAA Security, NIST 800-53 rev 5 and PCI DSS 3.2.1 packs."""
    return tuple(rule_id(pack, rule) for pack in (HIPAA, NIST, PCI))


@dataclass(frozen=True, kw_only=True)
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


@dataclass(frozen=True, kw_only=True)
class CheckovSkip:
    """A checkov check skipped on the constructs' own resources (``Metadata.checkov.skip``)."""

    owner: str
    targets: tuple[str, ...]
    check: str
    comment: str
    when: str = "always"


_FUNCTIONS = (
    "Handler/Resource",
    *(f"Provider/{name}/Resource" for name in ("framework-onEvent", "framework-isComplete", "framework-onTimeout")),
)
_PROVIDER_POLICIES = (
    "HandlerRole/DefaultPolicy/Resource",
    "FrameworkOnEventRole/DefaultPolicy/Resource",
    "FrameworkCompleteRole/DefaultPolicy/Resource",
    "Provider/waiter-state-machine/Role/DefaultPolicy/Resource",
)
_LOG_GROUPS = ("HandlerLogs/Resource", "ProviderLogs/Resource")
_CONCLUSION_FUNCTION = ("Function/Resource",)
_STATE_MACHINE = "Provider/waiter-state-machine/Resource"

_DLQ_REASON = (
    "A dead-letter queue receives only failed asynchronous invocations. The handler function is invoked "
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
_CONCLUSION_DLQ_REASON = (
    "EventBridge invokes the conclusion function asynchronously and Lambda retries a failed invocation twice; "
    "a look that still fails is repeated by the next look (every judge_every), and a stop that failed leaves the "
    "alarm in ALARM and the next look judging the same regression. A queue of missed looks would hold nothing to "
    "act on later"
)
_CONCLUSION_CONCURRENCY_REASON = (
    "The function runs once per experiment per judge_every, and once per alarm state change: reserved "
    "concurrency would take capacity from the account's unreserved pool for a few invocations an hour"
)
_CONCLUSION_VPC_REASON = (
    "The function reaches only AWS APIs (SageMaker, CloudWatch, EventBridge, S3, SNS), no resource in a VPC; a "
    "VPC would need NAT or interface endpoints that the construct cannot assume exist"
)
_CONCLUSION_LOGS_KEY_REASON = (
    "CloudWatch Logs encrypts every log group at rest with AWS owned keys; the conclusion's logs hold the "
    "experiment's name, the verdict and the action, no request bodies or credentials"
)
_REPLICATION_REASON = (
    "Captured data is the evidence of one time-boxed shadow test and may hold personal data; copying it to a "
    "second region is the owner's decision and needs a bucket there, which the construct cannot create. "
    "Versioning and the default RETAIN removal policy protect it against deletion"
)
_LOG_REPLICATION_REASON = (
    "The access logs record requests to one time-boxed shadow test's capture bucket; copying them to a second "
    "region is the owner's decision and needs a bucket there, which the construct cannot create. Versioning and "
    "the capture bucket's removal policy protect them against deletion"
)
#: cdk-nag does not report a bucket that is a server access log destination (AwsSolutions-S1,
#: *-S3BucketLoggingEnabled); checkov does (CKV_AWS_18), so only checkov's check is skipped.
_LOG_DESTINATION_REASON = (
    "This bucket is the destination of the capture bucket's server access logs (aws-solutions-constructs' "
    "convention): logging its own access would need yet another bucket, and logging to itself would loop"
)
_LOG_ENCRYPTION_REASON = (
    "S3 server access logging delivers only to buckets encrypted with S3-managed keys (SSE-S3), so the "
    "access-log bucket cannot use a KMS key; the logs hold request metadata, not captured data"
)


ACKNOWLEDGEMENTS: tuple[Acknowledgement, ...] = (
    Acknowledgement(
        owner=CONCLUSION_RULE,
        targets=("Resource",),
        rules=(rule_id(SERVERLESS, "EventBusDLQ"),),
        reason=_CONCLUSION_DLQ_REASON,
    ),
    Acknowledgement(
        owner=CONCLUSION,
        targets=_CONCLUSION_FUNCTION,
        rules=(rule_id(SERVERLESS, "LambdaDLQ"), rule_id(HIPAA, "LambdaDLQ"), rule_id(NIST, "LambdaDLQ")),
        reason=_CONCLUSION_DLQ_REASON,
    ),
    Acknowledgement(
        owner=CONCLUSION,
        targets=_CONCLUSION_FUNCTION,
        rules=(rule_id(HIPAA, "LambdaConcurrency"), rule_id(NIST, "LambdaConcurrency")),
        reason=_CONCLUSION_CONCURRENCY_REASON,
    ),
    Acknowledgement(
        owner=CONCLUSION,
        targets=_CONCLUSION_FUNCTION,
        rules=_compliance("LambdaInsideVPC"),
        reason=_CONCLUSION_VPC_REASON,
    ),
    Acknowledgement(
        owner=CONCLUSION,
        targets=("Role/DefaultPolicy/Resource",),
        rules=_compliance("IAMNoInlinePolicy"),
        reason=_INLINE_POLICY_REASON,
    ),
    Acknowledgement(
        owner=CONCLUSION,
        targets=("Logs/Resource",),
        rules=_compliance("CloudWatchLogGroupEncrypted"),
        reason=_CONCLUSION_LOGS_KEY_REASON,
    ),
    Acknowledgement(
        owner=PROVIDER,
        targets=_FUNCTIONS,
        rules=(rule_id(SERVERLESS, "LambdaDLQ"), rule_id(HIPAA, "LambdaDLQ"), rule_id(NIST, "LambdaDLQ")),
        reason=_DLQ_REASON,
    ),
    Acknowledgement(
        owner=PROVIDER,
        targets=_FUNCTIONS,
        rules=(rule_id(HIPAA, "LambdaConcurrency"), rule_id(NIST, "LambdaConcurrency")),
        reason=_CONCURRENCY_REASON,
    ),
    Acknowledgement(owner=PROVIDER, targets=_FUNCTIONS, rules=_compliance("LambdaInsideVPC"), reason=_VPC_REASON),
    Acknowledgement(
        owner=PROVIDER, targets=_PROVIDER_POLICIES, rules=_compliance("IAMNoInlinePolicy"), reason=_INLINE_POLICY_REASON
    ),
    Acknowledgement(
        owner=PROVIDER,
        targets=_LOG_GROUPS,
        rules=_compliance("CloudWatchLogGroupEncrypted"),
        reason=_LOGS_KEY_REASON,
        when=NO_ENCRYPTION_KEY,
    ),
    Acknowledgement(
        owner=PROVIDER, targets=(_STATE_MACHINE,), rules=(rule_id(AWS_SOLUTIONS, "SF1"),), reason=_WAITER_LOGGING_REASON
    ),
    Acknowledgement(
        owner=EXPERIMENT,
        targets=("Role/DefaultPolicy/Resource",),
        rules=_compliance("IAMNoInlinePolicy"),
        reason=_INLINE_POLICY_REASON,
    ),
    Acknowledgement(
        owner=EXPERIMENT,
        targets=("CaptureBucket/Resource",),
        rules=_compliance("S3BucketReplicationEnabled"),
        reason=_REPLICATION_REASON,
    ),
    Acknowledgement(
        owner=EXPERIMENT,
        targets=(_LOG_BUCKET,),
        rules=_compliance("S3DefaultEncryptionKMS"),
        reason=_LOG_ENCRYPTION_REASON,
        when=CONSTRUCT_LOG_BUCKET,
    ),
    Acknowledgement(
        owner=EXPERIMENT,
        targets=(_LOG_BUCKET,),
        rules=_compliance("S3BucketReplicationEnabled"),
        reason=_LOG_REPLICATION_REASON,
        when=CONSTRUCT_LOG_BUCKET,
    ),
)

CHECKOV_SKIPS: tuple[CheckovSkip, ...] = (
    CheckovSkip(owner=CONCLUSION, targets=_CONCLUSION_FUNCTION, check="CKV_AWS_116", comment=_CONCLUSION_DLQ_REASON),
    CheckovSkip(
        owner=CONCLUSION, targets=_CONCLUSION_FUNCTION, check="CKV_AWS_115", comment=_CONCLUSION_CONCURRENCY_REASON
    ),
    CheckovSkip(owner=CONCLUSION, targets=_CONCLUSION_FUNCTION, check="CKV_AWS_117", comment=_CONCLUSION_VPC_REASON),
    CheckovSkip(owner=CONCLUSION, targets=("Logs/Resource",), check="CKV_AWS_158", comment=_CONCLUSION_LOGS_KEY_REASON),
    CheckovSkip(owner=PROVIDER, targets=_FUNCTIONS, check="CKV_AWS_116", comment=_DLQ_REASON),
    CheckovSkip(owner=PROVIDER, targets=_FUNCTIONS, check="CKV_AWS_115", comment=_CONCURRENCY_REASON),
    CheckovSkip(owner=PROVIDER, targets=_FUNCTIONS, check="CKV_AWS_117", comment=_VPC_REASON),
    CheckovSkip(
        owner=PROVIDER, targets=_LOG_GROUPS, check="CKV_AWS_158", comment=_LOGS_KEY_REASON, when=NO_ENCRYPTION_KEY
    ),
    CheckovSkip(
        owner=PROVIDER, targets=_FUNCTIONS, check="CKV_AWS_173", comment=_ENV_KEY_REASON, when=NO_ENCRYPTION_KEY
    ),
    CheckovSkip(
        owner=EXPERIMENT,
        targets=(_LOG_BUCKET,),
        check="CKV_AWS_18",
        comment=_LOG_DESTINATION_REASON,
        when=CONSTRUCT_LOG_BUCKET,
    ),
)


@dataclass(frozen=True)
class OwnedResources:
    """An owner's CloudFormation resources, read from the construct tree once.

    :param owner: the provider or an experiment.
    :param by_path: each resource by its path relative to the owner (``Role/DefaultPolicy/Resource``).
    :param stack_paths: each resource's path relative to the stack, by logical id.
    :param owner_path: the owner's path relative to the stack.
    """

    owner: IConstruct
    by_path: Mapping[str, CfnResource]
    stack_paths: Mapping[str, str]
    owner_path: str

    @classmethod
    def of(cls, owner: IConstruct, stack: Stack, root: str, owner_path: str | None = None) -> OwnedResources:
        # A plain CfnResource (a custom resource) is no target and no policy refers to it: its
        # path and logical id are not read (each is a jsii round trip).
        resources = [c for c in owner.node.find_all() if isinstance(c, CfnResource) and type(c) is not CfnResource]
        paths = [resource.node.path.removeprefix(root) for resource in resources]
        # One resolve for all logical ids: each is a jsii round trip.
        logical_ids = stack.resolve([resource.logical_id for resource in resources])
        owner_path = (owner_path if owner_path is not None else owner.node.path).removeprefix(root)
        prefix = owner_path + "/"
        return cls(
            owner=owner,
            by_path={path.removeprefix(prefix): r for path, r in zip(paths, resources, strict=True)},
            stack_paths=dict(zip(logical_ids, paths, strict=True)),
            owner_path=owner_path,
        )


#: Whether a ``when`` holds for an owner.
_WHEN: Mapping[str, Callable[[OwnedResources], bool]] = {
    ALWAYS: lambda owned: True,
    NO_ENCRYPTION_KEY: lambda owned: getattr(owned.owner, "encryption_key", None) is None,
    CONSTRUCT_LOG_BUCKET: lambda owned: _LOG_BUCKET in owned.by_path,
}


def applies(when: str, owned: OwnedResources) -> bool:
    """Whether an acknowledgement or skip with this ``when`` applies to the owner of ``owned``."""
    return _WHEN[when](owned)


def targets(owned: OwnedResources, paths: Sequence[str]) -> list[CfnResource]:
    """The owner's resources at ``paths`` (relative to the owner) that exist."""
    return [owned.by_path[path] for path in paths if path in owned.by_path]


@jsii.implements(IAspect)
class OwnFindings:
    """A stack's acknowledgements and checkov skips, applied once when the app is synthesized.

    The stack's ``ShadowTestProvider`` holds one and registers itself; each experiment registers
    with :meth:`add`. The aspect sits on the provider and acts when it visits the provider, once
    every construct exists: a single pass over the owners, no aspect per resource.
    """

    def __init__(self, provider: Construct, placeholders: Placeholders) -> None:
        self._provider = provider
        self._placeholders = placeholders
        self._owners: list[tuple[Construct, str, str | None]] = [(provider, PROVIDER, None)]
        self._grantee_policies: dict[Construct, list[iam.CfnPolicy]] = {}
        Aspects.of(provider).add(self)

    def add(self, owner: Construct, kind: str, *, path: str | None = None) -> None:
        """Acknowledge the findings of ``kind`` (``experiment``) on ``owner``'s own resources at synth.

        :param path: ``owner.node.path``, when the caller has read it already.
        """
        self._owners.append((owner, kind, path))

    def add_grantee(self, owner: Construct, grantee: iam.IGrantable) -> None:
        """Acknowledge the wildcards of ``owner``'s grant on the grantee's default policy, when it has one.

        Only findings on the owner's own resources (a capture bucket the construct created) whose every
        statement is declared are acknowledged; the grantee's other findings stay the app's.
        """
        principal = grantee.grant_principal
        policy = principal.node.try_find_child("DefaultPolicy") if isinstance(principal, Construct) else None
        resource = policy.node.default_child if isinstance(policy, iam.Policy) else None
        if isinstance(resource, iam.CfnPolicy):
            self._grantee_policies.setdefault(owner, []).append(resource)

    def visit(self, node: IConstruct) -> None:
        if node is not self._provider:
            return
        stack = Stack.of(node)
        root = stack.node.path + "/" if stack.node.path else ""
        for owner, kind, path in self._owners:
            canonical = acknowledge_own_findings(
                OwnedResources.of(owner, stack, root, path), kind, stack, self._placeholders
            )
            for policy in self._grantee_policies.get(owner, []):
                acknowledgements = _wildcard_acknowledgements(policy, canonical, stack, grantee=True)
                if acknowledgements:
                    Validations.of(policy).acknowledge(*acknowledgements)


def acknowledge_own_findings(owned: OwnedResources, kind: str, stack: Stack, placeholders: Placeholders) -> Canonical:
    """Acknowledge the findings and skip the checks of ``kind`` on an owner's resources.

    Wildcards (``AwsSolutions-IAM5``) are acknowledged on each of the owner's policies when every
    statement carrying them is declared.
    """
    # Gathered per resource: one acknowledge call each (every call is a jsii round trip).
    acknowledged: dict[CfnResource, list[Acknowledgment]] = {}
    for entry in ACKNOWLEDGEMENTS:
        if entry.owner == kind and applies(entry.when, owned):
            for target in targets(owned, entry.targets):
                acknowledged.setdefault(target, []).extend(
                    Acknowledgment(id=rule, reason=entry.reason) for rule in entry.rules
                )
    for skip in CHECKOV_SKIPS:
        if skip.owner == kind and applies(skip.when, owned):
            for target in targets(owned, skip.targets):
                others = [
                    s for s in (target.get_metadata("checkov") or {}).get("skip", []) if s.get("id") != skip.check
                ]
                target.add_metadata("checkov", {"skip": [*others, {"id": skip.check, "comment": skip.comment}]})
    canonical = Canonical(
        owned.stack_paths,
        [owned.owner_path] if kind == EXPERIMENT else [],
        region=placeholders.concrete_region,
        account=placeholders.concrete_account,
    )
    for resource in owned.by_path.values():
        if isinstance(resource, iam.CfnPolicy):
            acknowledged.setdefault(resource, []).extend(_wildcard_acknowledgements(resource, canonical, stack))
    for target, acknowledgements in acknowledged.items():
        if acknowledgements:
            Validations.of(target).acknowledge(*acknowledgements)
    return canonical


def _wildcard_acknowledgements(
    policy: iam.CfnPolicy, canonical: Canonical, stack: Stack, *, grantee: bool = False
) -> list[Acknowledgment]:
    """The IAM5 acknowledgements of ``policy``'s wildcards that declared statements explain.

    :param grantee: ``policy`` is a grantee's (the app's role): only statements on the owner's own
        resources count, and the role stands for ``{given}``.
    """
    resolved_roles, document = stack.resolve([policy.roles, policy.policy_document])
    roles = [canonical.of_logical_id(r.get("Ref", "")) for r in _as_list(resolved_roles)]
    if grantee:
        roles = ["{given}"] * bool(roles)
    if not roles or None in roles:
        return []
    findings: dict[str, list[str | None]] = {}
    for role in roles:
        assert role is not None
        for atom in canonical.atoms(document, policy_of=role, kind=IDENTITY):
            if atom.effect != "Allow" or (grantee and "<{experiment}" not in atom.resource):
                continue
            reason = next((s.wildcard for s in declarations_allowing(atom) if s.wildcard), None)
            if "*" in atom.action:
                findings.setdefault(f"Action::{atom.action}", []).append(reason)
            if "*" in atom.nag_resource:
                findings.setdefault(f"Resource::{atom.nag_resource}", []).append(reason)
    return [
        Acknowledgment(id=rule_id(AWS_SOLUTIONS, "IAM5", finding), reason=" / ".join(dict.fromkeys(justified)))
        for finding, reasons in sorted(findings.items())
        if len(justified := [r for r in reasons if r]) == len(reasons)
    ]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]

"""The cdk-nag findings and checkov checks the constructs acknowledge on their own resources.

Each acknowledgement is scoped to exact resources, pack-qualified (``Pack::Rule``, which keeps the
finding with its reason in ``suppressedViolations`` of the cloud assembly's validation report) and
carries a written reason; each checkov skip is ``Metadata.checkov.skip`` of the exact resource.
:func:`acknowledge_own_findings` applies them when the provider or an experiment is created.

``AwsSolutions-IAM5`` (wildcards) is acknowledged from the ``wildcard`` reasons of the declared
statements (constructs_pkg/security/statements), on each policy of the construct, when the app is
synthesized: a wildcard is acknowledged only when every statement that carries it is declared, so a
statement a user adds to a construct's role is still reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jsii
from aws_cdk import Acknowledgment, Aspects, CfnResource, IAspect, Stack, Token, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct

from constructs_pkg.security.declaration import IDENTITY
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

#: Whether a ``when`` holds for an owner.
_WHEN: Mapping[str, Callable[[IConstruct], bool]] = {
    ALWAYS: lambda owner: True,
    NO_ENCRYPTION_KEY: lambda owner: getattr(owner, "encryption_key", None) is None,
    CONSTRUCT_LOG_BUCKET: lambda owner: owner.node.try_find_child(_LOG_BUCKET.split("/")[0]) is not None,
}


def applies(when: str, owner: IConstruct) -> bool:
    """Whether an acknowledgement or skip with this ``when`` applies to ``owner``."""
    return _WHEN[when](owner)


def targets(owner: IConstruct, paths: Sequence[str]) -> Iterable[IConstruct]:
    """The constructs at ``paths`` relative to ``owner`` that exist."""
    for path in paths:
        node: IConstruct | None = owner
        for part in path.split("/"):
            node = node.node.try_find_child(part) if node is not None else None
        if node is not None:
            yield node


def acknowledge_own_findings(owner: Construct, kind: str) -> None:
    """Acknowledge the findings and skip the checks of ``kind`` on ``owner``'s own resources.

    Call it at the end of the owner's constructor, once its resources exist. Wildcards are
    acknowledged when the app is synthesized, by an aspect on each of the owner's policies alone.

    :param owner: a ``ShadowTestProvider`` (``kind="provider"``) or ``ShadowTestExperiment``
        (``kind="experiment"``).
    """
    for entry in ACKNOWLEDGEMENTS:
        if entry.owner == kind and applies(entry.when, owner):
            for target in targets(owner, entry.targets):
                Validations.of(target).acknowledge(
                    *(Acknowledgment(id=rule, reason=entry.reason) for rule in entry.rules)
                )
    for skip in CHECKOV_SKIPS:
        if skip.owner == kind and applies(skip.when, owner):
            for target in targets(owner, skip.targets):
                assert isinstance(target, CfnResource), target.node.path
                others = [
                    s for s in (target.get_metadata("checkov") or {}).get("skip", []) if s.get("id") != skip.check
                ]
                target.add_metadata("checkov", {"skip": [*others, {"id": skip.check, "comment": skip.comment}]})
    wildcards = _AcknowledgeDeclaredWildcards(owner, kind)
    for policy in owner.node.find_all():
        if isinstance(policy, iam.CfnPolicy):
            Aspects.of(policy).add(wildcards)


def canonical_for(owner: IConstruct, kind: str) -> Canonical:
    """The owner's resources in the declarations' terms (only the owner's subtree is read)."""
    stack = Stack.of(owner)
    root = stack.node.path + "/" if stack.node.path else ""
    paths = {
        stack.resolve(construct.logical_id): construct.node.path.removeprefix(root)
        for construct in owner.node.find_all()
        if isinstance(construct, CfnResource)
    }
    return Canonical(
        paths,
        [owner.node.path.removeprefix(root)] if kind == EXPERIMENT else [],
        region=None if Token.is_unresolved(stack.region) else stack.region,
        account=None if Token.is_unresolved(stack.account) else stack.account,
    )


@jsii.implements(IAspect)
class _AcknowledgeDeclaredWildcards:
    """Acknowledges the ``AwsSolutions-IAM5`` findings of the owner's policies that declared statements explain.

    Added to each policy resource alone, so it visits only those: no walk of the stack.
    """

    def __init__(self, owner: Construct, kind: str, *, grantee: bool = False) -> None:
        self._owner = owner
        self._kind = kind
        self._grantee = grantee
        self._canonical: Canonical | None = None

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, iam.CfnPolicy):
            return
        if self._canonical is None:  # once all constructs exist, and once per owner
            self._canonical = canonical_for(self._owner, self._kind)
        acknowledgements = _wildcard_acknowledgements(node, self._canonical, grantee=self._grantee)
        if acknowledgements:
            Validations.of(node).acknowledge(*acknowledgements)


def acknowledge_grantee_wildcards(owner: Construct, grantee: iam.IGrantable) -> None:
    """Acknowledge the wildcards of ``owner``'s grant on the grantee's default policy, when it has one.

    Only findings on the owner's own resources (a capture bucket the construct created) whose every
    statement is declared are acknowledged; the grantee's other findings stay the app's.
    """
    principal = grantee.grant_principal
    policy = principal.node.try_find_child("DefaultPolicy") if isinstance(principal, Construct) else None
    resource = policy.node.default_child if isinstance(policy, iam.Policy) else None
    if resource is not None:
        Aspects.of(resource).add(_AcknowledgeDeclaredWildcards(owner, EXPERIMENT, grantee=True))


def _wildcard_acknowledgements(
    policy: iam.CfnPolicy, canonical: Canonical, *, grantee: bool = False
) -> list[Acknowledgment]:
    stack = Stack.of(policy)
    roles = [canonical.of_logical_id(r.get("Ref", "")) for r in _as_list(stack.resolve(policy.roles))]
    if grantee:
        roles = ["{given}"] * bool(roles)
    if not roles or None in roles:
        return []
    findings: dict[str, list[str | None]] = {}
    for role in roles:
        assert role is not None
        for atom in canonical.atoms(stack.resolve(policy.policy_document), policy_of=role, kind=IDENTITY):
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

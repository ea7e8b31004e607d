"""The shape of a declared IAM statement, and how a declaration becomes an ``iam.PolicyStatement``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Stack
from aws_cdk import aws_iam as iam

from constructs_pkg.tokens import is_token

IDENTITY = "identity"
TRUST = "trust"
RESOURCE = "resource"

#: Multi-valued condition operators take a list of values.
_LIST_OPERATORS = ("ForAnyValue:", "ForAllValues:")
_PLACEHOLDER = re.compile(r"\{(partition|region|account|given)\}")


@dataclass(frozen=True, kw_only=True)
class Placeholders:
    """A stack's values of the declarations' ``{partition}``, ``{region}`` and ``{account}``.

    Read from the stack once (:meth:`of`, by the stack's provider) rather than per statement: each
    read is a jsii round trip.
    """

    partition: str
    region: str
    account: str

    @classmethod
    def of(cls, stack: Stack) -> Placeholders:
        return cls(partition=stack.partition, region=stack.region, account=stack.account)

    @property
    def concrete_region(self) -> str | None:
        """The region when the stack's environment names it, else None."""
        return None if is_token(self.region) else self.region

    @property
    def concrete_account(self) -> str | None:
        """The account when the stack's environment names it, else None."""
        return None if is_token(self.account) else self.account


@dataclass(frozen=True, kw_only=True)
class Condition:
    """One condition key of a statement: ``operator`` ``key`` = one of ``values`` (patterns)."""

    operator: str
    key: str
    values: tuple[str, ...]

    @property
    def text(self) -> str:
        """``Operator key=value,value``, as docs/security.md shows it."""
        return f"{self.operator} {self.key}={','.join(sorted(self.values))}"


@dataclass(frozen=True, kw_only=True)
class Statement:
    """One policy statement (or a family of statements of one shape) that the constructs create.

    :param sid: the statement's name; the ``Sid`` of the statements this library writes itself.
    :param policy_of: whose policy: a role or resource path, or ``{given}`` (a resource passed in).
    :param kind: ``identity`` (a role's policy), ``trust`` (who may assume the role) or
        ``resource`` (a bucket or key policy).
    :param actions: the actions; a synthesized statement may hold any subset of them.
    :param resources: patterns, one of which each resource of the statement matches.
    :param why: why the statement is needed.
    :param principal: the principal of a trust or resource policy, as ``Kind:name``.
    :param effect: ``Allow`` or ``Deny``.
    :param conditions: the condition keys. Default: none.
    :param wildcard: why a wildcard in the actions or resources cannot be avoided; the reason of
        the ``AwsSolutions-IAM5`` acknowledgement. Default: none (no wildcard allowed).
    :param when: when the statement exists. Default: always.
    :param written_by: the aws-cdk-lib API that writes the statement (with this declaration's
        actions where it takes them). Default: none, the library writes it with
        :func:`policy_statement`.
    """

    sid: str
    policy_of: str
    kind: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    why: str
    principal: str | None = None
    effect: str = "Allow"
    conditions: tuple[Condition, ...] = ()
    wildcard: str | None = None
    when: str = "always"
    written_by: str | None = None

    @property
    def condition(self) -> str | None:
        """The conditions as ``Operator key=value`` joined by ``; ``, in the order IAM sorts them."""
        parts = sorted(self.conditions, key=lambda c: (c.operator, c.key))
        return "; ".join(c.text for c in parts) or None


def policy_statement(
    declared: Statement,
    stack: Placeholders,
    *,
    given: Sequence[str] = (),
    resources: Sequence[str] | None = None,
    condition_given: str | None = None,
) -> iam.PolicyStatement:
    """The ``iam.PolicyStatement`` of a declaration that this library writes.

    :param declared: the declaration; it must not be ``written_by`` aws-cdk-lib.
    :param stack: the partition, region and account of the stack, filling the patterns.
    :param given: values of ``{given}``: each resource pattern holding it yields one resource per value.
    :param resources: the resources when they are the constructs' own (``<path.Arn>`` patterns),
        which the caller has as tokens. Default: the declared patterns, filled in.
    :param condition_given: the value of ``{given}`` in the conditions.
    """
    assert declared.written_by is None, f"{declared.sid} is written by {declared.written_by}"
    if resources is None:
        resources = _fill_all(declared.resources, stack, given)
    principals = [service_principal(declared, stack)] if declared.principal is not None else []
    conditions: dict[str, dict[str, object]] = {}
    for condition in declared.conditions:
        values = [_fill(v, stack, given=condition_given) for v in condition.values]
        single = len(values) == 1 and not condition.operator.startswith(_LIST_OPERATORS)
        conditions.setdefault(condition.operator, {})[condition.key] = values[0] if single else values
    return iam.PolicyStatement(
        sid=declared.sid,
        effect=iam.Effect.DENY if declared.effect == "Deny" else iam.Effect.ALLOW,
        actions=list(declared.actions),
        resources=list(resources),
        principals=principals or None,
        conditions=conditions or None,
    )


def _fill_all(patterns: Sequence[str], stack: Placeholders, given: Sequence[str]) -> list[str]:
    filled: list[str] = []
    for pattern in patterns:
        assert not pattern.startswith("<"), f"{pattern}: pass the constructs' own resources as resources="
        values = given if "{given}" in pattern else [None]
        filled += [_fill(pattern, stack, given=value) for value in values]
    # Deduplicated in order: sorting would order token strings by token number, which differs
    # between syntheses in one process (non-deterministic templates).
    return list(dict.fromkeys(filled))


def _fill(pattern: str, stack: Placeholders, *, given: str | None = None) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "partition":
            return stack.partition
        if name == "region":
            return stack.region
        if name == "account":
            return stack.account
        if name == "given" and given is not None:
            return given
        raise ValueError(f"{pattern}: no value for {{{name}}}")

    return _PLACEHOLDER.sub(value, pattern)


def service_principal(declared: Statement, stack: Placeholders) -> iam.ServicePrincipal:
    """The service of a trust or resource statement's ``Service:name`` principal."""
    assert declared.principal is not None and declared.principal.startswith("Service:"), declared.sid
    return iam.ServicePrincipal(_fill(declared.principal.removeprefix("Service:"), stack))


def trust(policy_of: str, principal: str, why: str, *, when: str = "always") -> Statement:
    """Who may assume a role: written by aws-cdk-lib's ``iam.Role`` from ``assumed_by``."""
    return Statement(
        sid="Trust",
        policy_of=policy_of,
        kind=TRUST,
        actions=("sts:AssumeRole",),
        resources=(),
        principal=principal,
        why=why,
        when=when,
        written_by="aws-cdk-lib: iam.Role(assumed_by=this principal)",
    )

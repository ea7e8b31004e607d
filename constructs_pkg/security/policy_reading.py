r"""Reading synthesized policies in the terms of the declarations (constructs_pkg/security/statements).

A resolved statement becomes :class:`Atom`\ s (one action on one resource), written with the
declarations' patterns by :class:`Canonical`; :func:`declarations_allowing` names the declared
statements that allow an atom. The wildcard acknowledgements and tests/test_security.py use it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from constructs_pkg.security.conclusion_roles import CONCLUSION_ID
from constructs_pkg.security.declaration import Statement
from constructs_pkg.security.provider_roles import PROVIDER_ID
from constructs_pkg.security.statements import STATEMENTS


@dataclass(frozen=True)
class Atom:
    """One action on one resource of one synthesized statement, in the declarations' terms."""

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
    """Writes resolved values in the declarations' terms.

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
        """A path in the declarations' terms when it is the constructs' own, else None."""
        path = path.removesuffix("/Resource")
        for experiment in self._experiments:
            if path == experiment or path.startswith(experiment + "/"):
                return "{experiment}" + path[len(experiment) :]
        for shared in (PROVIDER_ID, CONCLUSION_ID):
            if path == shared or path.startswith(shared + "/"):
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
                    self._condition_value(v) if not isinstance(v, bool) else str(v).lower()
                    for v in _as_list(condition[operator][key])
                )
                parts.append(f"{operator} {key}={','.join(values)}")
        return "; ".join(parts)

    def _condition_value(self, value: Any) -> str:
        text = self.value(value)
        return "{account}" if self._account is not None and text == self._account else text

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


def allows(statement: Statement, atom: Atom) -> bool:
    """Whether the declared ``statement`` allows ``atom``."""
    return (
        atom.kind == statement.kind
        and atom.effect == statement.effect
        and atom.action in statement.actions
        and _full_match(statement.policy_of, atom.policy_of)
        and _optional_match(statement.principal, atom.principal)
        and _optional_match(statement.condition, atom.condition)
        and (
            any(_full_match(p, atom.resource) for p in statement.resources)
            if statement.resources
            else not atom.resource
        )
    )


def declarations_allowing(atom: Atom) -> list[Statement]:
    """The declared statements that allow ``atom`` (none: the statement is not in docs/security.md)."""
    return [statement for statement in STATEMENTS if allows(statement, atom)]


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

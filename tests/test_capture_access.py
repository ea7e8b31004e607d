"""``ShadowTestExperiment.grant_read_capture``: what ``shadow-test compare`` needs, and nothing more."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from constructs_pkg import DataCapture, ValidationError
from tests.synth import experiment as _experiment
from tests.synth import synth


def _reader(stack: Stack, id: str) -> iam.Role:
    return iam.Role(stack, id, assumed_by=iam.AccountRootPrincipal())


@pytest.fixture(scope="module")
def synthesized() -> tuple[Template, dict[str, Any]]:
    logical: dict[str, Any] = {}

    def build(stack: Stack) -> None:
        key = kms.Key(stack, "CaptureKey")
        encrypted = _experiment(stack, "Encrypted", DataCapture(prefix="/capture/", kms_key=key))
        encrypted.grant_read_capture(_reader(stack, "AnalystRole"))
        own_bucket = s3.Bucket(stack, "TeamBucket")
        plain = _experiment(stack, "Plain", DataCapture(bucket=own_bucket))
        plain.grant_read_capture(_reader(stack, "NotebookRole"))
        with pytest.raises(ValueError, match="has no data_capture"):
            _experiment(stack, "NoCapture", None).grant_read_capture(_reader(stack, "Nobody"))
        for name, construct in (
            ("key", key),
            ("encrypted_bucket", encrypted.data_capture_bucket),
            ("team_bucket", own_bucket),
        ):
            logical[name] = stack.get_logical_id(construct.node.default_child)  # type: ignore[union-attr]

    template, _stack = synth(build)
    return template, logical


def _statements_of(template: Template, role_prefix: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        roles = policy["Properties"].get("Roles", [])
        if any(role.get("Ref", "").startswith(role_prefix) for role in roles):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _actions(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


def test_list_bucket_is_limited_to_the_capture_prefix(synthesized: tuple[Template, dict[str, Any]]) -> None:
    template, logical = synthesized
    listing = [s for s in _statements_of(template, "AnalystRole") if "s3:ListBucket" in _actions(s)]
    assert listing == [
        {
            "Action": "s3:ListBucket",
            "Condition": {"StringLike": {"s3:prefix": ["capture/*"]}},
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [logical["encrypted_bucket"], "Arn"]},
        }
    ]


def test_get_object_is_on_the_objects_under_the_prefix(synthesized: tuple[Template, dict[str, Any]]) -> None:
    template, logical = synthesized
    reading = [s for s in _statements_of(template, "AnalystRole") if "s3:GetObject" in _actions(s)]
    assert reading == [
        {
            "Action": "s3:GetObject",
            "Effect": "Allow",
            "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": [logical["encrypted_bucket"], "Arn"]}, "/capture/*"]]},
        }
    ]


def test_decrypt_is_granted_once_on_the_capture_key(synthesized: tuple[Template, dict[str, Any]]) -> None:
    template, logical = synthesized
    decrypting = [s for s in _statements_of(template, "AnalystRole") if any(a.startswith("kms:") for a in _actions(s))]
    assert decrypting == [
        {"Action": "kms:Decrypt", "Effect": "Allow", "Resource": {"Fn::GetAtt": [logical["key"], "Arn"]}}
    ]


def test_nothing_else_is_granted(synthesized: tuple[Template, dict[str, Any]]) -> None:
    template, _logical = synthesized
    granted = set().union(*(_actions(s) for s in _statements_of(template, "AnalystRole")))
    assert granted == {"s3:ListBucket", "s3:GetObject", "kms:Decrypt"}


def test_without_prefix_or_key_the_whole_bucket_is_readable_and_nothing_decrypted(
    synthesized: tuple[Template, dict[str, Any]],
) -> None:
    template, logical = synthesized
    statements = _statements_of(template, "NotebookRole")
    bucket_arn = {"Fn::GetAtt": [logical["team_bucket"], "Arn"]}
    assert statements == [
        {"Action": "s3:ListBucket", "Effect": "Allow", "Resource": bucket_arn},
        {"Action": "s3:GetObject", "Effect": "Allow", "Resource": {"Fn::Join": ["", [bucket_arn, "/*"]]}},
    ]


def test_experiment_without_capture_grants_nothing(synthesized: tuple[Template, dict[str, Any]]) -> None:
    template, _logical = synthesized
    assert _statements_of(template, "Nobody") == []


def test_grant_read_capture_without_data_capture_names_the_experiment_and_the_fix() -> None:
    stack = Stack(App(analytics_reporting=False), "NoCaptureStack")
    experiment = _experiment(stack, "NoCapture", None)
    with pytest.raises(ValidationError) as caught:
        experiment.grant_read_capture(_reader(stack, "Nobody"))
    assert str(caught.value).startswith("NoCaptureStack/NoCapture:")
    (problem,) = caught.value.problems
    assert problem.startswith("data_capture: ") and "set data_capture=DataCapture(...)" in problem

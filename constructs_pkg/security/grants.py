"""The grants of an experiment's role, written from the declarations in constructs_pkg/security/statements."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from constructs_pkg.security import experiment_roles as declared
from constructs_pkg.security.declaration import Placeholders, policy_statement
from constructs_pkg.tokens import is_token


def _sagemaker_name(name: str) -> str:
    # SageMaker writes resource names lower-case in ARNs; a token is used as it resolves.
    return name if is_token(name) else name.lower()


def grant_shadow_test(
    role: iam.IRole,
    stack: Placeholders,
    *,
    endpoint_name: str,
    model_names: Sequence[str],
    capture_bucket: s3.IBucket | None,
    capture_prefix: str | None,
) -> None:
    """What SageMaker does with the experiment's role: run the shadow variant on this endpoint."""
    statements = [
        policy_statement(declared.SHADOW_VARIANT_ON_ENDPOINT, stack, given=[_sagemaker_name(endpoint_name)]),
        policy_statement(declared.ENDPOINT_CONFIGS, stack),
        policy_statement(declared.VARIANT_MODELS, stack, given=[_sagemaker_name(m) for m in model_names]),
    ]
    if capture_bucket is not None:
        prefix = (capture_prefix or "").strip("/")
        objects = capture_bucket.arn_for_objects(f"{prefix}/*" if prefix else "*")
        statements.append(policy_statement(declared.WRITE_CAPTURED_DATA, stack, resources=[objects]))
        if capture_bucket.encryption_key is not None:
            capture_bucket.encryption_key.grant(role, *declared.CAPTURE_KEY.actions)
    for statement in statements:
        role.add_to_principal_policy(statement)


def grant_capture_key(role: iam.IRole, key: kms.IKey) -> None:
    """SageMaker encrypts captured data with ``data_capture.kms_key``."""
    key.grant(role, *declared.CAPTURE_KEY.actions)


def grant_volume_key(role: iam.IRole, stack: Placeholders, key: kms.IKey | str | None) -> None:
    """Let the shadow variant's instances use ``kms_key``: a key, or a key ARN, key id, alias or alias ARN."""
    if key is None:
        return
    if not isinstance(key, str):
        key.grant(role, *declared.VOLUME_KEY.actions)
        return
    if is_token(key) or (key.startswith("arn:") and ":key/" in key):
        statement = policy_statement(declared.VOLUME_KEY_BY_ARN, stack, given=[key])
    elif key.startswith("alias/") or ":alias/" in key:
        alias = key.split(":alias/", 1)[-1].removeprefix("alias/")
        statement = policy_statement(declared.VOLUME_KEY_BY_ALIAS, stack, condition_given=alias)
    else:
        statement = policy_statement(declared.VOLUME_KEY_BY_ID, stack, given=[key])
    role.add_to_principal_policy(statement)

"""The capture bucket a ``ShadowTestExperiment`` creates, and the bucket receiving its access logs.

Following aws-solutions-constructs, server access logging is on by default: to a bucket the caller
passes, or else to a bucket created next to the capture bucket with the same protections. The
"no access logs" findings of that log bucket are acknowledged (constructs_pkg/security/acknowledgements.py);
turning logging off leaves the capture bucket's finding to the user.
"""

from __future__ import annotations

from aws_cdk import FeatureFlags, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from constructs_pkg.errors import ValidationError

CAPTURE_BUCKET_ID = "CaptureBucket"
ACCESS_LOG_BUCKET_ID = "CaptureAccessLogs"
#: With it, aws-cdk-lib lets S3 logging write through a bucket policy; without it, through the ACL.
_LOGS_USE_BUCKET_POLICY = "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"


def create_capture_bucket(
    scope: Construct,
    *,
    key: kms.IKey | None,
    removal_policy: RemovalPolicy,
    access_logs: bool,
    access_logs_bucket: s3.IBucket | None,
    access_logs_prefix: str | None,
) -> s3.Bucket:
    """A private, TLS-only, encrypted (with ``key`` when given), versioned, owner-enforced bucket.

    :param access_logs: whether S3 server access logging is on.
    :param access_logs_bucket: where the access logs go. Default: a bucket this function creates.
    """
    if not access_logs and access_logs_bucket is not None:
        raise ValidationError(
            scope.node.path,
            ["capture_access_logs_bucket: given while capture_access_logs is False (remove one of them)"],
        )
    if access_logs and access_logs_bucket is None:
        access_logs_bucket = _create_access_log_bucket(scope, removal_policy)
    return s3.Bucket(
        scope,
        CAPTURE_BUCKET_ID,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        encryption=s3.BucketEncryption.KMS if key else s3.BucketEncryption.S3_MANAGED,
        encryption_key=key,
        bucket_key_enabled=True if key else None,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=True,
        removal_policy=removal_policy,
        auto_delete_objects=False,
        server_access_logs_bucket=access_logs_bucket,
        server_access_logs_prefix=access_logs_prefix if access_logs else None,
    )


def _create_access_log_bucket(scope: Construct, removal_policy: RemovalPolicy) -> s3.Bucket:
    """The capture bucket's protections, with S3-managed keys: server access logging supports no other."""
    # Log delivery through the bucket policy works with ACLs disabled; the ACL path needs the
    # log-delivery group's ACL, so the bucket's writer must own the objects.
    by_policy = FeatureFlags.of(scope).is_enabled(_LOGS_USE_BUCKET_POLICY)
    return s3.Bucket(
        scope,
        ACCESS_LOG_BUCKET_ID,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        encryption=s3.BucketEncryption.S3_MANAGED,
        object_ownership=(s3.ObjectOwnership.BUCKET_OWNER_ENFORCED if by_policy else s3.ObjectOwnership.OBJECT_WRITER),
        versioned=True,
        removal_policy=removal_policy,
        auto_delete_objects=False,
    )

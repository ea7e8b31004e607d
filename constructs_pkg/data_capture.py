"""Where SageMaker stores the requests and responses of both variants."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3


@dataclass(frozen=True, kw_only=True)
class DataCapture:
    """Capture of inference requests and responses to S3, to compare the variants afterwards.

    :param bucket: the bucket to write to. Default: the construct creates one that blocks public
        access, enforces TLS, is encrypted (with ``kms_key`` when given, S3-managed keys
        otherwise), versioned and retained when the stack is deleted.
    :param prefix: the key prefix of the captured objects. Default: none (the bucket's root).
    :param kms_key: the key SageMaker encrypts captured data with. Default: the bucket's encryption.
    :param json_content_types: content types SageMaker captures as JSON (at most 10).
        Default: SageMaker's default.
    :param csv_content_types: content types SageMaker captures as CSV (at most 10).
        Default: SageMaker's default.
    """

    bucket: s3.IBucket | None = None
    prefix: str | None = None
    kms_key: kms.IKey | None = None
    json_content_types: Sequence[str] | None = None
    csv_content_types: Sequence[str] | None = None

"""Who may read a shadow test's data capture: ``grant_read_capture``, the permissions ``shadow-test compare`` needs."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from constructs_pkg.errors import ValidationError
from constructs_pkg.props import DataCapture
from constructs_pkg.security.experiment_roles import READ_CAPTURE_KEY, READ_CAPTURE_LIST, READ_CAPTURE_OBJECTS

__all__ = ["READ_CAPTURE_ACTIONS", "CaptureAccessMixin", "grant_read_capture"]

#: What reading the capture takes: list the prefix, get its objects, decrypt them.
READ_CAPTURE_ACTIONS = (
    *READ_CAPTURE_LIST.actions,
    *READ_CAPTURE_OBJECTS.actions,
    *READ_CAPTURE_KEY.actions,
)


def grant_read_capture(
    grantee: iam.IGrantable, *, bucket: s3.IBucket, data_capture: DataCapture, owner: str = "the experiment"
) -> iam.Grant:
    """Let ``grantee`` list and read the objects under the capture prefix and decrypt them.

    ``s3:ListBucket`` is limited to the prefix by the ``s3:prefix`` condition (ListBucket is a bucket
    action: its resource is the bucket, not the objects); ``s3:GetObject`` is on the prefix's objects;
    ``kms:Decrypt`` is on the bucket's key and on ``data_capture.kms_key``, whichever are set (one
    encrypts the objects: SageMaker's ``KmsKey`` when given, the bucket's default key otherwise).
    """
    prefix = (data_capture.prefix or "").strip("/")
    list_conditions = {"StringLike": {"s3:prefix": [f"{prefix}/*"]}} if prefix else None
    listing = iam.Grant.add_to_principal(
        grantee=grantee,
        actions=list(READ_CAPTURE_LIST.actions),
        resource_arns=[bucket.bucket_arn],
        conditions=list_conditions,
    )
    reading = iam.Grant.add_to_principal(
        grantee=grantee,
        actions=list(READ_CAPTURE_OBJECTS.actions),
        resource_arns=[bucket.arn_for_objects(f"{prefix}/*" if prefix else "*")],
    )
    grant = listing.combine(reading)
    keys: list[kms.IKey] = [key for key in (bucket.encryption_key, data_capture.kms_key) if key is not None]
    for key in dict.fromkeys(keys):
        grant = grant.combine(key.grant_decrypt(grantee))
    if not grant.success:
        raise ValidationError(
            owner,
            [
                f"grant_read_capture: could not add the statements to the policy of {grantee}: grant to a role, "
                "user or group that has a policy, or give it READ_CAPTURE_ACTIONS on the capture yourself"
            ],
        )
    return grant


class CaptureAccessMixin:
    """``grant_read_capture`` for a construct with ``data_capture_bucket`` and ``data_capture``."""

    data_capture_bucket: s3.IBucket | None
    data_capture: DataCapture | None

    def grant_read_capture(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` read this shadow test's data capture, e.g. to run ``shadow-test compare``.

        Grants ``s3:ListBucket`` on the capture bucket for the capture prefix, ``s3:GetObject`` on the
        objects under it, and ``kms:Decrypt`` on the capture's key(s): the bucket's encryption key and
        ``DataCapture.kms_key``, where set (a key of another stack or account must also allow it in
        its key policy).

        :raises ValidationError: if the experiment has no ``data_capture``, naming the experiment.
        """
        path = self.node.path if isinstance(self, Construct) else type(self).__name__
        if self.data_capture_bucket is None or self.data_capture is None:
            raise ValidationError(
                path,
                [
                    "data_capture: grant_read_capture was called but the experiment has no data_capture, so there "
                    "is nothing to read. Fix: set data_capture=DataCapture(...) on the experiment, or drop the grant"
                ],
            )
        return grant_read_capture(grantee, bucket=self.data_capture_bucket, data_capture=self.data_capture, owner=path)

"""The value types of ShadowTestExperiment's props: variants, data capture, schedule and desired state."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from shadow_test_core.experiment import settings


@dataclass(frozen=True, kw_only=True)
class ModelVariant:
    """One model variant on the endpoint: the model and the infrastructure that serves it.

    :param variant_name: the variant's name on the endpoint. For the production variant, the name
        of a variant the endpoint already serves.
    :param model_name: the SageMaker model the variant serves (a literal or a token such as
        ``CfnModel.attr_model_name``).
    :param instance_type: a SageMaker production-variant instance type, e.g. ``ml.m5.large``.
    :param instance_count: how many instances serve the variant. Default: 1.
    """

    variant_name: str
    model_name: str
    instance_type: str
    instance_count: int | None = None


class VariantAction(enum.Enum):
    """What SageMaker does with the shadow variant when the experiment stops."""

    #: The shadow variant replaces the production variant (its model and infrastructure).
    PROMOTE = settings.PROMOTE
    #: The shadow variant stays on the endpoint (and keeps being billed).
    RETAIN = settings.RETAIN
    #: The shadow variant is removed from the endpoint; production is untouched.
    REMOVE = settings.REMOVE


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


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """When the shadow test starts and ends. SageMaker allows at most 30 days.

    :param start_time: when SageMaker starts the test (timezone-aware). Default: when it is created.
    :param end_time: when the test ends (timezone-aware). Give this or ``duration``, not both.
        Default: ``start_time`` plus ``duration``, or SageMaker's default of 7 days.
    :param duration: how long the test runs from its start. It is turned into start and end times
        by the handler at deploy time, never at synth time, so templates stay deterministic.
        Default: none (``end_time`` or SageMaker's 7 days).
    """

    start_time: datetime | None = None
    end_time: datetime | None = None
    duration: Duration | None = None


class DesiredState(enum.Enum):
    """The state ``ShadowTestExperiment(desired_state=...)`` brings the experiment to.

    The same three values as ``AWS::SageMaker::InferenceExperiment``'s ``DesiredState``.
    """

    #: Run now: a test scheduled to start later starts at the deploy.
    RUNNING = settings.DESIRED_RUNNING
    #: End the test now, applying ``shadow_action_on_delete`` to the shadow variant.
    COMPLETED = settings.DESIRED_COMPLETED
    #: End the test now as cancelled, applying ``shadow_action_on_delete`` to the shadow variant.
    CANCELLED = settings.DESIRED_CANCELLED

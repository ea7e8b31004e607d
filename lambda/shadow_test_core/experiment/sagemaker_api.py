"""The only module that talks to SageMaker: the client, describing experiments, classifying errors.

Never logs a request: botocore's own DEBUG logging prints the canonical request, session token
included (``x-amz-security-token``), so :func:`quiet_botocore_debug_logging` caps the AWS SDK's
loggers at INFO before a client exists, whatever level the Lambda function's log level sets.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shadow_test_core.consts import ENV_MAX_ATTEMPTS, OWNER_RESOURCE_TAG, OWNER_STACK_TAG
from shadow_test_core.experiment import settings
from shadow_test_core.experiment.decisions import Experiment
from shadow_test_core.experiment.statuses import ENDED

_THROTTLING = frozenset(
    {"Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded", "TooManyRequestsException"}
)
_TRANSIENT = _THROTTLING | {"InternalFailure", "InternalServerError", "ServiceUnavailable", "InternalError"}
_DEFAULT_MAX_ATTEMPTS = 8
#: Loggers of the AWS SDK whose DEBUG records can carry credentials or signed requests.
_SDK_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")


def quiet_botocore_debug_logging() -> None:
    """Keep credentials out of the logs at every log level: the SDK's loggers never go below INFO."""
    for name in _SDK_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)


def error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def error_message(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Message", "")) or str(error)


def is_refusal(error: Exception) -> bool:
    """Whether SageMaker answered with an error (rather than the call failing to arrive)."""
    from botocore.exceptions import ClientError

    return isinstance(error, ClientError) and error_code(error) not in _TRANSIENT


def is_transient(error: Exception) -> bool:
    """Throttling, a server error or a lost connection that outlasted the client's retries."""
    from botocore.exceptions import BotoCoreError

    return isinstance(error, BotoCoreError) or error_code(error) in _TRANSIENT


def create_client(*, max_attempts: int | None = None) -> Any:
    """A SageMaker client with adaptive retries; ``SAGEMAKER_MAX_ATTEMPTS`` sets the attempts.

    Adaptive mode is standard mode (exponential backoff with jitter) plus a client-side token
    bucket that slows this client down once SageMaker throttles it, so that many experiments
    deployed at once share the account's quota instead of retrying in step.
    """
    import botocore.session
    from botocore.config import Config

    quiet_botocore_debug_logging()
    attempts = max_attempts or int(os.environ.get(ENV_MAX_ATTEMPTS) or _DEFAULT_MAX_ATTEMPTS)
    return botocore.session.get_session().create_client(
        "sagemaker",
        config=Config(
            retries={"mode": "adaptive", "total_max_attempts": max(1, attempts)},
            connect_timeout=5,
            read_timeout=30,
        ),
    )


def described_values(response: Mapping[str, Any]) -> dict[str, Any]:
    """A ``DescribeInferenceExperiment`` response as prop-path values (the settings' own terms)."""
    shadow_config = response.get("ShadowModeConfig") or {}
    by_name = {v.get("VariantName"): v for v in response.get("ModelVariants") or []}
    source = shadow_config.get("SourceModelVariantName")
    shadows = shadow_config.get("ShadowModelVariants") or [{}]
    document = {
        **response,
        "EndpointName": (response.get("EndpointMetadata") or {}).get("EndpointName"),
        "ModelVariants": [by_name.get(source, {}), by_name.get(shadows[0].get("ShadowModelVariantName"), {})],
    }
    values = {}
    for setting in settings.SETTINGS:
        if setting.sent_to_sagemaker and setting.kind != settings.TAGS:
            values[setting.prop] = settings.get(document, setting.member)
    return values


#: The SageMaker operations a plan may call, and the boto3 client method of each.
CALLS: dict[str, Callable[[Any], Callable[..., Any]]] = {
    "CreateInferenceExperiment": lambda client: client.create_inference_experiment,
    "UpdateInferenceExperiment": lambda client: client.update_inference_experiment,
    "StartInferenceExperiment": lambda client: client.start_inference_experiment,
    "StopInferenceExperiment": lambda client: client.stop_inference_experiment,
    "DeleteInferenceExperiment": lambda client: client.delete_inference_experiment,
    "AddTags": lambda client: client.add_tags,
    "DeleteTags": lambda client: client.delete_tags,
}


@dataclass
class SageMakerApi:
    """SageMaker as the handler sees it: calls by operation name, experiments described."""

    client: Any

    def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return dict(CALLS[operation](self.client)(**params))

    def describe(self, name: str, *, read_tags: bool = True) -> Experiment | None:
        """The experiment (with its owner tags when ``read_tags``), or None when it does not exist."""
        try:
            response = self.client.describe_inference_experiment(Name=name)
        except self.client.exceptions.ResourceNotFound:
            return None
        tags: dict[str, str] = {}
        if read_tags:
            for page in self.client.get_paginator("list_tags").paginate(ResourceArn=response["Arn"]):
                tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
        created = response.get("CreationTime")
        schedule = response.get("Schedule") or {}
        values = described_values(response)
        return Experiment(
            name=response["Name"],
            arn=response["Arn"],
            status=response["Status"],
            status_reason=response.get("StatusReason"),
            endpoint_name=response["EndpointMetadata"]["EndpointName"],
            creation_time=created.isoformat() if isinstance(created, datetime) else None,
            start_time=schedule.get("StartTime"),
            source_variant=values["production_variant.variant_name"],
            shadow_variant=values["shadow_variant.variant_name"],
            owner_stack_id=tags.get(OWNER_STACK_TAG),
            owner_logical_id=tags.get(OWNER_RESOURCE_TAG),
            described=values,
        )

    def active_on_endpoint(self, endpoint_name: str, *, besides: str) -> Experiment | None:
        """The active experiment on ``endpoint_name`` (SageMaker allows one), found by listing and describing."""
        for page in self.client.get_paginator("list_inference_experiments").paginate(Type="ShadowMode"):
            for summary in page.get("InferenceExperiments", []):
                if summary["Status"] in ENDED or summary["Name"] == besides:
                    continue
                candidate = self.describe(summary["Name"])
                if candidate and candidate.endpoint_name == endpoint_name and candidate.status not in ENDED:
                    return candidate
        return None

    def endpoint_problem(self, endpoint_name: str, production_variant: str) -> str | None:
        """Why the production variant cannot be shadowed, checked before anything is created."""
        try:
            endpoint = self.client.describe_endpoint(EndpointName=endpoint_name)
        except self.client.exceptions.ClientError as error:
            if error_code(error) == "ValidationException":
                return f"endpoint_name: SageMaker endpoint {endpoint_name!r} does not exist ({error_message(error)})"
            raise
        variants = [v["VariantName"] for v in endpoint.get("ProductionVariants", [])]
        if production_variant not in variants:
            return (
                f"production_variant.variant_name: endpoint {endpoint_name!r} has no variant "
                f"{production_variant!r} (its variants: {', '.join(variants) or 'none'})"
            )
        return None

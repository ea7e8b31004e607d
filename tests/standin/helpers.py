"""Requests and client helpers for the stand-in's tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

ROLE_ARN = "arn:aws:iam::123456789012:role/shadow-test"
ENDPOINT = "ep-1"

ClientFactory = Callable[..., BaseClient]


def sagemaker_client(url: str, max_attempts: int = 1, **config: Any) -> BaseClient:
    """A real SageMaker client for the stand-in at ``url``.

    ``max_attempts`` counts the first attempt too (botocore's ``total_max_attempts``); the
    default of 1 means no retries.
    """
    return boto3.client(
        "sagemaker",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": max_attempts}, **config),
    )


def production_variant(name: str = "prod", model: str = "m-a") -> dict[str, Any]:
    return {"VariantName": name, "ModelName": model, "InstanceType": "ml.m5.large", "InstanceCount": 1}


def model_variant(name: str, model: str, instance_type: str = "ml.m5.large") -> dict[str, Any]:
    return {
        "ModelName": model,
        "VariantName": name,
        "InfrastructureConfig": {
            "InfrastructureType": "RealTimeInference",
            "RealTimeInferenceConfig": {"InstanceType": instance_type, "InstanceCount": 1},
        },
    }


def create_params(name: str = "exp-1", endpoint: str = ENDPOINT, **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "Name": name,
        "Type": "ShadowMode",
        "RoleArn": ROLE_ARN,
        "EndpointName": endpoint,
        "ModelVariants": [model_variant("prod", "m-a"), model_variant("shadow", "m-b")],
        "ShadowModeConfig": {
            "SourceModelVariantName": "prod",
            "ShadowModelVariants": [{"ShadowModelVariantName": "shadow", "SamplingPercentage": 50}],
        },
    }
    params.update(overrides)
    return params


def statuses(client: BaseClient, name: str, count: int) -> list[str]:
    return [client.describe_inference_experiment(Name=name)["Status"] for _ in range(count)]


def wait_for(client: BaseClient, name: str, status: str, limit: int = 10) -> None:
    for _ in range(limit):
        if client.describe_inference_experiment(Name=name)["Status"] == status:
            return
    raise AssertionError(f"{name} never reached {status}")


def start_running(client: BaseClient, name: str = "exp-1", **overrides: Any) -> None:
    client.create_inference_experiment(**create_params(name, **overrides))
    wait_for(client, name, "Running")


def error_of(call: Callable[..., Any], **params: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return caught.value.response["Error"]

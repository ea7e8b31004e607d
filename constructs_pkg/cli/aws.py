"""The AWS calls of ``shadow-test``: SageMaker inference experiments and CloudWatch metrics.

Clients come from boto3's default session, so the usual environment works:
``AWS_PROFILE``, ``AWS_REGION``, and ``AWS_ENDPOINT_URL_SAGEMAKER`` /
``AWS_ENDPOINT_URL_CLOUDWATCH`` for stand-ins.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

import boto3

from shadow_test_core.experiment import settings
from shadow_test_core.verdict.cloudwatch import PERIOD_QUERIES, MetricQuery, Series, fetch_periods
from shadow_test_core.verdict.described import (
    TERMINAL_STATUSES,
    ExperimentInfo,
    VariantInfo,
    parse_experiment,
    stop_request_for,
)

__all__ = [
    "PERIOD_QUERIES",
    "TERMINAL_STATUSES",
    "ExperimentInfo",
    "MetricQuery",
    "Series",
    "VariantInfo",
    "WaitTimeout",
    "cloudwatch_client",
    "describe_experiment",
    "fetch_periods",
    "parse_experiment",
    "sagemaker_client",
    "stop_experiment",
    "wait_until_stopped",
]


def sagemaker_client(region: str | None = None) -> Any:
    """SageMaker client from the default boto3 session."""
    return boto3.client("sagemaker", region_name=region)


def cloudwatch_client(region: str | None = None) -> Any:
    """CloudWatch client from the default boto3 session."""
    return boto3.client("cloudwatch", region_name=region)


# -- experiments ----------------------------------------------------------------------


def describe_experiment(client: Any, name: str) -> ExperimentInfo:
    """``DescribeInferenceExperiment``, parsed."""
    return parse_experiment(client.describe_inference_experiment(Name=name))


def stop_experiment(
    client: Any,
    experiment: ExperimentInfo,
    *,
    action: Literal["promote", "stop"],
    desired_state: str = settings.DESIRED_COMPLETED,
    reason: str | None = None,
) -> dict[str, Any]:
    """``StopInferenceExperiment`` (see :func:`stop_request_for`); returns the request that was sent."""
    request = stop_request_for(experiment, action=action, desired_state=desired_state, reason=reason)
    client.stop_inference_experiment(**request)
    return request


class WaitTimeout(TimeoutError):
    """The experiment did not reach a terminal status in time."""

    def __init__(self, experiment: ExperimentInfo, waited: float) -> None:
        super().__init__(f"{experiment.name} is still {experiment.status} after {waited:.0f}s")
        self.experiment = experiment


def wait_until_stopped(
    client: Any,
    name: str,
    *,
    poll_interval: float,
    timeout: float,
    on_poll: Callable[[ExperimentInfo, float], None] = lambda _experiment, _elapsed: None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ExperimentInfo:
    """Poll until the experiment is ``Completed`` or ``Cancelled``.

    :param on_poll: called after every poll with the experiment and the
        seconds elapsed, e.g. to show progress.
    :raises WaitTimeout: if ``timeout`` seconds pass first.
    """
    started = clock()
    while True:
        experiment = describe_experiment(client, name)
        elapsed = clock() - started
        on_poll(experiment, elapsed)
        if experiment.is_terminal:
            return experiment
        if elapsed + poll_interval > timeout:
            raise WaitTimeout(experiment, elapsed)
        sleep(poll_interval)

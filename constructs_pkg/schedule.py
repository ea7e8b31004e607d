"""When the shadow test runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aws_cdk import Duration


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

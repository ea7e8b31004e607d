"""What decisions work with: the request, the experiment as described, and the plan they return.

Plain values, no I/O. The handler builds :class:`Request` from the CloudFormation event and
:class:`Experiment` from SageMaker's answers; :mod:`decisions`, :mod:`in_place` and
:mod:`recovery` return a :class:`Plan`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shadow_test_core.consts import REPLACES_NAME
from shadow_test_core.experiment.spec import ExperimentSpec, generated_name, owner_tags

#: The deadline falls this many query intervals before the Provider framework's total timeout.
DEADLINE_MARGIN_INTERVALS = 2
#: The end time SageMaker reports may differ from the one asked for by less than this.
END_TIME_TOLERANCE = timedelta(seconds=60)


@dataclass(frozen=True, kw_only=True)
class Experiment:
    """What ``DescribeInferenceExperiment`` (and ``ListTags``) told us about one experiment.

    ``None`` in an optional field means "not known", never "empty".
    """

    name: str
    arn: str
    status: str
    endpoint_name: str
    #: Whether the request's resource created it (see :func:`recognise`).
    owned: bool = False
    status_reason: str | None = None
    creation_time: str | None = None
    start_time: datetime | None = None
    #: The experiment's settings as prop-path values (see ``settings.from_properties``).
    described: Mapping[str, Any] = field(default_factory=dict)
    source_variant: str | None = None
    shadow_variant: str | None = None
    owner_stack_id: str | None = None
    owner_logical_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Request:
    """The parts of a CloudFormation custom-resource event that decisions depend on."""

    request_type: str
    stack_id: str
    logical_id: str
    request_id: str
    physical_id: str | None
    spec: ExperimentSpec
    old_spec: ExperimentSpec | None = None
    #: What ``on_event`` handed on to ``is_complete`` (see :attr:`Plan.state`).
    state: dict[str, str] = field(default_factory=dict)
    #: When ``is_complete`` gives up (see :func:`deadline`); None when the handler was not told.
    deadline: datetime | None = None

    def target_name(self) -> str:
        """The experiment this request creates: the fixed name or one generated for it."""
        return self.spec.experiment_name or generated_name(
            stack_id=self.stack_id, logical_id=self.logical_id, request_id=self.request_id
        )


@dataclass(frozen=True)
class Call:
    operation: str
    params: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Plan:
    """SageMaker calls to make, in order, then the answer to give."""

    calls: tuple[Call, ...] = ()
    physical_id: str | None = None
    #: The resource's attributes (``Data``), given when complete.
    data: dict[str, str] = field(default_factory=dict)
    #: What ``on_event`` hands on to ``is_complete`` (never sent to CloudFormation).
    state: dict[str, str] = field(default_factory=dict)
    complete: bool = False
    failure: str | None = None
    reason: str = ""

    @property
    def creates(self) -> bool:
        """Whether this plan leads to a new experiment (now, or once the old one is out of the way)."""
        return REPLACES_NAME in self.state or any(c.operation == "CreateInferenceExperiment" for c in self.calls)


def deadline(
    started_at: str | None, total_timeout_seconds: float | None, query_interval_seconds: float
) -> datetime | None:
    """When ``is_complete`` stops waiting: the total timeout after the start, less two query intervals.

    The Provider framework polls ``is_complete`` every query interval until its total timeout
    and then answers "Operation timed out" itself; giving up a little earlier lets the handler
    fail with what it last saw instead.
    """
    if not started_at or not total_timeout_seconds:
        return None
    try:
        started = datetime.fromisoformat(started_at)
    except ValueError:
        return None
    margin = min(DEADLINE_MARGIN_INTERVALS * query_interval_seconds, total_timeout_seconds / 2)
    return started + timedelta(seconds=total_timeout_seconds - margin)


def experiment_data(experiment: Experiment) -> dict[str, str]:
    return {"ExperimentArn": experiment.arn, "ExperimentName": experiment.name}


def create_call(request: Request, name: str, now: datetime) -> Call:
    tags = owner_tags(stack_id=request.stack_id, logical_id=request.logical_id)
    return Call("CreateInferenceExperiment", request.spec.create_request(name=name, now=now, owner_tags=tags))


def withdraw_call(experiment: Experiment, spec: ExperimentSpec) -> Call:
    """Stop ``experiment`` removing its shadow variant, naming the variants it was made with."""
    params = spec.stop_request(name=experiment.name, action="Remove")
    if experiment.source_variant and experiment.shadow_variant:
        params["ModelVariantActions"] = {experiment.source_variant: "Retain", experiment.shadow_variant: "Remove"}
    return Call("StopInferenceExperiment", params)


def foreign_name_failure(name: str) -> str:
    return (
        f"experiment_name {name!r} is already used by an inference experiment that this stack did not "
        "create; choose another name or delete that experiment"
    )

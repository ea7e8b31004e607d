"""The deploy path against the loopback SageMaker stand-in: invocations, API calls, wall time.

The stand-in (``devtools/sagemaker_standin``) runs in this process; the handler runs in a fresh
interpreter (``benchmarks.deploy_child``), a cold Lambda, driven through the Provider-framework
stand-in ``devtools/provider_driver.py``. The stand-in moves an experiment one status per
``DescribeInferenceExperiment`` (``steps_per_transition=1``), so the poll counts are the fewest
the handler needs: one poll per status SageMaker passes through, plus the one that sees it settled.

Real deploys wait ``query_interval`` between polls. The Provider framework's waiter (a Step
Functions task with ``Retry: IntervalSeconds=query_interval, BackoffRate=1``) calls
``is_complete`` once right after ``on_event`` and again after each interval, so a request whose
handler is polled P times waits (P - 1) x query_interval. Estimated wall time of a request:
``sum over its on_event deliveries of (P - 1) x query_interval + measured handler time``.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from benchmarks._measure import PYTHON, ROOT, child_env, last_json_line, progress, timed_run
from devtools.provider_driver import CHURN_VALUES, properties
from devtools.sagemaker_standin import SageMakerStandIn

ENDPOINT = "churn-endpoint"
LOGICAL_ID = "Shadow"
#: The resource's settings as prop paths; the properties are written as the construct writes them.
VALUES: dict[str, Any] = CHURN_VALUES
PROPS = properties(VALUES)
IN_PLACE = properties(VALUES, sampling_percentage=75, description="more traffic")
REPLACED = properties(
    VALUES, sampling_percentage=75, description="more traffic", shadow_variant__instance_type="ml.g5.xlarge"
)

#: (label, command) in order; each starts from the state the previous one left.
STEPS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("create", {"op": "create", "props": PROPS}),
    ("in-place update (sampling, description)", {"op": "update", "props": IN_PLACE, "old_props": PROPS}),
    (
        "replacing update (shadow instance type), with CloudFormation's cleanup delete",
        {"op": "update", "props": REPLACED, "old_props": IN_PLACE},
    ),
    ("delete", {"op": "delete", "props": REPLACED}),
)

_DEFAULTS_PROBE = """
import inspect, json
from constructs_pkg import ShadowTestExperiment
from constructs_pkg.provider import DEFAULT_QUERY_INTERVAL, DEFAULT_TOTAL_TIMEOUT
props = inspect.signature(ShadowTestExperiment.__init__).parameters
print(json.dumps({
    "query_interval": DEFAULT_QUERY_INTERVAL.to_seconds(),
    "total_timeout": DEFAULT_TOTAL_TIMEOUT.to_seconds(),
    "props": [name for name in ("query_interval", "total_timeout") if name in props],
}))
"""


@dataclass(frozen=True)
class ProviderDefaults:
    query_interval: float
    total_timeout: float
    props: tuple[str, ...]


@dataclass(frozen=True)
class Step:
    label: str
    status: str
    reason: str
    invocations: tuple[tuple[str, float, tuple[str, ...]], ...]  # (entry point, seconds, SageMaker calls)
    sagemaker_calls: Counter[str]  # as the stand-in received them (retries included)
    wall_seconds: float
    log_lines: int
    log_bytes: int

    def count(self, entry: str) -> int:
        return sum(1 for name, _seconds, _calls in self.invocations if name == entry)

    @property
    def handler_seconds(self) -> float:
        return sum(seconds for _name, seconds, _calls in self.invocations)

    def polls_per_delivery(self) -> list[int]:
        """``is_complete`` calls after each ``on_event`` (a request CloudFormation delivered)."""
        polls: list[int] = []
        for name, _seconds, _calls in self.invocations:
            if name == "on_event":
                polls.append(0)
            elif polls:
                polls[-1] += 1
        return polls

    def waits(self) -> int:
        """Query intervals the framework's waiter sleeps: none before each delivery's first poll."""
        return sum(max(0, polls - 1) for polls in self.polls_per_delivery())

    def estimated_seconds(self, query_interval: float) -> float:
        return self.waits() * query_interval + self.handler_seconds


@dataclass(frozen=True)
class DeployResult:
    defaults: ProviderDefaults
    steps: tuple[Step, ...]
    handler_import_seconds: float
    first_invocation_seconds: float
    warm_invocations: tuple[float, ...] = field(default_factory=tuple)


def provider_defaults() -> ProviderDefaults:
    found = last_json_line(timed_run([PYTHON, "-c", _DEFAULTS_PROBE]).stdout)
    return ProviderDefaults(found["query_interval"], found["total_timeout"], tuple(found["props"]))


Send = Callable[[dict[str, Any]], dict[str, Any]]


@contextlib.contextmanager
def _handler_process(sagemaker_url: str) -> Iterator[Send]:
    """The handler's interpreter; yields a function that sends it one command and returns its answer."""
    env = child_env(AWS_ENDPOINT_URL_SAGEMAKER=sagemaker_url, SAGEMAKER_MAX_ATTEMPTS="4")
    with (
        tempfile.TemporaryFile(mode="w+") as stderr,
        subprocess.Popen(
            [PYTHON, "-m", "benchmarks.deploy_child"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        ) as process,
    ):
        assert process.stdin and process.stdout
        requests, answers = process.stdin, process.stdout

        def send(command: dict[str, Any]) -> dict[str, Any]:
            requests.write(json.dumps({"logical_id": LOGICAL_ID, **command}) + "\n")
            requests.flush()
            line = answers.readline()
            if not line:
                stderr.seek(0)
                raise RuntimeError(f"the handler's process died:\n{stderr.read()[-3000:]}")
            return json.loads(line)

        try:
            yield send
        finally:
            requests.close()  # the child ends at the end of its input


def measure() -> DeployResult:
    defaults = provider_defaults()
    steps: list[Step] = []
    with SageMakerStandIn() as standin:
        standin.add_endpoint(
            ENDPOINT,
            [{"VariantName": "prod", "ModelName": "model-a", "InstanceType": "ml.m5.large", "InstanceCount": 1}],
        )
        with _handler_process(standin.url) as send:
            for label, command in STEPS:
                before = len(standin.calls)
                answer = send(command)
                calls = Counter(operation for operation, _params in standin.calls[before:])
                steps.append(_step(label, answer, calls))
                progress(f"deploy {label}: {answer['status']} in {answer['wall_seconds']:.2f} s")
        import_seconds = answer["handler_import_seconds"]
    invocations = [seconds for step in steps for _name, seconds, _calls in step.invocations]
    return DeployResult(defaults, tuple(steps), import_seconds, invocations[0], tuple(invocations[1:]))


def _step(label: str, answer: dict[str, Any], calls: Counter[str]) -> Step:
    if answer["status"] != "SUCCESS":
        raise RuntimeError(f"{label} failed: {answer['reason']}")
    return Step(
        label=label,
        status=answer["status"],
        reason=answer["reason"],
        invocations=tuple((name, seconds, tuple(calls)) for name, seconds, calls in answer["invocations"]),
        sagemaker_calls=calls,
        wall_seconds=answer["wall_seconds"],
        log_lines=answer["log_lines"],
        log_bytes=answer["log_bytes"],
    )

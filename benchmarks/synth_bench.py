"""Synth time, resource count and template size: the construct next to the native L1 resource.

Every synth is a fresh ``python -m benchmarks.synth_app`` process, timed from spawn to exit, so
each pays what ``cdk synth`` pays: the interpreter, the jsii kernel (node), the imports, the
construct tree, asset staging and writing the cloud assembly.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from benchmarks._measure import PYTHON, Sample, child_env, last_json_line, progress, timed_run

KINDS = ("construct", "l1")
#: CloudFormation's quotas that a stack full of experiments meets.
MAX_RESOURCES = 500
MAX_OUTPUTS = 200
MAX_MANAGED_POLICIES_PER_ROLE = 10


@dataclass(frozen=True)
class SynthRun:
    wall_seconds: float
    cpu_seconds: float
    facts: dict[str, Any]


@dataclass(frozen=True)
class SynthSeries:
    """Several synths of the same stack."""

    kind: str
    experiments: int
    runs: tuple[SynthRun, ...]

    def sample(self, key: str = "wall_seconds") -> Sample:
        """``wall_seconds``, ``cpu_seconds`` (of the process) or a key of the process's own report."""
        if key in ("wall_seconds", "cpu_seconds"):
            return Sample.of(getattr(run, key) for run in self.runs)
        return Sample.of(float(run.facts[key]) for run in self.runs)

    @property
    def facts(self) -> dict[str, Any]:
        """The template's facts (identical in every run)."""
        return self.runs[0].facts


#: CDK's built-in CloudFormation template validation (a WebAssembly rule engine run by
#: ``app.synth()``) is on by default; this environment switches it off, to show its share.
WITHOUT_CDK_VALIDATION = {"CDK_VALIDATION": "false"}


def synth_once(kind: str, experiments: int, env: dict[str, str] | None = None) -> SynthRun:
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as outdir:
        command = [PYTHON, "-m", "benchmarks.synth_app", kind, str(experiments), outdir]
        timed = timed_run(command, env=child_env(**(env or {})))
        ended = time.time()
    facts = last_json_line(timed.stdout)
    facts["exit_seconds"] = max(0.0, ended - facts["finished_at"])
    return SynthRun(timed.wall_seconds, timed.cpu_seconds, facts)


def synth_series(
    kinds: tuple[str, ...], experiments: int, runs: int, env: dict[str, str] | None = None
) -> dict[str, SynthSeries]:
    """``runs`` synths of each kind, interleaved so that drift of the machine hits both alike."""
    collected: dict[str, list[SynthRun]] = {kind: [] for kind in kinds}
    for index in range(runs):
        for kind in kinds:
            run = synth_once(kind, experiments, env)
            collected[kind].append(run)
            progress(
                f"synth {kind} x{experiments}{' ' + str(env) if env else ''} run {index + 1}/{runs}: "
                f"{run.wall_seconds:.2f} s, CPU {run.cpu_seconds:.2f} s"
            )
    return {kind: SynthSeries(kind, experiments, tuple(series)) for kind, series in collected.items()}


@dataclass(frozen=True)
class Growth:
    """How a stack grows with its number of experiments (``series[kind][count]``)."""

    series: dict[str, dict[int, SynthSeries]]

    def marginal(self, kind: str, fact: str, low: int, high: int) -> float:
        by_count = self.series[kind]
        return (by_count[high].facts[fact] - by_count[low].facts[fact]) / (high - low)

    def fixed_resources(self, kind: str, low: int, high: int) -> float:
        """Resources a stack holds before its first experiment (the provider), extrapolated."""
        return self.series[kind][low].facts["resources"] - low * self.marginal(kind, "resources", low, high)


def measure_growth(counts: tuple[int, ...], runs: int, single: dict[str, SynthSeries]) -> Growth:
    series: dict[str, dict[int, SynthSeries]] = {kind: {1: single[kind]} for kind in KINDS}
    for count in counts:
        if count == 1:
            continue
        for kind, measured in synth_series(KINDS, count, runs).items():
            series[kind][count] = measured
    return Growth(series)


@dataclass(frozen=True)
class Capacity:
    """The most experiments one stack holds within CloudFormation's resource quota, by synthesis."""

    experiments: int
    facts: dict[str, Any]
    probes: tuple[tuple[int, int], ...]  # (experiments, resources) of each synth tried
    #: Whether the probes prove one more would not fit (else ``experiments`` is a lower bound).
    proven: bool


def find_capacity(growth: Growth, counts: tuple[int, ...], *, max_probes: int = 2) -> Capacity:
    """Predict from the marginal cost, then synthesize to confirm (overflow policies are not linear).

    One more experiment cannot fit when fewer resources are left than the fewest an experiment
    adds (the marginal cost between the two smallest sizes, rounded down).
    """
    low, high = counts[-2], counts[-1]
    slope = growth.marginal("construct", "resources", low, high)
    least_added = math.floor(growth.marginal("construct", "resources", counts[0], counts[1]))
    guess = math.floor((MAX_RESOURCES - growth.fixed_resources("construct", low, high)) / slope)
    fits: dict[int, dict[str, Any]] = {}
    too_many: set[int] = set()
    probes: list[tuple[int, int]] = []
    for _ in range(max_probes):
        # Only the template's contents matter here: CDK's validation is skipped to save minutes.
        facts = synth_once("construct", guess, WITHOUT_CDK_VALIDATION).facts
        resources = facts["resources"]
        probes.append((guess, resources))
        progress(f"capacity probe: {guess} experiments -> {resources} resources")
        if resources <= MAX_RESOURCES:
            fits[guess] = facts
            if MAX_RESOURCES - resources < least_added or guess + 1 in too_many:
                return Capacity(guess, facts, tuple(probes), proven=True)
            guess += max(1, (MAX_RESOURCES - resources) // math.ceil(slope))
        else:
            too_many.add(guess)
            if guess - 1 in fits:
                return Capacity(guess - 1, fits[guess - 1], tuple(probes), proven=True)
            guess -= max(1, math.ceil((resources - MAX_RESOURCES) / slope))
    if not fits:
        raise RuntimeError(f"no probe fit in {MAX_RESOURCES} resources: {probes}")
    best = max(fits)
    return Capacity(best, fits[best], tuple(probes), proven=False)

"""Synth time, resource count and template size: the construct next to the native L1 resource.

Every synth is a fresh ``python -m benchmarks.synth_app`` process, timed from spawn to exit, so
each pays what ``cdk synth`` pays: the interpreter, the jsii kernel (node), the imports, the
construct tree, asset staging and writing the cloud assembly.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from typing import Any

from benchmarks._measure import PYTHON, Sample, last_json_line, progress, timed_run

KINDS = ("construct", "l1")
#: CloudFormation's quotas that a stack full of experiments meets.
MAX_RESOURCES = 500
MAX_OUTPUTS = 200
MAX_MANAGED_POLICIES_PER_ROLE = 10


@dataclass(frozen=True)
class SynthRun:
    wall_seconds: float
    facts: dict[str, Any]


@dataclass(frozen=True)
class SynthSeries:
    """Several synths of the same stack."""

    kind: str
    experiments: int
    runs: tuple[SynthRun, ...]

    def sample(self, key: str = "wall_seconds") -> Sample:
        if key == "wall_seconds":
            return Sample.of(run.wall_seconds for run in self.runs)
        return Sample.of(float(run.facts[key]) for run in self.runs)

    @property
    def facts(self) -> dict[str, Any]:
        """The template's facts (identical in every run)."""
        return self.runs[0].facts


def synth_once(kind: str, experiments: int) -> SynthRun:
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as outdir:
        wall, stdout = timed_run([PYTHON, "-m", "benchmarks.synth_app", kind, str(experiments), outdir])
    return SynthRun(wall, last_json_line(stdout))


def synth_series(kinds: tuple[str, ...], experiments: int, runs: int) -> dict[str, SynthSeries]:
    """``runs`` synths of each kind, interleaved so that drift of the machine hits both alike."""
    collected: dict[str, list[SynthRun]] = {kind: [] for kind in kinds}
    for index in range(runs):
        for kind in kinds:
            run = synth_once(kind, experiments)
            collected[kind].append(run)
            progress(f"synth {kind} x{experiments} run {index + 1}/{runs}: {run.wall_seconds:.2f} s")
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


def find_capacity(growth: Growth, *, low: int, high: int, max_probes: int = 4) -> Capacity:
    """Predict from the marginal cost, then synthesize to confirm (overflow policies are not linear)."""
    slope = growth.marginal("construct", "resources", low, high)
    guess = math.floor((MAX_RESOURCES - growth.fixed_resources("construct", low, high)) / slope)
    best: tuple[int, dict[str, Any]] | None = None
    smallest_too_many: int | None = None
    probes: list[tuple[int, int]] = []
    for _ in range(max_probes):
        facts = synth_once("construct", guess).facts
        probes.append((guess, facts["resources"]))
        progress(f"capacity probe: {guess} experiments -> {facts['resources']} resources")
        if facts["resources"] <= MAX_RESOURCES:
            best = (guess, facts) if best is None or guess > best[0] else best
            if MAX_RESOURCES - facts["resources"] < math.floor(slope):
                break  # one more experiment adds at least floor(slope) resources: this is the most
            guess += max(1, (MAX_RESOURCES - facts["resources"]) // math.ceil(slope))
        else:
            smallest_too_many = guess if smallest_too_many is None else min(smallest_too_many, guess)
            guess -= max(1, math.ceil((facts["resources"] - MAX_RESOURCES) / slope))
        if best is not None and smallest_too_many is not None and smallest_too_many == best[0] + 1:
            break
    if best is None:
        raise RuntimeError(f"no probe fit in {MAX_RESOURCES} resources: {probes}")
    return Capacity(best[0], best[1], tuple(probes))


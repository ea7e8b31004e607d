"""Issue 15's table: what the construct costs as a stack grows, next to the L1, in one run.

    .venv/bin/python -m benchmarks.cost_bench                 # measure, print and write the section
    .venv/bin/python -m benchmarks.cost_bench --runs 3 --rates 20 --no-write

Rows: synth of 1 and of 50 experiments against the L1 stack (fresh ``benchmarks.synth_app``
processes, construct and L1 interleaved, wall and CPU), CPU per extra experiment ((CPU at 50 -
CPU at 1) / 49, each kind), SageMaker reads per ``is_complete`` poll while waiting (the deploy
path against the stand-in, create and delete), and scenario 21 at the given rates
(``benchmarks.load_rate``). The section goes between markers into BENCHMARKS.md, which
``python -m benchmarks`` keeps.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from benchmarks import deploy_bench, load_rate, synth_bench
from benchmarks._measure import PYTHON, ROOT, Sample, child_env, progress
from benchmarks.environment import load_average, machine

SECTION_START = "<!-- cost-bench: start (python -m benchmarks.cost_bench) -->"
SECTION_END = "<!-- cost-bench: end -->"
#: The notes on the profile, written by hand after the measured section, end here (kept by ``python -m benchmarks``).
NOTES_END = "<!-- cost-bench notes: end -->"
SIZES = (1, 50)


@dataclass(frozen=True)
class InProcess:
    """One ``benchmarks.synth_profile`` run: seconds of the constructors and of ``app.synth()``, jsii round trips."""

    build: float
    synth: float
    trips: int


def profile_once(kind: str, count: int, *, cdk_validation: bool = True) -> InProcess:
    command = [PYTHON, "-m", "benchmarks.synth_profile", str(count), *(["--l1"] if kind == "l1" else [])]
    env = child_env(**({} if cdk_validation else synth_bench.WITHOUT_CDK_VALIDATION))
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=900).stdout
    seconds = dict(re.findall(r"(build|synth)=([0-9.]+)s", out))
    trips = sum(int(n) for n in re.findall(r"^(?:build|synth): (\d+) jsii round trips", out, re.MULTILINE))
    return InProcess(build=float(seconds["build"]), synth=float(seconds["synth"]), trips=trips)


def measure_profiles() -> dict[tuple[str, int, bool], InProcess]:
    """In-process build and synth of both kinds at 1 and 50 experiments, and at 50 without CDK's validation."""
    runs = [(kind, size, True) for size in SIZES for kind in synth_bench.KINDS]
    runs += [(kind, SIZES[-1], False) for kind in synth_bench.KINDS]
    profiles = {}
    for kind, size, validation in runs:
        profiles[(kind, size, validation)] = profile_once(kind, size, cdk_validation=validation)
        progress(f"cost: in-process {kind} x{size} (CDK validation {'on' if validation else 'off'})")
    return profiles


def render_profiles(profiles: dict[tuple[str, int, bool], InProcess]) -> list[str]:
    big, small = SIZES[-1], SIZES[0]
    rows = []
    for kind in synth_bench.KINDS:
        one, many, unvalidated = (
            profiles[(kind, small, True)],
            profiles[(kind, big, True)],
            profiles[(kind, big, False)],
        )
        extra = big - small
        rows.append(
            f"| {kind} | {many.build:.2f} s | {many.synth:.2f} s | {unvalidated.build:.2f} s | "
            f"{unvalidated.synth:.2f} s | {(many.build - one.build) / extra * 1000:.0f} ms | "
            f"{(many.synth - one.synth) / extra * 1000:.0f} ms | {(many.trips - one.trips) / extra:.0f} |"
        )
    return [
        "",
        f"In one process (`.venv/bin/python -m benchmarks.synth_profile {big} [--l1]`, and with "
        "`CDK_VALIDATION=false`): the constructors (build) and `app.synth()`, and the jsii round trips "
        "(calls into the node kernel) each extra experiment makes.",
        "",
        f"| kind | build, {big} | app.synth(), {big} | build, {big}, CDK validation off | app.synth(), {big}, "
        "CDK validation off | build per extra experiment | app.synth() per extra experiment | "
        "jsii round trips per extra experiment |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ]


@dataclass(frozen=True)
class Synths:
    wall: dict[tuple[str, int], Sample]
    cpu: dict[tuple[str, int], Sample]

    def ratio(self, size: int, key: str = "wall") -> float:
        samples = getattr(self, key)
        return samples[("construct", size)].median / samples[("l1", size)].median

    def per_extra(self, kind: str) -> float:
        """CPU seconds per experiment beyond the first."""
        return (self.cpu[(kind, SIZES[-1])].median - self.cpu[(kind, SIZES[0])].median) / (SIZES[-1] - SIZES[0])


def measure_synths(runs: int) -> Synths:
    wall: dict[tuple[str, int], list[float]] = {}
    cpu: dict[tuple[str, int], list[float]] = {}
    for run in range(runs):  # interleaved: drift of the machine hits both kinds alike
        for size in SIZES:
            for kind in synth_bench.KINDS:
                result = synth_bench.synth_once(kind, size)
                wall.setdefault((kind, size), []).append(result.wall_seconds)
                cpu.setdefault((kind, size), []).append(result.cpu_seconds)
                progress(f"cost: {kind} x{size} run {run + 1}/{runs}: {result.wall_seconds:.2f} s")
    return Synths(
        wall={k: Sample.of(v) for k, v in wall.items()},
        cpu={k: Sample.of(v) for k, v in cpu.items()},
    )


def reads_while_waiting(deploy: deploy_bench.DeployResult, label: str) -> tuple[int, int]:
    """(SageMaker calls, polls) of the polls of step ``label`` that only read (waiting on SageMaker)."""
    (step,) = [s for s in deploy.steps if s.label == label]
    waiting = [
        calls
        for name, _seconds, calls in step.invocations
        if name == "is_complete" and calls and all(c.startswith(("Describe", "List")) for c in calls)
    ]
    return sum(len(c) for c in waiting), len(waiting)


def render(
    synths: Synths,
    deploy: deploy_bench.DeployResult,
    rates: list[tuple[float, bool, float]],
    runs: int,
    load: tuple[str, str],
    profiles: dict[tuple[str, int, bool], InProcess],
) -> str:
    synth_cmd = f"`.venv/bin/python -m benchmarks.cost_bench --runs {runs}`"
    (create_calls, create_polls), (delete_calls, delete_polls) = (
        reads_while_waiting(deploy, label) for label in ("create", "delete")
    )
    per_poll = (create_calls + delete_calls) / max(1, create_polls + delete_polls)

    def synth(size: int) -> str:
        c, l1 = synths.wall[("construct", size)].median, synths.wall[("l1", size)].median
        return (
            f"{synths.ratio(size):.2f}\u00d7 ({c:.1f} s vs {l1:.1f} s wall; CPU {synths.ratio(size, 'cpu'):.2f}\u00d7)"
        )

    lowest = min((rate for rate, passed, _s in rates if passed), default=None)
    tried = ", ".join(f"{rate:g} req/s {'pass' if ok else 'fail'} ({s:.0f} s)" for rate, ok, s in rates)
    rows = [
        ("synth, 1 experiment, ratio to L1", "1.44\u20131.50\u00d7", synth(1), "\u2264 1.3\u00d7", synth_cmd),
        ("synth, 50 experiments, ratio to L1", "3.4\u00d7", synth(50), "\u2264 1.5\u00d7", synth_cmd),
        (
            "synth CPU per extra experiment, ratio to L1's",
            "\u2248 15\u00d7 (258\u2013356 ms vs \u2248 20 ms)",
            f"{synths.per_extra('construct') / synths.per_extra('l1'):.1f}\u00d7 "
            f"({synths.per_extra('construct') * 1000:.0f} ms vs {synths.per_extra('l1') * 1000:.0f} ms)",
            "\u2264 3\u00d7",
            synth_cmd,
        ),
        (
            "SageMaker reads per poll while waiting",
            "2 (create 27 calls in 13 polls, delete 16 in 7)",
            f"{per_poll:.1f} (create {create_calls} in {create_polls} polls, delete {delete_calls} in {delete_polls})",
            "1",
            synth_cmd,
        ),
        (
            "scenario 21: lowest rate at which 50 concurrent create+delete pass",
            "30 req/s",
            (f"{lowest:g} req/s" if lowest is not None else "none tried passed") + f" (tried: {tried})",
            "20 req/s or lower",
            "`.venv/bin/python -m benchmarks.load_rate " + " ".join(f"{r:g}" for r, _o, _s in rates) + "`",
        ),
    ]
    lines = [
        SECTION_START,
        "## Issue 15: cost as the stack grows (before / after)",
        "",
        f"One run on {_machine()}; 1-minute load average {load[0]} before and {load[1]} after (the machine "
        f"was shared). Synths: fresh processes, construct and L1 interleaved, medians of {runs}; the stack "
        "uses cdk.json's feature flags. Before: the numbers of issue 15.",
        "",
        "| figure | before | after | goal | command |",
        "|---|---|---|---|---|",
        *(f"| {' | '.join(row)} |" for row in rows),
        "",
        f"CPU per extra experiment is (median CPU at {SIZES[-1]} \u2212 median CPU at {SIZES[0]}) / "
        f"{SIZES[-1] - SIZES[0]}, of fresh processes (node included): {cpu_spread(synths)}. On a shared machine "
        "the spread of one size can exceed the difference between the sizes; the in-process phases below "
        "are the steadier measure of what each extra experiment costs.",
        *render_profiles(profiles),
        "",
        SECTION_END,
    ]
    return "\n".join(lines) + "\n"


def _machine() -> str:
    found = machine()
    return f"{found['nproc']} CPUs (nproc), {found['CPU']}, {found['memory']} memory, {found['OS']}"


def _spread(sample: Sample) -> str:
    return f"{sample.median:.1f} s ({sample.minimum:.1f}\u2013{sample.maximum:.1f})"


def cpu_spread(synths: Synths) -> str:
    """The CPU medians and ranges the per-experiment row is computed from (the machine's noise shows here)."""
    return "; ".join(
        f"{kind} CPU at {size}: {_spread(synths.cpu[(kind, size)])}" for kind in synth_bench.KINDS for size in SIZES
    )


def keep_section(path: Path, rewritten: str) -> str:
    """``rewritten`` with this section (and the notes written by hand after it) from ``path`` appended."""
    if not path.exists():
        return rewritten
    old = path.read_text(encoding="utf-8")
    if SECTION_START not in old or SECTION_END not in old:
        return rewritten
    end = NOTES_END if NOTES_END in old else SECTION_END
    section = SECTION_START + old.split(SECTION_START, 1)[1].split(end, 1)[0] + end + "\n"
    return rewritten.rstrip("\n") + "\n\n" + section


def write_section(document: str, section: str) -> str:
    """``document`` with its cost section replaced by ``section`` (appended if it has none)."""
    if SECTION_START in document and SECTION_END in document:
        before, rest = document.split(SECTION_START, 1)
        after = rest.split(SECTION_END, 1)[1].lstrip("\n")
        return before + section + ("\n" + after if after else "")
    return document.rstrip("\n") + "\n\n" + section


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cost_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="synths per kind and size")
    parser.add_argument("--rates", type=float, nargs="*", default=[20.0], help="scenario 21 rates (req/s)")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print the section only")
    arguments = parser.parse_args(argv)
    before = load_average()
    synths = measure_synths(arguments.runs)
    profiles = measure_profiles()
    deploy = deploy_bench.measure()
    rates = []
    for rate in arguments.rates:
        passed, seconds, _summary = load_rate.attempt(rate)
        rates.append((rate, passed, seconds))
        progress(f"cost: scenario 21 at {rate:g} req/s: {'pass' if passed else 'fail'}")
    section = render(synths, deploy, rates, arguments.runs, (before, load_average()), profiles)
    print(section)
    if not arguments.no_write:
        arguments.output.write_text(write_section(arguments.output.read_text(encoding="utf-8"), section))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

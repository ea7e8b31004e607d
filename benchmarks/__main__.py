"""Run every benchmark once and write BENCHMARKS.md: ``.venv/bin/python -m benchmarks``.

Options (defaults in brackets): ``--runs`` synths per kind with one experiment [5];
``--unvalidated-runs`` the same with CDK's template validation off [3]; ``--growth-runs`` synths per
kind and size of the growth series [2]; ``--cold-runs`` interpreters per cold-start snippet [10];
``--no-capacity``, ``--no-suite`` to skip those parts; ``--output`` [BENCHMARKS.md]; ``--render-only``
to rewrite the report from the last run's numbers.
"""

from __future__ import annotations

import argparse
import pickle
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

from benchmarks import cold_start, cost_bench, deploy_bench, suite_bench, synth_bench, verdict_simulation
from benchmarks._measure import ROOT, progress
from benchmarks.environment import load_average, machine, versions
from benchmarks.report import Results, render

GROWTH_COUNTS = (1, 10, 50)
#: The last run's measurements, to rewrite the report without measuring again (--render-only).
RESULTS_CACHE = Path(tempfile.gettempdir()) / "shadow-test-benchmarks-results.pickle"
T = TypeVar("T")


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="synths per kind with one experiment")
    parser.add_argument(
        "--unvalidated-runs", type=int, default=3, help="synths per kind with CDK's template validation off"
    )
    parser.add_argument("--growth-runs", type=int, default=2, help="synths per kind and size for the growth series")
    parser.add_argument("--cold-runs", type=int, default=10, help="interpreters per cold-start snippet")
    parser.add_argument("--no-suite", action="store_true", help="do not time the test suite")
    parser.add_argument("--no-capacity", action="store_true", help="do not synthesize the largest stack that fits")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument(
        "--render-only", action="store_true", help=f"rewrite the report from the last run's numbers ({RESULTS_CACHE})"
    )
    return parser.parse_args(argv)


class _Sections:
    """Wall time of each part of the run, for the report."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def timed(self, name: str, work: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return work()
        finally:
            self.seconds[name] = time.perf_counter() - started


def _kept_sections(path: Path, rewritten: str) -> str:
    """The report with the sections other programs write (verdict simulation, issue 15's costs) kept."""
    return cost_bench.keep_section(path, verdict_simulation.keep_section(path, rewritten))


def main(argv: list[str]) -> int:
    arguments = _arguments(argv)
    if arguments.render_only:
        results = pickle.loads(RESULTS_CACHE.read_bytes())  # written by this program's last run
        arguments.output.write_text(_kept_sections(arguments.output, render(results)))
        progress(f"rewrote {arguments.output} from {RESULTS_CACHE}")
        return 0
    results = _measure_everything(arguments, argv)
    RESULTS_CACHE.write_bytes(pickle.dumps(results))
    arguments.output.write_text(_kept_sections(arguments.output, render(results)))
    progress(f"wrote {arguments.output} after {results.seconds:.0f} s")
    return 0


def _measure_everything(arguments: argparse.Namespace, argv: list[str]) -> Results:
    started_at, started, load_before = datetime.now(timezone.utc), time.perf_counter(), load_average()
    sections = _Sections()
    single = sections.timed(
        "synth, 1 experiment", lambda: synth_bench.synth_series(synth_bench.KINDS, 1, arguments.runs)
    )
    unvalidated = sections.timed(
        "synth without CDK's validation",
        lambda: synth_bench.synth_series(
            synth_bench.KINDS, 1, arguments.unvalidated_runs, synth_bench.WITHOUT_CDK_VALIDATION
        ),
    )
    growth = sections.timed("growth", lambda: synth_bench.measure_growth(GROWTH_COUNTS, arguments.growth_runs, single))
    capacity = None
    if not arguments.no_capacity:
        capacity = sections.timed("capacity", lambda: synth_bench.find_capacity(growth, GROWTH_COUNTS))
    cold = sections.timed("cold start", lambda: cold_start.measure(arguments.cold_runs))
    deploy = sections.timed("deploy path", deploy_bench.measure)
    suite = None if arguments.no_suite else sections.timed("test suite", suite_bench.measure)
    return Results(
        command=shlex.join(["python", "-m", "benchmarks", *argv]),
        started_at=started_at,
        seconds=time.perf_counter() - started,
        machine=machine(),
        versions=versions(),
        load_before=load_before,
        load_after=load_average(),
        section_seconds=sections.seconds,
        single=single,
        unvalidated=unvalidated,
        growth=growth,
        growth_counts=GROWTH_COUNTS,
        capacity=capacity,
        cold=cold,
        deploy=deploy,
        suite=suite,
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

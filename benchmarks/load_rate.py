"""Scenario 21 at several rate limits: the lowest SageMaker rate at which 50 concurrent create+delete pass.

    .venv/bin/python -m benchmarks.load_rate 30 25 20 15   # rates in requests per second

Each rate runs ``tests/test_scenarios.py::test_21_...`` in its own pytest process with
``SCENARIO_LOAD_RATE`` set (the stand-in's token bucket), and prints pass or fail, the wall time
and the calls the stand-in counted. A benchmark, not a timed test: the outcome depends on the
machine's load, so the report states the load average next to it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from benchmarks._measure import PYTHON, ROOT
from benchmarks.environment import load_average

TEST = "tests/test_scenarios.py::test_21_fifty_experiments_created_then_deleted_concurrently_under_a_rate_limit"


def attempt(rate: float) -> tuple[bool, float, str]:
    """Whether scenario 21 passes at ``rate`` requests per second, its wall seconds and pytest's last line."""
    env = {**os.environ, "SCENARIO_LOAD_RATE": str(rate), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    started = time.perf_counter()
    completed = subprocess.run(
        [PYTHON, "-m", "pytest", TEST, "-q", "-p", "no:cacheprovider", "--no-cov"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    lines = completed.stdout.strip().splitlines()
    return completed.returncode == 0, time.perf_counter() - started, lines[-1] if lines else completed.stderr[-200:]


def main(argv: list[str]) -> int:
    for rate in map(float, argv or ["30", "25", "20"]):
        before = load_average()
        passed, seconds, summary = attempt(rate)
        print(
            f"rate={rate:g}/s {'PASS' if passed else 'FAIL'} wall={seconds:.1f}s "
            f"load={before} -> {load_average()} ({summary})",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

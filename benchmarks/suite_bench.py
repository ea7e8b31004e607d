"""The test suite's wall time, as a developer runs it: one ``pytest -q`` from the repository's root."""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass

from benchmarks._measure import PYTHON, ROOT, progress

COMMAND = (PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider")
_SUMMARY = re.compile(r"^=*\s*(\d+ \w+.*) in [\d.]+s", re.MULTILINE)


@dataclass(frozen=True)
class SuiteResult:
    wall_seconds: float
    summary: str
    returncode: int


def measure(timeout: float = 600) -> SuiteResult:
    # The developer's environment as is (tests/conftest.py keeps the suite offline), jsii quiet.
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    started = time.perf_counter()
    completed = subprocess.run(
        list(COMMAND), cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    wall = time.perf_counter() - started
    found = _SUMMARY.findall(completed.stdout)
    summary = found[-1].strip(" =") if found else (completed.stdout.strip().splitlines() or ["no output"])[-1]
    progress(f"test suite: {summary} in {wall:.1f} s (exit {completed.returncode})")
    return SuiteResult(wall, summary, completed.returncode)

"""Shared helpers: summary statistics and timed child processes."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_DIR = ROOT / "lambda"
PYTHON = sys.executable

#: Never reach AWS: dummy credentials, a region, and no profile of the machine's user.
_OFFLINE_AWS = {
    "AWS_ACCESS_KEY_ID": "benchmark",
    "AWS_SECRET_ACCESS_KEY": "benchmark",
    "AWS_SESSION_TOKEN": "benchmark",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@dataclass(frozen=True)
class Sample:
    """Repeated measurements of one quantity."""

    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Iterable[float]) -> Sample:
        collected = tuple(values)
        if not collected:
            raise ValueError("a sample needs at least one value")
        return cls(collected)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def minimum(self) -> float:
        return min(self.values)

    @property
    def maximum(self) -> float:
        return max(self.values)

    @property
    def iqr(self) -> tuple[float, float]:
        if len(self.values) < 2:
            return self.values[0], self.values[0]
        q1, _q2, q3 = statistics.quantiles(self.values, n=4, method="inclusive")
        return q1, q3

    def describe(self, scale: float = 1.0, unit: str = "s", digits: int = 2) -> str:
        """``median unit (min-max, n=N)``, values multiplied by ``scale``."""
        med, low, high = (v * scale for v in (self.median, self.minimum, self.maximum))
        return f"{med:.{digits}f} {unit} ({low:.{digits}f}\N{EN DASH}{high:.{digits}f}, n={len(self.values)})"


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("inf")


def child_env(**extra: str) -> dict[str, str]:
    """The environment of every child: offline AWS, quiet jsii, no bytecode written into lambda/."""
    env = {k: v for k, v in os.environ.items() if k != "AWS_PROFILE"}
    env.update(_OFFLINE_AWS)
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    # A benchmark leaves the source tree as it found it: no __pycache__ beside the core's modules.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


@dataclass(frozen=True)
class Timed:
    """A finished child process: wall time (spawn to exit), CPU time and what it printed."""

    wall_seconds: float
    cpu_seconds: float  # user + system, its own descendants (jsii's node) included
    stdout: str


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(command: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 300) -> Timed:
    """Run ``command`` to completion and time it.

    CPU time is the growth of this process's reaped-children usage, so children must run one at a
    time; it is what the command itself consumed, whatever else competes for the cores.
    """
    cpu_before, started = _children_cpu_seconds(), time.perf_counter()
    completed = subprocess.run(
        list(command), cwd=ROOT, env=env or child_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    wall, cpu = time.perf_counter() - started, _children_cpu_seconds() - cpu_before
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
    return Timed(wall, cpu, completed.stdout)


def last_json_line(stdout: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.strip()]
    return json.loads(lines[-1])


def progress(message: str) -> None:
    print(f"[benchmarks] {message}", file=sys.stderr, flush=True)

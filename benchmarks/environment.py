"""The machine and the versions a benchmark run measured."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from benchmarks._measure import ROOT

_PACKAGES = ("aws-cdk-lib", "constructs", "jsii", "boto3", "botocore", "pytest")


def _first_line_with(path: Path, prefix: str) -> str | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def _command_output(*command: str) -> str:
    try:
        return subprocess.run(
            list(command), cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> dict[str, str]:
    memory_kb = _first_line_with(Path("/proc/meminfo"), "MemTotal")
    memory = f"{int(memory_kb.split()[0]) / 1024 / 1024:.1f} GiB" if memory_kb else "unknown"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "nproc": str(usable),
        "CPU": _first_line_with(Path("/proc/cpuinfo"), "model name") or platform.processor() or "unknown",
        "memory": memory,
        "OS": f"{platform.system()} {platform.release()} ({platform.machine()})",
    }


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    found["node"] = _command_output("node", "--version")
    found["commit"] = _command_output("git", "rev-parse", "--short", "HEAD")  # read-only
    return found


def load_average() -> str:
    """The 1-minute load average (other processes competing for the cores)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"

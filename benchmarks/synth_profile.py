"""Where a stack of N experiments spends its synth: jsii round trips per experiment and a cProfile.

    .venv/bin/python -m benchmarks.synth_profile 50             # round trips by kind and by caller
    .venv/bin/python -m benchmarks.synth_profile 50 --cprofile  # plus cProfile's top 25 (cumulative)
    .venv/bin/python -m benchmarks.synth_profile 50 --l1        # the L1 stack of benchmarks.synth_app

Builds the stack of ``benchmarks.synth_experiments`` (cdk.json's context) in this process. Every
call of the jsii kernel (create, get, set, invoke, static get/invoke...) is one round trip to the
node process; they are counted by kernel method and by the first frame of this project that made
them, separately for the constructors (build) and ``app.synth()``.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_KERNEL_METHODS = ("create", "get", "set", "sget", "sset", "invoke", "sinvoke", "ainvoke", "sainvoke", "complete")


class RoundTrips:
    """Counts jsii kernel calls by method and by the project frame that caused them."""

    def __init__(self) -> None:
        self.by_method: Counter[str] = Counter()
        self.by_caller: Counter[str] = Counter()
        self.phase = "import"

    def install(self) -> None:
        """Wrap the kernel calls that generated bindings make (``jsii.invoke(...)`` etc., bound at import)."""
        import jsii

        for name in _KERNEL_METHODS:
            if hasattr(jsii, name):
                setattr(jsii, name, self._counting(name, getattr(jsii, name)))

    def _counting(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.by_method[f"{self.phase}:{name}"] += 1
            self.by_caller[f"{self.phase}:{_project_frame()}"] += 1
            return method(*args, **kwargs)

        return counted

    def total(self, phase: str) -> int:
        return sum(n for key, n in self.by_method.items() if key.startswith(f"{phase}:"))


def _project_frame() -> str:
    frame = sys._getframe(2)
    while frame is not None:
        path = frame.f_code.co_filename
        if ("constructs_pkg" in path or "shadow_test_core" in path) and "site-packages" not in path:
            return f"{Path(path).name}:{frame.f_code.co_name}"
        frame = frame.f_back  # type: ignore[assignment]
    return "(aws-cdk-lib / benchmark)"


def _l1_app(count: int) -> Any:
    from aws_cdk import App, Environment, Stack

    from benchmarks.synth_app import build_l1_experiments
    from benchmarks.synth_experiments import cdk_context

    app = App(analytics_reporting=False, context=cdk_context())
    stack = Stack(app, "Bench", env=Environment(account="123456789012", region="us-east-1"))
    build_l1_experiments(stack, count)
    return app


def build_and_synth(count: int, trips: RoundTrips, *, l1: bool = False) -> dict[str, float]:
    from benchmarks.synth_experiments import build_stack

    trips.phase = "build"
    started = time.perf_counter()
    app = _l1_app(count) if l1 else build_stack(count)
    built = time.perf_counter()
    trips.phase = "synth"
    app.synth()
    return {"build": built - started, "synth": time.perf_counter() - built}


def main(argv: list[str]) -> int:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    count = int(argv[0]) if argv else 50
    import aws_cdk  # noqa: F401  # the kernel starts here; its calls are not the stack's

    trips = RoundTrips()
    trips.install()
    profiler = cProfile.Profile() if "--cprofile" in argv else None
    if profiler:
        profiler.enable()
    seconds = build_and_synth(count, trips, l1="--l1" in argv)
    if profiler:
        profiler.disable()
    print(
        f"{'l1' if '--l1' in argv else 'construct'} experiments={count} "
        + " ".join(f"{k}={v:.2f}s" for k, v in seconds.items())
    )
    for phase in ("build", "synth"):
        print(f"{phase}: {trips.total(phase)} jsii round trips ({trips.total(phase) / count:.1f} per experiment)")
    print("by kernel method:", ", ".join(f"{k}={n}" for k, n in trips.by_method.most_common()))
    print("by caller (top 25):")
    for caller, n in trips.by_caller.most_common(25):
        print(f"  {n:7d}  {caller}")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

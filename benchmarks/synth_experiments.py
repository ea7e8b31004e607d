"""In-process synth time of one stack with N ``ShadowTestExperiment``\\ s (cdk.json's context).

    .venv/bin/python -m benchmarks.synth_experiments 50   # one N per process: jsii warms up once

Prints the import, build (constructors) and ``app.synth()`` seconds of each N. Aspects and
validation run in ``app.synth()``: a walk of the stack per experiment shows there as growth.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def cdk_context() -> dict[str, Any]:
    """cdk.json's context (the feature flags the example app synthesizes with)."""
    return dict(json.loads((ROOT / "cdk.json").read_text())["context"])


def build_stack(count: int, outdir: str | None = None) -> Any:
    """An app whose stack holds ``count`` experiments, each on its own endpoint (not yet synthesized)."""
    from aws_cdk import App, Environment, Stack

    from constructs_pkg import ModelVariant, ShadowTestExperiment

    app = App(outdir=outdir, analytics_reporting=False, context=cdk_context())
    stack = Stack(app, "Bench", env=Environment(account="123456789012", region="us-east-1"))
    for index in range(count):
        ShadowTestExperiment(
            stack,
            f"Shadow{index:03d}",
            endpoint_name=f"endpoint-{index:03d}",
            production_variant=ModelVariant(variant_name="prod", model_name="model-a", instance_type="ml.m5.large"),
            shadow_variant=ModelVariant(
                variant_name="shadow", model_name="model-b", instance_type="ml.c5.xlarge", instance_count=2
            ),
            sampling_percentage=40,
        )
    return app


def measure(count: int) -> dict[str, float]:
    """Seconds to import, build and synthesize a stack of ``count`` experiments."""
    started = time.perf_counter()
    import aws_cdk  # noqa: F401

    import constructs_pkg  # noqa: F401

    imported = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as outdir:
        app = build_stack(count, outdir)
        built = time.perf_counter()
        app.synth()
        synthesized = time.perf_counter()
    return {"import": imported - started, "build": built - imported, "synth": synthesized - built}


def main(argv: list[str]) -> int:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    for count in map(int, argv or ["1"]):
        seconds = measure(count)
        print(f"experiments={count} " + " ".join(f"{k}={v:.2f}s" for k, v in seconds.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

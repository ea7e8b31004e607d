"""The handler's cold start: importing ``shadow_test_core.experiment.handler`` in a fresh interpreter, next to boto3.

Each snippet runs in its own interpreter with ``lambda/`` on ``PYTHONPATH`` (as in the Lambda
runtime, where the asset's root holds the ``shadow_test_core`` package) and no bytecode written (the asset ships no
``__pycache__``, so Lambda compiles the handler's sources on every cold start too). Two measures:

* the process's wall time, spawn to exit, minus nothing (the ``pass`` baseline is shown beside it);
* ``-X importtime``'s cumulative time of the module itself (interpreter start-up excluded).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

from benchmarks._measure import LAMBDA_DIR, PYTHON, Sample, child_env, progress, timed_run

#: Settings as the construct and handler validate them (``shadow_test_core.experiment.rules`` prop paths).
_SETTINGS = {
    "endpoint_name": "churn-endpoint",
    "sampling_percentage": 40,
    "production_variant.variant_name": "prod",
    "production_variant.model_name": "model-a",
    "production_variant.instance_type": "ml.m5.large",
    "production_variant.instance_count": 1,
    "shadow_variant.variant_name": "shadow",
    "shadow_variant.model_name": "model-b",
    "shadow_variant.instance_type": "ml.c5.xlarge",
    "shadow_variant.instance_count": 2,
}

_HANDLER, _RULES = "shadow_test_core.experiment.handler", "shadow_test_core.experiment.rules"
# The client the handler creates on its first invocation (botocore's adaptive retry mode).
_CLIENT = "shadow_test_core.experiment.sagemaker_api.create_client()"

#: Snippet name -> (code, module whose cumulative import time -X importtime reports).
SNIPPETS: dict[str, tuple[str, str | None]] = {
    "python -c pass": ("pass", None),
    "import boto3": ("import boto3", "boto3"),
    "import handler": (f"import {_HANDLER}", _HANDLER),
    "import handler + create the SageMaker client": (f"import {_HANDLER}; {_CLIENT}", None),
    "import handler + client + first validation": (
        f"import {_HANDLER}, {_RULES}; {_CLIENT}; {_RULES}.check_settings({_SETTINGS!r})",
        None,
    ),
}

_VALIDATION_PROBE = f"""
import json, time
t0 = time.perf_counter()
from shadow_test_core.experiment import rules
t1 = time.perf_counter()
problems = rules.check_settings({_SETTINGS!r})
t2 = time.perf_counter()
rules.check_settings({_SETTINGS!r})
t3 = time.perf_counter()
assert problems == [], problems
print(json.dumps({{"import": t1 - t0, "first_check": t2 - t1, "second_check": t3 - t2}}))
"""


@dataclass(frozen=True)
class ColdStart:
    wall: dict[str, Sample]
    import_time: dict[str, Sample]  # seconds, from -X importtime
    validation: dict[str, Sample]  # import / first_check / second_check


def _env() -> dict[str, str]:
    # No SageMaker endpoint is ever called here; the URL only keeps the client off AWS if it were.
    return child_env(PYTHONPATH=str(LAMBDA_DIR), AWS_ENDPOINT_URL_SAGEMAKER="http://127.0.0.1:9")


def _cumulative_import_seconds(stderr: str, module: str) -> float:
    """The cumulative time of the top-level import of ``module`` in ``-X importtime`` output."""
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        _self, cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if name == module:
            return int(cumulative) / 1e6
    raise ValueError(f"-X importtime did not report {module!r}")


def _importtime(code: str, module: str) -> float:
    completed = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", code], env=_env(), capture_output=True, text=True, check=True, timeout=60
    )
    return _cumulative_import_seconds(completed.stderr, module)


def measure(runs: int) -> ColdStart:
    wall: dict[str, list[float]] = {name: [] for name in SNIPPETS}
    imports: dict[str, list[float]] = {name: [] for name, (_code, module) in SNIPPETS.items() if module}
    validation: dict[str, list[float]] = {"import": [], "first_check": [], "second_check": []}
    for _ in range(runs):  # interleaved: drift of the machine hits every snippet alike
        for name, (code, module) in SNIPPETS.items():
            wall[name].append(timed_run([PYTHON, "-c", code], env=_env(), timeout=60).wall_seconds)
            if module:
                imports[name].append(_importtime(code, module))
        probe = timed_run([PYTHON, "-c", _VALIDATION_PROBE], env=_env(), timeout=60)
        for key, value in json.loads(probe.stdout).items():
            validation[key].append(value)
    progress(f"cold start: {runs} runs of {len(SNIPPETS)} snippets")
    return ColdStart(
        wall={k: Sample.of(v) for k, v in wall.items()},
        import_time={k: Sample.of(v) for k, v in imports.items()},
        validation={k: Sample.of(v) for k, v in validation.items()},
    )

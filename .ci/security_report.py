#!/usr/bin/env python3
"""Run cdk-nag, cfn-lint and checkov on the example app, a minimal stack and a capture stack; count findings.

    .venv/bin/python .ci/security_report.py             # counts per tool and pack (docs/security.md)
    .venv/bin/python .ci/security_report.py --details   # and every finding, acknowledgement and skip

Each app is synthesized with cdk.json's context (as `cdk synth` does) and the AwsSolutions,
Serverless, HIPAA Security, NIST 800-53 rev 5 and PCI DSS 3.2.1 packs; cdk-nag writes
validation-report.json into the cloud assembly. checkov runs from CHECKOV_BIN, .venv-checkov or
.tools-checkov (`.ci/install_checkov.sh` installs it). tests/test_security.py uses these functions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import cdk_nag  # noqa: E402
from aws_cdk import Acknowledgment, App, Environment, Stack, Validations  # noqa: E402
from aws_cdk import aws_iam as iam  # noqa: E402
from aws_cdk import aws_kms as kms  # noqa: E402

from constructs_pkg import DataCapture, ModelVariant, ShadowTestExperiment  # noqa: E402

EXAMPLE_STACK = "ShadowTestExample"
MINIMAL_STACK = "Minimal"
CAPTURE_STACK = "Capture"
MINIMAL_ENV = Environment(account="123456789012", region="us-east-1")
#: Where checkov may be installed (it pins packages that conflict with the project's, so it has its own venv).
CHECKOV_CANDIDATES = (ROOT / ".venv-checkov" / "bin" / "checkov", ROOT / ".tools-checkov" / "bin" / "checkov")
CHECKOV_VERSION = "3.3.30"


@dataclass
class Synthesized:
    """One synthesized app: its cloud assembly, the stack's template and cdk-nag's report."""

    outdir: Path
    stack_name: str
    stack: Stack
    template: dict[str, Any]
    report: dict[str, Any]
    experiments: list[str] = field(default_factory=list)

    @property
    def template_path(self) -> Path:
        return self.outdir / f"{self.stack_name}.template.json"


def cdk_context() -> dict[str, Any]:
    """cdk.json's context: the feature flags `cdk synth` applies to the example app."""
    return json.loads((ROOT / "cdk.json").read_text())["context"]


def nag_packs(app: App) -> list[Any]:
    return [
        cdk_nag.AwsSolutionsChecks(app),
        cdk_nag.ServerlessChecks(app),
        cdk_nag.HIPAASecurityChecks(app),
        cdk_nag.NIST80053R5Checks(app),
        cdk_nag.PCIDSS321Checks(app),
    ]


def synthesize(build: Callable[[App], Stack], outdir: Path, *, packs: bool = True) -> Synthesized:
    """Build an app with ``build`` and synthesize it into ``outdir``, with the nag packs when ``packs``."""
    # Path metadata, as the cdk CLI adds it: templates name each resource's construct path.
    context = {**cdk_context(), "aws:cdk:enable-path-metadata": True}
    app = App(outdir=str(outdir), context=context, analytics_reporting=False)
    stack = build(app)
    if packs:
        Validations.of(app).add_plugins(*nag_packs(app))
    try:
        app.synth()
    except RuntimeError as error:  # unacknowledged findings fail synthesis; the report says which
        if "ValidationFailed" not in str(error):
            raise
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {"pluginReports": []}
    template = json.loads((outdir / f"{stack.stack_name}.template.json").read_text())
    experiments = [
        c.node.path.removeprefix(stack.node.path + "/")
        for c in stack.node.find_all()
        if isinstance(c, ShadowTestExperiment)
    ]
    return Synthesized(outdir, stack.stack_name, stack, template, report, experiments)


def build_example(app: App) -> Stack:
    from examples.shadow_test_stack import ShadowTestExampleStack

    return ShadowTestExampleStack(app, EXAMPLE_STACK, env=Environment(region="us-east-1"))


def build_minimal(app: App, **props: Any) -> Stack:
    """The smallest use: required props only, no capture, no keys (``props`` add to them)."""
    stack = Stack(app, props.pop("stack_name", MINIMAL_STACK), env=MINIMAL_ENV)
    ShadowTestExperiment(
        stack,
        "Shadow",
        endpoint_name="churn-endpoint",
        production_variant=ModelVariant(variant_name="prod", model_name="model-a", instance_type="ml.m5.large"),
        shadow_variant=ModelVariant(variant_name="shadow", model_name="model-b", instance_type="ml.m5.large"),
        **props,
    )
    return stack


def build_capture(app: App) -> Stack:
    """Data capture to a bucket the construct creates, encrypted with a key: its access logs on by default.

    With an automatic conclusion writing its evidence to that bucket, and its Athena table and workgroup (``add_capture_table``) and a role that may query them.
    """
    stack = Stack(app, CAPTURE_STACK, env=MINIMAL_ENV)
    key = kms.Key(stack, "CaptureKey", enable_key_rotation=True)
    experiment = ShadowTestExperiment(
        stack,
        "Shadow",
        endpoint_name="churn-endpoint",
        production_variant=ModelVariant(variant_name="prod", model_name="model-a", instance_type="ml.m5.large"),
        shadow_variant=ModelVariant(variant_name="shadow", model_name="model-b", instance_type="ml.m5.large"),
        data_capture=DataCapture(prefix="capture", kms_key=key),
    )
    experiment.add_automatic_conclusion()
    experiment.add_capture_table()
    analyst = iam.Role(stack, "CaptureAnalyst", assumed_by=iam.AccountRootPrincipal())
    experiment.grant_query_capture(analyst)
    # The analyst role's inline policy is the app's choice; its wildcards on the capture bucket are
    # acknowledged by grant_query_capture from the declarations.
    Validations.of(analyst.node.find_child("DefaultPolicy").node.default_child).acknowledge(
        *(
            Acknowledgment(
                id=f"{pack}::{pack}-IAMNoInlinePolicy",
                reason="The analyst role belongs to the app, which keeps its grants in the role's own inline policy",
            )
            for pack in ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")
        ),
    )
    return stack


# --- cdk-nag ------------------------------------------------------------------------------------


def nag_findings(report: dict[str, Any], key: str = "violations") -> list[tuple[str, str, str, str]]:
    """(pack, rule, construct path, acknowledgement reason) of each finding under ``key`` of the report."""
    rows = []
    for plugin in report.get("pluginReports", []):
        for violation in plugin.get(key) or []:
            for construct in violation.get("violatingConstructs", []):
                rows.append(
                    (
                        plugin["pluginName"],
                        violation["ruleName"],
                        construct["constructPath"],
                        violation.get("reason", ""),
                    )
                )
    return rows


# --- cfn-lint -------------------------------------------------------------------------------------


def cfn_lint(template_path: Path) -> list[tuple[str, str, str, list[Any]]]:
    """(rule id, severity, message, path in the template) of each cfn-lint match (errors and warnings)."""
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(template_path, config=ManualArgs(regions=["us-east-1"]))
    return [(m.rule.id, m.rule.severity, m.message, list(m.path)) for m in matches]


# --- checkov ----------------------------------------------------------------------------------


def checkov_bin() -> Path | None:
    """checkov's executable: $CHECKOV_BIN, a known venv, or the PATH."""
    if os.environ.get("CHECKOV_BIN"):
        return Path(os.environ["CHECKOV_BIN"])
    for candidate in CHECKOV_CANDIDATES:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("checkov")
    return Path(found) if found else None


def checkov(template_path: Path, executable: Path) -> dict[str, Any]:
    """checkov's JSON result for one template (its offline guideline-fetch tracebacks go to stderr)."""
    completed = subprocess.run(
        [
            str(executable),
            "-f",
            str(template_path),
            "--framework",
            "cloudformation",
            "-o",
            "json",
            "--compact",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
        check=False,
    )
    try:
        result = json.loads(completed.stdout)
    except json.JSONDecodeError as error:
        raise RuntimeError(
            f"checkov printed no JSON (exit {completed.returncode}): {completed.stderr[-2000:]}"
        ) from error
    if isinstance(result, list):  # one entry per framework
        (result,) = result
    return result


def checkov_failed(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(check id, resource) of each failed check."""
    return [(c["check_id"], c["resource"]) for c in result.get("results", {}).get("failed_checks", [])]


# --- the report -------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--details", action="store_true", help="list every finding, acknowledgement and skip")
    args = parser.parse_args()
    executable = checkov_bin()
    status = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, build in (("example", build_example), ("minimal", build_minimal), ("capture", build_capture)):
            synthesized = synthesize(build, Path(tmp) / name)
            print(f"## {name} stack ({synthesized.stack_name})")
            open_findings = nag_findings(synthesized.report)
            acknowledged = nag_findings(synthesized.report, "suppressedViolations")
            for pack in cdk_nag_pack_names():
                unacknowledged = sum(1 for f in open_findings if f[0] == pack)
                print(
                    f"cdk-nag {pack}: {unacknowledged} unacknowledged, {sum(1 for f in acknowledged if f[0] == pack)} acknowledged"
                )
                status |= bool(unacknowledged)
            lint = cfn_lint(synthesized.template_path)
            errors = sum(1 for m in lint if m[1] == "error")
            print(
                f"cfn-lint: {errors} errors, {len(lint) - errors} warnings ({', '.join(sorted({m[0] for m in lint})) or '-'})"
            )
            if executable is None:
                print("checkov: not installed (.ci/install_checkov.sh)")
                status = 1
            else:
                result = checkov(synthesized.template_path, executable)
                summary = result.get("summary", {})
                print(
                    f"checkov: {summary.get('failed')} failed, {summary.get('passed')} passed, "
                    f"{summary.get('skipped')} skipped, {summary.get('resource_count')} resources"
                )
                status |= bool(summary.get("failed")) or not summary.get("resource_count")
                if args.details:
                    for check, resource in checkov_failed(result):
                        print(f"  checkov FAILED {check} {resource}")
            if args.details:
                for pack, rule, path, _ in open_findings:
                    print(f"  nag OPEN {pack} {rule} {path}")
                for _pack, rule, path, reason in acknowledged:
                    print(f"  nag ACKNOWLEDGED {rule} {path}: {reason}")
                for rule, _severity, message, where in lint:
                    print(f"  cfn-lint {rule} {'/'.join(map(str, where))}: {message}")
            print()
    return status


def cdk_nag_pack_names() -> tuple[str, ...]:
    """The packs' plugin names (constructs_pkg.security.acknowledgements.PACKS; literal so that older trees run it)."""
    return ("AwsSolutions", "Serverless", "HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")


if __name__ == "__main__":
    sys.exit(main())

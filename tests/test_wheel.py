"""The built wheel carries the handler code and synthesizes outside the repository."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

APP = """
import json, sys, constructs_pkg
from aws_cdk import App, Stack
from constructs_pkg import ModelVariant, ShadowTestExperiment
app = App(analytics_reporting=False, outdir=sys.argv[1])
stack = Stack(app, "FromWheel")
ShadowTestExperiment(stack, "Shadow", endpoint_name="e",
    production_variant=ModelVariant(variant_name="a", model_name="m-a", instance_type="ml.m5.large"),
    shadow_variant=ModelVariant(variant_name="b", model_name="m-b", instance_type="ml.m5.large"))
app.synth()
print(json.dumps({"package": constructs_pkg.__file__}))
"""


@pytest.mark.slow
def test_wheel_installed_outside_the_repo_synthesizes(root: Path, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels), str(root)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # Dependencies come from the test environment (a plain path: its editable checkout is not
    # loaded); the package itself only from the wheel.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([python, "-m", "zipfile", "-e", str(wheel), str(site)], check=True)
    workdir = tmp_path / "app"
    workdir.mkdir()
    result = subprocess.run(
        [python, "-c", APP, str(workdir / "cdk.out")], cwd=workdir, check=True, capture_output=True, text=True
    )
    package = json.loads(result.stdout.strip().splitlines()[-1])["package"]
    assert package.startswith(str(site))
    template = json.loads((workdir / "cdk.out" / "FromWheel.template.json").read_text())
    assert any(r["Type"] == "Custom::ShadowTestExperiment" for r in template["Resources"].values())
    assets = [
        p
        for p in (workdir / "cdk.out").glob("asset.*")
        if (p / "shadow_test_core" / "experiment" / "handler.py").is_file()
    ]
    assert len(assets) == 1
    # Only the core package's modules: no bytecode, no stray files.
    shipped = {p.relative_to(assets[0]).as_posix() for p in assets[0].rglob("*") if p.is_file()}
    assert shipped and all(name.startswith("shadow_test_core/") and name.endswith(".py") for name in shipped)
    assert "shadow_test_core/experiment/handler.py" in shipped

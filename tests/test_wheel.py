"""The built wheel carries the handler code and synthesizes outside the repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from constructs_pkg.lambda_code import import_closure
from shadow_test_core import consts
from tests.synth import ONE_EXPERIMENT_APP

APP = (
    ONE_EXPERIMENT_APP
    + """
import json, constructs_pkg
print(json.dumps({"package": constructs_pkg.__file__}))
"""
)


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
    # Nothing of the checkout on the path, even when the tests run with it on PYTHONPATH.
    outside = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [python, "-c", APP, str(workdir / "cdk.out")],
        cwd=workdir,
        env=outside,
        check=True,
        capture_output=True,
        text=True,
    )
    package = json.loads(result.stdout.strip().splitlines()[-1])["package"]
    assert package.startswith(str(site))
    template = json.loads((workdir / "cdk.out" / "OneExperiment.template.json").read_text())
    assert any(r["Type"] == "Custom::ShadowTestExperiment" for r in template["Resources"].values())
    assets = [
        p
        for p in (workdir / "cdk.out").glob("asset.*")
        if (p / "shadow_test_core" / "experiment" / "handler.py").is_file()
    ]
    assert len(assets) == 1
    # The handler's import closure, as from the checkout (tests/test_handler_asset.py proves it
    # is the closure): no verdict or capture module, no bytecode, no stray files.
    shipped = {p.relative_to(assets[0]).as_posix(): p.read_bytes() for p in assets[0].rglob("*") if p.is_file()}
    assert set(shipped) == set(import_closure(consts.HANDLER_MODULE).paths)
    assert shipped == {name: (root / "lambda" / name).read_bytes() for name in shipped}

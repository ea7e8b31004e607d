"""The handler's Lambda asset holds exactly what the handler imports, staged by CDK for each synth.

The module's synth is two apps synthesized at once in separate processes, each into its own
output directory, one from this checkout and one from a copy of the core elsewhere with stray
files beside it; their temp folder holds a damaged copy of the shared folder the asset was once
staged in. What the asset must hold is found independently: by importing the handler with only
the asset and boto3 on the path and listing the modules that load.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from constructs_pkg.lambda_code import import_closure
from tests.synth import ONE_EXPERIMENT_APP

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "lambda" / "shadow_test_core"

# Imports the handler as Lambda does (the asset's root on the path, boto3 from the runtime) and
# lists the core's modules that loaded, with their files.
IMPORT_HANDLER = """
import importlib, json, sys
asset, runtime = sys.argv[1], sys.argv[2]
sys.path[:0] = [asset, runtime]
module, _, function = sys.argv[3].rpartition(".")
assert callable(getattr(importlib.import_module(module), function))
print(json.dumps({name: m.__file__ for name, m in sys.modules.items() if name.split(".")[0] == "shadow_test_core"}))
"""


@dataclass(frozen=True)
class Synth:
    handler: str
    asset: Path


@dataclass(frozen=True)
class Synths:
    checkout: Synth
    elsewhere_with_strays: Synth
    source_before: dict[str, tuple[int, int]]
    source_after: dict[str, tuple[int, int]]


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def _old_shared_folder_name() -> str:
    """The folder the previous staging trusted when it existed: named after every module of the core."""
    digest = hashlib.sha256()
    for file in sorted(CORE.rglob("*.py")):
        digest.update(str(file.relative_to(CORE)).encode() + b"\0" + file.read_bytes() + b"\0")
    return f"cdk-shadow-test-handler-{digest.hexdigest()[:16]}"


def _damaged_old_shared_folder(tmpdir: Path) -> None:
    staged = tmpdir / _old_shared_folder_name()
    shutil.copytree(CORE, staged / "shadow_test_core", ignore=shutil.ignore_patterns("__pycache__"))
    (staged / "shadow_test_core" / "experiment" / "handler.py").unlink()


def _core_elsewhere_with_strays(folder: Path) -> Path:
    core = folder / "shadow_test_core"
    shutil.copytree(CORE, core, ignore=shutil.ignore_patterns("__pycache__"))
    (core / ".DS_Store").write_bytes(b"\x00\x01 stray")
    (core / "experiment" / ".handler.py.swp").write_bytes(b"\x00\x01 stray")
    (core / "__pycache__").mkdir()
    (core / "__pycache__" / "consts.cpython-311.pyc").write_bytes(b"\x00\x01 stray")
    return folder


def _start_synth(outdir: Path, tmpdir: Path, core_parent: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(core_parent)]),
        "TMPDIR": str(tmpdir),
        # Bytecode that Python itself would write while importing is not the synth's doing.
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-c", ONE_EXPERIMENT_APP, str(outdir)],
        env=env,
        cwd=outdir.parent,
        stderr=subprocess.PIPE,
        text=True,
    )


def _handler_of(outdir: Path) -> Synth:
    template = json.loads((outdir / "OneExperiment.template.json").read_text())
    (function,) = (
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Handler"].startswith("shadow_test_core.")
    )
    return Synth(handler=function["Handler"], asset=outdir / f"asset.{function['Code']['S3Key'].removesuffix('.zip')}")


@pytest.fixture(scope="module")
def synths(tmp_path_factory: pytest.TempPathFactory) -> Synths:
    work = tmp_path_factory.mktemp("asset")
    shared_tmp = work / "tmp"
    shared_tmp.mkdir()
    _damaged_old_shared_folder(shared_tmp)
    sources = {"checkout": ROOT / "lambda", "elsewhere": _core_elsewhere_with_strays(work / "elsewhere")}
    outdirs = {name: work / f"{name}.out" for name in sources}
    for outdir in outdirs.values():
        outdir.mkdir()
    before = _listing(ROOT / "lambda")
    started = [_start_synth(outdirs[name], shared_tmp, source) for name, source in sources.items()]
    for process in started:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-3000:]
    after = _listing(ROOT / "lambda")
    return Synths(_handler_of(outdirs["checkout"]), _handler_of(outdirs["elsewhere"]), before, after)


def _files(asset: Path) -> dict[str, bytes]:
    return {p.relative_to(asset).as_posix(): p.read_bytes() for p in asset.rglob("*") if p.is_file()}


def _modules(files: dict[str, bytes]) -> set[str]:
    names = set()
    for path in files:
        assert path.endswith(".py"), f"not a module: {path}"
        parts = path.removesuffix(".py").split("/")
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _modules_loaded_by_importing(synth: Synth) -> dict[str, str]:
    runtime = str(Path(boto3.__file__).resolve().parent.parent)
    completed = subprocess.run(
        [sys.executable, "-S", "-B", "-c", IMPORT_HANDLER, str(synth.asset), runtime, synth.handler],
        capture_output=True,
        text=True,
        cwd=synth.asset,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout)


def test_handler_asset_holds_exactly_the_modules_its_import_loads(synths: Synths) -> None:
    loaded = _modules_loaded_by_importing(synths.checkout)
    assert all(Path(file).is_relative_to(synths.checkout.asset) for file in loaded.values()), loaded
    assert _modules(_files(synths.checkout.asset)) == set(loaded)


def test_handler_asset_holds_no_verdict_or_capture_module(synths: Synths) -> None:
    shipped = _modules(_files(synths.checkout.asset))
    in_core = {p for p in CORE.rglob("*.py") if "__pycache__" not in p.parts}
    assert "shadow_test_core.experiment.handler" in shipped
    assert not {m for m in shipped if m.startswith(("shadow_test_core.verdict", "shadow_test_core.capture"))}
    assert len(shipped) < len(in_core)


def test_a_damaged_old_shared_temp_folder_does_not_reach_the_asset(synths: Synths) -> None:
    # Both synths ran with a temp folder holding the old staging folder without handler.py.
    for synth in (synths.checkout, synths.elsewhere_with_strays):
        assert "shadow_test_core/experiment/handler.py" in _files(synth.asset)
        assert _modules(_files(synth.asset)) == set(_modules_loaded_by_importing(synth))


def test_two_synths_at_once_one_from_a_copy_with_stray_files_yield_identical_assets(synths: Synths) -> None:
    # Same hash and bytes: the asset depends neither on where the core is nor on what lies beside it.
    assert synths.elsewhere_with_strays.asset.name == synths.checkout.asset.name
    assert _files(synths.elsewhere_with_strays.asset) == _files(synths.checkout.asset)


def test_synth_writes_nothing_into_the_source_tree(synths: Synths) -> None:
    assert synths.source_after == synths.source_before


def test_asset_files_are_readable_by_the_lambda_runtime(synths: Synths) -> None:
    for path in [synths.checkout.asset, *synths.checkout.asset.rglob("*")]:
        assert path.stat().st_mode & 0o777 == (0o755 if path.is_dir() else 0o644), path


# The closure's reading of import statements, on a made-up core.


def _core(folder: Path, modules: dict[str, str]) -> Path:
    package = folder / "shadow_test_core"
    for name, source in modules.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return package


def _closure_paths(folder: Path, entry: str, modules: dict[str, str]) -> tuple[str, ...]:
    return import_closure(entry, package_dir=_core(folder, modules)).paths


def test_closure_follows_relative_nested_and_function_level_imports_but_not_type_checking_ones(tmp_path: Path) -> None:
    paths = _closure_paths(
        tmp_path,
        "shadow_test_core.job.entry",
        {
            "__init__.py": "",
            "job/__init__.py": "from . import shared\n",
            "job/shared.py": "",
            "job/entry.py": (
                "from typing import TYPE_CHECKING\n"
                "from .helpers import helper\n"
                "from ..top import VALUE\n"
                "if TYPE_CHECKING:\n    from shadow_test_core.other import Hint\n"
                "def later():\n    import shadow_test_core.deferred\n"
                "try:\n    from . import in_try\nexcept ImportError:\n    from . import in_except\n"
            ),
            "job/in_try.py": "",
            "job/in_except.py": "",
            "job/helpers.py": "import json\ndef helper(): ...\n",
            "top.py": "VALUE = 1\n",
            "deferred.py": "",
            "other.py": "",
        },
    )
    assert paths == (
        "shadow_test_core/__init__.py",
        "shadow_test_core/deferred.py",
        "shadow_test_core/job/__init__.py",
        "shadow_test_core/job/entry.py",
        "shadow_test_core/job/helpers.py",
        "shadow_test_core/job/in_except.py",
        "shadow_test_core/job/in_try.py",
        "shadow_test_core/job/shared.py",
        "shadow_test_core/top.py",
    )


def test_closure_takes_a_name_imported_from_a_package_as_its_submodule_only_when_one_exists(tmp_path: Path) -> None:
    paths = _closure_paths(
        tmp_path,
        "shadow_test_core.entry",
        {
            "__init__.py": "",
            "job/__init__.py": "NAME = 1\n",
            "job/module.py": "",
            "job/unused.py": "",
            "entry.py": "from shadow_test_core.job import NAME, module\n",
        },
    )
    assert paths == (
        "shadow_test_core/__init__.py",
        "shadow_test_core/entry.py",
        "shadow_test_core/job/__init__.py",
        "shadow_test_core/job/module.py",
    )


def test_closure_refuses_an_import_of_a_missing_core_module(tmp_path: Path) -> None:
    package = _core(tmp_path, {"__init__.py": "", "entry.py": "import shadow_test_core.missing\n"})
    with pytest.raises(ValueError, match=r"^shadow_test_core\.entry: imports shadow_test_core\.missing, but "):
        import_closure("shadow_test_core.entry", package_dir=package)


def test_closure_refuses_an_entry_module_outside_the_core() -> None:
    with pytest.raises(ValueError, match="entry_module: must be a module of shadow_test_core"):
        import_closure("json.decoder")


def test_closure_digest_changes_with_a_files_bytes(tmp_path: Path) -> None:
    package = _core(tmp_path, {"__init__.py": "", "entry.py": "X = 1\n"})
    before = import_closure("shadow_test_core.entry", package_dir=package).digest
    (package / "entry.py").write_text("X = 2\n")
    assert import_closure("shadow_test_core.entry", package_dir=package).digest != before

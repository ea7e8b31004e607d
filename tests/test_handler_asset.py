"""The handler's Lambda asset holds what runs in Lambda and nothing else (an allow-list)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aws_cdk import App, Stack

import shadow_test_core
from constructs_pkg import ModelVariant, ShadowTestExperiment
from constructs_pkg._handler_code import handler_asset_dir

PACKAGE = Path(shadow_test_core.__file__).resolve().parent


def _handler_s3_key() -> str:
    app = App(analytics_reporting=False)
    stack = Stack(app, "AssetStack")
    ShadowTestExperiment(
        stack,
        "Shadow",
        endpoint_name="e",
        production_variant=ModelVariant(variant_name="a", model_name="m-a", instance_type="ml.m5.large"),
        shadow_variant=ModelVariant(variant_name="b", model_name="m-b", instance_type="ml.m5.large"),
    )
    template = app.synth().get_stack_by_name("AssetStack").template
    keys = {
        r["Properties"]["Code"]["S3Key"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Handler"].startswith("shadow_test_core.")
    }
    (key,) = keys
    return key


@pytest.fixture
def stray_files() -> Iterator[list[Path]]:
    """An OS's and an editor's files beside the handler's modules, removed afterwards."""
    files = [PACKAGE / ".DS_Store", PACKAGE / ".handler.py.swp", PACKAGE / "__pycache__" / "stray.cpython-311.pyc"]
    created = [f for f in files if not f.exists()]
    for file in created:
        file.parent.mkdir(exist_ok=True)
        file.write_bytes(b"\x00\x01 stray")
    yield created
    for file in created:
        file.unlink()


def test_asset_holds_only_the_core_packages_modules() -> None:
    shipped = sorted(
        p.relative_to(handler_asset_dir()).as_posix() for p in handler_asset_dir().rglob("*") if p.is_file()
    )
    expected = sorted(
        f"shadow_test_core/{p.relative_to(PACKAGE).as_posix()}"
        for p in PACKAGE.rglob("*.py")
        if "__pycache__" not in p.parts
    )
    assert shipped == expected


def test_stray_editor_and_os_files_do_not_change_the_asset_hash(stray_files: list[Path]) -> None:
    handler_asset_dir.cache_clear()
    with_strays = _handler_s3_key()
    for file in stray_files:
        file.unlink()
    stray_files.clear()
    handler_asset_dir.cache_clear()
    assert _handler_s3_key() == with_strays

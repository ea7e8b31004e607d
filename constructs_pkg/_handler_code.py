"""The custom-resource handler's Lambda asset, built from an allow-list of what runs in Lambda.

The asset is the core package (``shadow_test_core``) and nothing else: its ``.py`` files are
copied to a staging directory named after their content, so an editor's or OS's stray file
(``.DS_Store``, ``*.swp``, ``__pycache__``) beside them never changes the asset's hash.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

import shadow_test_core

#: What of the core package runs in Lambda: its modules, at any depth.
ASSET_PATTERNS = ("*.py",)


def _asset_files() -> list[Path]:
    package = Path(shadow_test_core.__file__).resolve().parent
    files = {f for pattern in ASSET_PATTERNS for f in package.rglob(pattern) if "__pycache__" not in f.parts}
    return sorted(files)


@lru_cache(maxsize=1)
def handler_asset_dir() -> Path:
    """A directory holding exactly ``shadow_test_core/**/*.py``: the Lambda asset's root."""
    package = Path(shadow_test_core.__file__).resolve().parent
    files = _asset_files()
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(package)).encode() + b"\0" + file.read_bytes() + b"\0")
    staged = Path(tempfile.gettempdir()) / f"cdk-shadow-test-handler-{digest.hexdigest()[:16]}"
    if staged.is_dir():
        return staged
    building = Path(tempfile.mkdtemp(prefix="cdk-shadow-test-handler-"))
    for file in files:
        target = building / package.name / file.relative_to(package)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.read_bytes())
    try:
        os.replace(building, staged)
    except OSError:  # another process staged the same content first
        shutil.rmtree(building, ignore_errors=True)
    return staged

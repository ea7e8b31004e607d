"""Where the custom-resource handler's code lives, and the rules module it shares with synth."""

from __future__ import annotations

import importlib.util
import sys
from functools import lru_cache
from pathlib import Path
from types import ModuleType

_PACKAGE = Path(__file__).resolve().parent


def handler_code_dir() -> Path:
    """The handler's source: bundled into the wheel as ``_lambda``, or ``lambda/`` in a checkout."""
    for candidate in (_PACKAGE / "_lambda", _PACKAGE.parent / "lambda"):
        if (candidate / "handler.py").is_file():
            return candidate
    raise FileNotFoundError(f"the shadow-test handler code is missing beside {_PACKAGE}")


@lru_cache(maxsize=1)
def request_rules() -> ModuleType:
    """The handler's ``request_rules`` module, so synth and deploy apply the very same rules."""
    path = handler_code_dir() / "request_rules.py"
    spec = importlib.util.spec_from_file_location("constructs_pkg._request_rules", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module

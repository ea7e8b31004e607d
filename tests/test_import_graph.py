"""No import circles in the library or the runtime: a static import graph, and modules imported alone.

The graph holds every import a module can run (at module level or inside a function, which only
defers a circle), but not those under ``if TYPE_CHECKING:``, which never run. Importing ``a.b.c``
also runs ``a`` and ``a.b``, so it counts as importing them too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"constructs_pkg": ROOT / "constructs_pkg", "shadow_test_core": ROOT / "lambda" / "shadow_test_core"}


def _modules() -> dict[str, Path]:
    modules = {}
    for package, directory in PACKAGES.items():
        for path in directory.rglob("*.py"):
            parts = [package, *path.relative_to(directory).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    return ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def _imported_names(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def _own_modules(name: str) -> set[str]:
    """The library's modules that importing ``name`` runs: it (when a module) and its parent packages."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & set(MODULES)


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for module, path in MODULES.items():
        names = _imported_names(ast.parse(path.read_text()), module, path.name == "__init__.py")
        targets = set().union(*(_own_modules(n) for n in names)) if names else set()
        # A package's own __init__ runs before its modules; that is not an import the module makes.
        graph[module] = targets - {module} - {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], dict.fromkeys(graph, 0), []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state[target] == 1:
                found.append([*stack[stack.index(target) :], target])
            elif state[target] == 0:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if state[node] == 0:
            visit(node)
    return found


def test_the_graph_sees_the_library_modules_and_their_imports() -> None:
    graph = import_graph()
    assert "constructs_pkg.security.experiment_roles" in graph["constructs_pkg.security.grants"]
    assert "constructs_pkg.security.acknowledgements" in graph["constructs_pkg.provider"]


def test_no_import_circle_in_the_library_or_the_runtime() -> None:
    assert _cycles(import_graph()) == []


def test_a_circle_would_be_found() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


@pytest.mark.parametrize(
    "module",
    ["constructs_pkg.security.acknowledgements", "constructs_pkg.security.statements", "constructs_pkg.provider"],
)
def test_a_module_of_the_former_circle_imports_alone(module: str) -> None:
    """``_acknowledgements`` -> ``experiment`` -> ``provider`` -> ``_acknowledgements`` was the circle."""
    completed = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, cwd=ROOT, check=False, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-2000:]


def test_the_public_api_is_listed_once_and_the_type_checking_imports_agree() -> None:

    import constructs_pkg

    tree = ast.parse((ROOT / "constructs_pkg" / "__init__.py").read_text())
    typed = {
        alias.asname or alias.name: node.module
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and getattr(block.test, "id", None) == "TYPE_CHECKING"
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert typed == constructs_pkg._EXPORTS
    assert constructs_pkg.__all__ == sorted(constructs_pkg._EXPORTS)
    for name, module in constructs_pkg._EXPORTS.items():
        assert getattr(constructs_pkg, name).__module__ == module, name

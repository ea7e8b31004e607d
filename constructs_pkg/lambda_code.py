"""Lambda code holding one entry module of the core and exactly what it imports.

:func:`core_code` gives a function's ``aws_lambda.Code``: the asset holds the entry module's import
closure inside ``shadow_test_core`` (found by reading the modules' ``import`` statements), laid out
as ``shadow_test_core/...`` so that a handler string such as
``shadow_test_core.experiment.handler.handle`` resolves, and nothing else: a function ships only
what it runs, never another function's modules, bytecode or an editor's stray files.

CDK's asset staging does the staging: a local bundler writes the closure into the directory CDK
gives it, inside the synth's own output directory. The asset's hash is computed from the closure's
paths and bytes (``AssetHashType.CUSTOM``), so it is the same on every machine and run, and the
installed package's folder (possibly a large ``site-packages``) is never fingerprinted. Like every
bundled asset, CDK prints ``Bundling asset <path>...`` on stderr when it stages one, and reuses an
``asset.<hash>`` folder already in the output directory.
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, BundlingOutput, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

import shadow_test_core

#: The package whose modules a function's code may hold; the asset's only top-level folder.
CORE_PACKAGE = shadow_test_core.__name__
_CORE_DIR = Path(shadow_test_core.__file__).resolve().parent
#: Never used: the local bundler always succeeds, so CDK never falls back to Docker.
_UNUSED_IMAGE = "scratch-not-used"


def core_code(entry_module: str) -> lambda_.Code:
    """Lambda code holding ``entry_module`` and the modules of ``shadow_test_core`` it imports.

    The closure follows every ``import`` a module can run, at module level or inside a function,
    absolute (``shadow_test_core.x``) or relative (``from . import x``), except those under
    ``if TYPE_CHECKING:``; with them come the ``__init__.py`` of every package on the way.
    Modules outside ``shadow_test_core`` (the standard library, boto3) are the runtime's.
    Imports by computed name (``importlib.import_module``) are not followed.

    Only modules are shipped: a data file the code reads next to itself would have to be added here.
    Each call reads the modules again (about 40 ms of CPU for the custom-resource handler's 15);
    CDK stages a given closure once per output directory however many functions use it.

    A function of its own, e.g. one whose handler is ``handle`` in ``shadow_test_core/verdict/conclusion.py``::

        entry = "shadow_test_core.verdict.conclusion"  # keep it in shadow_test_core.consts
        lambda_.Function(self, "Conclusion", code=core_code(entry), handler=f"{entry}.handle", ...)

    :param entry_module: the dotted name of the function's handler module, inside
        ``shadow_test_core`` (e.g. ``"shadow_test_core.experiment.handler"``); the function's
        handler string is this name, a dot and the handler's function name.
    :raises ValueError: when ``entry_module`` or a module of the core it imports does not exist.
    """
    files = import_closure(entry_module)
    return lambda_.Code.from_asset(
        str(_CORE_DIR),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=files.digest,
        bundling=BundlingOptions(
            image=DockerImage.from_registry(_UNUSED_IMAGE),
            local=_WriteFiles(files),
            output_type=BundlingOutput.NOT_ARCHIVED,
        ),
    )


@dataclass(frozen=True, kw_only=True)
class ClosureFiles:
    """The files of an import closure: each path in the asset (``shadow_test_core/...``) and its bytes."""

    files: tuple[tuple[str, bytes], ...]

    @property
    def paths(self) -> tuple[str, ...]:
        """The files' paths in the asset, sorted."""
        return tuple(path for path, _ in self.files)

    @property
    def digest(self) -> str:
        """A SHA-256 of the paths and bytes: the same closure gives the same value on any machine."""
        digest = hashlib.sha256()
        for path, content in self.files:
            digest.update(path.encode() + b"\0" + len(content).to_bytes(8, "big") + content)
        return digest.hexdigest()


def import_closure(entry_module: str, *, package_dir: Path = _CORE_DIR) -> ClosureFiles:
    """The files of ``entry_module``'s import closure inside ``shadow_test_core`` (see :func:`core_code`).

    :param package_dir: the folder of the ``shadow_test_core`` package to read.
        Default: the folder of the imported ``shadow_test_core``.
    """
    if entry_module.partition(".")[0] != CORE_PACKAGE:
        raise ValueError(f"entry_module: must be a module of {CORE_PACKAGE} (got {entry_module!r})")
    paths: dict[str, Path] = {}
    pending = [(entry_module, "entry_module")]  # (module, what imports it)
    while pending:
        module, importer = pending.pop()
        for name in _with_parent_packages(module):
            if name in paths:
                continue
            path = _source_of(name, package_dir)
            if path is None:
                raise ValueError(f"{importer}: imports {module}, but {package_dir} has no module {name}")
            paths[name] = path
            pending.extend((imported, name) for imported in _imported_core_modules(name, path, package_dir))
    files = sorted(
        (PurePosixPath(CORE_PACKAGE, *path.relative_to(package_dir).parts).as_posix(), path.read_bytes())
        for path in paths.values()
    )
    return ClosureFiles(files=tuple(files))


def _with_parent_packages(module: str) -> list[str]:
    """Importing ``a.b.c`` runs ``a`` and ``a.b`` first."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _source_of(module: str, package_dir: Path) -> Path | None:
    relative = Path(*module.split(".")[1:])
    for candidate in (package_dir / relative / "__init__.py", (package_dir / relative).with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imported_core_modules(module: str, path: Path, package_dir: Path) -> list[str]:
    """The modules of the core that ``module``'s import statements name (a name may be a module or an attribute)."""
    is_package = path.name == "__init__.py"
    names: list[str] = []
    for node in _statements_that_run(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            names.append(base)
            # `from package import name`: `name` is a submodule when such a file exists.
            submodules = (f"{base}.{alias.name}" for alias in node.names)
            names.extend(name for name in submodules if _source_of(name, package_dir))
    return [name for name in names if name.partition(".")[0] == CORE_PACKAGE]


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    # `from . import x` in a.b.c means a.b; in the package a.b's __init__ it means a.b too.
    anchor = module.split(".")
    anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
    return ".".join([*anchor, node.module] if node.module else anchor)


def _statements_that_run(tree: ast.Module) -> list[ast.stmt]:
    """Every statement of the module, at any depth, but the bodies of ``if TYPE_CHECKING:``, which never run.

    Only statements are visited (an import is one), not the expressions inside them.
    """
    found: list[ast.stmt] = []
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        statement = pending.pop()
        found.append(statement)
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            if field == "body" and _is_type_checking(statement):
                continue
            for child in getattr(statement, field, ()):
                # An except clause or a match case holds statements without being one.
                pending.extend(child.body if isinstance(child, ast.ExceptHandler | ast.match_case) else [child])
    return found


def _is_type_checking(statement: ast.stmt) -> bool:
    if not isinstance(statement, ast.If):
        return False
    test = statement.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


@jsii.implements(ILocalBundling)
class _WriteFiles:
    """Writes the closure's files into CDK's bundling directory; CDK then stages it as the asset."""

    def __init__(self, files: ClosureFiles) -> None:
        self._files = files

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_options: Any) -> bool:
        root = Path(output_dir)
        root.chmod(0o755)  # CDK makes it writable by all, for a Docker bundler's user; this writes as the synth
        for relative, content in self._files.files:
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            # Readable by the Lambda runtime's user whatever the installed files' modes or the umask.
            target.chmod(0o644)
            for folder in target.relative_to(root).parents[:-1]:
                (root / folder).chmod(0o755)
        return True

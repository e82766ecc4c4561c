"""What a cache key hashes besides the parameters: the code an experiment runs (its module, the
helper modules it imports from its folder, the engine modules it uses) and the library versions.

Following imports instead of hashing the whole engine keeps a key honest and narrow: a Trainer
fix makes Task 1 stale, editing Task 5's style code does not.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

from reportgen import provenance

ENGINE = Path(__file__).resolve().parent
# Engine modules that present or draw results but never change what an experiment computes.
NOT_COMPUTING = ("render", "cli.py", "progress.py", "executors.py", "verify.py", "writeup.py", "scaffold.py", "registry.py",
                 "params.py", "errors.py", "provenance.py", "__init__.py",
                 # A wheel installs the built-in experiments inside the engine: their code is hashed
                 # as experiment code (module_sources), the same as in a checkout.
                 "experiments")


def _source_hash(paths: list[Path]) -> str:
    sha = hashlib.sha256()
    for path in sorted(paths):
        sha.update(path.read_bytes())
    return sha.hexdigest()[:16]


@functools.cache
def module_sources(path: Path) -> tuple[Path, ...]:
    """`path` and every module it imports from its own folder (transitively): the shared helpers
    of the built-in experiments, or of a project's experiments folder."""
    from reportgen.registry import PROJECT_MODULES

    folder = path.parent
    packages = {folder.name, PROJECT_MODULES}
    seen: list[Path] = []
    stack = [path]
    while stack:
        current = stack.pop()
        if current in seen or not current.is_file():
            continue
        seen.append(current)
        try:
            tree = ast.parse(current.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level:  # from . import x / from ._helpers import y
                    names = [module] if module else [alias.name for alias in node.names]
                elif module.split(".")[0] in packages:
                    names = [module.split(".", 1)[1]] if "." in module else [alias.name for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name.split(".", 1)[1] for a in node.names if a.name.split(".")[0] in packages and "." in a.name]
            for name in names:
                stack.append(folder / f"{name.split('.')[0]}.py")
    return tuple(sorted(seen))


def _engine_module(dotted: str) -> Path | None:
    """reportgen.a.b -> its file (module or package __init__), or None outside the engine."""
    parts = dotted.split(".")
    if parts[0] != "reportgen":
        return None
    base = ENGINE.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def engine_sources(path: Path) -> tuple[Path, ...]:
    """The engine modules `path` imports, directly or through other engine modules (imports
    inside functions included): a change to one of them can change what it computes. Editing
    a module an experiment does not use (another task's visualisation, the renderer) leaves
    its results current."""
    seen: set[Path] = set()
    stack = [path]
    found: list[Path] = []
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        in_engine = ENGINE in current.parents
        if in_engine and current != path:
            rel = current.relative_to(ENGINE).as_posix()
            if rel.split("/")[0] in NOT_COMPUTING:
                continue
            found.append(current)
        try:
            tree = ast.parse(current.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        package = ".".join(("reportgen", *current.relative_to(ENGINE).parent.parts)) if in_engine else ""
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level and in_engine:
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    module = f"{base}.{module}" if module else base
                elif node.level:
                    continue
                targets = [module] + [f"{module}.{a.name}" for a in node.names]
            for target in targets:
                file = _engine_module(target)
                if file is not None:
                    stack.append(file)
    return tuple(sorted(set(found)))


def engine_hash(source_file: Path) -> str:
    """Hash of the engine modules that experiment code in `source_file` (and its helpers) uses."""
    files: set[Path] = set()
    for module in module_sources(source_file):
        files.update(engine_sources(module))
    return _source_hash(sorted(files))


def versions() -> dict[str, str]:
    v = provenance.library_versions()
    return {k: v[k] for k in ("torch", "torchvision")}

"""The modules that register experiments: the built-in `reportgen.experiments` package (the
repository's experiments/ folder, installed under our name so it never meets a project's own
`experiments`) and the project's
own `experiments/` folder (loaded by path as the package `reportgen_project`), with errors in
the student's files named by file and line, never a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reportgen.errors import ReportgenError
from reportgen import registry as registrations
from reportgen.registry import PROJECT_MODULES, Experiment


def builtin_modules() -> list[Any]:
    from reportgen import experiments

    modules = []
    for info in sorted(pkgutil.iter_modules(experiments.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            modules.append(importlib.import_module(f"{experiments.__name__}.{info.name}"))
    return modules


def project_modules(folder: Path) -> list[Any]:
    """Imports every `*.py` in the project's experiments folder by path (not by package name).

    The folder becomes the package `reportgen_project`, so its modules share helpers with
    relative imports (`from ._helpers import x`) and never meet our `reportgen.experiments` package.
    """
    import types

    folder = folder.resolve()  # two projects' "experiments" relative to their own folders differ
    stamp = sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in folder.glob("*.py"))
    package = sys.modules.get(PROJECT_MODULES)
    if (package is None or list(getattr(package, "__path__", [])) != [str(folder)]
            or getattr(package, "__reportgen_stamp__", None) != stamp):  # fmt: skip
        # Another project's (or an edited file's older) modules and registrations share our module
        # names: forget them all, or they would pass for this project's current code.
        for name in [n for n in sys.modules if n.startswith(f"{PROJECT_MODULES}.")]:
            del sys.modules[name]
        known = registrations._REGISTRY  # looked up now: a test may swap in a copy
        for exp_id in [i for i, e in known.items() if e.module.startswith(f"{PROJECT_MODULES}.")]:
            del known[exp_id]
        package = types.ModuleType(PROJECT_MODULES)
        package.__path__ = [str(folder)]  # type: ignore[attr-defined]
        package.__reportgen_stamp__ = stamp  # type: ignore[attr-defined]
        sys.modules[PROJECT_MODULES] = package
    modules = []
    names: dict[str, Path] = {}
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        name = f"{PROJECT_MODULES}.{path.stem.replace('-', '_')}"
        if name in names:
            raise ReportgenError(f"{names[name]} and {path} load as the same module '{name}'", "rename one of them", 2)
        names[name] = path
        if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(path):
            modules.append(sys.modules[name])
            continue
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except ReportgenError:
            del sys.modules[name]
            raise
        except (Exception, SystemExit) as exc:  # the student's code: say where, not a traceback
            del sys.modules[name]
            raise load_failed(path, exc) from exc
        modules.append(module)
    return modules


def load_failed(path: Path, exc: BaseException, doing: str = "") -> ReportgenError:
    """One line for a project module that raised or exited while being imported (or, with
    `doing`, in that function of it)."""
    from reportgen.blame import innermost_in, shown

    where = innermost_in(exc.__traceback__, path.parent)
    if isinstance(exc, SyntaxError) and exc.lineno:  # raised by the compiler, not from a frame of the file
        where = (Path(exc.filename or path), exc.lineno)
    place = f"{shown(where[0], Path.cwd())}:{where[1]}" if where else shown(path, Path.cwd())
    when = f"in {doing}()" if doing else "while being loaded"
    if isinstance(exc, SystemExit):
        return ReportgenError(
            f"{place}: the project's module exits the interpreter {when} (SystemExit {exc.code!r})",
            "a module in experiments/ is imported to find its experiments: put a sys.exit() under "
            "`if __name__ == \"__main__\":` or remove it",
            2,
        )
    return ReportgenError(
        f"{place}: the project's module {'failed ' + when if doing else 'cannot be loaded'}: {type(exc).__name__}: {exc}",
        "fix the file (this is the project's own code), or run with --debug for the traceback",
        2,
    )


def call_hook(module: Any, hook: Callable[..., Any], config: Any, registry: dict[str, Experiment]) -> dict[str, Experiment]:
    """A module's from_config(config, registry); a project module's failure names its file and line."""
    try:
        return hook(config, registry)
    except ReportgenError:
        raise
    except (Exception, SystemExit) as exc:
        if not module.__name__.startswith(f"{PROJECT_MODULES}."):
            raise
        raise load_failed(Path(module.__file__), exc, "from_config") from exc

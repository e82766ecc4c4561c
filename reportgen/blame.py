"""Failures in the project's own files, told as such: file, line, experiment, exit 2.

A project brings its own experiment modules (`experiments/*.py`) and may bring its own templates
(`theme/*.j2`). When one of those raises, returns the wrong thing or has a syntax error, the
student must read which of their files and lines to fix, not "internal error ... report the
traceback": that wording is kept for reportgen's own bugs. Built-in experiments and templates
are ours, so their failures are left to the CLI's internal-error line.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

from reportgen.errors import ReportgenError
from reportgen.registry import PROJECT_MODULES, Experiment
from reportgen.records import InvalidRecord, Record
from reportgen.results import InvalidResult, Section

DEBUG_HINT = "this is the project's own code, not reportgen's: fix it (reportgen --debug ... shows the traceback)"


def shown(path: Path, project: Path) -> str:
    """`path` as the student knows it: relative to the project folder when inside it."""
    try:
        return str(path.resolve().relative_to(project.resolve()))
    except (ValueError, OSError):
        return str(path)


def innermost_in(tb: TracebackType | None, folder: Path) -> tuple[Path, int] | None:
    """The deepest traceback frame whose file lies inside `folder`: the student's last line run."""
    folder = folder.resolve()
    found = None
    while tb is not None:
        path = Path(tb.tb_frame.f_code.co_filename)  # a Jinja template's frame names the template
        if not path.name.startswith("<") and path.resolve().is_relative_to(folder):
            found = (path, tb.tb_lineno)
        tb = tb.tb_next
    return found


def is_project_experiment(exp: Experiment) -> bool:
    return exp.module.startswith(f"{PROJECT_MODULES}.")


def _place(exp: Experiment, project: Path, exc: BaseException | None = None) -> str:
    """'experiments/mine.py:12': where the failure is, as precisely as known."""
    where = innermost_in(exc.__traceback__, exp.source_file.parent) if exc is not None else None
    if where is None:
        where = (exp.source_file, exp.fn.__code__.co_firstlineno)
    return f"{shown(where[0], project)}:{where[1]}"


def call_experiment(exp: Experiment, ctx: Any, project: Path) -> Section | Record:
    """Runs `exp.fn(ctx)` and checks what it returns.

    Raises:
        ReportgenError: a project experiment raised, exited, or returned something that is not a
            valid Section or Record (file, line and experiment named, exit 2); a ReportgenError raised on
            the way gets the experiment's id when it does not name it yet.
        TypeError, InvalidResult: a built-in experiment did so (a bug of ours).
    """
    ours = not is_project_experiment(exp)
    try:
        section = exp.fn(ctx)
    except ReportgenError as exc:
        if exp.id not in exc.message:
            exc.message = f"experiment '{exp.id}': {exc.message}"
        raise
    except (Exception, SystemExit) as exc:
        if ours:
            raise
        what = "exited the interpreter (sys.exit)" if isinstance(exc, SystemExit) else f"{type(exc).__name__}: {exc}"
        raise ReportgenError(f"{_place(exp, project, exc)}: experiment '{exp.id}' failed: {what}", DEBUG_HINT, 2) from exc
    if not isinstance(section, (Section, Record)):
        if ours:
            raise TypeError(f"experiment {exp.id} returned {type(section).__name__}, not a Section or a Record")
        raise ReportgenError(
            f"{_place(exp, project)}: experiment '{exp.id}' returned {type(section).__name__}, not a Section or a Record",
            "return reportgen.results.Section(title=..., items=[...]); this is the project's own code",
            2,
        )
    try:
        section.validate()
    except (InvalidResult, InvalidRecord) as exc:
        if ours:
            raise
        raise ReportgenError(
            f"{_place(exp, project)}: experiment '{exp.id}' returned an invalid result: {exc}",
            "fix what the project's experiment returns (e.g. a metric's fmt must format its value)",
            2,
        ) from None
    return section


def theme_error(exc: Exception, theme: Path | None, project: Path) -> ReportgenError | None:
    """The one-line error for a Jinja failure in a project's theme template; None when the
    failing template is one of ours (a bug of ours, shown as an internal error)."""
    import jinja2

    if theme is None or not theme.is_dir():
        return None
    where = None
    if isinstance(exc, jinja2.TemplateSyntaxError) and exc.filename:
        path = Path(exc.filename)
        if path.resolve().is_relative_to(theme.resolve()):
            where = (path, exc.lineno)
    if where is None:
        where = innermost_in(exc.__traceback__, theme)
    if where is None:
        return None
    message = exc.message if isinstance(exc, jinja2.TemplateError) and exc.message else str(exc)
    return ReportgenError(
        f"{shown(where[0], project)}:{where[1]}: the project's theme template failed: {type(exc).__name__}: {message}",
        "fix the template in the theme folder, or delete it to use reportgen's own",
        2,
    )

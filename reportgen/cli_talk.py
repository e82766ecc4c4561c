"""How every reportgen command talks: one escaped line to stderr, and every failure turned into
one clear message with a hint and a non-zero exit (a traceback only with --debug).
"""

from __future__ import annotations

import errno
import functools
import os
import traceback
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from reportgen.errors import ReportgenError

err = Console(stderr=True, soft_wrap=True)  # an error stays one line, whatever the width
out_console = Console()
_DEBUG = {"on": False}


def say(text: str, style: str = "") -> None:
    """One line to stderr; user-provided text in it is escaped so that '[...]' is shown as typed."""
    err.print(f"[{style}]{escape(text)}[/]" if style else escape(text), highlight=False)


def _fail(exc: ReportgenError) -> None:
    err.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False)
    if exc.hint:
        err.print(f"  [yellow]→[/] {escape(exc.hint)}", highlight=False)
    raise typer.Exit(exc.exit_code)


def _guard(fn):
    """Turns every failure into one clear line and a non-zero exit (a traceback only with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except ReportgenError as exc:
            if _DEBUG["on"]:
                traceback.print_exc()
            _fail(exc)
        except KeyboardInterrupt:
            err.print("[bold red]interrupted:[/] finished experiments are cached; nothing half-written was kept.")
            raise typer.Exit(130) from None
        except OSError as exc:
            if _DEBUG["on"]:
                traceback.print_exc()
            where = f" {exc.filename}" if exc.filename else ""
            if exc.errno == errno.ENOSPC:
                _fail(ReportgenError(f"no space left on{where or ' the disk'}", "free some space, then run again", 1))
            _fail(ReportgenError(f"cannot access{where}: {exc.strerror or exc}", "check the path and its permissions", 1))
        except Exception as exc:  # a bug of ours: one line, the traceback on request
            if _DEBUG["on"]:
                traceback.print_exc()
            _fail(ReportgenError(f"internal error: {type(exc).__name__}: {exc}", "run again with 'reportgen --debug ...' and report the traceback", 1))

    return wrapper


def _check_writable(out: Path) -> None:
    """Fails before any work when the output folder cannot be written; creates nothing."""
    if out.exists() and not out.is_dir():
        raise ReportgenError(f"output path {out} is a file, not a folder", "choose another with --out", 2)
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ReportgenError(f"output folder {out} is not writable", "choose another with --out or fix its permissions", 2)


def _split(values: str, allowed: tuple[str, ...], what: str) -> list[str]:
    chosen = [v.strip() for v in values.split(",") if v.strip()]
    if not chosen:
        raise ReportgenError(f"no {what} given", f"use {', '.join(allowed)}", 2)
    for value in chosen:
        if value not in allowed:
            raise ReportgenError(f"unknown {what} '{value}'", f"use {', '.join(allowed)}", 2)
    return chosen

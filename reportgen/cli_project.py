"""The project's own commands: serve (the preview and the writing loop), clean, init."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from reportgen.cache import Cache
from reportgen.cli import (
    CacheOpt,
    ConfigOpt,
    OutOpt,
    _guard,
    app,
    out_console,
    say,
)
from reportgen.config import load_config
from reportgen.errors import ReportgenError

@app.command()
@_guard
def serve(
    out: OutOpt = Path("output"),
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 picks a free one).")] = 8000,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Re-render the HTML when writeup/, the config or theme/ change (never trains).")] = False,
    task: Annotated[Optional[str], typer.Option("--task", "-t", help="With --watch: the tasks to render (default: those with stored results).")] = None,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="With --watch: render the PDFs when you stop (Ctrl-C).")] = True,
    config: ConfigOpt = Path("reportgen.toml"),
) -> None:
    """Preview --out on http://127.0.0.1:PORT; open pages reload when the output changes."""
    from reportgen.render.serve import make_server, serve_forever

    if not 0 <= port <= 65535:
        raise ReportgenError(f"port {port} is outside 0-65535", "use e.g. --port 8000, or --port 0 for any free port", 2)
    if watch:
        load_config(config)  # a broken config: the usual one-line error
    elif not (out / "deck.html").exists() and not (out / "report.html").exists():
        raise ReportgenError(f"{out} has no deck.html or report.html", "run 'reportgen build' first")
    try:
        server = make_server(out, port)
    except OSError as exc:
        free = make_server(out, 0)
        suggestion = free.server_address[1]
        free.server_close()
        raise ReportgenError(
            f"port {port} cannot be used ({exc.strerror or exc})",
            f"try --port {suggestion} (free now), or --port 0 to pick one",
        ) from None
    announce = lambda url: out_console.print(f"serving {escape(str(out))} on {url} (Ctrl-C to stop)", highlight=False)
    if not watch:
        return serve_forever(server, announce)
    from reportgen.render.watch import first_render, serve_watching

    try:
        first_render(config, out, task, say)
    except BaseException:
        server.server_close()
        raise
    serve_watching(server, announce, config, out, task, pdf, say)


@app.command()
@_guard
def clean(
    out: OutOpt = Path("output"),
    cache: Annotated[bool, typer.Option("--cache", help="Also delete every stored result (re-running them takes minutes).")] = False,
    cache_dir: CacheOpt = Path(".reportgen/cache"),
) -> None:
    """Delete the deliverables reportgen wrote in --out (and, with --cache, the stored results).

    Only a folder that reportgen rendered into is touched, and in it only what reportgen wrote.
    """
    from reportgen.render.document import MARKER

    if out.exists():
        if not (out / MARKER).is_file():
            raise ReportgenError(
                f"{out} was not written by reportgen (it has no {MARKER} file); nothing was deleted",
                "give the folder you built into with --out",
                2,
            )
        kept = _remove_outputs(out)
        say(f"removed reportgen's files from {out}" + (f"; kept {len(kept)} other file(s): {', '.join(kept[:3])}" if kept else ""))
    else:
        say(f"{out} does not exist; nothing to remove")
    if cache:
        if Cache(cache_dir).clear():
            say(f"removed the stored results in {cache_dir}")
        else:
            say(f"{cache_dir} does not exist; no stored results to remove")


def _remove_outputs(out: Path) -> list[str]:
    """Deletes what reportgen wrote in an output folder (its manifest lists it); returns the names
    of anything else, which stays."""
    from reportgen.render.document import DELIVERABLES, MARKER
    from reportgen.render.publish import MANIFEST, STAGING, read_manifest, remove_listed

    remove_listed(out, read_manifest(out))
    ours = {MARKER, MANIFEST} | {f"{name}.{ext}" for name in DELIVERABLES for ext in ("html", "pdf")}
    ours |= {f".{name}.pdf.source.json" for name in DELIVERABLES}
    kept = []
    for path in sorted(out.iterdir()):
        if path.name.startswith(STAGING) and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.name in ours and (path.is_file() or path.is_symlink()):
            path.unlink()
        elif path.name.startswith(".") and path.name.endswith(".tmp") and path.is_file():
            path.unlink()
        else:
            kept.append(path.name)
    if not kept:
        out.rmdir()
    return kept


@app.command()
@_guard
def init(folder: Annotated[Path, typer.Argument(help="The project folder (created when missing).")] = Path(".")) -> None:
    """Start a project: a commented reportgen.toml, writeup/ examples and an example experiment.

    Existing files are never overwritten.
    """
    from reportgen.scaffold import scaffold

    for path, state in scaffold(folder):
        say(f"  {state:8} {path}", "green" if state == "created" else "dim")
    say(f"next: cd {folder} && reportgen build --profile quick", "bold")

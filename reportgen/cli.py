"""The reportgen command line: build, run, render, serve, list, clean, data."""

from __future__ import annotations

import functools
import shutil
import time
import uuid
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table as RichTable

from reportgen.cache import Cache
from reportgen.config import Config, Device, Profile, load_config
from reportgen.errors import ReportgenError

app = typer.Typer(
    help="Run computer-vision coursework experiments and render them into a slide deck and a "
    "report (HTML and PDF). Results are cached: a rebuild re-runs only what changed.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
out_console = Console()

TaskOpt = Annotated[str, typer.Option("--task", "-t", help="all, a task number (1-5) or name (architecture, training, ...); several with commas.")]
ProfileOpt = Annotated[Optional[Profile], typer.Option(help="quick (tests, CI: seconds), standard (default: real accuracies in minutes) or full (whole datasets, for a GPU).")]
ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="The project's config file.")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Where the deliverables go.")]
CacheOpt = Annotated[Path, typer.Option("--cache", help="Where results are stored.", hidden=True)]
DeviceOpt = Annotated[Optional[Device], typer.Option(help="auto uses CUDA or MPS when present, else the CPU.")]


def _fail(exc: ReportgenError) -> None:
    err.print(f"[bold red]error:[/] {exc.message}", highlight=False)
    if exc.hint:
        err.print(f"  [yellow]→[/] {exc.hint}", highlight=False)
    raise typer.Exit(exc.exit_code)


def _check_writable(out: Path) -> None:
    """Fails before any training when the output folder cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ReportgenError(f"output folder {out} is not writable: {exc.strerror}", "choose another with --out or fix its permissions", 2) from None


def _split(values: str, allowed: tuple[str, ...], what: str) -> list[str]:
    chosen = [v.strip() for v in values.split(",") if v.strip()]
    for value in chosen:
        if value not in allowed:
            raise ReportgenError(f"unknown {what} '{value}'", f"use {', '.join(allowed)}", 2)
    return chosen


def _run(config: Config, task: str, cache: Cache, rerun: bool):
    """Plans and runs the selected experiments; returns (selected experiments, entries, plan)."""
    from reportgen.progress import RichProgress
    from reportgen.registry import load_experiments, parse_tasks, select
    from reportgen.runner import plan, resolve_config_dataset, run_planned

    tasks = parse_tasks(task)
    registry = load_experiments()
    selected = select(registry, tasks)
    if not selected:
        raise ReportgenError(f"task {task} has no experiments yet", "see 'reportgen list'", 2)
    dataset = resolve_config_dataset(config)
    if dataset.notice:
        err.print(f"[yellow]notice:[/] {dataset.notice}", highlight=False)
    planned = plan(selected, config, dataset, cache)

    def report(event: str, item, seconds: float) -> None:
        name = f"[bold]{item.exp.id}[/]"
        if event == "cached":
            err.print(f"  [green]✓[/] {name} [dim]cached[/]")
        elif event == "start":
            why = f" ({'; '.join(item.reasons)})" if item.reasons else ""
            err.print(f"  [cyan]▶[/] {name} running{why}", highlight=False)
        else:
            err.print(f"  [green]✓[/] {name} done in {seconds:.1f} s")

    err.print(f"[bold]Experiments[/] ({config.profile.value} profile, data: {dataset.display})", highlight=False)
    try:
        entries = run_planned(planned, config, dataset, cache, rerun=rerun, progress=RichProgress(err), on_event=report)
    finally:
        cache.discard_scratch()
    chosen = {e.id for e in registry.values() if e.task in tasks}
    return [e for e in selected if e.id in chosen], entries


def _render(config: Config, experiments, entries, out: Path, only: str, fmt: str, stale: set[str] | None = None) -> None:
    from reportgen.render.document import DELIVERABLES, render_all

    only_list = _split(only, tuple(DELIVERABLES), "deliverable")
    formats = _split(fmt, ("html", "pdf"), "format")
    started = time.perf_counter()
    err.print("[bold]Rendering[/]")
    written = render_all(
        config, experiments, entries, out, only=only_list, formats=formats, stale=stale,
        on_step=lambda name: err.print(f"  [cyan]…[/] {name}", highlight=False),
    )  # fmt: skip
    for w in written:
        pages = f" ({w.pages} pages{', unchanged' if w.reused else ''})" if w.pages else ""
        out_console.print(f"  wrote {w.path}{pages}", highlight=False)
    err.print(f"[dim]rendered in {time.perf_counter() - started:.1f} s[/]")


def _guard(fn):
    """Turns ReportgenError and Ctrl-C into one clear line and a non-zero exit."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ReportgenError as exc:
            _fail(exc)
        except KeyboardInterrupt:
            err.print("[bold red]interrupted:[/] finished experiments are cached; nothing half-written was kept.")
            raise typer.Exit(130) from None

    return wrapper


@app.command()
@_guard
def build(
    task: TaskOpt = "all",
    profile: ProfileOpt = None,
    only: Annotated[str, typer.Option(help="Which deliverables: deck, report, or both with a comma.")] = "deck,report",
    format: Annotated[str, typer.Option("--format", "-f", help="html, pdf, or both with a comma.")] = "html,pdf",
    out: OutOpt = Path("output"),
    rerun: Annotated[bool, typer.Option(help="Re-run every selected experiment even when cached.")] = False,
    config: ConfigOpt = Path("reportgen.toml"),
    device: DeviceOpt = None,
    seed: Annotated[Optional[int], typer.Option(help="Override the config's seed.")] = None,
    download: Annotated[bool, typer.Option(help="Allow torchvision to download a missing dataset.")] = False,
    cache_dir: CacheOpt = Path(".reportgen/cache"),
) -> None:
    """Run what is stale for --task, then render the deck and report into --out."""
    cfg = load_config(config, profile=profile, device=device, seed=seed, download=download or None)
    _check_writable(out)
    started = time.perf_counter()
    experiments, entries = _run(cfg, task, Cache(cache_dir), rerun)
    _render(cfg, experiments, entries, out, only, format)
    err.print(f"[bold green]done[/] in {time.perf_counter() - started:.1f} s")


@app.command()
@_guard
def run(
    task: TaskOpt = "all",
    profile: ProfileOpt = None,
    rerun: Annotated[bool, typer.Option(help="Re-run even when cached.")] = False,
    config: ConfigOpt = Path("reportgen.toml"),
    device: DeviceOpt = None,
    seed: Annotated[Optional[int], typer.Option(help="Override the config's seed.")] = None,
    cache_dir: CacheOpt = Path(".reportgen/cache"),
) -> None:
    """Run the experiments of --task (only what is stale) without rendering."""
    cfg = load_config(config, profile=profile, device=device, seed=seed)
    _run(cfg, task, Cache(cache_dir), rerun)


@app.command()
@_guard
def render(
    task: TaskOpt = "all",
    profile: ProfileOpt = None,
    only: Annotated[str, typer.Option(help="deck, report, or both with a comma.")] = "deck,report",
    format: Annotated[str, typer.Option("--format", "-f", help="html, pdf, or both.")] = "html,pdf",
    out: OutOpt = Path("output"),
    config: ConfigOpt = Path("reportgen.toml"),
    cache_dir: CacheOpt = Path(".reportgen/cache"),
) -> None:
    """Render from the cache alone (no training, no torch): seconds, for template or style changes."""
    from reportgen.registry import load_experiments, parse_tasks, select
    from reportgen.runner import plan, resolve_config_dataset

    cfg = load_config(config, profile=profile)
    _check_writable(out)
    tasks = parse_tasks(task)
    selected = [e for e in select(load_experiments(), tasks) if e.task in tasks]
    cache = Cache(cache_dir)
    entries, stale = {}, set()
    for item in plan(selected, cfg, resolve_config_dataset(cfg), cache):
        entry = item.entry or cache.latest(item.exp.id)
        if entry is None:
            err.print(f"  [yellow]![/] {item.exp.id}: no stored result; run 'reportgen build --task {item.exp.task}'")
            continue
        if item.entry is None:
            stale.add(item.exp.id)
            err.print(f"  [yellow]![/] {item.exp.id}: stale ({'; '.join(item.reasons)}); rendering the older result", highlight=False)
        entries[item.exp.id] = entry
    if not entries:
        raise ReportgenError("nothing in the cache to render", "run 'reportgen build' first")
    _render(cfg, selected, entries, out, only, format, stale)


@app.command("list")
@_guard
def list_(
    profile: ProfileOpt = None,
    config: ConfigOpt = Path("reportgen.toml"),
    cache_dir: CacheOpt = Path(".reportgen/cache"),
) -> None:
    """Show tasks and experiments, each as cached, stale (and why) or missing."""
    from reportgen.registry import TASKS, load_experiments
    from reportgen.runner import plan, resolve_config_dataset

    cfg = load_config(config, profile=profile)
    registry = load_experiments()
    dataset = resolve_config_dataset(cfg)
    table = RichTable(title=f"reportgen experiments ({cfg.profile.value} profile, data: {dataset.display})")
    for column in ("task", "experiment", "title", "state"):
        table.add_column(column)
    for item in plan(list(registry.values()), cfg, dataset, Cache(cache_dir)):
        color = {"cached": "green", "stale": "yellow", "missing": "red"}[item.state]
        state = f"[{color}]{item.state}[/]" + (f": {'; '.join(item.reasons)}" if item.reasons else "")
        table.add_row(f"{item.exp.task} {TASKS[item.exp.task][0]}", item.exp.id, item.exp.title, state)
    empty = [f"{n} {slug}" for n, (slug, _) in TASKS.items() if not any(e.task == n for e in registry.values())]
    out_console.print(table)
    if empty:
        out_console.print(f"[dim]tasks with no experiments yet: {', '.join(empty)}[/]")


@app.command()
@_guard
def serve(
    out: OutOpt = Path("output"),
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8000,
) -> None:
    """Preview --out on http://127.0.0.1:PORT; open pages reload when the output changes."""
    from reportgen.render.serve import serve_forever

    if not (out / "deck.html").exists() and not (out / "report.html").exists():
        raise ReportgenError(f"{out} has no deck.html or report.html", "run 'reportgen build' first")
    serve_forever(out, port, lambda url: out_console.print(f"serving {out} on {url} (Ctrl-C to stop)"))


@app.command()
@_guard
def clean(
    out: OutOpt = Path("output"),
    cache: Annotated[bool, typer.Option("--cache", help="Also delete every stored result.")] = False,
    cache_dir: CacheOpt = Path(".reportgen/cache"),
) -> None:
    """Delete the generated deliverables (and, with --cache, the stored results)."""
    shutil.rmtree(out, ignore_errors=True)
    out_console.print(f"removed {out}")
    if cache:
        Cache(cache_dir).clear()
        out_console.print(f"removed {cache_dir}")


@app.command()
@_guard
def data(config: ConfigOpt = Path("reportgen.toml"), download: Annotated[bool, typer.Option(help="Download when missing.")] = False) -> None:
    """Show which dataset a build would use, where it was found, and its fingerprint."""
    from reportgen.runner import resolve_config_dataset

    cfg = load_config(config, download=download or None)
    info = resolve_config_dataset(cfg)
    out_console.print(f"{info.display}\n  location: {info.location}\n  fingerprint: {info.fingerprint}", highlight=False)
    if info.notice:
        err.print(f"[yellow]notice:[/] {info.notice}", highlight=False)


if __name__ == "__main__":  # pragma: no cover
    app()

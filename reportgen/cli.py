"""The reportgen command line: init, build, run, render, serve, list, clean, data."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table as RichTable

from reportgen.cache import Cache
from reportgen.config import Config, Device, ExecutorKind, Profile, load_config
from reportgen.errors import ReportgenError
from reportgen.about import flags_read_as_flags
from reportgen.cli_talk import _DEBUG, _check_writable, _guard, _split, err, out_console, say

app = typer.Typer(
    help="Run computer-vision coursework experiments and render them into a slide deck and a "
    "report (HTML and PDF). Results are cached: a rebuild re-runs only what changed.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
flags_read_as_flags()

TaskOpt = Annotated[str, typer.Option("--task", "-t", help="all, a task number (1-5) or name (architecture, training, visualisation, transfer, project); several with commas.")]
ProfileOpt = Annotated[Optional[Profile], typer.Option(help="quick (tests, CI: seconds), standard (default: real accuracies in minutes) or full (whole datasets, for a GPU).")]
ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="The project's config file; paths in it are relative to its folder.")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Where the deliverables go.")]
CacheOpt = Annotated[Path, typer.Option("--cache-dir", help="Where results are stored.", hidden=True)]
ExpOpt = Annotated[Optional[str], typer.Option("--experiment", "-e", help="Only these experiments (ids from 'reportgen list', several with commas) and what they need; overrides --task.")]
DeviceOpt = Annotated[Optional[Device], typer.Option(help="auto uses CUDA or MPS when present, else the CPU.")]
ExecutorOpt = Annotated[Optional[ExecutorKind], typer.Option("--executor", help="Where stale experiments run: inline (default: one after another here), local (worker processes here) or slurm (jobs through submitit; [executor] in reportgen.toml sets partition, time, GPUs, CPUs, memory).")]
JobsOpt = Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, help="Experiments at once: worker processes (without --executor, N > 1 turns inline into local; threads per worker = cores / jobs), or with slurm the array jobs running at once.")]


def _show_version(value: bool) -> None:
    if value:
        from reportgen.about import version_line

        out_console.print(version_line(), highlight=False, markup=False)
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show Python tracebacks of errors.")] = False,
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_show_version,
                                          help="Print reportgen's version, torch's and the device, then exit.")] = False,
) -> None:
    """reportgen: coursework experiments -> slide deck and report."""
    _DEBUG["on"] = debug


def _selection(config: Config, task: str, ids: str | None = None):
    """(tasks, registry, the experiments to plan: those of the tasks, or the ids, plus what they need)."""
    from reportgen.registry import load_experiments, parse_ids, parse_tasks, select

    tasks = parse_tasks(task)
    registry = load_experiments(config)
    _check_show(config, registry)
    chosen = parse_ids(ids, registry) if ids is not None else None
    selected = select(registry, tasks, chosen)
    if chosen is not None:
        tasks = sorted({registry[i].task for i in chosen})
    if not selected:
        raise ReportgenError(f"task {task} has no experiments", "see 'reportgen list'", 2)
    return tasks, registry, selected


def _check_show(config: Config, registry) -> None:
    """Every entry of [deck] show and [report] show names a task (number or name) or an experiment
    id; every [tasks.X] table names a task."""
    import difflib

    from reportgen.registry import TASKS

    tasks = {str(n) for n in TASKS} | {slug for slug, _ in TASKS.values()}
    names = tasks | set(registry)
    for where, entries in (("[deck] show", config.deck.show), ("[report] show", config.report.show),
                           ("[tasks]", list(config.tasks))):  # fmt: skip
        allowed = tasks if where == "[tasks]" else names
        for entry in entries:
            if str(entry).strip().lower() not in allowed:
                close = difflib.get_close_matches(str(entry), sorted(allowed), n=3)
                problem = (f"[tasks.{entry}] names no task" if where == "[tasks]"
                           else f"{where}: '{entry}' is neither a task nor an experiment")  # fmt: skip
                raise ReportgenError(
                    f"{config.source.name}: {problem}",
                    f"did you mean {', '.join(close)}?" if close else "use task numbers, task names or ids from 'reportgen list'",
                    2,
                )


def _load_writeup(config: Config, registry, results, quiet: bool = False):
    """The student's Markdown, with live numbers from `results` (reportgen.stored.StoredResults);
    None without a writeup folder. `quiet`: a check before training (missing results are expected)."""
    folder = config.resolve(config.writeup)
    if not folder.is_dir():
        return None
    from reportgen.writeup import load_writeup

    writeup = load_writeup(folder, results, registry=registry, project=config.root)
    for warning in [] if quiet else writeup.warnings:
        say(f"  ! {warning}", "yellow")
    return writeup


def _live_results(config: Config, registry, entries, stale: set[str] | None, cache_dir: Path, dataset=None):
    """Every experiment's stored result for the write-up: this run's `entries`, the cache for the rest."""
    from reportgen.runner import resolve_config_dataset
    from reportgen.stored import StoredResults

    return StoredResults(entries, stale or set(), registry, config, dataset or resolve_config_dataset(config), Cache(cache_dir))


def _render(config: Config, registry, experiments, entries, out: Path, only: str, fmt: str, stale: set[str] | None = None,
            cache_dir: Path = Path(".reportgen/cache"), strict: bool = False, dataset=None) -> None:
    from reportgen.render.budget import budget_warnings
    from reportgen.render.document import DELIVERABLES, FORMATS, layouts, render_all
    from reportgen.verify import load_state

    only_list = _split(only, tuple(DELIVERABLES), "deliverable")
    formats = _split(fmt, FORMATS, "format")
    writeup = _load_writeup(config, registry, _live_results(config, registry, entries, stale, cache_dir, dataset))
    started = time.perf_counter()
    err.print("[bold]Rendering[/]")
    written = render_all(
        config, experiments, entries, out, only=only_list, formats=formats, stale=stale, writeup=writeup,
        verification=load_state(cache_dir.parent), on_step=lambda name: say(f"  … {name}", "cyan"),
    )  # fmt: skip
    for w in written:
        unit = "slides" if w.path.stem == "deck" else "pages"
        pages = f" ({w.pages} {unit}{', unchanged' if w.reused else ''})" if w.pages else ""
        out_console.print(f"  wrote {escape(str(w.path))}{pages}", highlight=False)
    err.print(f"[dim]rendered in {time.perf_counter() - started:.1f} s[/]")
    _update_names(config, entries, stale or set())
    warnings = budget_warnings(config, layouts(out, written))
    for warning in warnings:
        say(f"  ! {warning}", "yellow")
    if warnings and strict:
        raise ReportgenError("over the course's limits (--strict)", "shorten the deliverables, or build without --strict", 1)


def _update_names(config: Config, entries, stale: set[str]) -> None:
    """Rewrites the list of quotable names in writeup/README.md (between its markers, if it has them)."""
    from reportgen.quotes import names_markdown, with_names
    from reportgen.render.html import write_atomic

    readme = config.resolve(config.writeup) / "README.md"
    try:
        text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    except (OSError, UnicodeDecodeError):
        return  # the student's own notes: never a reason to fail a render
    listing = names_markdown((exp_id, entry.section, exp_id in stale) for exp_id, entry in entries.items())
    new = with_names(text, listing) if text else None
    if new is not None:
        write_atomic(readme, new)


def _few(ids: list[str], most: int = 6) -> str:
    return ", ".join(ids[:most]) + (f" and {len(ids) - most} more" if len(ids) > most else "")


def _shown(experiments, tasks: list[int]):
    return [e for e in experiments if e.task in tasks]


@app.command()
@_guard
def build(
    task: TaskOpt = "all",
    experiment: ExpOpt = None,
    profile: ProfileOpt = None,
    only: Annotated[str, typer.Option(help="Which deliverables: deck, report, or both with a comma.")] = "deck,report",
    format: Annotated[str, typer.Option("--format", "-f", help="html, pdf, pptx, latex, md, several with commas.")] = "html,pdf",
    out: OutOpt = Path("output"),
    rerun: Annotated[bool, typer.Option(help="Re-run every selected experiment even when cached.")] = False,
    config: ConfigOpt = Path("reportgen.toml"),
    device: DeviceOpt = None,
    seed: Annotated[Optional[int], typer.Option(help="Override the config's seed.")] = None,
    download: Annotated[bool, typer.Option(help="Allow torchvision to download a missing dataset.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Fail (exit 1) when the deck or report is over [deck] max_slides or [report] max_pages.")] = False,
    cache_dir: CacheOpt = Path(".reportgen/cache"),
    executor: ExecutorOpt = None,
    jobs: JobsOpt = None,
) -> None:
    """Run what is stale for --task (or -e), then render the deck and report into --out.

    With -e the deliverables hold the chosen experiments' tasks, other experiments of those tasks
    as stored (left out when never run).
    """
    from reportgen.render.document import DELIVERABLES, FORMATS
    from reportgen.runner import resolve_config_dataset

    cfg = load_config(config, profile=profile, device=device, seed=seed, download=download or None)
    _use_executor(cfg, executor, jobs)
    _split(only, tuple(DELIVERABLES), "deliverable")
    _split(format, FORMATS, "format")
    _check_writable(out)
    started = time.perf_counter()
    tasks, registry, selected = _selection(cfg, task, experiment)
    cache = Cache(cache_dir)
    dataset = resolve_config_dataset(cfg)
    # Every live number of the write-up is checked against what exists now, before any training.
    _load_writeup(cfg, registry, _live_results(cfg, registry, {}, None, cache_dir, dataset), quiet=True)
    entries = _run(cfg, registry, selected, cache, rerun, dataset)
    shown, stale = _shown(selected, tasks), set()
    if experiment is not None:  # the rest of those tasks as stored, so the deck stays whole
        from reportgen.registry import select

        shown = _shown(select(registry, tasks), tasks)
        stored, stale, missing = _stored(cfg, registry, shown, cache, dataset)
        entries = {**stored, **entries}
        if missing:
            say(f"  ! never run, so left out: {', '.join(missing)}", "yellow")
    _render(cfg, registry, shown, entries, out, only, format, stale, cache_dir=cache_dir, strict=strict, dataset=dataset)
    err.print(f"[bold green]done[/] in {time.perf_counter() - started:.1f} s")


def _use_executor(cfg: Config, kind: ExecutorKind | None, jobs: int | None) -> None:
    """--executor and --jobs over the config's [executor] table; --jobs N alone means local workers."""
    if kind is not None:
        cfg.executor.kind = kind
    if jobs is not None:
        cfg.executor.jobs = jobs
        if kind is None and jobs > 1 and cfg.executor.kind == ExecutorKind.inline:
            cfg.executor.kind = ExecutorKind.local


def _run(cfg: Config, registry, selected, cache: Cache, rerun: bool, dataset=None):
    """Plans (checking every parameter first), takes the cache lock, runs what is stale."""
    from reportgen.progress import JobBoard, RichProgress
    from reportgen.runner import plan, resolve_config_dataset, run_planned

    dataset = dataset or resolve_config_dataset(cfg)
    if dataset.notice:
        say(f"notice: {dataset.notice}", "yellow")
    planned = plan(selected, cfg, dataset, cache, registry)

    def report(event: str, item, seconds: float) -> None:
        name = f"[bold]{escape(item.exp.id)}[/]"
        if event == "cached":
            err.print(f"  [green]✓[/] {name} [dim]cached[/]")
        elif event == "start":
            why = f" ({'; '.join(item.reasons)})" if item.reasons else ""
            err.print(f"  [cyan]▶[/] {name} running{escape(why)}", highlight=False)
        else:
            err.print(f"  [green]✓[/] {name} done in {seconds:.1f} s")

    say(f"Experiments ({cfg.profile.value} profile, data: {dataset.display})", "bold")
    needs_work = rerun or any(item.entry is None for item in planned)
    if needs_work:
        cache.lock()
    try:
        return run_planned(planned, cfg, dataset, cache, rerun=rerun, progress=RichProgress(err), on_event=report,
                           board=JobBoard(err), on_note=lambda note: say(f"note: {note}", "yellow"))  # fmt: skip
    finally:
        cache.discard_scratch()
        cache.unlock()


@app.command()
@_guard
def run(
    task: TaskOpt = "all",
    experiment: ExpOpt = None,
    profile: ProfileOpt = None,
    rerun: Annotated[bool, typer.Option(help="Re-run even when cached.")] = False,
    config: ConfigOpt = Path("reportgen.toml"),
    device: DeviceOpt = None,
    seed: Annotated[Optional[int], typer.Option(help="Override the config's seed.")] = None,
    download: Annotated[bool, typer.Option(help="Allow torchvision to download a missing dataset.")] = False,
    cache_dir: CacheOpt = Path(".reportgen/cache"),
    executor: ExecutorOpt = None,
    jobs: JobsOpt = None,
) -> None:
    """Run the experiments of --task or -e (only what is stale) without rendering."""
    cfg = load_config(config, profile=profile, device=device, seed=seed, download=download or None)
    _use_executor(cfg, executor, jobs)
    _, registry, selected = _selection(cfg, task, experiment)
    _run(cfg, registry, selected, Cache(cache_dir), rerun)


@app.command()
@_guard
def render(
    task: Annotated[Optional[str], typer.Option("--task", "-t", help="Tasks as for build; default: every task whose results are all stored (the others are named and left out).")] = None,
    profile: ProfileOpt = None,
    only: Annotated[str, typer.Option(help="deck, report, or both with a comma.")] = "deck,report",
    format: Annotated[str, typer.Option("--format", "-f", help="html, pdf, pptx, latex, md, several with commas.")] = "html,pdf",
    out: OutOpt = Path("output"),
    partial: Annotated[bool, typer.Option(help="Render even when some results are missing (they are left out).")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Fail (exit 1) when the deck or report is over [deck] max_slides or [report] max_pages.")] = False,
    config: ConfigOpt = Path("reportgen.toml"),
    cache_dir: CacheOpt = Path(".reportgen/cache"),
) -> None:
    """Render from the cache alone (no training, no torch): seconds, for text, template or style changes."""
    from reportgen.render.document import DELIVERABLES, FORMATS
    from reportgen.runner import resolve_config_dataset

    cfg = load_config(config, profile=profile)
    _split(only, tuple(DELIVERABLES), "deliverable")
    _split(format, FORMATS, "format")
    _check_writable(out)
    cache = Cache(cache_dir)
    if task is None:  # the tasks built so far, not every task
        task = _stored_tasks(cfg, cache)
    tasks, registry, selected = _selection(cfg, task)
    dataset = resolve_config_dataset(cfg)
    entries, stale, missing = _stored(cfg, registry, selected, cache, dataset)
    if not entries:
        raise ReportgenError("nothing in the cache to render", f"run 'reportgen build --task {task}' first")
    if missing and not partial:
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        raise ReportgenError(
            f"no stored result for {shown}; the deliverables in {out} were left as they were",
            f"run 'reportgen build --task {task}', or render what there is with --partial",
        )
    for exp_id in missing:
        say(f"  ! {exp_id}: no stored result; left out (--partial)", "yellow")
    _render(cfg, registry, _shown(selected, tasks), entries, out, only, format, stale, cache_dir=cache_dir, strict=strict,
            dataset=dataset)


def _stored(cfg: Config, registry, selected, cache: Cache, dataset=None):
    """(entries, stale ids, missing ids): the current result of each experiment, else its latest
    (stale) one; experiments never run are missing."""
    from reportgen.runner import plan, resolve_config_dataset

    entries, stale, missing = {}, set(), []
    for item in plan(selected, cfg, dataset or resolve_config_dataset(cfg), cache, registry):
        entry = item.entry or cache.latest(item.exp.id)
        if entry is None:
            missing.append(item.exp.id)
            continue
        if item.entry is None:
            stale.add(item.exp.id)
            say(f"  ! {item.exp.id}: stale ({'; '.join(item.reasons)}); rendering the older result, marked stale", "yellow")
        entries[item.exp.id] = entry
    return entries, stale, missing


def _stored_tasks(cfg: Config, cache: Cache) -> str:
    """The tasks whose every experiment has a stored result, as a --task value; says which are left out."""
    from reportgen.registry import TASKS, load_experiments, select

    registry = load_experiments(cfg)
    ready, left_out = [], []
    for number, (slug, _) in TASKS.items():
        needed = select(registry, [number])  # the task's experiments and what they read
        missing = [e for e in needed if cache.latest(e.id) is None]
        own, own_missing = [e for e in needed if e.task == number], [e for e in missing if e.task == number]
        if needed and not missing:
            ready.append(str(number))
        elif needed:
            gap = "no stored results" if len(own_missing) == len(own) else f"{len(missing)} results missing"
            left_out.append(f"{number} {slug} ({gap})")
    if not ready:
        raise ReportgenError("nothing in the cache to render", "run 'reportgen build --task 1' (or another task) first")
    if left_out:
        say(f"rendering task {', '.join(ready)}; left out: {', '.join(left_out)} (build them with 'reportgen build --task N')", "yellow")
    return ",".join(ready)


@app.command("list")
@_guard
def list_(
    profile: ProfileOpt = None,
    config: ConfigOpt = Path("reportgen.toml"),
    cache_dir: CacheOpt = Path(".reportgen/cache"),
) -> None:
    """Show tasks and experiments, each as cached, stale (and why) or missing; checks every parameter."""
    from reportgen.registry import TASKS, load_experiments
    from reportgen.runner import plan, resolve_config_dataset

    cfg = load_config(config, profile=profile)
    registry = load_experiments(cfg)
    _check_show(cfg, registry)
    dataset = resolve_config_dataset(cfg)
    table = RichTable(title=escape(f"reportgen experiments ({cfg.profile.value} profile, data: {dataset.display})"))
    for column in ("task", "experiment", "title", "state"):
        table.add_column(column)
    for item in plan(list(registry.values()), cfg, dataset, Cache(cache_dir), registry):
        color = {"cached": "green", "stale": "yellow", "missing": "red"}[item.state]
        state = f"[{color}]{item.state}[/]" + escape(f": {'; '.join(item.reasons)}" if item.reasons else "")
        table.add_row(f"{item.exp.task} {TASKS[item.exp.task][0]}", escape(item.exp.id), escape(item.exp.title), state)
    empty = [f"{n} {slug}" for n, (slug, _) in TASKS.items() if not any(e.task == n for e in registry.values())]
    out_console.print(table)
    if empty:
        out_console.print(f"[dim]tasks with no experiments yet: {', '.join(empty)}[/]")


# The other commands register themselves on `app` when their modules load.
from reportgen import cli_inspect, cli_project  # noqa: E402, F401

if __name__ == "__main__":  # pragma: no cover
    # `python -m reportgen.cli`: this file runs as __main__, and the commands of the other modules
    # register on the app of reportgen.cli as imported, so that is the one to run.
    from reportgen.cli import app as registered

    registered()

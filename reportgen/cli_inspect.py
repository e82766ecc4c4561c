"""Commands that look at a project without building it: data, show, names, verify."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table as RichTable

from reportgen.cache import Cache
from reportgen.cli import (
    CacheOpt,
    ConfigOpt,
    ProfileOpt,
    _few,
    _guard,
    _live_results,
    _selection,
    app,
    err,
    out_console,
    say,
)
from reportgen.config import load_config
from reportgen.errors import ReportgenError

@app.command()
@_guard
def data(
    config: ConfigOpt = Path("reportgen.toml"),
    download: Annotated[bool, typer.Option(help="Download when missing.")] = False,
) -> None:
    """Show which dataset a build would use, where it was found, its fingerprint, classes, images
    per split (and per class), image size and channels."""
    from reportgen.describe import summarise_data
    from reportgen.runner import resolve_config_dataset

    cfg = load_config(config, download=download or None)
    info = resolve_config_dataset(cfg)
    out_console.print(f"{info.display}\n  location: {info.location}\n  fingerprint: {info.fingerprint}", highlight=False, markup=False)
    if info.notice:
        say(f"notice: {info.notice}", "yellow")
    summary = summarise_data(cfg, info)
    for line in summary.lines():
        out_console.print(f"  {line}", highlight=False, markup=False)
    table = RichTable(title="images per class")
    for column in ("class", *summary.per_split):
        table.add_column(column, justify="left" if column == "class" else "right")
    for i, name in enumerate(summary.classes):
        table.add_row(escape(name), *(f"{counts[i]:,}" for counts in summary.per_split.values()))
    out_console.print(table)


@app.command()
@_guard
def show(
    experiment: Annotated[Optional[list[str]], typer.Argument(help="Experiment ids (default: every experiment).")] = None,
    profile: ProfileOpt = None,
    config: ConfigOpt = Path("reportgen.toml"),
) -> None:
    """Every parameter of the experiments, resolved for this project: value, type, and where it came
    from (default, profile, data, linked to another experiment, or the config)."""
    import difflib

    from reportgen.describe import param_rows, show_value
    from reportgen.registry import load_experiments
    from reportgen.runner import resolve_config_dataset

    cfg = load_config(config, profile=profile)
    registry = load_experiments(cfg)
    ids = list(experiment or sorted(registry, key=lambda i: (registry[i].task, registry[i].order)))
    for exp_id in ids:
        if exp_id not in registry:
            close = difflib.get_close_matches(exp_id, list(registry), n=3)
            raise ReportgenError(f"unknown experiment '{exp_id}'", f"did you mean {', '.join(close)}?" if close else "see 'reportgen list' for the ids", 2)
    dataset = resolve_config_dataset(cfg)
    say(f"Parameters ({cfg.profile.value} profile, data: {dataset.display}), as reportgen.toml takes them", "bold")
    rows = param_rows(cfg, dataset, registry, ids)
    width = min(max((len(f"{r.name} = {show_value(r.value)}") for r in rows), default=0), 40)
    for exp_id in ids:
        out_console.print(f"\n[experiments.{exp_id}]  # task {registry[exp_id].task}: {registry[exp_id].title}",
                          highlight=False, markup=False, soft_wrap=True)  # fmt: skip
        for row in (r for r in rows if r.experiment == exp_id):
            assignment = f"{row.name} = {show_value(row.value)}"
            out_console.print(f"{assignment:<{width}}  # {row.type}; {row.origin}", highlight=False, markup=False, soft_wrap=True)


@app.command()
@_guard
def names(
    experiment: Annotated[Optional[list[str]], typer.Argument(help="Experiment ids (default: every experiment with a stored result).")] = None,
    profile: ProfileOpt = None,
    config: ConfigOpt = Path("reportgen.toml"),
    cache_dir: CacheOpt = Path(".reportgen/cache"),
) -> None:
    """Every number your write-up can quote, as {{ id.name }} with the value it shows: key numbers,
    table cells ({{ id.ROW.COLUMN }}) and curve ends ({{ id.SERIES.final }})."""
    import difflib

    from reportgen.quotes import names_markdown
    from reportgen.registry import load_experiments

    cfg = load_config(config, profile=profile)
    registry = load_experiments(cfg)
    results = _live_results(cfg, registry, {}, None, cache_dir)
    ids = list(experiment or sorted(registry, key=lambda i: (registry[i].task, registry[i].order)))
    for exp_id in ids:
        if exp_id not in registry:
            close = difflib.get_close_matches(exp_id, list(registry), n=3)
            raise ReportgenError(f"unknown experiment '{exp_id}'", f"did you mean {', '.join(close)}?" if close else "see 'reportgen list' for the ids", 2)
    listing = names_markdown((exp_id, *results[exp_id]) for exp_id in ids)
    out_console.print(listing, highlight=False, markup=False, soft_wrap=True)


@app.command()
@_guard
def verify(
    experiment: Annotated[Optional[list[str]], typer.Option("--experiment", "-e", help="An experiment id to verify; repeat for several.")] = None,
    task: Annotated[Optional[str], typer.Option("--task", "-t", help="Verify the experiments of these tasks.")] = None,
    sample: Annotated[Optional[int], typer.Option(help="Verify N experiments drawn at random from the selection.")] = None,
    tolerance: Annotated[float, typer.Option(help="Relative tolerance (0.02 = 2 %) used only when the machine, threads or versions differ from the recorded ones.")] = 0.02,
    profile: ProfileOpt = None,
    config: ConfigOpt = Path("reportgen.toml"),
    cache_dir: CacheOpt = Path(".reportgen/cache"),
) -> None:
    """Re-run stored experiments from their recorded inputs and compare every number (the cache and output are not touched).

    Exits 0 when every compared value is identical (or within --tolerance on a different machine), 1 otherwise.
    """
    import random

    from reportgen.registry import parse_tasks
    from reportgen.runner import plan, resolve_config_dataset
    from reportgen import verify as verifying

    import math

    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ReportgenError(f"--tolerance {tolerance} is not a relative tolerance", "give a number of at least 0, e.g. 0.02 for 2 %", 2)
    cfg = load_config(config, profile=profile)
    tasks, registry, _ = _selection(cfg, task or "all")
    cache = Cache(cache_dir)
    dataset = resolve_config_dataset(cfg)
    ids = list(experiment or [])
    for exp_id in ids:
        if exp_id not in registry:
            raise ReportgenError(f"unknown experiment '{exp_id}'", "see 'reportgen list' for the ids", 2)
    pool = ids or [e.id for e in registry.values() if e.task in (parse_tasks(task) if task else tasks)]
    planned = {p.exp.id: p for p in plan(list(registry.values()), cfg, dataset, cache, registry)}
    stored = [exp_id for exp_id in pool if planned[exp_id].entry is not None]
    skipped = [exp_id for exp_id in pool if exp_id not in stored]
    if not stored:  # nothing computed yet is nothing wrong: say so, verify nothing, exit 0
        say(f"nothing to verify yet: no current stored result for {_few(skipped)}; run 'reportgen build' first", "yellow")
        return
    if sample is not None:
        if sample < 1:
            raise ReportgenError("--sample must be at least 1", exit_code=2)
        stored = sorted(random.sample(stored, min(sample, len(stored))), key=lambda i: planned[i].exp.order)
    for exp_id in skipped:
        say(f"  ! {exp_id}: {planned[exp_id].state}; skipped (only current stored results can be verified)", "yellow")
    entries = {i: p.entry for i, p in planned.items() if p.entry is not None}
    estimate = sum(planned[i].entry.provenance.get("wall_s", 0) for i in stored)
    say(f"Verifying {len(stored)} experiment{'s' if len(stored) != 1 else ''} (about {estimate:.0f} s as first computed): {', '.join(stored)}", "bold")
    from reportgen.nn.runtime import prepare

    prepare(cfg.threads)
    work = verifying.scratch_area(cache.root)
    outcomes, notes = [], []
    try:
        for exp_id in stored:
            item = planned[exp_id]
            started = time.perf_counter()
            fresh = verifying.rerun(item, cfg, dataset, entries, work)
            differs = verifying.same_machine(item.entry.provenance, fresh.provenance)
            notes += [n for n in differs if n not in notes]
            allowed = tolerance if differs else 0.0
            compared, differences, within = verifying.compare_entries(item.entry, fresh, allowed)
            outcome = verifying.Outcome(exp_id, compared, differences, within, time.perf_counter() - started)
            outcomes.append(outcome)
            color = {"identical": "green", "within tolerance": "yellow", "different": "red"}[outcome.verdict]
            err.print(f"  [{color}]{outcome.verdict}[/] {escape(exp_id)}: {compared} values compared in {outcome.seconds:.1f} s", highlight=False)
            for line in (differences + within)[:10]:
                say(f"      {line}", "dim")
    finally:
        verifying.discard(work)
    if notes:
        say(f"this machine differs from the one that computed the results ({'; '.join(notes)}): numbers compared within ±{tolerance:.0%}", "yellow")
    state = verifying.record(cache.root.parent, outcomes, notes, tolerance)
    if state["outcome"] != "passed":
        bad = [o.exp_id for o in outcomes if o.verdict == "different"]
        raise ReportgenError(f"verification failed: {', '.join(bad)} gave different numbers", "see the differences above")
    say(f"verified: {len(outcomes)} experiment{'s' if len(outcomes) != 1 else ''}, {sum(o.compared for o in outcomes)} values", "bold green")

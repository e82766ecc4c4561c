"""Which experiments a command runs: tasks and ids parsed, plus whatever they need, in
dependency order (every command plans through `with_needs`)."""

from __future__ import annotations

import difflib

from reportgen.errors import ReportgenError
from reportgen.registry import TASKS, Experiment


def parse_tasks(spec: str) -> list[int]:
    """'all', '1', 'architecture', '1,2' -> task numbers; an unknown one is a ReportgenError."""
    by_name = {slug: number for number, (slug, _) in TASKS.items()}
    chosen: list[int] = []
    for part in (p.strip().lower() for p in spec.split(",")):
        if part == "all":
            return sorted(TASKS)
        number = by_name.get(part) or (int(part) if part.isdigit() else None)
        if number not in TASKS:
            valid = ", ".join(f"{n}|{slug}" for n, (slug, _) in TASKS.items())
            raise ReportgenError(f"unknown task '{part}'", f"use all or one of {valid}", 2)
        chosen.append(number)
    return sorted(set(chosen))


def parse_ids(spec: str, registry: dict[str, Experiment]) -> list[str]:
    """'t2-optimizers,theory' -> ids in the registry; an unknown one names the closest ids."""
    ids = [part.strip() for part in spec.split(",") if part.strip()]
    if not ids:
        raise ReportgenError("no experiment given", "see 'reportgen list' for the ids", 2)
    for exp_id in ids:
        if exp_id not in registry:
            close = difflib.get_close_matches(exp_id, list(registry), n=3)
            raise ReportgenError(f"unknown experiment '{exp_id}'",
                                 f"did you mean {', '.join(close)}?" if close else "see 'reportgen list' for the ids", 2)
    return list(dict.fromkeys(ids))


def select(registry: dict[str, Experiment], tasks: list[int], ids: list[str] | None = None) -> list[Experiment]:
    """The experiments of `tasks` (or just `ids`) plus whatever they need, in dependency order."""
    chosen = [registry[i] for i in ids] if ids is not None else [e for e in registry.values() if e.task in tasks]
    return with_needs(chosen, registry)


def with_needs(experiments: list[Experiment], registry: dict[str, Experiment]) -> list[Experiment]:
    """`experiments` plus whatever they need (transitively), in dependency order: registration
    order, except that an experiment comes after everything it needs. Every command plans
    through this, so none can meet an experiment before the ones it reads."""
    chosen = {e.id for e in experiments}
    registry = {**registry, **{e.id: e for e in experiments}}
    stack = list(chosen)
    while stack:
        exp_id = stack.pop()
        for dep in registry[exp_id].needs:
            if dep not in registry:
                raise ReportgenError(f"experiment '{exp_id}' needs unknown experiment '{dep}'", exit_code=2)
            if dep not in chosen:
                chosen.add(dep)
                stack.append(dep)
    return _dependency_order([registry[i] for i in sorted(chosen, key=lambda i: registry[i].order)])


def _dependency_order(experiments: list[Experiment]) -> list[Experiment]:
    """Registration order, except that an experiment comes after everything it needs."""
    by_id = {e.id: e for e in experiments}
    ordered: list[Experiment] = []
    state: dict[str, str] = {}

    def visit(exp: Experiment) -> None:
        if state.get(exp.id) == "done":
            return
        if state.get(exp.id) == "visiting":
            raise ReportgenError(f"experiment '{exp.id}' needs itself through its dependencies", exit_code=2)
        state[exp.id] = "visiting"
        for dep in exp.needs:
            if dep in by_id:
                visit(by_id[dep])
        state[exp.id] = "done"
        ordered.append(exp)

    for exp in experiments:
        visit(exp)
    return ordered

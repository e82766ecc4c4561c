"""@experiment(...) registers experiment functions; tasks and experiments are looked up by id."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reportgen.errors import ReportgenError

# The five tasks of the course: number -> (slug, title). The engine knows their names only.
TASKS: dict[int, tuple[str, str]] = {
    1: ("architecture", "Architectures and theory"),
    2: ("training", "Training ablations"),
    3: ("visualisation", "Visualising what CNNs learn"),
    4: ("transfer", "Transfer learning"),
    5: ("project", "Open project: style transfer and deep dream"),
}


@dataclass(frozen=True)
class PerProfile:
    """A parameter whose default depends on the profile."""

    quick: Any
    standard: Any
    full: Any

    def pick(self, profile: str) -> Any:
        return getattr(self, profile)


def per_profile(quick: Any, standard: Any, full: Any) -> PerProfile:
    """A default that differs between the quick, standard and full profiles."""
    return PerProfile(quick, standard, full)


@dataclass
class Experiment:
    """One registered experiment: `fn(ctx) -> Section` plus what its cache key depends on."""

    id: str
    task: int
    title: str
    fn: Callable[..., Any]
    params: dict[str, Any]
    needs: tuple[str, ...]
    module: str
    order: int
    source_file: Path = field(default=Path())

    def resolve(self, profile: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """The parameters for a profile, with config overrides type-checked against defaults."""
        resolved = {
            name: value.pick(profile) if isinstance(value, PerProfile) else value
            for name, value in self.params.items()
        }
        for name, value in (overrides or {}).items():
            if name not in resolved:
                known = ", ".join(sorted(resolved)) or "none"
                raise ReportgenError(
                    f"reportgen.toml: experiments.{self.id}: unknown parameter '{name}'",
                    f"known: {known}",
                    2,
                )
            resolved[name] = _coerce(self.id, name, resolved[name], value)
        return resolved


def _coerce(exp_id: str, name: str, default: Any, value: Any) -> Any:
    if isinstance(default, bool) or default is None:
        ok = default is None or isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, type(default)) and not isinstance(value, bool)
    if not ok:
        raise ReportgenError(
            f"reportgen.toml: experiments.{exp_id}.{name}: expected "
            f"{type(default).__name__}, got {value!r}",
            exit_code=2,
        )
    return value


_REGISTRY: dict[str, Experiment] = {}


def experiment(
    *,
    task: int,
    id: str,
    title: str,
    params: dict[str, Any] | None = None,
    needs: tuple[str, ...] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers `fn(ctx) -> Section` as experiment `id` of `task`.

    Args:
        task: the course task number (1-5).
        id: unique, stable id; it names the cache entry and the config override table.
        title: heading on slides and in the report.
        params: defaults, each a value or `per_profile(...)`.
        needs: ids of experiments whose results this one reads through `ctx.needed(id)`.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task}")

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        if id in _REGISTRY and _REGISTRY[id].fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"experiment id {id!r} registered twice")
        module = importlib.import_module(fn.__module__)
        _REGISTRY[id] = Experiment(
            id=id,
            task=task,
            title=title,
            fn=fn,
            params=dict(params or {}),
            needs=tuple(needs),
            module=fn.__module__,
            order=len(_REGISTRY) if id not in _REGISTRY else _REGISTRY[id].order,
            source_file=Path(module.__file__ or ""),
        )
        return fn

    return register


def load_experiments() -> dict[str, Experiment]:
    """Imports every module of the `experiments` package and returns the registry by id."""
    import experiments

    for info in sorted(pkgutil.iter_modules(experiments.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"experiments.{info.name}")
    return dict(_REGISTRY)


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


def select(registry: dict[str, Experiment], tasks: list[int]) -> list[Experiment]:
    """The experiments of `tasks` plus whatever they need, in registration order."""
    chosen = {e.id for e in registry.values() if e.task in tasks}
    stack = list(chosen)
    while stack:
        for dep in registry[stack.pop()].needs:
            if dep not in registry:
                raise ReportgenError(f"experiment needs unknown experiment '{dep}'")
            if dep not in chosen:
                chosen.add(dep)
                stack.append(dep)
    return sorted((registry[i] for i in chosen), key=lambda e: e.order)

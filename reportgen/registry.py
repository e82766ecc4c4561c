"""@experiment(...) registers experiment functions; tasks and experiments are looked up by id.

The built-in experiments live in the `reportgen.experiments` package (the experiments/ folder of
this repository); a project may add its own in a folder of Python files (`experiments_dir` in
reportgen.toml), loaded by path under a private module name so they cannot clash with ours. A task module may also define
`from_config(config, registry)` to add or drop experiments that the config describes
(Task 1's architecture variants).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reportgen import params as param_rules
from reportgen.errors import ReportgenError

# The five tasks of the course: number -> (slug, title). The engine knows their names only.
TASKS: dict[int, tuple[str, str]] = {
    1: ("architecture", "Architectures and theory"),
    2: ("training", "Training ablations"),
    3: ("visualisation", "Visualising what CNNs learn"),
    4: ("transfer", "Transfer learning"),
    5: ("project", "Open project: style transfer and deep dream"),
}
PROJECT_MODULES = "reportgen_project"  # module-name prefix of a project's own experiment files


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


@dataclass(frozen=True)
class Linked:
    """A parameter whose default is another experiment's resolved parameter (one source of truth)."""

    experiment: str
    param: str


def linked(experiment: str, param: str) -> Linked:
    """Default = `param` of `experiment` as resolved for this build (its config overrides included)."""
    return Linked(experiment, param)


@dataclass(frozen=True)
class FromData:
    """A parameter whose default is a fact of the data the build uses (channels, image_size, classes)."""

    fact: str
    at_least: int | None = None


def from_data(fact: str, at_least: int | None = None) -> FromData:
    """Default = `fact` ("channels", "image_size" or "classes") of the build's dataset, as planned.

    `at_least` raises a dataset's own image size to what an experiment's networks need (digits'
    16 pixels to 28 for Task 1's deeper variants); a top-level image_size the student set is kept.
    """
    return FromData(fact, at_least)


@dataclass
class Experiment:
    """One registered experiment: `fn(ctx) -> Section` plus what its cache key depends on.

    Attributes:
        needs: ids (or "tag:NAME" for every experiment with that tag) whose results it reads.
        tags: groups other experiments can need as a whole ("architecture": Task 1 comparison).
        in_talk: shown in the talk deck by default (False: report, and the deck's appendix).
    """

    id: str
    task: int
    title: str
    fn: Callable[..., Any]
    params: dict[str, Any]
    needs: tuple[str, ...]
    module: str
    order: int
    source_file: Path = field(default=Path())
    tags: tuple[str, ...] = ()
    in_talk: bool = True
    checks: dict[str, param_rules.Rule] = field(default_factory=dict)
    # Parameters set where the experiment is defined in the config ([variants.ID] of Task 1),
    # checked like [experiments.ID] overrides; `preset_table` names that table in messages.
    preset: dict[str, Any] = field(default_factory=dict)
    preset_table: str = ""

    def resolve(
        self,
        profile: str,
        overrides: dict[str, Any] | None = None,
        *,
        source: str = "reportgen.toml",
        lookup: Callable[[str, str], Any] | None = None,
        data: Callable[[], Any] | None = None,
    ) -> dict[str, Any]:
        """The parameters for a profile, with config overrides type- and range-checked.

        Raises:
            ReportgenError: an unknown parameter, a wrong type or a value out of range, naming
                the config file, the experiment and the key.
        """
        return self.resolve_sourced(profile, overrides, source=source, lookup=lookup, data=data)[0]

    def resolve_sourced(
        self,
        profile: str,
        overrides: dict[str, Any] | None = None,
        *,
        source: str = "reportgen.toml",
        lookup: Callable[[str, str], Any] | None = None,
        data: Callable[[], Any] | None = None,
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """The parameters (as `resolve`) and, for each, where its value came from: "default",
        "profile quick", "linked to ID.NAME", "data ...", "config [experiments.ID]"."""
        resolved, origin = {}, {}
        for name, value in self.params.items():
            origin[name] = "default"
            if isinstance(value, PerProfile):
                value, origin[name] = value.pick(profile), f"profile {profile}"
            if isinstance(value, Linked):
                if lookup is None:
                    raise ValueError(f"{self.id}.{name}: linked parameter needs a lookup")
                origin[name] = f"linked to {value.experiment}.{value.param}"
                value = lookup(value.experiment, value.param)
            if isinstance(value, FromData):
                value, origin[name] = _from_data(value, data)
            resolved[name] = value
        tables = [(self.preset_table or f"experiments.{self.id}", self.preset), (f"experiments.{self.id}", overrides or {})]
        for table, values in tables:
            for name, value in values.items():
                if values is not self.preset and name in ("title", "enabled"):
                    continue  # display and selection settings, applied by load_experiments
                if name not in resolved:
                    close = difflib.get_close_matches(name, list(resolved), n=3)
                    known = ", ".join(close or sorted(resolved)) or "none"
                    raise ReportgenError(
                        f"{source}: [{table}] unknown parameter '{name}'",
                        f"{'did you mean' if close else 'known'}: {known}",
                        2,
                    )
                resolved[name] = _coerce(source, table, name, resolved[name], value)
                origin[name] = f"config [{table}]"
        problem = param_rules.check_all(resolved, self.checks)
        if problem:
            table = next((t for t, values in reversed(tables) if _names(problem) & set(values)), f"experiments.{self.id}")
            raise ReportgenError(f"{source}: [{table}] {problem}", exit_code=2)
        return resolved, origin


def _names(problem: str) -> set[str]:
    """The parameter a check_all problem is about ('epochs: must be ...' -> {'epochs'})."""
    return {problem.split(":", 1)[0]}


def _from_data(wanted: FromData, data: Callable[[], Any] | None) -> tuple[Any, str]:
    """A data-following default and where it came from; raised to `at_least` unless the student chose the size."""
    if data is None:  # resolved outside a build (a test, a script): the least size the experiment takes,
        return wanted.at_least, "data (not known here)"  # or None: the code takes the data as it comes
    facts = data()
    value = facts.get(wanted.fact)
    if wanted.fact == "image_size" and facts.explicit_size:
        return value, "config (top-level image_size)"
    if wanted.at_least is not None and value < wanted.at_least:
        return wanted.at_least, f"data ({value} raised to {wanted.at_least})"
    return value, "data"


def _coerce(source: str, table: str, name: str, default: Any, value: Any) -> Any:
    if isinstance(default, bool) or default is None:
        ok = default is None or isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, list) and default:
        item = default[0]
        ok = isinstance(value, list) and all(
            isinstance(v, type(item)) or (isinstance(item, float) and isinstance(v, int)) for v in value
        )
    elif name in param_rules.COUNT_OR_INDICES and isinstance(default, int) and isinstance(value, list):
        # A count by default; a list of indices chooses the images (ranges checked by the rules).
        ok = all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    elif isinstance(default, list) and "image" in name:
        # An empty default says nothing about its items; an image list holds file paths.
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    else:
        ok = isinstance(value, type(default)) and not isinstance(value, bool)
    if not ok:
        expected = "a list of image file paths (text)" if default == [] and "image" in name else _type_name(default)
        raise ReportgenError(
            f"{source}: [{table}] {name}: expected {expected}, got {value!r}",
            exit_code=2,
        )
    return value


def _type_name(default: Any) -> str:
    if isinstance(default, list):
        return f"a list of {_type_name(default[0])}" if default else "a list"
    return {"int": "a whole number", "float": "a number", "str": "text", "bool": "true or false"}.get(
        type(default).__name__, type(default).__name__
    )


_REGISTRY: dict[str, Experiment] = {}
# Experiment id -> its presenter: record -> Section at render time (see reportgen.presenting).
PRESENTERS: dict[str, Callable[..., Any]] = {}


def presenter(exp_id: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers `fn(view) -> Section` as what readers see of experiment `exp_id`'s record.

    It lives in a module the experiment's own module does not import, so that its code is not
    part of the cache key: editing a caption, a sentence or a number format re-renders and
    re-runs nothing. It must not import torch (`reportgen render` never does).
    """

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        PRESENTERS[exp_id] = fn
        return fn

    return register


def experiment(
    *,
    task: int,
    id: str,
    title: str,
    params: dict[str, Any] | None = None,
    needs: tuple[str, ...] = (),
    tags: tuple[str, ...] = (),
    in_talk: bool = True,
    checks: dict[str, param_rules.Rule] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers `fn(ctx) -> Section` as experiment `id` of `task`.

    Args:
        task: the course task number (1-5).
        id: unique, stable id; it names the cache entry and the config override table.
        title: heading on slides and in the report (a config may change it).
        params: defaults, each a value, `per_profile(...)` or `linked(...)`.
        needs: ids whose results this one reads through `ctx.needed(id)`; "tag:NAME" needs
            every experiment tagged NAME (so a project's own variants join a comparison).
        tags: groups this experiment belongs to.
        in_talk: False keeps it out of the talk deck by default (it stays in the report).
        checks: extra parameter rules, name -> reportgen.params.Rule (common names have rules).
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task}")

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        module = sys.modules.get(fn.__module__) or importlib.import_module(fn.__module__)
        previous = _REGISTRY.get(id)
        if previous is not None and _clashes(previous, fn):
            from reportgen.blame import shown

            first, second = (shown(Path(f), Path.cwd()) for f in (previous.source_file, module.__file__ or fn.__module__))
            raise ReportgenError(
                f"experiment id '{id}' is registered twice: in {first} and in {second}",
                "give one of them another id",
                2,
            )
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
            tags=tuple(tags),
            in_talk=in_talk,
            checks=dict(checks or {}),
        )
        return fn

    return register


def _clashes(previous: Experiment, fn: Callable[..., Any]) -> bool:
    """Whether registering `fn` would silently replace another experiment with the same id.

    The same module run again (a reload, or another project's file of the same name after a
    switch of project) replaces its own entry; two modules that are both loaded, or two
    functions of one module, may not share an id.
    """
    if previous.module != fn.__module__:
        return previous.module in sys.modules
    return previous.fn.__qualname__ != fn.__qualname__


def load_experiments(config: Any = None) -> dict[str, Experiment]:
    """The registry by id: built-in experiments, the project's own, and what the config adds.

    With a config, titles set in `[experiments.ID] title = ...` replace ours and "tag:" needs
    are expanded. The global registry is never changed by a config.
    """
    from reportgen.modules import builtin_modules, call_hook, project_modules

    modules = builtin_modules()
    if config is not None:
        folder = config.resolve(config.experiments_dir)
        if folder.is_dir() and folder.resolve() != Path(modules[0].__file__).resolve().parent:
            modules += project_modules(folder)
    # Another project's experiments (loaded earlier in this process) are not this project's.
    current = {m.__name__ for m in modules}
    registry = {
        exp_id: dataclasses.replace(exp)
        for exp_id, exp in _REGISTRY.items()
        if not exp.module.startswith(f"{PROJECT_MODULES}.") or exp.module in current
    }
    if config is not None:
        for module in modules:
            hook = getattr(module, "from_config", None)
            if hook is not None:
                registry = call_hook(module, hook, config, registry)
        for exp_id, overrides in config.experiments.items():
            title = overrides.get("title") if isinstance(overrides, dict) else None
            if exp_id in registry and title is not None:
                if not isinstance(title, str) or not title.strip():
                    raise ReportgenError(f"{config.source}: [experiments.{exp_id}] title: expected text", exit_code=2)
                registry[exp_id] = dataclasses.replace(registry[exp_id], title=title)
        registry = _without_disabled(config, registry)
    for exp in registry.values():
        exp.needs = _expand_needs(exp, registry)
    return registry


def _without_disabled(config: Any, registry: dict[str, Experiment]) -> dict[str, Experiment]:
    """The registry less the experiments the config switches off; an experiment that reads (or takes
    a parameter from) a switched-off one is an error naming both."""
    where = config.source.name
    for exp_id, overrides in config.experiments.items():
        if isinstance(overrides, dict) and not isinstance(overrides.get("enabled", True), bool):
            raise ReportgenError(f"{where}: [experiments.{exp_id}] enabled: expected true or false", exit_code=2)
    off = config.disabled_ids()
    for exp_id in sorted(off):
        if exp_id not in registry:
            close = difflib.get_close_matches(exp_id, list(registry), n=3)
            raise ReportgenError(f"{where}: cannot disable '{exp_id}': no such experiment",
                                 f"did you mean {', '.join(close)}?" if close else "see 'reportgen list' for the ids", 2)
    kept = {i: e for i, e in registry.items() if i not in off}
    for exp in kept.values():
        used = [n for n in exp.needs if n in off]
        used += [v.experiment for v in exp.params.values() if isinstance(v, Linked) and v.experiment in off]
        if used:
            raise ReportgenError(
                f"{where}: '{exp.id}' reads '{used[0]}', which the config disables",
                f"disable '{exp.id}' too, or enable '{used[0]}'",
                2,
            )
    return kept


def _expand_needs(exp: Experiment, registry: dict[str, Experiment]) -> tuple[str, ...]:
    needs: list[str] = []
    for need in exp.needs:
        if need.startswith("tag:"):
            tag = need.removeprefix("tag:")
            needs += [e.id for e in sorted(registry.values(), key=lambda e: e.order) if tag in e.tags and e.id != exp.id]
        else:
            needs.append(need)
    return tuple(dict.fromkeys(needs))


# Choosing experiments by task or id, in dependency order (re-exported: commands import them from here).
from reportgen.selection import parse_ids, parse_tasks, select, with_needs  # noqa: E402, F401

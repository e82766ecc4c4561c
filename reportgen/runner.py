"""Runs what is stale: computes each experiment's cache key, loads hits, runs misses, stores them."""

from __future__ import annotations

import ast
import dataclasses
import errno
import functools
import hashlib
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reportgen import provenance
from reportgen.blame import call_experiment
from reportgen.paths import problem as path_problem
from reportgen.cache import Cache, Entry, digest, why_stale
from reportgen.config import Config
from reportgen.data.sources import DatasetInfo, resolve_dataset
from reportgen.errors import ReportgenError
from reportgen.registry import Experiment
from reportgen.records import Record
from reportgen.results import InvalidResult, Section

ENGINE = Path(__file__).resolve().parent
# Engine modules that present or draw results but never change what an experiment computes.
NOT_COMPUTING = ("render", "cli.py", "progress.py", "executors.py", "verify.py", "writeup.py", "scaffold.py", "registry.py",
                 "params.py", "errors.py", "provenance.py", "__init__.py")


def _source_hash(paths: list[Path]) -> str:
    sha = hashlib.sha256()
    for path in sorted(paths):
        sha.update(path.read_bytes())
    return sha.hexdigest()[:16]


@functools.cache
def module_sources(path: Path) -> tuple[Path, ...]:
    """`path` and every module it imports from its own folder (transitively): the shared helpers
    of the built-in experiments, or of a project's experiments folder."""
    from reportgen.registry import PROJECT_MODULES

    folder = path.parent
    packages = {folder.name, PROJECT_MODULES}
    seen: list[Path] = []
    stack = [path]
    while stack:
        current = stack.pop()
        if current in seen or not current.is_file():
            continue
        seen.append(current)
        try:
            tree = ast.parse(current.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level:  # from . import x / from ._helpers import y
                    names = [module] if module else [alias.name for alias in node.names]
                elif module.split(".")[0] in packages:
                    names = [module.split(".", 1)[1]] if "." in module else [alias.name for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name.split(".", 1)[1] for a in node.names if a.name.split(".")[0] in packages and "." in a.name]
            for name in names:
                stack.append(folder / f"{name.split('.')[0]}.py")
    return tuple(sorted(seen))


def _engine_module(dotted: str) -> Path | None:
    """reportgen.a.b -> its file (module or package __init__), or None outside the engine."""
    parts = dotted.split(".")
    if parts[0] != "reportgen":
        return None
    base = ENGINE.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def engine_sources(path: Path) -> tuple[Path, ...]:
    """The engine modules `path` imports, directly or through other engine modules (imports
    inside functions included): a change to one of them can change what it computes. Editing
    a module an experiment does not use (another task's visualisation, the renderer) leaves
    its results current."""
    seen: set[Path] = set()
    stack = [path]
    found: list[Path] = []
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        in_engine = ENGINE in current.parents
        if in_engine and current != path:
            rel = current.relative_to(ENGINE).as_posix()
            if rel.split("/")[0] in NOT_COMPUTING:
                continue
            found.append(current)
        try:
            tree = ast.parse(current.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        package = ".".join(("reportgen", *current.relative_to(ENGINE).parent.parts)) if in_engine else ""
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level and in_engine:
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    module = f"{base}.{module}" if module else base
                elif node.level:
                    continue
                targets = [module] + [f"{module}.{a.name}" for a in node.names]
            for target in targets:
                file = _engine_module(target)
                if file is not None:
                    stack.append(file)
    return tuple(sorted(set(found)))


def engine_hash(source_file: Path) -> str:
    """Hash of the engine modules that experiment code in `source_file` (and its helpers) uses."""
    files: set[Path] = set()
    for module in module_sources(source_file):
        files.update(engine_sources(module))
    return _source_hash(sorted(files))


def versions() -> dict[str, str]:
    v = provenance.library_versions()
    return {k: v[k] for k in ("torch", "torchvision")}


@dataclass
class Planned:
    """An experiment with its resolved parameters, cache key and (when cached) stored entry."""

    exp: Experiment
    params: dict[str, Any]
    inputs: dict[str, Any]
    key: str
    entry: Entry | None
    previous: Entry | None = None
    problem: str = ""  # why the stored entry for this key could not be used

    @property
    def state(self) -> str:
        return "cached" if self.entry else ("stale" if self.previous or self.problem else "missing")

    @property
    def reasons(self) -> list[str]:
        if self.entry:
            return []
        if self.problem:
            return [self.problem]
        return why_stale(self.previous.inputs, self.inputs) if self.previous else []


def plan(
    experiments: list[Experiment],
    config: Config,
    dataset: DatasetInfo,
    cache: Cache,
    registry: dict[str, Experiment] | None = None,
) -> list[Planned]:
    """Resolves and checks parameters and cache keys of `experiments` and everything they need,
    in dependency order (the one planning path of every command); reads no pixels and imports no
    torch. `registry` resolves linked parameters of experiments outside the selection."""
    from reportgen.registry import load_experiments, with_needs

    registry = registry or load_experiments(config)
    experiments = with_needs(experiments, registry)
    _check_overrides(config, registry)
    planned: dict[str, Planned] = {}
    params_of = param_resolver(config, dataset, registry)

    for exp in experiments:
        params = params_of(exp.id)
        files = _file_fingerprints(exp.id, params, config)
        inputs = {
            "experiment": exp.id,
            "params": params,
            "code": _source_hash(list(module_sources(exp.source_file))),
            "engine": engine_hash(exp.source_file),
            "dataset": {"name": dataset.name, "fingerprint": dataset.fingerprint},
            "versions": versions(),
            "seed": config.seed,
            "needs": {dep: planned[dep].key for dep in exp.needs},
        }
        if files:  # the user's own images: editing one re-runs what shows it
            inputs["files"] = files
        key = digest(inputs)
        entry = cache.load(exp.id, key)
        item = Planned(exp, params, inputs, key, entry, cache.latest(exp.id))
        for stored in (item.entry, item.previous):
            if stored is not None:
                stored.title = exp.title  # a record is presented under this build's title
        item.problem = cache.problems.get((exp.id, key), "")
        planned[exp.id] = item
    return list(planned.values())


def param_resolver(
    config: Config, dataset: DatasetInfo, registry: dict[str, Experiment], origins: dict[str, dict[str, str]] | None = None
) -> Callable[[str], dict[str, Any]]:
    """exp_id -> its resolved parameters (config overrides, linked parameters and the data's facts
    applied, every value checked); `origins`, when given, receives where each value came from."""
    from reportgen.data.facts import config_facts

    resolved: dict[str, dict[str, Any]] = {}

    @functools.cache
    def facts() -> Any:  # read only when a parameter follows the data (a folder is listed once)
        return config_facts(config, dataset)

    def params_of(exp_id: str) -> dict[str, Any]:
        if exp_id not in resolved:
            if exp_id not in registry:
                raise ReportgenError(f"a parameter refers to unknown experiment '{exp_id}'", exit_code=2)
            values, sources = registry[exp_id].resolve_sourced(
                config.profile.value, config.experiments.get(exp_id), source=config.source.name,
                lookup=lambda other, name: params_of(other)[name], data=facts,
            )  # fmt: skip
            resolved[exp_id] = values
            if origins is not None:
                origins[exp_id] = sources
        return resolved[exp_id]

    return params_of


def _path_params(params: dict[str, Any]) -> dict[str, list[str]]:
    """Parameters that name the user's image files ("images", "content_images", ...)."""
    found = {}
    for name, value in params.items():
        if "image" in name and isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            found[name] = value
        elif "image" in name and isinstance(value, str) and Path(value).suffix:
            found[name] = [value]
    return found


def _file_fingerprints(exp_id: str, params: dict[str, Any], config: Config) -> dict[str, str]:
    """sha256 of every image file a parameter names (relative paths from the project folder),
    each checked first as the project's own picture: inside the project, a raster image."""
    from reportgen.pictures import check_picture

    prints = {}
    for name, values in _path_params(params).items():
        for value in values:
            if not Path(value).suffix:
                continue  # a bundled sample's name, not a file
            path = config.resolve(Path(value).expanduser())
            why = path_problem(path, "file")  # stat only: a named pipe must not hang the read below
            if why is not None:
                raise ReportgenError(
                    f"{config.source.name}: [experiments.{exp_id}] {name}: '{value}' {why}",
                    f"give a path to an image file (relative paths start at {config.root.resolve()})",
                    2,
                )
            key = f"[experiments.{exp_id}] {name}"
            # Pictures from a parameter are published in the figures: the logo's rules apply.
            path = check_picture(Path(value).expanduser(), config.root, key, config.source)
            if path.suffix.lower() == ".svg":
                raise ReportgenError(f"{config.source.name}: {key}: '{value}' is a vector drawing the network cannot read",
                                     "use a PNG or JPEG photo", 2)  # fmt: skip
            try:
                prints[value] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            except OSError:
                raise ReportgenError(
                    f"{config.source.name}: [experiments.{exp_id}] {name}: cannot read '{value}'",
                    f"give a path to an image file (relative paths start at {config.root.resolve()})",
                    2,
                ) from None
    return prints


def resolved_params(params: dict[str, Any], config: Config) -> dict[str, Any]:
    """The parameters an experiment gets: image paths made absolute from the project folder."""
    out = dict(params)
    for name, values in _path_params(params).items():
        absolute = [str(config.resolve(Path(v).expanduser())) if Path(v).suffix else v for v in values]
        out[name] = absolute if isinstance(params[name], list) else absolute[0]
    return out


def _check_overrides(config: Config, registry: dict[str, Experiment]) -> None:
    """An override table that names no experiment is a typo: say so, with the closest ids."""
    import difflib

    for exp_id in config.experiments:
        if exp_id not in registry and exp_id not in config.disabled_ids():
            close = difflib.get_close_matches(exp_id, list(registry), n=3)
            hint = f"did you mean {', '.join(close)}?" if close else "see 'reportgen list' for the ids"
            raise ReportgenError(f"{config.source.name}: [experiments.{exp_id}] names no experiment", hint, 2)


@dataclass
class Context:
    """What an experiment's run(ctx) gets: parameters, seed, device, data, progress, a files folder."""

    exp: Experiment
    params: dict[str, Any]
    seed: int
    device_name: str
    dataset: DatasetInfo
    files: Path
    progress: Any
    needs: dict[str, Entry] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # unreadable dataset files, for the report
    root: Path = Path(".")  # the project folder (where reportgen.toml is)

    @property
    def device(self) -> Any:
        from reportgen.nn.train import resolve_device

        return resolve_device(self.device_name)

    def data(self, *, image_size: int | None = None, seed: int | None = None, train_size: int | None = None) -> Any:
        """Train/val/test splits sized by the train_size, val_size and test_size parameters."""
        from reportgen.data.splits import make_splits

        splits = make_splits(
            self.dataset,
            train_size=train_size or self.params["train_size"],
            val_size=self.params.get("val_size", 1000),
            test_size=self.params["test_size"],
            seed=self.seed if seed is None else seed,
            image_size=image_size or self.params.get("image_size"),
        )
        self.skipped = splits.skipped
        return splits

    def save_array(self, name: str, array: Any) -> str:
        """Stores a numpy array (an image, a heat map, filter weights) as files/<name>.npy; returns the name
        that ImageGrid.images / overlays and Bars.image take."""
        import numpy as np

        filename = name if name.endswith(".npy") else f"{name}.npy"
        self.files.mkdir(parents=True, exist_ok=True)
        np.save(self.files / filename, np.asarray(array, dtype=np.float32), allow_pickle=False)
        return filename

    def needed(self, exp_id: str) -> Section | Record:
        """The result of an experiment listed in `needs`: its Record when it is a converted
        experiment (read its fields, never its presentation), else its Section."""
        return self.needs[exp_id].result

    def record(self, exp_id: str) -> Record:
        """The Record of a converted experiment listed in `needs`."""
        result = self.needs[exp_id].result
        if not isinstance(result, Record):
            raise TypeError(f"'{exp_id}' stores a Section, not a record: read it with ctx.needed()")
        return result


def run_planned(
    planned: list[Planned],
    config: Config,
    dataset: DatasetInfo,
    cache: Cache,
    *,
    rerun: bool = False,
    progress: Any = None,
    on_event: Callable[[str, Planned, float], None] | None = None,
    board: Any = None,
    on_note: Callable[[str], None] | None = None,
) -> dict[str, Entry]:
    """Loads cached entries and runs the rest, storing each result atomically as soon as it is done.

    With [executor] kind local or slurm the rest runs as jobs (`board` shows their states)."""
    entries: dict[str, Entry] = {}
    torch_ready = False
    to_run = [item for item in planned if rerun or item.entry is None]
    if to_run:
        from reportgen.nn.runtime import prepare

        prepare(config.threads)
        torch_ready = True
        preflight(to_run, dataset)
        notes = environment_notes(planned)
        if notes and on_note:
            on_note(
                f"this machine differs from the one that computed the stored results ({'; '.join(notes)}): "
                "experiments run now may give other numbers than the stored ones"
            )
    if to_run and config.executor.kind != "inline":  # worker processes or Slurm jobs
        from reportgen.executors import run_as_jobs

        return run_as_jobs(planned, config, dataset, cache, rerun=rerun, on_event=on_event, board=board)
    for item in planned:
        if item.entry is not None and not rerun:
            cache.mark_latest(item.exp.id, item.key)
            entries[item.exp.id] = item.entry
            if on_event:
                on_event("cached", item, 0.0)
            continue
        if not torch_ready:
            from reportgen.nn.runtime import prepare

            prepare(config.threads)
            torch_ready = True
        if on_event:
            on_event("start", item, 0.0)
        entries[item.exp.id] = run_one(item, config, dataset, cache, entries, progress)
        if on_event:
            on_event("done", item, entries[item.exp.id].provenance["wall_s"])
    return entries


def environment_notes(planned: list[Planned]) -> list[str]:
    """How this process differs from the ones that computed the stored results of `planned`
    (thread count, CPU instruction set, library versions): each of them can change a number
    without changing the configuration, so a build that runs experiments here says so."""
    from reportgen.nn.runtime import environment

    current = environment()
    notes: list[str] = []
    for item in planned:
        stored = item.entry or item.previous
        if stored is None:
            continue
        prov = stored.provenance
        pairs = [("threads", prov.get("threads"), current["threads"]),
                 ("CPU instruction set", prov.get("cpu_capability"), current["cpu_capability"])]  # fmt: skip
        old_versions = prov.get("versions") if isinstance(prov.get("versions"), dict) else {}
        pairs += [(name, old_versions.get(name), version) for name, version in current["versions"].items()]
        for name, old, new in pairs:
            note = f"{name} {old} -> {new}"
            if old is not None and old != new and note not in notes:
                notes.append(note)
    return notes


def run_one(
    item: Planned,
    config: Config,
    dataset: DatasetInfo,
    cache: Cache,
    done: dict[str, Entry],
    progress: Any,
) -> Entry:
    """Runs one experiment in a scratch folder and renames it into the cache when it succeeds."""
    scratch = cache.scratch()
    needs = {dep: done[dep] for dep in item.exp.needs}
    try:
        section, prov = compute(item.exp, item.params, config, dataset, scratch, needs, progress)
    except BaseException as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        _disk_full(exc, item, scratch)
        raise
    return store_result(item, cache, scratch, section, prov)


def compute(
    exp: Experiment,
    params: dict[str, Any],
    config: Config,
    dataset: DatasetInfo,
    scratch: Path,
    needs: dict[str, Entry],
    progress: Any = None,
) -> tuple[Section, dict[str, Any]]:
    """Runs `exp` with its files going to scratch/files: the part of a run that may happen in
    another process (reportgen.executors); storing stays with the build that holds the lock."""
    import torch

    from reportgen.nn.train import Progress, resolve_device

    device = resolve_device(config.device.value)
    ctx = Context(
        exp=exp,
        params=resolved_params(params, config),
        seed=config.seed,
        device_name=config.device.value,
        dataset=dataset,
        files=scratch / "files",
        progress=progress or Progress(),
        needs=needs,
        root=config.root,
    )
    from reportgen.nn import runtime

    torch.manual_seed(config.seed)
    started = time.perf_counter()
    section = call_experiment(exp, ctx, config.root)  # a project experiment's failure names its file and line
    if isinstance(section, Record):
        # The arrays it saved: checked on every load, compared by `reportgen verify`.
        section.files = sorted(p.relative_to(ctx.files).as_posix() for p in ctx.files.rglob("*") if p.is_file())
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    prov = provenance.record(
        config.seed,
        time.perf_counter() - started,
        device.type,
        gpu,
        dataset=dataset.display,
        dataset_notice=dataset.notice,
        dataset_skipped=_skipped_notice(ctx.skipped),
        profile=config.profile.value,
        threads=torch.get_num_threads(),
        cpu_capability=runtime.cpu_capability(),
        memory_format=runtime.memory_format_for(device),
    )
    return section, prov


def store_result(item: Planned, cache: Cache, scratch: Path, section: Section, prov: dict[str, Any]) -> Entry:
    """Completes `scratch` and renames it into the cache (only the build holding the lock calls this)."""
    try:
        entry = cache.store(item.exp.id, item.key, scratch, section, item.inputs, prov)
        entry.title = item.exp.title
        return entry
    except InvalidResult as exc:  # the same rules as loading: what is stored always loads
        raise ReportgenError(
            f"experiment '{item.exp.id}' ({item.exp.source_file.name}) returned a result that cannot be stored: {exc}",
            "every number must be finite and every format must apply to its value; nothing was stored",
        ) from None
    except OSError as exc:
        _disk_full(exc, item, scratch)
        raise


def _disk_full(exc: BaseException, item: Planned, scratch: Path) -> None:
    """A full disk while an experiment writes or stores its result: one line naming where, and
    the cache as it was (the entry is renamed into place only when complete)."""
    if not isinstance(exc, OSError):
        exc = exc.__cause__  # a project experiment's error, reported with its file by blame
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        where = exc.filename or scratch.parent
        raise ReportgenError(
            f"no space left on {where} while storing '{item.exp.id}'; the stored results are as they were",
            "free some space on that disk, then run again: finished experiments stay cached",
        ) from None


def _skipped_notice(skipped: list[str]) -> str:
    if not skipped:
        return ""
    names = ", ".join(Path(p).name for p in skipped[:5]) + (", ..." if len(skipped) > 5 else "")
    return f"{len(skipped)} unreadable image file(s) were skipped: {names}."


LAYER_PARAMS = ("layers", "deeper_layers")


def preflight(items: list[Planned], dataset: DatasetInfo) -> None:
    """Builds every layer spec about to be trained on its input size, before any training starts,
    so that a spec that does not fit fails in a second instead of after minutes of other work."""
    from reportgen.data.sources import native_shape
    from reportgen.nn.spec import build_model

    channels, height, _ = native_shape(dataset)
    for item in items:
        size = item.params.get("image_size") or item.params.get("input_size") or height
        for name in LAYER_PARAMS:
            layers = item.params.get(name)
            if isinstance(layers, list) and layers and isinstance(size, int):
                try:
                    build_model(layers, (channels, size, size), 10, item.params.get("activation", "relu"))
                except ReportgenError as exc:
                    hint = f"{exc.hint}, or a larger image_size ('reportgen show {item.exp.id}' says where {size} came from)"
                    raise ReportgenError(f"[experiments.{item.exp.id}] {name}: {exc.message}", hint, 2) from None


def resolve_config_dataset(config: Config) -> DatasetInfo:
    root = config.resolve(config.data_root) if config.data_root is not None else None
    info = resolve_dataset(config.dataset, root, config.fallback, config.download, config.image_size)
    if root is not None and not root.exists() and info.location != str(root):
        # Not silently: the configured folder was not there, the data came from elsewhere.
        said = f"data_root {config.data_root} does not exist; {info.display} was read from {info.location}"
        info = dataclasses.replace(info, notice=f"{said}. {info.notice}".strip())
    return info

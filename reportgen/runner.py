"""Runs what is stale: computes each experiment's cache key, loads hits, runs misses, stores them."""

from __future__ import annotations

import errno
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reportgen import provenance
from reportgen.blame import call_experiment
from reportgen.cache import Cache, Entry, digest, why_stale
from reportgen.config import Config
from reportgen.data.sources import DatasetInfo
from reportgen.errors import ReportgenError
from reportgen.registry import Experiment
from reportgen.records import Record
from reportgen.results import InvalidResult, Section

from reportgen.resolve import (  # noqa: F401 (re-exported)
    check_overrides,
    file_fingerprints,
    param_resolver,
    preflight,
    resolve_config_dataset,
    resolved_params,
)
from reportgen.keys import ENGINE, _source_hash, engine_hash, engine_sources, module_sources, versions  # noqa: F401 (re-exported)


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
    check_overrides(config, registry)
    planned: dict[str, Planned] = {}
    params_of = param_resolver(config, dataset, registry)

    for exp in experiments:
        params = params_of(exp.id)
        files = file_fingerprints(exp.id, params, config)
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
    (thread count, CPU instruction set, training precision, library versions): each of them can change a number
    without changing the configuration, so a build that runs experiments here says so."""
    from reportgen.nn.runtime import environment, precision_for

    current = environment()
    notes: list[str] = []
    for item in planned:
        stored = item.entry or item.previous
        if stored is None:
            continue
        prov = stored.provenance
        pairs = [("threads", prov.get("threads"), current["threads"]),
                 ("CPU instruction set", prov.get("cpu_capability"), current["cpu_capability"]),
                 ("training precision", prov.get("precision"), precision_for(prov.get("hardware", {}).get("device", "cpu")))]  # fmt: skip
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
        precision=runtime.precision_for(device),
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

"""Runs what is stale: computes each experiment's cache key, loads hits, runs misses, stores them."""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reportgen import provenance
from reportgen.cache import Cache, Entry, digest, why_stale
from reportgen.config import Config
from reportgen.data.sources import DatasetInfo, resolve_dataset
from reportgen.errors import ReportgenError
from reportgen.registry import Experiment
from reportgen.results import Section

# Engine code whose change alters what experiments compute or how results are stored.
ENGINE_SOURCES = ("data/*.py", "nn/*.py", "results.py", "theory.py")


def _source_hash(paths: list[Path]) -> str:
    sha = hashlib.sha256()
    for path in sorted(paths):
        sha.update(path.read_bytes())
    return sha.hexdigest()[:16]


def engine_hash() -> str:
    """Hash of the engine modules that decide what an experiment computes."""
    root = Path(__file__).parent
    return _source_hash([p for pattern in ENGINE_SOURCES for p in root.glob(pattern)])


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

    @property
    def state(self) -> str:
        return "cached" if self.entry else ("stale" if self.previous else "missing")

    @property
    def reasons(self) -> list[str]:
        return why_stale(self.previous.inputs, self.inputs) if self.previous and not self.entry else []


def plan(experiments: list[Experiment], config: Config, dataset: DatasetInfo, cache: Cache) -> list[Planned]:
    """Resolves parameters and cache keys in dependency order; reads no pixels and imports no torch."""
    planned: dict[str, Planned] = {}
    engine = engine_hash()
    for exp in experiments:
        params = exp.resolve(config.profile.value, config.experiments.get(exp.id))
        inputs = {
            "experiment": exp.id,
            "params": params,
            "code": _source_hash([exp.source_file]),
            "engine": engine,
            "dataset": {"name": dataset.name, "fingerprint": dataset.fingerprint},
            "versions": versions(),
            "seed": config.seed,
            "needs": {dep: planned[dep].key for dep in exp.needs},
        }
        key = digest(inputs)
        planned[exp.id] = Planned(exp, params, inputs, key, cache.load(exp.id, key), cache.latest(exp.id))
    unknown = set(config.experiments) - {e.id for e in experiments}
    return list(planned.values()) if not unknown else _unknown_override(unknown, planned)


def _unknown_override(unknown: set[str], planned: dict[str, Planned]) -> list[Planned]:
    # Overrides for experiments outside the selected tasks are fine; a name no task has is a typo.
    from reportgen.registry import load_experiments

    typos = sorted(unknown - set(load_experiments()))
    if typos:
        raise ReportgenError(f"reportgen.toml: [experiments.{typos[0]}] names no experiment", "see 'reportgen list'", 2)
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

    def needed(self, exp_id: str) -> Section:
        """The result of an experiment listed in `needs`."""
        return self.needs[exp_id].section


def run_planned(
    planned: list[Planned],
    config: Config,
    dataset: DatasetInfo,
    cache: Cache,
    *,
    rerun: bool = False,
    progress: Any = None,
    on_event: Callable[[str, Planned, float], None] | None = None,
) -> dict[str, Entry]:
    """Loads cached entries and runs the rest, storing each result atomically as soon as it is done."""
    entries: dict[str, Entry] = {}
    torch_ready = False
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


def run_one(
    item: Planned,
    config: Config,
    dataset: DatasetInfo,
    cache: Cache,
    done: dict[str, Entry],
    progress: Any,
) -> Entry:
    """Runs one experiment in a scratch folder and renames it into the cache when it succeeds."""
    import torch

    from reportgen.nn.train import Progress, resolve_device

    device = resolve_device(config.device.value)
    scratch = cache.scratch()
    ctx = Context(
        exp=item.exp,
        params=item.params,
        seed=config.seed,
        device_name=config.device.value,
        dataset=dataset,
        files=scratch / "files",
        progress=progress or Progress(),
        needs={dep: done[dep] for dep in item.exp.needs},
    )
    torch.manual_seed(config.seed)
    started = time.perf_counter()
    try:
        section = item.exp.fn(ctx)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    if not isinstance(section, Section):
        raise TypeError(f"experiment {item.exp.id} returned {type(section).__name__}, not Section")
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
    )
    return cache.store(item.exp.id, item.key, scratch, section, item.inputs, prov)


def _skipped_notice(skipped: list[str]) -> str:
    if not skipped:
        return ""
    names = ", ".join(Path(p).name for p in skipped[:5]) + (", ..." if len(skipped) > 5 else "")
    return f"{len(skipped)} unreadable image file(s) were skipped: {names}."


def resolve_config_dataset(config: Config) -> DatasetInfo:
    return resolve_dataset(config.dataset, config.data_root, config.fallback, config.download, config.image_size)

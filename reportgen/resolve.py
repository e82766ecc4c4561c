"""A build's inputs, resolved and checked before anything runs: every experiment's parameters
(config overrides, profile values, linked parameters, the data's facts), the user's files they
name, and the configured dataset; layer specs built on their input size (preflight).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reportgen.config import Config
from reportgen.data.sources import DatasetInfo, resolve_dataset
from reportgen.errors import ReportgenError
from reportgen.paths import problem as path_problem
from reportgen.registry import Experiment

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


def file_fingerprints(exp_id: str, params: dict[str, Any], config: Config) -> dict[str, str]:
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


def check_overrides(config: Config, registry: dict[str, Experiment]) -> None:
    """An override table that names no experiment is a typo: say so, with the closest ids."""
    import difflib

    for exp_id in config.experiments:
        if exp_id not in registry and exp_id not in config.disabled_ids():
            close = difflib.get_close_matches(exp_id, list(registry), n=3)
            hint = f"did you mean {', '.join(close)}?" if close else "see 'reportgen list' for the ids"
            raise ReportgenError(f"{config.source.name}: [experiments.{exp_id}] names no experiment", hint, 2)


LAYER_PARAMS = ("layers", "deeper_layers")


def preflight(items: list[Any], dataset: DatasetInfo) -> None:
    """Builds every layer spec about to be trained (runner.Planned items) on its input size, before any training starts,
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

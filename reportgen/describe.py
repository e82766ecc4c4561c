"""What `reportgen data` and `reportgen show` print: the data as experiments see it, and every
experiment's parameters with their resolved values, types and where each value came from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reportgen.config import Config
from reportgen.data.facts import DataFacts, config_facts
from reportgen.data.sources import DatasetInfo, load_arrays


@dataclass
class DataSummary:
    """Classes, images per split and per class, image size and channels of a resolved dataset."""

    facts: DataFacts
    classes: list[str]
    per_split: dict[str, list[int]]  # split -> images per class, in class order
    split_note: str
    skipped: int
    is_folder: bool = False

    def totals(self) -> dict[str, int]:
        return {split: sum(counts) for split, counts in self.per_split.items()}

    def lines(self) -> list[str]:
        """The summary as plain lines (the per-class table is printed by the CLI)."""
        f = self.facts
        totals = ", ".join(f"{split} {n:,}" for split, n in self.totals().items())
        size = f"{f.image_size}×{f.image_size} pixels"
        if f.image_size != f.native_size:
            size += f" (stored at {f.native_size}×{f.native_size}; resized to the top-level image_size)"
        elif f.explicit_size:
            size += " (the top-level image_size)"
        elif self.is_folder:
            size += " (folder images are resized to image_size, 64 unless set)"
        lines = [
            f"classes ({len(self.classes)}): {', '.join(self.classes)}",
            f"images: {totals}; {self.split_note}",
            f"image size: {size}",
            f"channels: {f.channels} ({'RGB' if f.channels == 3 else 'grey' if f.channels == 1 else 'multi-channel'})",
        ]
        if self.skipped:
            lines.append(f"unreadable files skipped: {self.skipped}")
        return lines


def _per_class(labels: Any, n_classes: int) -> list[int]:
    import numpy as np

    return [int(c) for c in np.bincount(labels, minlength=n_classes)]


def summarise_data(config: Config, info: DatasetInfo) -> DataSummary:
    """Reads the dataset as a build would (pixels included, so counts are of readable images)."""
    facts = config_facts(config, info)
    raw = load_arrays(info)
    n = len(raw.classes)
    per_split = {"train": _per_class(raw.train_y, n), "test": _per_class(raw.test_y, n)}
    note = "each experiment draws its validation images from train"
    if info.name == "folder":
        from reportgen.data import folder

        parts = folder.scan(Path(info.location))
        if "all" in parts:
            note = "a fixed 80/20 split of the folder into train and test; " + note
        elif "val" in parts:
            per_split["val"] = [len(parts["val"].get(name, [])) for name in raw.classes]
            note = "val/ is Task 4's validation set (files); Tasks 1-3 draw theirs from train"
    elif info.name == "digits":
        note = "a fixed 80/20 split of scikit-learn's 1,797 digits; " + note
    return DataSummary(facts, list(raw.classes), per_split, note, len(raw.skipped), info.name == "folder")


@dataclass
class ParamRow:
    """One parameter of one experiment as `reportgen show` prints it."""

    experiment: str
    name: str
    value: Any
    type: str
    origin: str


def type_name(value: Any) -> str:
    """'int', 'float', 'text', 'bool', 'list of text', ... as a config file needs the value written."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, list):
        inner = {type_name(v) for v in value}
        return f"list of {inner.pop()}" if len(inner) == 1 else "list"
    if value is None:
        return "none"
    return {"str": "text"}.get(type(value).__name__, type(value).__name__)


def param_rows(config: Config, dataset: DatasetInfo, registry: dict[str, Any], ids: list[str]) -> list[ParamRow]:
    """Every parameter of the experiments `ids`, resolved for this build, with its origin."""
    from reportgen.runner import param_resolver

    origins: dict[str, dict[str, str]] = {}
    params_of = param_resolver(config, dataset, registry, origins)
    rows = []
    for exp_id in ids:
        values = params_of(exp_id)
        for name, value in values.items():
            rows.append(ParamRow(exp_id, name, value, type_name(value), origins[exp_id][name]))
    return rows


def show_value(value: Any) -> str:
    """A value as it would be written in reportgen.toml."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(show_value(v) for v in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)

"""A user's image folder in transfer learning: the target task, and the source task too when
the folder has classes enough to split (`transfer_data` picks the split for a dataset).

Read once per process and size; normalised and ordered as `reportgen.data.fewshot` does the
embedded split, so every Task 4 method sees the same tensors whatever the data.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from reportgen.data.fewshot import (
    TransferData,
    _class_list,
    _normalised,
    _per_class_order,
    _range,
    _source_stats,
    _source_task,
    _stats,
    embedded_split,
    split_classes,
)
from reportgen.data.sources import DEBIAN_FASHION, DatasetInfo, resolve_dataset
from reportgen.data.splits import TEST_SUBSET_SEED, Split, Splits, cached_arrays
from reportgen.errors import ReportgenError

@dataclass(frozen=True)
class _FolderPixels:
    parts: dict[str, tuple[np.ndarray, np.ndarray]]  # part -> (uint8 images, labels)
    classes: tuple[str, ...]
    notes: tuple[str, ...]
    skipped: tuple[str, ...]


@functools.lru_cache(maxsize=2)
def _read_parts(root: str, fingerprint: str, size: int) -> _FolderPixels:
    """Pixels of every part of a folder dataset at size x size, read once per process and size
    (the fingerprint is in the key so that a changed folder is read again)."""
    from reportgen.data import folder

    parts = folder.scan(Path(root))
    classes = sorted(parts.get("all") or parts["train"])
    arrays = {}
    total = folder.FolderImages(np.zeros(0), np.zeros(0))
    for part, by_class in parts.items():
        images = folder.read_folder(by_class, classes, size)
        arrays[part] = (images.x, images.y)
        total.skipped += images.skipped
        total.enlarged += images.enlarged
        for mode, n in images.converted.items():
            total.converted[mode] = total.converted.get(mode, 0) + n
    return _FolderPixels(arrays, tuple(classes), tuple(total.notes(size)), tuple(total.skipped))


def _fixed_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per class, a seeded `fraction` (at least one image when the class has two) goes to the second part."""
    first, second = [], []
    for c in np.unique(y):
        idx = np.random.default_rng([seed, int(c)]).permutation(np.flatnonzero(y == c))
        n = min(max(int(round(fraction * len(idx))), 1), len(idx) - 1) if len(idx) > 1 else 0
        second.append(idx[:n])
        first.append(idx[n:])
    return np.concatenate(first), np.concatenate(second)


def _only_classes(pixels: _FolderPixels, keep: Sequence[int]) -> _FolderPixels:
    """The folder's images of the classes `keep` (indices into its classes), relabelled 0..k-1."""
    parts = {}
    for part, (x, y) in pixels.parts.items():
        mask = np.isin(y, keep)
        parts[part] = (x[mask], np.searchsorted(np.asarray(keep), y[mask]).astype(y.dtype))
    return _FolderPixels(parts, tuple(pixels.classes[c] for c in keep), pixels.notes, pixels.skipped)


def folder_split(
    info: DatasetInfo, *, size: int, seed: int, pixels: _FolderPixels | None = None,
    stats: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[Splits, str, list[str]]:  # fmt: skip
    """A folder dataset as the target task, read at `size` pixels: (splits, description, notes).

    train/ val/ test/ are used as they are; a missing val/ is 20% of each class of train/
    (seeded); an unsplit folder gives 20% of each class to test (fixed) and then 20% of the
    rest to validation. Every training image is kept, each class's in a seeded order and the
    classes interleaved, so `with_shots` takes the first k of each. `pixels` (some of the
    folder's classes) and `stats` (mean and std to normalise with) serve the folder's class split.
    """
    pixels = pixels or _read_parts(info.location, info.fingerprint, size)
    classes = list(pixels.classes)
    if "all" in pixels.parts:
        x, y = pixels.parts["all"]
        rest, test = _fixed_split(y, 0.2, TEST_SUBSET_SEED)
        train, val = _fixed_split(y[rest], 0.2, seed)
        parts = {
            "train": (x[rest][train], y[rest][train]),
            "val": (x[rest][val], y[rest][val]),
            "test": (x[test], y[test]),
        }
        how = "an unsplit folder: 20% of each class held out for testing, 20% of the rest for validation"
    elif "val" in pixels.parts:
        parts = dict(pixels.parts)
        how = "the folder's own train/, val/ and test/"
    else:
        parts = dict(pixels.parts)
        x, y = parts["train"]
        train, val = _fixed_split(y, 0.2, seed)
        parts["train"], parts["val"] = (x[train], y[train]), (x[val], y[val])
        how = "the folder's own train/ and test/ (validation: 20% of each class of train/)"
    x, y = parts["train"]
    order = _per_class_order(y, range(len(classes)), seed)
    longest = max(len(v) for v in order.values())
    train_idx = np.array([order[c][i] for i in range(longest) for c in order if i < len(order[c])], dtype=np.int64)
    if not len(parts["val"][1]) or not len(parts["test"][1]):
        raise ReportgenError(
            f"image folder {info.location} is too small to hold out validation and test images",
            "add images (at least 3 per class), or split it into train/, val/ and test/ yourself",
            2,
        )
    train_x = x[train_idx]
    mean, std = stats if stats is not None else _stats(train_x)
    splits = Splits(
        train=Split(_normalised(train_x, mean, std), torch.from_numpy(y[train_idx]).long()),
        val=Split(_normalised(parts["val"][0], mean, std), torch.from_numpy(parts["val"][1]).long()),
        test=Split(_normalised(parts["test"][0], mean, std), torch.from_numpy(parts["test"][1]).long()),
        classes=classes,
        mean=mean.tolist(),
        std=std.tolist(),
        skipped=list(pixels.skipped),
    )
    counts = np.bincount(splits.train.y.numpy(), minlength=len(classes))
    description = (
        f"Target task: {info.display}, {len(classes)} classes ({_class_list(classes)}), from {how}: "
        f"{len(splits.train):,} training images ({_range(int(counts.min()), int(counts.max()))} per class), "
        f"{len(splits.val):,} validation and {len(splits.test):,} test images, read as RGB at {size}×{size} pixels."
    )
    return splits, description, list(pixels.notes)


def embedded_source_info() -> DatasetInfo:
    """The built-in dataset a folder target's source task comes from: Fashion-MNIST if installed, else digits."""
    if (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").exists() or (
        DEBIAN_FASHION / "train-images-idx3-ubyte"
    ).exists():
        return resolve_dataset("fashion-mnist", fallback="digits")
    return resolve_dataset("digits")


# Where the own model's pre-training (the source task) comes from (reportgen.params.TRANSFER_SOURCES):
# `auto` is the dataset's own class split (a folder's too, when it has at least 4 classes);
# `embedded` the built-in dataset's source classes with the whole folder as the target; `folder`
# the folder's class split, always.


def _folder_class_split(
    info: DatasetInfo, *, size: int, seed: int, source_sizes: tuple[int, int, int],
) -> TransferData:  # fmt: skip
    """A folder split by class, as the embedded dataset is: the first half of its classes (in
    name order) are the source task, the rest the target task, which the source model never saw.
    Both are normalised with the source's training images' statistics."""
    pixels = _read_parts(info.location, info.fingerprint, size)
    n = len(pixels.classes)
    first, last = list(range(n // 2)), list(range(n // 2, n))
    source_pixels = _only_classes(pixels, first)
    x = np.concatenate([px for px, _ in source_pixels.parts.values()])
    y = np.concatenate([py for _, py in source_pixels.parts.values()])
    rest, test = _fixed_split(y, 0.2, TEST_SUBSET_SEED)
    train, val = _fixed_split(y[rest], 0.2, seed)
    train_size, val_size, test_size = source_sizes
    train, val, test = rest[train][:train_size], rest[val][:val_size], test[:test_size]
    mean, std = _stats(x[train] if len(train) else x[rest])
    source = Splits(
        train=Split(_normalised(x[train], mean, std), torch.from_numpy(y[train]).long()),
        val=Split(_normalised(x[val], mean, std), torch.from_numpy(y[val]).long()),
        test=Split(_normalised(x[test], mean, std), torch.from_numpy(y[test]).long()),
        classes=list(source_pixels.classes), mean=mean.tolist(), std=std.tolist(),
    )  # fmt: skip
    target, description, notes = folder_split(info, size=size, seed=seed, pixels=_only_classes(pixels, last),
                                              stats=(mean, std))  # fmt: skip
    images = f", {len(source.train):,} training images" if len(source.train) else ""
    description = (
        f"{info.display} split by class. Source task (the own model's pre-training): {_class_list(source.classes)}"
        f"{images}. {description.replace('Target task:', 'Target task, classes the source model never saw:', 1)}"
    )
    return TransferData(source, target, 0, description, notes, info.display)


def transfer_data(
    info: DatasetInfo,
    *,
    shots: int,
    max_shots: int,
    val_per_class: int,
    test_per_class: int,
    seed: int,
    source_sizes: tuple[int, int, int] = (0, 0, 0),
    folder_size: int | None = None,
    source: str = "auto",
) -> TransferData:
    """The source and target tasks for `info`: the embedded few-shot split, or a folder target.

    Args:
        shots: training images per class of the main comparison (a folder target uses all of its own).
        max_shots: training images per class kept for the accuracy-against-shots curve.
        source_sizes: training, validation and test images of the source task (0: not needed).
        folder_size: pixels a folder target is read at; the dataset's image_size when None.
        source: where the source task comes from: auto, embedded or folder (see above).

    Raises:
        ReportgenError: `source = "folder"` for data that is not a folder, or a folder of fewer
            than 4 classes.
    """
    if info.name != "folder":
        if source == "folder":
            raise ReportgenError(f"source = \"folder\" splits an image folder's classes, and the data is {info.display}",
                                 "use source = \"auto\" (the dataset's own class split), or a folder dataset", 2)  # fmt: skip
        return embedded_split(info, shots=shots, max_shots=max_shots, val_per_class=val_per_class,
                              test_per_class=test_per_class, seed=seed, source_sizes=source_sizes)  # fmt: skip
    size = folder_size or info.image_size
    notes: list[str] = []
    if source != "embedded":
        own_classes = len(_read_parts(info.location, info.fingerprint, size).classes)
        if own_classes >= 4:
            return _folder_class_split(info, size=size, seed=seed, source_sizes=source_sizes)
        if source == "folder":
            raise ReportgenError(f"{info.display} has {own_classes} classes: a split by class needs at least 4",
                                 "use source = \"embedded\" (the built-in dataset's classes as the source task)", 2)  # fmt: skip
        notes.append(f"The folder has {own_classes} classes, too few to split by class: the own model pre-trains "
                     "on the built-in dataset's classes instead.")  # fmt: skip
    source_info = embedded_source_info()
    raw = cached_arrays(source_info)
    classes = split_classes(raw)[0]
    mean, std = _source_stats(raw, classes)
    train_size, val_size, test_size = source_sizes
    pretraining = _source_task(raw, classes, train_size=train_size, val_size=val_size, test_size=test_size,
                               seed=seed, mean=mean, std=std)  # fmt: skip
    target, description, folder_notes = folder_split(info, size=size, seed=seed)
    images = f", {len(pretraining.train):,} training images" if len(pretraining.train) else ""
    description = (
        f"Source task (the own model's pre-training): {source_info.display}, {_class_list(pretraining.classes)}{images}, "
        f"converted to the target's format. {description}"
    )
    return TransferData(pretraining, target, 0, description, [*folder_notes, *notes], info.display)

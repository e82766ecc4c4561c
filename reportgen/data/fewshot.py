"""Data for transfer learning: a source task to pre-train on and a small target task to transfer to.

The embedded default splits one dataset's classes in two (Fashion-MNIST: T-shirt/top, Trouser,
Pullover, Dress and Coat are the source task; Sandal, Shirt, Sneaker, Bag and Ankle boot the
target task), so that a model pre-trained on the source never saw a target class. The target
task has few training images per class. A user's `folder:PATH` dataset is split by class the
same way, or is the target with the embedded dataset as the source (`reportgen.data.transfer`).

Everything is held as normalised tensors in `Splits` (as `reportgen.data.splits` does), and
`convert` turns a batch into another network's input format (3 channels at its input size with
its mean and std) on the fly, so the large copies never exist all at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from reportgen.data.sources import DatasetInfo, RawData
from reportgen.data.splits import TEST_SUBSET_SEED, Split, Splits, cached_arrays
from reportgen.errors import ReportgenError


@dataclass(frozen=True)
class InputFormat:
    """What a network takes: channels, a square side in pixels, and per-channel mean and std."""

    channels: int
    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass
class TransferData:
    """A source task and a target task, with a sentence that states the split exactly.

    Attributes:
        source: the pre-training task (train / val / test), labels 0..k-1 over `source.classes`.
        target: the target task; `target.train` holds `max_shots` images per class, each class's
            images in a seeded order, so `with_shots(target, k)` takes the first k of each
            (nested: the 5-image set is part of the 20-image set).
        shots: training images per class of the main comparison; 0 means all (a folder target).
        description: what the report says about the split.
        notes: what had to be done to a folder's files (skipped, enlarged, converted).
        target_name: the target dataset as a reader knows it.
    """

    source: Splits
    target: Splits
    shots: int
    description: str
    notes: list[str]
    target_name: str

    def main_target(self) -> Splits:
        """The target task of the main comparison: `shots` images per class (all when 0)."""
        return with_shots(self.target, self.shots) if self.shots else self.target

    @property
    def target_format(self) -> InputFormat:
        """The target images' own format (what the from-scratch CNN trains on)."""
        c, h, _ = self.target.image_shape
        return InputFormat(c, h, tuple(self.target.mean), tuple(self.target.std))


def per_class_indices(y: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the first k labels of each class, in stored order (a class with fewer gives all it has)."""
    return torch.cat([torch.nonzero(y == c).flatten()[:k] for c in torch.unique(y)]).sort().values


def draw_per_class(y: torch.Tensor, k: int, seed: Sequence[int] | int) -> torch.Tensor:
    """Indices of k labels of each class drawn at random (seeded; all of a class that has fewer), sorted.

    Repeated draws from one training pool give the spread of a few-shot result: which k images
    a class gets matters as much as the method when k is 5.
    """
    rng = np.random.default_rng(seed)
    labels = y.numpy()
    keep = [rng.permutation(np.flatnonzero(labels == c))[:k] for c in np.unique(labels)]
    return torch.from_numpy(np.sort(np.concatenate(keep))).long()


def take_per_class(split: Split, k: int) -> Split:
    """The first k images of each class, in their stored order (a class with fewer gives all it has)."""
    keep = per_class_indices(split.y, k)
    return Split(split.x[keep], split.y[keep])


def with_shots(data: Splits, k: int) -> Splits:
    """The same target task with only k training images per class (validation and test unchanged)."""
    return Splits(take_per_class(data.train, k), data.val, data.test, data.classes, data.mean, data.std, data.skipped)


def convert(x: torch.Tensor, source: InputFormat, target: InputFormat) -> torch.Tensor:
    """A batch in `source`'s normalisation -> `target`'s channels, size and normalisation.

    Grey becomes RGB by repeating the channel, RGB becomes grey by the ITU-R 601 luma weights;
    resizing is bilinear, antialiased when shrinking.
    """
    mean = torch.tensor(source.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(source.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    x = (x * std + mean).clamp_(0.0, 1.0)
    if x.shape[-1] != target.size or x.shape[-2] != target.size:
        shrink = x.shape[-1] > target.size
        x = F.interpolate(x, size=(target.size, target.size), mode="bilinear", align_corners=False, antialias=shrink)
    if x.shape[1] == 1 and target.channels == 3:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] == 3 and target.channels == 1:
        x = (x * torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)).sum(
            1, keepdim=True
        )
    mean = torch.tensor(target.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(target.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return ((x - mean) / std).contiguous()


def converted_batches(
    x: torch.Tensor, source: InputFormat, target: InputFormat, batch_size: int = 256
) -> Iterator[torch.Tensor]:
    """`convert` over a large tensor a batch at a time (a 128-pixel RGB copy of 10,000 images is 2 GB)."""
    for start in range(0, len(x), batch_size):
        yield convert(x[start : start + batch_size], source, target)


def convert_splits(data: Splits, target: InputFormat) -> Splits:
    """Every split converted to `target` (for small sets, such as the source task at the CNN's size)."""
    source = InputFormat(data.image_shape[0], data.image_shape[1], tuple(data.mean), tuple(data.std))

    def one(split: Split) -> Split:
        return Split(torch.cat(list(converted_batches(split.x, source, target))) if len(split) else split.x, split.y)

    return Splits(
        one(data.train), one(data.val), one(data.test), data.classes, list(target.mean), list(target.std), data.skipped
    )


# --- the embedded default ------------------------------------------------------------------


def _per_class_order(labels: np.ndarray, classes: Sequence[int], seed: int) -> dict[int, np.ndarray]:
    """Indices of each class's images in a seeded order (one generator per class: adding a class
    never reorders another)."""
    return {c: np.random.default_rng([seed, c]).permutation(np.flatnonzero(labels == c)) for c in classes}


def _normalised(x: np.ndarray, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    t = torch.from_numpy(x).float().div_(255.0)
    return ((t - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)).contiguous()


def _stats(x: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.from_numpy(x).float().div_(255.0)
    return t.mean(dim=(0, 2, 3)), t.std(dim=(0, 2, 3)).clamp_min(1e-6)


def _relabel(y: np.ndarray, classes: Sequence[int]) -> torch.Tensor:
    lookup = {c: i for i, c in enumerate(classes)}
    return torch.tensor([lookup[int(v)] for v in y], dtype=torch.int64)


def _range(low: int, high: int) -> str:
    return f"{low}" if low == high else f"{low}–{high}"


def _class_list(names: Sequence[str]) -> str:
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)


def _source_stats(raw: RawData, classes: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of every training image of the source classes: fixed whatever the seed or sizes."""
    return _stats(raw.train_x[np.isin(raw.train_y, classes)])


def _source_task(
    raw: RawData, classes: list[int], *, train_size: int, val_size: int, test_size: int, seed: int,
    mean: torch.Tensor, std: torch.Tensor,
) -> Splits:  # fmt: skip
    """The source classes' images: seeded train and validation subsets, a fixed test subset."""
    pool = np.flatnonzero(np.isin(raw.train_y, classes))
    pool = pool[np.random.default_rng(seed).permutation(len(pool))]
    val_idx, train_idx = pool[:val_size], pool[val_size : val_size + train_size]
    test_pool = np.flatnonzero(np.isin(raw.test_y, classes))
    test_idx = test_pool[np.random.default_rng(TEST_SUBSET_SEED).permutation(len(test_pool))][:test_size]
    return Splits(
        train=Split(_normalised(raw.train_x[train_idx], mean, std), _relabel(raw.train_y[train_idx], classes)),
        val=Split(_normalised(raw.train_x[val_idx], mean, std), _relabel(raw.train_y[val_idx], classes)),
        test=Split(_normalised(raw.test_x[test_idx], mean, std), _relabel(raw.test_y[test_idx], classes)),
        classes=[raw.classes[c] for c in classes],
        mean=mean.tolist(),
        std=std.tolist(),
    )


def split_classes(raw: RawData) -> tuple[list[int], list[int]]:
    """Source and target class indices: the first half of the classes and the rest."""
    n = len(raw.classes)
    if n < 4:
        raise ReportgenError(f"a transfer split needs at least 4 classes, the dataset has {n}")
    return list(range(n // 2)), list(range(n // 2, n))


def embedded_split(
    info: DatasetInfo,
    *,
    shots: int,
    max_shots: int,
    val_per_class: int,
    test_per_class: int,
    seed: int,
    source_sizes: tuple[int, int, int] = (0, 0, 0),
) -> TransferData:
    """The few-shot split of a built-in dataset (Fashion-MNIST, or digits when it is missing).

    Per target class, in a seeded order: the first `val_per_class` training images are the
    validation set and the next `max_shots` the training pool (so validation never depends on
    the number of shots); the test set is the first `test_per_class` of the class in the
    test set (fixed, whatever the seed). Everything is normalised with the statistics
    of all the source classes' training images, so a model pre-trained on the source sees
    target images on the scale it learned. `source_sizes` (train, val, test) sizes the source
    task (empty splits at 0: only the pre-training needs it).

    Raises:
        ReportgenError: a target class has too few images for `max_shots`.
    """
    raw = cached_arrays(info)
    source_classes, target_classes = split_classes(raw)
    mean, std = _source_stats(raw, source_classes)
    train_size, val_size, test_size = source_sizes
    source = _source_task(raw, source_classes, train_size=train_size, val_size=val_size, test_size=test_size,
                          seed=seed, mean=mean, std=std)  # fmt: skip
    train_order = _per_class_order(raw.train_y, target_classes, seed)
    test_order = _per_class_order(raw.test_y, target_classes, TEST_SUBSET_SEED)
    fewest = min(len(v) for v in train_order.values())
    n_val = min(val_per_class, fewest // 2)
    if max_shots > fewest - n_val:
        raise ReportgenError(
            f"{info.display}: at most {fewest - n_val} training images per target class are left after "
            f"{n_val} for validation; {max_shots} were asked for",
            "lower shots / shots_curve (or val_per_class) in [experiments.t4-*]",
            2,
        )
    n_test = min(test_per_class, min(len(v) for v in test_order.values()))
    # Classes interleaved (image i of every class, then i + 1): any prefix is balanced.
    val_idx = np.stack([train_order[c][:n_val] for c in target_classes], 1).ravel()
    train_idx = np.stack([train_order[c][n_val : n_val + max_shots] for c in target_classes], 1).ravel()
    test_idx = np.stack([test_order[c][:n_test] for c in target_classes], 1).ravel()
    target = Splits(
        train=Split(_normalised(raw.train_x[train_idx], mean, std), _relabel(raw.train_y[train_idx], target_classes)),
        val=Split(_normalised(raw.train_x[val_idx], mean, std), _relabel(raw.train_y[val_idx], target_classes)),
        test=Split(_normalised(raw.test_x[test_idx], mean, std), _relabel(raw.test_y[test_idx], target_classes)),
        classes=[raw.classes[c] for c in target_classes],
        mean=mean.tolist(),
        std=std.tolist(),
    )
    side = raw.train_x.shape[-1]
    first, last = source_classes, target_classes
    pretrain = (
        f", {len(source.train):,} training and {len(source.val):,} validation images" if len(source.train) else ""
    )
    description = (
        f"{info.display} split by class. Source task: {_class_list(source.classes)} (classes {first[0]}–{first[-1]}){pretrain}. "
        f"Target task: {_class_list(target.classes)} (classes {last[0]}–{last[-1]}), which the source model never saw: "
        f"{shots} training images per class ({shots * len(last):,} in all), {n_val} validation images per class "
        f"from the other training images and {n_test} test images per class from the test set "
        f"({n_test * len(last):,} in all); {side}×{side} greyscale."
    )
    return TransferData(source, target, shots, description, [], info.display)

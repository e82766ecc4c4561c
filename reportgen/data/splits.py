"""Deterministic train / validation / test splits held as normalised tensors in memory."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from reportgen.data.sources import DatasetInfo, RawData, load_arrays

TEST_SUBSET_SEED = 0  # the test subset stays put whatever the experiment seed


@dataclass
class Split:
    """Images (N, C, H, W) float32, normalised with the training split's statistics; labels int64."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Splits:
    train: Split
    val: Split
    test: Split
    classes: list[str]
    mean: list[float]
    std: list[float]
    skipped: list[str] = field(default_factory=list)  # unreadable files of a folder dataset

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.x.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@functools.lru_cache(maxsize=2)
def cached_arrays(info: DatasetInfo) -> RawData:
    """Pixels of a dataset, read once per process."""
    return load_arrays(info)


def _to_float(x: torch.Tensor, size: int | None) -> torch.Tensor:
    x = x.float().div_(255.0)
    if size is not None and x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x


def make_splits(
    info: DatasetInfo,
    *,
    train_size: int,
    val_size: int,
    test_size: int,
    seed: int,
    image_size: int | None = None,
) -> Splits:
    """Draws disjoint train and validation subsets from the training pool (seeded) and a test subset.

    Sizes larger than what the dataset has are clipped; validation is taken first so that a
    larger train_size never changes the validation set.
    """
    raw = cached_arrays(info)
    pool = torch.randperm(len(raw.train_y), generator=torch.Generator().manual_seed(seed))
    val_size = min(val_size, len(pool) // 5)
    val_idx = pool[:val_size]
    train_idx = pool[val_size : val_size + train_size]
    test_order = torch.randperm(len(raw.test_y), generator=torch.Generator().manual_seed(TEST_SUBSET_SEED))
    test_idx = test_order[:test_size]

    train_x = torch.from_numpy(raw.train_x)
    train_y = torch.from_numpy(raw.train_y)
    test_x = torch.from_numpy(raw.test_x)
    test_y = torch.from_numpy(raw.test_y)
    tx = _to_float(train_x[train_idx], image_size)
    mean = tx.mean(dim=(0, 2, 3))
    std = tx.std(dim=(0, 2, 3)).clamp_min(1e-6)

    def norm(x: torch.Tensor) -> torch.Tensor:
        return ((x - mean[:, None, None]) / std[:, None, None]).contiguous()

    return Splits(
        train=Split(norm(tx), train_y[train_idx].clone()),
        val=Split(norm(_to_float(train_x[val_idx], image_size)), train_y[val_idx].clone()),
        test=Split(norm(_to_float(test_x[test_idx], image_size)), test_y[test_idx].clone()),
        classes=list(raw.classes),
        mean=mean.tolist(),
        std=std.tolist(),
        skipped=list(raw.skipped),
    )

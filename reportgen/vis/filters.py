"""First-layer filter weights as picture tiles: one tile per filter, RGB filters in colour."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class FilterGrid:
    """Tiles of one conv layer's filters, ready for an ImageGrid.

    Attributes:
        tiles: one (k, k) array per filter (single input channel, raw weights) or one (k, k, 3)
            RGB picture in [0, 1] (three input channels; grey is zero, each filter scaled by its
            own largest weight so that small filters stay visible).
        rgb: whether the tiles are colour pictures.
        limit: largest absolute weight of the layer: a shared, symmetric range for grey tiles.
        columns: a near-square layout.
        norms: L2 norm of each filter (to rank or caption them).
    """

    tiles: list[np.ndarray]
    rgb: bool
    limit: float
    columns: int
    norms: list[float]


def filter_grid(weights: np.ndarray, columns: int | None = None) -> FilterGrid:
    """(out, in, k, k) conv weights -> one tile per output filter.

    Filters with three input channels become RGB pictures; with one input channel the raw
    weights (drawn with a diverging colour map); with any other number, the mean over the
    input channels (what the filter responds to on average).
    """
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim != 4:
        raise ValueError(f"expected conv weights (out, in, k, k), got shape {w.shape}")
    out, channels = w.shape[:2]
    rgb = channels == 3
    tiles: list[np.ndarray] = []
    for f in w:
        if rgb:
            scale = float(np.abs(f).max()) or 1.0
            tiles.append(np.transpose(f, (1, 2, 0)) / (2 * scale) + 0.5)
        else:
            tiles.append(f.mean(axis=0))
    return FilterGrid(
        tiles=tiles,
        rgb=rgb,
        limit=float(np.abs(w).max()),
        columns=columns or math.ceil(math.sqrt(out)),
        norms=[float(np.linalg.norm(f)) for f in w],
    )


def weight_change(first: np.ndarray, last: np.ndarray) -> dict[str, float]:
    """How far a layer's weights moved between two snapshots.

    Returns:
        relative: ||last - first|| / ||first||.
        correlation: mean Pearson correlation between each filter's two versions (1: same shape).
    """
    a, b = np.asarray(first, dtype=np.float64), np.asarray(last, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"snapshots differ in shape: {a.shape} and {b.shape}")
    relative = float(np.linalg.norm(b - a) / (np.linalg.norm(a) or 1.0))
    fa, fb = a.reshape(len(a), -1), b.reshape(len(b), -1)
    fa = fa - fa.mean(1, keepdims=True)
    fb = fb - fb.mean(1, keepdims=True)
    denom = np.linalg.norm(fa, axis=1) * np.linalg.norm(fb, axis=1)
    corr = np.where(denom > 0, (fa * fb).sum(1) / np.where(denom > 0, denom, 1), 1.0)
    return {"relative": relative, "correlation": float(corr.mean())}

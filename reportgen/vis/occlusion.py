"""Local classification: a class's probability under a sliding occluding patch, and over crops."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reportgen.nn.hooks import preserved_modes


@dataclass
class ProbabilityMap:
    """A class's probability over positions in an image.

    Attributes:
        values: (rows, cols): for occlusion, the drop in probability when the patch covers
            that position (large where the evidence is); for crops, the probability of the crop.
        base: the class's probability for the whole, unoccluded image.
        target: the class index.
        boxes: (top, left, height, width) in input pixels of each cell, row by row.
    """

    values: np.ndarray
    base: float
    target: int
    boxes: list[tuple[int, int, int, int]]

    def peak(self) -> tuple[int, int]:
        """(row, column) of the cell with the largest value."""
        return tuple(int(i) for i in np.unravel_index(int(np.argmax(self.values)), self.values.shape))  # type: ignore[return-value]

    def peak_box(self) -> tuple[int, int, int, int]:
        cols = self.values.shape[1]
        r, c = self.peak()
        return self.boxes[r * cols + c]


def _positions(extent: int, window: int, stride: int) -> list[int]:
    last = max(extent - window, 0)
    starts = list(range(0, last + 1, stride))
    if starts[-1] != last:
        starts.append(last)  # the last window touches the border
    return starts


def _probabilities(model: nn.Module, batches: list[Tensor], target: int) -> np.ndarray:
    with preserved_modes(model, train=False), torch.inference_mode():
        return torch.cat([model(b).softmax(1)[:, target] for b in batches]).cpu().numpy()


def occlusion_map(
    model: nn.Module,
    x: Tensor,
    target: int | None = None,
    *,
    patch: int = 32,
    stride: int = 16,
    fill: float = 0.0,
    batch_size: int = 32,
) -> ProbabilityMap:
    """Zeiler & Fergus (2014): slides a `patch`-pixel square of value `fill` (0 is the mean
    colour of normalised inputs) over one image (1, C, H, W) and records the class's drop in
    probability at each position. The top-1 class by default."""
    if x.shape[0] != 1:
        raise ValueError("occlusion_map takes one image (a batch of 1)")
    with preserved_modes(model, train=False), torch.inference_mode():
        probs = model(x).softmax(1)[0]
    index = int(probs.argmax()) if target is None else int(target)
    h, w = x.shape[-2:]
    tops, lefts = _positions(h, patch, stride), _positions(w, patch, stride)
    boxes = [(t, l, min(patch, h), min(patch, w)) for t in tops for l in lefts]
    occluded = []
    for t, l, ph, pw in boxes:
        y = x.clone()
        y[..., t : t + ph, l : l + pw] = fill
        occluded.append(y)
    stacked = torch.cat(occluded)
    batches = list(stacked.split(batch_size))
    p = _probabilities(model, batches, index)
    base = float(probs[index])
    return ProbabilityMap(values=(base - p).reshape(len(tops), len(lefts)), base=base, target=index, boxes=boxes)


def crop_map(
    model: nn.Module,
    image: Tensor,
    target: int,
    *,
    window: float = 0.5,
    steps: int = 3,
    size: int = 224,
    mean: tuple[float, ...] = (0.0, 0.0, 0.0),
    std: tuple[float, ...] = (1.0, 1.0, 1.0),
) -> ProbabilityMap:
    """Classifies `steps` x `steps` overlapping square crops of side `window` times the shorter
    side of `image` (1, 3, H, W) in [0, 1], each resized to `size`; returns the class's
    probability per crop (base: the whole image resized)."""
    h, w = image.shape[-2:]
    side = max(1, round(min(h, w) * window))
    tops = np.linspace(0, h - side, steps).round().astype(int).tolist()
    lefts = np.linspace(0, w - side, steps).round().astype(int).tolist()
    m = torch.tensor(mean, device=image.device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=image.device).view(1, -1, 1, 1)

    def prepare(crop: Tensor) -> Tensor:
        resized = F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        return (resized - m) / s

    boxes = [(t, l, side, side) for t in tops for l in lefts]
    crops = torch.cat([prepare(image[..., t : t + side, l : l + side]) for t, l, _, _ in boxes])
    p = _probabilities(model, list(crops.split(16)), target)
    base = float(_probabilities(model, [prepare(image)], target)[0])
    return ProbabilityMap(values=p.reshape(len(tops), len(lefts)), base=base, target=target, boxes=boxes)

"""Measures of a style transfer that do not grade themselves: the style distance at layers the
optimisation did not use (held-out layers), the colour distance to the style image in pixel
space, and the content distance, all on raw features (no smoothing), so that runs with and
without activation smoothing, or with different style layers, are measured alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from reportgen.vis.pixels import Normalise, device_of, frozen
from reportgen.vis.style import gram_matrix, layer_features, to_image, to_tensor


def relative_gram_distance(features: torch.Tensor, target: torch.Tensor) -> float:
    """||G(features) - G(target)||^2 / ||G(target)||^2: the style loss of one layer, unweighted."""
    gram, goal = gram_matrix(features), gram_matrix(target)
    return float((gram - goal).pow(2).sum() / goal.pow(2).sum().clamp_min(1e-12))


def relative_feature_distance(features: torch.Tensor, target: torch.Tensor) -> float:
    """||features - target||^2 / ||target||^2: the content loss, unweighted."""
    return float((features - target).pow(2).sum() / target.pow(2).sum().clamp_min(1e-12))


def sliced_wasserstein(
    image: Any, reference: Any, directions: int | np.ndarray = 64, *, seed: int = 0, levels: int = 256
) -> float:
    """Sliced Wasserstein-1 distance between the RGB pixel distributions of two images.

    Each pixel is a point in the RGB cube; both point clouds are projected onto unit
    `directions` (a count of seeded random ones, or a (k, 3) array), and the 1-D Wasserstein
    distance of each projection (the mean gap between the two quantile functions, read at
    `levels` evenly spaced levels) is averaged. In the images' units: 0.1 is a tenth of the
    range. Images of different sizes compare as distributions.
    """
    a = to_image(to_tensor(image)).reshape(-1, 3).astype(np.float64)
    b = to_image(to_tensor(reference)).reshape(-1, 3).astype(np.float64)
    if isinstance(directions, int):
        dirs = np.random.default_rng(seed).normal(size=(directions, 3))
    else:
        dirs = np.asarray(directions, dtype=np.float64).reshape(-1, 3)
    dirs = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
    q = (np.arange(levels) + 0.5) / levels
    qa = np.quantile(a @ dirs.T, q, axis=0)  # (levels, k)
    qb = np.quantile(b @ dirs.T, q, axis=0)
    return float(np.abs(qa - qb).mean())


def transfer_scores(
    model: nn.Module,
    image: Any,
    content: Any,
    style: Any,
    *,
    content_layer: str,
    held_out: Sequence[str],
    mean: Sequence[float] = (0.0, 0.0, 0.0),
    std: Sequence[float] = (1.0, 1.0, 1.0),
) -> dict[str, float]:
    """How far a stylised image is from its photo and from its style, measured on raw features.

    "content": the content layer's relative squared error to the photo (no smoothing, so runs
    with and without it are measured alike); "held-out style": the relative Gram distance to
    the style image averaged over `held_out` layers, which the optimisation should not use;
    "colour": the sliced Wasserstein distance of the RGB pixels to the style image's.
    """
    device = device_of(model)
    norm = Normalise(mean, std).to(device)
    layers = [content_layer, *held_out]
    with frozen(model):
        feats = {
            name: layer_features(model, layers, to_tensor(x).to(device), norm, grad=False)
            for name, x in (("image", image), ("content", content), ("style", style))
        }
    held = [relative_gram_distance(feats["image"][n], feats["style"][n]) for n in held_out]
    return {
        "content": relative_feature_distance(
            feats["image"][content_layer], feats["content"][content_layer]
        ),
        "held-out style": float(np.mean(held)) if held else float("nan"),
        "colour": sliced_wasserstein(image, style),
    }

"""Deep dream (Mordvintsev et al. 2015): gradient ascent on the pixels to make one layer's
activations as large as possible, so the image grows the patterns that layer responds to.

The refinements of the usual recipe, each a setting so that the experiments can compare them:
an image pyramid (octaves: small scales first, the detail carried up to larger ones), random
jitter (a roll of the image before each step, undone afterwards, against grid artefacts),
gradient normalisation (a fixed step size whatever the layer's scale), Gaussian smoothing of
the gradient and a total-variation (continuity) term against pixel noise.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reportgen.nn.hooks import Recorder
from reportgen.vis.pixels import Normalise, device_of, frozen, jitter_offsets, pyramid_sizes, squared_variation
from reportgen.vis.style import to_image, to_tensor

# Below this an octave's image is too small for most networks' strides to leave any map.
MIN_SIZE = 16


@dataclass(frozen=True)
class DreamSettings:
    """What a deep dream run maximises, and how.

    Attributes:
        layer: the layer whose activation norm is maximised (a name for get_submodule).
        octaves: pyramid levels; 1 works on the image's own size only.
        octave_scale: size ratio between neighbouring levels.
        steps: gradient steps per octave.
        lr: step size in pixel units: the mean absolute change of a pixel per step.
        jitter: largest random roll in pixels before each step (0: none).
        smoothing: standard deviation in pixels of the Gaussian blur of the gradient (0: none).
        tv_weight: weight of the total-variation gradient relative to the activation's (both
            normalised), so 0.5 means half as strong; 0 switches it off.
        seed: seeds the jitter.
    """

    layer: str
    octaves: int = 3
    octave_scale: float = 1.4
    steps: int = 10
    lr: float = 0.01
    jitter: int = 8
    smoothing: float = 0.5
    tv_weight: float = 0.0
    seed: int = 0


@dataclass
class DreamResult:
    """The dreamed image and how the layer's activation grew.

    Attributes:
        image: (H, W, 3) float32 in [0, 1], the size of the input.
        norms: root-mean-square activation of the layer at each step (all octaves in order),
            measured before that step's update; comparable across image sizes.
        octave_sizes: (height, width) of each pyramid level, smallest first.
        octave_images: the image at the end of each octave, smallest first.
        seconds_per_step: mean wall time of one step.
    """

    image: np.ndarray
    norms: list[float] = field(default_factory=list)
    octave_sizes: list[tuple[int, int]] = field(default_factory=list)
    octave_images: list[np.ndarray] = field(default_factory=list)
    seconds_per_step: float = 0.0


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable per-channel Gaussian blur with reflected borders; sigma in pixels."""
    if sigma <= 0:
        return image
    radius = max(1, math.ceil(2.5 * sigma))
    radius = min(radius, image.shape[-1] - 1, image.shape[-2] - 1)  # reflect padding limit
    x = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = image.shape[1]
    padded = F.pad(image, (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(padded, kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def _resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(image.shape[-2:]) == size:
        return image
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)


def dream(
    model: nn.Module,
    image: Any,
    settings: DreamSettings,
    *,
    mean: Sequence[float] = (0.0, 0.0, 0.0),
    std: Sequence[float] = (1.0, 1.0, 1.0),
    progress: Any = None,
) -> DreamResult:
    """Dreams `image` at `settings.layer`: gradient ascent on that layer's activation norm.

    Args:
        model: the network; put in eval mode with its parameters frozen (restored afterwards).
            The work runs on the model's device.
        image: (H, W, 3) in [0, 1] or uint8.
        settings: layer, octaves, steps, step size, jitter, smoothing and TV weight.
        mean, std: the per-channel normalisation the network expects.
        progress: optional reporter with start(description, total), advance() and done().

    Returns:
        The image, the activation norm at every step and the image at the end of each octave.
    """
    if settings.octaves < 1 or settings.steps < 0:
        raise ValueError("a dream needs at least one octave and a non-negative number of steps")
    device = device_of(model)
    norm = Normalise(mean, std).to(device)
    base = to_tensor(image).to(device)
    sizes = pyramid_sizes(base.shape[-2], base.shape[-1], settings.octaves, settings.octave_scale, MIN_SIZE)
    gen = torch.Generator().manual_seed(settings.seed)
    result = DreamResult(image=to_image(base), octave_sizes=sizes)
    total_steps = settings.steps * len(sizes)
    if progress is not None:
        progress.start("deep dream", total_steps)
    started = time.perf_counter()
    detail = torch.zeros(1, 3, *sizes[0], device=device)
    try:
        with frozen(model), Recorder(model, [settings.layer], detach=False) as rec:
            for size in sizes:
                octave_base = _resize(base, size)
                # The detail dreamed at the smaller scale, carried up; the base keeps it sharp
                x = (octave_base + _resize(detail, size)).clamp(0, 1)
                for _ in range(settings.steps):
                    x = _step(model, rec, norm, x, settings, gen, result.norms)
                    if progress is not None:
                        progress.advance()
                detail = x - octave_base
                result.octave_images.append(to_image(x))
    finally:
        if progress is not None:
            progress.done()
    result.image = to_image(x)
    result.seconds_per_step = (time.perf_counter() - started) / max(total_steps, 1)
    return result


def _step(
    model: nn.Module,
    rec: Recorder,
    norm: Normalise,
    x: torch.Tensor,
    settings: DreamSettings,
    gen: torch.Generator,
    norms: list[float],
) -> torch.Tensor:
    """One jittered, normalised, smoothed ascent step; appends the RMS activation to `norms`."""
    dy, dx = jitter_offsets(settings.jitter, gen)
    shifted = torch.roll(x, shifts=(dy, dx), dims=(2, 3)).detach().requires_grad_(True)
    rec.outputs.clear()
    model(norm(shifted))
    activation = rec.outputs[settings.layer]
    energy = activation.pow(2).mean()
    norms.append(float(energy.detach().sqrt()))
    (grad,) = torch.autograd.grad(energy, shifted)
    grad = torch.roll(grad, shifts=(-dy, -dx), dims=(2, 3))
    grad = gaussian_blur(grad, settings.smoothing)
    # Dividing by the mean magnitude makes `lr` the mean pixel change whatever the layer's scale.
    grad = grad / (grad.abs().mean() + 1e-8)
    if settings.tv_weight > 0:
        smooth = x.detach().requires_grad_(True)
        (tv_grad,) = torch.autograd.grad(squared_variation(smooth), smooth)
        grad = grad - settings.tv_weight * tv_grad / (tv_grad.abs().mean() + 1e-8)
    return (x.detach() + settings.lr * grad).clamp(0, 1)

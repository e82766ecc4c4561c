"""Augmentation of whole batches of normalised tensors: no PIL, no per-sample Python."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class AugmentSettings:
    """Each transform is off at its zero value."""

    flip: bool = False  # random horizontal flip, p = 0.5
    translate: int = 0  # pad-and-crop shift of up to this many pixels each way
    rotate: float = 0.0  # random rotation of up to this many degrees each way
    scale: float = 0.0  # random zoom in [1 - scale, 1 + scale]
    noise: float = 0.0  # Gaussian noise, std in normalised units

    @property
    def enabled(self) -> bool:
        return bool(self.flip or self.translate or self.rotate or self.scale or self.noise)

    @classmethod
    def from_params(cls, params: dict) -> AugmentSettings:
        """Reads aug_flip, aug_translate, aug_rotate, aug_scale, aug_noise from experiment params."""
        return cls(**{name: params[f"aug_{name}"] for name in cls.__dataclass_fields__ if f"aug_{name}" in params})


def _uniform(n: int, low: float, high: float, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=gen) * (high - low) + low


def hflip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mirrors a random half of the batch left-right."""
    mask = (torch.rand(len(x), generator=gen) < 0.5).to(x.device)
    return torch.where(mask[:, None, None, None], x.flip(-1), x)


def translate(x: torch.Tensor, pixels: int, gen: torch.Generator, fill: torch.Tensor) -> torch.Tensor:
    """Pads every image by `pixels` (with the black level) and crops it back at a random offset."""
    b, _, h, w = x.shape
    padded = F.pad(x - fill, (pixels,) * 4) + fill
    dy = torch.randint(0, 2 * pixels + 1, (b,), generator=gen).to(x.device)
    dx = torch.randint(0, 2 * pixels + 1, (b,), generator=gen).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (B, H, 1)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]  # (B, 1, W)
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


def affine(x: torch.Tensor, degrees: float, scale: float, gen: torch.Generator, fill: torch.Tensor) -> torch.Tensor:
    """Random rotation and zoom of every image through one grid_sample call."""
    b = len(x)
    angle = _uniform(b, -degrees, degrees, gen) * math.pi / 180
    zoom = 1 / _uniform(b, 1 - scale, 1 + scale, gen)
    cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
    zeros = torch.zeros(b)
    theta = torch.stack([torch.stack([cos, -sin, zeros], 1), torch.stack([sin, cos, zeros], 1)], 1)
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x - fill, grid, align_corners=False, padding_mode="zeros") + fill


def make_augment(settings: AugmentSettings, mean: Sequence[float], std: Sequence[float]) -> Augment | None:
    """A batch transform for the Trainer, or None when every augmentation is off."""
    if not settings.enabled:
        return None
    # The value a black pixel has after normalisation: what padding and rotation fill with.
    black = (-torch.tensor(mean) / torch.tensor(std))[None, :, None, None]

    def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        fill = black.to(x.device, x.dtype)
        if settings.flip:
            x = hflip(x, gen)
        if settings.translate:
            x = translate(x, settings.translate, gen, fill)
        if settings.rotate or settings.scale:
            x = affine(x, settings.rotate, settings.scale, gen, fill)
        if settings.noise:
            x = x + settings.noise * torch.randn(x.shape, generator=gen).to(x.device, x.dtype)
        return x

    return augment

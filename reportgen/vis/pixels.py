"""What every pixel optimiser here shares (activation maximisation, deep dream, style transfer):
a frozen network, the input normalisation, jitter, clamping and the two total-variation
penalties. Each method differs only in the loss it follows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from reportgen.nn.hooks import preserved_modes


@contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and no parameter gradients for the block; both restored afterwards.

    Only the image is optimised; gradients for millions of weights would cost time and memory.
    """
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        with preserved_modes(model, train=False):
            for p, _ in flags:
                p.requires_grad_(False)
            yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def device_of(model: nn.Module) -> torch.device:
    """Where the model's parameters (or buffers) live; CPU for a model with neither."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


class Normalise(nn.Module):
    """(x - mean) / std with per-channel constants, as the network was trained."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer(
            "mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1)
        )
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """What pixels 0 and 1 become: the range a normalised image is kept in."""
        return (0 - self.mean) / self.std, (1 - self.mean) / self.std


def clamp_between(x: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> None:
    """Clamps `x` in place between per-channel bounds (a normalised image's displayable range)."""
    with torch.no_grad():
        x.copy_(torch.maximum(torch.minimum(x, high), low))


def jitter_offsets(jitter: int, gen: torch.Generator) -> tuple[int, int]:
    """A random roll (dy, dx) within ±`jitter` pixels, from a CPU generator (the same on any
    device); (0, 0) without drawing when `jitter` is 0."""
    if jitter <= 0:
        return 0, 0
    dy, dx = torch.randint(-jitter, jitter + 1, (2,), generator=gen).tolist()
    return int(dy), int(dx)


def squared_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels, vertically plus horizontally (a scalar)."""
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    return dy.pow(2).mean() + dx.pow(2).mean()


def absolute_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels, per image (N,)."""
    dh = (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=(1, 2, 3))
    dw = (x[..., :, 1:] - x[..., :, :-1]).abs().mean(dim=(1, 2, 3))
    return dh + dw


def pyramid_sizes(height: int, width: int, octaves: int, scale: float, smallest: int = 16) -> list[tuple[int, int]]:
    """(height, width) of each octave, smallest first, the last being the image's own size; a side
    is never below `smallest` pixels. Working coarse to fine lets an optimiser shape large
    structures first (deep dream, activation maximisation)."""
    sizes = []
    for level in range(octaves - 1, -1, -1):
        factor = scale**level
        sizes.append((max(smallest, round(height / factor)), max(smallest, round(width / factor))))
    return sizes

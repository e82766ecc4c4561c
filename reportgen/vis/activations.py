"""Activation maps of named layers for one input, and the forward pass that stops at a layer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from reportgen.nn.hooks import Recorder, preserved_modes


class _Reached(Exception):
    """Raised inside a forward hook once the wanted layer has produced its output."""


class _StopAt(Recorder):
    """A Recorder on one layer that ends the forward pass there: the layers after it neither run
    (an early layer of a large network costs only the layers before it) nor need to accept the
    input (a fully connected head would reject an input of another size)."""

    def _forward_hook(self, name: str):
        record = super()._forward_hook(name)

        def hook(module: nn.Module, inputs: object, output: Tensor) -> None:
            record(module, inputs, output)
            raise _Reached

        return hook


def forward_to(model: nn.Module, layer: str, x: Tensor) -> Tensor:
    """The output of `layer` for input `x`, computing nothing after it (gradients flow back to x)."""
    with _StopAt(model, [layer], detach=False) as rec:
        try:
            model(x)
        except _Reached:
            pass
    if layer not in rec.outputs:
        raise ValueError(f"layer {layer!r} did not run in the forward pass")
    return rec.outputs[layer]


@dataclass
class LayerMaps:
    """One layer's activation maps for one image, strongest channels first.

    Attributes:
        layer: the module name.
        channels: indices of the channels kept, by mean activation, largest first.
        maps: (len(channels), H, W) activations of those channels.
        means: their mean activations.
        total: how many channels the layer has.
        zeros: share of the layer's values (all channels) that are zero or below: how sparse it is.
    """

    layer: str
    channels: list[int]
    maps: np.ndarray
    means: list[float]
    total: int
    zeros: float


def activation_maps(model: nn.Module, x: Tensor, layers: list[str], count: int = 8) -> dict[str, LayerMaps]:
    """The `count` most active channels of each layer for a single input (1, C, H, W), in eval mode."""
    if x.shape[0] != 1:
        raise ValueError("activation_maps takes one image (a batch of 1)")
    # The last listed layer ends the pass; a Recorder collects the others on the way.
    with (
        preserved_modes(model, train=False),
        torch.inference_mode(),
        _StopAt(model, [layers[-1]]) as last,
        Recorder(model, layers[:-1]) as rec,
    ):
        try:
            model(x)
        except _Reached:
            pass
    outputs = {**rec.outputs, **last.outputs}
    result: dict[str, LayerMaps] = {}
    for name in layers:
        acts = outputs[name][0].float()
        if acts.ndim != 3:
            raise ValueError(f"layer {name!r} has no spatial maps (output shape {tuple(outputs[name].shape)})")
        means = acts.mean(dim=(1, 2))
        order = torch.argsort(means, descending=True)[:count].tolist()
        result[name] = LayerMaps(
            layer=name,
            channels=order,
            maps=acts[order].cpu().numpy(),
            means=[float(means[c]) for c in order],
            total=int(acts.shape[0]),
            zeros=float((acts <= 0).float().mean()),
        )
    return result


def penultimate(model: nn.Sequential, x: Tensor, batch_size: int = 512, head: str = "head") -> np.ndarray:
    """What the classifier `head` of a Sequential model sees, for every input (N, D), in eval mode."""
    names = [name for name, _ in model.named_children()]
    if head not in names or names.index(head) == 0:
        raise ValueError(f"the model has no layer {head!r} after another layer")
    before = names[names.index(head) - 1]
    chunks = []
    with preserved_modes(model, train=False), torch.inference_mode():
        for start in range(0, len(x), batch_size):
            chunks.append(forward_to(model, before, x[start : start + batch_size]).flatten(1).cpu())
    return torch.cat(chunks).numpy()


def stage_outputs(model: nn.Sequential) -> list[str]:
    """For a spec-built Sequential (conv1, bn1, act1, ...): the module after which each conv
    layer's output is complete (its activation), first to last."""
    names = [name for name, _ in model.named_children()]
    stages = []
    for i, name in enumerate(names):
        if isinstance(model.get_submodule(name), nn.Conv2d):
            after = name
            for follower in names[i + 1 :]:
                if isinstance(model.get_submodule(follower), (nn.Conv2d, nn.Linear, nn.Flatten)):
                    break
                after = follower
                if follower.startswith("act"):
                    break
            stages.append(after)
    return stages

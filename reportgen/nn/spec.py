"""Builds a CNN from a short list of layer strings, so variants are config, not code.

The syntax lives in `reportgen.nn.layers` (torch-free, so planning can check it); this module
turns parsed layers into an nn.Sequential with readable names (conv1, bn1, act1, pool1, fc1, head).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from reportgen.errors import ReportgenError
from reportgen.nn.layers import LayerSyntaxError, parse_layers
from reportgen.params import ACTIVATIONS as ACTIVATION_NAMES

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}
assert tuple(ACTIVATIONS) == ACTIVATION_NAMES


def build_model(
    layers: list[str],
    in_shape: tuple[int, int, int],
    num_classes: int,
    activation: str = "relu",
) -> nn.Sequential:
    """An nn.Sequential with readable layer names (conv1, bn1, act1, pool1, fc1, head).

    Raises:
        ReportgenError: a bad layer string, or layers that do not fit the input size.
    """
    if activation not in ACTIVATIONS:
        raise ReportgenError(f"unknown activation '{activation}'", f"use one of {', '.join(ACTIVATIONS)}", 2)
    try:
        parsed = parse_layers(layers)
    except LayerSyntaxError as exc:
        raise ReportgenError(str(exc), "see the layer syntax in the README", 2) from None
    act = ACTIVATIONS[activation]
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    channels, flat = in_shape[0], False
    counts: dict[str, int] = {}

    def add(prefix: str, module: nn.Module) -> None:
        counts[prefix] = counts.get(prefix, 0) + 1
        modules[f"{prefix}{counts[prefix]}"] = module

    for layer in parsed:
        if layer.kind == "conv":
            out = int(layer.size)
            padding = "same" if layer.same else 0
            add("conv", nn.Conv2d(channels, out, layer.kernel, stride=layer.stride, padding=padding, bias=not layer.bn))
            if layer.bn:
                add("bn", nn.BatchNorm2d(out))
            add("act", act())
            channels = out
        elif layer.kind == "pool":
            size = int(layer.size or 2)
            add("pool", nn.MaxPool2d(size, size))
        elif layer.kind == "gap":
            add("gap", nn.AdaptiveAvgPool2d(1))
        elif layer.kind == "dropout":
            add("drop", nn.Dropout(0.5 if layer.size is None else layer.size))
        elif layer.kind == "fc":
            if not flat:
                modules["flatten"] = nn.Flatten()
                channels, flat = _flat_features(modules, in_shape), True
            out = int(layer.size)
            add("fc", nn.Linear(channels, out, bias=not layer.bn))
            if layer.bn:
                add("bn", nn.BatchNorm1d(out))
            add("act", act())
            channels = out
    if not flat:
        modules["flatten"] = nn.Flatten()
        channels = _flat_features(modules, in_shape)
    modules["head"] = nn.Linear(channels, num_classes)
    return nn.Sequential(modules)


def _flat_features(modules: OrderedDict[str, nn.Module], in_shape: tuple[int, int, int]) -> int:
    """Features after the layers so far, found by a dry run (it also catches too-small images)."""
    probe = nn.Sequential(OrderedDict(modules))
    try:
        with torch.no_grad():
            features = int(probe.eval()(torch.zeros(1, *in_shape)).shape[1])
    except RuntimeError as exc:
        raise ReportgenError(
            f"layers do not fit a {in_shape[1]}x{in_shape[2]} input: {str(exc).splitlines()[0]}",
            "remove a pool or conv layer, or use 'same' padding",
            2,
        ) from None
    if features < 1:
        raise ReportgenError(f"layers leave nothing of a {in_shape[1]}x{in_shape[2]} input", "remove a pool or conv layer", 2)
    return features


def conv_layers(model: nn.Module) -> list[str]:
    """Names of the Conv2d layers, first to last (for visualisation and CAM)."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]

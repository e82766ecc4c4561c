"""Builds a CNN from a short list of layer strings, so variants are config, not code.

Tokens (space-separated options after the layer word):
  "conv32"            Conv2d 3x3 'valid', 32 filters, then the activation
  "conv64 k5 same bn" Conv2d 5x5 'same', then BatchNorm, then the activation
  "pool" / "pool3"    MaxPool2d with kernel and stride 2 (or 3)
  "gap"               global average pooling
  "dropout0.25"       Dropout(p=0.25)
  "fc128" / "fc128 bn" Linear (after an automatic Flatten), optional BatchNorm1d, activation
A final Linear classifier named "head" is appended.
"""

from __future__ import annotations

import re
from collections import OrderedDict

import torch
from torch import nn

from reportgen.errors import ReportgenError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}
_LAYER = re.compile(r"^(conv|fc|pool|dropout|gap)([0-9.]*)$")


def _bad(token: str, why: str) -> ReportgenError:
    return ReportgenError(f"layer spec '{token}': {why}", "see reportgen/nn/spec.py for the syntax", 2)


def build_model(
    layers: list[str],
    in_shape: tuple[int, int, int],
    num_classes: int,
    activation: str = "relu",
) -> nn.Sequential:
    """An nn.Sequential with readable layer names (conv1, bn1, act1, pool1, fc1, head)."""
    if activation not in ACTIVATIONS:
        raise ReportgenError(f"unknown activation '{activation}'", f"use one of {', '.join(ACTIVATIONS)}", 2)
    act = ACTIVATIONS[activation]
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    channels, flat = in_shape[0], False
    counts: dict[str, int] = {}

    def add(prefix: str, module: nn.Module) -> None:
        counts[prefix] = counts.get(prefix, 0) + 1
        modules[f"{prefix}{counts[prefix]}"] = module

    for token in layers:
        word, *options = token.split()
        match = _LAYER.match(word)
        if not match:
            raise _bad(token, "unknown layer")
        kind, number = match.groups()
        opts = set(options)
        if kind == "conv":
            if flat:
                raise _bad(token, "a conv layer cannot follow a fully connected one")
            kernel = next((int(o[1:]) for o in opts if re.fullmatch(r"k\d+", o)), 3)
            if not number:
                raise _bad(token, "give the number of filters, e.g. conv32")
            out = int(number)
            add("conv", nn.Conv2d(channels, out, kernel, padding="same" if "same" in opts else 0, bias="bn" not in opts))
            if "bn" in opts:
                add("bn", nn.BatchNorm2d(out))
            add("act", act())
            channels = out
        elif kind == "pool":
            size = int(number or 2)
            add("pool", nn.MaxPool2d(size, size))
        elif kind == "gap":
            add("gap", nn.AdaptiveAvgPool2d(1))
        elif kind == "dropout":
            add("drop", nn.Dropout(float(number or 0.5)))
        elif kind == "fc":
            if not number:
                raise _bad(token, "give the number of units, e.g. fc128")
            if not flat:
                modules["flatten"] = nn.Flatten()
                channels, flat = _flat_features(modules, in_shape), True
            out = int(number)
            add("fc", nn.Linear(channels, out, bias="bn" not in opts))
            if "bn" in opts:
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
            return int(probe.eval()(torch.zeros(1, *in_shape)).shape[1])
    except RuntimeError as exc:
        raise ReportgenError(
            f"layers do not fit a {in_shape[1]}x{in_shape[2]} input: {str(exc).splitlines()[0]}",
            "remove a pool or conv layer, or use 'same' padding",
            2,
        ) from None


def conv_layers(model: nn.Module) -> list[str]:
    """Names of the Conv2d layers, first to last (for visualisation and CAM)."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]

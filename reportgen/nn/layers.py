"""The layer-string syntax, parsed without torch (so `list` and planning can check it fast).

Tokens (space-separated options after the layer word):
  "conv32"             Conv2d 3x3 'valid', 32 filters, then the activation
  "conv64 k5 same bn"  Conv2d 5x5 'same', then BatchNorm, then the activation ("s2": stride 2)
  "pool" / "pool3"     MaxPool2d with kernel and stride 2 (or 3)
  "gap"                global average pooling
  "dropout0.25"        Dropout(p=0.25)
  "fc128" / "fc128 bn" Linear (after an automatic Flatten), optional BatchNorm1d, activation
A final Linear classifier named "head" is appended by the model builder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"^(conv|fc|pool|dropout|gap)([0-9.]*)$")
_OPTIONS = {"conv": re.compile(r"^(same|bn|k\d+|s\d+)$"), "fc": re.compile(r"^bn$")}
SYNTAX = 'e.g. "conv32", "conv64 k5 same bn", "pool", "gap", "dropout0.25", "fc128"'


class LayerSyntaxError(ValueError):
    """A layer string that does not follow the syntax; the message says why."""


@dataclass(frozen=True)
class Layer:
    """One parsed layer string."""

    kind: str  # conv | fc | pool | dropout | gap
    size: float | None  # filters, units, pool size or dropout rate
    kernel: int = 3
    stride: int = 1
    same: bool = False
    bn: bool = False
    text: str = ""


def parse_layer(token: str) -> Layer:
    """Parses one layer string.

    Raises:
        LayerSyntaxError: naming the token and what is wrong.
    """
    if not isinstance(token, str) or not token.strip():
        raise LayerSyntaxError(f"layer {token!r}: expected a layer string ({SYNTAX})")
    word, *options = token.split()
    match = _WORD.match(word)
    if not match:
        raise LayerSyntaxError(f"layer '{token}': unknown layer '{word}' ({SYNTAX})")
    kind, number = match.groups()
    allowed = _OPTIONS.get(kind)
    for option in options:
        if allowed is None or not allowed.match(option):
            raise LayerSyntaxError(f"layer '{token}': unknown option '{option}'")
    try:
        size = float(number) if number else None
    except ValueError:
        raise LayerSyntaxError(f"layer '{token}': '{number}' is not a number") from None
    if kind in ("conv", "fc"):
        if size is None or size < 1 or not size.is_integer():
            what = "filters, e.g. conv32" if kind == "conv" else "units, e.g. fc128"
            raise LayerSyntaxError(f"layer '{token}': give a whole number of {what}")
    if kind == "pool" and size is not None and (size < 1 or not size.is_integer()):
        raise LayerSyntaxError(f"layer '{token}': pool size must be a whole number, e.g. pool2")
    if kind == "dropout" and size is not None and not 0 <= size < 1:
        raise LayerSyntaxError(f"layer '{token}': dropout rate must be from 0 up to 1, e.g. dropout0.25")
    if kind == "gap" and number:
        raise LayerSyntaxError(f"layer '{token}': gap takes no number")
    opts = set(options)
    kernel = next((int(o[1:]) for o in opts if o.startswith("k")), 3)
    stride = next((int(o[1:]) for o in opts if o.startswith("s") and o != "same"), 1)
    if kernel < 1 or stride < 1:
        raise LayerSyntaxError(f"layer '{token}': kernel and stride must be at least 1")
    if "same" in opts and stride != 1:
        raise LayerSyntaxError(f"layer '{token}': 'same' padding needs stride 1")
    return Layer(kind, size, kernel, stride, "same" in opts, "bn" in opts, token)


def parse_layers(layers: list[str]) -> list[Layer]:
    """Parses a whole spec and checks the order (no conv after a dense layer)."""
    parsed = [parse_layer(token) for token in layers]
    dense = False
    for layer in parsed:
        if layer.kind == "fc":
            dense = True
        elif layer.kind in ("conv", "pool", "gap") and dense:
            raise LayerSyntaxError(f"layer '{layer.text}': a {layer.kind} layer cannot follow a fully connected one")
    return parsed


def check_layers(layers: list[str]) -> str:
    """'' when the spec parses, else what is wrong with it."""
    try:
        parse_layers(layers)
    except LayerSyntaxError as exc:
        return str(exc)
    return ""

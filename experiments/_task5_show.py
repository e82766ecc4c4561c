"""What Task 5's two presenter modules share: number styles and layer names as readers read them.
Torch-free; no compute module imports it."""

from __future__ import annotations

from reportgen.presenting import View
from reportgen.values import Style

SECONDS = Style(decimals=3, unit="s")
FOLD = Style(decimals=2, unit="×")
D1, D2, D3 = Style(decimals=1), Style(decimals=2), Style(decimals=3)
LOSS = Style()  # losses span orders of magnitude: four significant digits


def weight(x: float) -> str:
    return f"{x:g}"


def layer(view: View, name: str) -> str:
    """A layer's name as a reader reads it ("block 9", "relu4_2"), as the record labels it."""
    return view["labels"].get(name, name)


def layers(view: View, names: list[str]) -> str:
    return ", ".join(layer(view, n) for n in names)

"""Numbers that stay numbers until they are shown, and the one formatter every output uses.

A `Value` is a number with its `Style` (unit, decimals, percent, thousands separator, signed
difference, a ± spread). Presenters put Values into table cells and metrics; the HTML writer
(and any later one: slides, LaTeX, Markdown) turns them into text only through `show`, so a
format lives in one place and a stored result never holds a pre-formatted number.

Torch-free, like everything a renderer imports.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

MINUS = "\u2212"  # a typographic minus sign: "−0.20 points"


@dataclass(frozen=True)
class Style:
    """How a number is written.

    Attributes:
        decimals: digits after the point; None writes up to 4 significant digits.
        unit: written after the number ("s", "ms", "points"); "%" is written without a space.
        percent: the number is a fraction (0.912) shown as a percentage (91.20 %).
        thousands: a separator every three digits (3,377,413).
        signed: a difference: "+" before positive numbers, a minus sign before negative ones.
    """

    decimals: int | None = None
    unit: str = ""
    percent: bool = False
    thousands: bool = False
    signed: bool = False

    def but(self, **changes: Any) -> Style:
        """This style with some fields changed (`PCT.but(decimals=1)`)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The fields that differ from the defaults (compact JSON for a legacy stored cell)."""
        default = Style()
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) != getattr(default, f.name)}


@dataclass(frozen=True)
class Value:
    """A number and how to show it; `spread` is a ± beside it (a std over draws)."""

    number: float
    style: Style = Style()
    spread: float | None = None

    def __str__(self) -> str:
        return show(self)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"value": self.number, "style": self.style.to_dict()}
        if self.spread is not None:
            data["spread"] = self.spread
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Value:
        """Raises ValueError for anything that is not a number with a known style."""
        number, spread = data.get("value"), data.get("spread")
        if not is_number(number) or (spread is not None and not is_number(spread)):
            raise ValueError(f"a value cell needs a number, got {data!r}")
        try:
            style = Style(**data.get("style", {}))
        except TypeError as exc:
            raise ValueError(f"unknown style in {data!r}: {exc}") from None
        return cls(float(number), style, None if spread is None else float(spread))


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# Styles the presenters share (one definition: "91.20 %" is written the same everywhere).
COUNT = Style(decimals=0, thousands=True)
PERCENT = Style(decimals=2, unit="%")  # a number already in percent (91.2)
FRACTION = Style(decimals=2, percent=True)  # a fraction (0.912) shown as a percentage
POINTS = Style(decimals=2, unit="points", signed=True)  # a difference of percentages
SECONDS = Style(decimals=1, unit="s")


def _digits(number: float, style: Style) -> str:
    if style.decimals is None:
        text = f"{number:{',' if style.thousands else ''}.4g}"
    else:
        text = f"{number:{',' if style.thousands else ''}.{style.decimals}f}"
    return text


def number_text(number: float, style: Style = Style()) -> str:
    """The number alone, in `style` (percent scaled, signed), without its unit."""
    if not math.isfinite(number):
        return "—"
    scaled = 100 * number if style.percent else number
    text = _digits(abs(scaled), style)
    negative = scaled < 0 and any(c in "123456789" for c in text)  # -0.00 is written 0.00
    if negative:
        return (MINUS if style.signed else "-") + text
    if style.signed and any(c in "123456789" for c in text):
        return "+" + text
    return text


def unit_text(style: Style, magnitude: str = "") -> str:
    """The unit as written after a number: "%" for percentages, "point" for exactly one point."""
    unit = "%" if style.percent else style.unit
    if unit == "points" and magnitude.lstrip("+-" + MINUS) == "1":
        return "point"
    return unit


def show(value: Value | float | str, style: Style | None = None) -> str:
    """The text a reader sees: "91.20 %", "+0.71 points", "3,377,413", "90.12 ± 1.30 %".

    A str is returned as it is (a label cell); a bare number takes `style`.
    """
    if isinstance(value, str):
        return value
    if not isinstance(value, Value):
        value = Value(float(value), style or Style())
    text = number_text(value.number, value.style)
    if value.spread is not None:
        text += " ± " + number_text(value.spread, value.style.but(signed=False))
    unit = unit_text(value.style, text)
    if not unit:
        return text
    return f"{text} %" if unit == "%" else f"{text} {unit}"


def difference(left: Value, right: Value) -> Value:
    """left − right as a signed Value; a difference of percentages is in points.

    Raises:
        ValueError: the two are in different units.
    """
    units = (unit_text(left.style), unit_text(right.style))
    if units[0] != units[1]:
        raise ValueError(f"'{units[0] or 'no unit'}' and '{units[1] or 'no unit'}'")
    style = left.style.but(signed=True)
    diff = left.number - right.number
    if units[0] == "%":  # 91.2 % − 90.5 % is 0.7 points, not 0.7 %
        diff = 100 * diff if left.style.percent else diff
        style = style.but(percent=False, unit="points")
    return Value(diff, style)

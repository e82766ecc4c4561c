"""Result kinds an experiment returns: plain data that serialises to JSON plus image files.

Rendering reads only these, so nothing here may import torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class Result:
    """Base of every result kind; `title` heads its slide, `caption` explains it."""

    title: str = ""
    caption: str = ""
    kind: ClassVar[str] = "result"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["kind"] = self.kind
        return data


@dataclass
class Metric(Result):
    """One number worth reading on its own (accuracy, parameters, seconds)."""

    value: float = 0.0
    unit: str = ""
    fmt: str = "{:,.4g}"
    kind: ClassVar[str] = "metric"

    @property
    def text(self) -> str:
        return self.fmt.format(self.value) + (f" {self.unit}" if self.unit else "")


@dataclass
class Text(Result):
    """Prose generated from results; paragraphs separated by blank lines."""

    body: str = ""
    kind: ClassVar[str] = "text"


@dataclass
class Table(Result):
    """Rows of already-formatted cells; `highlight` marks row indices (a pinned baseline)."""

    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    highlight: list[int] = field(default_factory=list)
    footer: list[str] = field(default_factory=list)
    kind: ClassVar[str] = "table"


@dataclass
class Panel:
    """One labelled numeric grid; `highlight` lists (row, column) cells to mark."""

    label: str
    values: list[list[float]]
    highlight: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Matrix(Result):
    """Small numeric grids shown cell by cell, side by side (image, kernel, output)."""

    panels: list[Panel] = field(default_factory=list)
    fmt: str = "{:g}"
    kind: ClassVar[str] = "matrix"


@dataclass
class Curves(Result):
    """Named series over a shared x axis; `bands` holds +/- spreads of the same names."""

    x: list[float] = field(default_factory=list)
    series: dict[str, list[float]] = field(default_factory=dict)
    bands: dict[str, list[float]] = field(default_factory=dict)
    xlabel: str = "epoch"
    ylabel: str = ""
    kind: ClassVar[str] = "curves"


@dataclass
class Scatter(Result):
    """Labelled points, e.g. accuracy against parameter count."""

    points: list[dict[str, Any]] = field(default_factory=list)  # {"label", "x", "y"}
    xlabel: str = ""
    ylabel: str = ""
    logx: bool = False
    kind: ClassVar[str] = "scatter"


@dataclass
class ImageGrid(Result):
    """Images stored with the result (paths relative to its cache entry) with labels."""

    images: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    columns: int = 4
    kind: ClassVar[str] = "image_grid"


@dataclass
class Section(Result):
    """What one experiment returns: an ordered list of results under a title."""

    items: list[Result] = field(default_factory=list)
    summary: str = ""
    kind: ClassVar[str] = "section"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "caption": self.caption,
            "summary": self.summary,
            "items": [item.to_dict() for item in self.items],
        }

    def metrics(self) -> dict[str, float]:
        """Metric values of this section by title, for experiments that build on it."""
        return {m.title: m.value for m in self.items if isinstance(m, Metric)}


KINDS: dict[str, type[Result]] = {
    cls.kind: cls for cls in (Metric, Text, Table, Matrix, Curves, Scatter, ImageGrid, Section)
}


def from_dict(data: dict[str, Any]) -> Result:
    """Rebuilds a result (and, for a Section, its items) from `Result.to_dict` output."""
    data = dict(data)
    cls = KINDS[data.pop("kind")]
    if cls is Section:
        data["items"] = [from_dict(item) for item in data.get("items", [])]
    if cls is Matrix:
        data["panels"] = [
            Panel(p["label"], p["values"], [tuple(c) for c in p.get("highlight", [])])
            for p in data.get("panels", [])
        ]
    return cls(**data)

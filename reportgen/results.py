"""Result kinds an experiment returns: plain data that serialises to JSON, plus array files.

Rendering reads only these, so nothing here may import torch. Pictures (curves, scatter
plots, image grids, heat maps) are drawn from this data at render time, so a colour map or
layout change never re-runs an experiment.

Every field a reader sees is required where a default would be a lie (a Metric's value);
`validate()` checks types when a stored result is loaded, so a hand-edited or corrupt entry
is reported as stale instead of crashing the renderer.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from reportgen.values import Style, Value, show


class InvalidResult(ValueError):
    """A stored result that does not have the shape its kind requires."""


@dataclass(kw_only=True)
class Result:
    """Base of every result kind.

    Attributes:
        title: heads its slide, or its caption in the report.
        caption: explains it, under the figure or above the table.
        key: shown in the talk deck (the report shows everything). When no item of a section
            is marked, the deck shows the section's first figure or table.
    """

    title: str = ""
    caption: str = ""
    key: bool = False
    kind: ClassVar[str] = "result"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["kind"] = self.kind
        return data

    def validate(self) -> None:
        """Raises InvalidResult when a field has the wrong type (hand-edited or corrupt JSON)."""
        for f in dataclasses.fields(self):
            _check(f"{self.kind}.{f.name}", getattr(self, f.name), f.type)


def _check(where: str, value: Any, annotation: Any) -> None:
    text = str(annotation)
    if text in ("str",) and not isinstance(value, str):
        raise InvalidResult(f"{where}: expected text, got {value!r}")
    if text in ("bool",) and not isinstance(value, bool):
        raise InvalidResult(f"{where}: expected true/false, got {value!r}")
    if text in ("int",) and (not isinstance(value, int) or isinstance(value, bool)):
        raise InvalidResult(f"{where}: expected a whole number, got {value!r}")
    if text in ("float",) and not _is_number(value):
        raise InvalidResult(f"{where}: expected a number, got {value!r}")
    if text == "float | None" and value is not None and not _is_number(value):
        raise InvalidResult(f"{where}: expected a number, got {value!r}")
    if text.startswith("list[") and not isinstance(value, list):
        raise InvalidResult(f"{where}: expected a list, got {type(value).__name__}")
    if text.startswith("dict[") and not isinstance(value, dict):
        raise InvalidResult(f"{where}: expected a mapping, got {type(value).__name__}")
    if text == "list[str]" and not all(isinstance(v, str) for v in value):
        raise InvalidResult(f"{where}: expected a list of text")
    if text == "list[float]" and not all(_is_number(v) for v in value):
        raise InvalidResult(f"{where}: expected a list of numbers")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Numbered:
    """A kind that writes numbers into its picture or grid: with its `style` (reportgen.values,
    the one formatter) when a presenter set one, else with the older `fmt` string."""

    fmt: str
    style: Style | None

    def number(self, value: float) -> str:
        return show(Value(float(value), self.style)) if self.style is not None else self.fmt.format(value)


@dataclass(kw_only=True)
class Metric(Result):
    """One number worth reading on its own (accuracy, parameters, seconds).

    Attributes:
        style: how it is written (reportgen.values); a presenter sets it. Without one, the
            older `fmt` string and `unit` of a stored legacy result are used.
        name: the record field it shows, by which `{{ id.name }}` finds it whatever its title.
    """

    value: float
    unit: str = ""
    fmt: str = "{:,.4g}"
    style: Style | None = None
    name: str = ""
    kind: ClassVar[str] = "metric"

    @property
    def text(self) -> str:
        if self.style is not None:
            return show(Value(self.value, self.style))
        return self.fmt.format(self.value) + (f" {self.unit}" if self.unit else "")

    @property
    def as_value(self) -> Value | None:
        """The value with its style, or None for a legacy metric formatted by `fmt`."""
        return Value(self.value, self.style) if self.style is not None else None

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["style"] = self.style.to_dict() if self.style is not None else None
        return data

    def validate(self) -> None:
        if isinstance(self.style, dict):  # from JSON
            try:
                self.style = Style(**self.style)
            except TypeError as exc:
                raise InvalidResult(f"metric {self.title!r}: style: {exc}") from None
        if self.style is not None and not isinstance(self.style, Style):
            raise InvalidResult(f"metric {self.title!r}: style is not a style")
        super().validate()
        if not math.isfinite(self.value):
            raise InvalidResult(f"metric {self.title!r}: value is {self.value}")
        try:
            self.fmt.format(self.value)
        except (ValueError, IndexError, KeyError, TypeError, AttributeError) as exc:  # "{0[1]}", "{.x}" too
            raise InvalidResult(f"metric {self.title!r}: format {self.fmt!r} does not apply to {self.value!r}: {exc}") from None


@dataclass(kw_only=True)
class Text(Result):
    """Prose generated from results; paragraphs separated by blank lines."""

    body: str
    kind: ClassVar[str] = "text"


Cell = str | Value


@dataclass(kw_only=True)
class Table(Result):
    """Rows of cells: text (labels) or Values (numbers, formatted by `reportgen.values.show` when
    written); `highlight` marks row indices (a pinned baseline). Older stored tables hold text only."""

    columns: list[str]
    rows: list[list[Cell]]
    highlight: list[int] = field(default_factory=list)
    footer: list[Cell] = field(default_factory=list)
    kind: ClassVar[str] = "table"

    def text_rows(self) -> list[list[str]]:
        """Every cell as the reader sees it."""
        return [[show(cell) for cell in row] for row in self.rows]

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["rows"] = [[_cell_json(cell) for cell in row] for row in self.rows]
        data["footer"] = [_cell_json(cell) for cell in self.footer]
        return data

    def validate(self) -> None:
        for name in ("rows", "footer"):
            if not isinstance(getattr(self, name), list):
                raise InvalidResult(f"table {self.title!r}: {name} is not a list")
        try:
            self.footer = [_cell(cell) for cell in self.footer]
            for row in self.rows:
                if not isinstance(row, list) or len(row) != len(self.columns):
                    raise InvalidResult(f"table {self.title!r}: a row does not have {len(self.columns)} cells")
                row[:] = [_cell(cell) for cell in row]
        except ValueError as exc:
            raise InvalidResult(f"table {self.title!r}: {exc}") from None
        super().validate()


def _cell(cell: Any) -> Cell:
    """A cell from memory or JSON: text, a Value, or a Value's JSON object."""
    if isinstance(cell, (str, Value)):
        return cell
    if isinstance(cell, dict):
        return Value.from_dict(cell)
    raise ValueError(f"a cell must be text or a number with its style, not {cell!r}")


def _cell_json(cell: Cell) -> Any:
    return cell.to_dict() if isinstance(cell, Value) else cell


@dataclass
class Panel:
    """One labelled numeric grid; `highlight` lists (row, column) cells to mark."""

    label: str
    values: list[list[float]]
    highlight: list[tuple[int, int]] = field(default_factory=list)


@dataclass(kw_only=True)
class Matrix(Numbered, Result):
    """Small numeric grids shown cell by cell, side by side (image, kernel, output)."""

    panels: list[Panel]
    fmt: str = "{:g}"
    style: Style | None = None
    kind: ClassVar[str] = "matrix"


@dataclass(kw_only=True)
class Curves(Result):
    """Series over a shared x axis.

    Attributes:
        series: name -> values; `bands` holds +/- spreads under the same names.
        roles: name -> "train" or "validation": training curves are dashed, validation solid,
            and the two curves of one group share a colour.
        groups: name -> the group (variant) it belongs to; defaults to the name itself.
    """

    x: list[float]
    series: dict[str, list[float]]
    bands: dict[str, list[float]] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    xlabel: str = "epoch"
    ylabel: str = ""
    logy: bool = False
    kind: ClassVar[str] = "curves"


@dataclass(kw_only=True)
class Scatter(Result):
    """Points with an optional label and group each.

    Attributes:
        points: {"x", "y"} plus optional "label" (written beside the point when `annotate`)
            and "group" (one colour and one legend entry per group, e.g. the class in a t-SNE).
    """

    points: list[dict[str, Any]]
    xlabel: str = ""
    ylabel: str = ""
    logx: bool = False
    annotate: bool = True
    legend_title: str = ""
    kind: ClassVar[str] = "scatter"

    def validate(self) -> None:
        super().validate()
        for point in self.points:
            if not isinstance(point, dict) or not _is_number(point.get("x")) or not _is_number(point.get("y")):
                raise InvalidResult(f"scatter {self.title!r}: a point without numeric x and y")


@dataclass(kw_only=True)
class ImageGrid(Result):
    """Images stored as arrays with the result and drawn as one labelled grid at render time.

    Attributes:
        images: .npy files under the entry's files/ folder (see Context.save_array): (H, W)
            drawn with `cmap`, or (H, W, 3) RGB in [0, 1]. An empty string leaves a cell blank.
        labels: one caption per cell (optional).
        columns: cells per row.
        row_labels / col_labels: written left of each row / above each column (optional).
        overlays: heat maps (any size, resized to the image) drawn over the image of the same
            index with `overlay_cmap`; an empty string means no overlay for that cell.
        cmap: colour map of single-channel images ("gray", "viridis", "RdBu_r" for weights).
        vmin, vmax: a shared value range for single-channel images; None scales each tile.
        symmetric: single-channel tiles scaled to [-m, m] so that zero is the middle colour.
        colorbar: label of a colour bar for the overlays (or single-channel tiles); "" for none.
    """

    images: list[str]
    labels: list[str] = field(default_factory=list)
    columns: int = 4
    row_labels: list[str] = field(default_factory=list)
    col_labels: list[str] = field(default_factory=list)
    overlays: list[str] = field(default_factory=list)
    cmap: str = "gray"
    overlay_cmap: str = "jet"
    vmin: float | None = None
    vmax: float | None = None
    symmetric: bool = False
    colorbar: str = ""
    kind: ClassVar[str] = "image_grid"

    def validate(self) -> None:
        super().validate()
        if self.columns < 1:
            raise InvalidResult(f"image grid {self.title!r}: columns must be at least 1")
        if self.overlays and len(self.overlays) != len(self.images):
            raise InvalidResult(f"image grid {self.title!r}: overlays and images differ in number")


@dataclass(kw_only=True)
class Heatmap(Numbered, Result):
    """A labelled numeric matrix drawn as colours with the values written in (a confusion matrix)."""

    values: list[list[float]]
    row_labels: list[str] = field(default_factory=list)
    col_labels: list[str] = field(default_factory=list)
    xlabel: str = ""
    ylabel: str = ""
    fmt: str = "{:g}"
    style: Style | None = None
    cmap: str = "Blues"
    kind: ClassVar[str] = "heatmap"


@dataclass(kw_only=True)
class Bars(Numbered, Result):
    """Horizontal bars, largest first as given (top-5 class probabilities, per-method scores)."""

    labels: list[str]
    values: list[float]
    xlabel: str = ""
    fmt: str = "{:.2f}"
    style: Style | None = None
    image: str = ""  # optional .npy picture drawn left of the bars (the photo being classified)
    kind: ClassVar[str] = "bars"

    def validate(self) -> None:
        super().validate()
        if len(self.labels) != len(self.values):
            raise InvalidResult(f"bars {self.title!r}: labels and values differ in number")


@dataclass(kw_only=True)
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
            "key": self.key,
            "summary": self.summary,
            "items": [item.to_dict() for item in self.items],
        }

    def validate(self) -> None:
        if not isinstance(self.title, str) or not isinstance(self.summary, str):
            raise InvalidResult("section: title and summary must be text")
        for item in self.items:
            item.validate()

    def metrics(self) -> dict[str, float]:
        """Metric values of this section by title, for experiments that build on it."""
        return {m.title: m.value for m in self.items if isinstance(m, Metric)}

    def files(self) -> list[str]:
        """Every array file the items refer to (they must exist in the entry's files/)."""
        names: list[str] = []
        for item in self.items:
            if isinstance(item, ImageGrid):
                names += [n for n in item.images + item.overlays if n]
            elif isinstance(item, Bars) and item.image:
                names.append(item.image)
        return names


KINDS: dict[str, type[Result]] = {
    cls.kind: cls for cls in (Metric, Text, Table, Matrix, Curves, Scatter, ImageGrid, Heatmap, Bars, Section)
}


def from_dict(data: dict[str, Any]) -> Result:
    """Rebuilds a result (and, for a Section, its items) from `Result.to_dict` output.

    Raises:
        InvalidResult: an unknown kind, a missing or unknown field, or a field of the wrong type.
    """
    if not isinstance(data, dict):
        raise InvalidResult(f"expected a result object, got {type(data).__name__}")
    data = dict(data)
    kind = data.pop("kind", None)
    cls = KINDS.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise InvalidResult(f"unknown result kind {kind!r}")
    if cls is Section:
        data["items"] = [from_dict(item) for item in data.get("items", [])]
    if isinstance(data.get("style"), dict):
        try:
            data["style"] = Style(**data["style"])
        except TypeError as exc:
            raise InvalidResult(f"{kind}: style: {exc}") from None
    if cls is Matrix:
        try:
            data["panels"] = [
                Panel(p["label"], p["values"], [tuple(c) for c in p.get("highlight", [])])
                for p in data.get("panels", [])
            ]
        except (KeyError, TypeError) as exc:
            raise InvalidResult(f"matrix: bad panel ({exc})") from None
    try:
        result = cls(**data)
    except TypeError as exc:
        raise InvalidResult(f"{kind}: {exc}") from None
    result.validate()
    return result

"""Figures drawn from stored data at render time, so a style change never re-runs an experiment.

`DRAWERS` is the one table from a result kind to the function that draws it: a new kind that
needs a picture is one entry here plus its partial `templates/partials/<kind>.html.j2`.
Line plots are SVG (vector in the PDFs); pictures made of pixels are PNG.
"""

from __future__ import annotations

import contextvars
import io
import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from reportgen.errors import ReportgenError  # noqa: E402
from reportgen.results import Bars, Curves, Heatmap, ImageGrid, Result, Scatter  # noqa: E402

PALETTE = ["#1f5fa8", "#d9480f", "#2b8a3e", "#862e9c", "#e67700", "#0b7285", "#c2255c", "#5c940d"]
STYLE = {
    "svg.fonttype": "none",  # keep text as text: smaller files, selectable in the PDF
    "svg.hashsalt": "reportgen",  # stable ids: same data, same SVG bytes, no needless PDF re-render
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "figure.dpi": 100,
}
SIZE = (6.4, 3.4)  # inches; fits a 16:9 slide beside a key-numbers panel and an A4 column
PNG_DPI = 150
# What `draw` was asked for: (vector format, dpi). The HTML's default is SVG plots and PNG at
# PNG_DPI; PowerPoint and Markdown ask for PNG everywhere (at 2-3x), LaTeX for PDF plots.
_OUTPUT: contextvars.ContextVar[tuple[str, int]] = contextvars.ContextVar("output", default=("svg", PNG_DPI))


@dataclass
class Drawn:
    """A figure's bytes and the file suffix they need."""

    data: bytes
    suffix: str


def _svg(fig: plt.Figure) -> Drawn:
    vector, dpi = _OUTPUT.get()
    if vector == "png":
        return _png(fig)
    if vector == "pdf":
        data = io.BytesIO()
        fig.savefig(data, format="pdf", bbox_inches="tight", metadata={"CreationDate": None, "Creator": None, "Producer": None})
        plt.close(fig)
        return Drawn(data.getvalue(), ".pdf")
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return Drawn(buffer.getvalue().encode(), ".svg")


def _png(fig: plt.Figure) -> Drawn:
    buffer = io.BytesIO()
    # No timestamp or software tag: the same data gives the same bytes (and no PDF re-render).
    fig.savefig(buffer, format="png", dpi=_OUTPUT.get()[1], bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return Drawn(buffer.getvalue(), ".png")


def curves(result: Curves, files: Path) -> Drawn:
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=SIZE)
        groups = list(dict.fromkeys(result.groups.get(name, name) for name in result.series))
        for index, (name, values) in enumerate(result.series.items()):
            group = result.groups.get(name, name)
            color = PALETTE[(groups.index(group) if result.groups else index) % len(PALETTE)]
            xs = result.x[: len(values)]
            ax.plot(xs, values, label=name, color=color,
                    linestyle="--" if result.roles.get(name) == "train" else "-",
                    marker="o" if len(values) <= 12 else None, markersize=3)  # fmt: skip
            band = result.bands.get(name)
            if band:
                lo = [v - b for v, b in zip(values, band)]
                hi = [v + b for v, b in zip(values, band)]
                ax.fill_between(xs, lo, hi, color=color, alpha=0.15, linewidth=0)
        ax.set_xlabel(result.xlabel)
        ax.set_ylabel(result.ylabel)
        if result.logy:
            ax.set_yscale("log")
        if len(result.x) == 1:  # one epoch: keep the point in the middle, not on a squashed axis
            ax.set_xlim(result.x[0] - 0.5, result.x[0] + 0.5)
        if result.x and all(float(v).is_integer() for v in result.x):
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        if len(result.series) > 4:  # many lines: the legend goes beside the plot, not over it
            ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        elif len(result.series) > 1:
            ax.legend(frameon=False, fontsize=8)
        return _svg(fig)


def _spread_labels(ax: plt.Axes, points: list[dict], logx: bool) -> None:
    """Writes each point's label beside it, nudging labels apart that would overlap."""
    fig = ax.figure
    fig.canvas.draw()
    placed: list = []
    for point in sorted(points, key=lambda p: (p["y"], p["x"])):
        offset = 6
        for _ in range(12):
            text = ax.annotate(point["label"], (point["x"], point["y"]), textcoords="offset points",
                               xytext=(6, offset - 3), fontsize=7.5)  # fmt: skip
            box = text.get_window_extent(fig.canvas.get_renderer()).expanded(1.02, 1.1)
            if not any(box.overlaps(other) for other in placed):
                placed.append(box)
                break
            text.remove()
            offset += 9
        else:
            placed.append(box)
            ax.annotate(point["label"], (point["x"], point["y"]), textcoords="offset points",
                        xytext=(6, offset - 3), fontsize=7.5)  # fmt: skip


def scatter(result: Scatter, files: Path) -> Drawn:
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=SIZE)
        groups = list(dict.fromkeys(str(p["group"]) for p in result.points if "group" in p))
        if groups:
            cmap = plt.get_cmap("tab10" if len(groups) <= 10 else "tab20")
            many = len(result.points) > 200
            for index, group in enumerate(groups):
                pts = [p for p in result.points if str(p.get("group")) == group]
                ax.scatter([p["x"] for p in pts], [p["y"] for p in pts], s=6 if many else 30,
                           color=cmap(index % cmap.N), label=group, alpha=0.8 if many else 1.0,
                           linewidths=0, rasterized=many)  # fmt: skip
            ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                      title=result.legend_title or None, markerscale=2 if many else 1)  # fmt: skip
        else:
            for index, point in enumerate(result.points):
                ax.scatter(point["x"], point["y"], s=40, color=PALETTE[index % len(PALETTE)], zorder=3)
        if result.logx:
            ax.set_xscale("log")
        ax.set_xlabel(result.xlabel)
        ax.set_ylabel(result.ylabel)
        ax.margins(x=0.25, y=0.15)
        if result.annotate and any(p.get("label") for p in result.points):
            _spread_labels(ax, [p for p in result.points if p.get("label")], result.logx)
        return _svg(fig)


def _load(files: Path, name: str) -> np.ndarray:
    try:
        return np.load(files / name, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ReportgenError(f"stored image {name} cannot be read: {exc}", "re-run the experiment (--rerun)") from None


def _show(ax: plt.Axes, image: np.ndarray, grid: ImageGrid) -> None:
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 3:
        ax.imshow(np.clip(image, 0, 1), interpolation="nearest" if image.shape[0] < 32 else "antialiased")
        return
    vmin, vmax = grid.vmin, grid.vmax
    if grid.symmetric:
        m = float(np.abs(image).max()) if vmax is None else max(abs(vmin or 0), abs(vmax))
        vmin, vmax = -m, m
    ax.imshow(image, cmap=grid.cmap, vmin=vmin, vmax=vmax,
              interpolation="nearest" if image.shape[0] < 32 else "antialiased")  # fmt: skip


def image_grid(result: ImageGrid, files: Path) -> Drawn:
    n = len(result.images)
    cols = max(1, min(result.columns, n))
    rows = max(1, math.ceil(n / cols))
    cell = min(1.6, 9.0 / cols)
    has_labels = bool(result.labels)
    height = rows * cell * (1.18 if has_labels else 1.0) + (0.25 if result.col_labels else 0)
    with plt.rc_context({**STYLE, "axes.grid": False}):
        fig, axes = plt.subplots(rows, cols, figsize=(cols * cell + (0.9 if result.row_labels else 0), height),
                                 squeeze=False)  # fmt: skip
        overlay_artist = image_artist = None
        for index, ax in enumerate(axes.flat):
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if index >= n or not result.images[index]:
                continue
            image = _load(files, result.images[index])
            _show(ax, image, result)
            image_artist = ax.images[-1]
            if result.overlays and result.overlays[index]:
                heat = _load(files, result.overlays[index])
                h, w = image.shape[:2]
                overlay_artist = ax.imshow(heat, cmap=result.overlay_cmap, alpha=0.5, vmin=0, vmax=1,
                                           extent=(-0.5, w - 0.5, h - 0.5, -0.5), interpolation="bilinear")  # fmt: skip
            if has_labels and index < len(result.labels):
                # Wrapped to the cell's width: neighbouring labels must not run into each other.
                label = "\n".join(textwrap.wrap(result.labels[index], width=max(8, int(cell * 12))))
                ax.set_xlabel(label, fontsize=6.5)
        for c, label in enumerate(result.col_labels[:cols]):
            axes[0, c].set_title(label, fontsize=8)
        for r, label in enumerate(result.row_labels[:rows]):
            axes[r, 0].set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
        mappable = overlay_artist or (image_artist if image_artist is not None and image_artist.get_array().ndim == 2 else None)
        if result.colorbar and mappable is not None:
            bar = fig.colorbar(mappable, ax=axes.ravel().tolist(), fraction=0.025, pad=0.02)
            bar.set_label(result.colorbar, fontsize=8)
            bar.ax.tick_params(labelsize=7)
        return _png(fig)


def heatmap(result: Heatmap, files: Path) -> Drawn:
    values = np.asarray(result.values, dtype=float)
    rows, cols = values.shape if values.ndim == 2 else (0, 0)
    side = min(6.4, 1.2 + 0.42 * max(rows, cols))
    with plt.rc_context({**STYLE, "axes.grid": False}):
        fig, ax = plt.subplots(figsize=(side + 0.8, side))
        image = ax.imshow(values, cmap=result.cmap)
        ax.set_xticks(range(cols), result.col_labels[:cols] or range(cols), rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(rows), result.row_labels[:rows] or range(rows), fontsize=7)
        ax.set_xlabel(result.xlabel)
        ax.set_ylabel(result.ylabel)
        top = values.max() if values.size else 0
        for i in range(rows):
            for j in range(cols):
                ax.text(j, i, result.number(values[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if values[i, j] > 0.6 * top else "#212529")  # fmt: skip
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        return _svg(fig)


def bars(result: Bars, files: Path) -> Drawn:
    with plt.rc_context(STYLE):
        if result.image:
            fig, (left, ax) = plt.subplots(1, 2, figsize=SIZE, gridspec_kw={"width_ratios": [1, 1.6]})
            left.imshow(np.clip(_load(files, result.image), 0, 1))
            left.axis("off")
        else:
            fig, ax = plt.subplots(figsize=SIZE)
        positions = list(range(len(result.values)))[::-1]  # first label on top
        ax.barh(positions, result.values, color=PALETTE[0])
        ax.set_yticks(positions, result.labels, fontsize=8)
        for pos, value in zip(positions, result.values):
            ax.text(value, pos, " " + result.number(value), va="center", fontsize=7.5)
        ax.set_xlabel(result.xlabel)
        ax.grid(axis="y", visible=False)
        ax.margins(x=0.2)
        return _svg(fig)


DRAWERS: dict[str, Callable[[Result, Path], Drawn]] = {
    Curves.kind: curves,
    Scatter.kind: scatter,
    ImageGrid.kind: image_grid,
    Heatmap.kind: heatmap,
    Bars.kind: bars,
}


def draw(result: Result, files: Path, vector: str = "svg", dpi: int = PNG_DPI) -> Drawn | None:
    """The picture for a result kind that is drawn, or None for kinds shown as HTML. Plots come
    as `vector` ("svg", "pdf", or "png" for formats that take no vector picture); pixels as PNG
    at `dpi`."""
    drawer = DRAWERS.get(result.kind)
    if drawer is None:
        return None
    token = _OUTPUT.set((vector, dpi))
    try:
        return drawer(result, files)
    finally:
        _OUTPUT.reset(token)

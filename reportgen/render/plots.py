"""Figures drawn from stored series at render time (SVG), so a style change never re-trains."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from reportgen.results import Curves, Result, Scatter  # noqa: E402

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


def _svg(fig: plt.Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return buffer.getvalue()


def curves_svg(result: Curves) -> str:
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=SIZE)
        # "label · train" and "label · val" share a colour; training curves are dashed.
        groups = list(dict.fromkeys(name.split(" · ")[0] for name in result.series))
        paired = len(groups) < len(result.series)
        for name, values in result.series.items():
            group = name.split(" · ")[0] if paired else name
            color = PALETTE[(groups.index(group) if paired else list(result.series).index(name)) % len(PALETTE)]
            dashed = paired and name.endswith("train")
            ax.plot(result.x[: len(values)], values, label=name, color=color,
                    linestyle="--" if dashed else "-",
                    marker="o" if len(values) <= 12 else None, markersize=3)  # fmt: skip
            band = result.bands.get(name)
            if band:
                lo = [v - b for v, b in zip(values, band)]
                hi = [v + b for v, b in zip(values, band)]
                ax.fill_between(result.x[: len(values)], lo, hi, color=color, alpha=0.15, linewidth=0)
        ax.set_xlabel(result.xlabel)
        ax.set_ylabel(result.ylabel)
        if len(result.x) == 1:  # one epoch: keep the point in the middle, not on a squashed axis
            ax.set_xlim(result.x[0] - 0.5, result.x[0] + 0.5)
        if result.x and all(float(v).is_integer() for v in result.x):
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        if len(result.series) > 4:  # many lines: the legend goes beside the plot, not over it
            ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        else:
            ax.legend(frameon=False, fontsize=8)
        return _svg(fig)


def scatter_svg(result: Scatter) -> str:
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=SIZE)
        for index, point in enumerate(result.points):
            ax.scatter(point["x"], point["y"], s=40, color=PALETTE[index % len(PALETTE)], zorder=3)
            ax.annotate(point["label"], (point["x"], point["y"]), textcoords="offset points",
                        xytext=(5, 4), fontsize=7.5)  # fmt: skip
        if result.logx:
            ax.set_xscale("log")
        ax.set_xlabel(result.xlabel)
        ax.set_ylabel(result.ylabel)
        ax.margins(x=0.25, y=0.15)
        return _svg(fig)


def figure_svg(result: Result) -> str | None:
    """The SVG for a result kind that is drawn, or None for kinds shown as HTML."""
    if isinstance(result, Curves):
        return curves_svg(result)
    if isinstance(result, Scatter):
        return scatter_svg(result)
    return None

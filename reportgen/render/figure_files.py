"""A result's figure written for a format that is not HTML: drawn from the stored data by
reportgen.render.plots (PNG at 2x for PowerPoint and Markdown, PDF plots for LaTeX), named by
its content so an unchanged figure is not written again."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from reportgen.render.html import write_atomic
from reportgen.render.plots import PNG_DPI, draw

HIGH_DPI = 2 * PNG_DPI  # slides are projected and zoomed: twice the HTML's resolution


def figure_file(item: Any, files: Path | None, folder: Path, stem: str, vector: str = "png") -> Path | None:
    """Draws `item`'s result into `folder` as `<stem>-<digest><suffix>`; None for kinds that are
    not pictures (tables, numbers, text) or an experiment without stored files."""
    if files is None:
        return None
    drawn = draw(item.result, files, vector=vector, dpi=HIGH_DPI)
    if drawn is None:
        return None
    path = folder / f"{stem}-{hashlib.sha256(drawn.data).hexdigest()[:10]}{drawn.suffix}"
    if not path.exists():
        write_atomic(path, drawn.data)
    return path


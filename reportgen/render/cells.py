"""The one place where a table cell or a key number becomes text for the formats that are not
HTML (PowerPoint, LaTeX, Markdown): every writer shows the same digits the HTML shows."""

from __future__ import annotations

import re
from typing import Any

from reportgen.results import Metric
from reportgen.values import Value, show


def cell_text(cell: Any) -> str:
    """A table cell as the deliverables show it: through the project's one formatter,
    reportgen.values.show, as the HTML's `show` filter does (a typed value with its style, a
    label as it is)."""
    return show(cell) if isinstance(cell, (Value, str, int, float)) else str(cell)


_NUMBER = re.compile(r"^[+\-\u2212]?[\d.,]+(\s*\u00b1\s*[\d.,]+)?\s*(%|[a-zA-Z]{0,3}|points?)?$")


def numeric(column: list[str]) -> bool:
    """Whether a column's cells (as text) are numbers, to be right-aligned so digits line up."""
    filled = [c.strip() for c in column if c.strip() not in ("", "\u2014", "-")]
    return bool(filled) and all(_NUMBER.match(c) for c in filled)


def metric_text(metric: Metric) -> str:
    """A key number with its unit, "97.2 %", as on the slides (Metric.text uses values.show)."""
    return metric.text

"""The one place where a table cell or a key number becomes text for the formats that are not
HTML (PowerPoint, LaTeX, Markdown): every writer shows the same digits the HTML shows."""

from __future__ import annotations

import re
from typing import Any

from reportgen.results import Metric


def cell_text(cell: Any) -> str:
    """A table cell as the deliverables show it: a typed value through the project's one
    formatter (reportgen.values.show, where it exists), anything else as its text."""
    try:
        from reportgen.values import Value, show  # typed values (issue 15), once they are on main
    except ImportError:
        return str(cell)
    return show(cell) if isinstance(cell, Value) else str(cell)


_NUMBER = re.compile(r"^[+\-\u2212]?[\d.,]+\s*(%|[a-zA-Z]{0,3}|points?)?$")


def numeric(column: list[str]) -> bool:
    """Whether a column's cells (as text) are numbers, to be right-aligned so digits line up."""
    filled = [c.strip() for c in column if c.strip() not in ("", "\u2014", "-")]
    return bool(filled) and all(_NUMBER.match(c) for c in filled)


def metric_text(metric: Metric) -> str:
    """A key number with its unit, "97.2 %", as on the slides."""
    return cell_text(metric.text)

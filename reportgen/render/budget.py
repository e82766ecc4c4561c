"""The course's limits on slides and pages: how far a build is over them, and where the pages go."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# The deck template marks each slide with the task it belongs to (data-part="Part A").
_SLIDE = re.compile(r'<section class="slide\b[^>]*?data-part="([^"]*)"')
_ANY_SLIDE = re.compile(r'<section class="slide\b')
LONGEST = 4  # sections named in a warning
# A numbered experiment heading of the report ("2.3 Dropout", "A.1 Baseline"): the unit a student
# can leave out, unlike the contents or the appendix.
_NUMBERED = re.compile(r"^\S+\.\d+\s")


@dataclass
class Layout:
    """How long a rendered deliverable is and what takes the room."""

    length: int  # slides or pages
    unit: str  # "slides" | "pages"
    sections: list[tuple[str, int]] = field(default_factory=list)  # (name, slides or pages)


def outline_spans(outline: list[tuple[int, str, int]], pages: int, level: int = 2) -> list[tuple[str, int]]:
    """(name, pages) of each heading at `level` in a PDF outline of (level, label, first page):
    a section runs until the next heading at its level or above."""
    spans = []
    for i, (lvl, label, first) in enumerate(outline):
        if lvl != level or not _NUMBERED.match(label):
            continue
        end = next((p for lv, _, p in outline[i + 1:] if lv <= level), pages)
        spans.append((" ".join(label.split()), max(1, end - first)))  # &ensp; -> a plain space
    return spans


def deck_layout(html: str, pdf_pages: int = 0) -> Layout:
    """Slides of the deck (the PDF's pages when there is one) and slides per task."""
    per_part = Counter(_SLIDE.findall(html))
    count = pdf_pages or len(_ANY_SLIDE.findall(html))
    return Layout(count, "slides", per_part.most_common())


def over_budget(name: str, layout: Layout, limit: int | None, hint: str) -> str:
    """A one-line warning when `layout` is longer than `limit`; '' when it fits or has no limit."""
    if limit is None or layout.length <= limit:
        return ""
    longest = sorted(layout.sections, key=lambda s: -s[1])[:LONGEST]
    unit = layout.unit.rstrip("s")
    where = "; longest: " + ", ".join(f"{label} ({n} {unit}{'s' if n != 1 else ''})" for label, n in longest) if longest else ""
    return f"{name} has {layout.length} {layout.unit}, {layout.length - limit} over the limit of {limit}{where}; {hint}"


def budget_warnings(config: Any, layouts: dict[str, Layout]) -> list[str]:
    """Warnings for every deliverable over its limit in the config."""
    warnings = []
    if "deck" in layouts:
        warnings.append(over_budget("the deck", layouts["deck"], config.deck.max_slides,
                                    "leave experiments out with [deck] show or mode = \"talk\", or set [deck] dividers = false"))
    if "report" in layouts:
        warnings.append(over_budget("the report", layouts["report"], config.report.max_pages,
                                    "leave experiments out with [report] show, or switch them off with [experiments.ID] enabled = false"))
    return [w for w in warnings if w]

"""Every number of a stored result that the student's text can quote, by name.

A live number `{{ EXPERIMENT.NAME }}` (reportgen.writeup) names one of these:

    a key number      by its record name or its title      {{ arch-baseline.test accuracy }}
    a table cell      ROW.COLUMN: the row's first cell,     {{ t2-optimizers.sgd.val acc }}
                      then the column's title
    a curve's end     SERIES.final: a series' last point    {{ t2-optimizers.adam · validation.final }}

Names are compared without case, with runs of spaces as one and "·" read as a space, so
`{{ t2-optimizers.adam validation.final }}` finds the series "adam · validation". Where two
tables hold the same row and column, the first one (in the order the result shows them) is
quoted. `reportgen names` prints every name of the stored results.

Torch-free: the writers and the CLI import it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from reportgen.results import Curves, Metric, Section, Table
from reportgen.values import PERCENT, Style, Value, is_number, show

FINAL = "final"  # the suffix that names a series' last point


@dataclass(frozen=True)
class Quote:
    """One quotable number: the text as the deliverables show it, and its value when typed.

    Attributes:
        name: the name a reference uses (as the result writes it).
        text: what a live number renders.
        value: the typed number, for differences; None for a legacy text cell.
        metric: a legacy metric (formatted by its `fmt`), for differences of those.
    """

    name: str
    text: str
    value: Value | None = None
    metric: Metric | None = None


def normalised(name: str) -> str:
    """A name as references compare it: casefolded, "·" as a space, spaces collapsed."""
    return " ".join(name.replace("·", " ").split()).casefold()


def metric_quotes(section: Section) -> Iterator[Quote]:
    """The key numbers: by record name first (it survives a reworded title), then by title."""
    metrics = [item for item in section.items if isinstance(item, Metric)]
    for metric in metrics:
        if metric.name:
            yield Quote(metric.name, metric.text, metric.as_value, metric)
    for metric in metrics:
        yield Quote(metric.title, metric.text, metric.as_value, metric)


def cell_quotes(section: Section) -> Iterator[Quote]:
    """Every numeric cell of every table, as "row.column" (the row's label is its first cell)."""
    for table in _tables(section):
        for row in [*table.rows, *([table.footer] if table.footer else [])]:
            label = show(row[0]) if row else ""
            if not label.strip():
                continue
            for column, cell in zip(table.columns[1:], row[1:]):
                if isinstance(cell, Value):
                    yield Quote(f"{label}.{column}", show(cell), cell)
                elif _looks_numeric(cell):  # a legacy stored table: text only, quoted as written
                    yield Quote(f"{label}.{column}", cell)


def series_quotes(section: Section) -> Iterator[Quote]:
    """Each curve's last point, as "series.final", in the unit its axis names."""
    for curves in _all(section, Curves):
        style = PERCENT if "%" in curves.ylabel else Style(decimals=4 if curves.logy else 3)
        for name, points in curves.series.items():
            finite = [p for p in points if is_number(p) and p == p]
            if finite:
                value = Value(float(finite[-1]), style)
                yield Quote(f"{name}.{FINAL}", show(value), value)


def quotes(section: Section) -> list[Quote]:
    """Every quotable number of a result: key numbers, then table cells, then curve ends."""
    return [*metric_quotes(section), *cell_quotes(section), *series_quotes(section)]


def find(section: Section, name: str) -> Quote | None:
    """The quote `name` refers to (see the module docstring), or None."""
    wanted = normalised(name)
    for quote in quotes(section):
        if normalised(quote.name) == wanted:
            return quote
    return None


def names(section: Section) -> list[str]:
    """Every distinct name a reference to this result may use, in the order the result shows them."""
    seen: dict[str, str] = {}
    for quote in quotes(section):
        seen.setdefault(normalised(quote.name), quote.name)
    return list(seen.values())


def _all(section: Section, kind: type) -> Iterator:
    for item in section.items:
        if isinstance(item, kind):
            yield item
        elif isinstance(item, Section):
            yield from _all(item, kind)


def _tables(section: Section) -> Iterator[Table]:
    yield from _all(section, Table)


def _looks_numeric(cell: object) -> bool:
    """A legacy text cell that reads as a number ("90.12 ± 1.30", "1,199,882", "12.3 s"), not a label."""
    return isinstance(cell, str) and re.match(r"\s*[+\-\u2212]?\d[\d,]*(\.\d+)?(\s|%|$|±)", cell) is not None


# --- the list of names in writeup/README.md ----------------------------------------------------

BEGIN = "<!-- reportgen names: written by reportgen build/render; what is between these lines is replaced -->"
END = "<!-- end of reportgen names -->"


def names_markdown(results: Iterable[tuple[str, Section | None, bool]]) -> str:
    """A Markdown list of every live number the stored results offer, as `{{ id.name }}` -> text."""
    lines: list[str] = []
    for exp_id, section, stale in results:
        if section is None:
            continue
        shown = {normalised(q.name): q for q in quotes(section)}
        if not shown:
            continue
        lines.append(f"\n**{exp_id}**{' (stale)' if stale else ''}\n")
        lines += [f"- `{{{{ {exp_id}.{q.name} }}}}` → {q.text}" for q in shown.values()]
    return "\n".join(lines).strip() or "No results are stored yet: run `reportgen build` first."


def with_names(text: str, listing: str) -> str | None:
    """`text` (a README) with the part between BEGIN and END replaced by `listing`; None when the
    markers are missing (a file of the student's own, left alone) or nothing changes."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        return None
    new = f"{text[: start + len(BEGIN)]}\n{listing}\n{text[end:]}"
    return None if new == text else new

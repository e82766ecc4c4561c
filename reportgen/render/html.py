"""Stored results -> figures on disk -> Jinja -> deck.html and report.html."""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from reportgen import provenance
from reportgen.cache import Entry
from reportgen.registry import TASKS, Experiment
from reportgen.render.plots import figure_svg
from reportgen.results import ImageGrid, Metric, Result, Table, Text

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
DENSE_ROWS = 9  # a table with more rows than this gets the compact style on a slide


def write_atomic(path: Path, data: bytes | str) -> None:
    """Writes through a temporary file and a rename: a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass
class Item:
    """A result ready for a template: its figure file and its number in the report."""

    result: Result
    figure: str | None = None  # path relative to the output folder
    images: list[str] = field(default_factory=list)
    number: str = ""  # "Figure 1.2" / "Table 1.3"

    @property
    def kind(self) -> str:
        return self.result.kind


@dataclass
class Slide:
    title: str
    item: Item | None
    metrics: list[Metric]
    lead: str
    footer: str


@dataclass
class Block:
    """One experiment's part of a deliverable."""

    id: str
    title: str
    summary: str
    items: list[Item]
    metrics: list[Metric]
    provenance: dict[str, Any]
    footer: str
    params: dict[str, Any] = field(default_factory=dict)
    stale: bool = False

    def slides(self) -> list[Slide]:
        """One idea per slide: each table or figure with the key numbers that came just before it."""
        slides, pending, lead = [], [], self.summary
        for item in self.items:
            if isinstance(item.result, Metric):
                pending.append(item.result)
                continue
            if isinstance(item.result, Text) and item.result.body == self.summary:
                continue  # already the lead of the first slide
            slides.append(Slide(item.result.title or self.title, item, pending, lead, self.footer))
            pending, lead = [], ""
        if pending or not slides:
            slides.insert(0, Slide(self.title, None, pending, lead, self.footer))
        return slides


@dataclass
class TaskPart:
    number: int
    slug: str
    title: str
    blocks: list[Block]


def _copy_asset(source: Path, out: Path, exp_id: str) -> str:
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:10]
    rel = Path("assets") / exp_id / f"{source.stem}-{digest}{source.suffix}"
    if not (out / rel).exists():
        write_atomic(out / rel, source.read_bytes())
    return rel.as_posix()


def build_parts(
    experiments: list[Experiment], entries: dict[str, Entry], out: Path, stale: set[str] = frozenset()
) -> list[TaskPart]:
    """Groups entries by task, writes their figures under out/assets and numbers figures and tables."""
    parts: dict[int, TaskPart] = {}
    counters: dict[tuple[int, str], int] = {}
    for exp in experiments:
        entry = entries.get(exp.id)
        if entry is None:
            continue
        part = parts.setdefault(exp.task, TaskPart(exp.task, *TASKS[exp.task], []))
        items = []
        for result in entry.section.items:
            item = Item(result)
            svg = figure_svg(result)
            if svg is not None:
                rel = Path("assets") / exp.id / f"{len(items):02d}-{hashlib.sha256(svg.encode()).hexdigest()[:10]}.svg"
                write_atomic(out / rel, svg)
                item.figure = rel.as_posix()
            if isinstance(result, ImageGrid):
                item.images = [_copy_asset(entry.files / name, out, exp.id) for name in result.images]
            label = "Table" if isinstance(result, Table) else "Figure"
            if not isinstance(result, (Metric, Text)):
                counters[exp.task, label] = counters.get((exp.task, label), 0) + 1
                item.number = f"{label} {exp.task}.{counters[exp.task, label]}"
            items.append(item)
        prov = entry.provenance
        part.blocks.append(
            Block(
                id=exp.id,
                title=entry.section.title or exp.title,
                summary=entry.section.summary,
                items=items,
                metrics=[i.result for i in items if isinstance(i.result, Metric)],
                provenance=prov,
                footer=provenance.footer(prov),
                params=entry.inputs.get("params", {}),
                stale=exp.id in stale,
            )
        )
    return [parts[n] for n in sorted(parts)]


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["DENSE_ROWS"] = DENSE_ROWS
    env.filters["fmt"] = lambda value, spec: spec.format(value)
    return env


def render_html(template: str, context: dict[str, Any]) -> str:
    return environment().get_template(template).render(**context)


def copy_static(out: Path) -> None:
    """Stylesheets next to the HTML so the files open on their own in a browser."""
    for css in (TEMPLATES / "css").glob("*.css"):
        write_atomic(out / "assets" / css.name, css.read_bytes())

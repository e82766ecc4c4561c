"""Stored results -> figures on disk -> Jinja -> deck.html and report.html."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from reportgen import provenance
from reportgen.cache import Entry
from reportgen.registry import TASKS, Experiment
from reportgen.render.figures import FigureStore, job_for
from reportgen.results import Metric, Result, Table, Text
from reportgen.values import show

DENSE_ROWS = 9  # a table with more rows than this gets the compact style on a slide
TALK_METRICS = 4  # key numbers beside a talk slide's figure
FIGURE_KINDS = {"curves", "scatter", "image_grid", "heatmap", "bars", "matrix"}


def package_templates() -> Path:
    """The templates shipped with reportgen: inside the package when installed from a wheel,
    the repository's top-level templates/ folder in a source checkout."""
    inside = Path(__file__).resolve().parents[1] / "templates"
    return inside if inside.is_dir() else Path(__file__).resolve().parents[2] / "templates"


TEMPLATES = package_templates()


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
    number: str = ""  # "Figure 1.2" / "Table 1.3"

    @property
    def kind(self) -> str:
        return self.result.kind

    @property
    def shown(self) -> bool:
        """Whether it is a figure or table (metrics and prose are shown around them)."""
        return self.kind not in ("metric", "text")


@dataclass
class Slide:
    title: str
    item: Item | None
    metrics: list[Metric]
    lead: str
    footer: str
    prose: str = ""  # the student's own words (HTML), beside or under the figure


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
    in_talk: bool = True
    writeup: Any = None  # the student's Markdown for this experiment (writeup.Place), if any

    def slides(self) -> list[Slide]:
        """The full deck: one slide per table or figure with the key numbers that came just before it."""
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

    def talk_slide(self) -> Slide:
        """The talk deck's one slide: the key figure (or first figure/table), key numbers, the lead."""
        shown = [i for i in self.items if i.shown]
        key = next((i for i in shown if i.result.key), None)
        if key is None:  # a figure says more than a table on a slide
            key = next((i for i in shown if i.kind in FIGURE_KINDS), shown[0] if shown else None)
        metrics = [i.result for i in self.items if isinstance(i.result, Metric) and i.result.key]
        if not metrics:
            metrics = self.metrics[:TALK_METRICS]
        return Slide(self.title, key, metrics[:TALK_METRICS], self.summary, self.footer)


@dataclass
class TaskPart:
    number: int
    slug: str
    title: str
    blocks: list[Block]
    writeup: Any = None  # the student's Markdown for this task, if any
    label: str = ""  # what heads its slides: "Task 1", or the course's own "Part A"
    short: str = ""  # what numbers its sections and figures: "1", or "A"

    @property
    def talk_blocks(self) -> list[Block]:
        return [b for b in self.blocks if b.in_talk]


def build_parts(
    experiments: list[Experiment],
    entries: dict[str, Entry],
    out: Path,
    stale: set[str] = frozenset(),
    written: set[Path] | None = None,
    figures: Path | None = None,
) -> list[TaskPart]:
    """Groups entries by task, puts their figures under out/assets and numbers figures and tables.

    Figures come from the figure store (`figures`, default: `.figures` in the entries' cache
    folder): only those whose data, drawer or theme changed are drawn, in parallel processes.
    Every asset path written is added to `written`, so that older ones can be removed after.
    """
    shown = [(exp, entries[exp.id]) for exp in experiments if exp.id in entries]
    jobs = {(exp.id, i): job_for(result, entry.files) for exp, entry in shown for i, result in enumerate(entry.section.items)}
    store = FigureStore(figures or _figure_root(entries))
    store.ensure([job for job in jobs.values() if job is not None])
    parts: dict[int, TaskPart] = {}
    counters: dict[tuple[int, str], int] = {}
    for exp, entry in shown:
        part = parts.setdefault(exp.task, TaskPart(exp.task, *TASKS[exp.task], []))
        items = []
        for index, result in enumerate(entry.section.items):
            item = Item(result)
            job = jobs[exp.id, index]
            if job is not None:
                rel = Path("assets") / exp.id / f"{len(items):02d}-{job.key[:10]}{job.suffix}"
                if not (out / rel).exists():
                    write_atomic(out / rel, store.read(job))
                if written is not None:
                    written.add(out / rel)
                item.figure = rel.as_posix()
            label = "Table" if isinstance(result, Table) else "Figure"
            if item.shown:
                counters[exp.task, label] = counters.get((exp.task, label), 0) + 1
                item.number = f"{label} {exp.task}.{counters[exp.task, label]}"
            items.append(item)
        part.blocks.append(_block(exp, entry, items, stale))
    return [parts[n] for n in sorted(parts)]


def _figure_root(entries: dict[str, Entry]) -> Path:
    """`<cache>/.figures` beside the entries (<cache>/<id>/<key>); a temporary folder without any."""
    for entry in entries.values():
        return entry.path.parent.parent / ".figures"
    import tempfile

    return Path(tempfile.gettempdir()) / "reportgen-figures"


def _block(exp: Experiment, entry: Entry, items: list[Item], stale: set[str]) -> Block:
    prov = entry.provenance
    return Block(
        id=exp.id,
        title=exp.title or entry.section.title,
        summary=entry.section.summary,
        items=items,
        metrics=[i.result for i in items if isinstance(i.result, Metric)],
        provenance=prov,
        footer=provenance.footer(prov),
        params=entry.inputs.get("params", {}),
        stale=exp.id in stale,
        in_talk=exp.in_talk,
    )


def environment(theme: Path | None = None) -> jinja2.Environment:
    """Templates from the project's theme folder first (override by name), then the package's."""
    loaders = [jinja2.FileSystemLoader(theme)] if theme and theme.is_dir() else []
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([*loaders, jinja2.FileSystemLoader(TEMPLATES)]),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["DENSE_ROWS"] = DENSE_ROWS
    env.filters["fmt"] = lambda value, spec: spec.format(value)
    env.filters["show"] = show  # every number in a table cell: reportgen.values, the one formatter
    return env


def render_html(template: str, context: dict[str, Any], theme: Path | None = None) -> str:
    """`template` rendered; a failure in one of the theme's own templates is the project's
    error (file and line named, exit 2), one in ours stays an internal error."""
    try:
        return environment(theme).get_template(template).render(**context)
    except Exception as exc:
        from reportgen.blame import theme_error

        problem = theme_error(exc, theme, Path.cwd())
        if problem is None:
            raise
        raise problem from exc


def stylesheets(theme: Path | None = None) -> dict[str, bytes]:
    """The package's CSS files, each replaced by the theme's file of the same name, plus the
    theme's own extra CSS files."""
    sheets = {css.name: css.read_bytes() for css in sorted((TEMPLATES / "css").glob("*.css"))}
    if theme and (theme / "css").is_dir():
        sheets.update({css.name: css.read_bytes() for css in sorted((theme / "css").glob("*.css"))})
    return sheets


def scripts(theme: Path | None = None) -> dict[str, bytes]:
    """The package's JavaScript (the deck's presenting script), each replaceable by the theme's
    file of the same name under theme/js/. The PDF ignores them."""
    found = {js.name: js.read_bytes() for js in sorted((TEMPLATES / "js").glob("*.js"))}
    if theme and (theme / "js").is_dir():
        found.update({js.name: js.read_bytes() for js in sorted((theme / "js").glob("*.js"))})
    return found


def copy_static(out: Path, theme: Path | None = None, written: set[Path] | None = None) -> None:
    """Stylesheets and scripts next to the HTML so the files open on their own in a browser."""
    for name, data in {**stylesheets(theme), **scripts(theme)}.items():
        path = out / "assets" / name
        if not path.exists() or path.read_bytes() != data:
            write_atomic(path, data)
        if written is not None:
            written.add(path)

"""The student's own words: a project's `writeup/` Markdown files -> report HTML and deck slides.

Where a file lands is decided by its name:

    intro.md                      before Task 1 (report) / after the title slide (deck)
    task1.md ... task5.md         at the start of that task; `task-architecture.md` (the task's
                                  name, see `reportgen list`) is the same place as `task1.md`
    <experiment id>.md            with that experiment, e.g. `arch-baseline.md`
    conclusions.md                after the last task
    README.md                     ignored (notes to yourself)

Any other `*.md` name is an error that lists the allowed names, closest first; other files and
sub-folders (e.g. `writeup/figures/`) are left alone.

Slides: a rule (`---`, `***` or `___` on a line of its own, with a blank line above it; without
the blank line Markdown reads `---` as underlining a heading) starts a new slide. A slide's first
heading is its title. The report shows all slides of a file one after another, without the rules.
Headings are moved under the deliverable's own: in the report `#` becomes a sub-heading of the
introduction, task or experiment it belongs to.

Speaker notes: a `::: notes` block (pandoc's convention) anywhere in a slide's text, closed by
`:::`, is that slide's notes: shown in the deck's speaker view, never on the slide, in the report
or in a PDF. Markdown and live numbers work inside it. In `<experiment id>.md` the notes of the
first slide belong to the experiment's result slide.

Live numbers, `{{ EXPERIMENT.NAME }}` and differences of two, are resolved by
reportgen.live_numbers (its docstring has the syntax).

Raw HTML in the Markdown is shown as text, not interpreted: WeasyPrint fetches whatever an
`<img>`, `<link>` or `style="...url()"` names when it renders the PDF, and an unclosed `<div>`
breaks every slide after it. Pictures come in as Markdown images only, `![alt](figures/x.png)`:
relative to the Markdown file and inside the project folder (an absolute path, a path leading
out of the project or a web address is an error), so the PDF never reaches the network. The
pictures used are listed in `Writeup.images` for the renderer to copy into `output/assets/`.

This module does not import torch and does not read the cache: the caller passes each
experiment's stored Section (or None) and whether it is stale.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple

from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from markupsafe import Markup
from mdit_py_plugins.container import container_plugin

from reportgen.errors import ReportgenError
from reportgen.paths import problem as path_problem
from reportgen.registry import TASKS
from reportgen.pictures import IMAGE_TYPES, WriteupImage, markdown_picture
from reportgen.live_numbers import MISSING_TEXT, STALE_FLAG, WriteupWarning, _closest, live_html
from reportgen.results import Section

__all__ = [
    "IMAGE_TYPES",
    "MISSING_TEXT",
    "STALE_FLAG",
    "Place",
    "PlaceKind",
    "TextSlide",
    "Writeup",
    "WriteupImage",
    "WriteupWarning",
    "allowed_names",
    "load_writeup",
]

Results = Mapping[str, tuple[Section | None, bool]]

IGNORED = {"readme.md"}
# How far `#` moves down: the report's task title is <h1>, an experiment's <h2>, a slide's title
# <h2>; the student's headings go below those.
REPORT_SHIFT = {"intro": 1, "task": 1, "experiment": 2, "conclusions": 1}
SLIDE_SHIFT = 2
NOTES = "notes"  # the name of a speaker-notes block: `::: notes`


class PlaceKind(StrEnum):
    """Where a write-up file lands."""

    intro = "intro"
    task = "task"
    experiment = "experiment"
    conclusions = "conclusions"


class TextSlide(NamedTuple):
    """One slide of the student's text: (title, html, notes).

    Attributes:
        title: the slide's first heading as HTML (live numbers included); empty when the slide
            has no heading: the template then shows its place's title.
        html: the rest of the slide, without its notes.
        notes: the slide's `::: notes` blocks as HTML, for the speaker view; empty without.
    """

    title: Markup
    html: Markup
    notes: Markup = Markup("")


@dataclass(frozen=True)
class Place:
    """One write-up file, rendered for the place its name gives it.

    Attributes:
        file: the Markdown file, relative to the project folder (for messages).
        kind: intro, task, experiment or conclusions.
        task: the task number (kind task), else None.
        experiment: the experiment id (kind experiment), else None.
        title: the place's own title ("Introduction", the task's or the experiment's title), for
            slides without a heading of their own.
        html: the whole file for the report, slide rules left out.
        slides: the file split at its rules, for the deck.
        tokens: the whole file as markdown-it tokens (notes left out, live numbers resolved into
            each `live_ref` token's meta["text"], pictures pointing at their copies), for the
            formats that are not HTML (LaTeX, Markdown, PowerPoint).
        slide_tokens: per slide, the title's inline tokens, the body's and the notes' tokens.
    """

    file: Path
    kind: PlaceKind
    task: int | None
    experiment: str | None
    title: str
    html: Markup
    slides: list[TextSlide]
    tokens: list[Token] = field(default_factory=list)
    slide_tokens: list[tuple[list[Token], list[Token], list[Token]]] = field(default_factory=list)


@dataclass
class Writeup:
    """Every write-up file of a project by place, the pictures they show and the warnings."""

    intro: Place | None = None
    conclusions: Place | None = None
    tasks: dict[int, Place] = field(default_factory=dict)
    experiments: dict[str, Place] = field(default_factory=dict)
    images: list[WriteupImage] = field(default_factory=list)
    warnings: list[WriteupWarning] = field(default_factory=list)
    referenced: list[str] = field(default_factory=list)  # experiment ids the text reads, in order

    def task(self, number: int) -> Place | None:
        """The text of task `number`, or None."""
        return self.tasks.get(number)

    def experiment(self, exp_id: str) -> Place | None:
        """The text of experiment `exp_id`, or None."""
        return self.experiments.get(exp_id)

    def attach(self, parts: Iterable[Any]) -> None:
        """Sets `.writeup` on each task part (by `.number`) and each of its `.blocks` (by `.id`)."""
        for part in parts:
            part.writeup = self.tasks.get(part.number)
            for block in part.blocks:
                block.writeup = self.experiments.get(block.id)

    def copy_images(self, out: Path, written: set[Path] | None = None) -> list[Path]:
        """Copies the pictures to `out` where the HTML expects them; returns (and adds to
        `written`) the copies' paths. A copy is named by its content, so an unchanged picture is
        not written again."""
        from reportgen.render.html import write_atomic  # the one atomic writer; jinja only now

        copies = []
        for image in self.images:
            target = out / image.target
            if not target.exists():
                write_atomic(target, image.source.read_bytes())
            copies.append(target)
        if written is not None:
            written.update(copies)
        return copies


def load_writeup(
    folder: Path,
    results: Results,
    *,
    registry: Mapping[str, Any] | None = None,
    project: Path | None = None,
) -> Writeup:
    """Reads and renders every `*.md` file of `folder`; an absent folder gives an empty Writeup.

    Args:
        folder: the write-up folder (the config's `writeup`, resolved against the project).
        results: experiment id -> (its stored Section or None, stale). Give every registered
            experiment, not only the selected tasks', so that a reference to another task's
            result is marked missing instead of being an unknown name.
        registry: the registered experiments by id (reportgen.registry.Experiment): their titles
            name the places, their tasks the command in a warning. Its ids count as known too.
        project: the folder pictures must stay inside; default: `folder`'s parent.

    Raises:
        ReportgenError: an unknown file name, two files for one task, an unreadable file, an
            unknown experiment or metric in a live number, or a picture that is not a file
            inside the project.
    """
    project = (project or folder.parent).resolve()
    registry = registry or {}
    # Looked up only where the text names an id: `results` may read the cache on demand.
    results = ChainMap(results, {exp_id: (None, False) for exp_id in registry})  # type: ignore[arg-type]
    writeup = Writeup()
    if not folder.exists():
        return writeup
    if not folder.is_dir():
        raise ReportgenError(
            f"{_shown(folder, project)} is not a folder",
            "the write-up is a folder of Markdown files",
            2,
        )
    images: dict[Path, WriteupImage] = {}
    task_files: dict[int, Path] = {}
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() == ".md"):
        if path.name.startswith(".") or path.name.lower() in IGNORED:
            continue  # editor lock files; notes to oneself
        why = path_problem(path, "file")  # stat only: a named pipe is said, never read (it would hang)
        if why is not None:
            raise ReportgenError(f"{_shown(path, project)} {why}", "a write-up file is a Markdown text file", 2)
        kind, key = _place(path, results, project)
        if kind is PlaceKind.task:
            assert isinstance(key, int)
            if key in task_files:
                raise ReportgenError(
                    f"{_shown(task_files[key], project)} and {_shown(path, project)} are both for Task {key}",
                    "keep one of them",
                    2,
                )
            task_files[key] = path
        env = _Env(path, _shown(path, project), project, results, registry)
        place = _render(env, kind, key)
        writeup.warnings += env.warnings
        writeup.referenced += [r for r in env.referenced if r not in writeup.referenced]
        for image in env.images:
            images.setdefault(image.source, image)
        if kind is PlaceKind.intro:
            writeup.intro = place
        elif kind is PlaceKind.conclusions:
            writeup.conclusions = place
        elif kind is PlaceKind.task:
            writeup.tasks[key] = place  # type: ignore[index]
        else:
            writeup.experiments[key] = place  # type: ignore[index]
    writeup.images = list(images.values())
    return writeup


def allowed_names(experiment_ids: Iterable[str]) -> list[str]:
    """Every file name a write-up folder may hold, in the order the deliverables show them."""
    tasks = [f"task{n}.md" for n in TASKS] + [f"task-{slug}.md" for slug, _ in TASKS.values()]
    return ["intro.md", *tasks, *(f"{i}.md" for i in experiment_ids), "conclusions.md"]


# --- file names -> places -----------------------------------------------------------------


def _place(path: Path, results: Results, project: Path) -> tuple[PlaceKind, int | str | None]:
    stem = path.stem
    if stem == "intro":
        return PlaceKind.intro, None
    if stem == "conclusions":
        return PlaceKind.conclusions, None
    for number, (slug, _) in TASKS.items():
        if stem in (f"task{number}", f"task-{slug}"):
            return PlaceKind.task, number
    if stem in results:
        return PlaceKind.experiment, stem
    closest = _closest(path.name, allowed_names(results), 3)
    raise ReportgenError(
        f"{_shown(path, project)}: no place for a write-up file named '{path.name}'"
        + (f"; closest: {', '.join(closest)}" if closest else ""),
        "allowed: intro.md, task1.md ... task5.md (or task-"
        + "|".join(s for s, _ in TASKS.values())
        + ".md), <experiment id>.md (ids from reportgen list), conclusions.md",
        2,
    )


def _shown(path: Path, project: Path) -> Path:
    """The path as the student knows it: relative to the project folder when inside it."""
    try:
        return path.resolve().relative_to(project)
    except ValueError:
        return path


# --- Markdown ------------------------------------------------------------------------------


def _live_ref_rule(state: StateInline, silent: bool) -> bool:
    """Tokenises `{{ ... }}`; it is resolved after parsing, where the line number is known."""
    start = state.pos
    if not state.src.startswith("{{", start):
        return False
    end = state.src.find("}}", start + 2, state.posMax)
    if not silent:
        token = state.push("live_ref", "", 0)
        token.content = "" if end < 0 else state.src[start + 2 : end]
        token.meta = {"offset": start, "unclosed": end < 0}
    state.pos = start + 2 if end < 0 else end + 2
    return True


def _render_live_ref(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    return tokens[idx].meta.get("html", "")


def _markdown() -> MarkdownIt:
    # html off: raw HTML is escaped (see the module docstring); tables and ~~strike~~ as on GitHub.
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    md.inline.ruler.after("backticks", "live_ref", _live_ref_rule)
    md.add_render_rule("live_ref", _render_live_ref)
    md.use(container_plugin, name=NOTES)  # `::: notes` ... `:::`, see _take_notes
    return md


@dataclass
class _Env:
    """What resolving one file's references and pictures needs, and what it collects."""

    path: Path
    shown: Path
    project: Path
    results: Results
    registry: Mapping[str, Any]
    warnings: list[WriteupWarning] = field(default_factory=list)
    images: list[WriteupImage] = field(default_factory=list)
    referenced: list[str] = field(default_factory=list)


def _render(env: _Env, kind: PlaceKind, key: int | str | None) -> Place:
    try:
        text = env.path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ReportgenError(f"{env.shown}: not UTF-8 text", "save it as UTF-8", 2) from None
    except OSError as exc:
        raise ReportgenError(f"{env.shown}: cannot be read: {exc.strerror}", exit_code=2) from None
    md = _markdown()
    tokens = md.parse(text)
    for token in tokens:
        if token.type == "inline":
            _resolve_inline(token, env)
        if token.type in ("heading_open", "heading_close"):
            token.meta["level"] = int(token.tag[1])  # as written; each rendering shifts it
    chunks = [_take_notes(chunk) for chunk in _split_slides(tokens)]
    report = "".join(_html(md, chunk, REPORT_SHIFT[kind]) for chunk, _ in chunks)
    slides, slide_tokens = [], []
    for chunk, notes in chunks:
        heading, body = _take_title(chunk)
        slide_tokens.append((list(heading.children or []) if heading else [], body, notes))
        title = md.renderer.renderInline(heading.children or [], md.options, {}) if heading else ""
        html, notes_html = _html(md, body, SLIDE_SHIFT), _html(md, notes, SLIDE_SHIFT)
        slides.append(TextSlide(Markup(title), Markup(html), Markup(notes_html)))
    return Place(
        file=env.shown,
        kind=kind,
        task=key if isinstance(key, int) else None,
        experiment=key if isinstance(key, str) else None,
        title=_place_title(kind, key, env),
        html=Markup(report),
        slides=slides,
        tokens=[token for chunk, _ in chunks for token in chunk],
        slide_tokens=slide_tokens,
    )


def _place_title(kind: PlaceKind, key: int | str | None, env: _Env) -> str:
    if kind is PlaceKind.intro:
        return "Introduction"
    if kind is PlaceKind.conclusions:
        return "Conclusions"
    if isinstance(key, int):
        return TASKS[key][1]
    exp = env.registry.get(key)
    if exp is not None:
        return exp.title
    section = env.results.get(key, (None, False))[0]  # type: ignore[arg-type]
    return section.title if section is not None and section.title else str(key)


def _split_slides(tokens: list[Token]) -> list[list[Token]]:
    """Top-level rules separate slides; empty slides (a rule at the start or end) are dropped."""
    chunks: list[list[Token]] = [[]]
    for token in tokens:
        if token.type == "hr" and token.level == 0:
            chunks.append([])
        else:
            chunks[-1].append(token)
    return [chunk for chunk in chunks if chunk]


def _take_notes(chunk: list[Token]) -> tuple[list[Token], list[Token]]:
    """Splits a slide into its text and the contents of its `::: notes` blocks (at any depth)."""
    text: list[Token] = []
    notes: list[Token] = []
    depth = 0  # how many notes blocks the current token lies in
    for token in chunk:
        if token.type == f"container_{NOTES}_open":
            depth += 1
        elif token.type == f"container_{NOTES}_close":
            depth -= 1
        else:
            (notes if depth else text).append(token)
    return text, notes


def _take_title(chunk: list[Token]) -> tuple[Token | None, list[Token]]:
    """The first top-level heading's inline token, and the slide without that heading."""
    for i, token in enumerate(chunk):
        if token.type == "heading_open" and token.level == 0:
            return chunk[i + 1], chunk[:i] + chunk[i + 3 :]
    return None, chunk


def _html(md: MarkdownIt, tokens: list[Token], shift: int) -> str:
    for token in tokens:
        if "level" in token.meta:
            token.tag = f"h{min(6, token.meta['level'] + shift)}"
    return md.renderer.render(tokens, md.options, {})


def _resolve_inline(block: Token, env: _Env) -> None:
    first_line = (block.map[0] if block.map else 0) + 1
    for child in block.children or []:
        if child.type == "live_ref":
            line = first_line + block.content.count("\n", 0, child.meta["offset"])
            child.meta["html"] = live_html(child, line, env)
        elif child.type == "image":
            markdown_picture(child, first_line, env)
            for alt in child.children or []:
                if alt.type == "live_ref":
                    alt.meta["html"] = live_html(alt, first_line, env)

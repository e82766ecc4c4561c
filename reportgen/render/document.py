"""Renders the deliverables: deck and report, HTML and PDF, from cache entries."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reportgen import __version__
from reportgen.cache import Entry
from reportgen.config import Config
from reportgen.errors import ReportgenError
from reportgen.registry import Experiment
from reportgen.render.html import (
    build_parts,
    copy_static,
    render_html,
    write_atomic,
)
from reportgen.render.budget import Layout, deck_layout, outline_spans
from reportgen.render.pdf import html_to_pdf
from reportgen.render.publish import Publication

DELIVERABLES = {"deck": "deck.html.j2", "report": "report.html.j2"}
# Every --format; the last three are written from the same parts the HTML shows, for the deck
# (pptx) or the report (latex, md), see _other_formats.
FORMATS = ("html", "pdf", "pptx", "latex", "md")
# Written into every output folder reportgen renders; `clean` deletes only folders that have it.
MARKER = ".reportgen-output"


@dataclass
class Written:
    path: Path
    pages: int = 0
    reused: bool = False
    outline: list = field(default_factory=list)  # PDF headings: (level, title, first page)


def _pdf(html_path: Path, html: str, embedded: list[Path], publication: Publication, project: Path | None = None) -> Written:
    """Renders the PDF beside `html_path` (in the scratch folder) unless the one published in
    the output folder was made from the same HTML and the same bytes of every file a page embeds;
    the page may load files of its folder, of `project` and of the package, nothing else."""
    pdf_name = html_path.with_suffix(".pdf").name
    stamp_name = f".{pdf_name}.source.json"
    sha = hashlib.sha256(html.encode())
    for path in embedded:  # every asset: stylesheets, figures, the logo, the write-up's pictures
        sha.update(path.relative_to(publication.staging).as_posix().encode() + b"\0")
        sha.update(path.read_bytes())
    source = sha.hexdigest()
    final = publication.out
    try:
        stamp = json.loads((final / stamp_name).read_text())
        if stamp["source"] == source and (final / pdf_name).is_file():
            publication.keep(pdf_name)
            return Written(final / pdf_name, stamp["pages"], reused=True, outline=[tuple(o) for o in stamp.get("outline", [])])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    pages, outline = html_to_pdf(html_path, html_path.with_suffix(".pdf"), project)
    write_atomic(html_path.with_name(stamp_name), json.dumps({"source": source, "pages": pages, "outline": outline}))
    return Written(final / pdf_name, pages, outline=outline)


def _logo(config: Config, out: Path, written: set[Path]) -> str:
    """Copies the configured logo into out/assets; returns its relative path ('' for none)."""
    if config.logo is None:
        return ""
    source = config.resolve(config.logo)
    if not source.is_file():
        raise ReportgenError(f"{config.source}: logo '{config.logo}' does not exist", "point logo at an image file in the project", 2)
    target = out / "assets" / f"logo{source.suffix.lower()}"
    if not target.exists() or target.read_bytes() != source.read_bytes():
        write_atomic(target, source.read_bytes())
    written.add(target)
    return f"assets/{target.name}"


def layouts(out: Path, written: list[Written]) -> dict[str, Layout]:
    """How long each rendered deliverable is (slides of the deck, pages of the report) and where
    the room goes: slides per task, pages per experiment."""
    found: dict[str, Layout] = {}
    pdfs = {w.path.stem: w for w in written if w.path.suffix == ".pdf"}
    deck_html = out / "deck.html"
    if any(w.path.stem == "deck" for w in written) and deck_html.is_file():
        found["deck"] = deck_layout(deck_html.read_text(encoding="utf-8"), pdfs["deck"].pages if "deck" in pdfs else 0)
    if "report" in pdfs:
        report = pdfs["report"]
        found["report"] = Layout(report.pages, "pages", outline_spans(report.outline, report.pages, level=2))
    return found


def name_parts(parts: list, config: Config) -> None:
    """Gives each task part the course's label and title (`[tasks.N]`, by number or name)."""
    for part in parts:
        own = config.tasks.get(str(part.number)) or config.tasks.get(part.slug)
        part.label = (own.label if own and own.label else f"Task {part.number}")
        part.short = part.label.split()[-1] if own and own.label else str(part.number)
        if own and own.title:
            part.title = own.title


def number_items(parts: list) -> None:
    """Numbers the figures and tables as the report shows them: "Figure A.2", "Table 1.3"."""
    for part in parts:
        counters: dict[str, int] = {}
        for block in part.blocks:
            for item in block.items:
                if item.shown:
                    label = "Table" if item.kind == "table" else "Figure"
                    counters[label] = counters.get(label, 0) + 1
                    item.number = f"{label} {part.short}.{counters[label]}"


def arrange(parts: list, show: list) -> list:
    """The task parts as `show` lists them (tasks by number or name, experiments by id, in that
    order); everything, in task order, when `show` is empty. An experiment named by its id is on
    the talk deck even where it is one of those the talk leaves to the report by default."""
    if not show:
        return parts
    import copy
    import dataclasses

    by_number = {p.number: p for p in parts}
    by_slug = {p.slug: p for p in parts}
    arranged: dict[int, Any] = {}
    for entry in show:
        key = str(entry).strip().lower()
        part = by_number.get(int(key)) if key.isdigit() else by_slug.get(key)
        if part is not None:
            arranged.setdefault(part.number, copy.copy(part)).blocks = list(part.blocks)
            continue
        for p in parts:
            block = next((b for b in p.blocks if b.id == entry), None)
            if block is not None:
                target = arranged.setdefault(p.number, copy.copy(p))
                if target.blocks is p.blocks:
                    target.blocks = []
                if all(b.id != block.id for b in target.blocks):
                    target.blocks.append(dataclasses.replace(block, in_talk=True))
    return list(arranged.values())


# Quick accuracies swing by points under tiny numeric changes (one or two epochs on a few
# thousand images): the title slide and the cover say so.
QUICK_NOTICE = ("Quick profile: numbers from a short run on a small sample, for trying things out, not for "
                "reporting; build with the standard profile for the deliverables.")


def _other_formats(context: dict[str, Any], entries: dict[str, Entry], publication: Publication, only: list[str],
                   formats: list[str], on_step=None) -> list[Written]:
    """deck.pptx (with the deck), the LaTeX project and README.md (with the report), as asked:
    written into the scratch folder and published with the HTML and PDF."""
    results: list[Written] = []
    out = publication.staging
    if "pptx" in formats and "deck" in only:
        from reportgen.render.powerpoint import write_pptx

        if on_step:
            on_step("deck.pptx")
        path, slides = write_pptx(context, entries, out)
        results.append(Written(path, slides))
    if "md" in formats and "report" in only:
        from reportgen.render.readme import write_readme

        if on_step:
            on_step("README.md")
        results.append(Written(write_readme(context, entries, out)))
    if "latex" in formats and "report" in only:
        from reportgen.render.latex import write_latex

        if on_step:
            on_step("latex/main.tex")
        results += [Written(path) for path in write_latex(context, entries, out)]
    for written in results:  # named where they will be once published
        written.path = publication.out / written.path.relative_to(out)
    return results


def pruned(formats: list[str]) -> tuple[str, ...]:
    """The folders whose earlier files a render of every deliverable in `formats` replaces."""
    return ("assets/",) + (("readme-assets/",) if "md" in formats else ()) + (("latex/figures/",) if "latex" in formats else ())


def render_all(
    config: Config,
    experiments: list[Experiment],
    entries: dict[str, Entry],
    out: Path,
    *,
    only: list[str] | None = None,
    formats: list[str] | None = None,
    stale: set[str] | None = None,
    writeup: Any = None,
    verification: dict[str, Any] | None = None,
    on_step=None,
) -> list[Written]:
    """Writes out/deck.html, out/report.html and their PDFs (as selected); returns what was written.

    `writeup` is the student's text (reportgen.writeup.Writeup) or None.
    """
    only = only or list(DELIVERABLES)
    formats = formats or ["html", "pdf"]
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / MARKER, "This folder is written by reportgen; 'reportgen clean' deletes what it wrote here.\n")
    with Publication(out) as publication:
        results = _render_into(publication, config, experiments, entries, only, formats, stale, writeup, verification, on_step)
        # Both deliverables now point at this render's assets only: older figures can go.
        publication.commit(prune=set(only) == set(DELIVERABLES), prefixes=pruned(formats))
    return results


def _render_into(publication: Publication, config: Config, experiments, entries, only, formats, stale, writeup,
                 verification, on_step) -> list[Written]:  # fmt: skip
    """Writes every file of the render into the publication's scratch folder."""
    stage = publication.staging
    theme = config.resolve(config.theme) if config.theme else None
    written: set[Path] = set()
    parts = build_parts(experiments, entries, stage, stale or set(), written)
    name_parts(parts, config)
    if writeup is not None:
        writeup.attach(parts)
        writeup.copy_images(stage, written)
    provs = [entry.provenance for entry in entries.values()]
    datasets = sorted({p.get("dataset", "") for p in provs if p.get("dataset")})
    notices = sorted({p.get(k, "") for p in provs for k in ("dataset_notice", "dataset_skipped") if p.get(k)})
    if any(p.get("profile") == "quick" for p in provs):
        notices.insert(0, QUICK_NOTICE)
    report_parts = arrange(parts, config.report.show)
    number_items(report_parts)
    context = {
        "config": config,
        "parts": parts,
        "writeup": writeup,
        "datasets": datasets,
        "notices": notices,
        "profiles": sorted({p.get("profile", "") for p in provs}),
        "version": __version__,
        "logo": _logo(config, stage, written),
        "talk": config.deck.mode == "talk",
        "verification": verification,
        "deck_parts": arrange(parts, config.deck.show),
        "report_parts": report_parts,
        # The newest result's time, not the clock: the same results give the same HTML (and PDF).
        "computed": max((p.get("finished", "") for p in provs), default="")[:16].replace("T", " "),
    }
    copy_static(stage, theme, written)
    embedded = sorted(p for p in stage.rglob("*") if p.is_file())
    results = []
    for name in only:
        html_path = stage / f"{name}.html"
        if on_step:
            on_step(f"{name}.html")
        html = render_html(DELIVERABLES[name], {**context, "standalone": True}, theme)
        write_atomic(html_path, html)  # also for --format pdf: the PDF is rendered from it
        if "html" in formats:
            results.append(Written(publication.out / html_path.name))
        if "pdf" in formats:
            if on_step:
                on_step(f"{name}.pdf")
            results.append(_pdf(html_path, html, embedded, publication, config.root))
    return results + _other_formats(context, entries, publication, only, formats, on_step)

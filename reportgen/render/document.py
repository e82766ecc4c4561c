"""Renders the deliverables: deck and report, HTML and PDF, from cache entries."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from reportgen import __version__
from reportgen.cache import Entry
from reportgen.config import Config
from reportgen.registry import Experiment
from reportgen.render.html import TEMPLATES, build_parts, copy_static, render_html, write_atomic
from reportgen.render.pdf import html_to_pdf

DELIVERABLES = {"deck": "deck.html.j2", "report": "report.html.j2"}


@dataclass
class Written:
    path: Path
    pages: int = 0
    reused: bool = False


def _pdf(html_path: Path, html: str) -> Written:
    """Renders the PDF unless the one on disk was made from the same HTML and CSS."""
    pdf_path = html_path.with_suffix(".pdf")
    stamp_path = html_path.with_name(f".{pdf_path.name}.source.json")
    sha = hashlib.sha256(html.encode())
    for css in sorted((TEMPLATES / "css").glob("*.css")):
        sha.update(css.read_bytes())
    source = sha.hexdigest()
    try:
        stamp = json.loads(stamp_path.read_text())
        if stamp["source"] == source and pdf_path.exists():
            return Written(pdf_path, stamp["pages"], reused=True)
    except (OSError, ValueError, KeyError):
        pass
    pages = html_to_pdf(html_path, pdf_path)
    write_atomic(stamp_path, json.dumps({"source": source, "pages": pages}))
    return Written(pdf_path, pages)


def render_all(
    config: Config,
    experiments: list[Experiment],
    entries: dict[str, Entry],
    out: Path,
    *,
    only: list[str] | None = None,
    formats: list[str] | None = None,
    stale: set[str] | None = None,
    on_step=None,
) -> list[Written]:
    """Writes out/deck.html, out/report.html and their PDFs (as selected); returns what was written."""
    only = only or list(DELIVERABLES)
    formats = formats or ["html", "pdf"]
    out.mkdir(parents=True, exist_ok=True)
    parts = build_parts(experiments, entries, out, stale or set())
    provs = [entry.provenance for entry in entries.values()]
    datasets = sorted({p.get("dataset", "") for p in provs if p.get("dataset")})
    notices = sorted({p.get(k, "") for p in provs for k in ("dataset_notice", "dataset_skipped") if p.get(k)})
    context = {
        "config": config,
        "parts": parts,
        "datasets": datasets,
        "notices": notices,
        "profiles": sorted({p.get("profile", "") for p in provs}),
        "version": __version__,
        # The newest result's time, not the clock: the same results give the same HTML (and PDF).
        "computed": max((p.get("finished", "") for p in provs), default="")[:16].replace("T", " "),
    }
    copy_static(out)
    written = []
    for name in only:
        html_path = out / f"{name}.html"
        if on_step:
            on_step(f"{name}.html")
        html = render_html(DELIVERABLES[name], {**context, "standalone": True})
        # The HTML is written even for --format pdf: the PDF is rendered from it.
        if not html_path.exists() or html_path.read_text(encoding="utf-8") != html:
            write_atomic(html_path, html)
        if "html" in formats:
            written.append(Written(html_path))
        if "pdf" in formats:
            if on_step:
                on_step(f"{name}.pdf")
            written.append(_pdf(html_path, html))
    return written

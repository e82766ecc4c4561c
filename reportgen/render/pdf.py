"""HTML -> PDF with WeasyPrint, written atomically."""

from __future__ import annotations

import logging
from pathlib import Path

from reportgen.render.html import write_atomic


def html_to_pdf(html_path: Path, pdf_path: Path) -> tuple[int, list[tuple[int, str, int]]]:
    """Renders `html_path` (its relative links resolved beside it) to `pdf_path`; returns the
    number of pages and the outline as (level, heading, first page) in document order."""
    import weasyprint

    # WeasyPrint warns about every CSS property it does not know (browser-only rules); keep quiet.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    # Local files only: nothing named in a theme or a write-up is fetched from the network.
    fetcher = weasyprint.urls.URLFetcher(allowed_protocols={"file", "data"})
    document = weasyprint.HTML(filename=str(html_path), base_url=str(html_path.parent), url_fetcher=fetcher).render()
    write_atomic(pdf_path, document.write_pdf())
    return len(document.pages), _flatten(document.make_bookmark_tree())


def _flatten(tree: list, level: int = 1) -> list[tuple[int, str, int]]:
    rows = []
    for label, (page, _x, _y), children, _state in tree:
        rows.append((level, label, page))
        rows += _flatten(children, level + 1)
    return rows

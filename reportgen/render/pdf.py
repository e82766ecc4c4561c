"""HTML -> PDF with WeasyPrint, written atomically."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from reportgen.render.html import package_templates, write_atomic


def html_to_pdf(html_path: Path, pdf_path: Path, project: Path | None = None) -> tuple[int, list[tuple[int, str, int]]]:
    """Renders `html_path` (its relative links resolved beside it) to `pdf_path`; returns the
    number of pages and the outline as (level, heading, first page) in document order.

    Everything the page loads, at any depth (an SVG's own links too), must be a file in the
    HTML's folder, in `project` or in the package's templates; anything else is left out.
    """
    import weasyprint

    from reportgen.render.fetch import LocalOnlyFetcher

    # WeasyPrint warns about every CSS property it does not know (browser-only rules); keep quiet.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    roots = [html_path.parent, package_templates()] + ([project] if project is not None else [])
    fetcher = LocalOnlyFetcher(roots)
    document = weasyprint.HTML(filename=str(html_path), base_url=str(html_path.parent), url_fetcher=fetcher).render()
    write_atomic(pdf_path, document.write_pdf())
    for url in dict.fromkeys(fetcher.refused):  # once each, beside the CLI's other warnings: a picture went missing
        print(f"  ! {pdf_path.name}: left out {url} (not a file of the project)", file=sys.stderr)
    return len(document.pages), _flatten(document.make_bookmark_tree())


def _flatten(tree: list, level: int = 1) -> list[tuple[int, str, int]]:
    rows = []
    for label, (page, _x, _y), children, _state in tree:
        rows.append((level, label, page))
        rows += _flatten(children, level + 1)
    return rows

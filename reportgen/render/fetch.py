"""The one door through which a page being printed to PDF loads anything.

WeasyPrint fetches every stylesheet, picture and font a page names, and every file an SVG names
in turn, at any depth, through its `url_fetcher`. A project may come from someone else: a write-up
SVG that links `file:///home/me/.ssh/...` or `https://...` must not pull that into the PDF. So
only files that resolve (symlinks followed) inside the folders given here are read; `data:` URLs
are allowed because they carry their bytes inline and read nothing; everything else is refused
and remembered, so the caller can say what was left out.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import weasyprint


class LocalOnlyFetcher(weasyprint.urls.URLFetcher):
    """A WeasyPrint URL fetcher that reads only files under `roots` (and inline `data:` URLs).

    Attributes:
        refused: the URLs that were asked for and refused, in order.
    """

    def __init__(self, roots: list[Path]) -> None:
        super().__init__(allowed_protocols={"file", "data"})
        self.roots = [root.resolve() for root in roots]
        self.refused: list[str] = []

    def allows(self, url: str) -> bool:
        """Whether `url` is inline data or a file inside one of the roots."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "data":
            return True
        if scheme != "file" or parts.netloc not in ("", "localhost"):
            return False
        try:
            path = Path(url2pathname(parts.path)).resolve()
        except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte
            return False
        return any(path.is_relative_to(root) for root in self.roots)

    def fetch(self, url: str, headers: dict[str, str] | None = None):  # type: ignore[override]
        if not self.allows(url):
            self.refused.append(url)
            # WeasyPrint catches this, logs it and leaves the resource out of the page.
            raise ValueError(f"refused to load {url}: only files of the project and the output folder are read")
        return super().fetch(url, headers)

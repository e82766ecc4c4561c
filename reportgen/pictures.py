"""The project's own pictures in the deliverables: the logo a config names and the pictures the
write-up's Markdown shows.

A project may come from someone else. A logo is copied into `output/assets/`, served by `serve`
and embedded in both PDFs, so a logo naming a file outside the project (a system file, someone's
home folder) would publish that file. It is checked when the config is read, before anything
trains: inside the project folder (symlinks followed), a regular file, an image type the
deliverables can show, and an image Pillow can open without decoding billions of pixels.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from markdown_it.token import Token

from reportgen.errors import ReportgenError
from reportgen.paths import problem as path_problem

SVG_SNIFF = 65536  # bytes of an SVG searched for its <svg tag
# Formats WeasyPrint and browsers both draw; a PDF or TIFF would silently be left out.
IMAGE_TYPES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")


@dataclass(frozen=True)
class WriteupImage:
    """A picture the text shows: `source` is copied to `<output>/<target>`, which the HTML names."""

    source: Path
    target: str


def check_picture(value: Path, project: Path, key: str, source: Path) -> Path:
    """The picture `value` (relative to `project`) as an absolute path, checked.

    Raises:
        ReportgenError: outside the project, missing, not a regular file, not an image type
            the deliverables show, unreadable as an image, or too large to decode; one line
            naming `source` and `key`, exit code 2.
    """
    where = f"{source}: {key} '{value}'"
    path = (value if value.is_absolute() else project / value).resolve()
    root = project.resolve()
    if not path.is_relative_to(root):
        raise ReportgenError(
            f"{where} lies outside the project folder {root}",
            "copy the picture into the project folder (e.g. theme/logo.png) and name the copy",
            2,
        )
    if not path.exists():
        raise ReportgenError(f"{where} does not exist", f"paths are relative to {root}", 2)
    if not path.is_file():
        raise ReportgenError(f"{where} is not a regular file", "name an image file", 2)
    if path.suffix.lower() not in IMAGE_TYPES:
        raise ReportgenError(
            f"{where} is not an image the deliverables can show",
            f"use {', '.join(t.lstrip('.') for t in IMAGE_TYPES)}",
            2,
        )
    problem = picture_problem(path)
    if problem:
        raise ReportgenError(f"{where} {problem}", "use a PNG, JPEG or SVG picture", 2)
    return path


def picture_problem(path: Path) -> str:
    """What is wrong with the image file `path` ('is not an SVG picture ...', 'is too large to
    decode safely ...'), or '' when a renderer can draw it."""
    return _svg_problem(path) if path.suffix.lower() == ".svg" else _raster_problem(path)


def _svg_problem(path: Path) -> str:
    with open(path, "rb") as handle:
        head = handle.read(SVG_SNIFF)
    return "" if b"<svg" in head else "is not an SVG picture (no <svg> element)"


def _raster_problem(path: Path) -> str:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:  # reads the header: the size check happens here
            img.verify()
    except Image.DecompressionBombError as exc:
        return f"is too large to decode safely: {exc}"
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        return f"cannot be read as an image: {exc}"
    return ""


def markdown_picture(token: Token, line: int, env: Any) -> None:
    """Checks a Markdown image of the write-up (`env`: the file's writeup._Env) and points it at its
    copy under assets/writeup/."""
    src = str(token.attrGet("src") or "")
    where = f"{env.shown}:{line}"
    parts = urlsplit(src)
    if parts.scheme or parts.netloc or src.startswith("//"):
        raise ReportgenError(
            f"{where}: picture '{src}' is not a file of the project",
            "nothing is downloaded when the deliverables are rendered: save the picture in the project "
            "folder (e.g. writeup/figures/) and link it by a relative path",
            2,
        )
    relative = unquote(parts.path)
    if not relative or Path(relative).is_absolute():
        raise ReportgenError(
            f"{where}: picture '{src}' is an absolute path",
            f"link it relative to {env.shown.parent}/, inside the project folder",
            2,
        )
    source = (env.path.parent / relative).resolve()
    if not source.is_relative_to(env.project):
        raise ReportgenError(
            f"{where}: picture '{src}' lies outside the project folder {env.project}",
            "copy it into the project folder (e.g. writeup/figures/) and link the copy",
            2,
        )
    why = path_problem(source, "file")
    if why is not None and why != "does not exist":
        raise ReportgenError(f"{where}: picture '{src}' {why}", "link an image file", 2)
    if why is not None:
        hint = "paths are relative to the Markdown file"
        if (env.project / relative).is_file():
            suggestion = (
                Path("..") / relative
                if env.path.parent.resolve() != env.project
                else Path(relative)
            )
            hint += f": write '{suggestion.as_posix()}'"
        raise ReportgenError(
            f"{where}: picture '{src}' not found (looked for {_relative(source, env.project)})",
            hint,
            2,
        )
    if source.suffix.lower() not in IMAGE_TYPES:
        raise ReportgenError(
            f"{where}: picture '{src}' is not an image the deliverables can show",
            f"use {', '.join(t.lstrip('.') for t in IMAGE_TYPES)}",
            2,
        )
    problem = picture_problem(source)  # the PDF renderer would drop it silently
    if problem:
        raise ReportgenError(f"{where}: picture '{src}' {problem}", "use a PNG, JPEG or SVG picture", 2)
    data = source.read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:10]
    image = WriteupImage(source, f"assets/writeup/{source.stem}-{digest}{source.suffix.lower()}")
    env.images.append(image)
    token.attrSet("src", image.target)


def _relative(path: Path, project: Path) -> Path:
    try:
        return path.resolve().relative_to(project.resolve())
    except ValueError:
        return path

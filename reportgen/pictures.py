"""Pictures a config names for the deliverables (the logo): the project's own image files.

A project may come from someone else. A logo is copied into `output/assets/`, served by `serve`
and embedded in both PDFs, so a logo naming a file outside the project (a system file, someone's
home folder) would publish that file. It is checked when the config is read, before anything
trains: inside the project folder (symlinks followed), a regular file, an image type the
deliverables can show, and an image Pillow can open without decoding billions of pixels.
"""

from __future__ import annotations

from pathlib import Path

from reportgen.errors import ReportgenError

SVG_SNIFF = 65536  # bytes of an SVG searched for its <svg tag


def check_picture(value: Path, project: Path, key: str, source: Path) -> Path:
    """The picture `value` (relative to `project`) as an absolute path, checked.

    Raises:
        ReportgenError: outside the project, missing, not a regular file, not an image type
            the deliverables show, unreadable as an image, or too large to decode; one line
            naming `source` and `key`, exit code 2.
    """
    from reportgen.writeup import IMAGE_TYPES

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

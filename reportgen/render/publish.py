"""Publishes one render's files together, and remembers which files of an output folder are ours.

A render writes every file (figures, stylesheets, logo, pictures, HTML, PDF) into a scratch
folder inside the output folder (so on the same file system) and moves them into place only at
the end, assets first and pages last: a render that is interrupted or fails leaves the previous
deliverables exactly as they were. The moves are renames that take milliseconds; only a kill
inside that window can leave a mix of old and new files, which the next render replaces.

The manifest (`.reportgen-manifest.json` in the output folder) lists every file reportgen
wrote there. Pruning earlier builds' figures and `reportgen clean` delete only files it lists,
so a user's own files in the same folder, even under `assets/`, are never touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path

MANIFEST = ".reportgen-manifest.json"
STAGING = ".reportgen-staging-"  # + pid + random: one scratch folder per render


# What renders wrote before the manifest existed, recognisable by name: a figure named by its
# content hash, a copied picture, the logo. Used only in a folder with reportgen's marker.
LEGACY = re.compile(r"assets/(?:[\w.-]+/\d{2}-[0-9a-f]{10}\.(?:svg|png)|writeup/[^/]+-[0-9a-f]{10}\.\w+|logo\.\w+)")


def read_manifest(out: Path) -> set[str]:
    """The files (relative paths) reportgen wrote into `out`; empty when unknown or damaged."""
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return _legacy(out)
    except (OSError, ValueError):
        return set()
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, list):
        return set()
    return {f for f in files if isinstance(f, str) and _inside(f)}


def _legacy(out: Path) -> set[str]:
    """An output folder rendered before manifests: the files whose names only reportgen gives."""
    from reportgen.render.document import MARKER
    from reportgen.render.html import TEMPLATES

    if not (out / MARKER).is_file() or not (out / "assets").is_dir():
        return set()
    ours = {f"assets/{css.name}" for css in (TEMPLATES / "css").glob("*.css")}
    found = {p.relative_to(out).as_posix() for p in (out / "assets").rglob("*") if p.is_file() and not p.is_symlink()}
    return {rel for rel in found if rel in ours or LEGACY.fullmatch(rel)}


def _inside(rel: str) -> bool:
    """A relative path that stays inside the output folder (a damaged manifest deletes nothing else)."""
    path = Path(rel)
    return bool(rel) and not path.is_absolute() and ".." not in path.parts


def write_manifest(out: Path, files: set[str]) -> None:
    from reportgen.render.html import write_atomic

    write_atomic(out / MANIFEST, json.dumps({"files": sorted(files)}, indent=1))


def remove_listed(out: Path, files: set[str]) -> None:
    """Deletes the listed files (when they are still plain files) and the folders they leave empty."""
    root = out.resolve()
    for rel in sorted(files):
        path = out / rel
        if path.is_file() and not path.is_symlink() and root in path.resolve().parents:  # not through a link
            path.unlink()
        parent = path.parent
        while parent != out and parent.is_dir() and out in parent.parents and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def remove_leftover_staging(out: Path) -> None:
    """Scratch folders of renders that were killed (their process is gone)."""
    if not out.is_dir():
        return
    for path in out.glob(f"{STAGING}*"):
        pid = path.name.removeprefix(STAGING).split("-")[0]
        if path.is_dir() and not path.is_symlink() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _publish_order(rel: Path) -> tuple[int, str]:
    """Assets before the pages that link them; HTML before its PDF; the reuse stamps last."""
    rank = 0 if rel.parts[0] == "assets" else {".html": 1, ".pdf": 2}.get(rel.suffix, 3)
    return rank, rel.as_posix()


class Publication:
    """One render's scratch folder: write into `staging`, then `commit()`; `discard()` on failure."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.staging = out / f"{STAGING}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.kept: set[str] = set()  # files left as they are in `out` (a PDF that did not change)

    def __enter__(self) -> Publication:
        remove_leftover_staging(self.out)
        self.staging.mkdir(parents=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    def keep(self, rel: str) -> None:
        self.kept.add(rel)

    def commit(self, prune: bool, prefixes: tuple[str, ...] = ("assets/",)) -> None:
        """Moves every staged file into place (an unchanged file is left alone, so its time stays),
        then, with `prune`, deletes the files of earlier renders under `prefixes` (folders this
        render wrote in full) that this one no longer uses."""
        staged = sorted((p.relative_to(self.staging) for p in self.staging.rglob("*") if p.is_file()), key=_publish_order)
        new = {rel.as_posix() for rel in staged} | self.kept
        before = read_manifest(self.out)
        write_manifest(self.out, before | new)  # listed before they land: a kill never hides one of ours
        for rel in staged:
            source, target = self.staging / rel, self.out / rel
            if target.is_file() and not target.is_symlink() and _same(source, target):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
        if prune:
            old = {rel for rel in before - new if rel.startswith(prefixes)}
            remove_listed(self.out, old)
            write_manifest(self.out, before - old | new)
        self.discard()


def _same(a: Path, b: Path) -> bool:
    return a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()

"""Figures drawn once: a content-addressed store of drawn figures, and drawing what is missing
in parallel processes.

A figure's key is the hash of what it is drawn from (the result's data, the bytes of the arrays
it shows), of the drawing code (render/plots.py, which holds the theme: palette, fonts, sizes)
and of matplotlib's version. A warm render finds every figure by its key and draws nothing;
a figure is redrawn only when its data, its drawer or the theme changed. The store lives in
the result cache's folder (`<cache>/.figures/`), so `reportgen clean --cache` empties it too.
"""

from __future__ import annotations

import functools
import hashlib
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from reportgen.results import Bars, ImageGrid, Result

DRAWN_KINDS = {"curves": ".svg", "scatter": ".svg", "image_grid": ".png", "heatmap": ".svg", "bars": ".svg"}
WORKERS = 2  # the course machines have 2 cores; REPORTGEN_FIGURE_WORKERS changes it (1: no processes)
NOT_DRAWN = ("title", "caption", "key")  # shown around the figure by the HTML: a new caption redraws nothing
PARALLEL_FROM = 4  # fewer stale figures than this are drawn here: starting processes costs more


@functools.cache
def drawer_hash() -> str:
    """The drawing code and the theme it holds, and the matplotlib that runs it."""
    from importlib.metadata import version

    sha = hashlib.sha256((Path(__file__).parent / "plots.py").read_bytes())
    sha.update(version("matplotlib").encode())
    return sha.hexdigest()


def arrays_of(result: Result) -> list[str]:
    """The stored array files a figure shows."""
    if isinstance(result, ImageGrid):
        return [name for name in result.images + result.overlays if name]
    if isinstance(result, Bars) and result.image:
        return [result.image]
    return []


def figure_key(result: Result, files: Path) -> str | None:
    """The content address of a result's figure, or None for kinds shown as HTML."""
    if result.kind not in DRAWN_KINDS:
        return None
    sha = hashlib.sha256(drawer_hash().encode())
    drawn = {k: v for k, v in result.to_dict().items() if k not in NOT_DRAWN}
    sha.update(json.dumps(drawn, sort_keys=True, default=str).encode())
    for name in arrays_of(result):
        sha.update(name.encode())
        try:
            sha.update((files / name).read_bytes())
        except OSError:
            sha.update(b"missing")  # the drawer says what is wrong when it is asked to draw
    return sha.hexdigest()[:24]


@dataclass
class Job:
    """One figure to show: what it is drawn from, and its key."""

    result: Result
    files: Path
    key: str
    suffix: str


class FigureStore:
    """Drawn figures by key under `root` (written atomically; safe to delete at any time)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.drawn = 0  # figures drawn by this store's last `ensure`

    def path(self, job: Job) -> Path:
        return self.root / job.key[:2] / f"{job.key}{job.suffix}"

    def ensure(self, jobs: list[Job]) -> None:
        """Draws every job whose figure is not stored yet (in parallel when there are many)."""
        from reportgen.render.html import write_atomic

        todo = list({self.path(j): j for j in jobs if not self.path(j).is_file()}.values())
        self.drawn = len(todo)
        workers = int(os.environ.get("REPORTGEN_FIGURE_WORKERS", WORKERS))
        if workers > 1 and len(todo) >= PARALLEL_FROM:
            # forkserver, not fork: a build has torch's thread pools and a progress thread running,
            # and forking a threaded process can leave a lock held in the child.
            context = multiprocessing.get_context("forkserver")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                drawn = list(pool.map(_draw, [(j.result, j.files) for j in todo], chunksize=max(1, len(todo) // (4 * workers))))
        else:
            drawn = [_draw((j.result, j.files)) for j in todo]
        for job, data in zip(todo, drawn):
            write_atomic(self.path(job), data)

    def read(self, job: Job) -> bytes:
        return self.path(job).read_bytes()


def _draw(work: tuple[Result, Path]) -> bytes:
    from reportgen.render.plots import draw

    drawn = draw(*work)
    assert drawn is not None  # only drawn kinds get a job
    return drawn.data


def job_for(result: Result, files: Path) -> Job | None:
    key = figure_key(result, files)
    return None if key is None else Job(result, files, key, DRAWN_KINDS[result.kind])

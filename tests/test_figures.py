"""Figures drawn once (issue 15): content-addressed by their data, their arrays and the drawing
code; a warm render draws nothing; stale figures are drawn in worker processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reportgen.cache import Entry
from reportgen.registry import Experiment
from reportgen.render import figures
from reportgen.render.figures import DRAWN_KINDS, FigureStore, figure_key, job_for
from reportgen.render.html import build_parts
from reportgen.results import Curves, ImageGrid, Metric, Section


def _entry(root: Path, title: str = "loss") -> Entry:
    (root / "files").mkdir(parents=True, exist_ok=True)
    np.save(root / "files" / "a.npy", np.eye(4, dtype=np.float32))
    section = Section(title="s", items=[
        Metric(title="m", value=1.0),
        Curves(title=title, x=[1, 2], series={"train": [1.0, 0.5]}),
        ImageGrid(title="pictures", images=["a.npy"]),
    ])  # fmt: skip
    return Entry(root, "k", section, {}, {})


def _exp() -> Experiment:
    return Experiment(id="e", task=1, title="E", fn=lambda ctx: None, params={}, needs=(), module="m", order=0)


def test_every_drawn_kind_has_its_suffix():
    from reportgen.render.plots import DRAWERS

    assert set(DRAWN_KINDS) == set(DRAWERS)


def test_a_figure_key_follows_its_data_its_arrays_and_its_drawer(tmp_path, monkeypatch):
    entry = _entry(tmp_path / "e")
    curves, grid = entry.section.items[1], entry.section.items[2]
    assert figure_key(entry.section.items[0], entry.files) is None  # a metric is HTML, not a figure
    before = (figure_key(curves, entry.files), figure_key(grid, entry.files))
    assert before == (figure_key(curves, entry.files), figure_key(grid, entry.files))
    np.save(entry.files / "a.npy", np.zeros((4, 4), dtype=np.float32))
    assert figure_key(grid, entry.files) != before[1] and figure_key(curves, entry.files) == before[0]
    curves.series["train"][1] = 0.4
    assert figure_key(curves, entry.files) != before[0]
    key = figure_key(grid, entry.files)
    monkeypatch.setattr(figures, "drawer_hash", lambda: "a changed palette in plots.py")
    assert figure_key(grid, entry.files) != key


def test_a_warm_render_draws_nothing_and_a_changed_figure_alone_is_redrawn(tmp_path, monkeypatch):
    monkeypatch.setenv("REPORTGEN_FIGURE_WORKERS", "1")
    drawn: list[str] = []
    real = figures._draw
    monkeypatch.setattr(figures, "_draw", lambda work: drawn.append(work[0].title) or real(work))
    store = tmp_path / "figures"
    entry = _entry(tmp_path / "e")
    parts = build_parts([_exp()], {"e": entry}, tmp_path / "out", figures=store)
    assert sorted(drawn) == ["loss", "pictures"]
    paths = [i.figure for i in parts[0].blocks[0].items if i.figure]
    assert [Path(p).suffix for p in paths] == [".svg", ".png"] and all((tmp_path / "out" / p).is_file() for p in paths)
    drawn.clear()
    build_parts([_exp()], {"e": _entry(tmp_path / "e")}, tmp_path / "out2", figures=store)
    assert drawn == []  # a warm render: every figure comes from the store
    build_parts([_exp()], {"e": _entry(tmp_path / "e", title="loss, renamed")}, tmp_path / "out3", figures=store)
    assert drawn == []  # a title or caption is HTML around the figure: nothing to redraw
    changed = _entry(tmp_path / "e")
    changed.section.items[1].series["train"][0] = 2.0
    build_parts([_exp()], {"e": changed}, tmp_path / "out4", figures=store)
    assert drawn == ["loss"]


def test_stale_figures_are_drawn_in_worker_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("REPORTGEN_FIGURE_WORKERS", "2")
    entry = _entry(tmp_path / "e")
    jobs = [job_for(Curves(title=f"c{i}", x=[1, 2], series={"s": [i, 1.0]}), entry.files) for i in range(figures.PARALLEL_FROM)]
    store = FigureStore(tmp_path / "figures")
    store.ensure(jobs)
    assert store.drawn == len(jobs) and all(store.read(j).startswith(b"<?xml") for j in jobs)
    store.ensure(jobs)
    assert store.drawn == 0


def test_an_unreadable_stored_image_is_one_clear_error(tmp_path):
    from reportgen.errors import ReportgenError

    entry = _entry(tmp_path / "e")
    (entry.files / "a.npy").write_bytes(b"not an array")
    with pytest.raises(ReportgenError, match="stored image a.npy cannot be read"):
        FigureStore(tmp_path / "figures").ensure([job_for(entry.section.items[2], entry.files)])

"""Tasks 3-5 through the CLI, as a user runs them (quick profile, digits, offline): every
experiment reaches the report with its figures, the talk deck stays short, and `render` from the
cache alone draws the same figures without torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

from reportgen.registry import load_experiments

LATER = [e for e in load_experiments().values() if e.task in (3, 4, 5)]


@pytest.fixture(scope="module")
def everything(all_tasks: Path) -> Path:
    """The Task 1-2 project of the `built` fixture, then `build --task all` on top of it (the
    session's shared all-task build, tests/conftest.py)."""
    return all_tasks


def text(path: Path) -> str:
    return " ".join(page.extract_text() for page in PdfReader(path).pages)


def test_every_experiment_of_tasks_3_to_5_is_in_the_report(everything):
    report = text(everything / "output" / "report.pdf")
    for exp in LATER:
        assert exp.title.split(":")[0] in report, exp.id
    html = (everything / "output" / "report.html").read_text()
    pictures = [p for p in (everything / "output" / "assets").rglob("*.png")]
    assert len(pictures) >= len(LATER)  # image grids and heat maps are drawn at render time
    for exp in LATER:
        assert f'id="{exp.id}"' in html


def test_talk_deck_for_all_five_tasks_stays_under_25_slides(everything):
    pages = len(PdfReader(everything / "output" / "deck.pdf").pages)
    assert pages == (everything / "output" / "deck.html").read_text().count('<section class="slide') < 25


def test_render_redraws_tasks_3_to_5_without_torch(everything):
    out = everything / "rendered"
    code = (
        "import sys; from typer.testing import CliRunner; from reportgen.cli import app; "
        f"r = CliRunner().invoke(app, ['render', '--out', '{out}']); "
        "print('exit', r.exit_code); print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=everything, capture_output=True, text=True, timeout=600)
    assert result.stdout.split()[:3] == ["exit", "0", "False"], result.stdout + result.stderr
    assert (out / "report.pdf").stat().st_size > 10_000

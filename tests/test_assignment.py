"""Another course's assignment: its names, what the report holds, its budgets, one experiment alone (issue 16)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.conftest import CONFIG, invoke
from reportgen.config import load_config
from reportgen.registry import load_experiments
from reportgen.render.budget import Layout, deck_layout, outline_spans, over_budget

COURSE = CONFIG + """
[tasks.1]
label = "Part A"
title = "Architecture"

[tasks.training]
label = "Part B"

[deck]
dividers = false
max_slides = 1

[report]
max_pages = 2
"""


def _stored_ids(root: Path) -> set[str]:
    """Experiments with an entry in the project's cache."""
    cache = root / ".reportgen" / "cache"
    return {p.name for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")}


def test_one_experiment_runs_alone_with_the_course_names(project: Path) -> None:
    """build -e runs that experiment only; slides say "Part A", no divider; the report numbers "A.1"."""
    (project / "reportgen.toml").write_text(COURSE)
    result = invoke("build", "-e", "theory")
    assert result.exit_code == 0, result.output
    assert _stored_ids(project) == {"theory"}
    assert "never run, so left out: arch-baseline" in result.output
    deck = (project / "output" / "deck.html").read_text()
    assert 'class="slide divider"' not in deck
    assert "Part A" in deck and "Task 1" not in deck
    report = (project / "output" / "report.html").read_text()
    assert re.search(r'<span class="num">A</span> Architecture', report)
    assert "A.1&ensp;Worked theory" in report
    pages = PdfReader(project / "output" / "deck.pdf").pages
    assert len(pages) == 2  # the title slide and the theory slide, no divider


def test_over_budget_warns_and_strict_fails(project: Path) -> None:
    """A deck over max_slides and a report over max_pages: by how much and what is longest; --strict exits 1."""
    (project / "reportgen.toml").write_text(COURSE)
    result = invoke("build", "-e", "theory")
    assert "the deck has 2 slides, 1 over the limit of 1" in result.output
    pages = len(PdfReader(project / "output" / "report.pdf").pages)
    assert f"the report has {pages} pages, {pages - 2} over the limit of 2; longest: A.1 Worked theory" in result.output
    strict = invoke("render", "--task", "1", "--partial", "--strict")
    assert strict.exit_code == 1
    assert "over the course's limits" in strict.output


def test_report_show_selects_and_orders(project: Path) -> None:
    """[report] show holds only what it names; the deck keeps everything."""
    (project / "reportgen.toml").write_text(CONFIG + '\n[report]\nshow = ["theory"]\n[deck]\nmode = "full"\n')
    assert invoke("build", "-e", "theory,t2-l2").exit_code == 0
    report = (project / "output" / "report.html").read_text()
    assert 'id="theory"' in report and 'id="t2-l2"' not in report
    assert 'id="t2-l2-1"' in (project / "output" / "deck.html").read_text()


def test_disabled_experiments_are_neither_run_nor_listed(project: Path) -> None:
    """`disabled = [...]` and `[experiments.X] enabled = false` drop experiments; the comparison follows."""
    (project / "reportgen.toml").write_text(CONFIG + 'disabled = ["t2-l2"]\n[experiments.arch-wider]\nenabled = false\n')
    registry = load_experiments(load_config(project / "reportgen.toml"))
    assert "t2-l2" not in registry and "arch-wider" not in registry
    assert "arch-wider" not in registry["arch-comparison"].needs
    listed = invoke("list")
    assert listed.exit_code == 0, listed.output
    assert "t2-l2" not in listed.output and "arch-wider" not in listed.output


def test_disabling_what_another_reads_is_one_clear_error(project: Path) -> None:
    (project / "reportgen.toml").write_text(CONFIG + 'disabled = ["arch-baseline"]\n')
    result = invoke("list")
    assert result.exit_code == 2
    assert "reads 'arch-baseline', which the config disables" in result.output


def test_unknown_names_are_refused_with_the_closest(project: Path) -> None:
    (project / "reportgen.toml").write_text(CONFIG + 'disabled = ["t2-optimisers"]\n')
    assert "did you mean t2-optimizers" in invoke("list").output
    (project / "reportgen.toml").write_text(CONFIG)
    result = invoke("build", "-e", "t2-optimisers")
    assert result.exit_code == 2 and "did you mean t2-optimizers" in result.output
    (project / "reportgen.toml").write_text(CONFIG + "[tasks.7]\nlabel = 'Part G'\n")
    result = invoke("list")
    assert result.exit_code == 2 and "[tasks.7] names no task" in result.output
    (project / "reportgen.toml").write_text(CONFIG + "[experiments.theory]\nenabled = 'no'\n")
    assert "enabled: expected true or false" in invoke("list").output


def test_outline_spans_count_pages_per_numbered_section() -> None:
    outline = [(1, "1 Architecture", 2), (2, "1.1 Baseline", 2), (2, "1.2 Deeper", 5), (1, "A Provenance", 6),
               (2, "Parameters", 7)]  # fmt: skip
    assert outline_spans(outline, pages=8) == [("1.1 Baseline", 3), ("1.2 Deeper", 1)]


def test_deck_layout_counts_slides_per_part() -> None:
    html = ('<section class="slide title-slide" data-part="Title"></section>'
            '<section class="slide kind-table" id="a" data-part="Part A"></section>'
            '<section class="slide text-slide" data-part="Part A"></section>')  # fmt: skip
    layout = deck_layout(html)
    assert layout.length == 3 and layout.sections == [("Part A", 2), ("Title", 1)]
    assert over_budget("the deck", layout, 3, "") == ""
    assert over_budget("the deck", Layout(5, "pages", [("x", 1)]), 3, "cut").startswith("the deck has 5 pages, 2 over the limit of 3; longest: x (1 page)")


# --- the student's assignment end to end (issue 16's "done when") ------------------------------

ASSIGNMENT = """
title = "Assignment 2"
course = "Another course"
team = ["Ada", "Grace"]
date = "2026-11-25"
dataset = "folder:{data}"
profile = "quick"
seed = 0
image_size = 32
builtin_variants = false

[experiments.arch-baseline]
layers = {layers}

[tasks.1]
label = "Part A"
[tasks.2]
label = "Part B"
[tasks.3]
label = "Part C"
[tasks.4]
label = "Part D"
title = "Transfer"

[experiments.t4-backbone]
backbone_size = 32
epochs = 3
min_steps = 4
finetune_blocks = 1
finetune_epochs = 1
finetune_min_steps = 2
aug_variants = 1
shots_curve = [3]
shots_draws = 1

[deck]
dividers = false
max_slides = 14
show = ["theory", "arch-baseline", "t2-optimizers", "t3-filters", "t4-backbone"]

[report]
max_pages = 12
show = ["arch-baseline", "t2-optimizers", "t3-filters", "t4-backbone"]  # the theory's three pages: in the deck only
"""
ASSIGNMENT_IDS = "theory,arch-baseline,t2-optimizers,t3-filters,t4-backbone"


@pytest.fixture(scope="module")
def assignment(tmp_path_factory) -> Path:
    """Another course's assignment on a 32x32 RGB folder of 10 classes: Parts A-D, no dividers,
    budgets of 14 slides and 12 pages, and a conclusion that quotes a table cell."""
    import os

    from tests.test_data_truth import COURSE, make_rgb_folder

    root = tmp_path_factory.mktemp("assignment")
    data = make_rgb_folder(root / "data")
    project = root / "project"
    (project / "writeup").mkdir(parents=True)
    (project / "reportgen.toml").write_text(ASSIGNMENT.format(data=data, layers=str(COURSE).replace("'", '"')))
    (project / "writeup" / "conclusions.md").write_text(
        "# Conclusions\n\nThe first convolution holds {{ arch-baseline.conv1.parameters }} parameters; "
        "Adam's validation accuracy was {{ t2-optimizers.adam.val acc }}.\n"
    )
    old = Path.cwd()
    os.chdir(project)
    try:
        result = invoke("build", "-e", ASSIGNMENT_IDS)
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    return project


def test_the_assignment_fits_its_budgets_under_the_courses_names(assignment: Path) -> None:
    deck, report = assignment / "output" / "deck.pdf", assignment / "output" / "report.pdf"
    assert 1 < len(PdfReader(deck).pages) <= 14
    assert 1 < len(PdfReader(report).pages) <= 12
    html = (assignment / "output" / "deck.html").read_text()
    assert 'class="slide divider"' not in html and "Task 1" not in html
    for part in ("Part A", "Part B", "Part C", "Part D"):
        assert part in html, part
    assert _stored_ids(assignment) == set(ASSIGNMENT_IDS.split(","))  # only what was asked for ran


def test_the_assignment_quotes_table_cells_that_agree_with_the_theory(assignment: Path) -> None:
    """The per-layer table's conv1 count (2,432 on RGB) is what the text quotes and the theory derives."""
    from reportgen.cache import Cache
    from reportgen.quotes import find
    from tests.test_writeup import text

    report = text((assignment / "output" / "report.html").read_text())
    cache = Cache(assignment / ".reportgen" / "cache")
    adam = find(cache.latest("t2-optimizers").section, "adam.val acc")
    assert "The first convolution holds 2,432 parameters" in report
    assert f"Adam's validation accuracy was {adam.text}." in report
    theory = [i for i in cache.latest("theory").section.items if getattr(i, "kind", "") == "table"][-1]
    assert theory.text_rows()[0][1:] == ["5·5·3·32 + 32", "2,432"] and str(theory.footer[-1]) == "390,410"
    readme = assignment / "writeup" / "README.md"
    assert not readme.exists()  # a project without init's README gets none written

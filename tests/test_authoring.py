"""The student's own project end to end: `reportgen init`, the course's baseline, an own variant in
the config, an own Python experiment, Markdown with live numbers, accent colour, logo and theme."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pypdf import PdfReader

from reportgen.cache import Cache
from tests.conftest import invoke

COURSE_BASELINE = ["conv32", "conv32 same", "pool", "conv16", "fc128"]
PROJECT_CONFIG = f"""
title = "Our CNN study"
course = "DL4CV"
team = ["Ada", "Grace"]
institution = "Test University"
date = "2026-11-25"
dataset = "digits"
profile = "quick"
accent = "#aa3300"
logo = "logo.png"
builtin_variants = false

[experiments.arch-baseline]
layers = {COURSE_BASELINE!r}
title = "Course baseline"

[variants.arch-narrow]
title = "Narrow: 8 and 16 filters"
layers = ["conv8", "pool", "conv16", "pool", "fc32"]
""".replace("'", '"')

INTRO = """# Our question

The course baseline reaches {{ arch-baseline.test accuracy }} with {{ arch-baseline.parameters }} parameters.
"""
CONCLUSIONS = """# What we learned

Narrow minus baseline: {{ arch-narrow.test accuracy - arch-baseline.test accuracy }}.
"""


def pdf_text(path: Path) -> str:
    return " ".join(page.extract_text() for page in PdfReader(path).pages).replace("\xa0", " ")


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    import os

    root = tmp_path_factory.mktemp("student")
    old = Path.cwd()
    os.chdir(root)
    try:
        assert invoke("init", ".").exit_code == 0
        (root / "reportgen.toml").write_text(PROJECT_CONFIG)
        (root / "writeup" / "intro.md").write_text(INTRO)
        (root / "writeup" / "conclusions.md").write_text(CONCLUSIONS)
        (root / "writeup" / "task1.md").unlink()
        (root / "writeup" / "arch-baseline.md").write_text("The baseline is the course's own network.\n")
        _tiny_png(root / "logo.png")
        (root / "theme" / "partials").mkdir(parents=True)
        (root / "theme" / "partials" / "metrics.html.j2").write_text(
            '{% macro metrics(ms) %}<dl class="metrics theme-metrics">{% for m in ms %}'
            "<div class=\"metric\"><dt>{{ m.title }}</dt><dd>{{ m.text }}</dd></div>{% endfor %}</dl>{% endmacro %}"
        )
        result = invoke("build", "--task", "1")
        assert result.exit_code == 0, result.output
    finally:
        os.chdir(old)
    return root


def _tiny_png(path: Path) -> None:
    import numpy as np
    from PIL import Image

    Image.fromarray(np.full((8, 8, 3), 200, dtype=np.uint8)).save(path)


def test_course_baseline_is_the_one_source_of_truth(student):
    report = pdf_text(student / "output" / "report.pdf")
    assert "263,418" in report  # the theory's parameter total follows the configured baseline
    assert "1,199,882" not in report
    theory = Cache(student / ".reportgen" / "cache").latest("theory")
    assert theory.inputs["params"]["layers"] == COURSE_BASELINE


def test_config_variant_and_python_experiment_join_the_comparison(student):
    comparison = Cache(student / ".reportgen" / "cache").latest("arch-comparison").section
    table = next(i for i in comparison.items if i.kind == "table")
    names = [row[0] for row in table.rows]
    assert names[0] == "Course baseline"
    assert "Narrow: 8 and 16 filters" in names
    assert any("residual" in n.lower() or "skip" in n.lower() for n in names), names
    assert not any("Wider" in n for n in names)  # builtin_variants = false
    scatter = next(i for i in comparison.items if i.kind == "scatter")
    assert {p["label"] for p in scatter.points} == set(names)


def test_live_numbers_in_the_deck_and_report_are_the_stored_values(student):
    baseline = Cache(student / ".reportgen" / "cache").latest("arch-baseline").section.metrics()
    narrow = Cache(student / ".reportgen" / "cache").latest("arch-narrow").section.metrics()
    accuracy = f"{baseline['test accuracy']:.2f}"
    diff = narrow["test accuracy"] - baseline["test accuracy"]
    for name in ("deck.pdf", "report.pdf"):
        text = pdf_text(student / "output" / name)
        assert f"reaches {accuracy}" in text and "263,418 parameters" in text
        assert f"{abs(diff):.2f} points" in text
        assert "The baseline is the course's own network." in text


def test_accent_logo_institution_and_theme_override(student):
    deck = (student / "output" / "deck.html").read_text()
    assert "--accent: #aa3300" in deck
    assert 'src="assets/logo.png"' in deck and (student / "output" / "assets" / "logo.png").is_file()
    assert "Test University" in deck
    assert "theme-metrics" in deck  # the theme's partial replaced ours by name


def test_talk_deck_is_short(student):
    pages = len(PdfReader(student / "output" / "deck.pdf").pages)
    slides = (student / "output" / "deck.html").read_text().count('<section class="slide')
    assert pages == slides
    # title, intro, divider, baseline, comparison, theory, conclusions
    assert slides <= 8, slides


def test_reference_errors_name_file_line_and_closest(student, monkeypatch):
    monkeypatch.chdir(student)
    (student / "writeup" / "task1.md").write_text("Intro line\n\nBaseline: {{ arch-baseline.test acuracy }}\n")
    try:
        result = invoke("render", "--task", "1")
    finally:
        (student / "writeup" / "task1.md").unlink()
    assert result.exit_code == 2, result.output
    assert re.search(r"task1\.md:3", result.output) and "test accuracy" in result.output


def test_init_readme_lists_the_quotable_names_of_the_built_results(student):
    """The list at the end of writeup/README.md follows the cache; the rest of the file is kept."""
    from reportgen.quotes import BEGIN, END

    readme = (student / "writeup" / "README.md").read_text()
    listing = readme[readme.index(BEGIN) : readme.index(END)]
    assert readme.startswith("# Your write-up")
    assert "`{{ arch-baseline.test accuracy }}` → " in listing
    assert "`{{ arch-comparison.Course baseline.parameters }}` → 263,418" in listing
    assert "No results are stored yet" not in listing

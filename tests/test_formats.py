"""PowerPoint, LaTeX and Markdown (issue 17, sections 2-4): each read back and checked against
the HTML deck and the stored results. They render in a copy of the session's built digits
project (Task 1+2, quick) with a write-up added: no training here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from reportgen.cache import Cache
from reportgen.render.cells import cell_text, numeric
from reportgen.results import Table
from tests.conftest import invoke

INTRO = """# Why digits_matter

We study *small* images & friends: 50% of $5, `a_b`, ~x^2 and back\\slash {{ arch-baseline.test accuracy }}.

- first point
- second point

![A picture](figures/pic.png)

::: notes
Say hello to the audience.
:::
"""
CONCLUSIONS = """# What we learned

The baseline reaches {{ arch-baseline.test accuracy }}.

| what | value |
|---|---|
| x_y | 1 |
"""


@pytest.fixture(scope="module")
def exported(built: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built project, copied, with a write-up, rendered as html, pptx, latex and md."""
    root = tmp_path_factory.mktemp("formats") / "project"
    shutil.copytree(built["root"], root)
    (root / "writeup" / "figures").mkdir(parents=True)
    (root / "writeup" / "intro.md").write_text(INTRO)
    (root / "writeup" / "conclusions.md").write_text(CONCLUSIONS)
    import matplotlib.pyplot as plt

    plt.imsave(root / "writeup" / "figures" / "pic.png", [[0.0, 1.0], [1.0, 0.0]] * 16)
    old = Path.cwd()
    os.chdir(root)
    try:
        result = invoke("render", "--task", "1,2", "--format", "html,pptx,latex,md")
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    return root


def stored_tables(root: Path) -> dict[str, Table]:
    """Every stored Table of the project, by experiment id and title."""
    cache = Cache(root / ".reportgen" / "cache")
    found = {}
    for folder in sorted((root / ".reportgen" / "cache").iterdir()):
        entry = cache.latest(folder.name) if folder.is_dir() else None
        for item in entry.section.items if entry else []:
            if isinstance(item, Table):
                found[f"{folder.name}/{item.title}"] = item
    assert found, "the built project has tables"
    return found


def html_slides(root: Path) -> list[str]:
    return re.findall(r'<section class="slide[^"]*"', (root / "output" / "deck.html").read_text())


def test_pptx_has_the_decks_slides_tables_pictures_and_notes(exported: Path) -> None:
    from pptx import Presentation

    deck = Presentation(str(exported / "output" / "deck.pptx"))
    slides = list(deck.slides)
    sections = html_slides(exported)
    assert len(slides) == len(sections)
    for index, (slide, section) in enumerate(zip(slides, sections), 1):
        kinds = {shape.shape_type for shape in slide.shapes}
        if re.search(r"kind-(curves|scatter|image_grid|heatmap|bars)\b", section):
            assert 13 in kinds, f"slide {index}: its figure is missing"  # MSO_SHAPE_TYPE.PICTURE
        texts = [s.text_frame.text for s in slide.shapes if s.has_text_frame]
        assert str(index) in texts, f"slide {index} has no slide number"
    last = slides[-1]  # the conclusions: the student's Markdown table as a native table
    assert [[c.text for c in row.cells] for s in last.shapes if s.has_table for row in s.table.rows] == [["what", "value"], ["x_y", "1"]]
    intro = slides[1]  # the student's picture beside the introduction's text
    assert "Why digits_matter" in [s.text_frame.text for s in intro.shapes if s.has_text_frame]
    assert 13 in {shape.shape_type for shape in intro.shapes}
    notes = [s.notes_slide.notes_text_frame.text for s in slides if s.has_notes_slide]
    assert "Say hello to the audience." in notes
    assert not any("Say hello" in s.text_frame.text for slide in slides for s in slide.shapes if s.has_text_frame)
    # A stored table comes back as a native table with the same cells, formatted as in the HTML.
    shown = {tuple(tuple(c.text for c in row.cells) for row in s.table.rows)
             for slide in slides for s in slide.shapes if s.has_table}  # fmt: skip
    assert shown
    tables = stored_tables(exported)
    matched = [t for t in tables.values()
               if (tuple(t.columns), *(tuple(cell_text(c) for c in r) for r in t.rows)) in
               {rows[: len(t.rows) + 1] for rows in shown}]  # fmt: skip
    assert matched, "no stored table is on a slide cell for cell"


def test_pptx_converts_to_pdf_with_libreoffice(exported: Path, tmp_path: Path) -> None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed: scripts/install-system.sh installs libreoffice-impress")
    subprocess.run([soffice, "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path),
                    str(exported / "output" / "deck.pptx")], check=True, capture_output=True,
                   env={**os.environ, "HOME": str(tmp_path)})  # fmt: skip
    info = subprocess.run(["pdfinfo", str(tmp_path / "deck.pdf")], check=True, capture_output=True, text=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert pages == len(html_slides(exported))


def test_readme_links_its_pictures_and_shows_the_stored_tables(exported: Path) -> None:
    out = exported / "output"
    text = (out / "README.md").read_text()
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    images = [child.attrGet("src") for t in tokens if t.type == "inline" for child in t.children or [] if child.type == "image"]
    assert images and any("pic" in str(src) for src in images)
    for src in images:
        assert (out / str(src)).is_file(), src
        assert str(src).startswith("readme-assets/")
    # GitHub tables, parsed back: every stored table's rows are there.
    rows, row = [], None
    for token in tokens:
        if token.type == "tr_open":
            row = []
            rows.append(row)
        elif token.type == "inline" and row is not None:
            row.append("".join(c.content for c in token.children or [] if c.type in ("text", "code_inline")))
        elif token.type == "tr_close":
            row = None
    for name, table in stored_tables(exported).items():
        assert list(table.columns) in rows, name
        for cells in table.rows:
            assert [cell_text(c) for c in cells] in rows, name
    words = "".join(c.content for t in tokens if t.type == "inline" for c in t.children or [])
    assert "Why digits_matter" in words and "50% of $5" in words and "back\\slash" in words
    assert "Test deck" in words and "Ada" in words and "Say hello" not in text
    assert "reportgen build --task 1,2" in text and "reportgen verify" in text
    assert "Quick profile" in words  # the quick profile's caveat, as on the title slide


def test_latex_labels_refs_escapes_and_zips(exported: Path) -> None:
    out = exported / "output"
    tex = (out / "latex" / "main.tex").read_text()
    floats = re.findall(r"\\begin\{(table|figure)\}", tex)
    labels = re.findall(r"\\label\{((?:tab|fig):[^}]+)\}", tex)
    refs = set(re.findall(r"\\ref\{((?:tab|fig):[^}]+)\}", tex))
    assert floats and len(labels) == len(floats) == len(set(labels)) and set(labels) == refs
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex and "|" not in tex.split(r"\begin{document}")[1].split("tabular}{")[1][:12]
    assert r"Why digits\_matter" in tex and r"50\% of \$5" in tex and r"\texttt{a\_b}" in tex
    assert r"back\textbackslash{}slash" in tex and r"\textasciitilde{}x\textasciicircum{}2" in tex
    assert r"\begin{abstract}" in tex and "Say hello" not in tex
    from reportgen.render.latex import escape

    for name, table in stored_tables(exported).items():
        assert all(escape(cell_text(c)) in tex for c in table.rows[0]), name
    graphics = re.findall(r"\\includegraphics\[[^]]*\]\{([^}]+)\}", tex)
    assert any(g.endswith(".pdf") for g in graphics) and any("pic" in g for g in graphics)
    with zipfile.ZipFile(out / "report-latex.zip") as archive:
        names = set(archive.namelist())
    assert "main.tex" in names and set(graphics) <= names


def test_latex_compiles(exported: Path, tmp_path: Path) -> None:
    if shutil.which("latexmk") is None or shutil.which("pdflatex") is None:
        pytest.skip("TeX is not installed: scripts/install-system.sh installs latexmk and texlive")
    folder = tmp_path / "overleaf"
    with zipfile.ZipFile(exported / "output" / "report-latex.zip") as archive:
        archive.extractall(folder)  # as Overleaf gets it
    run = subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "main.tex"],
                         cwd=folder, capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]
    info = subprocess.run(["pdfinfo", str(folder / "main.pdf")], check=True, capture_output=True, text=True).stdout
    assert int(re.search(r"Pages:\s+(\d+)", info).group(1)) >= 3
    text = subprocess.run(["pdftotext", str(folder / "main.pdf"), "-"], check=True, capture_output=True, text=True).stdout
    numbers = [cell_text(c) for t in stored_tables(exported).values() for c in t.rows[0]]
    numbers = [n for n in numbers if re.fullmatch(r"[\d,.]+", n)]
    assert numbers and all(n in text for n in numbers)


def test_an_unknown_format_is_one_clear_line(built: dict) -> None:
    old = Path.cwd()
    os.chdir(built["root"])
    try:
        result = invoke("render", "--task", "1,2", "--format", "docx")
    finally:
        os.chdir(old)
    assert result.exit_code != 0 and "docx" in result.output and "pptx" in result.output


def test_pptx_follows_the_full_deck_without_dividers(exported: Path, tmp_path: Path) -> None:
    """[deck] mode = "full", no dividers: still the HTML deck's slides, one for one."""
    from pptx import Presentation

    root = tmp_path / "project"
    shutil.copytree(exported, root)
    config = root / "reportgen.toml"
    config.write_text(config.read_text() + '\n[deck]\nmode = "full"\ndividers = false\n')
    old = Path.cwd()
    os.chdir(root)
    try:
        result = invoke("render", "--task", "1,2", "--only", "deck", "--format", "html,pptx")
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    sections = html_slides(root)
    assert len(Presentation(str(root / "output" / "deck.pptx")).slides) == len(sections)
    assert len(sections) > len(html_slides(exported))


def test_a_new_render_replaces_the_older_figures_of_each_format(exported: Path, tmp_path: Path) -> None:
    """Figures of an earlier render (listed in the manifest) go when that format is rendered
    again, and stay when another format is."""
    import json

    from reportgen.render.publish import MANIFEST

    root = tmp_path / "project"
    shutil.copytree(exported, root)
    out = root / "output"
    old = ["readme-assets/old-0123456789.png", "latex/figures/old-0123456789.pdf"]
    for rel in old:
        (out / rel).write_bytes(b"old")
    manifest = json.loads((out / MANIFEST).read_text())
    (out / MANIFEST).write_text(json.dumps({"files": manifest["files"] + old}))
    readme = sorted(p.name for p in (out / "readme-assets").iterdir())
    old_dir = Path.cwd()
    os.chdir(root)
    try:
        assert invoke("render", "--task", "1,2", "--format", "html").exit_code == 0
        assert all((out / rel).is_file() for rel in old)  # md and latex were not rendered
        assert invoke("render", "--task", "1,2", "--format", "md,latex").exit_code == 0
        assert not any((out / rel).exists() for rel in old)
        assert sorted(p.name for p in (out / "readme-assets").iterdir()) == [n for n in readme if not n.startswith("old-")]
        (out / "notes.txt").write_text("mine")
        assert invoke("clean", "-o", "output").exit_code == 0  # every format's files are reportgen's
    finally:
        os.chdir(old_dir)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["notes.txt"]


def test_typed_cells_read_as_the_html_shows_them() -> None:
    """A typed value (reportgen.values) is written by the one formatter in every format;
    columns of numbers align right in LaTeX."""
    from reportgen.render import latex, readme
    from reportgen.values import Style, Value, show

    pct = Value(0.9123, Style(decimals=2, percent=True))
    spread = Value(0.9012, Style(decimals=2, percent=True), spread=0.013)
    assert cell_text(pct) == show(pct) == "91.23 %" and cell_text("conv1") == "conv1"
    assert numeric([cell_text(pct), cell_text(spread), "\u2014"]) and not numeric(["conv1", "12"])
    raw = [["baseline", cell_text(pct)], ["wider", cell_text(spread)]]
    tex = latex.tabular(["model", "accuracy"], [[latex.escape(c) for c in row] for row in raw], raw)
    assert "{lr}" in tex and r"91.23 \%" in tex and r"90.12 \textpm{} 1.30 \%" in tex
    assert "| baseline | 91.23 % |" in readme.table(["model", "accuracy"], raw)

"""The deck as PowerPoint (output/deck.pptx): the slides of deck.html in the same order, with
native, editable tables, PNG figures at 2x drawn from the stored data, key numbers, slide
numbers, the provenance footer and the speaker notes in the notes pane."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from pptx import Presentation
from pptx.dml.color import RGBColor
from pptx.util import Emu, Inches, Pt

from reportgen.render.cells import cell_text, metric_text, numeric
from reportgen.render.figure_files import HIGH_DPI
from reportgen.render.html import DENSE_ROWS, write_atomic
from reportgen.render.prose import plain, plain_inline, tables
from reportgen.render.plots import draw
from reportgen.render.sequence import DeckSlide, deck_slides
from reportgen.results import Matrix, Table, Text

WIDTH, HEIGHT = 13.333, 7.5  # inches, 16:9
MARGIN = 0.6
INK, MUTED = RGBColor(0x21, 0x25, 0x29), RGBColor(0x6C, 0x75, 0x7D)
DEFAULT_ACCENT = "#1f5fa8"  # templates/css/common.css --accent
PICTURES = (".png", ".jpg", ".jpeg", ".gif")  # what python-pptx places


def _rgb(colour: str) -> RGBColor:
    colour = colour.lstrip("#")
    if len(colour) == 3:
        colour = "".join(c * 2 for c in colour)
    return RGBColor.from_string(colour.upper())


def _text(slide: Any, box: tuple[float, float, float, float], lines: list[str], size: float,
          colour: RGBColor = INK, bold: bool = False, align: Any = None) -> Any:
    """A text box at (left, top, width, height) inches, one paragraph per line."""
    shape = slide.shapes.add_textbox(*(Inches(v) for v in box))
    frame = shape.text_frame
    frame.word_wrap = True
    for index, line in enumerate(lines or [""]):
        paragraph = frame.paragraphs[0] if index == 0 else frame.add_paragraph()
        paragraph.text = line
        paragraph.font.size = Pt(size)
        paragraph.font.bold = bold
        paragraph.font.color.rgb = colour
        if align is not None:
            paragraph.alignment = align
        paragraph.space_after = Pt(size * 0.4)
    return shape


def _table(slide: Any, columns: list[str], rows: list[list[Any]], box: tuple[float, float, float, float],
           highlight: list[int], accent: RGBColor, header: bool = True) -> Any:
    """A native table; every cell's text comes from cell_text, as in the HTML. Without `header`
    the first row is data like the rest (a matrix panel)."""
    size = 9 if len(rows) > DENSE_ROWS else 12
    left, top, width, _ = box
    shape = slide.shapes.add_table(len(rows) + 1, len(columns), Inches(left), Inches(top), Inches(width),
                                   Inches(0.3 * (len(rows) + 1)))  # fmt: skip
    table = shape.table
    texts = [[cell_text(value) for value in row] for row in rows]
    right = [numeric([row[c] for row in texts]) for c in range(len(columns))]
    for r, row in enumerate([columns, *texts]):
        table.rows[r].height = Emu(Pt(size * 2.0))
        for c, value in enumerate(row):
            cell = table.cell(r, c)
            cell.text = cell_text(value)
            cell.margin_top = cell.margin_bottom = Pt(2)
            paragraph = cell.text_frame.paragraphs[0]
            paragraph.font.size = Pt(size)
            paragraph.font.bold = (r == 0 and header) or (r - 1) in highlight
            if right[c]:
                paragraph.alignment = 3  # PP_ALIGN.RIGHT: the digits line up
            if r == 0 and header:
                cell.fill.solid()
                cell.fill.fore_color.rgb = accent
                paragraph.font.color.rgb = RGBColor(0xFF, 0xFF, 0xFF)
    return shape


def _item(slide: Any, deck: DeckSlide, box: tuple[float, float, float, float], accent: RGBColor) -> None:
    """The slide's figure or table inside `box`."""
    result = deck.item.result
    if isinstance(result, Table):
        _table(slide, result.columns, result.rows + ([result.footer] if result.footer else []), box,
               result.highlight, accent)  # fmt: skip
        return
    if isinstance(result, Matrix):
        width = box[2] / max(1, len(result.panels))
        for index, panel in enumerate(result.panels):
            left = box[0] + index * width
            _text(slide, (left, box[1], width - 0.2, 0.4), [panel.label], 12, MUTED)
            rows = [[result.fmt.format(v) for v in row] for row in panel.values]
            _table(slide, rows[0], rows[1:], (left, box[1] + 0.45, width - 0.2, box[3]), [], accent, header=False)
        return
    if isinstance(result, Text):
        _text(slide, box, result.body.split("\n\n"), 16)
        return
    drawn = draw(result, deck.files, vector="png", dpi=HIGH_DPI) if deck.files is not None else None
    if drawn is not None:
        _picture(slide, drawn.data, box)


def _picture(slide: Any, data: bytes, box: tuple[float, float, float, float]) -> None:
    """The picture, as large as fits in `box`, centred in it."""
    picture = slide.shapes.add_picture(io.BytesIO(data), Inches(box[0]), Inches(box[1]))
    scale = min(Inches(box[2]) / picture.width, Inches(box[3]) / picture.height)
    picture.width, picture.height = int(picture.width * scale), int(picture.height * scale)
    picture.left = int(Inches(box[0]) + (Inches(box[2]) - picture.width) / 2)


def _metrics(slide: Any, deck: DeckSlide, box: tuple[float, float, float, float], accent: RGBColor) -> None:
    left, top, width, _ = box
    bar = slide.shapes.add_shape(1, Inches(left - 0.15), Inches(top), Inches(0.04), Inches(box[3]))
    bar.fill.solid()
    bar.fill.fore_color.rgb = accent
    bar.line.fill.background()
    for index, metric in enumerate(deck.metrics):
        _text(slide, (left, top + index * 1.0, width, 0.35), [metric.title], 11, MUTED)
        _text(slide, (left, top + index * 1.0 + 0.3, width, 0.5), [metric_text(metric)], 20, accent, bold=True)


def _head(slide: Any, deck: DeckSlide, accent: RGBColor) -> float:
    """Kicker and title; returns where the body starts (inches from the top)."""
    _text(slide, (MARGIN, 0.3, WIDTH - 2 * MARGIN, 0.35), [deck.kicker.upper()], 11, accent)
    title = plain_inline(deck.title_tokens) if deck.title_tokens else deck.title
    if title:
        _text(slide, (MARGIN, 0.65, WIDTH - 2 * MARGIN, 0.8), [title], 28 if len(title) <= 48 else 22, bold=True)
    return 1.5


def _footer(slide: Any, text: str, number: int) -> None:
    _text(slide, (MARGIN, HEIGHT - 0.5, WIDTH - 2 * MARGIN - 1, 0.35), [text], 9, MUTED)
    _text(slide, (WIDTH - MARGIN - 1, HEIGHT - 0.5, 1, 0.35), [str(number)], 10, MUTED, align=3)  # right


def _pictures(tokens: list, out: Path) -> list[Path]:
    """The student's pictures on a text slide (copied under out/assets/writeup/ by the render)
    that PowerPoint can show (no SVG or WebP)."""
    found = []
    for token in tokens:
        for child in token.children or []:
            path = out / str(child.attrGet("src") or "") if child.type == "image" else None
            if path is not None and path.is_file() and path.suffix.lower() in PICTURES:
                found.append(path)
    return found


def _fill(slide: Any, deck: DeckSlide, context: dict[str, Any], accent: RGBColor, out: Path) -> None:
    """Everything on one slide but the notes."""
    if deck.kind == "title":
        config = context["config"]
        _text(slide, (MARGIN, 1.6, WIDTH - 2 * MARGIN, 0.4), [deck.kicker.upper()], 14, accent)
        _text(slide, (MARGIN, 2.1, WIDTH - 2 * MARGIN, 1.4), [config.title], 40, bold=True)
        lines = [" · ".join(config.team)] if config.team else []
        lines += [config.date, f"Data: {', '.join(context['datasets']) or 'no results yet'}", *context["notices"]]
        _text(slide, (MARGIN, 3.8, WIDTH - 2 * MARGIN, 2.4), lines, 16, MUTED)
        footer = ("Every number and figure in these slides comes from a stored, re-runnable experiment "
                  f"result (computed {context['computed']}).")  # fmt: skip
        _footer(slide, footer, deck.number)
        return
    top = _head(slide, deck, accent)
    if deck.kind == "divider":
        _text(slide, (MARGIN, 2.0, WIDTH - 2 * MARGIN, 4.5), [f"{i}. {t}" for i, t in enumerate(deck.agenda, 1)], 18)
    elif deck.kind == "text":
        pictures, grids = _pictures(deck.body, out), tables(deck.body)
        width = (WIDTH - 2 * MARGIN) * (0.55 if pictures else 1)
        words = plain(deck.body, with_tables=False)
        _text(slide, (MARGIN, top, width, HEIGHT - top - 0.7), words, 16)
        below = top + 0.45 * sum(1 + len(w) // 90 for w in words) + 0.2
        for header, rows in grids:  # the student's own tables, native as the results'
            _table(slide, header, rows, (MARGIN, below, width, 0), [], accent)
            below += 0.35 * (len(rows) + 1) + 0.3
        height = (HEIGHT - top - 0.8) / max(1, len(pictures))
        for index, path in enumerate(pictures):
            _picture(slide, path.read_bytes(), (MARGIN + width + 0.3, top + index * height, WIDTH - 2 * MARGIN - width - 0.3, height - 0.1))
    else:
        lead = plain(deck.body) if deck.body else ([deck.lead] if deck.lead else [])
        if lead:
            _text(slide, (MARGIN, top, WIDTH - 2 * MARGIN, 0.7), [" ".join(lead)], 14, MUTED)
            top += 0.8
        main_width = WIDTH - 2 * MARGIN - (3.3 if deck.metrics and deck.item else 0)
        if deck.item is not None:
            _item(slide, deck, (MARGIN, top, main_width, HEIGHT - top - 0.7), accent)
        if deck.metrics:
            left = MARGIN + main_width + 0.3 if deck.item else MARGIN + 0.15
            _metrics(slide, deck, (left, top, 3.0, HEIGHT - top - 0.8), accent)
    _footer(slide, deck.footer, deck.number)


def write_pptx(context: dict[str, Any], entries: dict, out: Path) -> tuple[Path, int]:
    """Writes out/deck.pptx (figures drawn from the stored data, kept inside the file); returns
    its path and the number of slides."""
    accent = _rgb(context["config"].accent or DEFAULT_ACCENT)
    presentation = Presentation()
    presentation.slide_width, presentation.slide_height = Inches(WIDTH), Inches(HEIGHT)
    blank = presentation.slide_layouts[6]
    slides = deck_slides(context, entries)
    for deck in slides:
        slide = presentation.slides.add_slide(blank)
        _fill(slide, deck, context, accent, out)
        notes = plain(deck.notes) if deck.notes else deck.generated_notes
        if notes:
            slide.notes_slide.notes_text_frame.text = "\n".join(notes)
    buffer = io.BytesIO()
    presentation.save(buffer)
    path = out / "deck.pptx"
    write_atomic(path, buffer.getvalue())
    return path, len(slides)

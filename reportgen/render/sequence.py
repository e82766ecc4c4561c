"""The deck's slides in order, as data: the same sequence templates/deck.html.j2 lays out, for
the writers that are not HTML (PowerPoint). Keep the two in step: a test compares the counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from markdown_it.token import Token

from reportgen.render.html import Item
from reportgen.results import Metric

NOTE_NUMBERS = 4  # key numbers in the generated notes, as the HTML speaker view shows them


@dataclass
class DeckSlide:
    """One slide. `kind` is title, divider, text or result."""

    kind: str
    kicker: str
    title: str = ""
    title_tokens: list[Token] = field(default_factory=list)  # the student's heading, if any
    body: list[Token] = field(default_factory=list)  # the student's text (text slides, prose)
    item: Item | None = None
    metrics: list[Metric] = field(default_factory=list)
    lead: str = ""
    footer: str = ""
    notes: list[Token] = field(default_factory=list)  # the student's `::: notes`
    generated_notes: list[str] = field(default_factory=list)  # without them: sentence, numbers
    agenda: list[str] = field(default_factory=list)
    files: Any = None  # the experiment's stored files, to draw the figure from
    number: int = 0


def _generated(block: Any, metrics: list[Metric]) -> list[str]:
    from reportgen.render.cells import metric_text

    lines = [block.summary] if block.summary else []
    return lines + [f"{m.title}: {metric_text(m)}" for m in metrics[:NOTE_NUMBERS]]


def _text_slides(place: Any, kicker: str, fallback: str) -> list[DeckSlide]:
    return [
        DeckSlide("text", kicker, fallback if not title else "", title, body, notes=notes)
        for title, body, notes in place.slide_tokens
    ]


def _result(slide: Any, kicker: str, block: Any, entries: dict, prose: list[Token] | None = None,
            notes: list[Token] | None = None) -> DeckSlide:
    numbers = slide.metrics or block.metrics
    entry = entries.get(block.id)
    return DeckSlide(
        "result", kicker, slide.title, body=prose or [], item=slide.item, metrics=slide.metrics,
        lead=slide.lead, footer=slide.footer, notes=notes or [],
        generated_notes=[] if notes else _generated(block, numbers), files=entry.files if entry else None,
    )  # fmt: skip


def _block_slides(part: Any, block: Any, talk: bool, entries: dict, kicker_head: str = "") -> list[DeckSlide]:
    kicker = kicker_head or f"{part.label} · {block.title}"
    place = block.writeup
    if talk and not kicker_head:
        first = place.slide_tokens[0] if place and place.slide_tokens else None
        slides = [_result(block.talk_slide(), part.label, block, entries, first[1] if first else None,
                          first[2] if first else None)]  # fmt: skip
        rest = place.slide_tokens[1:] if place else []
    else:
        slides = [_result(s, kicker, block, entries) for s in block.slides()]
        rest = place.slide_tokens if place and not kicker_head else []
    slides += [DeckSlide("text", kicker, block.title if not t else "", t, b, notes=n) for t, b, n in rest]
    return slides


def deck_slides(context: dict[str, Any], entries: dict) -> list[DeckSlide]:
    """Every slide of the deck in the order deck.html.j2 shows them, numbered from 1."""
    config, writeup, talk = context["config"], context["writeup"], context["talk"]
    kicker = config.course + (f" · {config.institution}" if config.institution else "")
    slides = [DeckSlide("title", kicker, config.title)]
    if writeup and writeup.intro:
        slides += _text_slides(writeup.intro, "Introduction", "")
    for part in context["deck_parts"]:
        blocks = part.talk_blocks if talk else part.blocks
        if config.deck.dividers:
            slides.append(DeckSlide("divider", part.label, part.title, agenda=[b.title for b in blocks]))
        if part.writeup:
            slides += _text_slides(part.writeup, f"{part.label} · {part.title}", "")
        for block in blocks:
            slides += _block_slides(part, block, talk, entries)
    if writeup and writeup.conclusions:
        slides += _text_slides(writeup.conclusions, "Conclusions", "Conclusions")
    if talk and config.deck.appendix:
        for part in context["deck_parts"]:
            for block in (b for b in part.blocks if not b.in_talk):
                slides += _block_slides(part, block, False, entries, f"Appendix · {part.label} · {block.title}")
    for number, slide in enumerate(slides, 1):
        slide.number = number
    return slides

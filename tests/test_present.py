"""Presenting the deck: speaker notes in the write-up, the deck script, and keys in a real browser.

The decks here are rendered from write-up files (and, for result slides, a hand-made stored
Section) without training anything. The browser tests drive Debian's chromium through
Playwright and are skipped, saying which is missing, where either is not installed.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from reportgen.cache import Entry
from reportgen.config import Config, load_config
from reportgen.errors import ReportgenError
from reportgen.registry import Experiment
from reportgen.render.document import render_all
from reportgen.results import Metric, Section, Table, Text
from reportgen.writeup import load_writeup

CHROMIUM = "/usr/bin/chromium"

INTRO = """\
# Why architectures matter

We compare six CNNs on the same images.

::: notes
Greet the audience; INTRO-NOTE-ONE.
:::

---

# What we measured

Accuracy, parameters and time.

::: notes
Say that times are wall clock: INTRO-NOTE-TWO.
:::

---

# How we trained

One epoch each.

---

# Data

Handwritten digits.

::: notes
- slide four: INTRO-NOTE-FOUR
:::
"""

CONCLUSIONS = """\
# What we learned

Depth helps, width costs.

::: notes
Finish on time: CONCLUSION-NOTE.
:::

---

# Thank you

Questions?
"""


def _project(root: Path, intro: str = INTRO, conclusions: str = CONCLUSIONS) -> Config:
    (root / "reportgen.toml").write_text('title = "Notes deck"\ndate = "2026-11-25"\n[deck]\nminutes = 15\n')
    (root / "writeup").mkdir(exist_ok=True)
    (root / "writeup" / "intro.md").write_text(intro)
    (root / "writeup" / "conclusions.md").write_text(conclusions)
    return load_config(root / "reportgen.toml")


def render_writeup_deck(root: Path, formats: tuple[str, ...] = ("html",), **texts: str) -> Path:
    """A deck of the title slide and the write-up's slides only: no experiment, no training."""
    config = _project(root, **texts)
    writeup = load_writeup(root / "writeup", {})
    render_all(config, [], {}, root / "output", only=["deck"], formats=list(formats), writeup=writeup)
    return root / "output"


def _plain(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# --- notes in the write-up -------------------------------------------------------------------


def test_a_notes_block_goes_to_its_slide_and_not_to_the_slide_or_report_text(tmp_path):
    _project(tmp_path)
    place = load_writeup(tmp_path / "writeup", {}).intro
    assert place is not None
    assert [_plain(s.notes) for s in place.slides] == [
        "Greet the audience; INTRO-NOTE-ONE.",
        "Say that times are wall clock: INTRO-NOTE-TWO.",
        "",
        "slide four: INTRO-NOTE-FOUR",
    ]
    assert "<li>" in place.slides[3].notes  # Markdown inside notes is rendered
    assert all("NOTE" not in s.html and ":::" not in s.html for s in place.slides)
    assert "NOTE" not in place.html and ":::" not in place.html  # the report shows no notes
    assert _plain(place.slides[0].html) == "We compare six CNNs on the same images."


def test_live_numbers_in_notes_are_resolved(tmp_path):
    section = Section(title="Baseline", items=[Metric(title="test accuracy", value=0.8848, fmt="{:.2%}")])
    (tmp_path / "writeup").mkdir()
    (tmp_path / "writeup" / "intro.md").write_text("Text.\n\n::: notes\nSay {{ arch-baseline.test accuracy }}.\n:::\n")
    place = load_writeup(tmp_path / "writeup", {"arch-baseline": (section, False)}).intro
    assert place is not None and str(place.slides[0].notes) == '<p>Say <span class="ref">88.48%</span>.</p>\n'


def test_the_init_example_shows_the_notes_syntax(tmp_path):
    from reportgen.scaffold import INTRO as EXAMPLE

    metrics = [Metric(title="test accuracy", value=0.9, fmt="{:.2%}"), Metric(title="parameters", value=1000)]
    (tmp_path / "writeup").mkdir()
    (tmp_path / "writeup" / "intro.md").write_text(EXAMPLE)
    place = load_writeup(tmp_path / "writeup", {"arch-baseline": (Section(title="b", items=metrics), False)}).intro
    assert place is not None and "::: notes" in EXAMPLE
    assert [bool(s.notes) for s in place.slides] == [False, True]
    assert "numbers come from" in place.slides[1].notes and "numbers come from" not in place.html


def test_deck_minutes_is_configurable_and_checked(tmp_path):
    assert Config().deck.minutes == 12
    config = _project(tmp_path)
    assert config.deck.minutes == 15
    (tmp_path / "reportgen.toml").write_text("[deck]\nminutes = 0\n")
    with pytest.raises(ReportgenError, match="deck.minutes"):
        load_config(tmp_path / "reportgen.toml")


# --- the rendered deck -----------------------------------------------------------------------


def test_the_deck_ships_its_script_and_carries_notes_in_hidden_asides(tmp_path):
    out = render_writeup_deck(tmp_path)
    html = (out / "deck.html").read_text()
    assert '<script src="assets/deck.js"' in html and 'data-minutes="15' in html
    script = (out / "assets" / "deck.js").read_text()
    assert "BroadcastChannel" in script and "http" not in script.replace("https://", "")  # nothing fetched
    slides = re.findall(r'<section class="slide.*?</section>', html, re.S)
    assert len(slides) == 1 + 4 + 2
    notes = [_plain(m.group(1)) if (m := re.search(r'<aside class="notes">(.*?)</aside>', s, re.S)) else "" for s in slides]
    assert notes[1] == "Greet the audience; INTRO-NOTE-ONE." and notes[5] == "Finish on time: CONCLUSION-NOTE."
    assert ".slide > aside.notes { display: none; }" in (out / "assets" / "deck.css").read_text()


def _stored(tmp_path: Path) -> tuple[list[Experiment], dict[str, Entry]]:
    """One stored result, made by hand: key numbers, a generated sentence and a table."""
    section = Section(
        title="Course baseline",
        summary="The baseline reaches 88.48 % test accuracy with 263,418 parameters.",
        items=[
            Metric(title="test accuracy", value=0.8848, fmt="{:.2%}", key=True),
            Metric(title="parameters", value=263418, fmt="{:,.0f}", key=True),
            Text(body="The baseline reaches 88.48 % test accuracy with 263,418 parameters."),
            Table(title="Layers", columns=["layer", "parameters"], rows=[["conv32", "320"]], key=True),
        ],
    )
    exp = Experiment(id="arch-baseline", task=1, title="Course baseline", fn=lambda ctx: section, params={}, needs=(), module="tests", order=0)
    entry = Entry(path=tmp_path / "cache" / "arch-baseline", key="k", section=section, inputs={}, provenance={})
    return [exp], {"arch-baseline": entry}


def _result_slide_notes(out: Path) -> str:
    html = (out / "deck.html").read_text()
    slide = re.search(r'<section class="slide kind-table.*?</section>', html, re.S)
    assert slide is not None
    notes = re.search(r'<aside class="notes">(.*?)</aside>', slide.group(0), re.S)
    return _plain(notes.group(1)) if notes else ""


def test_a_result_slide_without_notes_gets_its_key_numbers_and_sentence(tmp_path):
    config = _project(tmp_path)
    experiments, entries = _stored(tmp_path)
    render_all(config, experiments, entries, tmp_path / "output", only=["deck"], formats=["html"])
    assert _result_slide_notes(tmp_path / "output") == (
        "The baseline reaches 88.48 % test accuracy with 263,418 parameters. test accuracy: 88.48% parameters: 263,418"
    )


def test_the_students_notes_replace_the_generated_ones_on_a_result_slide(tmp_path):
    config = _project(tmp_path)
    experiments, entries = _stored(tmp_path)
    (tmp_path / "writeup" / "arch-baseline.md").write_text("Our words.\n\n::: notes\nPoint at the first row.\n:::\n")
    writeup = load_writeup(tmp_path / "writeup", {k: (e.section, False) for k, e in entries.items()})
    render_all(config, experiments, entries, tmp_path / "output", only=["deck"], formats=["html"], writeup=writeup)
    assert _result_slide_notes(tmp_path / "output") == "Point at the first row."


def _pdf_text(path: Path) -> tuple[int, str]:
    from pypdf import PdfReader

    reader = PdfReader(path)
    return len(reader.pages), " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def test_notes_never_reach_the_pdf_which_is_the_same_as_without_them(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "plain").mkdir()
    with_notes = render_writeup_deck(tmp_path / "notes", ("html", "pdf"))
    drop = lambda text: re.sub(r"::: notes\n.*?:::\n", "", text, flags=re.S)
    plain = render_writeup_deck(tmp_path / "plain", ("html", "pdf"), intro=drop(INTRO), conclusions=drop(CONCLUSIONS))
    pages, text = _pdf_text(with_notes / "deck.pdf")
    assert pages == 7  # one page per slide
    assert "NOTE" not in text and "Greet the audience" not in text and ":::" not in text
    assert "We compare six CNNs on the same images." in text
    assert (pages, text) == _pdf_text(plain / "deck.pdf")


# --- in a real browser -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: pip install playwright (the test extra)")
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed: scripts/install-system.sh installs it (as root)")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"))
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def deck_url(tmp_path_factory) -> str:
    out = render_writeup_deck(tmp_path_factory.mktemp("present"))
    return (out / "deck.html").as_uri()


def _current(page) -> int:
    """The number (1-based) of the one slide on screen; fails unless exactly one is visible."""
    visible = page.eval_on_selector_all(
        "section.slide", "s => s.map((e, i) => [i + 1, getComputedStyle(e).display]).filter(p => p[1] !== 'none').map(p => p[0])"
    )
    assert len(visible) == 1, visible
    return visible[0]


def test_keys_move_between_slides_and_the_address_follows(browser, deck_url):
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(deck_url)
    assert _current(page) == 1
    for key, expected in [("ArrowRight", 2), ("Space", 3), ("PageDown", 4), ("n", 5), ("ArrowLeft", 4), ("PageUp", 3), ("p", 2), ("End", 7), ("Home", 1)]:
        page.keyboard.press(key)
        assert _current(page) == expected, key
    page.keyboard.type("6")
    page.keyboard.press("Enter")
    assert _current(page) == 6 and page.evaluate("location.hash") == "#/6"
    # Scaled to fit: the 16:9 slide fills the 1280x720 window.
    box = page.eval_on_selector("section.slide.current", "e => e.getBoundingClientRect().toJSON()")
    assert box["width"] == pytest.approx(1280, abs=2) and box["height"] == pytest.approx(720, abs=2)
    page.keyboard.press("b")
    assert page.eval_on_selector(".rg-blank-screen", "e => getComputedStyle(e).display") == "block"
    page.keyboard.press(".")
    assert page.eval_on_selector(".rg-blank-screen", "e => getComputedStyle(e).display") == "none"
    page.keyboard.press("f")
    page.wait_for_function("document.fullscreenElement === document.documentElement")
    page.keyboard.press("F")
    page.wait_for_function("document.fullscreenElement === null")
    page.keyboard.press("o")  # the overview: every slide, as the page scrolls without the script
    shown = page.eval_on_selector_all("section.slide", "s => s.filter(e => getComputedStyle(e).display !== 'none').length")
    assert shown == 7
    page.click("section.slide >> nth=2")
    assert _current(page) == 3
    page.emulate_media(media="print")  # printing from the browser still gives every slide a page
    printed = page.eval_on_selector_all("body > *", "s => s.filter(e => getComputedStyle(e).display !== 'none').map(e => e.tagName)")
    assert printed == ["SECTION"] * 7
    page.close()


def test_the_address_opens_a_slide_and_follows_edits(browser, deck_url):
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(deck_url + "#/5")
    assert _current(page) == 5
    assert "INTRO-NOTE-FOUR" in page.inner_html("section.slide.current aside.notes")
    page.evaluate("location.hash = '#/2'")
    page.wait_for_function("document.querySelector('section.slide.current') === document.querySelectorAll('section.slide')[1]")
    assert _current(page) == 2
    page.close()


def test_the_speaker_view_shows_the_current_slides_notes_in_step(browser, deck_url):
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(deck_url + "#/2")
    with page.expect_popup() as opened:
        page.keyboard.press("s")
    speaker = opened.value
    speaker.wait_for_selector(".rg-notes")
    notes = speaker.locator(".rg-notes")
    assert "INTRO-NOTE-ONE" in notes.inner_text()
    assert "15 min" in speaker.inner_text(".rg-remaining")
    assert speaker.inner_text(".rg-position") == "Slide 2 / 7"
    page.keyboard.press("ArrowRight")  # the main window moves: the speaker view follows
    speaker.wait_for_function("document.querySelector('.rg-notes').textContent.includes('INTRO-NOTE-TWO')")
    upcoming = speaker.eval_on_selector("section.slide.upcoming", "e => e.textContent")
    assert "How we trained" in upcoming
    page.keyboard.press("ArrowRight")
    speaker.wait_for_function("document.querySelector('.rg-notes').textContent.includes('No notes')")
    speaker.keyboard.press("End")  # and the other way round
    page.wait_for_function("location.hash === '#/7'")
    assert _current(page) == 7
    speaker.keyboard.press("ArrowLeft")
    speaker.wait_for_function("document.querySelector('.rg-notes').textContent.includes('CONCLUSION-NOTE')")
    page.wait_for_function("location.hash === '#/6'")
    speaker.close()
    page.close()


def test_the_deck_presents_through_serve_with_its_reload_script(browser, deck_url):
    import threading
    from urllib.parse import urlsplit

    from reportgen.render.serve import make_server

    server = make_server(Path(urlsplit(deck_url).path).parent, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/deck.html"
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(base + "#/3")
        assert "/__version" in page.content()  # serve's reload script is there beside ours
        assert _current(page) == 3
        page.keyboard.press("ArrowRight")
        assert _current(page) == 4 and page.evaluate("location.hash") == "#/4"
        with page.expect_popup() as opened:
            page.keyboard.press("S")
        speaker = opened.value
        speaker.wait_for_function("document.querySelector('.rg-notes') && document.querySelector('.rg-position').textContent === 'Slide 4 / 7'")
        assert urlsplit(speaker.url).query == "speaker"
        speaker.keyboard.press("ArrowRight")
        page.wait_for_function("location.hash === '#/5'")
        speaker.close()
        page.close()
    finally:
        server.shutdown()
        server.server_close()

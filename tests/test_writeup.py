"""The student's Markdown: placement by file name, slides, live numbers, their errors and
warnings, and pictures that must stay inside the project folder."""

from __future__ import annotations

import html
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from reportgen.errors import ReportgenError
from reportgen.results import Metric, Section, Table
from reportgen.writeup import MISSING_TEXT, STALE_FLAG, PlaceKind, load_writeup



def _encoded(fmt: str) -> bytes:
    """A real 2x2 picture: pictures are opened (header and size) when the write-up is read."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (2, 2), (10, 20, 30)).save(buffer, fmt)
    return buffer.getvalue()


PNG, JPEG = _encoded("PNG"), _encoded("JPEG")


def arch(acc: float, params: int, seconds: float) -> Section:
    """A Task 1 variant's result with the metric titles and formats the built-in ones use."""
    return Section(
        title="variant",
        items=[
            Metric(title="parameters", value=params, fmt="{:,.0f}"),
            Metric(title="test accuracy", value=acc, unit="%", fmt="{:.2f}"),
            Metric(title="epoch time", value=seconds, unit="s", fmt="{:.1f}"),
            Metric(title="train accuracy", value=acc + 3, unit="%", fmt="{:.2f}"),
            Table(title="layers", columns=["layer"], rows=[["conv1"]]),
        ],
    )


REGISTRY = {
    "arch-baseline": SimpleNamespace(title="Baseline CNN", task=1),
    "arch-wider": SimpleNamespace(title="Wider filters", task=1),
    "arch-deeper": SimpleNamespace(title="Deeper", task=1),
    "t2-dropout": SimpleNamespace(title="Dropout", task=2),
}


def results(**changes):
    base = {
        "arch-baseline": (arch(88.48, 1_199_882, 10.04), False),
        "arch-wider": (arch(89.19, 1_212_227, 12.34), False),
        "arch-deeper": (arch(87.48, 300_000, 20.0), False),
        "t2-dropout": (None, False),
    }
    base.update(changes)
    return base


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    return root / "writeup"


def load(root: Path, files: dict[str, str | bytes], **changes):
    return load_writeup(write(root, files), results(**changes), registry=REGISTRY, project=root)


def text(markup: str) -> str:
    """What a reader sees: tags removed, entities and no-break spaces as plain characters."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", str(markup))).replace("\xa0", " ").split())


# --- placement -----------------------------------------------------------------------------


def test_each_file_lands_where_its_name_says(tmp_path):
    writeup = load(tmp_path, {
        "writeup/intro.md": "Hello.",
        "writeup/task1.md": "About architectures.",
        "writeup/task-training.md": "About training.",
        "writeup/arch-baseline.md": "About the baseline.",
        "writeup/conclusions.md": "Done.",
        "writeup/README.md": "notes, ignored",
        "writeup/figures/notes.md": "in a sub-folder, ignored",
        "writeup/plot.png": PNG,
    })  # fmt: skip
    assert text(writeup.intro.html) == "Hello." and writeup.intro.kind is PlaceKind.intro
    assert text(writeup.task(1).html) == "About architectures." and writeup.task(1).task == 1
    assert text(writeup.task(2).html) == "About training."  # by the task's name
    assert writeup.task(3) is None
    assert text(writeup.experiment("arch-baseline").html) == "About the baseline."
    assert writeup.experiment("arch-baseline").experiment == "arch-baseline"
    assert writeup.experiment("arch-wider") is None
    assert text(writeup.conclusions.html) == "Done."
    assert writeup.intro.file == Path("writeup/intro.md")
    assert [writeup.intro.title, writeup.task(1).title, writeup.experiment("arch-baseline").title, writeup.conclusions.title] == [
        "Introduction", "Architectures and theory", "Baseline CNN", "Conclusions"
    ]  # fmt: skip


def test_no_writeup_folder_is_an_empty_writeup(tmp_path):
    writeup = load_writeup(tmp_path / "writeup", results(), registry=REGISTRY)
    assert (
        writeup.intro is None
        and not writeup.tasks
        and not writeup.experiments
        and not writeup.warnings
    )


def test_an_unknown_file_name_lists_the_allowed_names_closest_first(tmp_path):
    with pytest.raises(ReportgenError) as info:
        load(tmp_path, {"writeup/arch-basline.md": "x"})
    error = info.value
    assert error.message.startswith(
        "writeup/arch-basline.md: no place for a write-up file named 'arch-basline.md'"
    )
    assert error.message.split("closest: ")[1].split(", ")[0] == "arch-baseline.md"
    assert "intro.md" in error.hint and "task1.md" in error.hint and "conclusions.md" in error.hint
    assert error.exit_code == 2
    with pytest.raises(ReportgenError, match="closest: intro.md"):
        load(tmp_path, {"writeup/Intro.MD": "x"})  # a capitalised name is not silently skipped


def test_two_files_for_one_task_is_an_error(tmp_path):
    with pytest.raises(
        ReportgenError, match="task-architecture.md and writeup/task1.md are both for Task 1"
    ):
        load(tmp_path, {"writeup/task1.md": "a", "writeup/task-architecture.md": "b"})


# --- slides --------------------------------------------------------------------------------


DECK = """\
Before any heading.

# Why this matters

First slide.

## Detail

---

Second slide has no heading.

***

# Third

- a point

---
"""


def test_rules_split_slides_and_the_first_heading_is_the_title(tmp_path):
    place = load(tmp_path, {"writeup/intro.md": DECK}).intro
    assert [str(s.title) for s in place.slides] == ["Why this matters", "", "Third"]
    first = place.slides[0]
    assert (
        "<h1" not in first.html and "Why this matters" not in first.html
    )  # the title is taken out
    assert text(first.html) == "Before any heading. First slide. Detail"
    assert "<h4>Detail</h4>" in first.html  # below the slide's own <h2> title
    assert text(place.slides[1].html) == "Second slide has no heading."
    assert "<li>a point</li>" in place.slides[2].html
    # The report reads on without rules, the student's headings under its own.
    assert "<hr" not in place.html
    assert "<h2>Why this matters</h2>" in place.html and "<h3>Detail</h3>" in place.html
    assert text(place.html).startswith("Before any heading. Why this matters First slide.")


def test_an_experiments_headings_sit_below_its_own_heading_in_the_report(tmp_path):
    place = load(tmp_path, {"writeup/arch-baseline.md": "# Our baseline\n\ntext"}).experiment(
        "arch-baseline"
    )
    assert "<h3>Our baseline</h3>" in place.html
    title, body, notes = place.slides[0]  # a slide is a (title, html, notes) triple
    assert (str(title), text(body), str(notes)) == ("Our baseline", "text", "")


def test_raw_html_is_shown_as_text(tmp_path):
    place = load(
        tmp_path,
        {
            "writeup/intro.md": 'Hi <img src="http://example.com/x.png"> <script>x()</script>\n\n<div>\n'
        },
    ).intro
    assert "<img" not in place.html and "<script" not in place.html and "<div" not in place.html
    assert "&lt;script&gt;" in place.html


# --- live numbers --------------------------------------------------------------------------


@pytest.mark.parametrize("reference,shown", [
    ("arch-baseline.test accuracy", "88.48 %"),
    ("arch-baseline.parameters", "1,199,882"),
    ("arch-baseline.epoch time", "10.0 s"),
    ("Arch-Baseline.Test   Accuracy", "88.48 %"),  # case and spacing do not matter
    ("arch-wider.test accuracy - arch-baseline.test accuracy", "+0.71 points"),
    ("arch-deeper.test accuracy - arch-baseline.test accuracy", "\u22121.00 points"),
    ("arch-baseline.test accuracy - arch-baseline.test accuracy", "0.00 points"),
    ("arch-wider.parameters - arch-baseline.parameters", "+12,345"),
    ("arch-wider.epoch time - arch-baseline.epoch time", "+2.3 s"),
])  # fmt: skip
def test_a_reference_shows_the_measured_value_as_the_tables_do(tmp_path, reference, shown):
    place = load(tmp_path, {"writeup/intro.md": f"We got {{{{ {reference} }}}}."}).intro
    assert text(place.html) == f"We got {shown}."
    assert '<span class="ref">' in place.html
    assert "&nbsp;" in place.html or " " not in shown  # a number never wraps away from its unit


def test_a_difference_of_percent_formats_is_in_points(tmp_path):
    share = lambda v: Section(title="s", items=[Metric(title="share", value=v, fmt="{:.1%}")])
    place = load(tmp_path, {"writeup/intro.md": "{{ arch-wider.share - arch-baseline.share }} and "
                            "{{ arch-deeper.share - arch-baseline.share }}"},
                 **{"arch-baseline": (share(0.50), False), "arch-wider": (share(0.512), False),
                    "arch-deeper": (share(0.49), False)}).intro  # fmt: skip
    assert text(place.html) == "+1.2 points and \u22121.0 points"


def test_references_work_in_titles_lists_tables_and_over_a_line_break(tmp_path):
    source = (
        "# Baseline: {{ arch-baseline.test accuracy }}\n\n"
        "- wider: {{ arch-wider.test accuracy -\n  arch-baseline.test accuracy }}\n\n"
        "| model | accuracy |\n|---|---|\n| deeper | {{ arch-deeper.test accuracy }} |\n"
    )
    place = load(tmp_path, {"writeup/intro.md": source}).intro
    assert text(place.slides[0].title) == "Baseline: 88.48 %"
    assert "wider: +0.71 points" in text(place.html)
    assert '<td><span class="ref">87.48&nbsp;%</span></td>' in place.html


def test_code_and_escaped_braces_are_left_alone(tmp_path):
    place = load(tmp_path, {"writeup/intro.md": "Write `{{ arch-baseline.nonsense }}` or \\{{ this }}.\n\n"
                            "```\n{{ no.such }}\n```\n"}).intro  # fmt: skip
    assert "<code>{{ arch-baseline.nonsense }}</code>" in place.html
    assert "or {{ this }}." in text(place.html)
    assert "{{ no.such }}" in place.html


def test_unknown_experiment_names_file_line_and_closest_ids(tmp_path):
    with pytest.raises(ReportgenError) as info:
        load(
            tmp_path,
            {
                "writeup/task1.md": "# Title\n\nfirst line\nsecond {{ arch-basline.test accuracy }}\n"
            },
        )
    error = info.value
    assert (
        error.message
        == "writeup/task1.md:4: unknown experiment 'arch-basline' in {{ arch-basline.test accuracy }}"
    )
    assert error.hint.startswith("closest: arch-baseline, ")
    assert error.exit_code == 2


def test_unknown_metric_names_file_line_and_closest_metrics(tmp_path):
    with pytest.raises(ReportgenError) as info:
        load(
            tmp_path,
            {
                "writeup/conclusions.md": "a\n\nb {{ arch-wider.test acuracy -\narch-baseline.test accuracy }}"
            },
        )
    error = info.value
    assert error.message.startswith(
        "writeup/conclusions.md:3: 'arch-wider' has no metric 'test acuracy'"
    )
    closest = error.hint.removeprefix("closest: ").split(", ")
    assert closest[0] == "test accuracy"
    assert sorted(closest) == ["epoch time", "parameters", "test accuracy", "train accuracy"]


@pytest.mark.parametrize("source,message", [
    ("x {{ arch-baseline }}", "does not name an experiment and a metric"),
    ("x {{ }}", "does not name an experiment and a metric"),
    ("line\n{{ arch-baseline.test accuracy", "writeup/intro.md:2: '{{' without a closing '}}'"),
    ("{{ arch-baseline.test accuracy - arch-baseline.parameters }}", "different units ('%' and 'no unit')"),
])  # fmt: skip
def test_malformed_references_are_errors(tmp_path, source, message):
    with pytest.raises(ReportgenError, match=re.escape(message)):
        load(tmp_path, {"writeup/intro.md": source})


def test_stale_and_missing_results_are_marked_and_warned_about(tmp_path):
    source = (
        "# Numbers\n\n"
        "stale {{ arch-wider.test accuracy }}\n"
        "stale difference {{ arch-wider.test accuracy - arch-baseline.test accuracy }}\n"
        "missing {{ t2-dropout.val accuracy }}\n"
        "missing side {{ arch-baseline.parameters - t2-dropout.parameters }}\n"
        "fresh {{ arch-baseline.test accuracy }}\n"
    )
    writeup = load(
        tmp_path, {"writeup/intro.md": source}, **{"arch-wider": (arch(89.19, 1, 1.0), True)}
    )
    shown = text(writeup.intro.html)
    assert f"stale 89.19 % {STALE_FLAG}" in shown
    assert f"stale difference +0.71 points {STALE_FLAG}" in shown
    assert f"missing {MISSING_TEXT}" in shown and f"missing side {MISSING_TEXT}" in shown
    assert "fresh 88.48 %" in shown
    assert writeup.intro.html.count('class="ref ref-stale"') == 2
    assert writeup.intro.html.count('class="ref ref-missing"') == 2
    warnings = [str(w) for w in writeup.warnings]
    assert [(w.line) for w in writeup.warnings] == [3, 4, 5, 6]
    assert warnings[0].startswith(
        "writeup/intro.md:3: {{ arch-wider.test accuracy }} shows the last stored value of 'arch-wider', which is stale"
    )
    assert warnings[0].endswith("(run reportgen build --task 1)")
    assert warnings[2].startswith(
        f"writeup/intro.md:5: {{{{ t2-dropout.val accuracy }}}} shows {MISSING_TEXT}: 't2-dropout' has no stored result yet"
    )
    assert warnings[2].endswith("(run reportgen build --task 2)")
    assert writeup.referenced == ["arch-wider", "arch-baseline", "t2-dropout"]


def test_a_metric_absent_from_a_stale_result_is_missing_not_an_error(tmp_path):
    writeup = load(tmp_path, {"writeup/intro.md": "{{ arch-wider.inference time }}"},
                   **{"arch-wider": (arch(89.19, 1, 1.0), True)})  # fmt: skip
    assert text(writeup.intro.html) == MISSING_TEXT
    (warning,) = writeup.warnings
    assert "the stale result of 'arch-wider' has no metric 'inference time'" in warning.message


# --- pictures ------------------------------------------------------------------------------


def test_pictures_are_checked_renamed_by_content_and_listed_once(tmp_path):
    writeup = load(tmp_path, {
        "writeup/intro.md": "![Loss](figures/loss.png)\n\n![Again](figures/loss.png)",
        "writeup/conclusions.md": "![Team](../photos/team%20photo.JPG)",
        "writeup/figures/loss.png": PNG,
        "photos/team photo.JPG": JPEG,
    })  # fmt: skip
    sources = [image.source for image in writeup.images]  # files in name order: conclusions first
    assert sources == [
        (tmp_path / "photos/team photo.JPG").resolve(),
        (tmp_path / "writeup/figures/loss.png").resolve(),
    ]
    team, loss = writeup.images
    assert re.fullmatch(r"assets/writeup/loss-[0-9a-f]{10}\.png", loss.target)
    assert re.fullmatch(r"assets/writeup/team photo-[0-9a-f]{10}\.jpg", team.target)
    assert writeup.intro.html.count(f'src="{loss.target}"') == 2
    written: set[Path] = set()
    copies = writeup.copy_images(tmp_path / "output", written)
    assert copies == [tmp_path / "output" / team.target, tmp_path / "output" / loss.target]
    assert written == set(copies) and copies[1].read_bytes() == PNG


@pytest.mark.parametrize("src,message", [
    ("https://example.com/x.png", "is not a file of the project"),
    ("//example.com/x.png", "is not a file of the project"),
    ("data:image/png;base64,iVBORw0KGgo=", "is not a file of the project"),
    ("/etc/x.png", "is an absolute path"),
    ("../../outside.png", "lies outside the project folder"),
    ("figures/nothing.png", "not found"),
    ("figures/paper.pdf", "is not an image the deliverables can show"),
])  # fmt: skip
def test_pictures_outside_the_project_or_on_the_web_are_refused(tmp_path, src, message):
    root = tmp_path / "project"
    (tmp_path / "outside.png").write_bytes(PNG)
    with pytest.raises(ReportgenError, match=re.escape(message)) as info:
        load(
            root, {"writeup/intro.md": f"text\n\n![x]({src})", "writeup/figures/paper.pdf": b"%PDF"}
        )
    assert info.value.message.startswith("writeup/intro.md:3: picture ")


def test_a_scheme_markdown_it_distrusts_stays_text(tmp_path):
    # markdown-it's own link check drops file: and javascript: targets: no picture, nothing fetched.
    place = load(tmp_path, {"writeup/intro.md": "![x](file:///etc/x.png)"}).intro
    assert "<img" not in place.html and text(place.html) == "![x](file:///etc/x.png)"


def test_a_link_out_of_the_project_is_refused(tmp_path):
    root = tmp_path / "project"
    (tmp_path / "secret.png").write_bytes(PNG)
    write(root, {"writeup/intro.md": "![x](figures/link.png)"})
    (root / "writeup/figures").mkdir()
    (root / "writeup/figures/link.png").symlink_to(tmp_path / "secret.png")
    with pytest.raises(ReportgenError, match="lies outside the project folder"):
        load_writeup(root / "writeup", results(), registry=REGISTRY, project=root)


def test_a_picture_relative_to_the_project_gets_a_hint(tmp_path):
    with pytest.raises(ReportgenError) as info:
        load(tmp_path, {"writeup/intro.md": "![x](figures/plot.png)", "figures/plot.png": PNG})
    assert info.value.hint == "paths are relative to the Markdown file: write '../figures/plot.png'"


def test_attach_gives_task_parts_and_blocks_their_text(tmp_path):
    writeup = load(tmp_path, {"writeup/task1.md": "t", "writeup/arch-wider.md": "w"})
    blocks = [SimpleNamespace(id="arch-baseline"), SimpleNamespace(id="arch-wider")]
    parts = [SimpleNamespace(number=1, blocks=blocks), SimpleNamespace(number=2, blocks=[])]
    writeup.attach(parts)
    assert parts[0].writeup is writeup.task(1) and parts[1].writeup is None
    assert blocks[0].writeup is None and blocks[1].writeup is writeup.experiment("arch-wider")

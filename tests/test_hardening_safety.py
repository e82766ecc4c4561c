"""A project from someone else, read safely; the student's own mistakes named as theirs.

Issue 14 ("Nothing lost, round two"), items 7, 8, 9, 11 and 12: fonts for Chinese and emoji in
the PDFs, the logo checked as the project's own picture, one URL fetcher for everything a page
loads, errors in the project's files named with file and line, and clashing or exiting project
modules. Each test's docstring names its item. None trains a network.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import textwrap
import zlib
from pathlib import Path

import pytest

from reportgen import registry
from tests.conftest import CONFIG, invoke
from tests.test_hardening import no_traceback, store_theory


def png(path: Path, size: tuple[int, int] = (8, 8), colour: tuple[int, int, int] = (200, 30, 30)) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def bomb_png(path: Path, side: int = 40000) -> Path:
    """A 200-byte PNG whose header claims side x side pixels: Pillow refuses it as a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return path


def one_error_line(output: str) -> str:
    """The single `error:` line of a failed command (there must be exactly one)."""
    no_traceback(output)
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, output
    assert "internal error" not in output, output
    return lines[0]


# --- item 7: CJK and emoji print as glyphs ----------------------------------------------------


def _fonts_installed(*families: str) -> bool:
    if shutil.which("fc-list") is None:
        return False
    listed = subprocess.run(["fc-list"], capture_output=True, text=True, check=False).stdout
    return all(family in listed for family in families)


@pytest.mark.skipif(shutil.which("pdffonts") is None, reason="pdffonts (poppler-utils) is not installed")
@pytest.mark.skipif(
    not _fonts_installed("Noto Sans CJK SC", "Noto Color Emoji"),
    reason="fonts-noto-cjk / fonts-noto-color-emoji are not installed (scripts/install-system.sh)",
)
def test_item7_chinese_and_emoji_title_embeds_cjk_and_emoji_fonts(project):
    """Item 7: a deck titled in Chinese with an emoji embeds Noto Sans CJK SC and Noto Color Emoji,
    chosen by the CSS font stack after DejaVu (not whatever fontconfig falls back to)."""
    (project / "reportgen.toml").write_text(CONFIG.replace('title = "Test deck"', 'title = "深度学习课程报告 🚀"'))
    store_theory(project)
    result = invoke("render", "--task", "1", "--partial", "--only", "deck", "--format", "pdf")
    assert result.exit_code == 0, result.output
    fonts = subprocess.run(["pdffonts", str(project / "output" / "deck.pdf")], capture_output=True, text=True, check=True).stdout
    assert "Noto-Sans-CJK-SC" in fonts, fonts  # Chinese glyphs in the Simplified Chinese forms
    assert "Noto-Color-Emoji" in fonts, fonts
    assert "DejaVu-Sans" in fonts, fonts  # the Latin text keeps its font
    text = subprocess.run(["pdftotext", str(project / "output" / "deck.pdf"), "-"], capture_output=True, text=True, check=True).stdout
    assert "深度学习课程报告" in text
    # Latin text and digits (the date, counts) stay in DejaVu: no fallback font is pulled in.
    (project / "reportgen.toml").write_text(CONFIG)
    assert invoke("render", "--task", "1", "--partial", "--only", "deck", "--format", "pdf").exit_code == 0
    plain = subprocess.run(["pdffonts", str(project / "output" / "deck.pdf")], capture_output=True, text=True, check=True).stdout
    assert "DejaVu-Sans" in plain and "Noto" not in plain, plain


# --- item 8: the logo is the project's own picture ---------------------------------------------


@pytest.fixture
def elsewhere(tmp_path_factory) -> Path:
    """A folder outside the project (someone's home, a system folder)."""
    return tmp_path_factory.mktemp("elsewhere")


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda root, away: png(away / "secret.png"), "lies outside the project folder"),
        (lambda root, away: (root / "logo.png").symlink_to(png(away / "secret.png")) or root / "logo.png", "lies outside"),
        (lambda root, away: root / "theme" / "missing.png", "does not exist"),
        (lambda root, away: (root / "theme").mkdir() or root / "theme", "not a regular file"),
        (lambda root, away: (root / "notes.txt").write_text("hi") and root / "notes.txt", "not an image"),
        (lambda root, away: (root / "logo.png").write_text("root:x:0:0") and root / "logo.png", "cannot be read as an image"),
        (lambda root, away: bomb_png(root / "logo.png"), "too large to decode safely"),
    ],
    ids=["outside", "symlink-out", "missing", "folder", "not-image-type", "not-an-image", "bomb"],
)
def test_item8_logo_is_checked_when_the_config_is_read(project, elsewhere, make, words):
    """Item 8: a logo outside the project, missing, not a file or not an image is one line, exit 2,
    when the config is read (here by `list`, which trains nothing and renders nothing)."""
    logo = make(project, elsewhere)
    (project / "reportgen.toml").write_text(CONFIG + f'logo = "{logo}"\n')
    result = invoke("list")
    assert result.exit_code == 2, result.output
    line = one_error_line(result.output)
    assert "logo" in line and words in line
    assert not (project / "output").exists()


def test_item8_a_logo_inside_the_project_is_accepted(project):
    """Item 8: the check lets the project's own PNG and SVG logos through."""
    png(project / "theme" / "logo.png")
    (project / "theme" / "mark.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>')
    for logo in ("theme/logo.png", "theme/mark.svg"):
        (project / "reportgen.toml").write_text(CONFIG + f'logo = "{logo}"\n')
        result = invoke("list")
        assert result.exit_code == 0, result.output


# --- item 9: one URL fetcher for everything a page loads ----------------------------------------


def _svg_linking(*hrefs: str) -> str:
    images = "".join(f'<image x="0" y="{10 * i}" width="10" height="10" xlink:href="{h}"/>' for i, h in enumerate(hrefs))
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'width="40" height="40">{images}</svg>'
    )


@pytest.mark.skipif(shutil.which("pdfimages") is None, reason="pdfimages (poppler-utils) is not installed")
def test_item9_writeup_svg_cannot_embed_a_file_from_outside_the_project(project, elsewhere):
    """Item 9: an SVG of the write-up that links a picture outside the project: the PDF leaves it
    out, while the same SVG's link to a picture inside the project is embedded."""
    secret = png(elsewhere / "secret.png", size=(37, 23))
    deeper = png(elsewhere / "deeper.png", size=(29, 31))
    inside = png(project / "writeup" / "figures" / "ok.png", size=(41, 19))
    nested = project / "writeup" / "figures" / "nested.svg"  # one level down: an SVG of the project linking out
    nested.write_text(_svg_linking(deeper.as_uri()))
    (project / "writeup" / "figures" / "diagram.svg").write_text(
        _svg_linking(secret.as_uri(), inside.resolve().as_uri(), nested.resolve().as_uri())
    )
    (project / "writeup" / "intro.md").write_text("A diagram.\n\n![diagram](figures/diagram.svg)\n")
    store_theory(project)
    result = invoke("render", "--task", "1", "--partial", "--only", "report", "--format", "pdf")
    assert result.exit_code == 0, result.output
    for refused in (secret, deeper):  # asked for (WeasyPrint follows links at any depth), refused, and said
        assert f"report.pdf: left out {refused.as_uri()}" in result.output, result.output
    listing = subprocess.run(["pdfimages", "-list", str(project / "output" / "report.pdf")], capture_output=True, text=True, check=True).stdout
    sizes = {tuple(int(v) for v in line.split()[3:5]) for line in listing.splitlines()[2:]}
    assert (41, 19) in sizes, listing  # the project's own picture, through the SVG
    assert (37, 23) not in sizes, listing  # the outside file never reaches the PDF
    assert (29, 31) not in sizes, listing  # nor one linked by an SVG the first SVG links


def test_item9_fetcher_reads_only_the_allowed_folders(tmp_path, elsewhere):
    """Item 9: the fetcher refuses the network, other schemes, files outside (also through a
    symlink inside) and allows files inside and inline data; refusals are recorded."""
    from reportgen.render.fetch import LocalOnlyFetcher

    inside = png(tmp_path / "a.png")
    outside = png(elsewhere / "b.png")
    (tmp_path / "link.png").symlink_to(outside)
    fetcher = LocalOnlyFetcher([tmp_path])
    assert fetcher.allows(inside.as_uri()) and fetcher.allows("data:image/png;base64,AAAA")
    for url in (outside.as_uri(), (tmp_path / "link.png").as_uri(), "https://example.com/x.png",
                "http://127.0.0.1/x.png", "ftp://example.com/x", "file://server/share/x.png",
                f"file://{tmp_path}/../{elsewhere.name}/b.png"):  # fmt: skip
        assert not fetcher.allows(url), url
    with pytest.raises(ValueError, match="refused"):
        fetcher.fetch(outside.as_uri())
    assert fetcher.refused == [outside.as_uri()]
    assert fetcher.fetch(inside.as_uri()).read() == inside.read_bytes()


# --- item 11: errors in the project's files name the file, line and experiment -------------------


def project_experiment(root: Path, body: str, name: str = "mine") -> Path:
    """experiments/<name>.py registering experiment 'mine' (Task 5) whose function body is `body`."""
    source = textwrap.dedent(
        """\
        from reportgen.registry import experiment
        from reportgen.results import Metric, Section


        @experiment(task=5, id="mine", title="Mine")
        def run(ctx):
        """
    ) + textwrap.indent(textwrap.dedent(body), "    ")
    path = root / "experiments" / f"{name}.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(source)
    return path


@pytest.fixture
def own_registry(monkeypatch):
    """The project's registrations go into a copy of the registry, dropped after the test (the
    built-in experiments are imported first, so the copy and the original both hold them)."""
    registry.load_experiments()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


@pytest.fixture
def only_mine(own_registry):
    """The project's experiment 'mine' is run alone (`run -e mine`: no built-in one trains)."""


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("values = []\nreturn values[3]\n", ["experiments/mine.py:8", "IndexError"]),
        ("import sys\nsys.exit(3)\n", ["experiments/mine.py:8", "exited the interpreter"]),
        ("return {'accuracy': 0.9}\n", ["experiments/mine.py:5", "returned dict, not a Section"]),
        ("return Section(title='t', items=[Metric(title='acc', value=0.5, fmt='{:d}')])\n",
         ["experiments/mine.py:5", "invalid result", "format '{:d}' does not apply"]),
        ("return Section(title='t', items=[Metric(title='acc', value=0.5, fmt='{0[1]}')])\n",
         ["experiments/mine.py:5", "invalid result", "'acc'"]),
    ],
    ids=["raises", "sys-exit", "wrong-type", "bad-format", "format-type-error"],
)
def test_item11_a_failing_project_experiment_names_its_file_and_line(project, only_mine, body, words):
    """Item 11: an exception, sys.exit, a wrong return type or a metric format that does not apply,
    in the project's own experiment: one line with file:line, the experiment, "project's", exit 2."""
    project_experiment(project, body)
    result = invoke("run", "-e", "mine")
    assert result.exit_code == 2, result.output
    line = one_error_line(result.output)
    assert "experiment 'mine'" in line, line
    for word in words:
        assert word in line, line
    assert "project's own code" in result.output or "project's experiment" in result.output
    assert not list((project / ".reportgen" / "cache").glob("mine/*/result.json"))  # nothing stored


def test_item11_a_decompression_bomb_image_is_one_line_naming_file_and_experiment(project, only_mine):
    """Item 11: a decompression-bomb picture read by an experiment: file and experiment named, exit 2."""
    from reportgen.errors import ReportgenError
    from reportgen.nn.images import load_image

    bomb = bomb_png(project / "photos" / "huge.png")
    with pytest.raises(ReportgenError, match="too large to decode safely"):
        load_image(bomb)
    project_experiment(project, "from reportgen.nn.images import load_image\nload_image(ctx.root / 'photos' / 'huge.png')\n")
    result = invoke("run", "-e", "mine")
    assert result.exit_code == 2, result.output
    line = one_error_line(result.output)
    assert "experiment 'mine'" in line and "huge.png" in line and "too large" in line


@pytest.mark.parametrize(("make", "words"), [(bomb_png, "too large to decode safely"),
                                             (lambda p: p.write_text("not a picture") and p, "cannot be read as an image")],
                         ids=["bomb", "not-an-image"])  # fmt: skip
def test_item11_a_broken_writeup_picture_is_named_not_silently_dropped(project, make, words):
    """Item 11: a decompression bomb (or a file that is no image) in the write-up: file, line and
    picture named, exit 2 (the PDF renderer used to leave it out without a word)."""
    (project / "writeup" / "figures").mkdir(parents=True)
    make(project / "writeup" / "figures" / "huge.png")
    (project / "writeup" / "intro.md").write_text("Intro.\n\n![big](figures/huge.png)\n")
    store_theory(project)
    result = invoke("render", "--task", "1", "--partial", "--only", "deck", "--format", "html")
    assert result.exit_code == 2, result.output
    line = one_error_line(result.output)
    assert "writeup/intro.md:3" in line and "figures/huge.png" in line and words in line


def test_item11_image_parameter_of_the_wrong_type_fails_the_parameter_check(project):
    """Item 11: `images = [1, 2]` is refused when planning, naming the key, not at run time."""
    (project / "reportgen.toml").write_text(CONFIG + "[experiments.t3-gradcam]\nimages = [1, 2]\n")
    result = invoke("list")
    assert result.exit_code == 2, result.output
    line = one_error_line(result.output)
    assert "t3-gradcam" in line and "images" in line and "image file paths" in line


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("<html>\n{% if %}\n</html>\n", ["theme/deck.html.j2:2", "TemplateSyntaxError"]),
        ("<html>\n<body>\n{{ no_such_thing.title }}\n</body>\n", ["theme/deck.html.j2:3", "UndefinedError", "no_such_thing"]),
    ],
    ids=["syntax", "undefined"],
)
def test_item11_jinja_error_in_the_theme_names_the_template_and_line(project, template, words):
    """Item 11: a broken template in the project's theme/ is the project's file: file:line, exit 2."""
    store_theory(project)
    (project / "theme").mkdir()
    (project / "theme" / "deck.html.j2").write_text(template)
    result = invoke("render", "--task", "1", "--partial", "--only", "deck", "--format", "html")
    assert result.exit_code == 2, result.output
    line = one_error_line(result.output)
    for word in words:
        assert word in line, line
    assert "theme template" in line


def test_item11_a_builtin_experiment_failing_stays_an_internal_error():
    """Item 11: "internal error" is kept for reportgen's own code: a built-in experiment's failure
    is not dressed up as the project's."""
    import dataclasses

    from reportgen.blame import call_experiment

    builtin = registry.load_experiments()["theory"]

    def broken(ctx):
        raise KeyError("ours")

    with pytest.raises(KeyError):
        call_experiment(dataclasses.replace(builtin, fn=broken), None, Path("."))
    with pytest.raises(TypeError, match="not a Section or a Record"):
        call_experiment(dataclasses.replace(builtin, fn=lambda ctx: 42), None, Path("."))


# --- item 12: clashing ids and modules that exit --------------------------------------------------


def test_item12_two_project_modules_with_the_same_id_name_both_files(project, own_registry):
    """Item 12: two project files registering the same id with the same function name: one line
    naming both files, exit 2 (the second used to replace the first silently)."""
    project_experiment(project, "return None\n", name="first")
    project_experiment(project, "return None\n", name="second")
    result = invoke("list")
    assert result.exit_code == 2, result.output
    line = one_error_line(result.output)
    assert "'mine'" in line and "first.py" in line and "second.py" in line and "registered twice" in line


def test_item12_a_project_module_that_exits_while_loaded_is_named(project, own_registry):
    """Item 12: sys.exit() at a project module's top level: one line naming the file, exit 2
    (reportgen used to end with no message and exit status 0)."""
    (project / "experiments").mkdir()
    (project / "experiments" / "script.py").write_text("import sys\n\nprint('training...')\nsys.exit(0)\n")
    result = invoke("list")
    assert result.exit_code == 2, result.output
    line = one_error_line(result.output)
    assert "experiments/script.py:4" in line and "exits the interpreter" in line


def test_item11_a_failing_from_config_hook_of_the_project_names_file_and_line(project, own_registry):
    """Item 11: the project's own `from_config(config, registry)` raising: file:line, exit 2."""
    (project / "experiments").mkdir()
    (project / "experiments" / "hook.py").write_text("def from_config(config, registry):\n    return registry['nope']\n")
    result = invoke("list")
    assert result.exit_code == 2, result.output
    line = one_error_line(result.output)
    assert "experiments/hook.py:2" in line and "from_config()" in line and "KeyError" in line

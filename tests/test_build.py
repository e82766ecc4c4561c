"""End to end: build Task 1 on digits, then check the four deliverables and the warm rebuild."""

import re
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from pypdf import PdfReader

from reportgen.cache import Cache
from tests.conftest import CONFIG, cli_process, edited_builtins, invoke

DELIVERABLES = ("deck.html", "deck.pdf", "report.html", "report.pdf")


def pdf_text(path: Path) -> list[str]:
    return [page.extract_text() for page in PdfReader(path).pages]


def test_all_four_deliverables_exist(built):
    out = built["root"] / "output"
    for name in DELIVERABLES:
        assert (out / name).stat().st_size > 1000, name
    assert list((out / "assets").rglob("*.svg")), "plots are embedded as SVG"


def test_warm_build_trains_nothing_and_is_faster(built):
    cold, warm = built["cold"], built["warm"]
    assert cold.output.count("running") >= 8
    assert "running" not in warm.output and warm.output.count("cached") >= 8
    assert "unchanged" in warm.output  # the PDFs were not re-rendered either
    ratio = cold.seconds / warm.seconds
    print(f"cold {cold.seconds:.1f} s, warm {warm.seconds:.1f} s, ratio {ratio:.1f}")
    assert ratio >= 5


def test_deck_has_one_slide_per_page(built):
    out = built["root"] / "output"
    slides = (out / "deck.html").read_text().count('<section class="slide')
    reader = PdfReader(out / "deck.pdf")
    assert len(reader.pages) == slides
    box = reader.pages[0].mediabox
    assert float(box.width) / float(box.height) == pytest.approx(16 / 9, rel=0.01)
    texts = pdf_text(out / "deck.pdf")
    assert all(text.strip() for text in texts), "no empty page"
    assert "Test deck" in texts[0] and "Ada" in texts[0]
    for number, text in enumerate(texts, start=1):
        assert str(number) in text.split(), f"slide number {number} missing"


def test_numbers_in_deliverables_come_from_results(built):
    root = built["root"]
    cache = Cache(root / ".reportgen" / "cache")
    baseline = cache.latest("arch-baseline").section.metrics()
    params = f"{int(baseline['parameters']):,}"
    accuracy = f"{baseline['test accuracy']:.2f}"
    assert params == "1,199,882"
    deck = " ".join(pdf_text(root / "output" / "deck.pdf"))
    report = " ".join(pdf_text(root / "output" / "report.pdf"))
    for text in (deck, report):
        assert params in text and accuracy in text


def test_report_has_contents_numbering_and_appendix(built):
    texts = pdf_text(built["root"] / "output" / "report.pdf")
    assert "Test deck" in texts[0]
    contents = texts[1]
    assert "Contents" in contents and "Architectures compared" in contents
    # The contents give the page on which the comparison section starts.
    page = int(re.search(r"Architectures compared\s*\.*\s*(\d+)", contents).group(1))
    assert "Architectures compared" in texts[page - 1]
    joined = " ".join(texts)
    assert "Table 1.1" in joined and "Figure 1.1" in joined
    assert "Provenance and parameters" in texts[-1] or "Provenance and parameters" in texts[-2]
    assert "scikit-learn digits" in joined


def test_render_from_cache_imports_no_torch(built):
    code = (
        "import sys; from typer.testing import CliRunner; from reportgen.cli import app; "
        "r = CliRunner().invoke(app, ['render', '--task', '1', '--out', 'rendered']); "
        "print('exit', r.exit_code); print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=built["root"], capture_output=True, text=True, timeout=300)
    assert result.stdout.split() == ["exit", "0", "False"], result.stdout + result.stderr
    assert (built["root"] / "rendered" / "deck.pdf").exists()


def test_changed_parameter_reruns_that_variant_alone(tmp_path, monkeypatch, built):
    import shutil

    shutil.copytree(built["root"] / ".reportgen", tmp_path / ".reportgen")
    (tmp_path / "reportgen.toml").write_text(CONFIG + "\n[experiments.arch-one-conv]\nlr = 0.002\n")
    monkeypatch.chdir(tmp_path)
    result = invoke("run", "--task", "1")
    assert result.exit_code == 0, result.output
    ran = set(re.findall(r"▶ (\S+) running", result.output))
    # The comparison reads every variant, so it is re-assembled (no training) too.
    assert ran == {"arch-one-conv", "arch-comparison"}
    assert "lr: 0.003 -> 0.002" in result.output  # from the default recipe's peak lr


def test_serve_injects_reload_and_reports_changes(built):
    from reportgen.render.serve import make_server

    out = built["root"] / "output"
    server = make_server(out, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        page = urllib.request.urlopen(f"{base}/deck.html", timeout=10).read().decode()
        assert "/__version" in page and "Test deck" in page
        before = urllib.request.urlopen(f"{base}/__version", timeout=10).read()
        report = out / "report.html"
        report.touch()
        import os
        import time

        os.utime(report, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
        after = urllib.request.urlopen(f"{base}/__version", timeout=10).read()
        assert before != after
        assert urllib.request.urlopen(f"{base}/assets/deck.css", timeout=10).status == 200
    finally:
        server.shutdown()
        server.server_close()


def test_interrupt_during_training_keeps_cache_and_output(built, tmp_path, monkeypatch):
    import shutil

    from reportgen import registry

    shutil.copytree(built["root"] / ".reportgen", tmp_path / ".reportgen")
    shutil.copytree(built["root"] / "output", tmp_path / "output")
    (tmp_path / "reportgen.toml").write_text(CONFIG + "\n[experiments.arch-wider]\nepochs = 2\n")
    monkeypatch.chdir(tmp_path)
    before = {p: p.read_bytes() for p in Path(".").rglob("*") if p.is_file()}
    exp = registry._REGISTRY["arch-wider"]  # builds copy the registry, so patch its source

    def interrupted(ctx):
        (ctx.files / "partial.pt").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(exp, "fn", interrupted)
    result = invoke("build", "--task", "1")
    assert result.exit_code == 130 and "interrupted" in result.output
    after = {p: p.read_bytes() for p in Path(".").rglob("*") if p.is_file()}
    assert after == before


def test_editing_task1s_caption_sentence_and_format_re_renders_and_re_trains_nothing(built, tmp_path):
    """Issue 15 for Task 1: its presenter is not part of any cache key. A copy of the built-in
    experiments with a caption, the generated sentence and a number format of Task 1 edited leaves
    every Task 1 result cached, and `render` shows the new text and format."""
    import shutil

    project = tmp_path / "project"
    shutil.copytree(built["root"], project, ignore=shutil.ignore_patterns("output"))
    builtins = edited_builtins(tmp_path, "task1_present.py", {
        '"Each point is one variant; the x axis is logarithmic."': '"One dot per variant (an edited caption)."',
        '"The baseline remains the most accurate (': '"No variant beat the baseline (',
        'TWO = Style(decimals=2)': 'TWO = Style(decimals=3)',
    })  # fmt: skip

    listed = cli_process(project, "list", builtins=builtins)
    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if " arch-" in line or " theory " in line]
    assert len(rows) == 8 and all("cached" in row for row in rows), listed.stdout
    rendered = cli_process(project, "render", "--task", "1", "--format", "html", builtins=builtins)
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    html = (project / "output" / "report.html").read_text()
    comparison = Cache(project / ".reportgen" / "cache").latest("arch-comparison").record
    baseline = comparison["variants"][0]["metrics"]["test accuracy"]
    assert "an edited caption" in html
    assert f"<td>{baseline:.3f}</td>" in html  # the new format, from the stored number
    best = max(v["metrics"]["test accuracy"] for v in comparison["variants"])
    assert ("No variant beat the baseline" in html) == (best == baseline)

"""Issue 20: the everyday loop. `render` renders what was built, `serve --watch` re-renders on a
save without training, `--version`, help without `<bool>`, and a cross-platform build lock that
names its holder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from reportgen.cache import Cache
from tests.conftest import invoke

COMMANDS = ["build", "run", "render", "list", "serve", "clean", "data", "verify", "init"]


@pytest.fixture
def copied(built, tmp_path, monkeypatch) -> Path:
    """A copy of the Tasks 1-2 quick project (results stored, nothing else), as the working directory."""
    project = tmp_path / "p"
    shutil.copytree(built["root"], project)
    shutil.rmtree(project / "output")
    monkeypatch.chdir(project)
    return project


def test_render_defaults_to_the_tasks_with_stored_results(copied):
    result = invoke("render", "--format", "html")
    assert result.exit_code == 0, result.output
    assert "rendering task 1, 2; left out: 3 visualisation (no stored results)" in result.output
    assert "5 project (no stored results)" in result.output
    deck = (copied / "output" / "deck.html").read_text()
    assert "Task 1" in deck and "Task 2" in deck and "Task 3" not in deck


def test_render_of_a_named_task_without_results_still_refuses(copied):
    result = invoke("render", "--task", "3", "--format", "html")
    assert result.exit_code == 1, result.output
    assert "no stored result for t3-" in result.output
    assert not (copied / "output").exists()


def test_render_with_nothing_stored_says_build_first(project):
    result = invoke("render")
    assert result.exit_code == 1 and "nothing in the cache to render" in result.output


def test_version_names_reportgen_torch_and_the_device():
    import torch

    from reportgen import __version__

    result = invoke("--version")
    assert result.exit_code == 0, result.output
    assert f"reportgen {__version__}" in result.output and f"torch {torch.__version__}" in result.output
    assert "device cpu" in result.output or "device cuda" in result.output or "device mps" in result.output


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_shows_flags_without_value_placeholders(command):
    result = invoke(*([command] if command else []), "--help")
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    assert "<str>" in result.output or "<path>" in result.output or command in (None, "init")


def test_a_second_build_is_refused_naming_the_holder_and_runs_once_it_is_gone(project):
    cache_root = project / ".reportgen" / "cache"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; from reportgen.cache import Cache; "
         f"c = Cache(Path({str(cache_root)!r})); c.lock(); print('locked', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = invoke("build", "--task", "1")
        assert result.exit_code == 1, result.output
        assert "another reportgen build is running on .reportgen/cache" in result.output
        assert f"(pid {holder.pid}: -c)" in result.output  # the holder's pid and command line
    finally:
        holder.kill()  # killed, not unlocked: the OS must release the lock
        holder.wait()
    second = Cache(cache_root)
    second.lock()
    assert (cache_root / ".lock.holder").read_text().startswith(f"pid {os.getpid()}: ")
    second.unlock()
    assert not (cache_root / ".lock.holder").exists()


def test_watch_filter_takes_the_text_config_and_theme_only(tmp_path):
    from reportgen.render.watch import watched_paths

    (tmp_path / "reportgen.toml").write_text('title = "t"\ntheme = "look"\n')
    watched = watched_paths(tmp_path / "reportgen.toml")
    yes = ["reportgen.toml", "writeup/intro.md", "writeup/img/a.png", "look/css/deck.css"]
    no = ["output/deck.html", ".reportgen/cache/x/result.json", "writeup/.intro.md.swp", "writeup/intro.md~",
          "experiments/mine.py", "theme/css/deck.css"]  # fmt: skip
    assert [p for p in yes if not watched(None, str(tmp_path / p))] == []
    assert [p for p in no if watched(None, str(tmp_path / p))] == []


def _wait_for(what: str, check, process: subprocess.Popen, lines: list[str], attempts: int = 600) -> None:
    """Polls `check` every 0.5 s; fails with the server's output when it never holds."""
    for _ in range(attempts):
        if check():
            return
        if process.poll() is not None:
            break
        time.sleep(0.5)
    pytest.fail(f"{what} did not happen; serve --watch said:\n" + "".join(lines))


def test_serve_watch_rerenders_on_a_save_without_training(copied):
    intro = copied / "writeup" / "intro.md"
    intro.parent.mkdir()
    intro.write_text("# Introduction\n\nA first sentence.\n")
    cache = copied / ".reportgen" / "cache"
    stored = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    process = subprocess.Popen(
        [sys.executable, "-m", "reportgen.cli", "serve", "--watch", "--port", "0", "--no-pdf"],
        cwd=copied, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "COLUMNS": "300"},
    )  # fmt: skip
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True).start()
    deck, report = copied / "output" / "deck.html", copied / "output" / "report.html"
    try:
        _wait_for("the first render", lambda: any(line.startswith("watching") for line in lines), process, lines)
        assert "A first sentence." in deck.read_text()
        saves = iter(range(10**6))

        def edited() -> bool:
            # Saved again every 30 s: the watcher starts just after it says "watching", and a save
            # before that is not seen (a busy machine can delay it by seconds).
            if next(saves) % 60 == 0:
                intro.write_text("# Introduction\n\nA sentence written while the preview runs.\n")
            return "A sentence written while the preview runs." in deck.read_text()

        _wait_for("the re-render after editing intro.md", edited, process, lines)
        # A config change that makes a result stale: marked on the page, nothing trained.
        config = copied / "reportgen.toml"
        config.write_text(config.read_text() + "\n[experiments.theory]\nkernel = [[1, 0, -1], [1, 0, -1], [1, 0, -1]]\n")
        _wait_for("the re-render after a config change",
                  lambda: any("(changed: reportgen.toml)" in line for line in lines), process, lines)  # fmt: skip
        assert "(stale result)" in report.read_text()
    finally:
        process.send_signal(signal.SIGTERM)  # as Ctrl-C (SIGINT is ignored in a background job)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
    output = "".join(lines)
    assert process.returncode == 0, output
    assert "Traceback" not in output and "running" not in output
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()} == stored  # nothing trained or stored
    assert "theory: stale (kernel:" in output

"""A normal (non-editable) install of the built wheel renders: templates and CSS ship inside it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_install_renders_from_its_own_templates(built, tmp_path):
    wheels, source = tmp_path / "wheels", tmp_path / "source"
    # From the tracked files alone: setuptools reuses a checkout's build/ folder, whose older
    # modules (a module since removed) would otherwise ship in the wheel.
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns("build", ".venv", ".git", "output", ".reportgen", "*.egg-info", "__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    target = tmp_path / "site"
    wheel = next(wheels.glob("reportgen-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=600)  # fmt: skip
    assert (target / "reportgen" / "templates" / "deck.html.j2").is_file()
    assert (target / "reportgen" / "templates" / "css" / "deck.css").is_file()
    assert (target / "reportgen" / "templates" / "js" / "deck.js").is_file()  # the deck's presenting script
    # The built-in experiments ship under our name: a top-level `experiments` would clash with a project's.
    assert (target / "reportgen" / "experiments" / "task1_architecture.py").is_file()
    assert not (target / "experiments").exists()

    project = tmp_path / "project"
    shutil.copytree(built["root"], project, ignore=shutil.ignore_patterns("output", "rendered"))
    code = (
        "import reportgen, sys; from typer.testing import CliRunner; from reportgen.cli import app; "
        "r = CliRunner().invoke(app, ['render', '--task', '1']); "
        "print(reportgen.__file__); print('exit', r.exit_code); print(r.output[-400:])"
    )
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, env=env, timeout=600)
    lines = result.stdout.splitlines()
    assert lines and lines[0].startswith(str(target)), result.stdout + result.stderr  # the wheel's copy ran
    assert "exit 0" in lines, result.stdout + result.stderr
    assert (project / "output" / "deck.pdf").stat().st_size > 1000
    assert "Test deck" in (project / "output" / "deck.html").read_text()
    assert (project / "output" / "assets" / "deck.js").is_file()

"""Shared fixtures: a project folder on scikit-learn's digits (offline), built once per session."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reportgen.cli import app

CONFIG = """
title = "Test deck"
course = "DL4CV test"
team = ["Ada", "Grace"]
date = "2026-11-25"
dataset = "digits"
profile = "quick"
seed = 0
"""


@dataclass
class Invocation:
    exit_code: int
    output: str
    seconds: float


def invoke(*args: str) -> Invocation:
    """Runs the CLI in-process and returns its exit code, combined output and wall time."""
    started = time.perf_counter()
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return Invocation(result.exit_code, result.output, time.perf_counter() - started)


@pytest.fixture(scope="session", autouse=True)
def reportgen_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Any per-user state reportgen may keep goes to a session folder, never the user's ~/.cache."""
    home = tmp_path_factory.mktemp("reportgen-home")
    os.environ["REPORTGEN_HOME"] = str(home)
    return home


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder with a digits config, as the working directory."""
    (tmp_path / "reportgen.toml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke_in(root: Path, *commands: list[str]) -> list[Invocation]:
    """Runs CLI commands one after another in a fresh digits project at `root`; all must succeed."""
    (root / "reportgen.toml").write_text(CONFIG)
    old = Path.cwd()
    os.chdir(root)
    try:
        results = [invoke(*command) for command in commands]
    finally:
        os.chdir(old)
    for result in results:
        assert result.exit_code == 0, result.output
    return results


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`reportgen build --task 1,2` run twice in one folder: the cold and the warm invocation."""
    root = tmp_path_factory.mktemp("built")
    cold, warm = invoke_in(root, ["build", "--task", "1,2"], ["build", "--task", "1,2"])
    return {"root": root, "cold": cold, "warm": warm}

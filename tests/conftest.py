"""Shared fixtures: a project folder on scikit-learn's digits (offline), built once per session."""

from __future__ import annotations

import os
import subprocess
import sys
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


def edited_builtins(tmp_path: Path, module: str, edits: dict[str, str]) -> Path:
    """A copy of the built-in experiments folder with `edits` (old: new, each found once) made
    to `module`; `cli_process(..., builtins=copy)` runs the CLI on it."""
    import shutil

    from reportgen import experiments

    folder = tmp_path / "builtins"
    shutil.copytree(Path(experiments.__file__).parent, folder, ignore=shutil.ignore_patterns("__pycache__"))
    path = folder / module
    text = path.read_text()
    for old, new in edits.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path.write_text(text)
    return folder


def cli_process(cwd: Path, *args: str, builtins: Path | None = None) -> subprocess.CompletedProcess:
    """The CLI in a fresh process; with `builtins`, reportgen.experiments is loaded from that
    folder (an edited copy) instead of ours."""
    point = "import os, reportgen.experiments as e; e.__path__ = [os.environ['BUILTINS']]; " if builtins else ""
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1", **({"BUILTINS": str(builtins)} if builtins else {})}
    return subprocess.run([sys.executable, "-c", point + "from reportgen.cli import app; app()", *args], cwd=cwd,
                          env=env, capture_output=True, text=True)  # fmt: skip


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


# Small Task 3-4 settings for the one all-task build of the session: the same settings
# tests/test_task3.py and tests/test_transfer.py use, so that their results are shared, not redone.
TASK3_SMALL = """
[experiments.t3-maximise]
channels = 2
size = 40
steps = 6
octaves = 2

[experiments.t3-tsne]
points = 150
test_size = 150
"""
TASK4_SMALL = """
[experiments.t4-scratch]
shots = 10
shots_curve = [3, 10]
shots_draws = 2
val_per_class = 20
test_per_class = 20
epochs = 3
min_steps = 6

[experiments.t4-own-model]
shots = 10
val_per_class = 20
test_per_class = 20
source_train_size = 300
source_epochs = 1
epochs = 3
head_epochs = 5
min_steps = 6

[experiments.t4-backbone]
shots = 10
shots_curve = [3, 10]
shots_draws = 2
val_per_class = 20
test_per_class = 20
backbone_size = 32
epochs = 5
min_steps = 6
finetune_blocks = 2
finetune_epochs = 2
finetune_min_steps = 4
aug_variants = 1

[experiments.t4-comparison]
shots = 10
val_per_class = 20
test_per_class = 20
"""

# Task 5 at 64 px instead of 128: a quarter of the pixels, the same iterations and figures.
TASK5_SMALL = "".join(
    f"\n[experiments.{exp_id}]\nsize = 64\n"
    for exp_id in ("t5-style-evolution", "t5-style-layers", "t5-content-weights", "t5-style-images",
                   "t5-style-optimisers", "t5-dream-layers", "t5-dream-settings")
)  # fmt: skip


@pytest.fixture(scope="session")
def all_tasks(built: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `built` Task 1-2 project, then `build --task all` with small settings for Task 3's
    costliest experiments, Task 4 and Task 5: the one end-to-end build of every task in a session, shared
    by tests/test_deliverables_all_tasks.py and the Task 4 tests of tests/test_transfer.py."""
    import shutil

    root = tmp_path_factory.mktemp("all") / "project"
    shutil.copytree(built["root"], root)
    (root / "reportgen.toml").write_text(CONFIG + TASK3_SMALL + TASK4_SMALL + TASK5_SMALL)
    old = Path.cwd()
    os.chdir(root)
    try:
        result = invoke("build", "--task", "all")
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    return root


END_TO_END_FIXTURES = {"built", "all_tasks", "student", "second_build", "task4", "everything", "assignment"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: runs reportgen's CLI builds end to end (deselect with -m 'not e2e')")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks every test that needs a CLI build (the few slow ones) as e2e."""
    for item in items:
        if END_TO_END_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)

"""Same inputs, same numbers: two cold builds agree exactly, and `reportgen verify` says so (or not)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from reportgen.cache import Cache
from reportgen.nn import runtime
from reportgen.verify import compare_sections, comparable, load_state
from tests.conftest import invoke, invoke_in


@pytest.fixture(scope="module")
def second_build(tmp_path_factory) -> Path:
    """A second cold build of Tasks 1 and 2 in a fresh folder with a user cache of its own
    ($REPORTGEN_HOME), as on a teammate's laptop; the first is the `built` fixture."""
    root, home = tmp_path_factory.mktemp("second"), tmp_path_factory.mktemp("second-home")
    previous = os.environ["REPORTGEN_HOME"]
    os.environ["REPORTGEN_HOME"] = str(home)
    try:
        invoke_in(root, ["build", "--task", "1,2", "--format", "html"])
    finally:
        os.environ["REPORTGEN_HOME"] = previous
    assert list(home.iterdir()) == []  # nothing per-user decides a number
    return root


def test_two_cold_builds_give_identical_numbers(built, second_build):
    first, second = Cache(built["root"] / ".reportgen" / "cache"), Cache(second_build / ".reportgen" / "cache")
    ids = sorted(p.name for p in first.root.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert "arch-baseline" in ids and "arch-fc1024" in ids and "t2-batch-size" in ids
    for exp_id in ids:
        a, b = first.latest(exp_id), second.latest(exp_id)
        assert a.key == b.key, exp_id  # the same inputs
        compared, differences, _ = compare_sections(a.section, b.section, tolerance=0.0)
        assert compared > 0 and differences == [], (exp_id, differences[:5])
        assert a.provenance["memory_format"] == b.provenance["memory_format"] == "channels_last", exp_id
        assert a.provenance["precision"] == b.provenance["precision"] == runtime.precision_for("cpu"), exp_id
        for key in ("threads", "cpu_capability", "versions"):
            assert a.provenance[key] == b.provenance[key] and a.provenance[key], (exp_id, key)


def test_quick_deliverables_say_their_numbers_are_not_for_reporting(built):
    from reportgen.render.document import QUICK_NOTICE

    for name, opening in (("deck", '<section class="slide title-slide"'), ("report", '<section class="cover">')):
        html = (built["root"] / "output" / f"{name}.html").read_text()
        first_page = html.split(opening, 1)[1].split("</section>", 1)[0]  # the title slide, the cover
        assert first_page.count(f'<p class="notice">{QUICK_NOTICE}</p>') == 1, name


def _theory_with(project: Path, kernel: list[list[int]], threads: int) -> str:
    """Makes only the worked theory stale (a new kernel) and re-runs Task 1 with `threads`."""
    config = project / "reportgen.toml"
    text = config.read_text().split("\n[experiments.theory]")[0]
    text = "\n".join(line for line in text.splitlines() if not line.startswith("threads"))
    config.write_text(f"threads = {threads}\n{text}\n[experiments.theory]\nkernel = {kernel}\n")
    result = invoke("run", "--task", "1")
    assert result.exit_code == 0, result.output
    assert "theory running" in result.output and "arch-baseline running" not in result.output
    return result.output


def test_a_different_thread_count_is_reported_once(built, tmp_path, monkeypatch):
    project = tmp_path / "p"
    shutil.copytree(built["root"], project)
    monkeypatch.chdir(project)
    threads = Cache(project / ".reportgen" / "cache").latest("theory").provenance["threads"]
    same = _theory_with(project, [[0, 1, 0], [1, -3, 1], [0, 1, 0]], threads)
    assert "differs from the one that computed" not in same
    other = _theory_with(project, [[1, 0, -1], [1, 0, -1], [1, 0, -1]], threads + 1)
    assert other.count("this machine differs from the one that computed the stored results") == 1
    assert f"threads {threads} -> {threads + 1}" in other


def test_verify_sample_passes_and_says_what_it_compared(built, tmp_path, monkeypatch):
    project = tmp_path / "p"
    shutil.copytree(built["root"], project)
    monkeypatch.chdir(project)
    before = {p: p.stat().st_mtime_ns for p in (project / ".reportgen" / "cache").rglob("*") if p.is_file()}
    result = invoke("verify", "--sample", "3", "--task", "2")
    assert result.exit_code == 0, result.output
    assert result.output.count("identical") == 3 and "values compared" in result.output
    after = {p: p.stat().st_mtime_ns for p in (project / ".reportgen" / "cache").rglob("*") if p.is_file()}
    assert after == before  # the cache is not touched
    state = load_state(project / ".reportgen")
    assert state["outcome"] == "passed" and len(state["experiments"]) == 3
    rendered = invoke("render", "--task", "1,2", "--format", "html")
    assert rendered.exit_code == 0, rendered.output
    assert "Last verification" in (project / "output" / "report.html").read_text()


def test_hand_edited_metric_fails_verification_naming_it(built, tmp_path, monkeypatch):
    project = tmp_path / "p"
    shutil.copytree(built["root"], project)
    monkeypatch.chdir(project)
    entry = Cache(project / ".reportgen" / "cache").latest("t2-l2")
    result_file = entry.path / "result.json"
    data = json.loads(result_file.read_text())
    name = next(iter(data["data"]["metrics"]))  # a record: its key numbers by name
    data["data"]["metrics"][name] += 1.5
    result_file.write_text(json.dumps(data))
    result = invoke("verify", "-e", "t2-l2")
    assert result.exit_code == 1, result.output
    assert "t2-l2" in result.output and f"record metrics.{name}" in " ".join(result.output.split())
    assert load_state(project / ".reportgen")["outcome"] == "failed"


def test_timings_are_not_compared_but_accuracies_are():
    from reportgen.results import Metric, Section, Table

    a = Section(title="s", items=[Metric(title="epoch time", value=1.0), Metric(title="test accuracy", value=90.0),
                                  Table(title="t", columns=["variant", "s / epoch", "acc"], rows=[["a", "1.0", "90.00 ± 0.10"]])])  # fmt: skip
    b = Section(title="s", items=[Metric(title="epoch time", value=2.0), Metric(title="test accuracy", value=90.0),
                                  Table(title="t", columns=["variant", "s / epoch", "acc"], rows=[["a", "2.0", "90.00 ± 0.20"]])])  # fmt: skip
    compared, differences, _ = compare_sections(a, b, 0.0)
    assert len(differences) == 1 and "acc [2]" in differences[0]  # the std differs, the timings are ignored
    assert "metric 'test accuracy'" in comparable(a)
    _, differences, within = compare_sections(a, b, 1.0)
    assert differences == [] and within


def test_the_layout_follows_the_device_type_not_a_measurement(tmp_path, monkeypatch):
    from reportgen.data.sources import resolve_dataset
    from reportgen.data.splits import make_splits
    from reportgen.nn.spec import build_model
    from reportgen.nn.train import TrainSettings, fit

    assert runtime.memory_format_for("cpu") == runtime.memory_format_for("cuda") == "channels_last"
    assert runtime.memory_format_for("mps") == "contiguous"
    monkeypatch.setenv("REPORTGEN_HOME", str(tmp_path))
    data = make_splits(resolve_dataset("digits"), train_size=128, val_size=32, test_size=32, seed=0)
    model = build_model(["conv8", "pool", "fc16"], data.image_shape, 10)
    result = fit(model, data, TrainSettings(epochs=1, batch_size=32), seed=0)
    assert result.memory_format == "channels_last"
    assert list(tmp_path.iterdir()) == []  # no per-user file


def test_every_difference_in_threads_instruction_set_and_versions_is_named_once():
    from types import SimpleNamespace

    from reportgen.nn.runtime import environment
    from reportgen.runner import environment_notes

    now = environment()
    other = {**now, "threads": now["threads"] + 1, "cpu_capability": "AVX2",
             "versions": {**now["versions"], "numpy": "0.0.1"}}  # fmt: skip
    stored = [SimpleNamespace(entry=SimpleNamespace(provenance=other), previous=None) for _ in range(3)]
    stored.append(SimpleNamespace(entry=None, previous=SimpleNamespace(provenance=now)))  # the same machine
    notes = environment_notes(stored)
    assert notes == [f"threads {now['threads'] + 1} -> {now['threads']}", f"CPU instruction set AVX2 -> {now['cpu_capability']}",
                     f"numpy 0.0.1 -> {now['versions']['numpy']}"]  # fmt: skip
    assert environment_notes(stored[3:]) == []

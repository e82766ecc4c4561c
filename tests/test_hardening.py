"""Bad input and unlucky timing: one clear line, a non-zero exit, nothing lost, nothing wrong published.

Each test reproduces one failure a user met (issue "Nothing lost, nothing wrong published").
None of them trains a network: the worked-theory experiment computes in a fraction of a second.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from reportgen.cache import Cache
from reportgen.config import load_config
from reportgen.registry import load_experiments
from reportgen.runner import module_sources, plan, resolve_config_dataset, run_planned
from tests.conftest import CONFIG, invoke

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def store_theory(root: Path) -> Cache:
    """Runs the (training-free) worked theory into the project's cache, as a build would."""
    config = load_config(root / "reportgen.toml")
    registry = load_experiments(config)
    cache = Cache(root / ".reportgen" / "cache")
    planned = plan([registry["theory"]], config, resolve_config_dataset(config), cache, registry)
    run_planned(planned, config, resolve_config_dataset(config), cache)
    return cache


def no_traceback(output: str) -> None:
    assert "Traceback" not in output and "File \"" not in output, output


# 1, 2: clean deletes only what reportgen wrote, and --cache clears the cache.
def test_clean_refuses_a_folder_reportgen_did_not_write(project):
    folder = project / "thesis"
    folder.mkdir()
    (folder / "main.tex").write_text("\\documentclass{article}")
    result = invoke("clean", "-o", "thesis")
    assert result.exit_code == 2 and "not written by reportgen" in result.output
    assert (folder / "main.tex").read_text().startswith("\\documentclass")


def test_clean_removes_only_its_own_files_and_says_when_nothing_is_there(project):
    out = project / "output"
    out.mkdir()
    (out / ".reportgen-output").write_text("")
    (out / "deck.html").write_text("<html>")
    (out / "assets").mkdir()
    (out / "assets" / "deck.css").write_text("")
    (out / "notes.txt").write_text("mine")
    result = invoke("clean")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert "kept 1 other file" in result.output
    missing = invoke("clean", "-o", "nowhere")
    assert missing.exit_code == 0 and "does not exist" in missing.output and "removed" not in missing.output


def test_clean_cache_clears_the_stored_results(project):
    store_theory(project)
    assert (project / ".reportgen" / "cache" / "theory").is_dir()
    result = invoke("clean", "--cache")
    assert result.exit_code == 0, result.output
    assert not (project / ".reportgen" / "cache").exists()
    assert "removed the stored results" in result.output


# 3: the cache key covers the shared helpers an experiment imports.
def test_code_hash_covers_imported_helper_modules():
    task2 = {p.name for p in module_sources(EXPERIMENTS / "task2_training.py")}
    assert {"task2_training.py", "_ablation.py"} <= task2
    task1 = {p.name for p in module_sources(EXPERIMENTS / "task1_architecture.py")}
    assert "_ablation.py" not in task1
    assert "_show.py" not in task1 and "task1_present.py" not in task1  # formats and captions: not in Task 1's key


def test_editing_a_project_helper_makes_its_experiment_stale(project):
    folder = project / "experiments"
    folder.mkdir()
    (folder / "_helpers.py").write_text("FACTOR = 2\n")
    (folder / "mine.py").write_text(
        "from reportgen.registry import experiment\n"
        "from reportgen.results import Metric, Section\n"
        "from ._helpers import FACTOR\n\n"
        "@experiment(task=1, id='mine-factor', title='Mine')\n"
        "def mine(ctx):\n"
        "    return Section(title='Mine', items=[Metric(title='factor', value=FACTOR)])\n"
    )
    assert {p.name for p in module_sources(folder / "mine.py")} == {"mine.py", "_helpers.py"}
    config = load_config(project / "reportgen.toml")
    registry = load_experiments(config)
    cache = Cache(project / ".reportgen" / "cache")
    dataset = resolve_config_dataset(config)
    first = plan([registry["mine-factor"]], config, dataset, cache, registry)
    run_planned(first, config, dataset, cache)
    assert plan([registry["mine-factor"]], config, dataset, cache, registry)[0].state == "cached"
    (folder / "_helpers.py").write_text("FACTOR = 3\n")
    module_sources.cache_clear()
    again = plan([registry["mine-factor"]], config, dataset, cache, registry)[0]
    assert again.state == "stale" and "code changed" in again.reasons


# 4, 5: parameters are range-checked when planning, naming experiment and key.
@pytest.mark.parametrize(
    "override, words",
    [
        ("epochs = 0", "epochs: must be at least 1"),
        ("epochs = -1", "epochs: must be at least 1"),
        ("batch_size = 0", "batch_size: must be at least 2"),
        ("lr = -1.0", "lr: must be greater than 0"),
        ('layers = ["conv32", "fc128", "conv64"]', "cannot follow a fully connected one"),
        ('layers = ["convolution32"]', "unknown layer 'convolution32'"),
    ],
)
def test_bad_parameters_fail_when_planning(project, override, words):
    (project / "reportgen.toml").write_text(CONFIG + f"\n[experiments.arch-baseline]\n{override}\n")
    for command in (["list"], ["build", "--task", "1"]):
        result = invoke(*command)
        assert result.exit_code == 2, result.output
        assert "[experiments.arch-baseline]" in result.output and words in result.output
        no_traceback(result.output)
    assert not (project / "output").exists() and not (project / ".reportgen").exists()


def test_layers_that_do_not_fit_fail_before_any_training(project):
    (project / "reportgen.toml").write_text(CONFIG + '\n[experiments.arch-wider]\nlayers = ["conv32", "pool", "pool", "pool", "pool", "pool", "fc10"]\n')
    result = invoke("build", "--task", "1")
    assert result.exit_code == 2, result.output
    assert "arch-wider" in result.output and "do not fit" in result.output
    assert "running" not in result.output  # nothing was trained first


# 6: a stored result of the wrong shape is stale, with the reason, never a crash.
def test_hand_edited_result_is_stale_with_reason(project, monkeypatch):
    from reportgen import cli

    monkeypatch.setattr(cli.out_console, "width", 400)  # the reason on one table line
    cache = store_theory(project)
    entry = cache.latest("theory")
    result_file = entry.path / "result.json"
    data = json.loads(result_file.read_text())
    data["data"]["metrics"]["parameters"] = "many"
    result_file.write_text(json.dumps(data))
    listing = invoke("list")
    assert listing.exit_code == 0, listing.output
    assert "stored result is invalid" in listing.output
    rendered = invoke("render", "--task", "1", "--partial")
    no_traceback(rendered.output)
    assert rendered.exit_code != 0  # nothing valid to render


def test_metric_value_that_is_not_a_number_is_invalid(tmp_path):
    from reportgen.results import InvalidResult, from_dict

    with pytest.raises(InvalidResult, match="expected a number"):
        from_dict({"kind": "section", "title": "s", "items": [{"kind": "metric", "title": "acc", "value": "abc"}]})
    with pytest.raises(InvalidResult, match="value"):
        from_dict({"kind": "metric", "title": "acc"})  # a metric without a value is not 0.0


# 7: rendering with results missing keeps the previous deliverables.
def test_render_with_missing_results_keeps_previous_output(project):
    store_theory(project)
    out = project / "output"
    out.mkdir()
    (out / "deck.pdf").write_bytes(b"%PDF complete deck")
    result = invoke("render", "--task", "1")
    assert result.exit_code == 1, result.output
    assert "no stored result for arch-baseline" in result.output and "--partial" in result.output
    assert (out / "deck.pdf").read_bytes() == b"%PDF complete deck"


# 8: a second build in the same folder is refused while the first runs; scratch areas are separate.
def test_second_build_is_refused_while_the_first_holds_the_lock(project):
    first = Cache(project / ".reportgen" / "cache")
    first.lock()
    try:
        result = invoke("build", "--task", "1")
        assert result.exit_code == 1, result.output
        assert "another reportgen build is running" in result.output
        no_traceback(result.output)
    finally:
        first.unlock()


def test_one_build_ending_never_deletes_another_builds_scratch(tmp_path):
    a, b = Cache(tmp_path), Cache(tmp_path)
    scratch_a, scratch_b = a.scratch(), b.scratch()
    (scratch_b / "files" / "weights.pt").write_bytes(b"training")
    a.discard_scratch()
    assert not scratch_a.exists()
    assert (scratch_b / "files" / "weights.pt").read_bytes() == b"training"


# 9, 10: the preview server serves only regular files inside the output folder.
@pytest.fixture
def server(tmp_path):
    from reportgen.render.serve import make_server

    out = tmp_path / "output"
    (out / "assets").mkdir(parents=True)
    (out / "deck.html").write_text("<html><body>deck</body></html>")
    (out / "assets" / "deck.css").write_text("body{}")
    (out / ".deck.pdf.source.json").write_text("{}")
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", out / "leak.txt")
    srv = make_server(out, 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", srv
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize("path", ["/leak.txt", "/assets/", "/assets", "/.deck.pdf.source.json", "/../secret.txt", "/%2e%2e/secret.txt"])
def test_serve_refuses_links_listings_and_dotfiles(server, path):
    base, _ = server
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(base + path, timeout=10)
    assert info.value.code == 404


def test_serve_still_serves_the_deck_and_assets(server):
    base, _ = server
    assert b"deck" in urllib.request.urlopen(base + "/", timeout=10).read()
    assert urllib.request.urlopen(base + "/assets/deck.css", timeout=10).status == 200


def test_busy_or_impossible_port_is_one_line_with_a_suggestion(project):
    out = project / "output"
    out.mkdir()
    (out / "deck.html").write_text("<html></html>")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = invoke("serve", "--port", str(port))
    assert result.exit_code == 1 and f"port {port} cannot be used" in result.output and "try --port" in result.output
    no_traceback(result.output)
    result = invoke("serve", "--port", "70000")
    assert result.exit_code == 2 and "outside 0-65535" in result.output


# 11, 12: messages show user text as typed and name the config file that was read.
def test_unknown_experiment_table_is_named_as_typed(project):
    (project / "other.toml").write_text(CONFIG + "\n[experiments.arch-basline]\nepochs = 2\n")
    result = invoke("list", "-c", "other.toml")
    assert result.exit_code == 2
    assert "other.toml: [experiments.arch-basline] names no experiment" in result.output
    assert "arch-baseline" in result.output.split("names no experiment")[1]  # the closest id
    assert "reportgen.toml" not in result.output


# 13: out-of-range seed and an unwritable output file are one line each.
def test_huge_seed_is_one_line(project):
    result = invoke("build", "--task", "1", "--seed", "99999999999999999999")
    assert result.exit_code == 2 and "seed" in result.output
    no_traceback(result.output)
    assert not (project / "output").exists()


def test_output_file_that_cannot_be_replaced_is_one_line(project):
    store_theory(project)
    out = project / "output"
    (out / "deck.html").mkdir(parents=True)  # something in the way that cannot be overwritten
    (out / "deck.html" / "keep").write_text("x")
    result = invoke("render", "--task", "1", "--partial", "--format", "html")
    assert result.exit_code == 1, result.output
    assert "cannot access" in result.output and "deck.html" in result.output
    no_traceback(result.output)


# 14: a failed command creates nothing.
@pytest.mark.parametrize(
    "args, config_extra",
    [
        (["build", "--task", "9"], ""),
        (["build", "--task", "1"], 'dataset = "mnist"\ndata_root = "nowhere"\n'),
        (["render"], ""),
        (["build", "--only", "slides"], ""),
    ],
)
def test_failed_command_leaves_no_output_folder(project, args, config_extra):
    (project / "reportgen.toml").write_text(CONFIG.replace('dataset = "digits"\n', "") + config_extra
                                            if config_extra else CONFIG)  # fmt: skip
    result = invoke(*args)
    assert result.exit_code != 0, result.output
    no_traceback(result.output)
    assert not (project / "output").exists() and not (project / ".reportgen").exists()


def test_engine_part_of_the_key_is_what_the_experiment_uses():
    from reportgen.runner import ENGINE, engine_sources

    used = set()
    for module in module_sources(EXPERIMENTS / "task1_architecture.py"):
        used |= {p.relative_to(ENGINE).as_posix() for p in engine_sources(module)}
    assert {"nn/train.py", "nn/spec.py", "data/splits.py", "theory.py", "records.py"} <= used
    assert not any(p.startswith(("vis/", "render/")) for p in used)  # another task's code, or drawing
    assert "cli.py" not in used and "registry.py" not in used

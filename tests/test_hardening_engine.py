"""Nothing lost, nothing stale (issue 14, the engine's items): each test reproduces one defect
that a hostile user met and names its item number. None trains a network: the worked theory
(task 1, training-free) and tiny project experiments compute in a fraction of a second.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.test_hardening import no_traceback, store_theory


def png(path: Path, colour: tuple[int, int, int]) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path)


def test_a_fresh_project_can_be_listed_and_verified(tmp_path, monkeypatch):
    """Item 1: `init p && cd p && list && verify -e theory` exits 0 (the scaffolded project has a
    variant that arch-comparison needs; every command plans in dependency order)."""
    monkeypatch.chdir(tmp_path)
    assert invoke("init", "p").exit_code == 0
    monkeypatch.chdir(tmp_path / "p")
    listed = invoke("list")
    assert listed.exit_code == 0, listed.output
    assert "own-residual" in listed.output and "arch-comparison" in listed.output
    verified = invoke("verify", "-e", "theory")
    assert verified.exit_code == 0, verified.output
    assert "nothing to verify yet" in verified.output and "theory" in verified.output
    no_traceback(listed.output + verified.output)


def test_planning_a_dependant_alone_plans_what_it_needs_first(project):
    """Item 1: plan() given a dependant before (or without) what it needs orders it itself."""
    from reportgen.cache import Cache
    from reportgen.config import load_config
    from reportgen.registry import load_experiments
    from reportgen.runner import plan, resolve_config_dataset

    (project / "reportgen.toml").write_text(
        (project / "reportgen.toml").read_text() + '\n[variants.arch-tiny]\ntitle = "Tiny"\nlayers = ["conv8", "pool", "fc16"]\n'
    )
    config = load_config(project / "reportgen.toml")
    registry = load_experiments(config)
    planned = plan([registry["arch-comparison"]], config, resolve_config_dataset(config), Cache(project / "c"), registry)
    ids = [p.exp.id for p in planned]
    assert ids[-1] == "arch-comparison" and "arch-tiny" in ids and "arch-baseline" in ids
    assert planned[-1].inputs["needs"]["arch-tiny"] == planned[ids.index("arch-tiny")].key


@pytest.mark.parametrize("value", ["-0.5", "nan", "inf"])
def test_verify_tolerance_is_range_checked(project, value):
    """Item 15: --tolerance must be a finite number of at least 0."""
    result = invoke("verify", "--tolerance", value)
    assert result.exit_code == 2, result.output
    assert "--tolerance" in result.output and "at least 0" in result.output


def test_rendering_into_a_folder_keeps_the_users_files(project):
    """Item 2: only files reportgen wrote (its manifest) are ever removed, by render and by clean."""
    store_theory(project)
    site = project / "site"
    (site / "assets" / "img").mkdir(parents=True)
    (site / "assets" / "site.css").write_text("body { color: red }")
    (site / "assets" / "img" / "me.jpg").write_bytes(b"\xff\xd8 me")
    for _ in range(2):  # the second render prunes the first one's files
        result = invoke("render", "--task", "1", "--partial", "--format", "html", "-o", "site")
        assert result.exit_code == 0, result.output
    assert (site / "assets" / "site.css").read_text() == "body { color: red }"
    assert (site / "assets" / "img" / "me.jpg").read_bytes() == b"\xff\xd8 me"
    manifest = json.loads((site / ".reportgen-manifest.json").read_text())["files"]
    assert "deck.html" in manifest and "assets/deck.css" in manifest and "assets/site.css" not in manifest
    result = invoke("clean", "-o", "site")
    assert result.exit_code == 0, result.output
    assert sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()) == [
        "assets/img/me.jpg", "assets/site.css",
    ]  # fmt: skip


def test_an_earlier_builds_figure_is_pruned_but_a_user_file_is_not(project):
    """Item 2: pruning deletes an asset reportgen wrote before and no longer uses, nothing else."""
    store_theory(project)
    out = project / "output"
    assert invoke("render", "--task", "1", "--partial", "--format", "html").exit_code == 0
    old = out / "assets" / "theory" / "00-old.svg"
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_text("<svg/>")
    mine = out / "assets" / "theory" / "mine.svg"
    mine.write_text("<svg/>")
    manifest = json.loads((out / ".reportgen-manifest.json").read_text())
    (out / ".reportgen-manifest.json").write_text(json.dumps({"files": manifest["files"] + ["assets/theory/00-old.svg"]}))
    assert invoke("render", "--task", "1", "--partial", "--format", "html").exit_code == 0
    assert not old.exists() and mine.exists()


def test_a_folder_rendered_before_manifests_loses_only_files_named_as_reportgen_names_them(project):
    """Item 2: an output folder from before the manifest (marker, no manifest): figures named by
    their content hash go, the user's files stay."""
    store_theory(project)
    out = project / "output"
    (out / "assets" / "arch-baseline").mkdir(parents=True)
    (out / ".reportgen-output").write_text("")
    old = out / "assets" / "arch-baseline" / "03-0123456789.svg"
    old.write_text("<svg/>")
    (out / "assets" / "site.css").write_text("mine")
    (out / "assets" / "arch-baseline" / "notes.txt").write_text("mine")
    assert invoke("render", "--task", "1", "--partial", "--format", "html").exit_code == 0
    assert not old.exists()
    assert (out / "assets" / "site.css").read_text() == (out / "assets" / "arch-baseline" / "notes.txt").read_text() == "mine"


def test_a_replaced_logo_renders_the_pdf_again(project):
    """Item 3: the PDF reuse hash covers every file a page embeds, the logo included."""
    store_theory(project)
    png(project / "logo.png", (200, 0, 0))
    (project / "reportgen.toml").write_text((project / "reportgen.toml").read_text() + 'logo = "logo.png"\n')
    args = ("render", "--task", "1", "--partial", "--only", "deck", "--format", "pdf")
    first = invoke(*args)
    assert first.exit_code == 0 and "unchanged" not in first.output, first.output
    assert "unchanged" in invoke(*args).output  # nothing changed: reused
    png(project / "logo.png", (0, 0, 200))  # same name, other picture
    again = invoke(*args)
    assert again.exit_code == 0 and "unchanged" not in again.output, again.output


def test_an_interrupted_render_leaves_the_previous_deliverables(project, monkeypatch):
    """Item 6: deliverables are published together; an interrupt while the PDF renders leaves the
    old deck.html beside the old deck.pdf, and no scratch folder behind."""
    from reportgen.render import document

    store_theory(project)
    assert invoke("render", "--task", "1", "--partial", "--only", "deck").exit_code == 0
    out = project / "output"
    before = {name: (out / name).read_bytes() for name in ("deck.html", "deck.pdf", ".deck.pdf.source.json")}
    (project / "reportgen.toml").write_text((project / "reportgen.toml").read_text().replace("Test deck", "Changed title"))

    def interrupted(html_path, pdf_path, *rest):
        assert "Changed title" in html_path.read_text()  # the new page exists, but only in scratch
        raise KeyboardInterrupt

    monkeypatch.setattr(document, "html_to_pdf", interrupted)
    result = invoke("render", "--task", "1", "--partial", "--only", "deck")
    assert result.exit_code == 130, result.output
    assert {name: (out / name).read_bytes() for name in before} == before
    assert not [p for p in out.iterdir() if p.name.startswith(".reportgen-staging-")]


def test_a_killed_renders_scratch_folder_is_removed_by_the_next(project):
    """Item 6: the scratch folder of a render killed with SIGKILL (its process gone) goes next time."""
    store_theory(project)
    out = project / "output"
    dead = out / ".reportgen-staging-999999999-abc"
    (dead / "assets").mkdir(parents=True)
    (dead / "deck.html").write_text("half")
    live = out / f".reportgen-staging-{os.getpid()}-abc"  # a render running now: left alone
    live.mkdir()
    assert invoke("render", "--task", "1", "--partial", "--format", "html").exit_code == 0
    assert not dead.exists() and live.exists()


# --- storing and loading: what is stored always loads; what cannot be read is stale (4, 13, 14) ---

MINE = """
import numpy as np
from reportgen.registry import experiment
from reportgen.results import Curves, ImageGrid, Metric, Section

VALUE = {value}

@experiment(task=1, id="mine", title="Mine")
def mine(ctx):
    name = ctx.save_array("picture", np.linspace(0, 1, 64).reshape(8, 8))
    {extra}
    return Section(title="Mine", items=[
        Metric(title="accuracy", value=VALUE, key=True),
        ImageGrid(title="pictures", images=[name]),
        Curves(title="loss", x=[1, 2], series={{"train": [0.5, 0.25]}}),
    ])
"""


def mine_project(root: Path, value: str = "0.5", extra: str = "") -> tuple:
    """A project with one training-free experiment 'mine'; returns (config, registry, cache, dataset)."""
    from reportgen.cache import Cache
    from reportgen.config import load_config
    from reportgen.registry import load_experiments
    from reportgen.runner import module_sources, resolve_config_dataset

    (root / "experiments").mkdir(exist_ok=True)
    (root / "experiments" / "mine.py").write_text(MINE.format(value=value, extra=extra))
    module_sources.cache_clear()
    config = load_config(root / "reportgen.toml")
    registry = load_experiments(config)
    return config, registry, Cache(root / ".reportgen" / "cache"), resolve_config_dataset(config)


def plan_mine(root: Path, **kwargs):
    from reportgen.runner import plan

    config, registry, cache, dataset = mine_project(root, **kwargs)
    return plan([registry["mine"]], config, dataset, cache, registry)[0], (config, cache, dataset)


def run_mine(root: Path, **kwargs):
    from reportgen.runner import run_planned

    item, (config, cache, dataset) = plan_mine(root, **kwargs)
    try:
        return run_planned([item], config, dataset, cache)["mine"]
    finally:
        cache.discard_scratch()


def test_a_nan_metric_fails_the_run_naming_experiment_and_metric(project):
    """Item 4: a result is validated when stored, by the rules used when loading: nothing stored."""
    from reportgen.errors import ReportgenError

    with pytest.raises(ReportgenError) as caught:
        run_mine(project, value="float('nan')")
    assert "'mine'" in caught.value.message and "metric 'accuracy'" in caught.value.message
    assert "nan" in caught.value.message and "mine.py" in caught.value.message
    assert not (project / ".reportgen" / "cache" / "mine").exists()


def test_a_full_disk_while_storing_names_the_place_and_keeps_the_cache(project, monkeypatch):
    """Item 13: ENOSPC while storing -> "no space left on <path>"; the earlier result stays current
    for its inputs, latest.json still names it, nothing half-written is left."""
    import errno

    from reportgen import cache as cache_module
    from reportgen.errors import ReportgenError

    first = run_mine(project, value="0.5")

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(cache_module, "write_synced", full)
    with pytest.raises(ReportgenError) as caught:
        run_mine(project, value="0.75")  # other code: another key
    assert caught.value.message.startswith("no space left on ") and "'mine'" in caught.value.message
    monkeypatch.undo()
    root = project / ".reportgen" / "cache"
    assert json.loads((root / "mine" / "latest.json").read_text())["key"] == first.key
    assert sorted(p.name for p in (root / "mine").iterdir()) == [first.key, "latest.json"]
    assert not (root / ".tmp").exists()
    assert plan_mine(project, value="0.5")[0].state == "cached"


def test_a_full_disk_while_saving_weights_is_an_error_naming_the_file(project, monkeypatch):
    """Item 13: torch's writer reports a full disk as an opaque RuntimeError; save_torch makes it
    an OSError naming the file, which the run reports as "no space left on <file>"."""
    import errno
    import io

    from reportgen.errors import ReportgenError
    from reportgen.nn import checkpoint

    class Full(io.RawIOBase):
        def writable(self):
            return True

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "open", lambda *a, **k: Full(), raising=False)
    save = "from reportgen.nn.checkpoint import save_torch; import torch; save_torch({'w': torch.zeros(3)}, ctx.files / 'model.pt')"
    with pytest.raises(ReportgenError) as caught:
        run_mine(project, extra=save)
    assert caught.value.message.startswith("no space left on ") and "model.pt" in caught.value.message
    assert not (project / ".reportgen" / "cache" / "mine").exists()


def _entry(root: Path) -> Path:
    folder = root / ".reportgen" / "cache" / "mine"
    return next(p for p in folder.iterdir() if p.is_dir())


def _edit_json(name: str, change):
    def damage(entry: Path) -> None:
        data = json.loads((entry / name).read_text())
        (entry / name).write_text(json.dumps(change(data)))

    return damage


def _truncate(entry: Path) -> None:
    array = entry / "files" / "picture.npy"
    array.write_bytes(array.read_bytes()[:-40])


def _set(data: dict, path: tuple, value) -> dict:
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return data


DAMAGE = {
    "metric value as text": _edit_json("result.json", lambda d: _set(d, ("items", 0, "value"), "0.5")),
    "curve values as text": _edit_json("result.json", lambda d: _set(d, ("items", 2, "series", "train"), ["a", "b"])),
    "items not a list": _edit_json("result.json", lambda d: _set(d, ("items",), {"a": 1})),
    "image name leaving the entry": _edit_json("result.json", lambda d: _set(d, ("items", 1, "images"), ["../../x.npy"])),
    "inputs as a list": _edit_json("inputs.json", lambda d: [d]),
    "inputs params edited": _edit_json("inputs.json", lambda d: _set(d, ("params",), [1, 2])),
    "provenance wall time as text": _edit_json("provenance.json", lambda d: _set(d, ("wall_s",), "fast")),
    "provenance hardware as a list": _edit_json("provenance.json", lambda d: _set(d, ("hardware",), [1])),
    "provenance as a number": _edit_json("provenance.json", lambda d: 3),
    "truncated array file": _truncate,
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_hand_damaged_cache_metadata_is_stale_and_rerun(project, damage):
    """Item 14: any damaged cache file -> stale with the reason, the experiment named by list,
    re-run by the next build; never a crash, never "cached"."""
    run_mine(project)
    DAMAGE[damage](_entry(project))
    item = plan_mine(project)[0]
    assert item.state == "stale" and item.reasons[0].startswith("stored result is invalid"), item.reasons
    listed = invoke("list")
    assert listed.exit_code == 0, listed.output
    no_traceback(listed.output)
    row = next(line for line in listed.output.splitlines() if "mine" in line)
    assert "stale" in row and "cached" not in row
    rendered = invoke("render", "--task", "1", "--partial", "--format", "html")
    assert rendered.exit_code in (0, 1) and "internal error" not in rendered.output, rendered.output
    again = run_mine(project)
    assert again.section.metrics() == {"accuracy": 0.5}
    assert plan_mine(project)[0].state == "cached"


@pytest.mark.parametrize("latest", ['{"key": 5}', '["x"]', '{"key": "../../../etc"}', "7"])
def test_a_damaged_latest_pointer_is_ignored(project, latest):
    """Item 14: latest.json of any shape never crashes nor leads outside the cache."""
    from reportgen.cache import Cache

    run_mine(project)
    (project / ".reportgen" / "cache" / "mine" / "latest.json").write_text(latest)
    assert Cache(project / ".reportgen" / "cache").latest("mine") is None
    assert plan_mine(project)[0].state == "cached"  # the entry for the current inputs is fine
    listed = invoke("list")
    assert listed.exit_code == 0 and "internal error" not in listed.output, listed.output


@pytest.mark.parametrize("state", ['{"outcome": "passed", "experiments": []}', '{"outcome": 1}', "[1]",
                                   '{"date": "x", "outcome": "passed", "tolerance": 0.02, "machine_differs": [],'
                                   ' "experiments": {"mine": {"verdict": 3, "compared": "x"}}}'])
def test_a_damaged_verification_record_is_ignored(project, state):
    """Item 14: .reportgen/verify.json of a wrong shape is not shown (and does not crash the report)."""
    from reportgen.verify import load_state

    (project / ".reportgen").mkdir()
    (project / ".reportgen" / "verify.json").write_text(state)
    assert load_state(project / ".reportgen") is None


# --- the write-up's live numbers: every stored result, checked before training (5, 21) ---

OTHER = """
from reportgen.registry import experiment
from reportgen.results import Metric, Section

@experiment(task=2, id="other", title="Other")
def other(ctx):
    return Section(title="Other", items=[Metric(title="loss", value=0.25)])
"""


def test_live_numbers_read_results_of_tasks_not_being_built(project):
    """Item 5: rendering Task 2 with a Task 1 result cached shows that result in the conclusions
    (the live numbers see every stored result, not only the selected tasks')."""
    from reportgen.runner import plan, run_planned

    run_mine(project)
    (project / "experiments" / "other.py").write_text(OTHER)
    config, registry, cache, dataset = mine_project(project)
    run_planned(plan([registry["other"]], config, dataset, cache, registry), config, dataset, cache)
    (project / "writeup").mkdir()
    (project / "writeup" / "conclusions.md").write_text("Mine reached {{ mine.accuracy }}; other {{ other.loss }}.\n")
    result = invoke("render", "--task", "2", "--partial", "--format", "html")
    assert result.exit_code == 0, result.output
    assert "'mine' has no stored result" not in result.output and "mine.accuracy" not in result.output
    report = (project / "output" / "report.html").read_text()
    assert '<span class="ref">0.5</span>' in report and '<span class="ref">0.25</span>' in report
    assert "[missing result]" not in report


def test_stored_results_look_up_only_what_the_text_names(project):
    """Item 5: the lookup plans an experiment outside the run only when asked for it."""
    from reportgen.stored import StoredResults

    entry = run_mine(project)
    config, registry, cache, dataset = mine_project(project)
    results = StoredResults({}, set(), registry, config, dataset, cache)
    assert "mine" in results and "nope" not in results and "arch-wider" in list(results)
    assert results._given == {}  # nothing planned yet
    assert results["mine"] == (entry.section, False)
    assert results["theory"] == (None, False) and set(results._given) == {"mine", "theory"}


def test_a_reference_to_a_removed_experiment_stops_the_build_before_training(project):
    """Item 21: builtin_variants = false and conclusions naming arch-wider: the build stops at
    planning with the closest names, before anything trains."""
    (project / "reportgen.toml").write_text((project / "reportgen.toml").read_text() + "builtin_variants = false\n")
    (project / "writeup").mkdir()
    (project / "writeup" / "conclusions.md").write_text("Wider: {{ arch-wider.test accuracy }}\n")
    result = invoke("build", "--task", "1")
    assert result.exit_code == 2, result.output
    assert "conclusions.md:1: unknown experiment 'arch-wider'" in result.output and "closest:" in result.output
    assert "running" not in result.output and not (project / ".reportgen" / "cache").exists()
    no_traceback(result.output)


def test_a_metric_of_a_result_without_metrics_gives_the_usual_message(project):
    """Item 21: {{ theory.zzz }} (a cached result with no metrics at all) is a clear error at
    planning, not `ValueError: n must be > 0`."""
    store_theory(project)
    (project / "writeup").mkdir()
    (project / "writeup" / "conclusions.md").write_text("See {{ theory.zzz }}.\n")
    result = invoke("build", "--task", "1")
    assert result.exit_code == 2, result.output
    assert "'theory' has no metric 'zzz'" in result.output and "has no metrics to reference" in result.output
    assert "internal error" not in result.output and "running" not in result.output


# --- anything naming a file is checked to be one, by stat: nothing hangs, nothing is skipped (16) ---


class Feeder:
    """Writes into a named pipe whenever a reader opens it (so that code which wrongly reads the
    pipe goes on, and fails the test, instead of waiting forever); idle when nobody reads."""

    def __init__(self, fifo: Path) -> None:
        import threading

        self.fifo, self.stop = fifo, threading.Event()
        self.thread = threading.Thread(target=self._feed, daemon=True)

    def _feed(self) -> None:
        import errno
        import time

        while not self.stop.is_set():
            try:
                fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    return
                time.sleep(0.02)  # no reader yet
                continue
            os.write(fd, b'title = "x"\n')
            os.close(fd)

    def __enter__(self) -> Feeder:
        os.mkfifo(self.fifo)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


IMAGES = '\n[experiments.t3-classify]\nimages = ["{}"]\n'


def test_an_image_parameter_naming_a_pipe_is_an_error_not_a_hang(project):
    """Item 16: an image parameter that names a named pipe fails at planning (no read)."""
    (project / "reportgen.toml").write_text((project / "reportgen.toml").read_text() + IMAGES.format("pipe.png"))
    with Feeder(project / "pipe.png"):
        result = invoke("list")
    assert result.exit_code == 2, result.output
    assert "t3-classify" in result.output and "'pipe.png' is a named pipe, not a file" in result.output


def test_an_image_parameter_naming_a_folder_is_an_error(project):
    """Item 16: a folder given for an image file is said as such."""
    (project / "shots.png").mkdir()
    (project / "reportgen.toml").write_text((project / "reportgen.toml").read_text() + IMAGES.format("shots.png"))
    result = invoke("list")
    assert result.exit_code == 2 and "'shots.png' is a folder, not a file" in result.output, result.output


def test_a_config_file_that_is_a_pipe_is_an_error_not_a_hang(project):
    """Item 16: --config naming a named pipe is refused without reading it."""
    with Feeder(project / "pipe.toml"):
        result = invoke("list", "--config", "pipe.toml")
    assert result.exit_code == 2 and "is a named pipe, not a file" in result.output, result.output


@pytest.mark.parametrize("key", ["writeup", "experiments_dir", "theme"])
def test_a_folder_key_naming_a_file_is_an_error(project, key):
    """Item 16: writeup, experiments_dir and theme name folders; a file there is said, not skipped."""
    (project / "notes.txt").write_text("mine")
    (project / "reportgen.toml").write_text((project / "reportgen.toml").read_text() + f'{key} = "notes.txt"\n')
    result = invoke("list")
    assert result.exit_code == 2, result.output
    assert f"{key} 'notes.txt' is a file, not a folder" in result.output


def test_data_root_naming_a_file_is_an_error_not_a_silent_fallback(project):
    """Item 16: data_root pointing at a file stops with a message; a data_root that does not exist
    is named in the notice of where the data came from instead."""
    (project / "data.bin").write_bytes(b"\0" * 16)
    base = (project / "reportgen.toml").read_text().replace('dataset = "digits"\n', 'dataset = "fashion-mnist"\n')
    (project / "reportgen.toml").write_text(base + 'data_root = "data.bin"\n')
    result = invoke("data")
    assert result.exit_code == 2 and "data_root 'data.bin' is a file, not a folder" in result.output, result.output
    (project / "reportgen.toml").write_text(base + 'data_root = "nowhere"\n')
    result = invoke("data")
    assert result.exit_code == 0, result.output
    assert "data_root nowhere does not exist" in " ".join(result.output.split())


@pytest.mark.parametrize("kind", ["folder", "pipe"])
def test_a_writeup_file_that_is_not_a_file_is_said(project, kind):
    """Item 16: writeup/intro.md that is a folder or a named pipe is an error, not skipped."""
    store_theory(project)
    (project / "writeup").mkdir()
    intro = project / "writeup" / "intro.md"
    os.mkfifo(intro) if kind == "pipe" else intro.mkdir()
    result = invoke("render", "--task", "1", "--partial", "--format", "html")
    assert result.exit_code == 2, result.output
    assert f"writeup/intro.md is a {'folder' if kind == 'folder' else 'named pipe'}, not a file" in result.output


def test_a_writeup_picture_that_is_a_pipe_is_said(project):
    """Item 16: a picture that is a named pipe is named as such (never read)."""
    store_theory(project)
    (project / "writeup").mkdir()
    os.mkfifo(project / "writeup" / "pic.png")
    (project / "writeup" / "intro.md").write_text("![a picture](pic.png)\n")
    result = invoke("render", "--task", "1", "--partial", "--format", "html")
    assert result.exit_code == 2 and "picture 'pic.png' is a named pipe, not a file" in result.output, result.output

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

    def interrupted(html_path, pdf_path):
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

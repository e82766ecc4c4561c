"""Issue 16 item 7: photos keep their aspect ratio, and Task 3 shows the test images and files
the student chose.

A 902 x 300 photo (the student's panorama) with a circle drawn in the middle: the network gets
its centre crop, where the circle is still a circle; the figures show the whole photo with its
own aspect ratio; captions say "centre crop". Grad-CAM, occlusion and activation maps take test
images by index and the backbone's pictures by file, checked when the build is planned.
Everything runs on digits with a one-epoch baseline and one photo.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from reportgen.experiments._task3 import chosen_images, own_model
from reportgen.cache import Entry
from reportgen.data.sources import resolve_dataset
from reportgen.errors import ReportgenError
from reportgen.nn.backbones import load_backbone
from reportgen.nn.images import normalise
from reportgen.nn.train import Progress
from reportgen.presenting import present
from reportgen.registry import load_experiments
from reportgen.results import Bars, ImageGrid, Section, Table
from reportgen.runner import Context
from reportgen.vis.photos import photo_view, whole_with_crop
from tests.conftest import CONFIG, invoke
from tests.test_hardening_safety import one_error_line

REGISTRY = load_experiments()
WIDE = (300, 902)  # height, width of the student's photos
RADIUS = 100


def wide_photo(background: int = 255) -> np.ndarray:
    """902 x 300 RGB, a dark blue disc of radius 100 in the middle on a plain background."""
    rows, cols = np.mgrid[: WIDE[0], : WIDE[1]]
    image = np.full((*WIDE, 3), background, np.uint8)
    image[(rows - WIDE[0] // 2) ** 2 + (cols - WIDE[1] // 2) ** 2 <= RADIUS**2] = (20, 40, 200)
    return image


def disc_extent(picture: np.ndarray) -> tuple[int, int]:
    """(height, width) in pixels of the dark disc in an RGB picture in [0, 1]."""
    dark = picture[..., 0] < 0.3
    rows, cols = np.where(dark.any(axis=1))[0], np.where(dark.any(axis=0))[0]
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


@pytest.fixture(scope="module")
def lite0():
    return load_backbone("efficientnet-lite0")


@pytest.fixture(scope="module")
def wide_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("photos") / "wide.png"
    Image.fromarray(wide_photo()).save(path)
    return path


def _chosen(ctx: Context, chosen: int | list[int]) -> Any:
    """The test images Task 3 picks for `chosen`, as its experiments do."""
    return chosen_images(ctx, own_model(ctx), chosen)


def _run(ctx: Context) -> Section:
    """The experiment's record, presented as readers see it."""
    return present(ctx.exp.id, ctx.exp.fn(ctx), title=ctx.exp.title, params=ctx.params, files=ctx.files)


def _context(exp_id: str, root: Path, needs: dict[str, Entry], overrides: dict[str, Any] | None = None) -> Context:
    exp = REGISTRY[exp_id]
    return Context(exp=exp, params=exp.resolve("quick", overrides), seed=0, device_name="cpu",
                   dataset=resolve_dataset("digits"), files=root / exp_id / "files", progress=Progress(), needs=needs)  # fmt: skip


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Entry:
    """arch-baseline trained for real on 300 digits for one epoch: a model to look into."""
    root = tmp_path_factory.mktemp("baseline")
    ctx = _context("arch-baseline", root, {}, {"epochs": 1, "train_size": 300, "test_size": 100})
    section = REGISTRY["arch-baseline"].fn(ctx)
    # Titled as the runner titles a stored entry (a record is presented under this build's title).
    return Entry(path=root / "arch-baseline", key="test", section=section, inputs={"params": ctx.params}, provenance={},
                 title=ctx.exp.title)


# --- the loader -------------------------------------------------------------------------------


def test_a_wide_photo_is_centre_cropped_not_squashed(lite0) -> None:
    view = photo_view(wide_photo(), lite0)
    assert view.shape == WIDE and view.pixels.shape == (224, 224, 3)
    # The central 224/256 of the 300-pixel side: 262 pixels, centred.
    assert view.box == (19, 320, 262)
    height, width = disc_extent(view.pixels)
    assert abs(height - width) <= 2  # squashed to 224 x 224 it measured 75 x 224 (width / 902, height / 300)
    assert height == pytest.approx(2 * RADIUS * 224 / 262, abs=3)
    expected = normalise(torch.from_numpy(view.pixels).permute(2, 0, 1)[None], lite0)
    assert torch.allclose(view.x, expected, atol=1e-6)


def test_the_whole_photo_keeps_its_aspect_and_fades_outside_the_crop(lite0) -> None:
    photo = wide_photo(background=100)
    view = photo_view(photo, lite0)
    whole = whole_with_crop(photo, view.box)
    assert whole.shape == (149, 448, 3)  # 902 x 300 shrunk to 448 pixels wide, one scale for both sides
    height, width = disc_extent(whole)
    assert abs(height - width) <= 1 and height == pytest.approx(2 * RADIUS * 448 / 902, abs=2)
    grey = 100 / 255
    assert whole[75, 224] == pytest.approx([0.08, 0.16, 0.78], abs=0.01)  # the disc, inside: unchanged
    assert whole[75, 20] == pytest.approx([0.3 * grey + 0.7] * 3, abs=0.01)  # left of the crop: faded
    assert whole[20, 170] == pytest.approx([grey] * 3, abs=0.01)  # inside the crop, off the disc


def test_chelsea_and_coffee_keep_their_top1_class_with_the_centre_crop(lite0) -> None:
    from reportgen.nn.images import sample_photos

    photos = sample_photos()
    for name, label in (("chelsea", "Egyptian cat"), ("coffee", "espresso")):
        with torch.inference_mode():
            p = lite0.model(photo_view(photos[name], lite0).x).softmax(1)[0]
        assert lite0.labels[int(p.argmax())] == label


# --- the experiments --------------------------------------------------------------------------


def test_classify_shows_the_whole_photo_and_says_centre_crop(wide_file: Path, tmp_path: Path) -> None:
    ctx = _context("t3-classify", tmp_path, {}, {"photos": [], "images": [str(wide_file)]})
    section = _run(ctx)
    bars = next(i for i in section.items if isinstance(i, Bars))
    table = next(i for i in section.items if isinstance(i, Table))
    assert "centre crop, 224 × 224" in bars.caption and "902 × 300" in bars.caption
    assert "centre crop, 224 × 224" in table.caption and "resized" not in table.caption
    shown = np.load(ctx.files / bars.image)
    assert shown.shape[1] / shown.shape[0] == pytest.approx(902 / 300, rel=0.01)
    height, width = disc_extent(shown)
    assert abs(height - width) <= 1


def test_gradcam_uses_exactly_the_chosen_test_images_and_files(baseline: Entry, wide_file: Path, tmp_path: Path) -> None:
    ctx = _context("t3-gradcam", tmp_path, {"arch-baseline": baseline},
                   {"photos": [], "images": [str(wide_file)], "test_images": [3, 17]})  # fmt: skip
    section = _run(ctx)
    photos, tests = (i for i in section.items if isinstance(i, ImageGrid))
    assert "'wide.png'" in photos.caption and "centre crop, 224 × 224" in photos.caption
    whole, crop = (np.load(ctx.files / name) for name in photos.images[:2])
    assert whole.shape[1] / whole.shape[0] == pytest.approx(902 / 300, rel=0.01)
    assert crop.shape == (224, 224, 3) and abs(np.subtract(*disc_extent(crop))) <= 2
    assert photos.labels[0] == "wide.png (902 × 300)"

    assert "test images 3 and 17 of the" in tests.caption
    assert [label.split("\n")[0] for label in tests.labels[::4]] == ["test image 3", "test image 17"]
    # The stored pictures are test images 3 and 17: the same as the 4th and 18th of the first 18.
    first = _chosen(ctx, 18)
    for row, index in enumerate((3, 17)):
        stored = np.load(ctx.files / tests.images[4 * row])
        assert np.allclose(stored, first.pixels[index, 0].numpy(), atol=1e-6)
        assert tests.labels[4 * row].endswith(first.names[index])


def test_activations_take_a_test_index_and_an_image_file(baseline: Entry, wide_file: Path, tmp_path: Path) -> None:
    ctx = _context("t3-activations", tmp_path, {"arch-baseline": baseline},
                   {"test_index": 5, "image": str(wide_file), "channels": 2})  # fmt: skip
    section = _run(ctx)
    own, backbone = (i for i in section.items if isinstance(i, ImageGrid))
    chosen = _chosen(ctx, [5])
    assert f"test image 5 ({chosen.names[0]})" in own.caption
    assert np.allclose(np.load(ctx.files / own.images[0])[..., 0], chosen.pixels[0, 0].numpy(), atol=1e-6)
    assert "image 'wide.png', centre crop, 224 × 224" in backbone.caption and "'wide.png'" in backbone.title
    assert abs(np.subtract(*disc_extent(np.load(ctx.files / backbone.images[0])))) <= 2


def test_an_index_past_a_small_test_split_is_one_clear_error(baseline: Entry, tmp_path: Path) -> None:
    # digits' test split holds 360 images, below the quick profile's test_size of 1,000.
    ctx = _context("t3-activations", tmp_path, {"arch-baseline": baseline}, {"test_index": 900})
    with pytest.raises(ReportgenError, match=r"test_index: test image 900 does not exist: .* holds 360 images") as err:
        REGISTRY["t3-activations"].fn(ctx)
    assert err.value.exit_code == 2


def test_test_images_is_a_count_or_a_list_of_indices() -> None:
    gradcam = REGISTRY["t3-gradcam"]
    assert gradcam.resolve("quick", {"test_images": 2})["test_images"] == 2
    assert gradcam.resolve("quick", {"test_images": [0, 7]})["test_images"] == [0, 7]
    for bad in ([], [-1], 0, ["3"]):
        with pytest.raises(ReportgenError, match="test_images"):
            gradcam.resolve("quick", {"test_images": bad})


# --- checked when the build is planned --------------------------------------------------------


def _plan_with(project: Path, table: str) -> tuple[int, str]:
    (project / "reportgen.toml").write_text(CONFIG + table)
    result = invoke("list")
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ("[experiments.t3-gradcam]\ntest_images = [3, 5000]\n", ["t3-gradcam", "test_images", "5000", "indices 0 to 999"]),
        ("[experiments.t3-local]\ntest_images = [1000]\n", ["t3-local", "test_images", "1000"]),
        ("[experiments.t3-activations]\ntest_index = 1000\n", ["t3-activations", "test_index", "1000"]),
        ("[experiments.t3-gradcam]\nimages = [\"photos/none.jpg\"]\n", ["t3-gradcam", "images", "photos/none.jpg", "does not exist"]),
        ("[experiments.t3-activations]\nimage = \"photos/none.png\"\n", ["t3-activations", "image", "does not exist"]),
        ("[experiments.t3-classify]\nimages = [\"photos/notes.png\"]\n", ["t3-classify", "notes.png", "cannot be read as an image"]),
        ("[experiments.t3-activations]\nimage = \"chelsea\"\n", ["t3-activations", "image", "extension", "photo"]),
    ],
    ids=["index-past-test-size", "local-index", "activation-index", "missing-file", "missing-single-file", "not-an-image",
         "bundled-name-as-file"],  # fmt: skip
)
def test_a_bad_choice_is_one_line_when_planning(project: Path, table: str, words: list[str]) -> None:
    (project / "photos").mkdir()
    (project / "photos" / "notes.png").write_text("not a picture")
    code, output = _plan_with(project, table)
    assert code == 2, output
    line = one_error_line(output)
    for word in words:
        assert word in line, line


def test_a_file_outside_the_project_is_refused_when_planning(project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("elsewhere") / "wide.png"
    Image.fromarray(wide_photo()[:30, :90]).save(outside)
    code, output = _plan_with(project, f"[experiments.t3-gradcam]\nimages = [\"{outside}\"]\n")
    assert code == 2, output
    line = one_error_line(output)
    assert "t3-gradcam" in line and "outside the project folder" in line


def test_good_choices_plan(project: Path) -> None:
    (project / "photos").mkdir()
    Image.fromarray(wide_photo()[:30, :90]).save(project / "photos" / "wide.png")
    table = ("[experiments.t3-gradcam]\ntest_images = [3, 17]\nimages = [\"photos/wide.png\"]\n"
             "[experiments.t3-activations]\ntest_index = 999\nimage = \"photos/wide.png\"\n")  # fmt: skip
    code, output = _plan_with(project, table)
    assert code == 0, output

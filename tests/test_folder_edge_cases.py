"""A student's image folder: every mode converted, broken files skipped and counted, and the
layouts a classifier cannot use refused with one clear error (never a PIL or torch traceback)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reportgen.data import folder
from reportgen.data.sources import resolve_dataset
from reportgen.data.splits import make_splits
from reportgen.errors import ReportgenError

SIZE = 16


def _rgb(root: Path, cls: str, n: int, colour=(200, 40, 10), size=(20, 24)) -> None:
    (root / cls).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", size, colour).save(root / cls / f"rgb{i}.png")


def _two_classes(root: Path, n: int = 3) -> Path:
    _rgb(root, "church", n)
    _rgb(root, "tower", n, colour=(10, 40, 200))
    return root


def _read(root: Path, size: int = SIZE) -> folder.FolderImages:
    parts = folder.scan(root)
    files = parts["all"]
    return folder.read_folder(files, sorted(files), size)


def _pixel(images: folder.FolderImages, root: Path, name: str) -> np.ndarray:
    """The centre pixel of the image read from the file called `name` (any class)."""
    files = [f for fs in folder.scan(root)["all"].values() for f in fs if str(f) not in images.skipped]
    index = [f.name for f in files].index(name)
    return images.x[index][:, SIZE // 2, SIZE // 2]


def test_every_image_mode_is_converted_to_rgb_with_the_right_values(tmp_path):
    root = _two_classes(tmp_path / "data")
    d = root / "church"
    Image.new("L", (20, 20), 128).save(d / "grey.png")
    Image.new("1", (20, 20), 1).save(d / "bilevel.png")
    Image.new("LA", (20, 20), (0, 0)).save(d / "grey_alpha.png")  # fully transparent: white
    Image.new("RGBA", (20, 20), (255, 0, 0, 0)).save(d / "clear.png")  # transparent red: white
    Image.new("RGBA", (20, 20), (0, 0, 255, 255)).save(d / "opaque.png")
    Image.new("CMYK", (20, 20), (0, 255, 255, 0)).save(d / "cmyk.jpg")  # no cyan or black: red
    Image.new("CMYK", (20, 20), (0, 0, 0, 255)).save(d / "cmyk.tif")  # all black
    Image.new("RGB", (20, 20), (0, 200, 0)).convert("P").save(d / "palette.png")
    transparent = Image.new("P", (20, 20), 0)
    transparent.putpalette([0, 0, 0] * 256)
    transparent.save(d / "palette_clear.png", transparency=0)
    Image.fromarray(np.full((20, 20), 65535, np.uint16)).save(d / "white16.png")  # 'I;16'
    Image.fromarray(np.full((20, 20), 32896, np.uint16)).save(d / "mid16.png")
    Image.fromarray(np.full((20, 20), 65535, np.int32), mode="I").save(d / "white32.tif")
    Image.fromarray(np.full((20, 20), 0.5, np.float32), mode="F").save(d / "half.tif")

    images = _read(root)
    assert images.skipped == []
    assert images.x.dtype == np.uint8 and images.x.shape == (6 + 13, 3, SIZE, SIZE)
    expected = {
        "grey.png": (128, 128, 128),
        "bilevel.png": (255, 255, 255),
        "grey_alpha.png": (255, 255, 255),
        "clear.png": (255, 255, 255),
        "opaque.png": (0, 0, 255),
        "cmyk.tif": (0, 0, 0),
        "palette_clear.png": (255, 255, 255),
        "white16.png": (255, 255, 255),
        "mid16.png": (128, 128, 128),
        "white32.tif": (255, 255, 255),
        "half.tif": (128, 128, 128),
    }
    for name, rgb in expected.items():
        assert tuple(_pixel(images, root, name)) == rgb, name
    red = _pixel(images, root, "cmyk.jpg").astype(int)  # JPEG is lossy: close to pure red
    assert red[0] > 230 and red[1] < 30 and red[2] < 30
    green = _pixel(images, root, "palette.png").astype(int)
    assert abs(green[1] - 200) < 10 and green[0] < 10
    modes = images.converted
    assert modes["CMYK"] == 2 and modes["RGBA"] == 2 and modes["P"] == 2 and modes["I;16"] == 2
    assert "RGB" not in modes and sum(modes.values()) == 13
    assert any("Converted to 8-bit RGB" in note and "16-bit" in note for note in images.notes(SIZE))


def test_zero_byte_and_non_image_files_are_skipped_counted_and_named(tmp_path):
    root = _two_classes(tmp_path / "data")
    (root / "tower" / "empty.png").write_bytes(b"")
    (root / "tower" / "fake.jpg").write_bytes(b"this is text, not a jpeg")
    (root / "church" / "notes.txt").write_text("taken on a rainy day")
    good = root / "church" / "rgb0.png"
    (root / "church" / "truncated.png").write_bytes(good.read_bytes()[:40])
    (root / "church" / ".DS_Store").write_bytes(b"\x00\x01")  # hidden: ignored, not counted
    (root / "tower" / "Thumbs.db").write_bytes(b"\x00\x01")

    images = _read(root)
    assert sorted(Path(p).name for p in images.skipped) == ["empty.png", "fake.jpg", "notes.txt", "truncated.png"]
    assert len(images.y) == 6 and np.bincount(images.y).tolist() == [3, 3]
    assert images.notes(SIZE)[0].startswith("4 file(s) could not be read as images and were skipped")

    # The same through the dataset pipeline that every task uses.
    info = resolve_dataset(f"folder:{root}", image_size=SIZE)
    s = make_splits(info, train_size=100, val_size=1, test_size=100, seed=0)
    assert len(s.skipped) == 4 and len(s.train) + len(s.val) + len(s.test) == 6


def test_images_smaller_than_the_input_size_are_enlarged_and_counted(tmp_path):
    root = _two_classes(tmp_path / "data")
    Image.new("RGB", (3, 5), (7, 8, 9)).save(root / "tower" / "tiny.png")
    Image.new("RGB", (1, 1), (250, 0, 0)).save(root / "tower" / "dot.bmp")
    images = _read(root, size=SIZE)
    assert sorted(Path(p).name for p in images.enlarged) == ["dot.bmp", "tiny.png"]
    assert tuple(_pixel(images, root, "tiny.png")) == (7, 8, 9)
    assert tuple(_pixel(images, root, "dot.bmp")) == (250, 0, 0)
    assert "2 image(s) smaller than 16×16 pixels were enlarged" in " ".join(images.notes(SIZE))


@pytest.mark.parametrize("size, small", [(4, {"dot.bmp", "tiny.png"}), (2, {"dot.bmp"}), (1, set())])
def test_an_image_is_enlarged_when_either_side_is_smaller(tmp_path, size, small):
    root = _two_classes(tmp_path / "data")
    Image.new("RGB", (3, 5), (7, 8, 9)).save(root / "tower" / "tiny.png")
    Image.new("RGB", (1, 1), (250, 0, 0)).save(root / "tower" / "dot.bmp")
    assert {Path(p).name for p in _read(root, size=size).enlarged} == small


def test_one_class_is_a_clear_error(tmp_path):
    _rgb(tmp_path / "solo", "church", 4)
    with pytest.raises(ReportgenError, match="has one class \\('church'\\); a classifier needs at least two") as info:
        resolve_dataset(f"folder:{tmp_path / 'solo'}")
    assert info.value.exit_code == 2 and "sub-folder per class" in info.value.hint


def test_empty_class_and_unreadable_class_are_clear_errors(tmp_path):
    root = _two_classes(tmp_path / "data")
    (root / "bridge").mkdir()
    with pytest.raises(ReportgenError, match="class folder .*bridge has no images"):
        resolve_dataset(f"folder:{root}")
    (root / "bridge" / "broken.jpg").write_bytes(b"")
    (root / "bridge" / "also.png").write_bytes(b"nope")
    with pytest.raises(ReportgenError, match="class folder 'bridge': none of its 2 file\\(s\\) could be read"):
        _read(root)


def test_images_directly_in_the_folder_say_that_classes_need_sub_folders(tmp_path):
    root = tmp_path / "flat"
    root.mkdir()
    for i in range(3):
        Image.new("RGB", (8, 8)).save(root / f"{i}.png")
    with pytest.raises(ReportgenError, match="no class sub-folders") as info:
        resolve_dataset(f"folder:{root}")
    assert "3 image(s) directly in it" in info.value.hint


def test_layout_with_val_and_partial_splits(tmp_path):
    root = tmp_path / "split"
    for part in ("train", "val", "test"):
        _two_classes(root / part, n=2)
    assert folder.layout(root) == {p: root / p for p in ("train", "val", "test")}
    assert set(folder.scan(root)) == {"train", "val", "test"}
    assert resolve_dataset(f"folder:{root}").fingerprint  # sources.py still resolves it

    partial = tmp_path / "partial"
    _two_classes(partial / "train")
    _two_classes(partial / "val")
    with pytest.raises(ReportgenError, match="has train/, val/ but no test/"):
        folder.layout(partial)


def test_a_test_class_that_train_lacks_is_a_clear_error(tmp_path):
    root = tmp_path / "split"
    _two_classes(root / "train")
    _two_classes(root / "test")
    _rgb(root / "test", "castle", 2)
    with pytest.raises(ReportgenError, match="class\\(es\\) that train/ lacks: castle"):
        resolve_dataset(f"folder:{root}")


def test_read_images_keeps_its_old_contract(tmp_path):
    root = _two_classes(tmp_path / "data")
    (root / "tower" / "bad.png").write_bytes(b"")
    files = folder.class_folders(root)
    x, y, skipped = folder.read_images(files, ["church", "tower"], 8)
    assert x.shape == (6, 3, 8, 8) and x.dtype == np.uint8 and y.tolist() == [0, 0, 0, 1, 1, 1]
    assert [Path(p).name for p in skipped] == ["bad.png"]
    assert (x[0] == np.array([200, 40, 10])[:, None, None]).all()


@pytest.mark.parametrize(
    "problem, says",
    [
        ("one class", "a classifier needs at least two"),
        ("empty class", "bridge has no images"),
        ("all unreadable", "'bridge': none of its 1 file(s) could be read"),
        ("train without test", "has train/ but no test/"),
    ],
)
def test_the_cli_says_one_line_and_exits_2_never_a_traceback(tmp_path, monkeypatch, problem, says):
    from tests.conftest import invoke

    root = tmp_path / "data"
    if problem == "one class":
        _rgb(root, "church", 3)
    elif problem == "empty class":
        _two_classes(root)
        (root / "bridge").mkdir()
    elif problem == "all unreadable":
        _two_classes(root)
        (root / "bridge").mkdir()
        (root / "bridge" / "a.png").write_bytes(b"")
    else:
        _two_classes(root / "train")
    project = tmp_path / "project"
    project.mkdir()
    (project / "reportgen.toml").write_text(f'dataset = "folder:{root}"\nprofile = "quick"\nimage_size = 16\n')
    monkeypatch.chdir(project)
    result = invoke("run", "--task", "4")  # exceptions are not caught: a traceback would fail here
    assert result.exit_code == 2 and "Traceback" not in result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert says in line

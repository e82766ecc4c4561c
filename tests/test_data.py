"""Splits are deterministic and disjoint; augmentations keep shapes and labels; folders skip bad files."""

from pathlib import Path

import numpy as np
import pytest
import torch

from reportgen.data.augment import AugmentSettings, affine, hflip, make_augment, translate
from reportgen.data.sources import resolve_dataset
from reportgen.data.splits import make_splits
from reportgen.errors import ReportgenError

DIGITS = resolve_dataset("digits")


def _rows(x: torch.Tensor) -> set[bytes]:
    return {row.numpy().tobytes() for row in x.flatten(1)}


def test_splits_are_deterministic_for_a_seed():
    a = make_splits(DIGITS, train_size=500, val_size=200, test_size=300, seed=3, image_size=16)
    b = make_splits(DIGITS, train_size=500, val_size=200, test_size=300, seed=3, image_size=16)
    c = make_splits(DIGITS, train_size=500, val_size=200, test_size=300, seed=4, image_size=16)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.val.y, b.val.y)
    assert not torch.equal(a.train.x, c.train.x)
    assert torch.equal(a.test.y, c.test.y), "the test subset does not move with the seed"


def test_splits_are_disjoint_and_sized():
    s = make_splits(DIGITS, train_size=800, val_size=250, test_size=300, seed=0, image_size=28)
    assert (len(s.train), len(s.val), len(s.test)) == (800, 250, 300)
    assert s.image_shape == (1, 28, 28) and s.num_classes == 10
    # digits has duplicate images, so compare positions: train and val come from one permutation
    train, val = _rows(s.train.x), _rows(s.val.x)
    assert len(train & val) < 0.05 * len(val)


def test_normalisation_uses_training_statistics():
    s = make_splits(DIGITS, train_size=1000, val_size=200, test_size=300, seed=0)
    assert s.train.x.mean().item() == pytest.approx(0.0, abs=1e-4)
    assert s.train.x.std().item() == pytest.approx(1.0, abs=1e-3)


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(16, 3, 12, 12, generator=g)


def test_augmentations_keep_shape(batch):
    g = torch.Generator().manual_seed(1)
    fill = torch.zeros(1, 3, 1, 1)
    for out in (hflip(batch, g), translate(batch, 2, g, fill), affine(batch, 15.0, 0.1, g, fill)):
        assert out.shape == batch.shape and out.dtype == batch.dtype


def test_flip_mirrors_about_half(batch):
    out = hflip(batch, torch.Generator().manual_seed(2))
    flipped = [torch.equal(o, b.flip(-1)) for o, b in zip(out, batch)]
    kept = [torch.equal(o, b) for o, b in zip(out, batch)]
    assert all(f or k for f, k in zip(flipped, kept)) and 2 <= sum(flipped) <= 14


def test_translate_shifts_content_and_fills_black(batch):
    fill = torch.full((1, 3, 1, 1), -9.0)
    out = translate(batch, 2, torch.Generator().manual_seed(3), fill)
    for o, b in zip(out, batch):
        found = False
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                shifted = torch.full_like(b, -9.0)
                src = b[:, max(0, dy) : 12 + min(0, dy), max(0, dx) : 12 + min(0, dx)]
                shifted[:, max(0, -dy) : 12 + min(0, -dy), max(0, -dx) : 12 + min(0, -dx)] = src
                found |= torch.allclose(o, shifted, atol=1e-5)
        assert found


def test_augment_off_is_identity_and_labels_untouched(batch):
    assert make_augment(AugmentSettings(), [0.0], [1.0]) is None
    settings = AugmentSettings(flip=True, translate=1, rotate=5, scale=0.05, noise=0.1)
    augment = make_augment(settings, [0.1, 0.2, 0.3], [1.0, 1.0, 1.0])
    labels = torch.arange(16)
    out = augment(batch, torch.Generator().manual_seed(0))
    assert out.shape == batch.shape and torch.equal(labels, torch.arange(16))
    assert AugmentSettings.from_params({"aug_flip": True, "aug_noise": 0.2, "lr": 1}) == AugmentSettings(flip=True, noise=0.2)


def test_zero_rotation_is_identity(batch):
    out = affine(batch, 0.0, 0.0, torch.Generator(), torch.zeros(1, 3, 1, 1))
    assert torch.allclose(out, batch, atol=1e-5)


def _write_folder(root: Path, corrupt: int = 1) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in ("church", "tower"):
        (root / name).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(root / name / f"{i}.png")
    for i in range(corrupt):
        (root / "tower" / f"broken{i}.jpg").write_bytes(b"not really a jpeg")


def test_folder_dataset_skips_and_counts_corrupt_images(tmp_path):
    _write_folder(tmp_path / "buildings", corrupt=2)
    info = resolve_dataset(f"folder:{tmp_path / 'buildings'}", image_size=16)
    s = make_splits(info, train_size=100, val_size=2, test_size=100, seed=0)
    assert s.classes == ["church", "tower"]
    assert len(s.skipped) == 2 and all("broken" in p for p in s.skipped)
    assert len(s.train) + len(s.val) + len(s.test) == 20
    assert s.image_shape == (3, 16, 16)


def test_empty_class_folder_is_a_clear_error(tmp_path):
    _write_folder(tmp_path / "b", corrupt=0)
    (tmp_path / "b" / "empty").mkdir()
    with pytest.raises(ReportgenError, match="has no images"):
        resolve_dataset(f"folder:{tmp_path / 'b'}")
    with pytest.raises(ReportgenError, match="no class sub-folders"):
        (tmp_path / "none").mkdir()
        resolve_dataset(f"folder:{tmp_path / 'none'}")


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ReportgenError, match="unknown dataset 'imagenet-22k'") as info:
        resolve_dataset("imagenet-22k")
    assert "cifar10" in info.value.hint

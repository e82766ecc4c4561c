"""Deep dream on a tiny seeded CNN: the activation grows; the pyramid, jitter and smoothing."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from skimage import data
from torch import nn

from reportgen.vis.dream import DreamSettings, dream, gaussian_blur, pyramid_sizes
from reportgen.vis.style import to_image, to_tensor


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny images gain nothing from a second thread, and on a shared machine OpenMP's barriers
    make two threads many times slower; restored for the other test modules."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_cnn() -> nn.Sequential:
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1, stride=2),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1),
        nn.ReLU(),
    )
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    return model


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return to_image(
        torch.nn.functional.interpolate(to_tensor(data.chelsea()), size=(36, 48), mode="area")
    )


@pytest.mark.parametrize("layer", ["1", "6"])
def test_activation_norm_rises_over_iterations(photo, layer: str) -> None:
    result = dream(
        tiny_cnn(), photo, DreamSettings(layer=layer, octaves=1, steps=15, jitter=0, smoothing=0)
    )
    norms = result.norms
    assert len(norms) == 15
    assert norms[-1] > 1.2 * norms[0]
    assert sum(b > a for a, b in itertools.pairwise(norms)) >= 12  # rises nearly every step


def test_norm_rises_with_octaves_jitter_smoothing_and_tv(photo) -> None:
    settings = DreamSettings(
        layer="6", octaves=3, octave_scale=1.3, steps=8, jitter=4, smoothing=1.0, tv_weight=0.3
    )
    result = dream(tiny_cnn(), photo, settings)
    assert len(result.norms) == 24
    assert [s for s in result.octave_sizes] == pyramid_sizes(36, 48, 3, 1.3)
    for octave in range(3):  # within each octave the layer's activation grows
        steps = result.norms[8 * octave : 8 * (octave + 1)]
        assert steps[-1] > steps[0]
    assert result.image.shape == photo.shape and 0 <= result.image.min() and result.image.max() <= 1
    assert [im.shape[:2] for im in result.octave_images] == result.octave_sizes
    assert np.abs(result.image - photo).mean() > 0.01  # it dreamed something


def test_lr_is_the_mean_pixel_change_per_step(photo) -> None:
    result = dream(
        tiny_cnn(),
        photo,
        DreamSettings(layer="3", octaves=1, steps=1, jitter=0, smoothing=0, lr=0.01),
    )
    moved = np.abs(result.image - photo)
    # clamping to [0, 1] can only shorten a step
    assert 0.005 < moved.mean() <= 0.0101


def test_jitter_is_seeded(photo) -> None:
    settings = DreamSettings(layer="6", octaves=2, steps=3, jitter=6, seed=5)
    a = dream(tiny_cnn(), photo, settings)
    b = dream(tiny_cnn(), photo, settings)
    np.testing.assert_array_equal(a.image, b.image)


def test_pyramid_sizes_end_at_the_image_size() -> None:
    assert pyramid_sizes(100, 200, 3, 2.0) == [(25, 50), (50, 100), (100, 200)]
    assert pyramid_sizes(20, 20, 4, 2.0)[0] == (16, 16)  # never below the smallest size
    assert pyramid_sizes(64, 64, 1, 1.4) == [(64, 64)]


def test_gaussian_blur_keeps_the_mean_and_smooths() -> None:
    gen = torch.Generator().manual_seed(0)
    noise = torch.rand(1, 3, 20, 20, generator=gen)
    blurred = gaussian_blur(noise, 1.5)
    assert blurred.shape == noise.shape
    assert float(blurred.mean()) == pytest.approx(float(noise.mean()), abs=0.02)
    assert float(blurred.std()) < 0.5 * float(noise.std())
    assert torch.equal(gaussian_blur(noise, 0.0), noise)


def test_model_is_left_as_it_was(photo) -> None:
    model = tiny_cnn().train()
    running = model[3].running_mean.clone()
    dream(model, photo, DreamSettings(layer="6", octaves=2, steps=2))
    assert model.training
    assert torch.equal(
        model[3].running_mean, running
    )  # eval mode while dreaming: BN statistics untouched
    assert all(p.requires_grad and p.grad is None for p in model.parameters())
    assert not any(m._forward_hooks for m in model.modules())


def test_a_layer_the_model_lacks_is_named(photo) -> None:
    with pytest.raises(AttributeError, match="missing"):
        dream(tiny_cnn(), photo, DreamSettings(layer="missing", steps=1))


@pytest.mark.parametrize("exp_id", ["t5-dream-layers", "t5-dream-settings"])
def test_dream_experiments_store_grids_with_captions(tmp_path, exp_id: str) -> None:
    from reportgen.registry import load_experiments
    from reportgen.results import Curves, ImageGrid
    from tests.test_style import presented
    from reportgen.runner import Context

    exp = load_experiments()[exp_id]
    params = {**exp.resolve("quick"), "size": 48, "steps": 2, "octaves": 2}
    ctx = Context(
        exp=exp,
        params=params,
        seed=0,
        device_name="cpu",
        dataset=None,
        files=tmp_path / "files",
        progress=None,
    )
    section = presented(exp, exp.fn(ctx), params, tmp_path / "files")
    grid = next(i for i in section.items if isinstance(i, ImageGrid))
    assert grid.key and grid.labels[0] == "photo: chelsea"
    for name in grid.images:
        assert np.load(tmp_path / "files" / name).shape == (48, 48, 3)
    assert (
        "EfficientNet-Lite0" in grid.caption
        and "2 octaves" in grid.caption
        and "block 11" in grid.caption
    )
    curves = next(i for i in section.items if isinstance(i, Curves))
    assert all(len(v) == len(curves.x) == 4 for v in curves.series.values())

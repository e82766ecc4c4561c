"""Visualisations on tiny seeded models and data that ship with packages (no downloads)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from reportgen.nn.spec import build_model
from reportgen.vis.activations import activation_maps, forward_to, penultimate, stage_outputs
from reportgen.vis.cam import GradCAM, GradCAMPlusPlus
from reportgen.vis.classify import top_k
from reportgen.vis.filters import filter_grid, weight_change
from reportgen.vis.maximise import Settings, maximise
from reportgen.vis.pixels import absolute_variation
from reportgen.vis.occlusion import crop_map, occlusion_map
from reportgen.vis.tsne import embed, neighbour_agreement

SIDE = 32
SQUARE = 8
# Where the evidence sits in the test image: rows 4-11, columns 20-27 (top right).
REGION = (4, 20)


def _blob_images(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 1: a bright square at a random place on noise; class 0: noise only."""
    x = 0.3 * torch.rand(n, 1, SIDE, SIDE, generator=gen)
    y = torch.randint(0, 2, (n,), generator=gen)
    for i in torch.nonzero(y).flatten().tolist():
        r, c = torch.randint(0, SIDE - SQUARE + 1, (2,), generator=gen).tolist()
        x[i, 0, r : r + SQUARE, c : c + SQUARE] += 0.7
    return x, y


def _blob_image() -> torch.Tensor:
    x = 0.3 * torch.rand(1, 1, SIDE, SIDE, generator=torch.Generator().manual_seed(99))
    r, c = REGION
    x[0, 0, r : r + SQUARE, c : c + SQUARE] += 0.7
    return x


@pytest.fixture(scope="module")
def blob_model() -> nn.Sequential:
    """A small CNN trained (seeded, about two seconds) to tell 'square present' from 'noise only'."""
    torch.manual_seed(0)
    model = build_model(["conv8 same", "conv16 same", "pool", "gap"], (1, SIDE, SIDE), 2)
    x, y = _blob_images(256, torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(60):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    assert (model(x).argmax(1) == y).float().mean() > 0.95  # it learned the task
    return model


def _in_region(row: int, col: int, margin: int = 2) -> bool:
    r, c = REGION
    return r - margin <= row < r + SQUARE + margin and c - margin <= col < c + SQUARE + margin


def _no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._backward_hooks for m in model.modules())


@pytest.mark.parametrize("method", [GradCAM, GradCAMPlusPlus])
def test_class_map_peaks_where_the_evidence_is(blob_model: nn.Sequential, method) -> None:
    blob_model.train()  # the map must not depend on, nor change, the caller's mode
    grads = [None if p.grad is None else p.grad.clone() for p in blob_model.parameters()]
    cam = method(blob_model, stage_outputs(blob_model)[-1])
    result = cam(_blob_image())
    assert blob_model.training and _no_hooks(blob_model)
    for before, p in zip(grads, blob_model.parameters()):  # the weights' gradients are left alone
        assert (before is None and p.grad is None) or torch.equal(before, p.grad)
    blob_model.eval()
    assert result.target == 1 and result.probability > 0.9
    assert result.heat.min() >= 0 and result.heat.max() == pytest.approx(1.0)
    assert _in_region(*result.peak((SIDE, SIDE)))
    # Most of the map's mass lies on the square, which is 1/16 of the image.
    heat = result.upsampled((SIDE, SIDE))
    r, c = REGION
    assert heat[r : r + SQUARE, c : c + SQUARE].sum() / heat.sum() > 0.3


def test_grad_cam_variants_differ_only_in_channel_weights(blob_model: nn.Sequential) -> None:
    layer = stage_outputs(blob_model)[-1]
    acts = torch.rand(1, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    grads = torch.randn(1, 4, 3, 3, generator=torch.Generator().manual_seed(1))
    plain = GradCAM(blob_model, layer).channel_weights(acts, grads)
    assert torch.allclose(plain, grads.mean(dim=(2, 3)))
    plus = GradCAMPlusPlus(blob_model, layer).channel_weights(acts, grads)
    assert plus.shape == (1, 4) and (plus >= 0).all()  # only positive gradients count
    # A chosen class is explained even when it is not the top-1.
    chosen = GradCAM(blob_model, layer)(_blob_image(), target=0)
    assert chosen.target == 0 and chosen.probability < 0.5


def test_occlusion_drop_peaks_where_the_evidence_is(blob_model: nn.Sequential) -> None:
    result = occlusion_map(blob_model, _blob_image(), patch=SQUARE, stride=4, fill=0.0)
    assert result.target == 1 and result.base > 0.9
    top, left, h, w = result.peak_box()
    assert _in_region(top + h // 2, left + w // 2)
    assert result.values.max() > 0.5  # covering the square removes the evidence


def test_crop_map_is_highest_on_the_crop_with_the_square(blob_model: nn.Sequential) -> None:
    image = _blob_image()
    result = crop_map(blob_model, image, 1, window=0.5, steps=3, size=SIDE, mean=(0.0,), std=(1.0,))
    assert result.values.shape == (3, 3)
    r0, c0 = REGION
    for (top, left, h, w), p in zip(result.boxes, result.values.flat):
        whole = top <= r0 and top + h >= r0 + SQUARE and left <= c0 and left + w >= c0 + SQUARE
        apart = top + h <= r0 or top >= r0 + SQUARE or left + w <= c0 or left >= c0 + SQUARE
        if whole:
            assert p > 0.9, (top, left, p)
        elif apart:
            assert p < 0.1, (top, left, p)
    assert result.values.max() > 0.9 and result.values.min() < 0.1


def _stripe_detectors() -> nn.Sequential:
    """Four oriented stripe detectors (zero-mean 5x5 filters, small bias) and a later layer:
    units that grey noise hardly excites and one pattern does, as in a trained first layer."""
    conv = nn.Conv2d(3, 4, 5, padding=2)
    yy, xx = torch.meshgrid(torch.arange(5.0) - 2, torch.arange(5.0) - 2, indexing="ij")
    with torch.no_grad():
        for k, angle in enumerate((0, 45, 90, 135)):
            t = math.radians(angle)
            g = torch.cos(2 * (xx * math.cos(t) + yy * math.sin(t)))
            g = (g - g.mean()) / g.abs().sum()
            conv.weight[k] = g * torch.tensor([1.0, -0.5, 0.25]).view(3, 1, 1)
        conv.bias.fill_(0.02)
    return nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 8, 3)).eval()


def test_activation_maximisation_raises_the_target_five_fold() -> None:
    model = _stripe_detectors()
    settings = Settings(size=32, steps=40, octaves=2, jitter=2, tv=0.01, l2=0.001, lr=0.05)
    results = maximise(model, "1", [0, 1, 2, 3], mean=(0.5,) * 3, std=(0.25,) * 3, settings=settings)
    for r in results:
        assert r.start > 0
        assert r.end >= 5 * r.start, (r.channel, r.start, r.end)
        assert r.gain == pytest.approx(r.end / r.start)
        assert r.image.shape == (32, 32, 3) and 0 <= r.image.min() and r.image.max() <= 1
    # Each picture excites its own channel more than the other orientations.
    images = torch.from_numpy(np.stack([r.image for r in results])).permute(0, 3, 1, 2)
    with torch.no_grad():
        response = forward_to(model, "1", (images - 0.5) / 0.25).mean(dim=(2, 3))
    assert torch.equal(response.argmax(1), torch.arange(4))
    assert _no_hooks(model)


def test_maximisation_restores_trainable_weights() -> None:
    torch.manual_seed(0)
    model = build_model(["conv8 same", "pool", "conv16 same", "pool"], (3, 32, 32), 10)
    maximise(model, "act2", [0], settings=Settings(size=16, steps=2, octaves=1))
    assert all(p.requires_grad for p in model.parameters()) and model.training and _no_hooks(model)


def test_maximisation_of_a_grey_model_and_the_penalties() -> None:
    torch.manual_seed(1)
    model = build_model(["conv4", "conv8", "pool", "fc16"], (1, 28, 28), 10)
    # Octaves at 10 and 20 pixels: only the layers up to conv2 run, the dense layers never see them.
    out = maximise(model, "conv2", [0, 1], in_channels=1, settings=Settings(size=20, steps=5, octaves=2))
    assert [r.image.shape for r in out] == [(20, 20), (20, 20)]
    assert len(out[0].history) == 10
    flat, noisy = torch.zeros(1, 1, 8, 8), torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert absolute_variation(flat).item() == 0 and absolute_variation(noisy).item() > 0.2


def test_forward_to_stops_at_the_layer() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(5, 3))
    out = forward_to(model, "1", torch.rand(1, 1, 10, 10))  # the Linear would reject 128 features
    assert out.shape == (1, 2, 8, 8) and _no_hooks(model)


def test_activation_maps_strongest_channels_first() -> None:
    torch.manual_seed(0)
    model = build_model(["conv8 same", "pool", "conv16 same"], (1, 16, 16), 10)
    maps = activation_maps(model, torch.rand(1, 1, 16, 16), stage_outputs(model), count=4)
    first, last = maps["act1"], maps["act2"]
    assert first.maps.shape == (4, 16, 16) and last.maps.shape == (4, 8, 8)
    assert first.total == 8 and last.total == 16
    assert first.means == sorted(first.means, reverse=True)
    assert np.allclose(first.maps.mean(axis=(1, 2)), first.means, atol=1e-6)
    assert _no_hooks(model)


def test_stage_outputs_and_penultimate_features() -> None:
    torch.manual_seed(0)
    model = build_model(["conv4 bn", "conv8", "pool", "dropout0.25", "fc12", "dropout0.5"], (1, 12, 12), 3).eval()
    assert stage_outputs(model) == ["act1", "act2"]
    x = torch.rand(5, 1, 12, 12)
    feats = penultimate(model, x, batch_size=2)
    assert feats.shape == (5, 12)
    with torch.no_grad():
        assert torch.allclose(model.head(torch.from_numpy(feats)), model(x), atol=1e-5)


def test_filter_grid_has_one_tile_per_filter() -> None:
    grey = np.random.default_rng(0).normal(size=(16, 1, 5, 5)).astype(np.float32)
    grid = filter_grid(grey)
    assert len(grid.tiles) == 16 and grid.tiles[0].shape == (5, 5) and not grid.rgb
    assert grid.columns == 4 and grid.limit == pytest.approx(np.abs(grey).max())
    assert np.allclose(grid.tiles[3], grey[3, 0])
    rgb = np.random.default_rng(1).normal(size=(10, 3, 3, 3)).astype(np.float32)
    rgb[2] = 0
    grid = filter_grid(rgb)
    assert len(grid.tiles) == 10 and grid.rgb and grid.tiles[0].shape == (3, 3, 3)
    assert all(0 <= t.min() and t.max() <= 1 for t in grid.tiles)
    assert np.allclose(grid.tiles[2], 0.5)  # zero weights are mid-grey
    many = filter_grid(np.ones((6, 8, 3, 3)))  # any other channel count: the mean over inputs
    assert len(many.tiles) == 6 and many.tiles[0].shape == (3, 3)


def test_weight_change() -> None:
    a = np.random.default_rng(0).normal(size=(4, 1, 3, 3))
    same = weight_change(a, a)
    assert same["relative"] == 0 and same["correlation"] == pytest.approx(1.0)
    moved = weight_change(a, 2 * a)
    assert moved["relative"] == pytest.approx(1.0) and moved["correlation"] == pytest.approx(1.0)


def test_tsne_is_reproducible_and_trustworthy() -> None:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x, y = x[:300], y[:300]
    first = embed(x, perplexity=20, seed=0)
    second = embed(x, perplexity=20, seed=0)
    assert first.points.shape == (300, 2)
    assert np.array_equal(first.points, second.points)
    assert first.trustworthiness > 0.9 and first.perplexity == 20
    assert neighbour_agreement(first.points, y) > 0.8
    assert embed(x[:12], perplexity=30).perplexity == pytest.approx(11 / 3)


def test_top_k_sorted_probabilities() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 6))
    result = top_k(model, torch.rand(1, 4), [f"c{i}" for i in range(6)], k=3)
    assert len(result) == 3 and [p for _, p, _ in result] == sorted((p for _, p, _ in result), reverse=True)
    assert all(label == f"c{i}" for label, _, i in result)

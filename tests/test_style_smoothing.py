"""Activation smoothing (SWAG) for style transfer, and the measures that judge it without grading
themselves: held-out style distance, colour distance, content distance; the Task 5 comparison."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reportgen.vis.style import (
    StyleSettings,
    activation_rms,
    gram_matrix,
    smooth,
    stylise,
    to_tensor,
)
from reportgen.vis.style_scores import (
    relative_feature_distance,
    relative_gram_distance,
    sliced_wasserstein,
    transfer_scores,
)
from tests.test_style import LAYERS, compute, one_thread, presented, run_experiment, small, tiny_cnn  # noqa: F401


@pytest.fixture(scope="module")
def images() -> tuple[np.ndarray, np.ndarray]:
    from skimage import data

    return small(data.astronaut()), small(data.immunohistochemistry(), 40)


RGB = np.eye(3)  # the three colour axes as projection directions


def test_smooth_is_a_softmax_over_all_activations_of_each_image() -> None:
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 3, 4, 5, generator=gen) * 3
    out = smooth(feats, 2.0)
    assert out.shape == feats.shape
    # the paper's softmax (summing to 1) times the number of activations: a mean of 1
    np.testing.assert_allclose(out.mean(dim=(1, 2, 3)).numpy(), [1.0, 1.0], rtol=1e-6)
    first = np.exp(feats[0].numpy().ravel() / 2.0)
    np.testing.assert_allclose(out[0].numpy().ravel(), 60 * first / first.sum(), rtol=1e-5)
    # the order of activations is kept, and a higher temperature flattens the distribution
    assert torch.equal(out[0].flatten().argsort(), feats[0].flatten().argsort())
    assert float(smooth(feats, 20.0).max()) < float(out.max())


def test_smoothing_changes_the_gram_matrix_beyond_a_rescaling() -> None:
    feats = torch.zeros(1, 2, 2, 2)
    feats[0, 0, 0, 0] = 3.0  # one peaky activation
    feats[0, 1] = 1.0
    plain, smoothed = gram_matrix(feats), gram_matrix(smooth(feats, 1.0))
    # plain: the peak alone makes channel 0's energy 9/8 against channel 1's 4/8
    np.testing.assert_allclose(plain[0].numpy(), [[9 / 8, 3 / 8], [3 / 8, 4 / 8]], rtol=1e-6)
    e = np.exp([3.0, 0, 0, 0, 1, 1, 1, 1])
    p = (8 * e / e.sum()).reshape(2, 4)
    np.testing.assert_allclose(smoothed[0].numpy(), p @ p.T / 8, rtol=1e-5)
    ratio = (smoothed / plain)[0].numpy()
    assert ratio.max() / ratio.min() > 1.5  # not the same matrix up to a factor


def test_stylise_compares_smoothed_features_with_the_style_images_temperature(images) -> None:
    content, style = images
    model = tiny_cnn()
    base = {"content_layer": LAYERS["content"], "style_layers": LAYERS["style"], "steps": 0}
    plain = stylise(model, content, style, StyleSettings(**base, smoothing="none"))
    smoothed = stylise(model, content, style, StyleSettings(**base, smoothing="softmax", temperature=0.5))
    # the starting image's style loss, computed by hand: T = 0.5 x the style image's RMS per layer
    feats = {}
    for name, image in (("content", content), ("style", style)):
        x = to_tensor(image)
        outs = {}
        for i, layer in enumerate(model):
            x = layer(x)
            outs[str(i)] = x.detach()
        feats[name] = outs
    errors = []
    for layer in LAYERS["style"]:
        t = 0.5 * activation_rms(feats["style"][layer])
        goal = gram_matrix(smooth(feats["style"][layer], t))
        now = gram_matrix(smooth(feats["content"][layer], t))
        errors.append(float((now - goal).pow(2).sum() / goal.pow(2).sum()))
    assert smoothed.history["style"][0] == pytest.approx(10.0 * np.mean(errors), rel=1e-4)
    assert plain.history["style"][0] != pytest.approx(smoothed.history["style"][0], rel=0.05)
    assert smoothed.history["content"][0] == pytest.approx(0.0, abs=1e-12)  # the photo itself


def test_a_smoothed_transfer_runs_and_lowers_its_loss(images) -> None:
    content, style = images
    settings = StyleSettings(
        content_layer=LAYERS["content"],
        style_layers=LAYERS["style"],
        steps=30,
        tv_weight=0.1,
        style_weight=100.0,
        smoothing="softmax",
    )
    result = stylise(tiny_cnn(), content, style, settings)
    assert result.history["style"][-1] < 0.5 * result.history["style"][0]
    with pytest.raises(ValueError, match="temperature"):
        stylise(tiny_cnn(), content, style, StyleSettings(**{**settings.__dict__, "temperature": 0.0}))


def test_sliced_wasserstein_on_known_inputs() -> None:
    rng = np.random.default_rng(0)
    image = rng.uniform(0.2, 0.8, size=(16, 16, 3)).astype(np.float32)
    assert sliced_wasserstein(image, image) == 0.0
    # the same pixels in another order, or the image tiled twice over: the same distribution
    shuffled = rng.permutation(image.reshape(-1, 3)).reshape(16, 16, 3)
    assert sliced_wasserstein(image, shuffled) == pytest.approx(0.0, abs=1e-9)
    assert sliced_wasserstein(image, np.tile(image, (2, 2, 1)), levels=64) == pytest.approx(0.0, abs=1e-6)
    # red moved by 0.1: a gap of 0.1 along the red axis, none along green and blue
    moved = image + np.array([0.1, 0.0, 0.0], dtype=np.float32)
    assert sliced_wasserstein(image, moved, RGB) == pytest.approx(0.1 / 3, rel=1e-4)
    assert sliced_wasserstein(image, moved, [[1.0, 0.0, 0.0]]) == pytest.approx(0.1, rel=1e-4)
    # along the grey diagonal (normalised) the shift projects to 0.1 / sqrt(3)
    assert sliced_wasserstein(image, moved, [[1.0, 1.0, 1.0]]) == pytest.approx(0.1 / np.sqrt(3), rel=1e-4)
    # black against white: 1 along each axis
    black, white = np.zeros((4, 4, 3)), np.ones((8, 8, 3))
    assert sliced_wasserstein(black, white, RGB) == pytest.approx(1.0)
    assert sliced_wasserstein(black, white) == sliced_wasserstein(black, white)  # seeded


def test_relative_distances_on_known_inputs() -> None:
    feats = torch.arange(1.0, 13.0).reshape(1, 3, 2, 2)
    assert relative_gram_distance(feats, feats) == 0.0
    assert relative_gram_distance(2 * feats, feats) == pytest.approx(9.0)  # Gram x4: (4 - 1)^2
    assert relative_feature_distance(torch.zeros_like(feats), feats) == pytest.approx(1.0)
    assert relative_feature_distance(1.5 * feats, feats) == pytest.approx(0.25)


def test_transfer_scores_are_zero_where_they_should_be(images) -> None:
    content, style = images
    model = tiny_cnn()
    same_size_style = content[::-1].copy()  # a different picture of the content's size
    photo = transfer_scores(model, content, content, same_size_style, content_layer="3", held_out=["1", "5"])
    assert photo["content"] == 0.0 and photo["held-out style"] > 0 and photo["colour"] == pytest.approx(0.0)
    copy = transfer_scores(model, same_size_style, content, same_size_style, content_layer="3", held_out=["1", "5"])
    assert copy["held-out style"] == 0.0 and copy["colour"] == 0.0 and copy["content"] > 0
    # each number is the function it names, on raw (unsmoothed) features
    feats = {}
    for name, image in (("image", content), ("style", style)):
        x = to_tensor(image)
        for i, layer in enumerate(model):
            x = layer(x)
            feats[(name, str(i))] = x.detach()
    got = transfer_scores(model, content, content, style, content_layer="3", held_out=["1", "5"])
    want = np.mean([relative_gram_distance(feats[("image", k)], feats[("style", k)]) for k in ("1", "5")])
    assert got["held-out style"] == pytest.approx(want, rel=1e-6)
    assert got["colour"] == pytest.approx(sliced_wasserstein(content, style))


# --- the Task 5 experiment ---------------------------------------------------------------------


def run_smoothing(tmp_path, **images_params):
    """t5-style-images with `images_params` (its plain transfers), then t5-style-smoothing reading it."""
    from reportgen.cache import Entry
    from reportgen.registry import load_experiments
    from reportgen.runner import Context

    stored = tmp_path / "images"
    _, images_record, params = compute("t5-style-images", stored, **images_params)
    entry = Entry(path=stored, key="k", section=images_record, inputs={"params": params}, provenance={})
    exp = load_experiments()["t5-style-smoothing"]
    ctx = Context(
        exp=exp,
        params=exp.resolve("quick"),
        seed=0,
        device_name="cpu",
        dataset=None,
        files=tmp_path / "files",
        progress=None,
        needs={"t5-style-images": entry},
    )
    section = presented(exp, exp.fn(ctx), ctx.params, tmp_path / "files")
    # the plain row is t5-style-images' pictures, not a second run
    grid = next(i for i in section.items if hasattr(i, "row_labels"))
    for i in range(len(params["style_images"])):
        np.testing.assert_array_equal(
            np.load(tmp_path / "files" / grid.images[len(params["style_images"]) + 2 + i]),
            np.load(stored / "files" / f"result_{i}.npy"),
        )
    return section


def test_the_smoothing_experiment_table_holds_the_measured_numbers(tmp_path) -> None:
    from reportgen.nn.backbones import load_backbone
    from reportgen.results import ImageGrid, Table

    section = run_smoothing(tmp_path, size=48, steps=2, style_images=["brick", "colorwheel"])
    grid = next(i for i in section.items if isinstance(i, ImageGrid))
    table = next(i for i in section.items if isinstance(i, Table))
    assert grid.row_labels == ["input", "plain Gram", "smoothed (SWAG)"] and grid.columns == 3
    assert grid.images[3] == "" and grid.images[6] == "" and len(grid.images) == 9
    assert "CVPR 2021" in grid.caption and "SWAG" in grid.caption and "T = 4 × its RMS" in grid.caption
    assert "Rethinking and Improving the Robustness of Image Style Transfer" in table.caption
    assert [r[0] for r in table.rows] == ["brick", "colorwheel"] and len(table.columns) == 9
    # every number re-measured from the stored pictures
    net = load_backbone("efficientnet-lite0")
    files = tmp_path / "files"
    content = np.load(files / grid.images[0])
    for row, style_name, plain_name, smooth_name in zip(
        table.rows, grid.images[1:3], grid.images[4:6], grid.images[7:9]
    ):
        style = np.load(files / style_name)
        kw = {"content_layer": "blocks.8", "held_out": ["blocks.0", "blocks.2", "blocks.4", "blocks.6"]}
        kw.update(mean=net.mean, std=net.std)
        measured = {
            key: transfer_scores(net.model.eval(), np.load(files / name) if name else content, content, style, **kw)
            for key, name in (("photo", ""), ("plain", plain_name), ("smoothed", smooth_name))
        }
        want = [
            measured["plain"]["content"],
            measured["smoothed"]["content"],
            measured["photo"]["held-out style"],
            measured["plain"]["held-out style"],
            measured["smoothed"]["held-out style"],
            measured["photo"]["colour"],
            measured["plain"]["colour"],
            measured["smoothed"]["colour"],
        ]
        np.testing.assert_allclose([float(str(x)) for x in row[1:]], want, rtol=2e-3, atol=6e-4)
    v = np.array([[float(str(x)) for x in r[1:]] for r in table.rows])
    assert (
        f"held-out style distance {v[:, 3].mean():.3f} → {v[:, 4].mean():.3f}, "
        f"colour distance {v[:, 6].mean():.3f} → {v[:, 7].mean():.3f}"
    ) in grid.caption
    assert "of the 2 style images" in section.summary and "plain Gram matrices" in section.summary


def test_smoothing_parameters_are_checked_when_planned() -> None:
    from reportgen.errors import ReportgenError
    from reportgen.registry import load_experiments

    exps = load_experiments()
    assert exps["t5-style-evolution"].resolve("standard")["smoothing"] == "none"  # README, Task 5
    assert exps["t5-style-evolution"].resolve("quick", {"smoothing": "softmax"})["smoothing"] == "softmax"
    for bad in ({"smoothing": "blur"}, {"temperature": 0.0}, {"smoothed_style_weight": -1.0}):
        with pytest.raises(ReportgenError):
            exps["t5-style-evolution" if "smoothing" in bad else "t5-style-smoothing"].resolve("quick", bad)
    # the dream's own "smoothing" (a blur width) keeps its meaning
    assert exps["t5-dream-settings"].resolve("quick", {"smoothing": 1.5})["smoothing"] == 1.5


def test_the_smoothed_gram_does_not_depend_on_the_image_size() -> None:
    """A style image twice as large (here: the same features tiled 2 x 2) has the same smoothed
    Gram matrix, so the style image need not be the content image's size."""
    gen = torch.Generator().manual_seed(2)
    feats = torch.randn(1, 4, 5, 5, generator=gen)
    tiled = feats.repeat(1, 1, 2, 2)
    np.testing.assert_allclose(
        gram_matrix(smooth(tiled, 1.5)).numpy(), gram_matrix(smooth(feats, 1.5)).numpy(), rtol=1e-5
    )


def test_captions_name_the_smoothing_when_it_is_on(tmp_path) -> None:
    on = run_experiment("t5-style-evolution", tmp_path / "on", size=48, steps=1, snapshots=[1], smoothing="softmax")
    off = run_experiment("t5-style-evolution", tmp_path / "off", size=48, steps=1, snapshots=[1])
    assert "smoothed by a softmax (SWAG), temperature 4 × each layer's RMS" in on.items[3].caption
    assert "softmax" not in off.items[3].caption  # plain Gram matrices, Gatys' method, as before

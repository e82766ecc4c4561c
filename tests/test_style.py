"""Style transfer on a tiny seeded CNN and small bundled photos: losses, Grams, snapshots."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data
from torch import nn

from reportgen.vis.fourier import FourierImage, frequency_scale
from reportgen.vis.style import (
    StyleSettings,
    gram_matrix,
    match_colours,
    stylise,
    to_image,
    to_tensor,
)
from reportgen.vis.pixels import squared_variation


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny images gain nothing from a second thread, and on a shared machine OpenMP's barriers
    make two threads many times slower; restored for the other test modules."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


LAYERS = {"content": "3", "style": ["1", "3", "5"]}


def tiny_cnn() -> nn.Sequential:
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1, stride=2),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1),
        nn.ReLU(),
    )
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    return model


def small(image: np.ndarray, size: int = 32) -> np.ndarray:
    tensor = torch.nn.functional.interpolate(to_tensor(image), size=(size, size), mode="area")
    return to_image(tensor)


@pytest.fixture(scope="module")
def images() -> tuple[np.ndarray, np.ndarray]:
    return small(data.astronaut()), small(data.immunohistochemistry(), 40)


def settings(**kw) -> StyleSettings:
    base = {
        "content_layer": LAYERS["content"],
        "style_layers": LAYERS["style"],
        "steps": 40,
        "tv_weight": 0.1,
    }
    return StyleSettings(**{**base, **kw})


def test_gram_matrix_matches_a_direct_computation() -> None:
    gen = torch.Generator().manual_seed(1)
    feats = torch.randn(2, 5, 4, 3, generator=gen)
    gram = gram_matrix(feats)
    direct = np.zeros((2, 5, 5))
    f = feats.numpy()
    for n in range(2):
        for i in range(5):
            for j in range(5):
                direct[n, i, j] = sum(
                    f[n, i, y, x] * f[n, j, y, x] for y in range(4) for x in range(3)
                ) / (5 * 4 * 3)
    assert gram.shape == (2, 5, 5)
    np.testing.assert_allclose(gram.numpy(), direct, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gram.numpy(), gram.transpose(1, 2).numpy())  # symmetric


def test_total_variation_is_zero_on_a_flat_image_and_counts_steps() -> None:
    assert float(squared_variation(torch.full((1, 3, 6, 6), 0.4))) == 0.0
    stripes = torch.zeros(1, 1, 4, 4)
    stripes[..., :, 1::2] = 1.0  # every horizontal neighbour differs by 1, vertical ones by 0
    assert float(squared_variation(stripes)) == pytest.approx(1.0)


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_total_loss_falls_over_iterations(images, optimizer: str) -> None:
    content, style = images
    result = stylise(tiny_cnn(), content, style, settings(optimizer=optimizer, init="noise"))
    total = result.history["total"]
    assert len(total) == 41  # the start, then after each iteration
    assert total[-1] < 0.5 * total[0]
    # the recorded total is the sum of its weighted parts
    parts = [result.history[k][-1] for k in ("content", "style", "tv")]
    assert total[-1] == pytest.approx(sum(parts), rel=1e-5)
    assert (
        result.image.shape == content.shape and result.image.min() >= 0 and result.image.max() <= 1
    )


def test_style_weight_zero_keeps_the_content_image(images) -> None:
    content, style = images
    model = tiny_cnn()
    # Adam's steps do not shrink with the gradient, so even a small TV term keeps moving pixels
    # a little; the content term holds them near the photo.
    kept = stylise(model, content, style, settings(style_weight=0.0, tv_weight=1e-3))
    styled = stylise(model, content, style, settings(style_weight=10.0, tv_weight=1e-3))
    kept_diff = np.abs(kept.image - content).mean()
    styled_diff = np.abs(styled.image - content).mean()
    assert kept_diff < 0.03  # under 8 of 255 grey levels on average
    assert styled_diff > 4 * kept_diff
    assert all(v == 0.0 for v in kept.history["style"])


def test_style_loss_falls_and_the_image_takes_the_style_colours(images) -> None:
    content, style = images
    result = stylise(tiny_cnn(), content, style, settings(steps=60, style_weight=100.0))
    assert result.history["style"][-1] < 0.5 * result.history["style"][0]
    # the slide is mostly pale with brown and blue stains: the mean colour moves towards it
    before = np.abs(content.mean(axis=(0, 1)) - style.mean(axis=(0, 1))).sum()
    after = np.abs(result.image.mean(axis=(0, 1)) - style.mean(axis=(0, 1))).sum()
    assert after < before


def test_a_fourier_image_starts_as_the_image_and_scales_by_one_over_f() -> None:
    image = torch.rand(1, 3, 21, 30, generator=torch.Generator().manual_seed(0)) * 0.9 + 0.05
    assert torch.allclose(FourierImage(image)(), image, atol=1e-5)  # odd and even sides
    scale = frequency_scale(21, 30)
    assert scale.shape == (21, 16) and float(scale.max()) == 1.0
    assert float(scale[0, 1]) == pytest.approx(2 * float(scale[0, 2]), rel=1e-6)  # twice the frequency, half the step


def test_recolouring_gives_the_reference_colour_mean_and_covariance(images) -> None:
    content, style = images
    moved = match_colours(to_tensor(content), to_tensor(style))
    flat, goal = moved.reshape(3, -1).double(), to_tensor(style).reshape(3, -1).double()
    # Clipping to [0, 1] bends a few pixels, so the match is close rather than exact.
    assert torch.allclose(flat.mean(dim=1), goal.mean(dim=1), atol=0.02)
    assert torch.allclose(torch.cov(flat), torch.cov(goal), atol=0.01)
    assert np.corrcoef(to_image(moved).mean(axis=2).ravel(), content.mean(axis=2).ravel())[0, 1] > 0.8  # the layout stays


def test_the_spectrum_from_the_recoloured_photo_lowers_the_style_loss_and_keeps_the_image_valid(images) -> None:
    content, style = images
    s = settings(parameterisation="fourier", init="recoloured", steps=30, style_weight=100.0, snapshots=(0, 30))
    result = stylise(tiny_cnn(), content, style, s)
    assert result.history["style"][-1] < 0.5 * result.history["style"][0]
    assert np.allclose(result.snapshots[0], to_image(match_colours(to_tensor(content), to_tensor(style))), atol=1e-6)
    assert np.array_equal(result.snapshots[30], result.image)
    assert result.image.min() >= 0 and result.image.max() <= 1


def test_snapshots_are_kept_at_the_iterations_asked_for(images) -> None:
    content, style = images
    result = stylise(tiny_cnn(), content, style, settings(steps=10, snapshots=(0, 1, 5, 10, 50)))
    assert sorted(result.snapshots) == [0, 1, 5, 10]  # 50 is past the last iteration
    np.testing.assert_allclose(result.snapshots[0], content, atol=1e-6)
    np.testing.assert_array_equal(result.snapshots[10], result.image)


def test_noise_start_is_seeded(images) -> None:
    content, style = images
    a = stylise(tiny_cnn(), content, style, settings(steps=0, init="noise", seed=3, snapshots=(0,)))
    b = stylise(tiny_cnn(), content, style, settings(steps=0, init="noise", seed=3, snapshots=(0,)))
    np.testing.assert_array_equal(a.snapshots[0], b.snapshots[0])
    assert np.abs(a.snapshots[0] - content).mean() > 0.1


def test_model_modes_and_gradients_are_restored(images) -> None:
    content, style = images
    model = tiny_cnn().train()
    stylise(model, content, style, settings(steps=2))
    assert model.training
    assert all(p.requires_grad and p.grad is None for p in model.parameters())
    assert not any(m._forward_hooks for m in model.modules())


def test_a_layer_the_model_lacks_is_named(images) -> None:
    content, style = images
    with pytest.raises(AttributeError, match="9"):
        stylise(tiny_cnn(), content, style, settings(content_layer="9", steps=1))


def test_to_tensor_accepts_grey_and_uint8() -> None:
    grey = np.full((4, 5), 255, dtype=np.uint8)
    tensor = to_tensor(grey)
    assert tensor.shape == (1, 3, 4, 5) and float(tensor.min()) == 1.0
    assert to_image(tensor).shape == (4, 5, 3)


# --- the Task 5 experiments, end to end on EfficientNet-Lite0 at a tiny size ---------------------


def run_experiment(exp_id: str, tmp_path, **overrides):
    """Runs a registered Task 5 experiment with the quick parameters shrunk to seconds; what readers see."""
    exp, record, params = compute(exp_id, tmp_path, **overrides)
    return presented(exp, record, params, tmp_path / "files")


def compute(exp_id: str, tmp_path, **overrides):
    """Runs a registered Task 5 experiment with the quick parameters shrunk to seconds; what it stores."""
    from reportgen.registry import load_experiments
    from reportgen.runner import Context

    exp = load_experiments()[exp_id]
    params = {**exp.resolve("quick"), **overrides}
    ctx = Context(
        exp=exp,
        params=params,
        seed=0,
        device_name="cpu",
        dataset=None,
        files=tmp_path / "files",
        progress=None,
    )
    return exp, exp.fn(ctx), params


def presented(exp, result, params, files):
    """What readers see of a result: a Record presented as the cache's Entry.section does."""
    from reportgen.presenting import present
    from reportgen.records import Record
    from reportgen.results import from_dict

    if isinstance(result, Record):
        result = Record.from_dict(result.to_dict())  # what the cache stores must load again
        result = present(exp.id, result, title=exp.title, params=params, files=files)
    section = from_dict(result.to_dict())
    for name in section.files():
        assert (files / name).is_file()
    return section


def test_sizes_follow_the_profile() -> None:
    from reportgen.registry import load_experiments

    exps = [e for e in load_experiments().values() if e.task == 5]
    assert len(exps) >= 7 and all(e.id.startswith("t5-") for e in exps)
    for exp in exps:
        if exp.needs:  # it reuses the transfers (and their size) of what it needs
            continue
        assert [exp.resolve(p)["size"] for p in ("quick", "standard", "full")] == [128, 256, 512]


@pytest.mark.parametrize(
    "exp_id, extra",
    [
        ("t5-style-evolution", {"snapshots": [1, 2]}),
        ("t5-style-layers", {}),
        ("t5-content-weights", {"content_weights": [1.0, 10.0]}),
        ("t5-style-images", {"style_images": ["brick", "colorwheel"]}),
        ("t5-style-optimisers", {}),
    ],
)
def test_style_experiments_store_grids_with_captions(tmp_path, exp_id: str, extra: dict) -> None:
    from reportgen.results import Curves, ImageGrid

    section = run_experiment(exp_id, tmp_path, size=48, steps=2, **extra)
    grids = [i for i in section.items if isinstance(i, ImageGrid)]
    assert grids and any(g.key for g in section.items)
    for grid in grids:
        for name in filter(None, grid.images):
            image = np.load(tmp_path / "files" / name)
            assert image.shape == (48, 48, 3) and 0 <= image.min() and image.max() <= 1
    caption = " ".join(i.caption for i in section.items)
    assert "EfficientNet-Lite0" in caption and "48×48 px" in caption
    assert "iteration" in caption and "block 9" in caption  # network, layer and iterations named
    assert section.summary and "{" not in section.summary
    for curves in (i for i in section.items if isinstance(i, Curves)):
        assert all(len(v) == len(curves.x) for v in curves.series.values())
    if exp_id == "t5-style-evolution":
        assert grids[0].labels == [
            "content: astronaut",
            "style: immunohistochemistry",
            "iteration 1",
            "iteration 2",
        ]
    if (
        exp_id == "t5-style-images"
    ):  # content and styles above, a blank under the content, results below
        assert (
            grids[0].col_labels == ["content: astronaut", "brick", "colorwheel"]
            and grids[0].columns == 3
        )
        assert grids[0].images[3] == "" and len(grids[0].images) == 6


def test_a_missing_or_corrupt_image_file_is_a_clear_error(tmp_path) -> None:
    from reportgen.errors import ReportgenError

    with pytest.raises(ReportgenError, match="does not exist"):
        run_experiment(
            "t5-style-evolution",
            tmp_path,
            size=48,
            steps=1,
            content_image=str(tmp_path / "missing.jpg"),
        )
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ReportgenError, match="cannot be read"):
        run_experiment("t5-style-evolution", tmp_path, size=48, steps=1, style_image=str(bad))
    with pytest.raises(ReportgenError, match="neither a bundled image nor a file"):
        run_experiment("t5-style-evolution", tmp_path, size=48, steps=1, content_image="astronot")
    with pytest.raises(ReportgenError, match="no layer 'blocks.99'"):
        run_experiment("t5-style-evolution", tmp_path, size=48, steps=1, content_layer="blocks.99")


def test_a_users_image_file_is_used(tmp_path) -> None:
    from PIL import Image

    path = tmp_path / "mine.png"
    Image.fromarray(np.full((60, 80, 3), (200, 30, 30), dtype=np.uint8)).save(path)
    section = run_experiment(
        "t5-style-evolution", tmp_path, size=48, steps=1, snapshots=[1], content_image=str(path)
    )
    grid = section.items[3]
    assert grid.labels[0] == "content: mine.png"
    np.testing.assert_allclose(
        np.load(tmp_path / "files" / grid.images[0])[24, 24],
        [200 / 255, 30 / 255, 30 / 255],
        atol=1e-3,
    )


def test_parameters_are_checked_when_planned() -> None:
    from reportgen.errors import ReportgenError
    from reportgen.registry import load_experiments

    exps = load_experiments()
    style = exps["t5-style-optimisers"]
    assert style.resolve("quick", {"optimizer": "lbfgs", "init": "noise"})["optimizer"] == "lbfgs"
    for bad in (
        {"optimizer": "sgd"},
        {"init": "zeros"},
        {"size": 16},
        {"network": "alexnet"},
        {"tv_weight": -1.0},
    ):
        with pytest.raises(ReportgenError, match=next(iter(bad))):
            style.resolve("quick", bad)
    with pytest.raises(ReportgenError, match="octave_scale"):
        exps["t5-dream-settings"].resolve("quick", {"octave_scale": 1.0})
    with pytest.raises(ReportgenError, match="content_weights"):
        exps["t5-content-weights"].resolve("quick", {"content_weights": [-1.0]})


def test_the_evolution_summary_says_where_the_loss_flattened_or_that_it_had_not():
    """A flat stretch starts at the first iteration after which the next 25 fell < 0.5 %;
    a loss still falling at the end is said to be, with its last fall."""
    from reportgen.experiments.task5_present import flattened

    settles = [10.0 * 0.9**k for k in range(60)] + [10.0 * 0.9**59] * 60  # flat from iteration 59 on
    assert "flattened by iteration 59 (" in flattened(settles)
    falling = [200.0 - k for k in range(101)]  # 125 -> 100 over the last 25: 20 %
    assert flattened(falling) == "The total had not flattened: it still fell by 20.0% over the last 25 iterations. "
    assert flattened([3.0, 2.0]) == ""  # too short to say


def test_side_by_side_transfers_run_two_at_a_time_and_give_the_sequential_images(tmp_path, monkeypatch):
    """t5-content-weights' three transfers on two threads (two workers, each with its own network)
    against one thread (one after another): the same images, bit for bit, in the same order."""
    import threading

    import numpy as np
    import torch

    from reportgen.vis import style

    names: list[str] = []
    real = style.stylise
    monkeypatch.setattr(style, "stylise", lambda *a, **k: names.append(threading.current_thread().name) or real(*a, **k))
    arrays = {}
    threads = torch.get_num_threads()
    for n in (2, 1):
        torch.set_num_threads(n)
        try:
            _, record, _ = compute("t5-content-weights", tmp_path / str(n), size=48, steps=3, content_weights=[0.5, 5.0, 50.0])
        finally:
            torch.set_num_threads(threads)
        arrays[n] = [np.load(tmp_path / str(n) / "files" / name) for name in record["images"]]
        assert torch.get_num_threads() == threads  # restored
    assert len(set(names[:3])) == 2 and all(n.startswith("style") for n in names[:3])  # two workers
    assert set(names[3:]) == {threading.current_thread().name}  # one thread: the caller's
    assert all(np.array_equal(a, b) for a, b in zip(arrays[2], arrays[1], strict=True))

"""Generated text and shapes follow the data (issue 14 items 17-20, issue 16 items 3 and 8), tried
on data unlike ours: a 10-class folder of 32x32 RGB images made here, and digits."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reportgen.cache import Cache, Entry
from reportgen.config import load_config
from reportgen.errors import ReportgenError
from reportgen.presenting import present
from reportgen.registry import load_experiments
from reportgen.results import ImageGrid, Metric, Table
from reportgen.runner import Context, param_resolver, resolve_config_dataset
from tests.conftest import invoke

# The course network of the student's assignment: 390,410 parameters on 32x32x3 with 10 classes.
COURSE = ["conv32 k5 same", "pool", "conv64 k5 same", "pool", "conv128 k5 same", "pool", "fc64"]
CLASSES, PER_CLASS = 10, 8


def make_rgb_folder(root: Path) -> Path:
    """10 classes of 8 RGB 32x32 PNGs, each class tinted in one channel."""
    rng = np.random.default_rng(0)
    for c in range(CLASSES):
        folder = root / f"class{c}"
        folder.mkdir(parents=True)
        for i in range(PER_CLASS):
            pixels = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
            pixels[..., c % 3] = 25 * c
            Image.fromarray(pixels, "RGB").save(folder / f"{i}.png")
    return root


def write_project(root: Path, data: str, extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "reportgen.toml").write_text(f'dataset = "{data}"\nprofile = "quick"\nseed = 0\n{extra}')
    return root


def resolve(project: Path, *ids: str) -> tuple[dict, dict]:
    """Parameters and their origins for `ids`, as a build of `project` plans them."""
    cfg = load_config(project / "reportgen.toml")
    origins: dict[str, dict[str, str]] = {}
    params_of = param_resolver(cfg, resolve_config_dataset(cfg), load_experiments(cfg), origins)
    return {i: params_of(i) for i in ids}, origins


def in_dir(path: Path, *args: str):
    old = Path.cwd()
    os.chdir(path)
    try:
        return invoke(*args)
    finally:
        os.chdir(old)


@pytest.fixture(scope="module")
def rgb_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An RGB-folder project whose Task 1 (baseline = the course network, theory, comparison) has run."""
    root = tmp_path_factory.mktemp("rgb")
    data = make_rgb_folder(root / "data")
    project = write_project(root / "project", f"folder:{data}",
                            f'image_size = 32\nbuiltin_variants = false\n[experiments.arch-baseline]\nlayers = {COURSE!r}\n'.replace("'", '"'))  # fmt: skip
    result = in_dir(project, "run", "--task", "1")
    assert result.exit_code == 0, result.output
    return project


def latest(project: Path, exp_id: str) -> Entry:
    entry = Cache(project / ".reportgen" / "cache").latest(exp_id)
    assert entry is not None
    return entry


def tables(entry: Entry) -> list[Table]:
    return [i for i in entry.section.items if isinstance(i, Table)]


# --- 14.17 / 16.3: the theory and the per-layer table count the same network on the same input ---


def test_theory_counts_what_the_layer_table_counts_on_an_rgb_folder(rgb_project: Path) -> None:

    from reportgen.nn.spec import build_model

    baseline, theory = latest(rgb_project, "arch-baseline"), latest(rgb_project, "theory")
    layer_table = tables(baseline)[0]  # Task 1's first table
    assert layer_table.text_rows()[0][3] == "2,432" and str(layer_table.footer[3]) == "390,410"
    assert "3×32×32 input" in layer_table.caption
    assert baseline.section.metrics()["parameters"] == 390_410
    sizes, params = tables(theory)[-2:]
    assert params.text_rows()[0][1:] == ["5·5·3·32 + 32", "2,432"]
    assert str(params.footer[-1]) == "390,410" and "390,410" in params.caption and "C_in = 3" in params.caption
    assert params.rows[-1][0] == "head (10 classes)"
    assert "32×32×3 input" in sizes.caption and "RGB" in sizes.caption
    assert sizes.rows[0][2] == "32×32×32"
    torch_count = sum(p.numel() for p in build_model(COURSE, (3, 32, 32), 10).parameters())
    assert torch_count == 390_410


def test_top_level_image_size_reaches_task1_and_its_variants(tmp_path: Path) -> None:
    from reportgen.nn.spec import build_model

    data = make_rgb_folder(tmp_path / "data")
    layers = str(COURSE).replace("'", '"')
    project = write_project(tmp_path / "p28", f"folder:{data}",
                            f"image_size = 28\n[experiments.arch-baseline]\nlayers = {layers}\n"
                            f'[variants.mine]\ntitle = "Mine"\nlayers = {layers}\n')  # fmt: skip
    params, origins = resolve(project, "arch-baseline", "mine", "theory", "t2-dropout")
    for exp_id in ("arch-baseline", "mine", "t2-dropout"):
        assert params[exp_id]["image_size"] == 28
        assert origins[exp_id]["image_size"] == "config (top-level image_size)"
    assert (params["theory"]["input_size"], params["theory"]["channels"], params["theory"]["classes"]) == (28, 3, 10)
    assert sum(p.numel() for p in build_model(COURSE, (3, 28, 28), 10).parameters()) == 333_066
    # Without a top-level image_size a folder is read at its default size, and Task 1 follows it.
    project = write_project(tmp_path / "p64", f"folder:{data}")
    params, origins = resolve(project, "arch-baseline")
    assert params["arch-baseline"]["image_size"] == 64 and origins["arch-baseline"]["image_size"] == "data"


def test_digits_task1_is_raised_to_28_and_the_theory_is_single_channel(tmp_path: Path) -> None:
    project = write_project(tmp_path, "digits")
    params, origins = resolve(project, "arch-baseline", "theory", "t2-batch-norm")
    assert params["arch-baseline"]["image_size"] == 28
    assert origins["arch-baseline"]["image_size"] == "data (16 raised to 28)"
    assert (params["theory"]["input_size"], params["theory"]["channels"], params["theory"]["classes"]) == (28, 1, 10)
    assert params["t2-batch-norm"]["image_size"] == 16


def test_theory_walk_counts_input_channels() -> None:
    from reportgen.experiments.task1_architecture import theory_walk

    grey = theory_walk(COURSE, 32, 10, channels=1)
    rgb = theory_walk(COURSE, 32, 10, channels=3)
    assert grey[1][0][1:] == ["5·5·1·32 + 32", 832] and grey[2] == 388_810
    assert rgb[1][0][1:] == ["5·5·3·32 + 32", 2432] and rgb[2] == 390_410


# --- 16.3: [variants.X] takes every parameter the baseline takes; `reportgen show` ---------------


def test_variants_accept_every_baseline_parameter_checked_like_experiments(tmp_path: Path) -> None:
    table = '[variants.mine]\ntitle = "Mine"\nlayers = ["conv8", "pool", "fc16"]\n'
    project = write_project(tmp_path, "digits", table + "epochs = 2\nlr = 0.01\nimage_size = 20\n")
    params, origins = resolve(project, "mine")
    assert (params["mine"]["epochs"], params["mine"]["lr"], params["mine"]["image_size"]) == (2, 0.01, 20)
    assert origins["mine"]["lr"] == "config [variants.mine]" and origins["mine"]["train_size"] == "profile quick"
    for extra, says in [("epochz = 2\n", "[variants.mine] unknown parameter 'epochz'"),
                        ("epochs = 0\n", "[variants.mine] epochs: must be at least 1"),
                        ('lr = "fast"\n', "[variants.mine] lr: expected a number")]:  # fmt: skip
        write_project(tmp_path, "digits", table + extra)
        with pytest.raises(ReportgenError) as info:
            resolve(tmp_path, "mine")
        assert says in info.value.message and info.value.exit_code == 2


def test_show_prints_every_parameter_with_value_type_and_origin(tmp_path: Path) -> None:
    project = write_project(tmp_path, "digits", "[experiments.arch-baseline]\nepochs = 2\n")
    result = in_dir(project, "show", "theory", "arch-baseline")
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.split()) for line in result.output.splitlines()]
    assert "[experiments.theory] # task 1: Worked theory: convolution, pooling, padding, sizes, parameters" in lines
    assert "input_size = 28 # int; linked to arch-baseline.image_size" in lines
    assert "channels = 1 # int; data" in lines and "classes = 10 # int; data" in lines
    assert "epochs = 2 # int; config [experiments.arch-baseline]" in lines
    assert "lr = 0.003 # float; default" in lines and "train_size = 2000 # int; profile quick" in lines
    assert "image_size = 28 # int; data (16 raised to 28)" in lines
    everything = in_dir(project, "show")
    assert everything.exit_code == 0 and "t2-optimizers" in everything.output and "t4-" in everything.output
    wrong = in_dir(project, "show", "theroy")
    assert wrong.exit_code == 2 and "did you mean theory" in wrong.output


# --- 16.8: reportgen data -------------------------------------------------------------------


def test_data_prints_classes_counts_size_and_channels(tmp_path: Path) -> None:
    data = make_rgb_folder(tmp_path / "data")
    rgb = in_dir(write_project(tmp_path / "rgb", f"folder:{data}", "image_size = 32\n"), "data")
    assert rgb.exit_code == 0, rgb.output
    text = " ".join(rgb.output.split())
    assert "classes (10): class0, class1," in text and "train 64, test 16" in text  # a fixed 80/20 split of 80
    assert "image size: 32×32 pixels" in text and "channels: 3 (RGB)" in text
    counts = [line.split("│")[2:4] for line in rgb.output.splitlines() if line.startswith("│ class")]
    assert len(counts) == 10 and sum(int(a) + int(b) for a, b in counts) == 80
    digits = in_dir(write_project(tmp_path / "digits", "digits"), "data")
    text = " ".join(digits.output.split())
    assert "train 1,437, test 360" in text and "16×16 pixels" in text and "channels: 1 (grey)" in text


# --- 14.18 / 14.19: the filters' words and every count are what the data and the run were ------


def test_filter_words_say_what_the_filters_are() -> None:
    from reportgen.experiments.task3_present import filter_words

    rgb_kind, rgb_drawn = filter_words(3, 0.5, both=True)
    assert rgb_kind == "RGB" and "grey is zero" not in rgb_drawn and "colour" in rgb_drawn
    grey_kind, one = filter_words(1, 0.5, both=False)
    assert grey_kind == "single-channel" and "grey is zero" in one and "both snapshots" not in one
    assert "for both snapshots" in filter_words(1, 0.5, both=True)[1]
    assert filter_words(4, 0.5, both=False)[0] == "4-channel"


def _context(project: Path, exp_id: str, needs: dict[str, Entry], overrides: dict | None = None) -> Context:
    from reportgen.nn.train import Progress

    cfg = load_config(project / "reportgen.toml")
    registry = load_experiments(cfg)
    dataset = resolve_config_dataset(cfg)
    params = {**param_resolver(cfg, dataset, registry)(exp_id), **(overrides or {})}
    files = project / "scratch" / exp_id / "files"
    files.mkdir(parents=True, exist_ok=True)
    return Context(exp=registry[exp_id], params=params, seed=0, device_name="cpu", dataset=dataset,
                   files=files, progress=Progress(), needs=needs)  # fmt: skip


def test_filters_slide_on_an_rgb_model_says_rgb_and_the_images_it_trained_on(rgb_project: Path) -> None:
    baseline = latest(rgb_project, "arch-baseline")
    used = int(baseline.section.metrics()["training images"])
    assert used == 52  # 80 images: 16 held out for test, 12 drawn for validation; train_size asked for 2,000
    ctx = _context(rgb_project, "t3-filters", {"arch-baseline": baseline})
    section = present(ctx.exp.id, ctx.exp.fn(ctx), title=ctx.exp.title, params=ctx.params, files=ctx.files)
    own = [i for i in section.items if isinstance(i, ImageGrid)][0]
    assert "32 RGB 5×5 filters in conv1" in section.summary and "single-channel" not in section.summary
    assert "RGB 5×5 filters of conv1" in own.caption and "grey is zero" not in own.caption
    assert "both snapshots" not in own.caption  # one epoch: one snapshot shown
    assert f"on {used} image folder data images" in own.caption and "2,000" not in own.caption
    stem = [i for i in section.items if isinstance(i, ImageGrid)][-1]
    assert "RGB" in stem.caption and "grey is zero" not in stem.caption


def test_task2_sentences_quote_the_images_trained_on(rgb_project: Path) -> None:
    for exp_id, words in (("t2-dropout", "Trained on {n} images"), ("t2-augmentation", "on {n} training images")):
        ctx = _context(rgb_project, exp_id, {}, {"epochs": 1, "seeds": 1})
        section = present(exp_id, ctx.exp.fn(ctx), title=ctx.exp.title, params=ctx.params, files=ctx.files)
        n = len(ctx.data().train)
        assert n < ctx.params["train_size"]  # the folder gave fewer than asked for
        assert words.format(n=n) in section.summary, section.summary


# --- 14.20: key-number boxes: each measurement once ----------------------------------------------


def _runs(values: dict[str, float]):

    from reportgen.experiments._ablation_present import Runs

    def run(v: float):
        return {"val": {"acc": v}, "diverged": False}

    return [Runs({"label": label, "changes": {}, "runs": [run(v)], "train_images": 0}, {}) for label, v in values.items()]


@pytest.mark.parametrize("values", [
    {"adam": 0.9188, "sgd": 0.24, "adamw": 0.91},   # the baseline is the best
    {"adam": 0.90, "sgd": 0.93, "adamw": 0.91},     # another variant is the best
    {"adam": 0.90, "sgd": 0.90, "adamw": 0.85},     # a tie with the baseline
])  # fmt: skip
def test_headline_boxes_never_repeat_a_value_under_another_name(values: dict[str, float]) -> None:
    from reportgen.experiments._ablation_present import headline_metrics

    metrics = headline_metrics(_runs(values))
    assert [m.title for m in metrics] == [f"val accuracy, {label}" for label in values]
    boxes = [m for m in metrics if m.key]
    assert len(boxes) == 2 and boxes[0].title == "val accuracy, adam"
    assert boxes[0].text != boxes[1].text
    others = {label: v for label, v in values.items() if label != "adam" and f"{100 * v:.2f}" != f"{100 * values['adam']:.2f}"}
    assert boxes[1].title == f"val accuracy, {max(others, key=others.get)}"


def test_no_task2_slide_shows_one_value_under_two_names(built) -> None:
    from reportgen.render.html import Block, Item

    for exp in (e for e in load_experiments().values() if e.task == 2):
        section = latest(built["root"], exp.id).section
        items = [Item(r) for r in section.items]
        block = Block(exp.id, exp.title, section.summary, items, [r for r in section.items if isinstance(r, Metric)], {}, "")
        boxes = block.talk_slide().metrics
        assert len(boxes) == 2, exp.id
        assert len({m.title for m in boxes}) == len({m.text for m in boxes}) == 2, (exp.id, [(m.title, m.text) for m in boxes])


def test_a_variant_that_does_not_fit_the_chosen_size_says_where_the_size_came_from(tmp_path: Path) -> None:
    from reportgen.registry import select
    from reportgen.runner import plan, preflight

    project = write_project(tmp_path, "digits", "image_size = 16\n")
    cfg = load_config(project / "reportgen.toml")
    registry, dataset = load_experiments(cfg), resolve_config_dataset(cfg)
    items = plan(select(registry, [1]), cfg, dataset, Cache(tmp_path / "cache"), registry)
    with pytest.raises(ReportgenError) as info:
        preflight(items, dataset)
    assert "arch-more-conv" in info.value.message and "16x16" in info.value.message
    assert "reportgen show arch-more-conv" in info.value.hint and "16 came from" in info.value.hint

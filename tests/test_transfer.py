"""Transfer learning: the few-shot split, format conversion, frozen features computed once (and
equal to recomputing them), the backbone split of method 4, and Task 4 end to end on digits."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from reportgen.data.augment import AugmentSettings, make_augment
from reportgen.data.fewshot import (
    InputFormat,
    convert,
    per_class_indices,
    take_per_class,
    with_shots,
)
from reportgen.data.transfer import folder_split, transfer_data
from reportgen.data.sources import resolve_dataset
from reportgen.data.splits import Split, Splits
from reportgen.errors import ReportgenError
from reportgen.nn.frozen import (
    FrozenPart,
    compute_features,
    feature_splits,
    load_features,
    originals_only,
    save_features,
    split_sequential,
    take_rows,
)
from reportgen.nn.train import TrainSettings, fit
from tests.conftest import TASK4_SMALL, cli_process, edited_builtins


def _digits(seed: int = 0, shots: int = 5, max_shots: int = 20):
    return transfer_data(resolve_dataset("digits"), shots=shots, max_shots=max_shots, val_per_class=30,
                         test_per_class=20, seed=seed, source_sizes=(200, 50, 50))  # fmt: skip


def _rows(x: torch.Tensor) -> set[bytes]:
    return {r.numpy().tobytes() for r in x}


# --- the few-shot split --------------------------------------------------------------------


def test_source_and_target_classes_are_disjoint_and_images_never_shared():
    data = _digits()
    assert data.source.classes == ["0", "1", "2", "3", "4"] and data.target.classes == ["5", "6", "7", "8", "9"]
    assert (
        set(data.source.train.y.tolist()) == set(range(5)) == set(data.target.train.y.tolist())
    )  # both relabelled 0..4
    t = data.target
    train, val, test = _rows(t.train.x), _rows(t.val.x), _rows(t.test.x)
    source = _rows(data.source.train.x) | _rows(data.source.val.x) | _rows(data.source.test.x)
    assert len(train) == 100 and len(val) == 150 and len(test) == 100
    assert not (train & val) and not (train & test) and not (val & test) and not (source & (train | val | test))


@pytest.mark.parametrize("k", [1, 5, 20])
def test_with_shots_keeps_exactly_k_images_per_class_nested(k):
    data = _digits()
    subset = with_shots(data.target, k)
    assert torch.bincount(subset.train.y).tolist() == [k] * 5
    assert _rows(subset.train.x) <= _rows(with_shots(data.target, 20).train.x)  # nested sets
    assert subset.val is data.target.val and subset.test is data.target.test


def test_split_is_seeded_the_test_set_is_not_and_the_description_counts():
    a, b, c = _digits(0), _digits(0), _digits(1)
    assert torch.equal(a.target.train.x, b.target.train.x) and torch.equal(a.source.train.x, b.source.train.x)
    assert not torch.equal(a.target.train.x, c.target.train.x)
    assert torch.equal(a.target.test.x, c.target.test.x)  # the test set stays put whatever the seed
    assert torch.equal(a.main_target().train.x, with_shots(a.target, 5).train.x)
    text = a.description
    assert "5 training images per class (25 in all)" in text
    assert "30 validation images per class" in text and "20 test images per class" in text and "(100 in all)" in text
    assert "200 training and 50 validation images" in text and "which the source model never saw" in text


def test_asking_for_more_shots_than_a_class_has_is_a_clear_error():
    with pytest.raises(ReportgenError, match="at most .* training images per target class") as info:
        _digits(max_shots=500)
    assert info.value.exit_code == 2


def test_take_per_class_and_indices():
    split = Split(torch.arange(10.0)[:, None], torch.tensor([0, 1, 0, 1, 0, 1, 2, 2, 0, 1]))
    assert per_class_indices(split.y, 2).tolist() == [0, 1, 2, 3, 6, 7]
    assert take_per_class(split, 1).x.flatten().tolist() == [0, 1, 6]


def test_convert_grey_to_a_backbones_rgb_input_and_back():
    grey = InputFormat(1, 4, (0.5,), (0.25,))
    rgb = InputFormat(3, 8, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    x = torch.full((2, 1, 4, 4), (0.8 - 0.5) / 0.25)  # a uniform 0.8 grey in grey's normalisation
    out = convert(x, grey, rgb)
    assert out.shape == (2, 3, 8, 8)
    expected = (0.8 - torch.tensor(rgb.mean)) / torch.tensor(rgb.std)
    assert torch.allclose(out[0, :, 3, 5], expected, atol=1e-6)
    back = convert(out, rgb, grey)
    assert back.shape == (2, 1, 4, 4) and torch.allclose(back, torch.full_like(back, (0.8 - 0.5) / 0.25), atol=1e-5)


# --- frozen features -----------------------------------------------------------------------


def _tiny(seed: int = 0) -> tuple[nn.Module, nn.Module, Splits]:
    """A seeded conv body (with batch norm and dropout, which must stay in eval mode), a head, data."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    body = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Dropout(0.5)
    )
    body[1].running_mean.normal_(generator=gen)
    head = nn.Linear(16, 3)

    def split(n: int) -> Split:
        return Split(torch.randn(n, 1, 8, 8, generator=gen), torch.randint(0, 3, (n,), generator=gen))

    data = Splits(split(96), split(40), split(40), ["a", "b", "c"], [0.0], [1.0])
    return body, head, data


# float32: cached features are computed once outside training, so under bfloat16 autocast only
# the recomputing run would multiply the body in bfloat16 and the two heads would differ.
SETTINGS = TrainSettings(epochs=10, batch_size=16, lr=1e-2, memory_format="contiguous", precision="fp32")


def test_training_on_cached_features_gives_the_same_head_as_recomputing_them():
    body, head, data = _tiny()
    recompute_head = copy.deepcopy(head)
    cached_head = copy.deepcopy(head)

    features = feature_splits(body, data)
    cached = fit(cached_head, features.data, SETTINGS, seed=3)
    recomputed = fit(nn.Sequential(FrozenPart(body), recompute_head), data, SETTINGS, seed=3)

    assert not torch.allclose(cached_head.weight, head.weight)  # it did train
    assert torch.allclose(cached_head.weight, recompute_head.weight, atol=1e-5)
    assert torch.allclose(cached_head.bias, recompute_head.bias, atol=1e-5)
    assert cached.test.acc == recomputed.test.acc and cached.val.acc == recomputed.val.acc
    assert [e.val_acc for e in cached.history] == [e.val_acc for e in recomputed.history]


def test_a_frozen_part_stays_in_eval_mode_and_never_trains():
    body, head, data = _tiny()
    before = copy.deepcopy(body.state_dict())
    model = nn.Sequential(FrozenPart(body), head)
    model.train()
    assert not body.training and not body[5].training and model[1].training
    fit(model, data, SETTINGS)
    after = body.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and running stats untouched


def test_compute_features_restores_modes_and_gives_a_tensor_autograd_can_use():
    body, head, data = _tiny()
    body.train()
    out = compute_features(body, data.train.x, batch_size=7)
    assert body.training and body[1].training  # restored
    with torch.no_grad():
        expected = body.eval()(data.train.x)
    assert torch.allclose(out, expected, atol=1e-6)
    head(out).sum().backward()  # not an inference tensor: it can be saved for backward
    assert head.weight.grad is not None


def test_augmented_variants_are_computed_once_and_kept_in_order(tmp_path):
    body, _, data = _tiny()
    augment = make_augment(AugmentSettings(flip=True, translate=1), [0.0], [1.0])
    features = feature_splits(body, data, augment=augment, variants=2, seed=5, batch_size=32)
    n = len(data.train)
    assert features.originals == n and features.data.train.x.shape == (3 * n, 16)
    assert torch.equal(features.data.train.y, data.train.y.repeat(3))
    plain = compute_features(body, data.train.x)
    assert torch.allclose(features.data.train.x[:n], plain, atol=1e-6)
    assert not torch.allclose(features.data.train.x[n : 2 * n], plain)
    gen = torch.Generator().manual_seed(5)  # the same generator sequence gives the same variants
    first = torch.cat([augment(data.train.x[s : s + 32], gen) for s in range(0, n, 32)])
    assert torch.allclose(features.data.train.x[n : 2 * n], compute_features(body, first), atol=1e-6)
    assert torch.equal(originals_only(features).train.x, features.data.train.x[:n])

    keep = torch.tensor([0, 5, 9])
    subset = take_rows(features, keep)
    assert subset.originals == 3 and torch.equal(subset.data.train.x[3:6], features.data.train.x[n + keep])

    path = save_features(tmp_path / "features.pt", features)
    loaded = load_features(path)
    assert torch.equal(loaded.data.train.x, features.data.train.x) and loaded.variants == 2
    path.write_bytes(b"broken")
    with pytest.raises(ReportgenError, match="cannot be read"):
        load_features(path)


def test_split_sequential_shares_the_modules_and_composes_to_the_model():
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("conv1", nn.Conv2d(1, 2, 3))
    model.add_module("flatten", nn.Flatten())
    model.add_module("head", nn.Linear(2 * 6 * 6, 3))
    body, rest = split_sequential(model, "head")
    assert [n for n, _ in body.named_children()] == ["conv1", "flatten"] and rest.head is model.head
    x = torch.randn(2, 1, 8, 8)
    assert torch.allclose(rest(body(x)), model(x))
    with pytest.raises(ReportgenError, match="no layer 'fc9'"):
        split_sequential(model, "fc9")


def test_method_4_split_of_efficientnet_reproduces_its_features():
    from reportgen.experiments.task4_transfer import split_backbone
    from reportgen.nn.backbones import load_backbone

    backbone = load_backbone("efficientnet-lite0")
    prefix, tail, block_params = split_backbone(backbone, 3)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    tail.eval()
    with torch.no_grad():
        assert torch.allclose(tail(prefix(x)), backbone.features(x), atol=1e-4)
    trainable = {id(p) for p in tail.parameters() if p.requires_grad}
    assert trainable == {id(p) for p in block_params} and trainable
    assert not any(p.requires_grad for p in prefix.parameters())
    norms = [m for m in tail.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and not any(p.requires_grad for m in norms for p in m.parameters())


# --- a folder as the target ------------------------------------------------------------------


def _folder(root: Path, parts: tuple[str, ...], n: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for part in parts:
        for cls in ("arch", "dome", "tower"):
            folder = root / part / cls
            folder.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return root


def test_a_pre_split_folder_is_the_target_with_its_own_val_and_notes(tmp_path):
    root = _folder(tmp_path / "b", ("train", "val", "test"))
    Image.new("L", (4, 4), 9).save(root / "train" / "arch" / "small_grey.png")
    (root / "test" / "dome" / "broken.jpg").write_bytes(b"")
    info = resolve_dataset(f"folder:{root}", image_size=16)
    splits, description, notes = folder_split(info, size=16, seed=0)
    assert splits.classes == ["arch", "dome", "tower"] and splits.image_shape == (3, 16, 16)
    assert torch.bincount(splits.train.y).tolist() == [7, 6, 6] and len(splits.val) == 18 and len(splits.test) == 18
    assert "own train/, val/ and test/" in description and "19 training images (6–7 per class)" in description
    assert [Path(p).name for p in splits.skipped] == ["broken.jpg"]
    assert any("enlarged" in n for n in notes) and any("greyscale" in n for n in notes)


def test_an_unsplit_folder_holds_out_test_and_validation_per_class(tmp_path):
    root = _folder(tmp_path / "b", ("",), n=10)
    info = resolve_dataset(f"folder:{root}", image_size=8)
    splits, description, _ = folder_split(info, size=8, seed=0)
    assert torch.bincount(splits.test.y).tolist() == [2, 2, 2] and torch.bincount(splits.val.y).tolist() == [2, 2, 2]
    assert len(splits.train) == 18 and "20% of each class held out for testing" in description
    data = transfer_data(info, shots=20, max_shots=20, val_per_class=10, test_per_class=10, seed=0, folder_size=8)
    assert data.shots == 0 and data.main_target() is data.target  # a folder target uses all its images


def _classes_folder(root: Path, classes: int, n: int = 10) -> Path:
    rng = np.random.default_rng(1)
    for c in range(classes):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / f"c{c}" / f"{i}.png")
    return root


def test_a_folder_of_enough_classes_is_its_own_source_task_by_default(tmp_path):
    """Issue 16 item 4: source = "auto" splits a folder's classes as the embedded data's are; the
    target classes are the other half, normalised with the source's statistics."""
    info = resolve_dataset(f"folder:{_classes_folder(tmp_path / 'f', 6)}", image_size=8)
    data = transfer_data(info, shots=20, max_shots=20, val_per_class=10, test_per_class=10, seed=0,
                         source_sizes=(1000, 1000, 1000), folder_size=8)  # fmt: skip
    assert data.source.classes == ["c0", "c1", "c2"] and data.target.classes == ["c3", "c4", "c5"]
    assert len(data.source.train) + len(data.source.val) + len(data.source.test) == 30
    assert data.target.mean == data.source.mean
    assert "split by class" in data.description and "never saw" in data.description
    embedded = transfer_data(info, shots=20, max_shots=20, val_per_class=10, test_per_class=10, seed=0,
                             source_sizes=(50, 10, 10), folder_size=8, source="embedded")  # fmt: skip
    assert embedded.target.classes == [f"c{c}" for c in range(6)]
    assert embedded.source.classes != data.source.classes  # the built-in dataset's classes


def test_a_folder_of_few_classes_pre_trains_on_the_built_in_data_and_says_so(tmp_path):
    info = resolve_dataset(f"folder:{_classes_folder(tmp_path / 'f', 3)}", image_size=8)
    data = transfer_data(info, shots=20, max_shots=20, val_per_class=10, test_per_class=10, seed=0,
                         source_sizes=(50, 10, 10), folder_size=8)  # fmt: skip
    assert data.target.classes == ["c0", "c1", "c2"]
    assert any("too few to split by class" in n for n in data.notes)
    with pytest.raises(ReportgenError, match="a split by class needs at least 4"):
        transfer_data(info, shots=20, max_shots=20, val_per_class=10, test_per_class=10, seed=0, folder_size=8,
                      source="folder")  # fmt: skip
    with pytest.raises(ReportgenError, match="splits an image folder's classes"):
        transfer_data(resolve_dataset("digits"), shots=5, max_shots=5, val_per_class=5, test_per_class=5, seed=0,
                      source="folder")  # fmt: skip


def test_switching_off_a_method_drops_it_from_the_comparison(tmp_path):
    """`[experiments.t4-own-model] enabled = false`: no pre-training at all, the comparison reads the rest."""
    from reportgen.config import load_config
    from reportgen.registry import load_experiments

    (tmp_path / "reportgen.toml").write_text('dataset = "digits"\n[experiments.t4-own-model]\nenabled = false\n')
    registry = load_experiments(load_config(tmp_path / "reportgen.toml"))
    assert "t4-own-model" not in registry
    assert registry["t4-comparison"].needs == ("t4-scratch", "t4-backbone")


# --- Task 4 end to end ---------------------------------------------------------------------

SMALL = TASK4_SMALL  # small Task 4 settings, shared with the session's all-task build



@pytest.fixture(scope="module")
def task4(all_tasks: Path) -> Path:
    """Task 4 run through the CLI on digits with small settings (a 32-pixel backbone input): the
    session's all-task build (tests/conftest.py), which runs Task 4 with exactly these settings."""
    return all_tasks


def _result(root: Path, exp_id: str) -> tuple[Any, Path]:
    """The stored entry of `exp_id` as readers see it (its record presented) and its files folder."""
    from reportgen.cache import Entry, load_result
    from reportgen.registry import load_experiments

    load_experiments()  # registers the presenters
    [path] = [p for p in (root / ".reportgen" / "cache" / exp_id).iterdir() if (p / "result.json").exists()]
    inputs = json.loads((path / "inputs.json").read_text())
    entry = Entry(path, path.name, load_result(json.loads((path / "result.json").read_text())), inputs, {})
    return entry, entry.files


def _record(root: Path, exp_id: str) -> dict:
    entry, _ = _result(root, exp_id)
    assert entry.record is not None, f"{exp_id} stores a Section, not a record"
    return entry.record.data


def test_task4_compares_every_method_in_one_table(task4):
    entry, _ = _result(task4, "t4-comparison")
    section = entry.section
    items = {item.title: item for item in section.items}
    table = items["Transfer learning: methods compared"]
    assert table.key and table.highlight == [0]
    assert [r[0] for r in table.rows] == [
        "baseline CNN from scratch",
        "own model, frozen body + new head",
        "own model, fine-tuned",
        "EfficientNet-Lite0 features + linear classifier",
        "EfficientNet-Lite0, last 2 blocks fine-tuned",
    ]
    assert table.rows[3][1] == "6,405 / 3,377,413"  # a 1280 x 5 classifier on the frozen backbone
    own = _record(task4, "t4-own-model")["methods"]
    compared = _record(task4, "t4-comparison")["methods"]
    assert compared["own-frozen"] == own["own-frozen"]  # the comparison's numbers are the methods' own
    assert [cell.number for cell in table.rows[1][3:6]] == [own["own-frozen"][f"{s}_accuracy"] for s in ("train", "val", "test")]
    from reportgen.experiments.task1_architecture import BASELINE
    from reportgen.nn.spec import build_model

    baseline = sum(p.numel() for p in build_model(BASELINE, (1, 16, 16), 5).parameters())
    assert table.rows[1][1] == f"645 / {baseline:,}"  # only the new 128 x 5 + 5 layer trains
    tuned = _record(task4, "t4-backbone")["methods"]["backbone-tuned"]
    assert 6_405 < tuned["trainable"] < tuned["total"] == 3_377_413

    curves = items["Accuracy per epoch, every method"]
    assert len(curves.series) == 10 and set(curves.roles.values()) == {"train", "validation"}
    assert len(set(curves.groups.values())) == 5
    assert any("which the source model never saw" in getattr(item, "body", "") for item in section.items)


def test_task4_margin_at_the_fewest_images_comes_from_paired_draws(task4):
    from reportgen.values import POINTS, Value, show

    section = _result(task4, "t4-comparison")[0].section
    items = {item.title: item for item in section.items}
    scratch = _record(task4, "t4-scratch")["methods"]["scratch"]["shots"]
    frozen = _record(task4, "t4-backbone")["methods"]["backbone-frozen"]["shots"]
    assert [row["k"] for row in scratch] == [row["k"] for row in frozen] == [3, 10]
    assert len(scratch[0]["test_accuracy"]) == 2 and len(scratch[1]["test_accuracy"]) == 1  # 2 draws below the pool
    ours, theirs = np.array(frozen[0]["test_accuracy"]), np.array(scratch[0]["test_accuracy"])
    margin = items["ImageNet features over from-scratch at 3 images per class"]
    assert margin.key and margin.value == pytest.approx(ours.mean() - theirs.mean())
    assert margin.name == "margin at the fewest images per class"
    wins = int((ours > theirs).sum())
    assert f"{show(Value(margin.value, POINTS))} (mean of 2 draws of 3 images per class" in section.summary
    assert f"ahead in {wins} of them" in section.summary
    shots = items["Test accuracy against training images per class"]
    assert shots.key and shots.x == [3.0, 10.0] and len(shots.series) == 2
    assert shots.series["baseline CNN from scratch"] == pytest.approx([theirs.mean(), scratch[1]["test_accuracy"][0]])


def test_task4_shows_the_best_methods_confusion_and_mistakes(task4):
    from reportgen.experiments.task4_present import method_label

    entry, files = _result(task4, "t4-comparison")
    section, record = entry.section, entry.record.data
    methods = {}
    for exp_id in ("t4-scratch", "t4-own-model", "t4-backbone"):
        methods.update(_record(task4, exp_id)["methods"])
    best = max(methods, key=lambda m: (methods[m]["val_accuracy"], methods[m]["test_accuracy"]))
    assert record["best"] == best
    heat = next(item for item in section.items if item.kind == "heatmap")
    assert heat.title == f"Confusion matrix: {method_label(best, blocks=2)}" and heat.row_labels == ["5", "6", "7", "8", "9"]
    values = np.array(heat.values)
    assert values.sum() == 100 and np.trace(values) == pytest.approx(methods[best]["test_accuracy"], abs=0.01)
    grid = next((item for item in section.items if item.kind == "image_grid"), None)
    mistakes = 100 - int(np.trace(values))
    assert (grid is None) == (mistakes == 0)
    if grid is not None:
        assert len(grid.images) == min(mistakes, 12)
        assert all(np.load(files / name).shape == (16, 16) for name in grid.images)
        assert all(label.startswith("true: ") and "\npredicted: " in label for label in grid.labels)


def test_task4_keeps_frozen_features_and_stores_each_variant_once(task4):
    entry, files = _result(task4, "t4-backbone")
    features = load_features(files / "features.pt")
    # 10 images per class for the curve's pool, 20 validation and 20 test images per class
    assert (
        features.data.train.x.shape == (50, 1280) and len(features.data.val) == 100 and len(features.data.test) == 100
    )
    assert features.variants == 0  # method 3 trains on features of the images themselves
    summary = entry.section.summary
    assert "the last 2 blocks" in summary and "1 augmented variant of each training image" in summary
    assert "each epoch seeing every version (2 in all)" in summary


def test_task4_stores_numbers_only_and_every_live_metric_is_a_record_field(task4):
    """Converted experiments store records: no formatted number, no title, no caption; every
    metric readers see names a field of the record's metrics and shows its number."""
    for exp_id in ("t4-scratch", "t4-own-model", "t4-backbone", "t4-comparison"):
        entry, _ = _result(task4, exp_id)
        stored = (entry.path / "result.json").read_text()
        assert '"kind": "record"' in stored and "caption" not in stored and "title" not in stored
        metrics = [item for item in entry.section.items if item.kind == "metric"]
        assert metrics and all(m.style is not None for m in metrics)
        for metric in metrics:
            assert entry.record.metrics[metric.name] == pytest.approx(metric.value), (exp_id, metric.title)


def _copy_project(task4: Path, tmp_path: Path) -> Path:
    import shutil

    project = tmp_path / "project"
    shutil.copytree(task4, project, ignore=shutil.ignore_patterns("output"))
    return project


def test_editing_a_caption_a_sentence_and_a_format_re_renders_and_re_trains_nothing(task4, tmp_path):
    """Issue 15: the presenter is not part of the cache key. A copy of the built-in experiments
    with Task 4's caption, sentence and number format edited leaves every result cached, and
    `render` shows the new text."""
    project = _copy_project(task4, tmp_path)
    builtins = edited_builtins(tmp_path, "task4_present.py", {
        '"Dashed: training accuracy (running mean over an epoch); solid: validation. One colour per method."':
            '"Dashed lines train, solid lines validate (an edited caption)."',
        'f"The best on validation was {best} (': 'f"On validation the winner was {best} (',
        'ACCURACY = PERCENT.but(unit="")': 'ACCURACY = PERCENT.but(unit="", decimals=3)',
    })  # fmt: skip

    listed = cli_process(project, "list", builtins=builtins)
    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if " t4-" in line]
    assert len(rows) == 4 and all("cached" in row for row in rows), listed.stdout
    rendered = cli_process(project, "render", "--task", "4", "--format", "html", builtins=builtins)
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    html = (project / "output" / "report.html").read_text()
    test = _record(task4, "t4-scratch")["methods"]["scratch"]["test_accuracy"]
    assert "an edited caption" in html and "On validation the winner was" in html
    assert f"<td>{test:.3f}</td>" in html  # the new number format, from the stored number


def test_verify_names_a_changed_confusion_matrix_cell_and_image_value(task4, tmp_path):
    """Issue 15: verify compares every stored number, matrices and image arrays included."""
    project = _copy_project(task4, tmp_path)
    [entry] = [p for p in (project / ".reportgen" / "cache" / "t4-comparison").iterdir() if (p / "result.json").exists()]
    stored = json.loads((entry / "result.json").read_text())
    stored["data"]["confusion"][1][2] += 1
    (entry / "result.json").write_text(json.dumps(stored))
    image = stored["data"]["mistakes"]["images"][0]  # the small Task 4 models always make mistakes
    pixels = np.load(entry / "files" / image)
    pixels[3, 4] += 0.5
    np.save(entry / "files" / image, pixels)

    result = cli_process(project, "verify", "--experiment", "t4-comparison")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "record confusion[1][2]" in output
    assert f"array files/{image} [3, 4]: stored {pixels[3, 4]:g}" in output and "(1 of 256 values differ)" in output

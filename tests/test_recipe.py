"""The default training recipe (stated where its curves are shown), each optimiser at a learning
rate that suits it, and a diverged run marked as such and never ranked as a result."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from benchmarks.time_to_accuracy import first_reached, summary
from reportgen.experiments.task2_training import OPTIMIZER_LRS, optimizer_variant
from reportgen.cache import Cache
from reportgen.data.sources import resolve_dataset
from reportgen.data.splits import Splits, make_splits
from reportgen.nn.spec import build_model
from reportgen.nn.train import Progress, TrainSettings, evaluate, fit
from reportgen.params import check_all
from reportgen.presenting import present
from reportgen.registry import load_experiments
from reportgen.results import Metric, Table
from reportgen.runner import Context

DIGITS = resolve_dataset("digits")
REGISTRY = load_experiments()


@pytest.fixture(scope="module")
def data() -> Splits:
    return make_splits(DIGITS, train_size=600, val_size=200, test_size=300, seed=0, image_size=16)


def _model(data: Splits):
    torch.manual_seed(0)
    return build_model(["conv8 same", "pool", "fc32"], data.image_shape, 10)


def test_a_huge_learning_rate_diverges_and_training_stops_there(data):
    result = fit(_model(data), data, TrainSettings(epochs=5, optimizer="sgd", lr=1e6, momentum=0.9))
    assert result.diverged
    assert math.isfinite(result.initial_loss) and 1.5 < result.initial_loss < 3.5  # about ln(10) at the start
    losses = [e.train_loss for e in result.history]
    assert not math.isfinite(losses[-1]) or losses[-1] > result.initial_loss
    if not math.isfinite(losses[-1]):
        assert len(losses) < 5 and result.stopped_early  # NaN weights cannot recover: no more epochs


def test_a_sound_run_is_not_diverged_and_its_last_validation_is_reused(data):
    model = _model(data)
    result = fit(model, data, TrainSettings(epochs=2, lr=3e-3, schedule="onecycle", label_smoothing=0.1))
    assert not result.diverged and result.history[-1].train_loss < result.initial_loss
    last = result.history[-1]
    assert (result.val.loss, result.val.acc) == (last.val_loss, last.val_acc)
    again = evaluate(model, data.val)
    assert again.acc == result.val.acc and again.loss == pytest.approx(result.val.loss, rel=1e-6)


@pytest.mark.parametrize("optimizer, momentum", [("adadelta", 0.9), ("sgd", 0.0), ("sgd", 0.9), ("rmsprop", 0.0)])
def test_one_cycle_works_with_every_optimiser_and_adds_no_momentum(data, optimizer, momentum):
    from reportgen.nn.train import _optimizer, _scheduler

    settings = TrainSettings(epochs=2, optimizer=optimizer, lr=0.01, momentum=momentum, schedule="onecycle")
    opt = _optimizer(_model(data), settings)
    _scheduler(opt, settings, steps_per_epoch=5)  # Adadelta has no momentum: torch refused before
    if optimizer == "sgd":
        assert opt.param_groups[0]["momentum"] == pytest.approx(0.95 if momentum else 0.0)


def test_each_optimiser_gets_its_own_learning_rate_and_name_at_lr_overrides():
    assert optimizer_variant("adam", 3e-3).changes["lr"] == 3e-3  # Adam follows the shared setting
    assert optimizer_variant("sgd", 3e-3).changes["lr"] == OPTIMIZER_LRS["sgd"] == 0.05
    assert optimizer_variant("adadelta", 3e-3).changes["lr"] == 1.0
    nesterov = optimizer_variant("sgd-nesterov@0.02", 3e-3)
    assert nesterov.label == "sgd-nesterov" and nesterov.changes == {"optimizer": "sgd", "lr": 0.02, "nesterov": True}
    assert check_all({"optimizers": ["adam", "sgd@0.02"]}) == ""
    for bad in ("sgd@-1", "sgd@fast", "lamb"):
        assert check_all({"optimizers": ["adam", bad]}).startswith("optimizers: must be"), bad


def test_a_diverged_optimiser_is_marked_and_never_ranked(tmp_path: Path):
    exp = REGISTRY["t2-optimizers"]
    params = exp.resolve("quick", {"optimizers": ["adam", "sgd@1000000"], "train_size": 300, "val_size": 100,
                                   "test_size": 100, "epochs": 2})  # fmt: skip
    ctx = Context(exp=exp, params=params, seed=0, device_name="cpu", dataset=DIGITS, files=tmp_path / "files",
                  progress=Progress())  # fmt: skip
    ctx.files.mkdir(parents=True)
    section = present(exp.id, exp.fn(ctx), title=exp.title, params=ctx.params, files=ctx.files)
    table = next(i for i in section.items if isinstance(i, Table))
    assert [row[0] for row in table.rows] == ["adam", "sgd (diverged)"]
    assert "sgd (diverged) diverged" not in table.caption and "sgd diverged (training loss NaN or above" in table.caption
    assert "Each optimiser at a peak learning rate that suits it: adam 0.003, sgd 1e+06." in table.caption
    assert section.summary.startswith("adam reached the best validation accuracy")
    assert "sgd diverged (training loss" in section.summary and "not compared" in section.summary
    boxes = [i.title for i in section.items if isinstance(i, Metric) and i.key]
    assert boxes == ["val accuracy, adam"]  # the diverged run is never a key number


def test_the_default_recipe_is_stated_in_the_captions(built):
    cache = Cache(built["root"] / ".reportgen" / "cache")
    baseline = cache.latest("arch-baseline")
    assert baseline.inputs["params"]["schedule"] == "onecycle" and baseline.inputs["params"]["label_smoothing"] == 0.1
    curves = next(i for i in baseline.section.items if i.kind == "curves")
    assert "one-cycle schedule (warm-up over the first 30% of steps to lr 0.003" in curves.caption
    assert "label smoothing 0.1" in curves.caption
    comparison = cache.latest("arch-comparison").section
    assert "Every variant was trained with Adam with a one-cycle schedule" in comparison.items[0].caption
    for exp_id in ("t2-batch-size", "t2-l2"):
        section = cache.latest(exp_id).section
        captions = [i.caption for i in section.items if i.kind in ("curves", "table")]
        assert captions and all("Baseline trained with Adam with a one-cycle schedule" in c for c in captions)


def test_time_to_accuracy_reads_the_first_epoch_at_the_target():
    curve = [(10.0, 0.85), (20.0, 0.881), (30.0, 0.879), (40.0, 0.905)]
    assert first_reached(curve, 0.88) == 20.0 and first_reached(curve, 0.90) == 40.0
    assert first_reached(curve, 0.95) is None
    out = summary({"curve": curve, "threads": 2}, budget=3)
    assert out["seconds_to"] == {"88%": 20.0, "90%": 40.0}
    assert out["accuracy_in_budget"] == 88.1  # the best of the first three epochs, not the fourth

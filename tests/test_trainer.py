"""The Trainer learns, reports honest numbers, and the stored model is the one the history describes."""

import pytest
import torch

from reportgen.data.sources import resolve_dataset
from reportgen.data.splits import Split, Splits, make_splits
from reportgen.nn.spec import build_model
from reportgen.nn.train import OPTIMIZERS, SCHEDULES, TrainSettings, evaluate, fit

DIGITS = resolve_dataset("digits")


@pytest.fixture(scope="module")
def data() -> Splits:
    return make_splits(DIGITS, train_size=600, val_size=200, test_size=300, seed=0, image_size=16)


def test_one_batch_overfits_to_full_accuracy(data):
    one = Split(data.train.x[:32], data.train.y[:32])
    tiny = Splits(one, one, one, data.classes, data.mean, data.std)
    torch.manual_seed(0)
    model = build_model(["conv16 same", "pool", "fc64"], tiny.image_shape, 10)
    result = fit(model, tiny, TrainSettings(epochs=60, batch_size=32, lr=3e-3))
    assert result.train.acc == 1.0
    assert result.history[-1].train_loss < 0.05


def test_last_validation_accuracy_equals_evaluating_the_stored_model(data):
    torch.manual_seed(0)
    model = build_model(["conv8 same", "pool", "fc32"], data.image_shape, 10)
    result = fit(model, data, TrainSettings(epochs=3, batch_size=64))
    fresh = build_model(["conv8 same", "pool", "fc32"], data.image_shape, 10)
    fresh.load_state_dict(result.state_dict)
    fresh.to(memory_format=torch.contiguous_format)
    assert evaluate(fresh, data.val).acc == pytest.approx(result.history[-1].val_acc)
    assert result.val.acc == pytest.approx(result.history[-1].val_acc)
    assert len(result.history) == 3 and all(e.seconds > 0 for e in result.history)
    assert result.memory_format in ("channels_last", "contiguous")


def test_training_is_reproducible_for_a_seed(data):
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_model(["conv8 same", "pool", "fc32"], data.image_shape, 10)
        runs.append(fit(model, data, TrainSettings(epochs=1, memory_format="contiguous"), seed=5))
    assert runs[0].history[0].val_acc == runs[1].history[0].val_acc
    assert runs[0].test.loss == pytest.approx(runs[1].test.loss)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_learns(data, optimizer):
    lr = {"sgd": 0.05, "adadelta": 1.0}.get(optimizer, 1e-3)
    torch.manual_seed(0)
    model = build_model(["conv8 same", "pool", "fc32"], data.image_shape, 10)
    result = fit(model, data, TrainSettings(epochs=2, optimizer=optimizer, lr=lr, momentum=0.9))
    assert result.val.acc > 0.3  # chance is 0.1


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_schedules_change_the_learning_rate_as_documented(data, schedule):
    torch.manual_seed(0)
    model = build_model(["conv8 same", "pool", "fc32"], data.image_shape, 10)
    result = fit(model, data, TrainSettings(epochs=4, schedule=schedule, lr=1e-3))
    lrs = [e.lr for e in result.history]
    if schedule == "constant":
        assert lrs == [1e-3] * 4
    elif schedule == "step":
        assert lrs[0] == 1e-3 and lrs[-1] < 1e-3
    elif schedule == "onecycle":
        assert lrs[0] < 1e-3  # warms up from max_lr / 25
    else:
        assert all(lr <= 1e-3 for lr in lrs)


def test_early_stopping_restores_the_best_epoch(data):
    torch.manual_seed(0)
    model = build_model(["conv8 same", "pool", "fc32"], data.image_shape, 10)
    result = fit(model, data, TrainSettings(epochs=30, lr=0.5, optimizer="sgd", patience=2))
    best = max(e.val_acc for e in result.history)
    assert result.val.acc == pytest.approx(best)
    assert result.stopped_early == (len(result.history) < 30)


def test_bf16_training_multiplies_in_bfloat16_and_keeps_float32_weights(data):
    """bf16 autocast: the convolution's output is bfloat16 during training, the weights, their
    gradients and the scores stay float32, and the model learns as well as in float32."""
    seen: list[torch.dtype] = []
    results = {}
    for precision in ("bf16", "fp32"):
        torch.manual_seed(0)
        model = build_model(["conv16 same", "pool", "fc64"], data.image_shape, 10)
        hook = model[0].register_forward_hook(lambda m, i, out: seen.append(out.dtype) if m.training else None)
        results[precision] = fit(model, data, TrainSettings(epochs=3, lr=3e-3, precision=precision), seed=0)
        hook.remove()
        assert all(p.dtype == torch.float32 for p in model.parameters())
        assert results[precision].precision == precision
        assert results[precision].to_dict()["precision"] == precision
        assert set(seen) == {torch.bfloat16 if precision == "bf16" else torch.float32}
        seen.clear()
    assert results["bf16"].val.acc > 0.8
    assert abs(results["bf16"].test.acc - results["fp32"].test.acc) < 0.05


def test_precision_is_a_fixed_rule_per_device():
    """auto never measures: bf16 exactly where the CPU multiplies bfloat16 natively."""
    from reportgen.nn.runtime import precision_for

    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert precision_for("cpu") == ("bf16" if native else "fp32")
    assert precision_for("mps") == "fp32"
    from reportgen.params import check_all

    assert check_all({"precision": "bf16"}) == "" and check_all({"precision": "fp16"}).startswith("precision: must be one of auto")
    if not torch.cuda.is_available():
        assert precision_for("cuda") == "fp32"

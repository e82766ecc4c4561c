"""Every registered architecture: the layer table's counts equal torch's, shapes are real."""

import pytest
import torch

from reportgen.errors import ReportgenError
from reportgen.nn.spec import build_model, conv_layers
from reportgen.nn.summary import summarize
from reportgen.registry import load_experiments

ARCHITECTURES = {
    exp_id: exp.params["layers"]
    for exp_id, exp in load_experiments().items()
    if isinstance(exp.params.get("layers"), list)
}


@pytest.mark.parametrize("exp_id", sorted(ARCHITECTURES))
def test_summary_counts_equal_torch(exp_id):
    model = build_model(ARCHITECTURES[exp_id], (1, 28, 28), 10)
    summary = summarize(model, (1, 28, 28))
    assert summary.total_params == sum(p.numel() for p in model.parameters())
    modules = dict(model.named_modules())
    for row in summary.rows:
        assert row.params == sum(p.numel() for p in modules[row.name].parameters())
        assert row.memory_kb == pytest.approx(row.params * 4 / 1024)
    assert summary.rows[-1].output_shape == (10,)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_baseline_is_the_keras_mnist_cnn():
    model = build_model(ARCHITECTURES["arch-baseline"], (1, 28, 28), 10)
    # conv 320 + conv 18,496 + dense 9216*128+128 + head 1,290 (Keras' mnist_cnn: 1,199,882)
    assert sum(p.numel() for p in model.parameters()) == 1_199_882
    assert conv_layers(model) == ["conv1", "conv2"]


def test_summary_restores_train_mode():
    model = build_model(["conv8", "dropout0.5", "fc16"], (1, 12, 12), 3).train()
    summarize(model, (1, 12, 12))
    assert model.training


@pytest.mark.parametrize("layers,message", [
    (["conv"], "number of filters"),
    (["blob3"], "unknown layer"),
    (["fc10", "conv8"], "cannot follow"),
    (["conv8", "pool", "pool", "pool", "pool", "pool"], "do not fit"),
])
def test_bad_layer_specs_are_clear_errors(layers, message):
    with pytest.raises(ReportgenError, match=message):
        build_model(layers, (1, 28, 28), 10)

"""Task 1: CNN architecture variants (per-layer tables, cost against accuracy) and worked theory.

This module computes: each experiment returns a Record of what it measured (parameter counts,
per-layer rows, accuracies, seconds, curves). What readers see (titles, captions, sentences,
tables) is built from the records at render time by `task1_present`, which this module never
imports: editing a caption re-trains nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from reportgen import theory
from reportgen.errors import ReportgenError
from reportgen.params import RECIPE, at_least
from reportgen.records import Record
from reportgen.registry import experiment, from_data, linked, per_profile

TRAINING = {
    "train_size": per_profile(quick=2000, standard=30000, full=55000),
    "val_size": per_profile(quick=500, standard=2000, full=5000),
    "test_size": per_profile(quick=1000, standard=10000, full=10000),
    "epochs": per_profile(quick=1, standard=3, full=12),
    "batch_size": 128,
    **RECIPE,  # the course prescribes the network, not how to train it
    # The data's own size (or the top-level image_size); digits' 16 pixels are raised to 28,
    # the smallest size every built-in variant fits.
    "image_size": from_data("image_size", at_least=28),
}
ARCHITECTURE_TAG = "architecture"  # experiments with this tag join the comparison
ACTIVATION_TYPES = {"relu", "elu", "leakyrelu", "gelu", "tanh", "sigmoid"}
BASELINE = ["conv32", "conv64", "pool", "dropout0.25", "fc128", "dropout0.5"]
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "arch-baseline": ("Baseline CNN (2 conv + pool + FC)", BASELINE),
    "arch-one-conv": (
        "One conv layer removed",
        ["conv32", "pool", "dropout0.25", "fc128", "dropout0.5"],
    ),
    "arch-more-conv": (
        "Three conv layers added",
        ["conv32", "conv64", "pool", "conv64", "conv64", "conv64", "dropout0.25", "fc128", "dropout0.5"],
    ),
    "arch-fc1024": (
        "A 1024-unit FC layer added",
        ["conv32", "conv64", "pool", "dropout0.25", "fc1024", "dropout0.5", "fc128", "dropout0.5"],
    ),
    "arch-deeper": (
        "Deeper: 6 conv layers with batch norm",
        ["conv32 same bn", "conv32 same bn", "pool", "conv64 same bn", "conv64 same bn", "pool",
         "conv128 same bn", "conv128 same bn", "pool", "dropout0.25", "fc128", "dropout0.5"],
    ),
    "arch-wider": (
        "Wider: 64-128-256 filters, 3×3",
        ["conv64 same", "pool", "conv128 same", "pool", "conv256 same", "pool", "dropout0.25", "fc128", "dropout0.5"],
    ),
}  # fmt: skip


def inference_ms(model, image_shape: tuple[int, ...], batch: int, repeats: int = 5) -> float:
    """Median milliseconds per image for a forward pass of `batch` images (eval, no autograd)."""
    import statistics
    import time

    import torch

    x = torch.zeros(batch, *image_shape)
    model.eval()
    times = []
    with torch.inference_mode():
        model(x)  # warm-up: kernel selection and allocation are not inference
        for _ in range(repeats):
            started = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - started) / batch)
    return 1000 * statistics.median(times)


# The presenter of every architecture variant's record, whatever its id (config variants too).
VARIANT_PRESENTER = "arch-variant"


def train_variant(ctx) -> Record:
    """Trains one variant; records its per-layer summary, curves and cost/accuracy numbers, and
    stores its weights (files/model.pt) and first-layer filters after the first and last epoch."""
    import numpy as np

    from reportgen.nn.checkpoint import save_checkpoint
    from reportgen.nn.spec import build_model, conv_layers
    from reportgen.nn.summary import summarize
    from reportgen.nn.train import Snapshot, TrainSettings, fit

    data = ctx.data(image_size=ctx.params["image_size"])
    model = build_model(ctx.params["layers"], data.image_shape, data.num_classes)
    summary = summarize(model, data.image_shape)
    first_conv = conv_layers(model)[:1]
    snapshot = Snapshot(f"{first_conv[0]}.weight", epochs=(1, -1)) if first_conv else None
    result = fit(
        model, data, TrainSettings.from_params(ctx.params),
        seed=ctx.seed, device=ctx.device, progress=ctx.progress, label=ctx.exp.id,
        callbacks=[snapshot] if snapshot else [],
    )  # fmt: skip
    model.cpu()
    save_checkpoint(ctx.files / "model.pt", model, layers=ctx.params["layers"], in_shape=data.image_shape,
                    classes=data.classes, mean=data.mean, std=data.std)  # fmt: skip
    if snapshot:
        first, last = min(snapshot.taken), max(snapshot.taken)
        np.save(ctx.files / "conv1_epoch_first.npy", snapshot.taken[first].numpy())
        np.save(ctx.files / "conv1_epoch_last.npy", snapshot.taken[last].numpy())
    params = summary.total_params
    test_acc = 100 * result.test.acc
    # Activations are folded into the layer before them, as Keras summaries do; they hold no weights.
    layers = [
        {"name": row.name, "type": row.type, "output": list(row.output_shape), "params": int(row.params),
         "macs": int(row.macs), "memory_kb": float(row.memory_kb)}
        for row in summary.rows
        if row.type.lower() not in ACTIVATION_TYPES
    ]  # fmt: skip
    return Record({
        "presenter": VARIANT_PRESENTER,
        "input_shape": list(data.image_shape),
        "layers": layers,
        "total": {"params": int(params), "trainable": int(summary.trainable_params),
                  "macs": int(summary.total_macs), "memory_kb": float(summary.total_memory_kb)},
        "epochs": len(result.history),
        "history": {"train": [100 * a for a in result.series("train_acc")],
                    "validation": [100 * a for a in result.series("val_acc")]},
        "metrics": {
            "parameters": int(params),
            "test accuracy": test_acc,
            "epoch time": float(result.epoch_seconds),
            "accuracy per 100K parameters": test_acc / (params / 1e5),
            "multiply-adds": summary.total_macs / 1e6,
            "inference time, batch 1": inference_ms(model, data.image_shape, 1),
            "inference time, batch 128": inference_ms(model, data.image_shape, 128),
            "trainable parameters": int(summary.trainable_params),
            "non-trainable parameters": int(params - summary.trainable_params),
            "train accuracy": 100 * result.train.acc,
            # What the data gave (a small folder gives fewer than train_size): captions quote this.
            "training images": len(data.train),
        },
    })  # fmt: skip


def register_variant(exp_id: str, title: str, layers: list[str], in_talk: bool = False) -> None:
    """A Task 1 architecture variant: trained like the baseline, compared with the others."""
    experiment(task=1, id=exp_id, title=title, params={**TRAINING, "layers": layers},
               tags=(ARCHITECTURE_TAG,), in_talk=in_talk)(train_variant)  # fmt: skip


for _id, (_title, _layers) in VARIANTS.items():
    register_variant(_id, _title, _layers, in_talk=_id == "arch-baseline")


def from_config(config, registry: dict) -> dict:
    """Adds the variants defined in reportgen.toml ([variants.ID] title, layers and any parameter
    the baseline takes, checked like [experiments.ID]); with builtin_variants = false, drops ours
    (the baseline stays: everything is compared with it)."""
    from reportgen.registry import Experiment

    registry = dict(registry)
    if not config.builtin_variants:
        for exp_id in VARIANTS:
            if exp_id != "arch-baseline":
                registry.pop(exp_id, None)
    template: Experiment = registry["arch-baseline"]
    for index, (exp_id, variant) in enumerate(config.variants.items()):
        if exp_id in registry and exp_id not in VARIANTS:
            raise ReportgenError(f"{config.source.name}: [variants.{exp_id}] has the id of another experiment", "choose another name", 2)
        registry[exp_id] = dataclasses.replace(
            template, id=exp_id, title=variant.title, params={**TRAINING, "layers": list(variant.layers)},
            in_talk=False, order=registry["arch-comparison"].order - 0.5 + index * 1e-3,
            preset=variant.parameters(), preset_table=f"variants.{exp_id}",
        )  # fmt: skip
    return registry


@experiment(task=1, id="arch-comparison", title="Architectures compared", needs=(f"tag:{ARCHITECTURE_TAG}",))
def compare(ctx) -> Record:
    """Every variant's cost and accuracy numbers side by side, the baseline first; the variants'
    titles and training settings as this build names them."""
    ids = list(ctx.needs)
    if "arch-baseline" not in ids:
        raise ReportgenError("the comparison needs the baseline 'arch-baseline'")
    ids.remove("arch-baseline")
    ids.insert(0, "arch-baseline")
    variants = []
    for exp_id in ids:
        metrics = _metrics(ctx.needed(exp_id))
        lacking = [name for name in ("parameters", "test accuracy") if name not in metrics]
        if lacking:
            raise ReportgenError(f"experiment '{exp_id}' is tagged '{ARCHITECTURE_TAG}' but has no metric '{lacking[0]}'",
                                 "return at least the metrics 'parameters' and 'test accuracy'")  # fmt: skip
        metrics.setdefault("accuracy per 100K parameters", metrics["test accuracy"] / (metrics["parameters"] / 1e5))
        variants.append({"id": exp_id, "title": _title(ctx, exp_id), "metrics": metrics})
    keys = ("optimizer", "lr", "schedule", "label_smoothing", "weight_decay", "batch_size", "momentum")
    settings = [{k: ctx.needs[i].inputs.get("params", {}).get(k) for k in keys} for i in ids]
    return Record({
        "variants": variants,
        "recipe": settings[0] if all(s == settings[0] for s in settings) else None,  # None: they differ
    })


def _metrics(result: Any) -> dict[str, float]:
    """The numbers of a compared result: a record's metrics, or a project experiment's Section's."""
    return dict(result.metrics) if isinstance(result, Record) else result.metrics()


def _title(ctx, exp_id: str) -> str:
    entry = ctx.needs[exp_id]
    return entry.title or (entry.result.title if not isinstance(entry.result, Record) else exp_id)


LAPLACIAN = [[0, 1, 0], [1, -4, 1], [0, 1, 0]]


def theory_walk(
    layers: list[str], input_size: int, classes: int, channels: int = 1
) -> tuple[list[list[str]], list[list[Any]], int]:
    """Output size and parameter formula of every layer, from the parsed layer spec (the same
    parser that builds the model), with the total parameter count, for `channels`-channel input.
    Size rows are [layer, formula, output]; parameter rows [layer, formula, count]."""
    from reportgen.nn.layers import parse_layers

    size, flat = input_size, None
    size_rows, param_rows, total = [], [], 0
    for layer in parse_layers(layers):
        token = layer.text
        if layer.kind == "conv":
            c_out, k, stride = int(layer.size), layer.kernel, layer.stride
            pad = theory.same_padding(k) if layer.same else 0
            new = theory.conv_output_size(size, k, pad, stride)
            size_rows.append([token, f"⌊({size} − {k} + 2·{pad}) / {stride}⌋ + 1", f"{new}×{new}×{c_out}"])
            n = theory.conv_params(k, channels, c_out, bias=not layer.bn)
            param_rows.append([token, f"{k}·{k}·{channels}·{c_out}" + ("" if layer.bn else f" + {c_out}"), n])
            if layer.bn:
                param_rows.append([f"{token}: batch norm", f"2·{c_out} (scale, shift)", 2 * c_out])
                n += 2 * c_out
            size, channels, total = new, c_out, total + n
        elif layer.kind == "pool":
            p = int(layer.size or 2)
            new = theory.conv_output_size(size, p, 0, p)
            size_rows.append([token, f"⌊({size} − {p}) / {p}⌋ + 1", f"{new}×{new}×{channels}"])
            size = new
        elif layer.kind == "gap":
            size_rows.append([token, "mean over each channel", f"1×1×{channels}"])
            size = 1
        elif layer.kind == "fc":
            units = int(layer.size)
            n_in = flat or size * size * channels
            n = theory.linear_params(n_in, units, bias=not layer.bn)
            param_rows.append([token, f"{n_in}·{units}" + ("" if layer.bn else f" + {units}"), n])
            if layer.bn:
                param_rows.append([f"{token}: batch norm", f"2·{units} (scale, shift)", 2 * units])
                n += 2 * units
            flat, total = units, total + n
    n_in = flat or size * size * channels
    n = theory.linear_params(n_in, classes)
    param_rows.append([f"head ({classes} classes)", f"{n_in}·{classes} + {classes}", n])
    return size_rows, param_rows, total + n


@experiment(
    task=1,
    id="theory",
    title="Worked theory: convolution, pooling, padding, sizes, parameters",
    params={
        "image": [[3, 1, 0, 2, 5], [0, 4, 6, 1, 2], [2, 2, 1, 0, 3]],
        "kernel": LAPLACIAN,
        "pool_grid": [[1, 3, 2, 1], [4, 6, 5, 0], [7, 2, 9, 8], [1, 0, 3, 4]],
        # The baseline's input and the build's data: the theory counts what the per-layer table counts.
        "input_size": linked("arch-baseline", "image_size"),
        "channels": from_data("channels"),
        "classes": from_data("classes"),
        "layers": linked("arch-baseline", "layers"),
    },
    checks={"channels": at_least(1), "classes": at_least(2)},
)
def worked_theory(ctx) -> Record:
    """Every number computed by reportgen.theory and checked against torch before it is stored."""
    import torch
    import torch.nn.functional as F

    from reportgen.nn.spec import build_model
    from reportgen.nn.summary import summarize

    image, kernel = ctx.params["image"], ctx.params["kernel"]
    p = theory.same_padding(len(kernel))
    conv, terms = theory.conv2d_by_hand(image, kernel, padding=p)
    reference = F.conv2d(torch.tensor([[image]], dtype=torch.float64), torch.tensor([[kernel]], dtype=torch.float64), padding=p)
    assert torch.allclose(reference[0, 0], torch.tensor(conv, dtype=torch.float64)), "hand convolution disagrees with torch"

    grid = ctx.params["pool_grid"]
    pooled, winners = theory.max_pool_by_hand(grid)
    assert torch.equal(F.max_pool2d(torch.tensor([[grid]], dtype=torch.float64), 2)[0, 0], torch.tensor(pooled, dtype=torch.float64))

    # Sizes and parameter counts through the baseline, by formula, checked against the real model.
    size, channels, classes = ctx.params["input_size"], ctx.params["channels"], ctx.params["classes"]
    size_rows, param_rows, formula_total = theory_walk(ctx.params["layers"], size, classes, channels)
    in_shape = (channels, size, size)
    model = build_model(ctx.params["layers"], in_shape, classes)
    real_total = sum(p.numel() for p in model.parameters())
    assert formula_total == real_total, f"formula {formula_total} != torch {real_total}"
    assert summarize(model, in_shape).total_params == real_total

    h, w = len(image), len(image[0])
    padded = theory.pad(image, p)
    border = [[i, j] for i in range(len(padded)) for j in range(len(padded[0])) if i < p or j < p or i >= h + p or j >= w + p]
    return Record({
        "image": image, "kernel": kernel, "padding": p, "padded": padded, "border": border,
        "conv": conv, "terms": terms,
        "pool_grid": grid, "pooled": pooled, "winners": [list(c) for c in winners],
        "same_padding": [[k, theory.same_padding(k)] for k in (1, 3, 5, 7)],
        "input": {"size": size, "channels": channels, "classes": classes},
        "sizes": size_rows, "parameters": param_rows,
        "metrics": {"parameters": int(formula_total)},
    })  # fmt: skip

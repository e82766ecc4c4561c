"""Task 1: CNN architecture variants (per-layer tables, cost against accuracy) and worked theory."""

from __future__ import annotations

import dataclasses

from experiments._show import count, pct, plural, recipe, shape, training_recipe
from reportgen import theory
from reportgen.errors import ReportgenError
from reportgen.params import at_least
from reportgen.registry import experiment, from_data, linked, per_profile
from reportgen.results import Curves, Matrix, Metric, Panel, Scatter, Section, Table, Text

TRAINING = {
    "train_size": per_profile(quick=2000, standard=20000, full=55000),
    "val_size": per_profile(quick=500, standard=2000, full=5000),
    "test_size": per_profile(quick=1000, standard=10000, full=10000),
    "epochs": per_profile(quick=1, standard=3, full=12),
    "batch_size": 128,
    # The course prescribes the network, not how to train it: Adam with a one-cycle schedule
    # (warm-up to 3e-3, cosine decay) and label smoothing 0.1 reached 89.6% in the standard
    # budget against 87.8-88.5% with a constant 1e-3 (benchmarks/time_to_accuracy.py).
    "optimizer": "adam",
    "lr": 3e-3,
    "schedule": "onecycle",
    "label_smoothing": 0.1,
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


def train_variant(ctx) -> Section:
    """Trains one variant; returns its layer table, curves and cost/accuracy metrics, and stores
    its weights (files/model.pt) and first-layer filters after the first and last epoch."""
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
    ms_1 = inference_ms(model, data.image_shape, 1)
    ms_128 = inference_ms(model, data.image_shape, 128)
    params = summary.total_params
    per_100k = 100 * result.test.acc / (params / 1e5)
    epochs = len(result.history)
    # Activations are folded into the layer before them, as Keras summaries do; they hold no weights.
    rows = [
        [row.name, row.type, shape(row.output_shape), count(row.params), f"{row.macs:,}", f"{row.memory_kb:,.1f}"]
        for row in summary.rows
        if row.type.lower() not in ACTIVATION_TYPES
    ]
    return Section(
        title=ctx.exp.title,
        summary=(
            f"{count(params)} parameters ({summary.total_memory_kb / 1024:,.2f} MB in fp32) and "
            f"{summary.total_macs / 1e6:,.2f} M multiply-adds per image; test accuracy {pct(result.test.acc)} after "
            f"{plural(epochs, 'epoch')} on {len(data.train):,} images ({result.epoch_seconds:.1f} s per epoch)."
        ),
        items=[
            Metric(title="parameters", value=params, fmt="{:,.0f}", key=True),
            Metric(title="test accuracy", value=100 * result.test.acc, unit="%", fmt="{:.2f}", key=True),
            Metric(title="epoch time", value=result.epoch_seconds, unit="s", fmt="{:.1f}"),
            Metric(title="accuracy per 100K parameters", value=per_100k, unit="%", fmt="{:.2f}"),
            Metric(title="multiply-adds", value=summary.total_macs / 1e6, unit="M", fmt="{:,.2f}", key=True),
            Metric(title="inference time, batch 1", value=ms_1, unit="ms/image", fmt="{:.3f}"),
            Metric(title="inference time, batch 128", value=ms_128, unit="ms/image", fmt="{:.3f}", key=True),
            Metric(title="trainable parameters", value=summary.trainable_params, fmt="{:,.0f}"),
            Metric(title="non-trainable parameters", value=params - summary.trainable_params, fmt="{:,.0f}"),
            Metric(title="train accuracy", value=100 * result.train.acc, unit="%", fmt="{:.2f}"),
            # What the data gave (a small folder gives fewer than train_size): captions quote this.
            Metric(title="training images", value=len(data.train), fmt="{:,.0f}"),
            Table(
                title=f"{ctx.exp.title}: layers",
                caption=(
                    f"Per-layer output shape, parameters and multiply-adds for one {shape(data.image_shape)} input "
                    "(a ReLU follows each conv and dense layer); memory is fp32 weights. "
                    f"All {count(summary.trainable_params)} parameters are trainable."
                    if summary.trainable_params == params else
                    f"Per-layer output shape, parameters and multiply-adds for one {shape(data.image_shape)} input; "
                    f"{count(summary.trainable_params)} of {count(params)} parameters are trainable."
                ),
                columns=["layer", "type", "output", "parameters", "multiply-adds", "memory (KB)"],
                rows=rows,
                footer=["total", "", "", count(params), f"{summary.total_macs:,}", f"{summary.total_memory_kb:,.1f}"],
                key=True,
            ),
            Curves(
                title=f"{ctx.exp.title}: accuracy per epoch",
                caption="Training accuracy is the running mean over an epoch (dropout on); validation is measured after it. "
                + recipe(ctx.params),
                x=list(range(1, epochs + 1)),
                series={
                    "train": [100 * a for a in result.series("train_acc")],
                    "validation": [100 * a for a in result.series("val_acc")],
                },
                roles={"train": "train", "validation": "validation"},
                groups={"train": "model", "validation": "model"},
                ylabel="accuracy (%)",
            ),
        ],
    )


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
def compare(ctx) -> Section:
    """One table and two scatter plots over all variants, the baseline pinned first."""
    ids = list(ctx.needs)
    if "arch-baseline" not in ids:
        raise ReportgenError("the comparison needs the baseline 'arch-baseline'")
    ids.remove("arch-baseline")
    ids.insert(0, "arch-baseline")
    metrics = {exp_id: ctx.needed(exp_id).metrics() for exp_id in ids}
    titles = {exp_id: ctx.needed(exp_id).title for exp_id in ids}
    required = ("parameters", "test accuracy")
    for exp_id, m in metrics.items():
        lacking = [name for name in required if name not in m]
        if lacking:
            raise ReportgenError(f"experiment '{exp_id}' is tagged '{ARCHITECTURE_TAG}' but has no metric '{lacking[0]}'",
                                 "return at least the metrics 'parameters' and 'test accuracy'")  # fmt: skip
        m.setdefault("accuracy per 100K parameters", m["test accuracy"] / (m["parameters"] / 1e5))
    rows = [
        [
            titles[exp_id],
            count(m["parameters"]),
            f"{m['parameters'] * 4 / 1024:,.0f}",
            f"{m['epoch time']:.1f}" if "epoch time" in m else "—",
            f"{m['test accuracy']:.2f}",
            f"{m['accuracy per 100K parameters']:.2f}",
            f"{m['multiply-adds']:,.2f}" if "multiply-adds" in m else "—",
            f"{m['inference time, batch 128']:.3f}" if "inference time, batch 128" in m else "—",
        ]
        for exp_id, m in metrics.items()
    ]
    best = max(metrics, key=lambda i: metrics[i]["test accuracy"])
    thrifty = max(metrics, key=lambda i: metrics[i]["accuracy per 100K parameters"])
    base = metrics["arch-baseline"]
    if best == "arch-baseline":
        lead = f"The baseline remains the most accurate ({base['test accuracy']:.2f}%)"
    else:
        lead = (f"The most accurate variant is '{titles[best]}' ({metrics[best]['test accuracy']:.2f}% against "
                f"{base['test accuracy']:.2f}% for the baseline)")  # fmt: skip
    text = (
        f"{lead}; the most accuracy per parameter comes from "
        f"'{titles[thrifty]}' ({metrics[thrifty]['accuracy per 100K parameters']:.2f}% per 100K)."
    )
    if "arch-deeper" in metrics and "arch-wider" in metrics:
        deeper, wider = metrics["arch-deeper"], metrics["arch-wider"]
        text += (f" Deeper ({count(deeper['parameters'])} parameters) reached {deeper['test accuracy']:.2f}%, "
                 f"wider ({count(wider['parameters'])}) {wider['test accuracy']:.2f}%.")  # fmt: skip
    timed = {i: m for i, m in metrics.items() if "inference time, batch 128" in m}
    return Section(
        title=ctx.exp.title,
        summary=text,
        items=[
            Table(
                title="Architectures: cost against accuracy",
                caption="Parameters, fp32 weight memory, mean training time per epoch, test accuracy, "
                "multiply-adds per image (millions) and inference time per image at batch 128; baseline first. "
                + _shared_recipe(ctx),
                columns=["variant", "parameters", "memory (KB)", "s / epoch", "test acc (%)", "acc / 100K params", "M mult-adds", "ms / image"],
                rows=rows,
                highlight=[0],
                key=True,
            ),
            Scatter(
                title="Accuracy against parameters",
                caption="Each point is one variant; the x axis is logarithmic.",
                points=[
                    {"label": titles[i], "x": m["parameters"], "y": m["test accuracy"]}
                    for i, m in metrics.items()
                ],
                xlabel="parameters",
                ylabel="test accuracy (%)",
                logx=True,
            ),
            Scatter(
                title="Accuracy against inference time",
                caption="Each point is one variant: milliseconds per image in batches of 128 on this machine's CPU.",
                points=[
                    {"label": titles[i], "x": m["inference time, batch 128"], "y": m["test accuracy"]}
                    for i, m in timed.items()
                ],
                xlabel="inference time (ms per image, batch 128)",
                ylabel="test accuracy (%)",
            ),
            Text(title="What the comparison shows", body=text),
        ],
    )


def _shared_recipe(ctx) -> str:
    """The training recipe when every compared variant used the same one (the usual case)."""
    params = [ctx.needs[i].inputs.get("params", {}) for i in ctx.needs]
    keys = ("optimizer", "lr", "schedule", "label_smoothing", "weight_decay", "batch_size")
    shared = {tuple(p.get(k) for k in keys) for p in params}
    if len(shared) == 1 and params and params[0].get("optimizer"):
        return f"Every variant was trained with {training_recipe(params[0])}."
    return "Training settings differ between variants; each variant's section states its own."


LAPLACIAN = [[0, 1, 0], [1, -4, 1], [0, 1, 0]]


def theory_walk(
    layers: list[str], input_size: int, classes: int, channels: int = 1
) -> tuple[list[list[str]], list[list[str]], int]:
    """Output size and parameter formula of every layer, from the parsed layer spec (the same
    parser that builds the model), with the total parameter count, for `channels`-channel input."""
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
            param_rows.append([token, f"{k}·{k}·{channels}·{c_out}" + ("" if layer.bn else f" + {c_out}"), count(n)])
            if layer.bn:
                param_rows.append([f"{token}: batch norm", f"2·{c_out} (scale, shift)", count(2 * c_out)])
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
            param_rows.append([token, f"{n_in}·{units}" + ("" if layer.bn else f" + {units}"), count(n)])
            if layer.bn:
                param_rows.append([f"{token}: batch norm", f"2·{units} (scale, shift)", count(2 * units)])
                n += 2 * units
            flat, total = units, total + n
    n_in = flat or size * size * channels
    n = theory.linear_params(n_in, classes)
    param_rows.append([f"head ({classes} classes)", f"{n_in}·{classes} + {classes}", count(n)])
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
def worked_theory(ctx) -> Section:
    """Every number computed by reportgen.theory and checked against torch before it is shown."""
    import torch
    import torch.nn.functional as F

    from reportgen.nn.spec import build_model
    from reportgen.nn.summary import summarize

    image, kernel = ctx.params["image"], ctx.params["kernel"]
    k = len(kernel)
    p = theory.same_padding(k)
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

    same_rows = [[f"{kk}×{kk}", str(theory.same_padding(kk)), f"({kk} − 1) / 2"] for kk in (1, 3, 5, 7)]
    h, w = len(image), len(image[0])
    padded = theory.pad(image, p)
    border = [(i, j) for i in range(len(padded)) for j in range(len(padded[0])) if i < p or j < p or i >= h + p or j >= w + p]
    return Section(
        title=ctx.exp.title,
        summary="Each value below is worked out step by step and checked against PyTorch (F.conv2d, F.max_pool2d and the model's parameter count).",
        items=[
            Matrix(
                title="Convolution set-up: image, kernel, zero padding",
                caption=f"A discrete Laplacian kernel responds to edges and spots; a ring of p = {p} zeros keeps the {h}×{w} size.",
                panels=[
                    Panel(f"image ({h}×{w})", image),
                    Panel(f"kernel ({k}×{k})", kernel),
                    Panel(f"padded input, p = {p}", padded, border),
                ],
            ),
            Table(
                title="Convolution by hand, cell by cell",
                caption="Each output cell is the sum of kernel × input over its window (zero terms of the kernel omitted).",
                columns=["cell", "sum of products"],
                rows=[[f"({i},{j})", terms[i][j]] for i in range(h) for j in range(w)],
            ),
            Matrix(
                title="Convolution output",
                caption="Identical to torch.nn.functional.conv2d(image, kernel, padding=1), checked when computed.",
                panels=[Panel(f"output ({len(conv)}×{len(conv[0])})", conv)],
            ),
            Matrix(
                title="Max pooling 2×2, stride 2",
                caption="The largest value of each window survives (marked); identical to F.max_pool2d(x, 2).",
                panels=[Panel("input (4×4)", grid, winners), Panel("output (2×2)", pooled)],
            ),
            Table(
                title="'Same' padding at stride 1",
                caption="Output = (W − k + 2p) / 1 + 1 = W exactly when p = (k − 1) / 2.",
                columns=["kernel", "padding p", "formula"],
                rows=same_rows,
                highlight=[2],
            ),
            Table(
                title="Output size through the baseline",
                caption=(f"Output size = ⌊(W − K + 2P) / S⌋ + 1 from a {size}×{size}×{channels} input "
                         f"({'RGB' if channels == 3 else 'one channel' if channels == 1 else f'{channels} channels'}, "
                         "as the baseline is trained)."),
                key=True,
                columns=["layer", "formula", "output"],
                rows=size_rows,
            ),
            Table(
                title="Parameters of each baseline layer",
                caption=(f"Conv: k·k·C_in·C_out + C_out (C_in = {channels} for the first); dense: n_in·n_out + n_out; "
                         f"the head has one output per class ({classes}). The total, {count(formula_total)}, equals "
                         "torch's sum of numel() over the model built from the same layers, checked when computed."),
                columns=["layer", "formula", "parameters"],
                rows=param_rows,
                footer=["total", "", count(formula_total)],
            ),
        ],
    )

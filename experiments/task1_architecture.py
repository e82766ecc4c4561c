"""Task 1: CNN architecture variants (per-layer tables, cost against accuracy) and worked theory."""

from __future__ import annotations

from experiments._show import count, pct, shape
from reportgen import theory
from reportgen.registry import experiment, per_profile
from reportgen.results import Curves, Matrix, Metric, Panel, Scatter, Section, Table, Text

TRAINING = {
    "train_size": per_profile(quick=2000, standard=20000, full=55000),
    "val_size": per_profile(quick=500, standard=2000, full=5000),
    "test_size": per_profile(quick=1000, standard=10000, full=10000),
    "epochs": per_profile(quick=1, standard=3, full=12),
    "batch_size": 128,
    "optimizer": "adam",
    "lr": 1e-3,
}
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


def train_variant(ctx) -> Section:
    """Trains one variant; returns its layer table, curves and cost/accuracy metrics."""
    from reportgen.nn.spec import build_model
    from reportgen.nn.summary import summarize
    from reportgen.nn.train import TrainSettings, fit

    data = ctx.data(image_size=28)
    model = build_model(ctx.params["layers"], data.image_shape, data.num_classes)
    summary = summarize(model, data.image_shape)
    result = fit(
        model, data, TrainSettings.from_params(ctx.params),
        seed=ctx.seed, device=ctx.device, progress=ctx.progress, label=ctx.exp.id,
    )  # fmt: skip
    params = summary.total_params
    per_100k = 100 * result.test.acc / (params / 1e5)
    # Activations are folded into the layer before them, as Keras summaries do; they hold no weights.
    rows = [
        [row.name, row.type, shape(row.output_shape), count(row.params), f"{row.memory_kb:,.1f}"]
        for row in summary.rows
        if row.type.lower() not in ACTIVATION_TYPES
    ]
    epochs = list(range(1, len(result.history) + 1))
    return Section(
        title=ctx.exp.title,
        summary=(
            f"{count(params)} parameters ({summary.total_memory_kb / 1024:,.2f} MB in fp32); "
            f"test accuracy {pct(result.test.acc)} after {len(epochs)} epoch(s) of "
            f"{len(data.train):,} images, {result.epoch_seconds:.1f} s per epoch "
            f"({result.memory_format.replace('_', ' ')} layout, measured faster here)."
        ),
        items=[
            Metric(title="parameters", value=params, fmt="{:,.0f}"),
            Metric(title="test accuracy", value=100 * result.test.acc, unit="%", fmt="{:.2f}"),
            Metric(title="epoch time", value=result.epoch_seconds, unit="s", fmt="{:.1f}"),
            Metric(title="accuracy per 100K parameters", value=per_100k, unit="%", fmt="{:.2f}"),
            Metric(title="train accuracy", value=100 * result.train.acc, unit="%", fmt="{:.2f}"),
            Table(
                title=f"{ctx.exp.title}: layers",
                caption=f"Per-layer output shape and parameters for a {shape(data.image_shape)} input (a ReLU follows each conv and dense layer); memory is fp32 weights.",
                columns=["layer", "type", "output", "parameters", "memory (KB)"],
                rows=rows,
                footer=["total", "", "", count(params), f"{summary.total_memory_kb:,.1f}"],
            ),
            Curves(
                title=f"{ctx.exp.title}: accuracy per epoch",
                caption="Training accuracy is the running mean over an epoch (dropout on); validation is measured after it.",
                x=epochs,
                series={
                    "train": [100 * a for a in result.series("train_acc")],
                    "validation": [100 * a for a in result.series("val_acc")],
                },
                ylabel="accuracy (%)",
            ),
        ],
    )


for _id, (_title, _layers) in VARIANTS.items():
    experiment(task=1, id=_id, title=_title, params={**TRAINING, "layers": _layers})(train_variant)


@experiment(task=1, id="arch-comparison", title="Architectures compared", needs=tuple(VARIANTS))
def compare(ctx) -> Section:
    """One table and one scatter plot over all variants, the baseline pinned first."""
    metrics = {exp_id: ctx.needed(exp_id).metrics() for exp_id in VARIANTS}
    titles = {exp_id: ctx.needed(exp_id).title for exp_id in VARIANTS}
    rows = [
        [
            titles[exp_id],
            count(m["parameters"]),
            f"{m['parameters'] * 4 / 1024:,.0f}",
            f"{m['epoch time']:.1f}",
            f"{m['test accuracy']:.2f}",
            f"{m['accuracy per 100K parameters']:.2f}",
        ]
        for exp_id, m in metrics.items()
    ]
    best = max(metrics, key=lambda i: metrics[i]["test accuracy"])
    thrifty = max(metrics, key=lambda i: metrics[i]["accuracy per 100K parameters"])
    base = metrics["arch-baseline"]
    deeper, wider = metrics["arch-deeper"], metrics["arch-wider"]
    if best == "arch-baseline":
        lead = f"The baseline remains the most accurate ({base['test accuracy']:.2f}%)"
    else:
        lead = (f"The most accurate variant is '{titles[best]}' ({metrics[best]['test accuracy']:.2f}% against "
                f"{base['test accuracy']:.2f}% for the baseline)")  # fmt: skip
    text = (
        f"{lead}; the most accuracy per parameter comes from "
        f"'{titles[thrifty]}' ({metrics[thrifty]['accuracy per 100K parameters']:.2f}% per 100K). "
        f"Deeper ({count(deeper['parameters'])} parameters) reached {deeper['test accuracy']:.2f}%, "
        f"wider ({count(wider['parameters'])}) {wider['test accuracy']:.2f}%."
    )
    return Section(
        title=ctx.exp.title,
        summary=text,
        items=[
            Table(
                title="Architectures: cost against accuracy",
                caption="Parameters, fp32 weight memory, mean training time per epoch and test accuracy; baseline first.",
                columns=["variant", "parameters", "memory (KB)", "s / epoch", "test acc (%)", "acc / 100K params"],
                rows=rows,
                highlight=[0],
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
            Text(title="What the comparison shows", body=text),
        ],
    )


LAPLACIAN = [[0, 1, 0], [1, -4, 1], [0, 1, 0]]


@experiment(
    task=1,
    id="theory",
    title="Worked theory: convolution, pooling, padding, sizes, parameters",
    params={
        "image": [[3, 1, 0, 2, 5], [0, 4, 6, 1, 2], [2, 2, 1, 0, 3]],
        "kernel": LAPLACIAN,
        "pool_grid": [[1, 3, 2, 1], [4, 6, 5, 0], [7, 2, 9, 8], [1, 0, 3, 4]],
        "input_size": 28,
        "layers": BASELINE,
    },
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
    size, channels, flat = ctx.params["input_size"], 1, None
    size_rows, param_rows, formula_total = [], [], 0
    for token in ctx.params["layers"]:
        word, *opts = token.split()
        if word.startswith("conv"):
            c_out = int(word[4:])
            pad = theory.same_padding(3) if "same" in opts else 0
            new = theory.conv_output_size(size, 3, pad)
            size_rows.append([token, f"⌊({size} − 3 + 2·{pad}) / 1⌋ + 1", f"{new}×{new}×{c_out}"])
            n = theory.conv_params(3, channels, c_out)
            param_rows.append([token, f"3·3·{channels}·{c_out} + {c_out}", count(n)])
            size, channels, formula_total = new, c_out, formula_total + n
        elif word == "pool":
            new = theory.conv_output_size(size, 2, 0, 2)
            size_rows.append([token, f"⌊({size} − 2) / 2⌋ + 1", f"{new}×{new}×{channels}"])
            size = new
        elif word.startswith("fc"):
            units = int(word[2:])
            n_in = flat or size * size * channels
            n = theory.linear_params(n_in, units)
            param_rows.append([token, f"{n_in}·{units} + {units}", count(n)])
            flat, formula_total = units, formula_total + n
    n = theory.linear_params(flat or size * size * channels, 10)
    param_rows.append(["head (10 classes)", f"{flat}·10 + 10", count(n)])
    formula_total += n
    model = build_model(ctx.params["layers"], (1, ctx.params["input_size"], ctx.params["input_size"]), 10)
    real_total = sum(p.numel() for p in model.parameters())
    assert formula_total == real_total, f"formula {formula_total} != torch {real_total}"
    assert summarize(model, (1, 28, 28)).total_params == real_total

    same_rows = [[f"{kk}×{kk}", str(theory.same_padding(kk)), f"({kk} − 1) / 2"] for kk in (1, 3, 5, 7)]
    h, w = len(image), len(image[0])
    padded = theory.pad(image, p)
    border = [(i, j) for i in range(len(padded)) for j in range(len(padded[0])) if i < p or j < p or i >= h + p or j >= w + p]
    return Section(
        title=ctx.exp.title,
        summary="Each value below is computed step by step in reportgen/theory.py and checked against torch (F.conv2d, F.max_pool2d, numel()) before it is stored.",
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
                caption=f"Output size = ⌊(W − K + 2P) / S⌋ + 1 from a {ctx.params['input_size']}×{ctx.params['input_size']}×1 input.",
                columns=["layer", "formula", "output"],
                rows=size_rows,
            ),
            Table(
                title="Parameters of each baseline layer",
                caption="Conv: k·k·C_in·C_out + C_out; dense: n_in·n_out + n_out. The total equals torch's sum of numel().",
                columns=["layer", "formula", "parameters"],
                rows=param_rows,
                footer=["total", "", count(formula_total)],
            ),
        ],
    )

"""What readers see of Task 1: titles, captions, sentences, tables and figures built from the
records that `task1_architecture` stores. Runs at render time, never imports torch, and is not
part of any cache key: editing a caption, a sentence or a number format here re-renders in seconds.
"""

from __future__ import annotations

from typing import Any

from reportgen.presenting import View
from reportgen.registry import presenter
from reportgen.results import Curves, Matrix, Metric, Panel, Scatter, Section, Table, Text
from reportgen.values import COUNT, PERCENT, SECONDS, Style, Value, show

from ._show import plural, recipe, shape, training_recipe
from .task1_architecture import VARIANT_PRESENTER

MEGA = Style(decimals=2, unit="M", thousands=True)
PER_IMAGE = Style(decimals=3, unit="ms/image")
KB = Style(decimals=1, thousands=True)
TWO = Style(decimals=2)
# A variant's key numbers: record name -> (title, style, key box on the talk slide).
VARIANT_METRICS = {
    "parameters": (COUNT, True),
    "test accuracy": (PERCENT, True),
    "epoch time": (SECONDS, False),
    "accuracy per 100K parameters": (PERCENT, False),
    "multiply-adds": (MEGA, True),
    "inference time, batch 1": (PER_IMAGE, False),
    "inference time, batch 128": (PER_IMAGE, True),
    "trainable parameters": (COUNT, False),
    "non-trainable parameters": (COUNT, False),
    "train accuracy": (PERCENT, False),
    "training images": (COUNT, False),
}


def _count(n: float) -> str:
    return show(Value(n, COUNT))


@presenter(VARIANT_PRESENTER)
def variant(view: View) -> Section:
    """One architecture: its sentence, key numbers, per-layer table and accuracy curves."""
    r, m = view.record, view.record["metrics"]
    total, params, title = r["total"], m["parameters"], view.title
    input_shape = shape(r["input_shape"])
    summary = (
        f"{_count(params)} parameters ({total['memory_kb'] / 1024:,.2f} MB in fp32) and "
        f"{show(Value(m['multiply-adds'], MEGA))} multiply-adds per image; test accuracy "
        f"{m['test accuracy']:.2f}% after {plural(r['epochs'], 'epoch')} on {m['training images']:,} images "
        f"({m['epoch time']:.1f} s per epoch)."
    )
    metrics = [Metric(title=name, value=m[name], style=style, key=key, name=name)
               for name, (style, key) in VARIANT_METRICS.items() if name in m]  # fmt: skip
    if total["trainable"] == params:
        trainable = f"All {_count(params)} parameters are trainable."
    else:
        trainable = f"{_count(total['trainable'])} of {_count(params)} parameters are trainable."
    layers = Table(
        title=f"{title}: layers",
        caption=(f"Per-layer output shape, parameters and multiply-adds for one {input_shape} input "
                 + ("(a ReLU follows each conv and dense layer); memory is fp32 weights. " if total["trainable"] == params else "; ")
                 + trainable),  # fmt: skip
        columns=["layer", "type", "output", "parameters", "multiply-adds", "memory (KB)"],
        rows=[[row["name"], row["type"], shape(row["output"]), Value(row["params"], COUNT), Value(row["macs"], COUNT),
               Value(row["memory_kb"], KB)] for row in r["layers"]],  # fmt: skip
        footer=["total", "", "", Value(params, COUNT), Value(total["macs"], COUNT), Value(total["memory_kb"], KB)],
        key=True,
    )
    curves = Curves(
        title=f"{title}: accuracy per epoch",
        caption="Training accuracy is the running mean over an epoch (dropout on); validation is measured after it. "
        + recipe(view.params),
        x=list(range(1, r["epochs"] + 1)),
        series={"train": r["history"]["train"], "validation": r["history"]["validation"]},
        roles={"train": "train", "validation": "validation"},
        groups={"train": "model", "validation": "model"},
        ylabel="accuracy (%)",
    )
    return Section(title=title, summary=summary, items=[*metrics, layers, curves])


def _accuracy_against(metric: str, metrics: dict[str, dict], titles: dict[str, str], caption: str, **axes: Any) -> Scatter:
    """A scatter of test accuracy against one metric, a point per variant."""
    points = [{"label": titles[i], "x": m[metric], "y": m["test accuracy"]} for i, m in metrics.items()]
    return Scatter(caption=caption, points=points, ylabel="test accuracy (%)", **axes)


@presenter("arch-comparison")
def comparison(view: View) -> Section:
    """One table and two scatter plots over all variants, the baseline pinned first."""
    variants = view.record["variants"]
    metrics = {v["id"]: v["metrics"] for v in variants}
    titles = {v["id"]: v["title"] for v in variants}
    rows = [_comparison_row(titles[i], m) for i, m in metrics.items()]
    text = _comparison_sentence(metrics, titles)
    timed = {i: m for i, m in metrics.items() if "inference time, batch 128" in m}
    shared = view.record["recipe"]
    settings = (f"Every variant was trained with {training_recipe(shared)}." if shared and shared.get("optimizer")
                else "Training settings differ between variants; each variant's section states its own.")  # fmt: skip
    return Section(
        title=view.title,
        summary=text,
        items=[
            Table(
                title="Architectures: cost against accuracy",
                caption="Parameters, fp32 weight memory, mean training time per epoch, test accuracy, "
                "multiply-adds per image (millions) and inference time per image at batch 128; baseline first. " + settings,
                columns=["variant", "parameters", "memory (KB)", "s / epoch", "test acc (%)", "acc / 100K params", "M mult-adds", "ms / image"],
                rows=rows,
                highlight=[0],
                key=True,
            ),
            _accuracy_against("parameters", metrics, titles, "Each point is one variant; the x axis is logarithmic.",
                              title="Accuracy against parameters", xlabel="parameters", logx=True),
            _accuracy_against("inference time, batch 128", timed, titles,
                              "Each point is one variant: milliseconds per image in batches of 128 on this machine's CPU.",
                              title="Accuracy against inference time", xlabel="inference time (ms per image, batch 128)"),
            Text(title="What the comparison shows", body=text),
        ],
    )


def _comparison_row(title: str, m: dict[str, float]) -> list[Any]:
    def cell(name: str, style: Style) -> Any:
        return Value(m[name], style) if name in m else "—"

    return [title, Value(m["parameters"], COUNT), Value(m["parameters"] * 4 / 1024, COUNT), cell("epoch time", Style(decimals=1)),
            Value(m["test accuracy"], TWO), Value(m["accuracy per 100K parameters"], TWO), cell("multiply-adds", TWO.but(thousands=True)),
            cell("inference time, batch 128", Style(decimals=3))]  # fmt: skip



def _comparison_sentence(metrics: dict[str, dict[str, float]], titles: dict[str, str]) -> str:
    best = max(metrics, key=lambda i: metrics[i]["test accuracy"])
    thrifty = max(metrics, key=lambda i: metrics[i]["accuracy per 100K parameters"])
    base = metrics["arch-baseline"]
    if best == "arch-baseline":
        lead = f"The baseline remains the most accurate ({base['test accuracy']:.2f}%)"
    else:
        lead = (f"The most accurate variant is '{titles[best]}' ({metrics[best]['test accuracy']:.2f}% against "
                f"{base['test accuracy']:.2f}% for the baseline)")  # fmt: skip
    text = (f"{lead}; the most accuracy per parameter comes from "
            f"'{titles[thrifty]}' ({metrics[thrifty]['accuracy per 100K parameters']:.2f}% per 100K).")  # fmt: skip
    if "arch-deeper" in metrics and "arch-wider" in metrics:
        deeper, wider = metrics["arch-deeper"], metrics["arch-wider"]
        text += (f" Deeper ({_count(deeper['parameters'])} parameters) reached {deeper['test accuracy']:.2f}%, "
                 f"wider ({_count(wider['parameters'])}) {wider['test accuracy']:.2f}%.")  # fmt: skip
    return text


@presenter("theory")
def worked_theory(view: View) -> Section:
    """The worked convolution, pooling, padding, sizes and parameter counts, every one checked against torch."""
    r = view.record
    image, kernel, p = r["image"], r["kernel"], r["padding"]
    h, w, k = len(image), len(image[0]), len(kernel)
    conv, terms = r["conv"], r["terms"]
    size, channels, classes = r["input"]["size"], r["input"]["channels"], r["input"]["classes"]
    total = sum(row[2] for row in r["parameters"])
    kind = "RGB" if channels == 3 else "one channel" if channels == 1 else f"{channels} channels"
    return Section(
        title=view.title,
        summary="Each value below is worked out step by step and checked against PyTorch (F.conv2d, F.max_pool2d and the model's parameter count).",
        items=[
            Matrix(
                title="Convolution set-up: image, kernel, zero padding",
                caption=f"A discrete Laplacian kernel responds to edges and spots; a ring of p = {p} zeros keeps the {h}×{w} size.",
                panels=[Panel(f"image ({h}×{w})", image), Panel(f"kernel ({k}×{k})", kernel),
                        Panel(f"padded input, p = {p}", r["padded"], [tuple(c) for c in r["border"]])],  # fmt: skip
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
                panels=[Panel("input (4×4)", r["pool_grid"], [tuple(c) for c in r["winners"]]), Panel("output (2×2)", r["pooled"])],
            ),
            Table(
                title="'Same' padding at stride 1",
                caption="Output = (W − k + 2p) / 1 + 1 = W exactly when p = (k − 1) / 2.",
                columns=["kernel", "padding p", "formula"],
                rows=[[f"{kk}×{kk}", Value(pp), f"({kk} − 1) / 2"] for kk, pp in r["same_padding"]],
                highlight=[2],
            ),
            Table(
                title="Output size through the baseline",
                caption=(f"Output size = ⌊(W − K + 2P) / S⌋ + 1 from a {size}×{size}×{channels} input "
                         f"({kind}, as the baseline is trained)."),  # fmt: skip
                key=True,
                columns=["layer", "formula", "output"],
                rows=[list(row) for row in r["sizes"]],
            ),
            Table(
                title="Parameters of each baseline layer",
                caption=(f"Conv: k·k·C_in·C_out + C_out (C_in = {channels} for the first); dense: n_in·n_out + n_out; "
                         f"the head has one output per class ({classes}). The total, {_count(total)}, equals "
                         "torch's sum of numel() over the model built from the same layers, checked when computed."),  # fmt: skip
                columns=["layer", "formula", "parameters"],
                rows=[[name, formula, Value(n, COUNT)] for name, formula, n in r["parameters"]],
                footer=["total", "", Value(total, COUNT)],
            ),
        ],
    )

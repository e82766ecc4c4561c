"""Task 2: training ablations (batch size, batch norm, dropout, augmentation, optimisers,
activations, L2, depth), each against a pinned baseline with curves, a table and a sentence."""

from __future__ import annotations

import dataclasses
import statistics

from experiments._ablation import Variant, curves, headline_metrics, ranked, results_table, run_variants
from reportgen.registry import experiment, from_data, per_profile
from reportgen.results import Section

# A small CNN so that 8 ablations x 2 seeds fit in minutes on two CPU cores.
SMALL_CNN = ["conv16 same", "pool", "conv32 same", "pool", "fc64"]
BASE = {
    "layers": SMALL_CNN,
    "activation": "relu",
    "train_size": per_profile(quick=1000, standard=8000, full=50000),
    "val_size": per_profile(quick=500, standard=2000, full=5000),
    "test_size": per_profile(quick=1000, standard=10000, full=10000),
    "epochs": per_profile(quick=2, standard=6, full=20),
    "seeds": per_profile(quick=1, standard=2, full=3),
    "batch_size": 128,
    # Shared settings the ablations do not vary: Task 1's recipe (Adam, one-cycle to 3e-3, label
    # smoothing 0.1); an ablation of the optimiser or of L2 changes only what it compares.
    "optimizer": "adam",
    "lr": 3e-3,
    "schedule": "onecycle",
    "label_smoothing": 0.1,
    "weight_decay": 0.0,
    "aug_flip": False,
    "aug_translate": 0,
    "aug_rotate": 0.0,
    "aug_scale": 0.0,
    "aug_noise": 0.0,
    "image_size": from_data("image_size"),  # the data's own size, or the top-level image_size
}


def _val(r) -> float:
    return 100 * statistics.fmean(r.final("val", "acc"))


def _gap(r) -> float:
    return 100 * (statistics.fmean(r.final("train", "acc")) - statistics.fmean(r.final("val", "acc")))


def _one(r, base) -> str:
    if r.diverged:
        return f"{r.variant.label} diverged ({r.divergence()}; not compared)"
    if base.diverged:
        return f"{r.variant.label} {_val(r):.2f}%"
    return f"{r.variant.label} {_val(r):.2f}% ({_val(r) - _val(base):+.2f} points)"


def _versus(results) -> str:
    base = results[0]
    head = (f"{base.variant.label} (baseline) diverged ({base.divergence()})" if base.diverged
            else f"{base.variant.label} (baseline) {_val(base):.2f}%")
    return "Final validation accuracy: " + head + "; " + "; ".join(_one(r, base) for r in results[1:]) + "."


def _section(ctx, results, sentence: str, note: str = "") -> Section:
    return Section(
        title=ctx.exp.title,
        summary=sentence,
        items=[
            *headline_metrics(results),
            dataclasses.replace(curves(f"{ctx.exp.title}: accuracy", results, "acc"), key=True),
            curves(f"{ctx.exp.title}: loss", results, "loss"),
            results_table(f"{ctx.exp.title}: results", results, note=" ".join(filter(None, (note, _versus(results))))),
        ],
    )


def ablation(exp_id: str, title: str, params: dict | None = None, in_talk: bool = True):
    """Registers a Task 2 ablation with the shared baseline parameters (plus its own)."""
    return experiment(task=2, id=exp_id, title=title, params={**BASE, **(params or {})}, in_talk=in_talk)


@ablation("t2-batch-size", "Batch size", {"batch_sizes": [32, 128, 512]})
def batch_size(ctx) -> Section:
    sizes = ctx.params["batch_sizes"]
    base = ctx.params["batch_size"] if ctx.params["batch_size"] in sizes else sizes[0]
    order = [base] + [s for s in sizes if s != base]
    results = run_variants(ctx, [Variant(f"batch {s}", {"batch_size": s}) for s in order])
    fastest = min(results, key=lambda r: r.epoch_seconds)
    slowest = max(results, key=lambda r: r.epoch_seconds)
    sentence = (
        f"An epoch took {slowest.epoch_seconds:.1f} s with {slowest.variant.label} and "
        f"{fastest.epoch_seconds:.1f} s with {fastest.variant.label}; validation accuracy was "
        + ", ".join(f"{_val(r):.2f}% ({r.variant.label})" for r in results) + " after the same number of epochs."
    )
    return _section(ctx, results, sentence)


@ablation("t2-batch-norm", "Batch normalisation")
def batch_norm(ctx) -> Section:
    with_bn = [f"{t} bn" if t.startswith(("conv", "fc")) else t for t in ctx.params["layers"]]
    results = run_variants(ctx, [Variant("without BN"), Variant("with BN", {"layers": with_bn})])
    first = {r.variant.label: 100 * r.curve("val_acc")[0][0] for r in results}
    n = len(results[0].curve("val_acc")[0])
    sentence = (
        f"With batch normalisation validation accuracy reached {first['with BN']:.2f}% after 1 epoch "
        f"and {_val(results[1]):.2f}% after {n}, against {first['without BN']:.2f}% and {_val(results[0]):.2f}% without."
    )
    return _section(ctx, results, sentence)


@ablation("t2-dropout", "Dropout against overfitting on a tiny training set",
          {"train_size": 450, "epochs": per_profile(quick=6, standard=40, full=60), "dropout": 0.5})  # fmt: skip
def dropout(ctx) -> Section:
    p = ctx.params["dropout"]
    with_dropout = []
    for layer in ctx.params["layers"]:  # 0.25 after each pooling stage, p after each dense layer
        with_dropout.append(layer)
        if layer.startswith("pool"):
            with_dropout.append("dropout0.25")
        elif layer.startswith("fc"):
            with_dropout.append(f"dropout{p}")
    results = run_variants(ctx, [Variant("no dropout"), Variant(f"dropout {p}", {"layers": with_dropout})])
    sentence = (
        f"Trained on {results[0].train_images:,} images, the model without dropout ended with a train–validation "
        f"accuracy gap of {_gap(results[0]):.1f} points ({_val(results[0]):.2f}% validation); with dropout the gap was "
        f"{_gap(results[1]):.1f} points ({_val(results[1]):.2f}% validation)."
    )
    return _section(ctx, results, sentence)


@ablation("t2-augmentation", "Data augmentation",
          {"train_size": per_profile(quick=1000, standard=3000, full=20000),
           "epochs": per_profile(quick=3, standard=15, full=30)})  # fmt: skip
def augmentation(ctx) -> Section:
    on = {"aug_flip": True, "aug_translate": 2, "aug_rotate": 10.0, "aug_scale": 0.1}
    results = run_variants(ctx, [Variant("no augmentation"), Variant("flip + shift + rotate/zoom", on)])
    sentence = (
        f"With flips, 2-pixel shifts and ±10° rotations on {results[0].train_images:,} training images, validation "
        f"accuracy was {_val(results[1]):.2f}% against {_val(results[0]):.2f}% without; the train–validation gap "
        f"went from {_gap(results[0]):.1f} to {_gap(results[1]):.1f} points."
    )
    return _section(ctx, results, sentence)


# Each optimiser at a (peak) learning rate that suits it: one rate for all would compare a tuned
# Adam with a diverging or crawling SGD. Adam and AdamW use the shared `lr`; `name@lr` overrides.
OPTIMIZER_LRS = {"sgd": 0.05, "sgd-nesterov": 0.05, "rmsprop": 1e-3, "adadelta": 1.0}


def optimizer_variant(entry: str, shared_lr: float) -> Variant:
    """'sgd', 'sgd-nesterov', 'adamw' or 'sgd@0.02' -> the ablation variant with its learning rate."""
    name, _, lr_text = entry.partition("@")
    lr = float(lr_text) if lr_text else OPTIMIZER_LRS.get(name, shared_lr)
    changes = {"optimizer": name.split("-")[0], "lr": lr, "nesterov": name.endswith("nesterov")}
    if name == "adamw":  # AdamW differs from Adam only by its decoupled weight decay (torch's default)
        changes["weight_decay"] = 0.01
    return Variant(name, changes)


@ablation("t2-optimizers", "Optimisers",
          {"optimizers": ["adam", "sgd", "sgd-nesterov", "adamw", "rmsprop", "adadelta"]})  # fmt: skip
def optimizers(ctx) -> Section:
    results = run_variants(ctx, [optimizer_variant(e, ctx.params["lr"]) for e in ctx.params["optimizers"]])
    usable = ranked(results)
    lead = (f"{max(usable, key=_val).variant.label} reached the best validation accuracy ({_val(max(usable, key=_val)):.2f}%). "
            if usable else "Every optimiser diverged at its learning rate. ")
    rates = ", ".join(f"{r.variant.label} {r.params['lr']:g}" for r in results)
    note = f"Each optimiser at a peak learning rate that suits it: {rates}."
    return _section(ctx, results, lead + _versus(results), note)


# Activations and L2 stay in the report: the talk has room for one slide per central question.
@ablation("t2-activations", "Activation functions", {"activations": ["relu", "elu", "leaky_relu", "gelu"]}, in_talk=False)
def activations(ctx) -> Section:
    results = run_variants(ctx, [Variant(a, {"activation": a}) for a in ctx.params["activations"]])
    return _section(ctx, results, _versus(results))


@ablation("t2-l2", "L2 regularisation (weight decay)", {"l2": 1e-3}, in_talk=False)
def l2(ctx) -> Section:
    results = run_variants(ctx, [Variant("no L2"), Variant(f"L2 {ctx.params['l2']:g}", {"weight_decay": ctx.params["l2"]})])
    sentence = (
        f"Weight decay {ctx.params['l2']:g} changed validation accuracy from {_val(results[0]):.2f}% to "
        f"{_val(results[1]):.2f}% and the train–validation gap from {_gap(results[0]):.1f} to {_gap(results[1]):.1f} points."
    )
    return _section(ctx, results, sentence)


@ablation("t2-depth", "Depth at the same width",
          {"deeper_layers": ["conv16 same", "conv16 same", "pool", "conv16 same", "conv16 same", "pool", "fc64"],
           "layers": ["conv16 same", "pool", "conv16 same", "pool", "fc64"]})  # fmt: skip
def depth(ctx) -> Section:
    results = run_variants(ctx, [Variant("2 conv layers"), Variant("4 conv layers", {"layers": ctx.params["deeper_layers"]})])
    sentence = (
        f"Doubling the depth at the same width (16 filters a layer) took an epoch from {results[0].epoch_seconds:.1f} s to "
        f"{results[1].epoch_seconds:.1f} s and validation accuracy from {_val(results[0]):.2f}% to {_val(results[1]):.2f}%."
    )
    return _section(ctx, results, sentence)

"""Task 2: training ablations (batch size, batch norm, dropout, augmentation, optimisers,
activations, L2, depth), each against a pinned baseline over several seeds.

This module computes: each experiment returns a Record of every variant's runs (final scores,
histories, divergence, settings, images used, seconds; see `_ablation`). What readers see
(curves, the table, the sentence, key numbers) is built at render time by `task2_present`,
which this module never imports: editing a caption re-trains nothing.
"""

from __future__ import annotations

from reportgen.params import RECIPE
from reportgen.records import Record
from reportgen.registry import experiment, from_data, per_profile

from ._ablation import Variant, ablation_record

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
    **RECIPE,
    "weight_decay": 0.0,
    "aug_flip": False,
    "aug_translate": 0,
    "aug_rotate": 0.0,
    "aug_scale": 0.0,
    "aug_noise": 0.0,
    "image_size": from_data("image_size"),  # the data's own size, or the top-level image_size
}


def ablation(exp_id: str, title: str, params: dict | None = None, in_talk: bool = True):
    """Registers a Task 2 ablation with the shared baseline parameters (plus its own)."""
    return experiment(task=2, id=exp_id, title=title, params={**BASE, **(params or {})}, in_talk=in_talk)


@ablation("t2-batch-size", "Batch size", {"batch_sizes": [32, 128, 512]})
def batch_size(ctx) -> Record:
    sizes = ctx.params["batch_sizes"]
    base = ctx.params["batch_size"] if ctx.params["batch_size"] in sizes else sizes[0]
    order = [base] + [s for s in sizes if s != base]
    return ablation_record(ctx, [Variant(f"batch {s}", {"batch_size": s}) for s in order])


@ablation("t2-batch-norm", "Batch normalisation")
def batch_norm(ctx) -> Record:
    with_bn = [f"{t} bn" if t.startswith(("conv", "fc")) else t for t in ctx.params["layers"]]
    return ablation_record(ctx, [Variant("without BN"), Variant("with BN", {"layers": with_bn})])


@ablation("t2-dropout", "Dropout against overfitting on a tiny training set",
          {"train_size": 450, "epochs": per_profile(quick=6, standard=40, full=60), "dropout": 0.5})  # fmt: skip
def dropout(ctx) -> Record:
    p = ctx.params["dropout"]
    with_dropout = []
    for layer in ctx.params["layers"]:  # 0.25 after each pooling stage, p after each dense layer
        with_dropout.append(layer)
        if layer.startswith("pool"):
            with_dropout.append("dropout0.25")
        elif layer.startswith("fc"):
            with_dropout.append(f"dropout{p}")
    return ablation_record(ctx, [Variant("no dropout"), Variant(f"dropout {p}", {"layers": with_dropout})])


@ablation("t2-augmentation", "Data augmentation",
          {"train_size": per_profile(quick=1000, standard=3000, full=20000),
           "epochs": per_profile(quick=3, standard=15, full=30)})  # fmt: skip
def augmentation(ctx) -> Record:
    on = {"aug_flip": True, "aug_translate": 2, "aug_rotate": 10.0, "aug_scale": 0.1}
    return ablation_record(ctx, [Variant("no augmentation"), Variant("flip + shift + rotate/zoom", on)])


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
def optimizers(ctx) -> Record:
    return ablation_record(ctx, [optimizer_variant(e, ctx.params["lr"]) for e in ctx.params["optimizers"]])


# Activations and L2 stay in the report: the talk has room for one slide per central question.
@ablation("t2-activations", "Activation functions", {"activations": ["relu", "elu", "leaky_relu", "gelu"]}, in_talk=False)
def activations(ctx) -> Record:
    return ablation_record(ctx, [Variant(a, {"activation": a}) for a in ctx.params["activations"]])


@ablation("t2-l2", "L2 regularisation (weight decay)", {"l2": 1e-3}, in_talk=False)
def l2(ctx) -> Record:
    return ablation_record(ctx, [Variant("no L2"), Variant(f"L2 {ctx.params['l2']:g}", {"weight_decay": ctx.params["l2"]})])


@ablation("t2-depth", "Depth at the same width",
          {"deeper_layers": ["conv16 same", "conv16 same", "pool", "conv16 same", "conv16 same", "pool", "fc64"],
           "layers": ["conv16 same", "pool", "conv16 same", "pool", "fc64"]})  # fmt: skip
def depth(ctx) -> Record:
    return ablation_record(ctx, [Variant("2 conv layers"), Variant("4 conv layers", {"layers": ctx.params["deeper_layers"]})])

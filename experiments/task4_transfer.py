"""Task 4: transfer learning. Four ways to get a classifier for a small target task, compared on
the same images: from scratch, an own model pre-trained on a source task (frozen or fine-tuned),
an ImageNet backbone as a frozen feature extractor, and its last blocks fine-tuned.

Frozen parts of a network are run once per image (and per augmented variant) and only the
trainable rest is trained on their stored outputs (`reportgen.nn.frozen`).

This module computes: each experiment returns a Record of what it measured (accuracies in %,
curves, parameter counts, seconds, the arrays it saved). What readers see (titles, captions,
sentences, tables) is built from the records at render time by `task4_present`, which this
module never imports: editing a caption re-trains nothing.
"""

from __future__ import annotations

from typing import Any

from reportgen.records import Record
from reportgen.registry import experiment, linked, per_profile

from ._fewshot import (
    count_params,
    curve,
    history_record,
    method_record,
    paired_curve,
    predict,
    settings,
    shots_metrics,
    shots_record,
    target_data,
)
from ._finetune import finetune_tail, frozen_outputs, split_backbone

# The target task: images per class of the main comparison and of the held-out sets. Every
# Task 4 experiment takes these, so all of them see exactly the same images.
DATA = {
    # The own model's pre-training: "auto" splits the data's classes in two (a folder's too, from
    # 4 classes), "embedded" pre-trains on the built-in dataset with a folder as the whole target.
    "source": "auto",
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
# Method ids: record keys, file names (predictions-<id>.npy) and the comparison's row order.
SCRATCH, OWN_FROZEN, OWN_TUNED = "scratch", "own-frozen", "own-tuned"
BACKBONE_FROZEN, BACKBONE_TUNED = "backbone-frozen", "backbone-tuned"
# The comparison reads every method experiment the config keeps: switching one off
# (`[experiments.t4-own-model] enabled = false`) drops its rows, not the comparison.
METHOD_TAG = "transfer-method"


# --- method 1: from scratch ----------------------------------------------------------------


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
    tags=(METHOD_TAG,),
    in_talk=False,
)
def scratch(ctx) -> Record:
    """The Task 1 baseline trained on the target images alone, at the main shots and along the curve."""
    import time

    import torch

    from reportgen.data.splits import Split, Splits
    from reportgen.nn.spec import build_model
    from reportgen.nn.train import fit

    data = target_data(ctx)
    pool = data.target

    def train(splits: Any, label: str) -> tuple[Any, Any, float]:
        torch.manual_seed(ctx.seed)
        model = build_model(ctx.params["layers"], splits.image_shape, splits.num_classes)
        started = time.perf_counter()
        result = fit(model, splits, settings(ctx.params, len(splits.train)), seed=ctx.seed, device=ctx.device,
                     progress=ctx.progress, label=f"{ctx.exp.id}: {label}")  # fmt: skip
        return model.cpu(), result, time.perf_counter() - started

    main = data.main_target()
    model, result, seconds = train(main, f"{data.shots or 'all'} images per class")

    def on_rows(rows: Any) -> Any:
        subset = Splits(
            Split(pool.train.x[rows], pool.train.y[rows]), pool.val, pool.test, pool.classes, pool.mean, pool.std
        )
        return train(subset, f"{len(rows)} images")[1]

    runs = curve(ctx, data, on_rows, result)
    n = count_params(model)
    method = method_record(ctx, SCRATCH, result, trainable=n, total=n, seconds=seconds,
                           predictions=predict(model, pool.test.x))  # fmt: skip
    method["shots"] = shots_record(runs)
    return Record({
        "methods": {SCRATCH: method},
        "parameters": n,
        "train_images": len(main.train),
        "classes": list(pool.classes),
        "metrics": {"test accuracy": method["test_accuracy"], **shots_metrics(method["shots"])},
    })  # fmt: skip


# --- method 2: own model pre-trained on the source task ------------------------------------


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
        # float32, not bfloat16: a body pre-trained in bfloat16 gave its frozen head lower test
        # accuracy for each of seeds 0, 1, 2 (87.5 / 86.7 / 88.1 % against 89.7 / 87.0 / 88.8 %,
        # standard profile), for 8 s saved.
        "precision": "fp32",
    },
    tags=(METHOD_TAG,),
    in_talk=False,
)
def own_model(ctx) -> Record:
    """Pre-trains the baseline on the source classes; then a new head on its frozen body (features
    computed once), and the whole network fine-tuned at a lower learning rate."""
    import copy
    import time

    import torch
    from torch import nn

    from reportgen.data.fewshot import InputFormat, convert_splits
    from reportgen.nn.frozen import feature_splits, split_sequential
    from reportgen.nn.train import fit

    p = ctx.params
    data = target_data(ctx, source_sizes=(p["source_train_size"], p["source_val_size"], p["source_val_size"]))
    target = data.main_target()
    source = data.source
    if source.image_shape != target.image_shape:  # a folder target: pre-train at the target's format
        c, h, _ = target.image_shape
        source = convert_splits(source, InputFormat(c, h, tuple(target.mean), tuple(target.std)))

    pretrained, src, source_seconds = _pretrain(ctx, source)

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
    head_settings = settings(p, len(target.train), lr=p["head_lr"], epochs=p["head_epochs"], patience=2 * p["patience"])
    frozen = fit(head, features.data, head_settings, seed=ctx.seed, device=ctx.device,
                 progress=ctx.progress, label=f"{ctx.exp.id}: new head")  # fmt: skip
    frozen_seconds = time.perf_counter() - started
    frozen_preds = predict(head.cpu(), features.data.test.x)

    # (b) The whole network fine-tuned from the pre-trained weights with a new last layer.
    tuned_model = copy.deepcopy(pretrained)
    torch.manual_seed(ctx.seed)
    tuned_model.head = nn.Linear(tuned_model.head.in_features, target.num_classes)
    started = time.perf_counter()
    tuned = fit(tuned_model, target, settings(p, len(target.train), lr=p["finetune_lr"]), seed=ctx.seed,
                device=ctx.device, progress=ctx.progress, label=f"{ctx.exp.id}: fine-tuning")  # fmt: skip
    tuned_seconds = time.perf_counter() - started

    methods = {
        OWN_FROZEN: method_record(ctx, OWN_FROZEN, frozen, trainable=count_params(head),
                                  total=count_params(body) + count_params(head), seconds=frozen_seconds,
                                  predictions=frozen_preds),
        OWN_TUNED: method_record(ctx, OWN_TUNED, tuned, trainable=count_params(tuned_model),
                                 total=count_params(tuned_model), seconds=tuned_seconds,
                                 predictions=predict(tuned_model.cpu(), target.test.x)),
    }  # fmt: skip
    return Record({
        "methods": methods,
        "source": {
            "classes": list(source.classes),
            "train_images": len(source.train),
            "epochs": len(src.history),
            "test_accuracy": 100 * float(src.test.acc),
            "time_s": float(source_seconds),
            "history": history_record(src.history),
        },
        "features": int(features.shape[0]),
        "target_classes": target.num_classes,
        "metrics": {
            "frozen body test accuracy": methods[OWN_FROZEN]["test_accuracy"],
            "fine-tuned test accuracy": methods[OWN_TUNED]["test_accuracy"],
            "source-task test accuracy": 100 * float(src.test.acc),
            "source pre-training time": float(source_seconds),
        },
    })  # fmt: skip


def _pretrain(ctx, source: Any) -> tuple[Any, Any, float]:
    """The baseline trained on the source task and saved as files/source-model.pt (in eval mode,
    on the CPU); (model, fit result, seconds)."""
    import time

    import torch

    from reportgen.nn.checkpoint import save_checkpoint
    from reportgen.nn.spec import build_model
    from reportgen.nn.train import TrainSettings, fit

    p = ctx.params
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
    return pretrained, src, source_seconds


# --- methods 3 and 4: an ImageNet backbone ------------------------------------------------


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
    tags=(METHOD_TAG,),
    in_talk=False,
)
def backbone_methods(ctx) -> Record:
    """Method 3: a linear classifier on the frozen backbone's pooled features. Method 4: its last
    blocks fine-tuned (lower learning rate than the classifier, which starts from method 3's),
    on stored outputs of the frozen blocks for every image and augmented variant."""
    import copy
    import time

    import torch
    from torch import nn

    from reportgen.data.fewshot import per_class_indices
    from reportgen.nn.backbones import load_backbone
    from reportgen.nn.frozen import NormalisedLinear, take_rows
    from reportgen.nn.train import fit

    p = ctx.params
    size, n_blocks = p["backbone_size"], p["finetune_blocks"]
    data = target_data(ctx, folder_size=size)
    pool = data.target
    backbone = load_backbone(p["backbone"])
    prefix, tail, block_params = split_backbone(backbone, n_blocks)
    pooled = nn.Sequential(tail.blocks, tail.pool, tail.flatten)  # the frozen features: the tail in eval mode
    backbone_params = count_params(backbone.model) - count_params(backbone.classifier)
    stored, features, variants = frozen_outputs(ctx, data, backbone, prefix, pooled)
    per_prefix = stored.seconds / (len(stored.data.train) + len(stored.data.val) + len(stored.data.test))
    n_images = len(features.data.train) + len(features.data.val) + len(features.data.test)
    per_image = per_prefix + features.seconds / n_images

    # Method 3: a new linear classifier on the frozen features.
    main_rows = per_class_indices(pool.train.y, data.shots) if data.shots else torch.arange(len(pool.train))

    def train_head(rows: Any) -> tuple[Any, Any, float]:
        subset = take_rows(features, rows).data
        torch.manual_seed(ctx.seed)
        head = NormalisedLinear(backbone.feature_dim, pool.num_classes).imprint(subset.train.x, subset.train.y)
        started = time.perf_counter()
        result = fit(head, subset, settings(p, len(subset.train)), seed=ctx.seed, device=ctx.device,
                     progress=ctx.progress, label=f"{ctx.exp.id}: classifier, {len(rows)} images")  # fmt: skip
        # As a user would run it: its images through the frozen network, then the classifier.
        images = len(subset.train) + len(subset.val) + len(subset.test)
        return head.cpu(), result, images * per_image + time.perf_counter() - started

    head, frozen, frozen_seconds = train_head(main_rows)
    runs = curve(ctx, data, lambda rows: train_head(rows)[1], frozen)
    methods = {
        BACKBONE_FROZEN: method_record(ctx, BACKBONE_FROZEN, frozen, trainable=count_params(head),
                                       total=backbone_params + count_params(head), seconds=frozen_seconds,
                                       predictions=predict(head, features.data.test.x)),
    }  # fmt: skip
    methods[BACKBONE_FROZEN]["shots"] = shots_record(runs)

    # Method 4: the last blocks fine-tuned on the stored outputs (originals and variants).
    tail.add_module("head", copy.deepcopy(head))
    methods[BACKBONE_TUNED], trainable = finetune_tail(
        ctx, BACKBONE_TUNED, tail, block_params, take_rows(stored, main_rows),
        test_x=stored.data.test.x, per_prefix=per_prefix, backbone_params=backbone_params,
    )  # fmt: skip
    return Record({
        "methods": methods,
        "backbone": {"source": backbone.source, "feature_dim": int(backbone.feature_dim), "blocks": len(backbone.model.blocks)},
        "tuned_block_weights": trainable - count_params(tail.head),
        "frozen_time_per_image_ms": 1000 * per_image,
        "images": n_images,
        "classes": list(pool.classes),
        "augmented_variants": variants,
        "metrics": {
            "frozen features test accuracy": methods[BACKBONE_FROZEN]["test_accuracy"],
            "fine-tuned test accuracy": methods[BACKBONE_TUNED]["test_accuracy"],
            "frozen network time per image": 1000 * per_image,
            **shots_metrics(methods[BACKBONE_FROZEN]["shots"]),
        },
    })  # fmt: skip


# --- the comparison ------------------------------------------------------------------------

@experiment(task=4, id="t4-comparison", title="Transfer learning compared", params={**DATA}, needs=(f"tag:{METHOD_TAG}",))
def comparison(ctx) -> Record:
    """Every method's numbers side by side, the best method's confusion matrix and mistakes, and
    accuracy against images per class for methods 1 and 3 with the margin at the fewest images."""
    import numpy as np

    data = target_data(ctx)
    target = data.target
    methods: dict[str, dict[str, Any]] = {}
    holder: dict[str, str] = {}  # method -> the experiment whose files hold its arrays
    for exp_id in ctx.needs:
        for method, values in ctx.record(exp_id)["methods"].items():
            methods[method], holder[method] = values, exp_id
    if not methods:
        from reportgen.errors import ReportgenError

        raise ReportgenError("the transfer comparison has no method to compare: every t4 method experiment is disabled",
                             exit_code=2)  # fmt: skip
    # Chosen on validation, not on test.
    best = max(methods, key=lambda m: (methods[m]["val_accuracy"], methods[m]["test_accuracy"]))

    predictions = np.load(ctx.needs[holder[best]].files / f"predictions-{best}.npy").astype(np.int64)
    truth = target.test.y.numpy()
    n_classes = target.num_classes
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (truth, predictions), 1)
    wrong = np.flatnonzero(predictions != truth)
    pixels = (target.test.x * _column(target.std) + _column(target.mean)).clamp(0, 1).numpy()
    mistakes = {"images": [], "true": [], "predicted": [], "wrong": int(len(wrong))}
    for i in wrong[:12]:
        picture = pixels[i][0] if pixels.shape[1] == 1 else pixels[i].transpose(1, 2, 0)
        mistakes["images"].append(ctx.save_array(f"mistake-{i}", picture))
        mistakes["true"].append(int(truth[i]))
        mistakes["predicted"].append(int(predictions[i]))

    backbone = ctx.needs["t4-backbone"].inputs["params"] if "t4-backbone" in ctx.needs else {}
    record: dict[str, Any] = {
        "methods": {m: {k: v for k, v in values.items() if k != "shots"} for m, values in methods.items()},
        "backbone": backbone.get("backbone"),
        "finetune_blocks": backbone.get("finetune_blocks"),
        "best": best,
        "shots_per_class": data.shots,
        "classes": list(target.classes),
        "confusion": confusion.tolist(),
        "mistakes": mistakes,
        "data": {"description": data.description, "notes": list(data.notes)},
        "metrics": {"best test accuracy": methods[best]["test_accuracy"]},
    }
    record.update(paired_curve({m: methods[m].get("shots", []) for m in (SCRATCH, BACKBONE_FROZEN) if m in methods}))
    if "fewest" in record:
        record["metrics"]["margin at the fewest images per class"] = record["fewest"]["margin"]
    return Record(record)


def _column(values: list[float]) -> Any:
    import torch

    return torch.tensor(values).view(1, -1, 1, 1)

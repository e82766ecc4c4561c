"""The few-shot harness of Task 4: the shared target data, training settings with a minimum
number of optimiser steps, predictions, and accuracy against training images per class (the
same random draws for every method). Computes only: what it returns is record data (numbers
and lists), never text. Torch is imported inside the functions.
"""

from __future__ import annotations

import math
from typing import Any


def target_data(ctx, *, source_sizes: tuple[int, int, int] = (0, 0, 0), folder_size: int | None = None) -> Any:
    """The few-shot split every Task 4 experiment sees (the same images for all of them)."""
    from reportgen.data.transfer import transfer_data

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
        source=p.get("source", "auto"),
    )
    ctx.skipped = list(data.target.skipped)  # named in the deliverables' provenance
    return data


def settings(params: dict[str, Any], n_train: int, **changes: Any) -> Any:
    """TrainSettings from the parameters, with enough epochs for min_steps optimiser steps."""
    from reportgen.nn.train import TrainSettings

    result = TrainSettings.from_params({**params, **changes})
    steps = max(math.ceil(n_train / result.batch_size), 1)
    result.epochs = max(result.epochs, math.ceil(params["min_steps"] / steps))
    return result


def predict(model: Any, x: Any, batch_size: int = 256) -> Any:
    """Predicted classes of `x`, the model's train/eval modes left as they were."""
    import torch

    from reportgen.nn.hooks import preserved_modes

    with preserved_modes(model, train=False), torch.inference_mode():
        return torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])


def count_params(module: Any, trainable: bool | None = None) -> int:
    return sum(p.numel() for p in module.parameters() if trainable is None or p.requires_grad == trainable)


def method_record(ctx, method: str, result: Any, *, trainable: int, total: int, seconds: float, predictions: Any) -> dict:
    """One method's numbers (accuracies in %, its curves, parameter counts, wall time); its test
    predictions go to predictions-<method>.npy for the comparison's confusion matrix."""
    ctx.save_array(f"predictions-{method}", predictions.numpy())
    history = result.history
    return {
        "trainable": int(trainable),
        "total": int(total),
        "epochs": len(history),
        "best_epoch": int(result.best_epoch),
        "train_accuracy": 100 * float(result.train.acc),
        "val_accuracy": 100 * float(result.val.acc),
        "test_accuracy": 100 * float(result.test.acc),
        "wall_s": float(seconds),
        "history": history_record(history),
    }


def history_record(history: list[Any]) -> dict[str, list[float]]:
    """Accuracy (%) per epoch, training (running mean over the epoch) and validation, and the learning rate."""
    return {
        "train": [100 * float(e.train_acc) for e in history],
        "validation": [100 * float(e.val_acc) for e in history],
        "lr": [float(e.lr) for e in history],
    }


def shots_list(ctx, data: Any) -> list[int]:
    """Images per class for the curve that the training pool has (a folder's smallest class caps it)."""
    import torch

    fewest = int(torch.bincount(data.target.train.y).min())
    return sorted({k for k in ctx.params["shots_curve"] if k <= fewest})


def curve(ctx, data: Any, train_one: Any, main: Any) -> dict[int, list[Any]]:
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
    for k in shots_list(ctx, data):
        if k == largest:  # the curve stops at the smallest class, so every class has exactly k
            runs[k] = [main if main_is_all else train_one(torch.arange(len(y)))]
        else:
            runs[k] = [train_one(draw_per_class(y, k, [ctx.seed, k, r])) for r in range(ctx.params["shots_draws"])]
    return runs


def shots_record(runs: dict[int, list[Any]]) -> list[dict[str, Any]]:
    """The curve as record data: per k, the accuracies (in %) of every draw."""
    return [
        {
            "k": int(k),
            **{f"{split}_accuracy": [100 * float(getattr(r, split).acc) for r in results] for split in ("train", "val", "test")},
        }
        for k, results in runs.items()
    ]


def shots_metrics(shots: list[dict[str, Any]]) -> dict[str, float]:
    """"test accuracy at k images per class": the mean over the draws, for live numbers."""
    return {f"test accuracy at {row['k']} images per class": sum(row["test_accuracy"]) / len(row["test_accuracy"]) for row in shots}


def paired_curve(methods: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Accuracy against images per class of two methods trained on the same draws (name ->
    shots_record, baseline first) and the second's margin over the first at the fewest images:
    {"curve": name -> k, mean, std; "fewest": k, draws, means by name, margin, wins}, or {}."""
    import numpy as np

    shots = {name: {row["k"]: np.array(row["test_accuracy"]) for row in rows} for name, rows in methods.items() if rows}
    ks = sorted(set.intersection(*(set(v) for v in shots.values()))) if len(shots) == 2 == len(methods) else []
    if not ks:
        return {}
    curve_data = {
        name: {"k": ks, "mean": [float(v[k].mean()) for k in ks], "std": [float(v[k].std()) for k in ks]}
        for name, v in shots.items()
    }
    first, second = (shots[name][ks[0]] for name in methods)
    fewest = {
        "k": ks[0],
        "draws": len(second),
        "mean": {name: float(shots[name][ks[0]].mean()) for name in methods},
        "margin": float(second.mean() - first.mean()),
        "wins": int((second > first).sum()),
    }
    return {"curve": curve_data, "fewest": fewest}

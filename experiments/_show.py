"""Formatting helpers shared by the task modules (numbers as a reader wants them)."""

from __future__ import annotations


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def count(n: float) -> str:
    return f"{int(n):,}"


def shape(s: tuple[int, ...] | list[int]) -> str:
    return "×".join(str(d) for d in s)


def plural(n: int, word: str, many: str = "") -> str:
    """'1 epoch', '3 epochs'."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


OPTIMIZER_NAMES = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop", "adadelta": "Adadelta"}


def recipe(params: dict) -> str:
    """The training recipe in one sentence, so that a reader knows what schedule produced a curve."""
    return f"Trained with {training_recipe(params)}."


def training_recipe(params: dict) -> str:
    """'Adam with a one-cycle schedule (...), label smoothing 0.1, batch 128'."""
    name = OPTIMIZER_NAMES.get(params.get("optimizer", "adam"), params.get("optimizer", "adam"))
    if params.get("optimizer") == "sgd" and params.get("momentum", 0.9):
        name += f" (momentum {params.get('momentum', 0.9):g})"
    lr = f"{params.get('lr', 1e-3):g}"
    schedule = params.get("schedule", "constant")
    how = {
        "onecycle": f"a one-cycle schedule (warm-up over the first 30% of steps to lr {lr}, then cosine decay)",
        "step": f"lr {lr}, divided by 10 every third of the epochs",
        "plateau": f"lr {lr}, reduced when validation accuracy stalls",
    }.get(schedule, f"a constant lr {lr}")
    parts = [f"{name} with {how}"]
    if params.get("label_smoothing"):
        parts.append(f"label smoothing {params['label_smoothing']:g}")
    if params.get("weight_decay"):
        parts.append(f"weight decay {params['weight_decay']:g}")
    parts.append(f"batch {params.get('batch_size', 128)}")
    return ", ".join(parts)

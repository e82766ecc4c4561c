"""Range checks for experiment parameters, run when planning: a bad value fails in a second,
naming the experiment and the key, not after minutes of training.

Common parameter names have rules here; an experiment adds its own with `checks=`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reportgen.nn.layers import check_layers

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adadelta")
SCHEDULES = ("constant", "step", "onecycle", "plateau")
ACTIVATIONS = ("relu", "elu", "leaky_relu", "gelu", "tanh", "sigmoid")
TRANSFER_SOURCES = ("auto", "embedded", "folder")  # Task 4's source task: see reportgen.data.transfer

# How to train where a course prescribes the network, not how to train it (Tasks 1 and 2, and the
# student's own variants): Adam with a one-cycle schedule (warm-up to 3e-3, cosine decay) and label
# smoothing 0.1 reached 89.6 % in the standard budget against 87.8-88.5 % with a constant 1e-3
# (benchmarks/time_to_accuracy.py). precision "auto" multiplies in bfloat16 where the CPU or GPU
# does so natively (runtime.precision_for: 1.6x a step for the baseline on the course machine).
RECIPE = {"optimizer": "adam", "lr": 3e-3, "schedule": "onecycle", "label_smoothing": 0.1, "precision": "auto"}


@dataclass(frozen=True)
class Rule:
    """A predicate over one value and the words that say what it must be."""

    ok: Callable[[Any], bool]
    must_be: str


def at_least(low: float) -> Rule:
    return Rule(lambda v: v >= low, f"at least {low:g}")


def positive() -> Rule:
    return Rule(lambda v: v > 0, "greater than 0")


def fraction() -> Rule:
    return Rule(lambda v: 0 <= v < 1, "from 0 up to (not including) 1")


def one_of(choices: tuple[str, ...]) -> Rule:
    return Rule(lambda v: v in choices, f"one of {', '.join(choices)}")


def each(rule: Rule) -> Rule:
    return Rule(lambda values: bool(values) and all(rule.ok(v) for v in values), f"a non-empty list, each {rule.must_be}")


def _optimizer_entry(value: str) -> bool:
    """'adam', 'sgd-nesterov' or 'sgd@0.02' (an optimiser with its own learning rate)."""
    name, at, lr = value.partition("@")
    return name.split("-")[0] in OPTIMIZERS and (not at or float(lr) > 0)


def _layers_problem(value: Any) -> str:
    return check_layers(value) if isinstance(value, list) else "expected a list of layer strings"


LAYERS = Rule(lambda v: not _layers_problem(v), "a valid list of layers")

# Parameters that take a count (the first N test images) or a list of indices into the test split.
COUNT_OR_INDICES = ("test_images",)


def _count_or_indices(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value)
    return isinstance(value, int) and value >= 1


TEST_IMAGES = Rule(_count_or_indices, "a count of at least 1 (the first test images) or a non-empty list of indices from 0")

RULES: dict[str, Rule] = {
    "epochs": at_least(1),
    "batch_size": at_least(2),
    "eval_batch_size": at_least(1),
    "batch_sizes": each(at_least(2)),
    "lr": positive(),
    "l2": at_least(0),
    "weight_decay": at_least(0),
    "momentum": fraction(),
    "label_smoothing": fraction(),
    "dropout": fraction(),
    "patience": at_least(0),
    "clip_grad": at_least(0),
    "seeds": at_least(1),
    "train_size": at_least(1),
    "val_size": at_least(1),
    "test_size": at_least(1),
    "train_eval_size": at_least(0),
    "image_size": Rule(lambda v: 8 <= v <= 1024, "from 8 to 1024"),
    "input_size": Rule(lambda v: 8 <= v <= 1024, "from 8 to 1024"),
    "optimizer": one_of(OPTIMIZERS),
    "source": one_of(TRANSFER_SOURCES),
    "optimizers": each(Rule(_optimizer_entry, f"one of {', '.join(OPTIMIZERS)} (sgd-nesterov too), optionally with @lr")),
    "schedule": one_of(SCHEDULES),
    "precision": one_of(("auto", "bf16", "fp32")),
    "activation": one_of(ACTIVATIONS),
    "activations": each(one_of(ACTIVATIONS)),
    "aug_translate": at_least(0),
    "aug_rotate": at_least(0),
    "aug_scale": fraction(),
    "aug_noise": at_least(0),
    "iterations": at_least(1),
    "steps": at_least(1),
    "octaves": at_least(1),
    "perplexity": positive(),
    "layers": LAYERS,
    "deeper_layers": LAYERS,
    "test_images": TEST_IMAGES,
    "test_index": at_least(0),
}


def check_all(params: dict[str, Any], extra: dict[str, Rule] | None = None) -> str:
    """The first problem with `params` as 'key: must be ..., got ...', or '' when all is well."""
    rules = {**RULES, **(extra or {})}
    for name, value in params.items():
        rule = rules.get(name)
        if rule is None or value is None:
            continue
        try:
            ok = rule.ok(value)
        except (TypeError, ValueError, AttributeError):
            ok = False
        if not ok:
            detail = _layers_problem(value) if rule is LAYERS else ""
            return f"{name}: must be {rule.must_be}, got {value!r}" + (f" ({detail})" if detail else "")
    return _index_problem(params)


def _index_problem(params: dict[str, Any]) -> str:
    """An index into the test split past the images the experiment draws (its test_size)."""
    size = params.get("test_size")
    if not isinstance(size, int):
        return ""
    for name in ("test_images", "test_index"):
        value = params.get(name)
        indices = value if isinstance(value, list) else [value] if name == "test_index" else []
        past = [i for i in indices if isinstance(i, int) and i >= size]
        if past:
            return (f"{name}: index {past[0]} is past the test split, which holds test_size = {size} images "
                    f"(indices 0 to {size - 1}), got {value!r}")  # fmt: skip
    return ""

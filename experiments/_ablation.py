"""Runs an ablation (a baseline and variants, each over several seeds) and records what it measured.

Shared by the task modules. The record holds, per variant and seed, the final scores on each
split and the per-epoch history; what readers see of it (mean ± std tables, curves with bands,
key numbers) is built at render time by `_ablation_present`, which this module never imports.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from reportgen.records import Record

SPLITS = ("train", "val", "test")
HISTORY = ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")


@dataclass
class Variant:
    """One configuration of an ablation: a label and the parameters it changes."""

    label: str
    changes: dict[str, Any] = field(default_factory=dict)


def seeds_for(ctx) -> list[int]:
    return [ctx.seed + i for i in range(ctx.params["seeds"])]


def _number(value: float) -> float | None:
    """A record holds no NaN: a diverged run's loss is None."""
    value = float(value)
    return value if math.isfinite(value) else None


def run_record(result: Any, seed: int) -> dict[str, Any]:
    """One seed's fit: final loss and accuracy (a fraction) per split, the history, divergence."""
    return {
        "seed": seed,
        **{split: {"loss": _number(getattr(result, split).loss), "acc": _number(getattr(result, split).acc)} for split in SPLITS},
        "history": {name: [_number(v) for v in result.series(name)] for name in HISTORY},
        "initial_loss": _number(result.initial_loss),
        "diverged": bool(result.diverged),
    }


def _changed_columns(variants: list[Variant]) -> list[str]:
    names: list[str] = []
    for v in variants:
        names += [k for k in v.changes if k not in names]
    return names


# This process's fits, by everything a fit depends on. Five Task 2 ablations (batch size, batch
# norm, optimisers, activations, L2) share one baseline, the same settings, seeds and data: it is
# trained once a build instead of five times. Training is deterministic for these inputs (two cold
# builds give identical numbers: tests/test_reproducible.py), so a reused fit is the fit.
_FITS: dict[str, Any] = {}
_MAX_FITS = 64  # a long-lived process (serve) keeps at most this many


def _fit_key(ctx, params: dict[str, Any], settings: Any, augment: Any, seed: int) -> str:
    from dataclasses import asdict

    return json.dumps({
        "train": asdict(settings), "augment": asdict(augment), "layers": params["layers"],
        "activation": params["activation"], "seed": seed, "device": ctx.device_name,
        # what ctx.data(seed=, train_size=) draws from
        "data": [repr(ctx.dataset), params["train_size"], ctx.params.get("val_size", 1000), ctx.params["test_size"],
                 ctx.params.get("image_size")],
    }, sort_keys=True, default=str)  # fmt: skip


def _remember(key: str, result: Any) -> None:
    if len(_FITS) >= _MAX_FITS:
        _FITS.clear()
    _FITS[key] = result


def run_variants(ctx, variants: list[Variant], checkpoint: bool = True) -> list[dict[str, Any]]:
    """Trains every variant for every seed; saves the baseline's first-seed weights as model.pt."""
    import torch

    from reportgen.data.augment import AugmentSettings, make_augment
    from reportgen.nn.checkpoint import save_torch
    from reportgen.nn.spec import build_model
    from reportgen.nn.train import TrainSettings, fit

    changed = _changed_columns(variants)
    results = []
    for variant in variants:
        params = {**ctx.params, **variant.changes}
        runs, images = [], 0
        for seed in seeds_for(ctx):
            data = ctx.data(seed=seed, train_size=params["train_size"])
            images = len(data.train)  # what the data gave, not what was asked for
            torch.manual_seed(seed)
            model = build_model(params["layers"], data.image_shape, data.num_classes, params["activation"])
            aug_settings, settings = AugmentSettings.from_params(params), TrainSettings.from_params(params)
            augment = make_augment(aug_settings, data.mean, data.std)
            key = _fit_key(ctx, params, settings, aug_settings, seed)
            result = _FITS.get(key)
            if result is None:
                result = fit(
                    model, data, settings, seed=seed, device=ctx.device,
                    augment=augment, progress=ctx.progress, label=f"{ctx.exp.id}: {variant.label} (seed {seed})",
                )  # fmt: skip
                _remember(key, result)
            if checkpoint and not results and not runs:
                save_torch({"layers": params["layers"], "activation": params["activation"],
                            "state_dict": result.state_dict, "classes": data.classes},
                           ctx.files / "model.pt")  # fmt: skip
            runs.append(run_record(result, seed))
        results.append({
            "label": variant.label,
            "changes": dict(variant.changes),
            "settings": {name: params[name] for name in changed},
            "lr": float(params["lr"]),
            "train_images": images,
            "runs": runs,
        })  # fmt: skip
    return results


def ablation_record(ctx, variants: list[Variant], checkpoint: bool = True, **extra: Any) -> Record:
    """The record of an ablation: every variant's runs, the settings that differ, and under
    "metrics" each variant's mean validation accuracy (%) as "val accuracy, <label>"."""
    results = run_variants(ctx, variants, checkpoint)
    metrics = {}
    for v in results:
        accs = [r["val"]["acc"] for r in v["runs"]]
        if all(a is not None for a in accs):
            metrics[f"val accuracy, {v['label']}"] = 100 * statistics.fmean(accs)
    return Record({"changed": _changed_columns(variants), "seeds": seeds_for(ctx), "variants": results,
                   **extra, "metrics": metrics})  # fmt: skip

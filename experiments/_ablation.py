"""Runs an ablation (a baseline and variants, each over several seeds) and shows it.

Shared by the task modules: curves show the mean over seeds with a band for the spread,
tables show mean ± std, and only the settings that differ from the baseline get a column.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from experiments._show import training_recipe
from reportgen.results import Curves, Metric, Table


@dataclass
class Variant:
    """One configuration of an ablation: a label and the parameters it changes."""

    label: str
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass
class VariantRuns:
    """What several seeds of one variant measured."""

    variant: Variant
    params: dict[str, Any]
    runs: list[Any]  # FitResult per seed
    train_images: int = 0  # images each run trained on (what the data gave, not what was asked for)

    def final(self, split: str, what: str) -> list[float]:
        return [getattr(getattr(r, split), what) for r in self.runs]

    def curve(self, name: str) -> tuple[list[float], list[float]]:
        """Mean and std over seeds of a per-epoch series (runs may stop early: shortest length)."""
        length = min(len(r.history) for r in self.runs)
        columns = [[r.series(name)[i] for r in self.runs] for i in range(length)]
        # A diverged seed's NaN makes the whole point NaN (statistics would raise on it).
        finite = [all(math.isfinite(v) for v in c) for c in columns]
        return ([statistics.fmean(c) if ok else math.nan for c, ok in zip(columns, finite)],
                [statistics.pstdev(c) if ok else math.nan for c, ok in zip(columns, finite)])  # fmt: skip

    @property
    def epoch_seconds(self) -> float:
        return statistics.fmean(r.epoch_seconds for r in self.runs)

    @property
    def diverged(self) -> bool:
        """Some seed's training loss went NaN or ended above where it started: shown, never ranked."""
        return any(r.diverged for r in self.runs)

    def divergence(self) -> str:
        """How the loss went, in words: 'training loss became NaN' or 'training loss rose from 2.30 to 9.31'."""
        for r in self.runs:
            if r.diverged:
                end = r.history[-1].train_loss
                if end != end or end in (float("inf"), float("-inf")):
                    return "training loss became NaN"
                return f"training loss rose from {r.initial_loss:.2f} to {end:.2f}"
        return ""


def ranked(results: list[VariantRuns]) -> list[VariantRuns]:
    """The variants whose training did not diverge, in their order: the only ones a ranking may name."""
    return [r for r in results if not r.diverged]


def mean_std(values: list[float], scale: float = 100.0, digits: int = 2) -> str:
    if not all(math.isfinite(v) for v in values):
        return "NaN"  # a diverged run's loss
    mean = statistics.fmean(values) * scale
    if len(values) < 2:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.pstdev(values) * scale:.{digits}f}"


def seeds_for(ctx) -> list[int]:
    return [ctx.seed + i for i in range(ctx.params["seeds"])]


def run_variants(ctx, variants: list[Variant], checkpoint: bool = True) -> list[VariantRuns]:
    """Trains every variant for every seed; saves the baseline's first-seed weights as model.pt."""
    import torch

    from reportgen.data.augment import AugmentSettings, make_augment
    from reportgen.nn.checkpoint import save_torch
    from reportgen.nn.spec import build_model
    from reportgen.nn.train import TrainSettings, fit

    results = []
    for variant in variants:
        params = {**ctx.params, **variant.changes}
        runs, images = [], 0
        for seed in seeds_for(ctx):
            data = ctx.data(seed=seed, train_size=params["train_size"])
            images = len(data.train)
            torch.manual_seed(seed)
            model = build_model(params["layers"], data.image_shape, data.num_classes, params["activation"])
            augment = make_augment(AugmentSettings.from_params(params), data.mean, data.std)
            runs.append(fit(
                model, data, TrainSettings.from_params(params), seed=seed, device=ctx.device,
                augment=augment, progress=ctx.progress, label=f"{ctx.exp.id}: {variant.label} (seed {seed})",
            ))  # fmt: skip
            if checkpoint and not results and len(runs) == 1:
                save_torch({"layers": params["layers"], "activation": params["activation"],
                            "state_dict": runs[0].state_dict, "classes": data.classes},
                           ctx.files / "model.pt")  # fmt: skip
        results.append(VariantRuns(variant, params, runs, images))
    return results


def shared_recipe(results: list[VariantRuns]) -> str:
    """How the baseline trained; the variants differ only in the settings the table lists."""
    return f"Baseline trained with {training_recipe(results[0].params)}; each variant changes only its settings."


def _changed_columns(results: list[VariantRuns]) -> list[str]:
    names: list[str] = []
    for r in results:
        names += [k for k in r.variant.changes if k not in names]
    return names


def _show(value: Any) -> str:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        # The layers themselves, compactly: the settings column must show what differs.
        return ", ".join(v.replace(" same", "").replace(" bn", "+BN") for v in value)
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value)
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def results_table(title: str, results: list[VariantRuns], note: str = "") -> Table:
    """Final train/val/test loss and accuracy per variant; the baseline (first) is pinned.

    One "settings" column shows only the parameters that some variant changes.
    """
    changed = _changed_columns(results)
    rows = []
    for r in results:
        settings = ", ".join(f"{name.removeprefix('aug_')} {_show(r.params[name])}" for name in changed)
        label = f"{r.variant.label} (diverged)" if r.diverged else r.variant.label
        rows.append(
            [label, settings]
            + [mean_std(r.final(split, "acc")) for split in ("train", "val", "test")]
            + [mean_std(r.final(split, "loss"), scale=1, digits=3) for split in ("train", "val", "test")]
            + [f"{r.epoch_seconds:.1f}"]
        )
    n = len(results[0].runs)
    diverged = [r.variant.label for r in results if r.diverged]
    if diverged:
        note = (f"{', '.join(diverged)} diverged (training loss NaN or above its starting value): "
                "not a result to compare. " + note)
    return Table(
        title=title,
        caption=(
            f"Final accuracy (%) and loss on each split, {'mean ± std over ' + str(n) + ' seeds' if n > 1 else 'one seed'}; "
            "measured after training without augmentation or dropout. Baseline first. "
            + " ".join(part for part in (note, shared_recipe(results)) if part)
        ),
        columns=["variant", "settings", "train acc", "val acc", "test acc", "train loss", "val loss", "test loss", "s/epoch"],
        rows=rows,
        highlight=[0],
    )


def curves(title: str, results: list[VariantRuns], metric: str) -> Curves:
    """Train (dashed) and validation (solid) curves per variant, mean over seeds with a band."""
    scale = 100.0 if metric == "acc" else 1.0
    series, bands, roles, groups = {}, {}, {}, {}
    undrawn = []
    for r in results:
        for split in ("train", "val"):
            mean, std = r.curve(f"{split}_{metric}")
            # A diverged run is drawn up to its last finite point; NaN cannot be plotted or stored.
            finite = next((i for i, v in enumerate(mean) if not math.isfinite(v)), len(mean))
            mean, std = mean[:finite], std[:finite]
            if not mean:
                undrawn.append(f"{r.variant.label} ({split})")
                continue
            name = f"{r.variant.label} · {'train' if split == 'train' else 'val'}"
            series[name] = [scale * v for v in mean]
            bands[name] = [scale * v for v in std] if len(r.runs) > 1 else []
            roles[name] = "train" if split == "train" else "validation"
            groups[name] = r.variant.label
    length = max(len(v) for v in series.values())
    seeds = len(results[0].runs)
    return Curves(
        title=title,
        caption="Dashed: training (running mean over the epoch); solid: validation."
        + (f" Lines are the mean over {seeds} seeds; bands: ± one standard deviation." if seeds > 1 else " One seed.")
        + (f" Not drawn (diverged, {metric} never finite): {', '.join(undrawn)}." if undrawn else "")
        + " " + shared_recipe(results),
        x=list(range(1, length + 1)),
        series=series,
        bands={k: v for k, v in bands.items() if v},
        roles=roles,
        groups=groups,
        ylabel="accuracy (%)" if metric == "acc" else "cross-entropy loss",
    )


def headline_metrics(results: list[VariantRuns]) -> list[Metric]:
    """One metric per variant, "val accuracy, <label>" (each quotable by a stable name), baseline
    first; the baseline and the best other variant are the key-number boxes. Each measurement
    appears once: the best is never shown again under a second name, and when the baseline is
    the best the box beside it is the runner-up, whose value differs where any does. A diverged
    run is never a box, and gets no metric when its accuracy is not a number."""
    shown = [r for r in results if math.isfinite(statistics.fmean(r.final("val", "acc")))]
    metrics = [
        Metric(title=f"val accuracy, {r.variant.label}", value=100 * statistics.fmean(r.final("val", "acc")), unit="%", fmt="{:.2f}")
        for r in shown
    ]
    if not metrics:
        return metrics
    metrics[0].key = True
    usable = {id(r) for r in ranked(results)}
    others = sorted((m for m, r in zip(metrics[1:], shown[1:]) if id(r) in usable), key=lambda m: -m.value)
    second = next((m for m in others if m.text != metrics[0].text), others[0] if others else None)
    if second is not None:
        second.key = True
    return metrics

"""What readers see of an ablation record (`_ablation`): mean ± std tables with the baseline
pinned, train/validation curves with bands, and key numbers. Torch-free, built at render time.

Accuracies in the record are fractions, as the trainer measured them; they are scaled to % here,
in the same order of operations as before the record existed, so the numbers shown are unchanged.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from reportgen.presenting import View
from reportgen.results import Curves, Metric, Section, Table
from reportgen.values import PERCENT, Style, Value

from ._show import training_recipe

ACC = Style(decimals=2)  # the columns say "acc", the caption says "(%)"
LOSS = Style(decimals=3)
PER_EPOCH = Style(decimals=1)


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


class Runs:
    """One variant of an ablation record, over its seeds."""

    def __init__(self, data: dict[str, Any], params: dict[str, Any]) -> None:
        self.data, self.label = data, data["label"]
        self.params = {**params, **data["changes"]}
        self.runs = data["runs"]
        self.train_images = data["train_images"]

    def final(self, split: str, what: str) -> list[float]:
        return [_nan(r[split][what]) for r in self.runs]

    def series(self, run: dict[str, Any], name: str) -> list[float]:
        return [_nan(v) for v in run["history"][name]]

    def curve(self, name: str) -> tuple[list[float], list[float]]:
        """Mean and std over seeds of a per-epoch series (runs may stop early: shortest length)."""
        length = min(len(r["history"][name]) for r in self.runs)
        columns = [[self.series(r, name)[i] for r in self.runs] for i in range(length)]
        # A diverged seed's NaN makes the whole point NaN (statistics would raise on it).
        finite = [all(math.isfinite(v) for v in c) for c in columns]
        return ([statistics.fmean(c) if ok else math.nan for c, ok in zip(columns, finite)],
                [statistics.pstdev(c) if ok else math.nan for c, ok in zip(columns, finite)])  # fmt: skip

    @property
    def epoch_seconds(self) -> float:
        seconds = [r["history"]["seconds"] for r in self.runs]
        return statistics.fmean(sum(s) / max(len(s), 1) for s in seconds)

    @property
    def diverged(self) -> bool:
        """Some seed's training loss went NaN or ended above where it started: shown, never ranked."""
        return any(r["diverged"] for r in self.runs)

    def divergence(self) -> str:
        """How the loss went, in words: 'training loss became NaN' or 'training loss rose from 2.30 to 9.31'."""
        for r in self.runs:
            if r["diverged"]:
                end = self.series(r, "train_loss")[-1]
                if not math.isfinite(end):
                    return "training loss became NaN"
                return f"training loss rose from {_nan(r['initial_loss']):.2f} to {end:.2f}"
        return ""

    def val(self) -> float:
        """Mean validation accuracy in %."""
        return 100 * statistics.fmean(self.final("val", "acc"))

    def gap(self) -> float:
        """Train minus validation accuracy, in points."""
        return 100 * (statistics.fmean(self.final("train", "acc")) - statistics.fmean(self.final("val", "acc")))


def variants(view: View) -> list[Runs]:
    return [Runs(v, view.params) for v in view.record["variants"]]


def ranked(results: list[Runs]) -> list[Runs]:
    """The variants whose training did not diverge, in their order: the only ones a ranking may name."""
    return [r for r in results if not r.diverged]


def mean_std(values: list[float], style: Style, scale: float = 100.0) -> Value | str:
    """A table cell: the mean with the std over seeds as its spread; "NaN" for a diverged loss."""
    if not all(math.isfinite(v) for v in values):
        return "NaN"
    mean = statistics.fmean(values) * scale
    return Value(mean, style, statistics.pstdev(values) * scale if len(values) > 1 else None)


def shared_recipe(results: list[Runs]) -> str:
    """How the baseline trained; the variants differ only in the settings the table lists."""
    return f"Baseline trained with {training_recipe(results[0].params)}; each variant changes only its settings."


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


def _row(r: Runs) -> list[Any]:
    settings = ", ".join(f"{name.removeprefix('aug_')} {_show(value)}" for name, value in r.data["settings"].items())
    label = f"{r.label} (diverged)" if r.diverged else r.label
    return (
        [label, settings]
        + [mean_std(r.final(split, "acc"), ACC) for split in ("train", "val", "test")]
        + [mean_std(r.final(split, "loss"), LOSS, scale=1) for split in ("train", "val", "test")]
        + [Value(r.epoch_seconds, PER_EPOCH)]
    )


def results_table(title: str, results: list[Runs], note: str = "") -> Table:
    """Final train/val/test loss and accuracy per variant; the baseline (first) is pinned.

    One "settings" column shows only the parameters that some variant changes.
    """
    n = len(results[0].runs)
    diverged = [r.label for r in results if r.diverged]
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
        rows=[_row(r) for r in results],
        highlight=[0],
    )


def curves(title: str, results: list[Runs], metric: str) -> Curves:
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
                undrawn.append(f"{r.label} ({split})")
                continue
            name = f"{r.label} · {'train' if split == 'train' else 'val'}"
            series[name] = [scale * v for v in mean]
            bands[name] = [scale * v for v in std] if len(r.runs) > 1 else []
            roles[name] = "train" if split == "train" else "validation"
            groups[name] = r.label
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


def headline_metrics(results: list[Runs]) -> list[Metric]:
    """One metric per variant, "val accuracy, <label>" (each quotable by a stable name), baseline
    first; the baseline and the best other variant are the key-number boxes. Each measurement
    appears once: the best is never shown again under a second name, and when the baseline is
    the best the box beside it is the runner-up, whose value differs where any does. A diverged
    run is never a box, and gets no metric when its accuracy is not a number."""
    shown = [r for r in results if math.isfinite(statistics.fmean(r.final("val", "acc")))]
    metrics = [
        Metric(title=f"val accuracy, {r.label}", value=r.val(), style=PERCENT, name=f"val accuracy, {r.label}")
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


def _one(r: Runs, base: Runs) -> str:
    if r.diverged:
        return f"{r.label} diverged ({r.divergence()}; not compared)"
    if base.diverged:
        return f"{r.label} {r.val():.2f}%"
    return f"{r.label} {r.val():.2f}% ({r.val() - base.val():+.2f} points)"


def versus(results: list[Runs]) -> str:
    """'Final validation accuracy: adam (baseline) 91.20%; sgd 88.10% (-3.10 points).'"""
    base = results[0]
    head = (f"{base.label} (baseline) diverged ({base.divergence()})" if base.diverged
            else f"{base.label} (baseline) {base.val():.2f}%")  # fmt: skip
    return "Final validation accuracy: " + head + "; " + "; ".join(_one(r, base) for r in results[1:]) + "."


def section(view: View, results: list[Runs], sentence: str, note: str = "") -> Section:
    """The section of an ablation: key numbers, accuracy curves (the slide's figure), loss curves, table."""
    accuracy = curves(f"{view.title}: accuracy", results, "acc")
    accuracy.key = True
    return Section(
        title=view.title,
        summary=sentence,
        items=[
            *headline_metrics(results),
            accuracy,
            curves(f"{view.title}: loss", results, "loss"),
            results_table(f"{view.title}: results", results, note=" ".join(filter(None, (note, versus(results))))),
        ],
    )

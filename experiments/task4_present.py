"""What readers see of Task 4: titles, captions, sentences, tables and figures built from the
records that `task4_transfer` stores. Runs at render time, never imports torch, and is not part
of any cache key: editing a caption, a sentence or a number format here re-renders in seconds.
"""

from __future__ import annotations

from typing import Any

from reportgen.presenting import View
from reportgen.registry import presenter
from reportgen.results import Curves, Heatmap, ImageGrid, Metric, Section, Table, Text
from reportgen.values import COUNT, PERCENT, POINTS, SECONDS, Style, Value, show

from .task4_transfer import BACKBONE_FROZEN, BACKBONE_TUNED, OWN_FROZEN, OWN_TUNED, SCRATCH

BACKBONE_NAMES = {
    "efficientnet-lite0": "EfficientNet-Lite0",
    "vgg16": "VGG16",
    "resnet18": "ResNet-18",
    "resnet50": "ResNet-50",
}
ACCURACY = PERCENT.but(unit="")  # table columns say "%" once, in their title
MS = Style(decimals=1, unit="ms")
# Each method's test accuracy under its name in the record's "metrics" (what {{ id.name }} reads).
METRIC_NAMES = {
    SCRATCH: "test accuracy",
    OWN_FROZEN: "frozen body test accuracy",
    OWN_TUNED: "fine-tuned test accuracy",
    BACKBONE_FROZEN: "frozen features test accuracy",
    BACKBONE_TUNED: "fine-tuned test accuracy",
}
RESULT_COLUMNS = ["method", "trainable / total parameters", "epochs", "train acc", "val acc", "test acc", "wall time, s"]


def method_label(method: str, backbone: str = "efficientnet-lite0", blocks: int = 0) -> str:
    """The name a reader sees for a method id."""
    name = BACKBONE_NAMES.get(backbone, backbone)
    return {
        SCRATCH: "baseline CNN from scratch",
        OWN_FROZEN: "own model, frozen body + new head",
        OWN_TUNED: "own model, fine-tuned",
        BACKBONE_FROZEN: f"{name} features + linear classifier",
        BACKBONE_TUNED: f"{name}, last {blocks} blocks fine-tuned",
    }[method]


def _labels(view: View) -> dict[str, str]:
    """Method id -> label; the backbone's name comes from t4-backbone's parameters (the
    comparison's record copies them)."""
    backbone = view.params.get("backbone", view.record.get("backbone"))
    blocks = view.params.get("finetune_blocks", view.record.get("finetune_blocks"))
    return {m: method_label(m, backbone, blocks) for m in (SCRATCH, OWN_FROZEN, OWN_TUNED, BACKBONE_FROZEN, BACKBONE_TUNED)}


def _plural(n: float, word: str) -> str:
    return f"{n:g} {word}" + ("" if n == 1 else "s")


def _pct(number: float) -> str:
    return show(Value(number, PERCENT.but(unit=""))) + "%"


def _row(label: str, m: dict[str, Any]) -> list[Any]:
    parameters = f"{show(Value(m['trainable'], COUNT))} / {show(Value(m['total'], COUNT))}"
    return [label, parameters, Value(m["epochs"], COUNT), Value(m["train_accuracy"], ACCURACY),
            Value(m["val_accuracy"], ACCURACY), Value(m["test_accuracy"], ACCURACY), Value(m["wall_s"], SECONDS.but(unit=""))]  # fmt: skip


def _results_table(title: str, rows: list[list[Any]]) -> Table:
    return Table(
        title=f"{title}: results",
        caption=(
            "Accuracy in % with the weights of the best validation epoch, measured without augmentation or dropout; "
            "wall time: frozen parts once per image, then training."
        ),
        columns=RESULT_COLUMNS,
        rows=rows,
    )


def _history_curves(label: str, history: dict[str, list[float]], title: str, caption: str) -> Curves:
    train, validation = f"{label} · train", f"{label} · validation"
    return Curves(
        title=title,
        caption=caption,
        x=list(range(1, len(history["validation"]) + 1)),
        series={train: history["train"], validation: history["validation"]},
        roles={train: "train", validation: "validation"},
        groups={train: label, validation: label},
        ylabel="accuracy (%)",
    )


def _method_items(view: View, method: str, label: str) -> list[Any]:
    """A method's test-accuracy metric and its accuracy-per-epoch curves."""
    m = view.record["methods"][method]
    kept = f" The weights of epoch {m['best_epoch']} (best validation accuracy) are kept." if view.params.get("patience") else ""
    curves = _history_curves(
        label, m["history"], f"{label}: accuracy per epoch",
        "Training accuracy (dashed) is the running mean over an epoch; validation (solid) is measured after it." + kept,
    )  # fmt: skip
    metric = Metric(title=f"test accuracy ({label})", value=m["test_accuracy"], style=PERCENT, key=True,
                    name=METRIC_NAMES[method])  # fmt: skip
    return [metric, curves]


def _mean_std(values: list[float]) -> Value:
    import statistics

    mean = statistics.fmean(values)
    return Value(mean, ACCURACY, None if len(values) < 2 else statistics.pstdev(values))


def _shots_items(view: View, method: str, label: str) -> list[Any]:
    """Metrics "test accuracy at k images per class (<label>)" (mean over draws) and the curve's table."""
    shots = view.record["methods"][method].get("shots", [])
    if not shots:
        return []
    n_classes = len(view.record.get("classes", [])) or view.record.get("target_classes", 0)
    items: list[Any] = []
    rows = []
    for row in shots:
        k, test = row["k"], row["test_accuracy"]
        items.append(Metric(title=f"test accuracy at {k} images per class ({label})", value=sum(test) / len(test),
                            style=PERCENT, name=f"test accuracy at {k} images per class"))  # fmt: skip
        rows.append([Value(k, COUNT), Value(k * n_classes, COUNT), Value(len(test), COUNT)]
                    + [_mean_std(row[f"{split}_accuracy"]) for split in ("train", "val", "test")])  # fmt: skip
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


@presenter("t4-scratch")
def scratch(view: View) -> Section:
    r, label = view.record, method_label(SCRATCH)
    m = r["methods"][SCRATCH]
    items = [_results_table(view.title, [_row(label, m)]), *_method_items(view, SCRATCH, label), *_shots_items(view, SCRATCH, label)]
    summary = (
        f"The Task 1 baseline ({', '.join(view.params['layers'])}; {show(Value(r['parameters'], COUNT))} parameters) trained on "
        f"{r['train_images']:,} target images only: test accuracy {_pct(m['test_accuracy'])} after "
        f"{_plural(m['epochs'], 'epoch')} ({m['wall_s']:.1f} s)."
    )
    return Section(title=view.title, summary=summary, items=items)


@presenter("t4-own-model")
def own_model(view: View) -> Section:
    r, p = view.record, view.params
    frozen, tuned = r["methods"][OWN_FROZEN], r["methods"][OWN_TUNED]
    labels = {OWN_FROZEN: method_label(OWN_FROZEN), OWN_TUNED: method_label(OWN_TUNED)}
    source = r["source"]
    items: list[Any] = [_results_table(view.title, [_row(labels[m], r["methods"][m]) for m in labels])]
    for method, label in labels.items():
        items += _method_items(view, method, label)
    items += [
        Metric(title="source-task test accuracy", value=source["test_accuracy"], style=PERCENT, name="source-task test accuracy"),
        Metric(title="source pre-training time", value=source["time_s"], style=SECONDS, name="source pre-training time"),
        _history_curves("source", source["history"], "Pre-training on the source task: accuracy per epoch",
                        f"The baseline CNN on {source['train_images']:,} images of {', '.join(source['classes'])}."),
    ]  # fmt: skip
    summary = (
        f"The baseline CNN pre-trained for {_plural(source['epochs'], 'epoch')} on {source['train_images']:,} source images "
        f"({', '.join(source['classes'])}; {_pct(source['test_accuracy'])} test accuracy there, {source['time_s']:.1f} s). "
        f"Its last layer replaced by a new {r['target_classes']}-class layer trained alone (learning rate {p['head_lr']:g}) "
        f"on the frozen body's {r['features']} features (computed once per image): {_pct(frozen['test_accuracy'])} test accuracy; "
        f"the whole network fine-tuned at learning rate {p['finetune_lr']:g}, {_pct(tuned['test_accuracy'])}."
    )
    return Section(title=view.title, summary=summary, items=items)


def _augmented(p: dict[str, Any], variants: int) -> str:
    if not variants:
        return "no augmentation"
    return (
        f"{_plural(variants, 'augmented variant')} of each training image (flips, shifts of up to "
        f"{_plural(p['aug_translate'], 'pixel')}, rotations of up to {p['aug_rotate']:g}° and zooms of up to "
        f"{100 * p['aug_scale']:.0f}%, drawn once), each epoch seeing every version ({variants + 1} in all)"
    )


@presenter("t4-backbone")
def backbone_methods(view: View) -> Section:
    r, p = view.record, view.params
    labels = _labels(view)
    frozen, tuned = r["methods"][BACKBONE_FROZEN], r["methods"][BACKBONE_TUNED]
    items: list[Any] = [_results_table(view.title, [_row(labels[m], r["methods"][m]) for m in (BACKBONE_FROZEN, BACKBONE_TUNED)])]
    items += _method_items(view, BACKBONE_FROZEN, labels[BACKBONE_FROZEN])
    items += _shots_items(view, BACKBONE_FROZEN, labels[BACKBONE_FROZEN])
    items += _method_items(view, BACKBONE_TUNED, labels[BACKBONE_TUNED])
    per_image = r["frozen_time_per_image_ms"]
    items.append(Metric(title="frozen network time per image", value=per_image, style=MS, name="frozen network time per image"))
    backbone, size, n_blocks = r["backbone"], p["backbone_size"], p["finetune_blocks"]
    lrs = sorted(set(tuned["history"]["lr"]), reverse=True)
    summary = (
        f"{backbone['source']}. Each target image was converted to RGB at {size}×{size} pixels with ImageNet's mean "
        f"and std and run through the frozen network once ({per_image:.1f} ms per image, {r['images']:,} images). "
        f"Method 3: a new linear classifier on the {backbone['feature_dim']} pooled features (centred and L2-normalised, "
        f"weights initialised with each class's mean direction), {_pct(frozen['test_accuracy'])} test accuracy. Method 4: the stem "
        f"and first {backbone['blocks'] - n_blocks} blocks stay frozen and their outputs are stored; the last {n_blocks} blocks "
        f"and the head convolution ({show(Value(r['tuned_block_weights'], COUNT))} weights, batch norm frozen) train at learning "
        f"rate {p['block_lr']:g}, the classifier (starting from method 3's) at {p['finetune_lr']:g}, reduced by 0.3 when "
        f"validation accuracy stalls (rates used: {', '.join(f'{lr:g}' for lr in lrs)}); {_augmented(p, r['augmented_variants'])}: "
        f"{_pct(tuned['test_accuracy'])} test accuracy after {_plural(tuned['epochs'], 'epoch')}."
    )
    return Section(title=view.title, summary=summary, items=items)



def _margin(r: dict[str, Any], labels: dict[str, str]) -> str:
    """The sentence on ImageNet features against from-scratch at the fewest images per class."""
    fewest = r.get("fewest")
    if not fewest:
        return ""
    k, ours, theirs = fewest["k"], fewest["mean"][BACKBONE_FROZEN], fewest["mean"][SCRATCH]
    frozen = labels[BACKBONE_FROZEN]
    draws = (
        f"mean of {fewest['draws']} draws of {k} images per class, {frozen} ahead in {fewest['wins']} of them"
        if fewest["draws"] > 1
        else f"{k} images per class"
    )
    return (
        f"With {k} training images per class, {frozen} reached {_pct(ours)} test accuracy against "
        f"{_pct(theirs)} for the {labels[SCRATCH]}: {show(Value(fewest['margin'], POINTS))} ({draws}). "
    )


def _shots_curves(r: dict[str, Any], labels: dict[str, str], margin: str) -> Curves:
    curve = r["curve"]
    return Curves(
        title="Test accuracy against training images per class",
        caption=(
            "Methods 1 and 3 on k images of each target class drawn from the training pool (mean over draws, band: "
            f"± one std; the same draws for both methods), same validation and test images. {margin}"
        ).strip(),
        x=[float(k) for k in next(iter(curve.values()))["k"]],
        series={labels[m]: c["mean"] for m, c in curve.items()},
        bands={labels[m]: c["std"] for m, c in curve.items()},
        xlabel="training images per class",
        ylabel="test accuracy (%)",
        key=True,
    )


def _every_curve(r: dict[str, Any], labels: dict[str, str]) -> Curves:
    merged = [_history_curves(labels[m], v["history"], "", "") for m, v in r["methods"].items()]
    series, roles, groups = {}, {}, {}
    for c in merged:
        series.update(c.series)
        roles.update(c.roles)
        groups.update(c.groups)
    return Curves(
        title="Accuracy per epoch, every method",
        caption="Dashed: training accuracy (running mean over an epoch); solid: validation. One colour per method.",
        x=list(range(1, max((len(v) for v in series.values()), default=0) + 1)),
        series=series,
        roles=roles,
        groups=groups,
        ylabel="accuracy (%)",
    )


def _best_items(r: dict[str, Any], best: str) -> list[Any]:
    """The best method's confusion matrix and misclassified test images."""
    classes, mistakes = r["classes"], r["mistakes"]
    n_test = sum(sum(row) for row in r["confusion"])
    items: list[Any] = [
        Heatmap(
            title=f"Confusion matrix: {best}",
            caption=f"Rows: true class; columns: predicted class; counts over the {n_test:,} test images. The method with the best validation accuracy.",
            values=r["confusion"],
            row_labels=list(classes),
            col_labels=list(classes),
            xlabel="predicted",
            ylabel="true",
            style=COUNT,
        )
    ]
    if mistakes["images"]:
        items.append(
            ImageGrid(
                title=f"Misclassified test images: {best}",
                caption=f"The first {len(mistakes['images'])} of the {mistakes['wrong']} test images that {best} got wrong, with their true and predicted class.",
                images=mistakes["images"],
                labels=[f"true: {classes[t]}\npredicted: {classes[p]}" for t, p in zip(mistakes["true"], mistakes["predicted"])],
                columns=min(len(mistakes["images"]), 6),
            )
        )
    return items


@presenter("t4-comparison")
def comparison(view: View) -> Section:
    r = view.record
    labels = _labels(view)
    methods = r["methods"]
    best, scratch_m = labels[r["best"]], methods[SCRATCH]
    best_m = methods[r["best"]]
    margin = _margin(r, labels)
    shots_word = f"{r['shots_per_class']} training images per class" if r["shots_per_class"] else "all training images"
    items: list[Any] = []
    if r.get("fewest"):
        items.append(Metric(title=f"ImageNet features over from-scratch at {r['fewest']['k']} images per class",
                            value=r["fewest"]["margin"], style=POINTS, key=True,
                            name="margin at the fewest images per class"))  # fmt: skip
    items += [
        Metric(title=f"best test accuracy ({best})", value=best_m["test_accuracy"], style=PERCENT, key=True, name="best test accuracy"),
        Table(
            title="Transfer learning: methods compared",
            caption=(
                f"{shots_word.capitalize()} of the target task; accuracy in % with the weights of the best validation epoch, "
                "measured without augmentation or dropout. Wall time is each method's own work on this machine: its frozen "
                "part once per image (and augmented variant), then training; the own model's pre-training on the source "
                "task is counted in its section. From scratch pinned first."
            ),
            columns=RESULT_COLUMNS,
            rows=[_row(labels[m], v) for m, v in methods.items()],
            highlight=[0],
            key=True,
        ),
    ]  # fmt: skip
    if r.get("fewest"):
        items.append(_shots_curves(r, labels, margin))
    items += [_every_curve(r, labels), *_best_items(r, best)]
    versus = "; ".join(
        f"{labels[m]} {_pct(v['test_accuracy'])} ({show(Value(v['test_accuracy'] - scratch_m['test_accuracy'], POINTS))})"
        for m, v in methods.items()
        if m != SCRATCH
    )
    text = (
        f"{margin}With {shots_word}, the {labels[SCRATCH]} reached {_pct(scratch_m['test_accuracy'])} test accuracy; {versus}. "
        f"The best on validation was {best} ({_pct(best_m['val_accuracy'])} validation, {_pct(best_m['test_accuracy'])} test)."
    )
    items.append(Text(title="The data", body="\n\n".join([r["data"]["description"], *r["data"]["notes"]])))
    items.append(Text(title="What the comparison shows", body=text))
    gain = best_m["test_accuracy"] - scratch_m["test_accuracy"]
    summary = f"{margin}With {shots_word}, the best on validation was {best}: {_pct(best_m['test_accuracy'])} test accuracy"
    summary += f" ({show(Value(gain, POINTS))} over from scratch)." if r["best"] != SCRATCH else "."
    return Section(title=view.title, summary=summary, items=items)

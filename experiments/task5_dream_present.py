"""What readers see of Task 5's deep dream: titles, captions, sentences, tables and figures built
from the records that `task5_dream` stores. Torch-free, not part of any cache key.
"""

from __future__ import annotations

from typing import Any

from reportgen.presenting import View
from reportgen.registry import presenter
from reportgen.results import Curves, ImageGrid, Metric, Section, Table
from reportgen.values import Value, show

from ._show import plural
from ._task5_show import D2, D3, FOLD, layer


def dream_recipe(s: dict[str, Any]) -> str:
    return (
        f"{plural(s['octaves'], 'octave')} (scale {s['octave_scale']:g}) × {plural(s['steps'], 'step')}, step {s['lr']:g}, "
        f"jitter ±{s['jitter']} px, gradient smoothing σ {s['smoothing']:g} px, TV weight {s['tv_weight']:g}"
    )


def growth(norms: list[float]) -> list[float]:
    """Each step's activation norm relative to the first step's."""
    return [v / norms[0] for v in norms] if norms and norms[0] > 0 else list(norms)


@presenter("t5-dream-layers")
def dream_layers(view: View) -> Section:
    s, size, name, layers = view["settings"], view["size"], view["image_name"], view["layers"]
    early, late = layer(view, layers[0]), layer(view, layers[1])
    runs, folds = view["runs"], [view["metrics"]["early growth"], view["metrics"]["late growth"]]
    series = {f"{layer(view, n)} ({which})": growth(r["norms"]) for which, n, r in zip(("early", "late"), layers, runs)}
    grid = ImageGrid(
        title=f"{name.capitalize()} dreamed at an early and a late layer",
        caption=(
            f"Gradient ascent on the RMS activation of {view['network']['title']}'s {early} (early) and "
            f"{late} (late): {dream_recipe(s)}; {size}×{size} px."
        ),
        images=view["images"],
        labels=[f"photo: {name}", f"early layer: {early}", f"late layer: {late}"],
        columns=3,
        key=True,
    )
    curves = Curves(
        title="Activation growth while dreaming",
        caption=(
            f"RMS activation of the dreamed layer at each step relative to the first step, all octaves in order (it "
            f"jumps where the image is enlarged to the next octave). {dream_recipe(s)}."
        ),
        x=list(range(1, len(next(iter(series.values()))) + 1)),
        series=series,
        xlabel="step",
        ylabel="RMS activation / first step",
    )
    summary = (
        f"Dreaming at {early} grows the textures that early layer detects (edges, stripes, colour blobs) and "
        f"raised its RMS activation {folds[0]:.2f}-fold; {late} sees larger patches and grows the "
        f"larger structures it detects (object parts), raising its activation {folds[1]:.2f}-fold."
    )
    return Section(
        title=view.title,
        summary=summary,
        items=[
            Metric(title=f"activation growth at {early}", value=folds[0], style=FOLD, name="early growth"),
            Metric(title=f"activation growth at {late}", value=folds[1], style=FOLD, name="late growth"),
            grid,
            curves,
        ],
    )


def variant_label(change: dict[str, Any]) -> str:
    """What one dream run changed from the baseline, as its label."""
    if not change:
        return "baseline"
    if "octaves" in change:
        return "1 octave"
    if "jitter" in change:
        return "no jitter"
    if "smoothing" in change:
        return "no smoothing" if change["smoothing"] == 0 else f"smoothing σ {change['smoothing']:g} px"
    if "tv_weight" in change:
        return f"TV weight {change['tv_weight']:g}"
    return f"step {change['lr']:g}"


@presenter("t5-dream-settings")
def dream_settings(view: View) -> Section:
    s, size, name, net_layer = view["settings"], view["size"], view["image_name"], layer(view, view["layer"])
    total = s["octaves"] * s["steps"]
    whats = [variant_label(r["change"]) for r in view["runs"]]
    rows = [
        [what, dream_recipe(r["settings"]), Value(r["norms"][-1] / r["norms"][0], D2), Value(r["roughness"], D2), Value(r["seconds_per_step"], D3)]
        for what, r in zip(whats, view["runs"])
    ]
    grid = ImageGrid(
        title=f"Deep dream settings at {net_layer} ({name})",
        caption=(
            f"{view['network']['title']}, layer {net_layer}, {size}×{size} px. Baseline: {dream_recipe(s)}; each other picture "
            f"changes one setting."
        ),
        images=view["images"],
        labels=[f"photo: {name}", *whats],
        columns=4,
        key=True,
    )
    curves = Curves(
        title="Activation growth by setting",
        caption=f"RMS activation of {net_layer} at each step relative to the first step; {plural(total, 'step')} in each run.",
        x=list(range(1, total + 1)),
        series={what: growth(r["norms"]) for what, r in zip(whats, view["runs"])},
        xlabel="step",
        ylabel="RMS activation / first step",
    )
    table = Table(
        title="Deep dream settings: activation growth and roughness",
        caption=(
            "Activation growth: the layer's RMS activation at the last step over the first. Roughness: the dreamed "
            "picture's mean absolute difference between neighbouring pixels, in % of the range (the photo's is "
            f"{view['photo_roughness']:.2f})."
        ),
        columns=["setting", "settings in full", "activation growth (×)", "roughness (%)", "s / step"],
        rows=rows,
    )
    rough = {r[0]: show(r[3]) for r in rows}
    grow = {r[0]: show(r[2]) for r in rows}
    summary = (
        f"At {net_layer} the baseline raised the activation {grow['baseline']}-fold. All steps at full size "
        f"(1 octave) gave {grow['1 octave']}-fold, and its patterns stay the size of the layer's receptive field; without jitter "
        f"{grow['no jitter']}-fold. Smoothing the gradient and the TV term make the picture calmer: roughness "
        + ", ".join(f"{rough[k]}% ({k})" for k in rough)
        + "."
    )
    return Section(title=view.title, summary=summary, items=[grid, curves, table])

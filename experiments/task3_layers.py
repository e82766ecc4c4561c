"""Task 3, what the layers learned: first-layer filters, activation maps, activation
maximisation and t-SNE of learned features, for our own CNN (Task 1's stored baseline) and
EfficientNet-Lite0 (offline, `reportgen.nn.backbones`).

This module computes: each experiment returns a Record of what it measured and the arrays it
saved. What readers see is built from it at render time by `task3_present`, which this module
never imports: editing a caption re-runs nothing.
"""

from __future__ import annotations

from typing import Any

from reportgen.errors import ReportgenError
from reportgen.records import Record
from reportgen.registry import experiment, per_profile

from ._task3 import (
    IMAGE_FILE,
    OWN,
    TEST,
    backbone_facts,
    chosen_images,
    load_backbone,
    output_shape,
    own_model,
    picture,
)

# --- first-layer filters --------------------------------------------------------------------


@experiment(task=3, id="t3-filters", title="First-layer filters", needs=(OWN,))
def filters(ctx) -> Record:
    """The own model's first conv filters after the first and the last epoch, and the backbone's RGB stem filters."""
    import numpy as np

    from reportgen.vis.filters import filter_grid, weight_change

    own = own_model(ctx)
    files = ctx.needs[OWN].files
    paths = [files / "conv1_epoch_first.npy", files / "conv1_epoch_last.npy"]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise ReportgenError(f"Task 3 needs the first-layer snapshots of experiment {OWN} ({', '.join(missing)})",
                             "re-run it: reportgen run --task 1 --rerun")  # fmt: skip
    first, last = (np.load(p) for p in paths)
    epochs = int(ctx.needs[OWN].inputs.get("params", {}).get("epochs", 1))
    change = weight_change(first, last)
    snapshots = []
    for epoch, weights in [(1, first)] if epochs == 1 else [(1, first), (epochs, last)]:
        grid = filter_grid(weights)
        images = [ctx.save_array(f"own_{epoch}_{i}", t) for i, t in enumerate(grid.tiles)]
        snapshots.append({"epoch": epoch, "images": images, "columns": grid.columns})
    backbone = load_backbone(ctx)
    stem = backbone.model.get_submodule(backbone.first_conv()).weight.detach().cpu().numpy()
    rgb = filter_grid(stem, columns=8)
    metrics = {}
    if epochs > 1:  # after a single epoch both snapshots are the same: nothing to measure
        metrics = {"relative weight change, first to last epoch": 100 * change["relative"],
                   "filter correlation, first to last epoch": change["correlation"]}  # fmt: skip
    return Record({
        "model": own.facts,
        "backbone": backbone_facts(backbone),
        "conv": own.convs[0],
        "filters": len(first),
        "in_channels": int(first.shape[1]),
        "kernel": int(first.shape[-1]),
        "limit": float(max(np.abs(first).max(), np.abs(last).max())),
        "epochs": epochs,
        "snapshots": snapshots,
        "stem": {"images": [ctx.save_array(f"backbone_{i}", t) for i, t in enumerate(rgb.tiles)],
                 "columns": rgb.columns, "kernel": [int(stem.shape[-1]), int(stem.shape[-2])]},
        "change": {"relative": float(change["relative"]), "correlation": float(change["correlation"])},
        "metrics": {k: float(v) for k, v in metrics.items()},
    })  # fmt: skip


# --- activation maps ------------------------------------------------------------------------


@experiment(task=3, id="t3-activations", in_talk=False, title="Activation maps at the first and last conv layer", needs=(OWN,),
            # The own model's test image by its index; the backbone's photo by name, or a file as image.
            params={**TEST, "test_index": 0, "photo": "chelsea", "image": "", "channels": 8}, checks={"image": IMAGE_FILE})  # fmt: skip
def activations(ctx) -> Record:
    """The most active channels of the first and last conv stage for one image, input beside them."""
    import numpy as np

    from reportgen.vis.activations import activation_maps
    from reportgen.vis.photos import photo_view

    count, index = ctx.params["channels"], ctx.params["test_index"]
    own = own_model(ctx)
    chosen = chosen_images(ctx, own, [index], "test_index")
    stages = [own.stages[0], own.stages[-1]]
    maps = activation_maps(own.model, chosen.x.to(ctx.device), stages, count)
    grey = picture(chosen.pixels[0])
    # Stored as RGB so that it is drawn in grey beside the colour-mapped activation tiles.
    own_input = ctx.save_array("own_input", grey if grey.ndim == 3 else np.repeat(grey[..., None], 3, axis=-1))
    photo, what, name = _activation_photo(ctx)
    backbone = load_backbone(ctx)
    view = photo_view(photo, backbone, ctx.device)
    layers = [backbone.layers[0], backbone.layers[-1]]
    bmaps = activation_maps(backbone.model, view.x, layers, count)
    return Record({
        "model": own.facts,
        "backbone": backbone_facts(backbone),
        "own": {"input": own_input, "test_index": index, "class": chosen.names[0],
                "layers": _layers(ctx, "own", maps, stages, own.layer)},
        "photo": {"input": ctx.save_array("backbone_input", view.pixels), "what": what, "name": name,
                  "layers": _layers(ctx, "backbone", bmaps, layers, backbone.layer_label)},
    })  # fmt: skip


def _activation_photo(ctx) -> tuple[Any, str, str]:
    """The backbone's picture for the activation maps: the user's `image` file when given, else
    the bundled `photo`; with what it is ("image" or "photo") and its name."""
    from pathlib import Path

    from reportgen.nn.images import load_image, sample_photos

    if ctx.params["image"]:
        return load_image(ctx.params["image"]), "image", Path(ctx.params["image"]).name
    photos = sample_photos()
    if ctx.params["photo"] not in photos:
        raise ReportgenError(f"experiments.{ctx.exp.id}.photo: no bundled photo '{ctx.params['photo']}'",
                             f"use any of {', '.join(photos)}, or a file of yours as image", 2)  # fmt: skip
    return photos[ctx.params["photo"]], "photo", ctx.params["photo"]


def _layers(ctx, prefix: str, maps: dict, layers: list[str], label) -> list[dict[str, Any]]:
    """Per layer: its channels' tiles (saved), their means, its size and sparsity."""
    found = []
    for layer in layers:
        m = maps[layer]
        found.append({
            "name": layer, "label": label(layer), "total": int(m.total), "size": [int(m.maps.shape[1]), int(m.maps.shape[2])],
            "zeros": float(m.zeros), "channels": [int(c) for c in m.channels], "means": [float(v) for v in m.means],
            "images": [ctx.save_array(f"{prefix}_{layer}_{c}", tile) for c, tile in zip(m.channels, m.maps)],
        })  # fmt: skip
    return found


# --- activation maximisation ----------------------------------------------------------------


@experiment(task=3, id="t3-maximise", title="Activation maximisation", needs=(OWN,),
            params={"channels": per_profile(quick=3, standard=6, full=8),
                    "size": per_profile(quick=48, standard=96, full=160),
                    "steps": per_profile(quick=12, standard=30, full=80),
                    "octaves": per_profile(quick=2, standard=3, full=3),
                    "jitter": 4, "tv": 1.0, "l2": 0.001, "lr": 0.05,
                    "backbone_layers": ["blocks.2", "blocks.10"]})  # fmt: skip
def maximise_channels(ctx) -> Record:
    """From noise, the input that most excites each of several channels of an early and a late layer."""
    import dataclasses

    import numpy as np

    from reportgen.vis.maximise import Settings, maximise, stretch

    p = ctx.params
    own = own_model(ctx)
    backbone = load_backbone(ctx)
    for name in p["backbone_layers"]:
        if name not in backbone.layers:
            raise ReportgenError(f"experiments.{ctx.exp.id}.backbone_layers: {backbone.title} has no layer '{name}'",
                                 f"use any of {', '.join(backbone.layers)}", 2)  # fmt: skip
    in_shape = own.checkpoint.in_shape
    own_settings = Settings(size=in_shape[-1], steps=p["steps"], octaves=min(p["octaves"], 2), octave_scale=1.4,
                            lr=p["lr"], jitter=min(p["jitter"], 2), tv=p["tv"], l2=p["l2"])  # fmt: skip
    big = Settings(size=p["size"], steps=p["steps"], octaves=p["octaves"], lr=p["lr"], jitter=p["jitter"], tv=p["tv"], l2=p["l2"])
    # The conv outputs before their ReLU: a channel that is zero everywhere at the start would
    # give no gradient after it.
    plan = [("own", own.model, conv, own_settings, in_shape[0], own.checkpoint.mean, own.checkpoint.std, own.layer)
            for conv in (own.convs[0], own.convs[-1])]
    plan += [("backbone", backbone.model, layer, big, 3, backbone.mean, backbone.std, backbone.layer_label)
             for layer in p["backbone_layers"]]  # fmt: skip
    ctx.progress.start(ctx.exp.id, len(plan))
    found: dict[str, list[dict[str, Any]]] = {"own": [], "backbone": []}
    for who, model, layer, settings, channels_in, mean, std, label in plan:
        total = output_shape(model, layer, channels_in, settings.size)[0]
        chosen = list(range(min(p["channels"], total)))
        results = maximise(model, layer, chosen, in_channels=channels_in, mean=mean, std=std, settings=settings, seed=ctx.seed)
        found[who].append({"name": layer, "label": label(layer), "total": total, "channels": [
            {"channel": int(r.channel), "start": float(r.start), "end": float(r.end),
             "image": ctx.save_array(f"{who}_{layer}_{r.channel}", stretch(r.image))} for r in results]})  # fmt: skip
        ctx.progress.advance()
    ctx.progress.done()
    everything = [c for layers in found.values() for layer in layers for c in layer["channels"]]
    gains = [c["end"] / c["start"] for c in everything if c["start"] > 0]
    return Record({
        "model": own.facts,
        "backbone": backbone_facts(backbone),
        "own": {"layers": found["own"], "settings": dataclasses.asdict(own_settings)},
        "imagenet": {"layers": found["backbone"], "settings": dataclasses.asdict(big)},
        "metrics": {"median rise of the target activation": float(np.median(gains)) if gains else 0.0},
    })  # fmt: skip


# --- t-SNE ------------------------------------------------------------------------------------


@experiment(task=3, id="t3-tsne", title="t-SNE of learned features", needs=(OWN,),
            params={**TEST, "points": per_profile(quick=500, standard=2500, full=5000), "perplexity": 30.0})  # fmt: skip
def tsne(ctx) -> Record:
    """t-SNE of the own model's penultimate features beside t-SNE of the raw pixels, coloured by class."""
    import numpy as np

    from reportgen.vis.activations import penultimate
    from reportgen.vis.tsne import embed, neighbour_agreement

    own = own_model(ctx)
    chosen = chosen_images(ctx, own, min(ctx.params["points"], ctx.params["test_size"]))
    x, pixels, names = chosen.x, chosen.pixels, chosen.names
    n = len(names)
    features = penultimate(own.model, x.to(ctx.device))
    labels = np.array(names)
    ctx.progress.start(ctx.exp.id, 2)
    learned = embed(features, perplexity=ctx.params["perplexity"], seed=ctx.seed)
    ctx.progress.advance()
    raw = embed(pixels.reshape(n, -1).numpy(), perplexity=ctx.params["perplexity"], seed=ctx.seed)
    ctx.progress.done()
    # Points in class order, so that the legend lists the classes in the dataset's order.
    rank = {name: i for i, name in enumerate(own.checkpoint.classes)}
    order = sorted(range(n), key=lambda i: rank.get(names[i], 0))

    def embedding(emb) -> dict[str, Any]:
        return {"points": [[float(emb.points[i, 0]), float(emb.points[i, 1])] for i in order],
                "perplexity": float(emb.perplexity), "seconds": float(emb.seconds),
                "trustworthiness": float(emb.trustworthiness), "neighbours": int(emb.neighbours),
                "agreement": float(neighbour_agreement(emb.points, labels))}  # fmt: skip

    found = {"learned": embedding(learned), "raw": embedding(raw)}
    return Record({
        "model": own.facts,
        "seed": ctx.seed,
        "groups": [names[i] for i in order],
        "features": int(own.model.get_submodule("head").in_features),
        "pixels": int(x[0].numel()),
        **found,
        "metrics": {
            "trustworthiness, learned features": found["learned"]["trustworthiness"],
            "trustworthiness, raw pixels": found["raw"]["trustworthiness"],
            "same-class neighbours, learned features": 100 * found["learned"]["agreement"],
            "same-class neighbours, raw pixels": 100 * found["raw"]["agreement"],
            "t-SNE time, learned features": found["learned"]["seconds"],
            "t-SNE time, raw pixels": found["raw"]["seconds"],
            "perplexity": found["learned"]["perplexity"],
        },
    })  # fmt: skip

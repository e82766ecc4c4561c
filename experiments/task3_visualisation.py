"""Task 3: what the networks learned, for our own CNN (Task 1's baseline) and EfficientNet-Lite0.

First-layer filters, activation maps, activation maximisation, t-SNE of learned features,
Grad-CAM / Grad-CAM++, off-the-shelf ImageNet classification, and local classification by
crops and occlusion. The own model is the one experiment `arch-baseline` trained and stored;
the ImageNet network comes from `reportgen.nn.backbones` (offline).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments._show import plural
from reportgen.errors import ReportgenError
from reportgen.params import Rule
from reportgen.registry import experiment, per_profile
from reportgen.results import Bars, ImageGrid, Metric, Scatter, Section, Table

OWN = "arch-baseline"  # the Task 1 experiment whose stored model Task 3 looks into
BACKBONE = "efficientnet-lite0"
BACKBONE_TITLE = "EfficientNet-Lite0"
# Photos bundled with scikit-image; the user adds their own files with `images = [...]`.
PHOTOS = {"photos": per_profile(quick=["chelsea", "coffee"], standard=["chelsea", "coffee", "astronaut", "rocket"],
                                full=["chelsea", "coffee", "astronaut", "rocket"]),
          "images": []}  # fmt: skip
# A file named by `image`: a path with its extension (the runner tells files from names by it).
IMAGE_FILE = Rule(lambda v: v == "" or bool(Path(v).suffix), "a file's path with its extension (bundled photos go in photo)")
# The own model's test images come from the same subset as Task 1's test split.
TEST = {"test_size": per_profile(quick=1000, standard=10000, full=10000)}


# --- shared helpers (torch is imported inside: the renderer imports this module) -------------


@dataclass
class Own:
    """Our trained CNN and how to describe it in a caption."""

    model: Any
    checkpoint: Any
    name: str  # "our baseline CNN (2 conv + pool + FC)"
    trained: str  # "trained 3 epochs on 20,000 Fashion-MNIST images"
    weights: str  # the same and ", 88.65% test accuracy"
    stages: list[str]  # module after each conv layer (its activation), first to last
    convs: list[str]  # the conv layers' names, in the same order


def _own(ctx) -> Own:
    """Loads the model `arch-baseline` stored; a clear error when its files are missing."""
    from reportgen.nn.checkpoint import load_checkpoint
    from reportgen.nn.spec import conv_layers
    from reportgen.vis.activations import stage_outputs

    entry = ctx.needs[OWN]
    path = entry.files / "model.pt"
    if not path.is_file():
        raise ReportgenError(
            f"Task 3 needs the weights that experiment {OWN} stores ({path.name}), and its stored result has none",
            "re-run it: reportgen run --task 1 --rerun",
        )
    ck = load_checkpoint(path)
    params = entry.inputs.get("params", {})
    # The images it trained on as stored with its result (a small folder gives fewer than train_size).
    epochs, images = params.get("epochs"), entry.section.metrics().get("training images")
    accuracy = entry.section.metrics().get("test accuracy")
    trained = "trained"
    if epochs:
        trained += f" {plural(int(epochs), 'epoch')}"
    if images:
        trained += f" on {int(images):,} {ctx.dataset.display} images"
    weights = trained + (f", {accuracy:.2f}% test accuracy" if accuracy is not None else "")
    model = ck.model.to(ctx.device).eval()
    title = entry.section.title
    return Own(model, ck, f"our {title[:1].lower()}{title[1:]}", trained, weights, stage_outputs(model), conv_layers(model))


def _cap(text: str) -> str:
    """First letter upper case, the rest as it is ("our baseline CNN" -> "Our baseline CNN")."""
    return text[:1].upper() + text[1:]


def _own_layer(own: Own, stage: str) -> str:
    """'conv2' for the activation after conv2: the name a reader knows."""
    return own.convs[own.stages.index(stage)] if stage in own.stages else stage


@dataclass
class ChosenImages:
    """Test images chosen for the own model: the model's input, [0, 1] pixels, class names, and
    their indices into the test split (which holds `total` images)."""

    x: Any
    pixels: Any
    names: list[str]
    indices: list[int]
    total: int

    def words(self, chosen: int | list[int]) -> str:
        """Which images these are, for a caption: 'test images 3 and 17' or 'the first 3 test images'."""
        if isinstance(chosen, list):
            return f"{'test image' if len(self.indices) == 1 else 'test images'} {_listed(self.indices)}"
        return f"the first {plural(len(self.indices), 'test image')}"


def _test_images(ctx, own: Own, chosen: int | list[int], param: str = "test_images") -> ChosenImages:
    """The test images `chosen` (a count: the first ones; a list: those indices) normalised as the
    own model was trained, with their [0, 1] pixels and class names.

    Raises:
        ReportgenError: an index past the test split (its real size, which a small dataset may
            hold below test_size), naming the parameter; exit 2.
    """
    import torch

    ck = own.checkpoint
    splits = ctx.data(image_size=ck.in_shape[-1], train_size=64)
    total = len(splits.test.y)
    indices = list(chosen) if isinstance(chosen, list) else list(range(min(chosen, total)))
    past = [i for i in indices if not 0 <= i < total]
    if past:
        raise ReportgenError(f"experiments.{ctx.exp.id}.{param}: test image {past[0]} does not exist: the test split "
                             f"of {ctx.dataset.display} holds {total} images", f"use indices from 0 to {total - 1}", 2)  # fmt: skip
    where = torch.tensor(indices, dtype=torch.long)
    x = splits.test.x[where]
    # Splits normalise with their own training statistics; the model expects those it was trained with.
    pixels = x * torch.tensor(splits.std).view(1, -1, 1, 1) + torch.tensor(splits.mean).view(1, -1, 1, 1)
    normalised = (pixels - torch.tensor(ck.mean).view(1, -1, 1, 1)) / torch.tensor(ck.std).view(1, -1, 1, 1)
    names = [splits.classes[int(i)] for i in splits.test.y[where]]
    return ChosenImages(normalised, pixels.clamp(0, 1), names, indices, total)


def _listed(items: list[Any]) -> str:
    """'3', '3 and 17', '3, 5 and 17'."""
    words = [str(i) for i in items]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _picture(pixels) -> Any:
    """(C, H, W) tensor in [0, 1] -> (H, W) grey or (H, W, 3) RGB numpy picture."""
    array = pixels.detach().cpu().numpy()
    return array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)


def _backbone(ctx) -> Any:
    from reportgen.nn.backbones import load_backbone

    backbone = load_backbone(BACKBONE)
    backbone.model.to(ctx.device)
    return backbone


def _photos(ctx) -> dict[str, Any]:
    """The chosen scikit-image photos and the user's image files (by file name), as RGB uint8."""
    from reportgen.nn.backbones import load_image, sample_photos

    bundled = sample_photos()
    chosen: dict[str, Any] = {}
    for name in ctx.params["photos"]:
        if name not in bundled:
            raise ReportgenError(
                f"experiments.{ctx.exp.id}.photos: no bundled photo '{name}'", f"use any of {', '.join(bundled)}", 2
            )
        chosen[name] = bundled[name]
    for path in ctx.params["images"]:
        chosen[Path(path).name] = load_image(path)
    if not chosen:
        raise ReportgenError(f"experiments.{ctx.exp.id}: no photos or images to show", "list some in photos or images", 2)
    return chosen


def _block(name: str) -> str:
    """A backbone layer's name as a reader reads it."""
    if name.startswith("blocks."):
        return f"block {int(name.split('.')[1]) + 1}"
    return {"stem": "stem conv", "conv_head": "last conv (1×1)"}.get(name, name)


def _whole(ctx, name: str, photo, view) -> str:
    """Stores the whole photo, aspect ratio kept and faded outside the network's crop; its file name."""
    from reportgen.vis.photos import whole_with_crop

    return ctx.save_array(name, whole_with_crop(photo, view.box))


def _activation_photo(ctx) -> tuple[Any, str]:
    """The backbone's picture for the activation maps: the user's `image` file when given, else
    the bundled `photo`; with the words that name it in a caption."""
    from reportgen.nn.backbones import load_image, sample_photos

    if ctx.params["image"]:
        return load_image(ctx.params["image"]), f"image '{Path(ctx.params['image']).name}'"
    photos = sample_photos()
    if ctx.params["photo"] not in photos:
        raise ReportgenError(f"experiments.{ctx.exp.id}.photo: no bundled photo '{ctx.params['photo']}'",
                             f"use any of {', '.join(photos)}, or a file of yours as image", 2)  # fmt: skip
    return photos[ctx.params["photo"]], f"photo '{ctx.params['photo']}'"


# --- first-layer filters --------------------------------------------------------------------


@experiment(task=3, id="t3-filters", title="First-layer filters", needs=(OWN,))
def filters(ctx) -> Section:
    """The own model's first conv filters after the first and the last epoch, and the backbone's RGB stem filters."""
    import numpy as np

    from reportgen.vis.filters import filter_grid, weight_change

    own = _own(ctx)
    files = ctx.needs[OWN].files
    paths = [files / "conv1_epoch_first.npy", files / "conv1_epoch_last.npy"]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise ReportgenError(f"Task 3 needs the first-layer snapshots of experiment {OWN} ({', '.join(missing)})",
                             "re-run it: reportgen run --task 1 --rerun")  # fmt: skip
    first, last = (np.load(p) for p in paths)
    epochs = int(ctx.needs[OWN].inputs.get("params", {}).get("epochs", 1))
    change = weight_change(first, last)
    conv = own.convs[0]
    k = first.shape[-1]
    limit = float(max(np.abs(first).max(), np.abs(last).max()))
    items: list[Any] = []
    snapshots = [("after epoch 1", first)] if epochs == 1 else [("after epoch 1", first), (f"after epoch {epochs}", last)]
    kind, drawn = filter_words(first.shape[1], limit, both=len(snapshots) == 2)
    for when, weights in snapshots:
        grid = filter_grid(weights)
        items.append(ImageGrid(
            title=f"{_cap(own.name)}: {conv} filters {when}",
            caption=f"All {len(grid.tiles)} {kind} {k}×{k} filters of {conv} ({own.name}, {own.trained}), {when}; {drawn}.",
            images=[ctx.save_array(f"own_{when.split()[-1]}_{i}", t) for i, t in enumerate(grid.tiles)],
            columns=grid.columns, cmap="gray", vmin=-limit, vmax=limit, symmetric=True,
            key=when != "after epoch 1" or epochs == 1,
        ))  # fmt: skip
    backbone = _backbone(ctx)
    stem = backbone.model.get_submodule(backbone.first_conv()).weight.detach().cpu().numpy()
    rgb = filter_grid(stem, columns=8)
    items.append(ImageGrid(
        title=f"{BACKBONE_TITLE}: stem filters in colour",
        caption=(f"The {len(rgb.tiles)} RGB {stem.shape[-1]}×{stem.shape[-2]} filters of the stem conv of "
                 f"{backbone.source}; {filter_words(3, 0.0, both=False)[1]}."),
        images=[ctx.save_array(f"backbone_{i}", t) for i, t in enumerate(rgb.tiles)],
        columns=rgb.columns,
    ))  # fmt: skip
    if epochs > 1:
        moved = (f"Between epoch 1 and epoch {epochs} the {conv} weights moved by {100 * change['relative']:.1f}% of their norm; "
                 f"each filter kept its shape (mean correlation {change['correlation']:.2f} between the two snapshots).")  # fmt: skip
    else:
        moved = "At this profile the model trained for one epoch, so only the snapshot after epoch 1 is shown."
    colour = ("also see colour; both are drawn in colour" if first.shape[1] == 3 else "see colour, so they are shown in colour")
    summary = (f"{_cap(own.name)} learned {len(first)} {kind} {k}×{k} filters in {conv}. {moved} "
               f"{BACKBONE_TITLE}'s {len(rgb.tiles)} stem filters {colour}.")  # fmt: skip
    if epochs > 1:  # after a single epoch both snapshots are the same: nothing to measure
        items[0:0] = [
            Metric(title="relative weight change, first to last epoch", value=100 * change["relative"], unit="%", fmt="{:.1f}"),
            Metric(title="filter correlation, first to last epoch", value=change["correlation"], fmt="{:.2f}"),
        ]
    return Section(title=ctx.exp.title, summary=summary, items=items)


def filter_words(channels: int, limit: float, both: bool) -> tuple[str, str]:
    """What first-layer filters with `channels` input channels are ("single-channel", "RGB") and
    how their tiles are drawn, as filter_grid draws them; "both snapshots" only when two are shown."""
    if channels == 3:
        return "RGB", "each drawn in colour from its red, green and blue weights, scaled by its own largest weight"
    scale = f"on one scale (±{limit:.2f}){' for both snapshots' if both else ''}"
    if channels == 1:
        return "single-channel", f"grey is zero, light positive, dark negative, {scale}"
    return f"{channels}-channel", f"each the mean over its {channels} input channels; grey is zero, light positive, dark negative, {scale}"


# --- activation maps ------------------------------------------------------------------------


@experiment(task=3, id="t3-activations", in_talk=False, title="Activation maps at the first and last conv layer", needs=(OWN,),
            # The own model's test image by its index; the backbone's photo by name, or a file as image.
            params={**TEST, "test_index": 0, "photo": "chelsea", "image": "", "channels": 8}, checks={"image": IMAGE_FILE})  # fmt: skip
def activations(ctx) -> Section:
    """The most active channels of the first and last conv stage for one image, input beside them."""
    import numpy as np

    from reportgen.vis.activations import activation_maps
    from reportgen.vis.photos import crop_words, photo_view

    count, index = ctx.params["channels"], ctx.params["test_index"]
    own = _own(ctx)
    chosen = _test_images(ctx, own, [index], "test_index")
    stages = [own.stages[0], own.stages[-1]]
    maps = activation_maps(own.model, chosen.x.to(ctx.device), stages, count)
    grey = _picture(chosen.pixels[0])
    # Stored as RGB so that it is drawn in grey beside the colour-mapped activation tiles.
    picture = ctx.save_array("own_input", grey if grey.ndim == 3 else np.repeat(grey[..., None], 3, axis=-1))
    items: list[Any] = [_maps_grid(ctx, "own", picture, maps, stages,
                                   title=f"{_cap(own.name)}: activations of a test image",
                                   who=f"{own.name} ({own.weights})", image=f"test image {index} ({chosen.names[0]})",
                                   layer_name=lambda s: _own_layer(own, s), key=True)]  # fmt: skip

    photo, what = _activation_photo(ctx)
    backbone = _backbone(ctx)
    view = photo_view(photo, backbone, ctx.device)
    layers = [backbone.layers[0], backbone.layers[-1]]
    bmaps = activation_maps(backbone.model, view.x, layers, count)
    items.append(_maps_grid(ctx, "backbone", ctx.save_array("backbone_input", view.pixels), bmaps, layers,
                            title=f"{BACKBONE_TITLE}: activations of {what.split(' ', 1)[1]}", who=backbone.source,
                            image=f"{what}, {crop_words(backbone)}", layer_name=_block))  # fmt: skip
    first, last = maps[stages[0]], maps[stages[-1]]
    bfirst, blast = bmaps[layers[0]], bmaps[layers[-1]]
    summary = (
        f"The first layers keep the picture's layout ({_own_layer(own, stages[0])}: {_size(first)}, "
        f"{BACKBONE_TITLE}'s stem: {_size(bfirst)}); the last ones are coarser ({_own_layer(own, stages[-1])}: "
        f"{_size(last)}, {BACKBONE_TITLE}'s last conv: {_size(blast)}). After the activation, "
        f"{100 * first.zeros:.0f}% of {_own_layer(own, stages[0])}'s values are zero against {100 * last.zeros:.0f}% of "
        f"{_own_layer(own, stages[-1])}'s, and {100 * bfirst.zeros:.0f}% against {100 * blast.zeros:.0f}% in {BACKBONE_TITLE}."
    )
    return Section(title=ctx.exp.title, summary=summary, items=items)


def _size(maps) -> str:
    return f"{maps.total} maps of {maps.maps.shape[1]}×{maps.maps.shape[2]}"


def _maps_grid(ctx, prefix: str, picture: str, maps: dict, layers: list[str], *, title: str, who: str, image: str,
               layer_name, key: bool = False) -> ImageGrid:  # fmt: skip
    images, labels, rows = [], [], []
    for layer in layers:
        m = maps[layer]
        rows.append(f"{layer_name(layer)}\n({m.total} ch.)")
        images.append(picture)
        labels.append("input")
        for channel, tile, mean in zip(m.channels, m.maps, m.means):
            images.append(ctx.save_array(f"{prefix}_{layer}_{channel}", tile))
            labels.append(f"ch. {channel}\nmean {mean:.2f}")
    columns = 1 + max(len(maps[layer].channels) for layer in layers)
    return ImageGrid(
        title=title,
        caption=(f"{_cap(who)}, {image}: the {columns - 1} channels with the largest mean activation of "
                 f"{' and of '.join(layer_name(l) for l in layers)}, each scaled to its own range (bright: strong)."),
        images=images, labels=labels, columns=columns, row_labels=rows, cmap="viridis", key=key,
    )  # fmt: skip


# --- activation maximisation ----------------------------------------------------------------


@experiment(task=3, id="t3-maximise", title="Activation maximisation", needs=(OWN,),
            params={"channels": per_profile(quick=3, standard=6, full=8),
                    "size": per_profile(quick=48, standard=96, full=160),
                    "steps": per_profile(quick=12, standard=30, full=80),
                    "octaves": per_profile(quick=2, standard=3, full=3),
                    "jitter": 4, "tv": 1.0, "l2": 0.001, "lr": 0.05,
                    "backbone_layers": ["blocks.2", "blocks.10"]})  # fmt: skip
def maximise_channels(ctx) -> Section:
    """From noise, the input that most excites each of several channels of an early and a late layer."""
    import numpy as np

    from reportgen.vis.maximise import Settings, maximise, stretch

    p = ctx.params
    count = p["channels"]
    own = _own(ctx)
    backbone = _backbone(ctx)
    for name in p["backbone_layers"]:
        if name not in backbone.layers:
            raise ReportgenError(f"experiments.{ctx.exp.id}.backbone_layers: {BACKBONE_TITLE} has no layer '{name}'",
                                 f"use any of {', '.join(backbone.layers)}", 2)  # fmt: skip
    in_shape = own.checkpoint.in_shape
    own_settings = Settings(size=in_shape[-1], steps=p["steps"], octaves=min(p["octaves"], 2), octave_scale=1.4,
                            lr=p["lr"], jitter=min(p["jitter"], 2), tv=p["tv"], l2=p["l2"])  # fmt: skip
    big = Settings(size=p["size"], steps=p["steps"], octaves=p["octaves"], lr=p["lr"], jitter=p["jitter"], tv=p["tv"], l2=p["l2"])
    # The conv outputs before their ReLU: a channel that is zero everywhere at the start would
    # give no gradient after it.
    plan = [("own", own.model, conv, own_settings, in_shape[0], own.checkpoint.mean, own.checkpoint.std)
            for conv in (own.convs[0], own.convs[-1])]
    plan += [("backbone", backbone.model, layer, big, 3, backbone.mean, backbone.std) for layer in p["backbone_layers"]]
    ctx.progress.start(ctx.exp.id, len(plan))
    results: dict[tuple[str, str], list] = {}
    for who, model, layer, settings, channels_in, mean, std in plan:
        total = _channels(model, layer, channels_in, settings.size)
        chosen = list(range(min(count, total)))
        results[(who, layer)] = (maximise(model, layer, chosen, in_channels=channels_in, mean=mean, std=std,
                                          settings=settings, seed=ctx.seed), total)  # fmt: skip
        ctx.progress.advance()
    ctx.progress.done()

    items: list[Any] = []
    gains = []
    for who, title, model_text, namer, settings in (
        ("own", own.name, f"{own.name} ({own.weights})", lambda s: _own_layer(own, s), own_settings),
        ("backbone", BACKBONE_TITLE, backbone.source, _block, big),
    ):
        images, labels, rows = [], [], []
        layers = [layer for (w, layer) in results if w == who]
        for layer in layers:
            found, total = results[(who, layer)]
            rows.append(f"{namer(layer)}\n({total} ch.)")
            for r in found:
                images.append(ctx.save_array(f"{who}_{layer}_{r.channel}", stretch(r.image)))
                labels.append(f"ch. {r.channel}\n{r.start:.2f} → {r.end:.2f}")
                if r.start > 0:
                    gains.append(r.end / r.start)
        iterations = settings.steps * settings.octaves
        shown = max(len(results[(who, layer)][0]) for layer in layers)  # a layer may have fewer than asked for
        scales = " → ".join(f"{round(settings.size / settings.octave_scale**i)}" for i in reversed(range(settings.octaves)))
        items.append(ImageGrid(
            title=f"{_cap(title)}: inputs that maximise a channel",
            caption=(f"{_cap(model_text)}, channels 0–{shown - 1} of {' and '.join(namer(l) for l in layers)}: each image "
                     f"optimised from grey noise with Adam (step {settings.lr:g}) for {iterations} iterations over "
                     f"{plural(settings.octaves, 'octave')} ({scales} px), jitter ±{settings.jitter} px, TV weight {settings.tv:g}, "
                     f"L2 weight {settings.l2:g}; labels give the channel's mean activation for the noise → for the "
                     f"picture{' (conv outputs before the ReLU)' if who == 'own' else ''}; contrast stretched."),
            images=images, labels=labels, columns=shown, row_labels=rows,
            cmap="gray", key=who == "backbone",
        ))  # fmt: skip
    median = float(np.median(gains)) if gains else 0.0
    rose = sum(1 for rs in results.values() for r in rs[0] if r.end > r.start)
    n = sum(len(rs[0]) for rs in results.values())
    summary = (f"Optimising the input raised the target activation for {rose} of {n} channels; where it started above "
               f"zero, it ended {median:.1f} times higher (median). Each picture shows the pattern one channel "
               f"responds to most: repeated over the whole image, since the mean over all positions was maximised.")  # fmt: skip
    items.insert(0, Metric(title="median rise of the target activation", value=median, unit="×", fmt="{:.1f}"))
    return Section(title=ctx.exp.title, summary=summary, items=items)


def _channels(model, layer: str, channels_in: int, size: int) -> int:
    import torch

    from reportgen.vis.activations import forward_to

    device = next(model.parameters()).device
    with torch.no_grad():
        return int(forward_to(model, layer, torch.zeros(1, channels_in, size, size, device=device)).shape[1])


# --- t-SNE ------------------------------------------------------------------------------------


@experiment(task=3, id="t3-tsne", title="t-SNE of learned features", needs=(OWN,),
            params={**TEST, "points": per_profile(quick=500, standard=2500, full=5000), "perplexity": 30.0})  # fmt: skip
def tsne(ctx) -> Section:
    """t-SNE of the own model's penultimate features beside t-SNE of the raw pixels, coloured by class."""
    import numpy as np

    from reportgen.vis.activations import penultimate
    from reportgen.vis.tsne import embed, neighbour_agreement

    own = _own(ctx)
    n = min(ctx.params["points"], ctx.params["test_size"])
    chosen = _test_images(ctx, own, n)
    x, pixels, names = chosen.x, chosen.pixels, chosen.names
    n = len(names)
    features = penultimate(own.model, x.to(ctx.device))
    labels = np.array(names)
    ctx.progress.start(ctx.exp.id, 2)
    learned = embed(features, perplexity=ctx.params["perplexity"], seed=ctx.seed)
    ctx.progress.advance()
    raw = embed(pixels.reshape(n, -1).numpy(), perplexity=ctx.params["perplexity"], seed=ctx.seed)
    ctx.progress.done()
    agree = {"learned": neighbour_agreement(learned.points, labels), "raw": neighbour_agreement(raw.points, labels)}
    head_in = own.model.get_submodule("head").in_features
    # Points in class order, so that the legend lists the classes in the dataset's order.
    rank = {name: i for i, name in enumerate(own.checkpoint.classes)}
    order = sorted(range(n), key=lambda i: rank.get(names[i], 0))

    def scatter(emb, what: str, key: bool) -> Scatter:
        return Scatter(
            title=f"t-SNE of {what}",
            caption=(f"{n:,} test images of {ctx.dataset.display}, {what}; perplexity {emb.perplexity:g}, seed {ctx.seed}, "
                     f"{emb.seconds:.1f} s; trustworthiness {emb.trustworthiness:.3f} ({emb.neighbours} neighbours); "
                     f"{100 * agree['learned' if key else 'raw']:.1f}% of each point's 5 nearest neighbours share its class."),
            points=[{"x": float(emb.points[i, 0]), "y": float(emb.points[i, 1]), "group": names[i]} for i in order],
            annotate=False, legend_title="class", key=key,
        )  # fmt: skip

    what = f"{own.name}'s penultimate features ({head_in} values, the input of its classifier)"
    better = "better" if agree["learned"] > agree["raw"] else "no better"
    summary = (
        f"Classes separate {better} in the learned features: {100 * agree['learned']:.1f}% of the 5 nearest t-SNE "
        f"neighbours share the class, against {100 * agree['raw']:.1f}% for raw pixels "
        f"(trustworthiness {learned.trustworthiness:.3f} and {raw.trustworthiness:.3f}, perplexity {learned.perplexity:g})."
    )
    return Section(
        title=ctx.exp.title,
        summary=summary,
        items=[
            Metric(title="trustworthiness, learned features", value=learned.trustworthiness, fmt="{:.3f}"),
            Metric(title="trustworthiness, raw pixels", value=raw.trustworthiness, fmt="{:.3f}"),
            Metric(title="same-class neighbours, learned features", value=100 * agree["learned"], unit="%", fmt="{:.1f}", key=True),
            Metric(title="same-class neighbours, raw pixels", value=100 * agree["raw"], unit="%", fmt="{:.1f}", key=True),
            Metric(title="t-SNE time, learned features", value=learned.seconds, unit="s", fmt="{:.1f}"),
            Metric(title="t-SNE time, raw pixels", value=raw.seconds, unit="s", fmt="{:.1f}"),
            Metric(title="perplexity", value=learned.perplexity, fmt="{:g}"),
            scatter(learned, what, True),
            scatter(raw, f"raw pixels ({x[0].numel()} values)", False),
        ],
    )


# --- Grad-CAM ---------------------------------------------------------------------------------


@experiment(task=3, id="t3-gradcam", title="Grad-CAM and Grad-CAM++", needs=(OWN,),
            # test_images: a count (the first N of the test split) or a list of indices.
            params={**PHOTOS, **TEST, "test_images": per_profile(quick=3, standard=4, full=6), "chosen_class": ""})  # fmt: skip
def gradcam(ctx) -> Section:
    """Where the evidence for the top-1 class and a chosen class lies, by Grad-CAM and Grad-CAM++."""
    import difflib

    from reportgen.vis.cam import GradCAM, GradCAMPlusPlus
    from reportgen.vis.photos import crop_words, photo_size, photo_view

    backbone = _backbone(ctx)
    layer = backbone.layers[-1]
    chosen = ctx.params["chosen_class"]
    if chosen and chosen not in backbone.labels:
        close = difflib.get_close_matches(chosen, backbone.labels, n=3)
        raise ReportgenError(f"experiments.{ctx.exp.id}.chosen_class: '{chosen}' is no ImageNet class",
                             f"did you mean {', '.join(close)}?" if close else "use an ImageNet class name, e.g. 'tabby'", 2)  # fmt: skip
    methods = [GradCAM(backbone.model, layer), GradCAMPlusPlus(backbone.model, layer)]
    photos = _photos(ctx)
    images, overlays, labels, rows = [], [], [], []
    agree, other = [], []  # Grad-CAM against Grad-CAM++; top-1 against the other class
    ctx.progress.start(ctx.exp.id, len(photos))
    for name, photo in photos.items():
        view = photo_view(photo, backbone, ctx.device)
        x = view.x
        picture = ctx.save_array(f"photo_{len(rows)}", view.pixels)
        maps = [method(x) for method in methods]
        second = _second_class(backbone.model, x) if not chosen else backbone.labels.index(chosen)
        maps.append(methods[0](x, target=second))
        agree.append(_correlation(maps[0].heat, maps[1].heat))
        other.append(_correlation(maps[0].heat, maps[2].heat))
        rows.append(name)
        images.append(_whole(ctx, f"whole_{len(rows)}", photo, view))
        overlays.append("")
        labels.append(f"{name} ({photo_size(view)})")
        for m in maps:
            images.append(picture)
            overlays.append(ctx.save_array(f"cam_{len(overlays)}", m.heat))
            labels.append(f"{backbone.labels[m.target]} ({m.probability:.2f})")
        ctx.progress.advance()
    ctx.progress.done()
    which = f"'{chosen}'" if chosen else "the second most probable class"
    items: list[Any] = [ImageGrid(
        title=f"{BACKBONE_TITLE}: Grad-CAM and Grad-CAM++ on photos",
        caption=(f"{backbone.source}; maps of its {_block(layer)} ({layer_shape(backbone, layer)}) for the "
                 f"top-1 class and for {which}, over each photo's {crop_words(backbone)}; photos: "
                 f"{_listed([repr(n) for n in photos])}, shown whole at left (faded outside the crop); labels: the "
                 f"class explained and its probability."),
        images=images, overlays=overlays, labels=labels, columns=4,
        col_labels=["whole photo", "Grad-CAM", "Grad-CAM++", f"Grad-CAM, {'chosen' if chosen else '2nd'} class"],
        colorbar="class evidence (scaled to its maximum)", key=True,
    )]  # fmt: skip

    grid, own_agree = _own_gradcam(ctx)
    items.append(grid)
    mean = lambda values: sum(values) / len(values)
    summary = (f"Both methods weight the channels of the last conv layer by the gradient of a class score; Grad-CAM++ "
               f"weights each position's positive gradients. On the photos their maps correlate at r = {mean(agree):.2f} "
               f"on average ({mean(own_agree):.2f} on the test images); the map of {which} correlates with the top-1 map "
               f"at r = {mean(other):.2f}.")  # fmt: skip
    return Section(title=ctx.exp.title, summary=summary, items=[
        Metric(title="Grad-CAM / Grad-CAM++ correlation, photos", value=mean(agree), fmt="{:.2f}"),
        Metric(title="Grad-CAM / Grad-CAM++ correlation, test images", value=mean(own_agree), fmt="{:.2f}"),
        Metric(title="top-1 / other class map correlation, photos", value=mean(other), fmt="{:.2f}"),
        *items,
    ])  # fmt: skip


def _own_gradcam(ctx) -> tuple[ImageGrid, list[float]]:
    """Grad-CAM and Grad-CAM++ of the own model on the chosen test images, and per image the
    correlation of the two maps."""
    from reportgen.vis.cam import GradCAM, GradCAMPlusPlus

    own = _own(ctx)
    tests = _test_images(ctx, own, ctx.params["test_images"])
    stage = own.stages[-1]
    own_methods = [GradCAM(own.model, stage), GradCAMPlusPlus(own.model, stage)]
    classes = own.checkpoint.classes
    images, overlays, labels = [], [], []
    own_agree = []
    for i, index in enumerate(tests.indices):
        xi = tests.x[i : i + 1].to(ctx.device)
        picture = ctx.save_array(f"own_{i}", _picture(tests.pixels[i]))
        maps = [method(xi) for method in own_methods] + [own_methods[0](xi, target=_second_class(own.model, xi))]
        own_agree.append(_correlation(maps[0].heat, maps[1].heat))
        images += [picture] * 4
        overlays += [""] + [ctx.save_array(f"own_cam_{i}_{j}", m.heat) for j, m in enumerate(maps)]
        labels += [f"test image {index}\ntrue: {tests.names[i]}"] + [f"{classes[m.target]} ({m.probability:.2f})" for m in maps]
    grid = ImageGrid(
        title=f"{_cap(own.name)}: Grad-CAM and Grad-CAM++ on test images",
        caption=(f"{_cap(own.name)} ({own.weights}), {tests.words(ctx.params['test_images'])} of the "
                 f"{tests.total:,}-image test split; maps of {_own_layer(own, stage)} after its activation "
                 f"for the predicted class (Grad-CAM, Grad-CAM++) and the second most probable class (Grad-CAM)."),
        images=images, overlays=overlays, labels=labels, columns=4,
        col_labels=["test image", "Grad-CAM", "Grad-CAM++", "Grad-CAM, 2nd class"],
        colorbar="class evidence (scaled to its maximum)",
    )  # fmt: skip
    return grid, own_agree


def _correlation(a, b) -> float:
    """Pearson correlation of two maps of the same shape (1.0 for two constant maps)."""
    import numpy as np

    a, b = np.ravel(a).astype(float), np.ravel(b).astype(float)
    if a.std() == 0 or b.std() == 0:
        return 1.0 if np.allclose(a, b) else 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _relative(values):
    """A map scaled to [0, 1] by its largest value (negative values, a rise, count as 0)."""
    import numpy as np

    top = float(np.max(values))
    return np.clip(values, 0, None) / top if top > 0 else np.zeros_like(values)


def layer_shape(backbone, layer: str) -> str:
    import torch

    from reportgen.vis.activations import forward_to

    device = next(backbone.model.parameters()).device
    with torch.no_grad():
        out = forward_to(backbone.model, layer, torch.zeros(1, 3, backbone.input_size, backbone.input_size, device=device))
    return f"{out.shape[2]}×{out.shape[3]}, {out.shape[1]} channels"


def _second_class(model, x) -> int:
    import torch

    with torch.inference_mode():
        return int(model(x).topk(2).indices[0, 1])


# --- off-the-shelf and local classification -------------------------------------------------


@experiment(task=3, id="t3-classify", in_talk=False, title="Off-the-shelf ImageNet classification",
            params={**PHOTOS, "photos": ["chelsea", "coffee", "astronaut", "rocket", "hubble_deep_field",
                                         "immunohistochemistry"], "top": 5})  # fmt: skip
def classify(ctx) -> Section:
    """The top-5 ImageNet classes with probabilities for every photo."""
    from reportgen.vis.classify import top_k
    from reportgen.vis.photos import crop_words, photo_size, photo_view

    backbone = _backbone(ctx)
    items: list[Any] = []
    rows = []
    for index, (name, photo) in enumerate(_photos(ctx).items()):
        view = photo_view(photo, backbone, ctx.device)
        ranked = top_k(backbone.model, view.x, backbone.labels, ctx.params["top"])
        items.append(Bars(
            title=f"{BACKBONE_TITLE} on '{name}'",
            caption=(f"Top-{len(ranked)} ImageNet classes for '{name}' from its {crop_words(backbone)}; the photo "
                     f"({photo_size(view)}) is shown whole, faded outside the crop; {backbone.source}."),
            labels=[label for label, _, _ in ranked], values=[p for _, p, _ in ranked], xlabel="probability",
            image=_whole(ctx, f"photo_{index}", photo, view), key=index == 0,
        ))  # fmt: skip
        rows.append([name, ranked[0][0], f"{ranked[0][1]:.3f}", ", ".join(f"{l} ({p:.2f})" for l, p, _ in ranked[1:3])])
    table = Table(
        title=f"{BACKBONE_TITLE}: top-1 class per photo",
        caption=f"{backbone.source}; each photo's {crop_words(backbone)}, ImageNet normalisation.",
        columns=["photo", "top-1 class", "probability", "next two"],
        rows=rows,
    )
    confident = [r for r in rows if float(r[2]) >= 0.5]
    unsure = [r for r in rows if float(r[2]) < 0.5]
    summary = f"{BACKBONE_TITLE} gives a class a probability of 0.5 or more for {len(confident)} of {len(rows)} photos"
    if confident:
        summary += ": " + ", ".join(f"'{r[0]}' is \"{r[1]}\" ({r[2]})" for r in confident)
    if unsure:
        summary += ". Its best guesses for " + ", ".join(f"'{r[0]}' (\"{r[1]}\", {r[2]})" for r in unsure) + " are uncertain"
    summary += "."
    return Section(title=ctx.exp.title, summary=summary, items=[table, *items])


@experiment(task=3, id="t3-local", in_talk=False, title="Local classification: crops and occlusion", needs=(OWN,),
            params={**PHOTOS, **TEST, "crop": 0.5, "crop_steps": 3,
                    # Occlusion classifies each photo once per patch position: two photos by default.
                    "photos": per_profile(quick=["chelsea", "coffee"], standard=["chelsea", "coffee"],
                                          full=["chelsea", "coffee", "astronaut", "rocket"]),
                    "patch": per_profile(quick=56, standard=48, full=32),
                    "stride": per_profile(quick=56, standard=24, full=8),
                    "test_images": per_profile(quick=3, standard=6, full=6)})  # fmt: skip
def local(ctx) -> Section:
    """The top-1 class's probability over crops of each photo and under a sliding grey patch."""
    import torch

    from reportgen.vis.occlusion import crop_map, occlusion_map
    from reportgen.vis.photos import crop_words, photo_view

    p = ctx.params
    backbone = _backbone(ctx)
    photos = _photos(ctx)
    images, overlays, labels, rows = [], [], [], []
    drops = []
    ctx.progress.start(ctx.exp.id, len(photos))
    for index, (name, photo) in enumerate(photos.items()):
        view = photo_view(photo, backbone, ctx.device)
        occluded = occlusion_map(backbone.model, view.x, patch=p["patch"], stride=p["stride"])
        label = backbone.labels[occluded.target]
        # Crops of the square picture the network saw, so both maps share its frame.
        square = torch.from_numpy(view.pixels).permute(2, 0, 1)[None].to(ctx.device)
        crops = crop_map(backbone.model, square, occluded.target, window=p["crop"], steps=p["crop_steps"],
                         size=backbone.input_size, mean=backbone.mean, std=backbone.std)  # fmt: skip
        picture = ctx.save_array(f"photo_{index}", view.pixels)
        images += [_whole(ctx, f"whole_{index}", photo, view), picture, picture]
        overlays += ["", ctx.save_array(f"crops_{index}", _relative(crops.values)),
                     ctx.save_array(f"occlusion_{index}", _relative(occluded.values))]  # fmt: skip
        labels += [f"{label}: {occluded.base:.2f}", f"best crop: {crops.values.max():.2f}",
                   f"largest drop: {occluded.values.max():.2f}"]  # fmt: skip
        rows.append(name)
        drops.append((name, label, occluded.base, float(occluded.values.max()), float(crops.values.max()), float(crops.values.min())))
        ctx.progress.advance()
    ctx.progress.done()
    side = backbone.input_size
    items: list[Any] = [ImageGrid(
        title=f"{BACKBONE_TITLE}: where the top-1 class is found",
        caption=(f"{backbone.source}; left: the whole photo, faded outside the network's {crop_words(backbone)}. "
                 f"Middle: the top-1 class's probability for {p['crop_steps']}×{p['crop_steps']} overlapping crops of "
                 f"that square ({p['crop']:.0%} of its side, resized to {side} px); right: its drop under a "
                 f"{p['patch']}-pixel grey patch (stride {p['stride']} px). Each map is scaled to its largest value."),
        images=images, overlays=overlays, labels=labels, columns=3, row_labels=rows,
        col_labels=["whole photo and top-1 class", "probability per crop", "drop under occlusion"],
        colorbar="share of the largest value", key=True,
    ), Table(
        title="Local classification in numbers",
        caption=f"{BACKBONE_TITLE}: the top-1 class's probability for the whole photo, its largest drop under the patch, and over the crops.",
        columns=["photo", "top-1 class", "whole photo", "largest drop", "best crop", "worst crop"],
        rows=[[n, l, f"{b:.2f}", f"{d:.2f}", f"{hi:.2f}", f"{lo:.2f}"] for n, l, b, d, hi, lo in drops],
    )]  # fmt: skip

    own = _own(ctx)
    tests = _test_images(ctx, own, p["test_images"])
    size = tests.x.shape[-1]
    patch = max(2, size // 5)
    images, overlays, labels = [], [], []
    for i, index in enumerate(tests.indices):
        xi = tests.x[i : i + 1].to(ctx.device)
        # Fill with the value of a black pixel: Fashion-MNIST's background.
        fill = float(-torch.tensor(own.checkpoint.mean[0]) / own.checkpoint.std[0])
        occluded = occlusion_map(own.model, xi, patch=patch, stride=max(1, patch // 2), fill=fill)
        picture = ctx.save_array(f"own_{i}", _picture(tests.pixels[i]))
        images += [picture, picture]
        overlays += ["", ctx.save_array(f"own_occlusion_{i}", _relative(occluded.values))]
        labels += [f"test image {index}\ntrue: {tests.names[i]}",
                   f"{own.checkpoint.classes[occluded.target]} {occluded.base:.2f}\nlargest drop {occluded.values.max():.2f}"]  # fmt: skip
    items.append(ImageGrid(
        title=f"{_cap(own.name)}: occlusion on test images",
        caption=(f"{_cap(own.name)} ({own.weights}), {tests.words(p['test_images'])} of the {tests.total:,}-image "
                 f"test split: drop in the predicted class's probability when a "
                 f"{patch}×{patch}-pixel black patch covers each place (stride {max(1, patch // 2)} px), scaled to "
                 f"the largest drop written under each image."),
        images=images, overlays=overlays, labels=labels, columns=6, colorbar="share of the largest drop",
    ))  # fmt: skip
    best = max(drops, key=lambda d: d[3])
    summary = (f"Covering one place can remove the evidence: on '{best[0]}' the probability of \"{best[1]}\" fell from "
               f"{best[2]:.2f} by up to {best[3]:.2f} under a {p['patch']}-pixel patch. Over the crops of '{best[0]}' it "
               f"ranged from {best[5]:.2f} to {best[4]:.2f}.")  # fmt: skip
    return Section(title=ctx.exp.title, summary=summary, items=items)

"""What readers see of Task 3: titles, captions, sentences, tables and figures built from the
records that `task3_layers` and `task3_predictions` store. Runs at render time, never imports
torch, and is not part of any cache key: editing a caption here re-renders in seconds.
"""

from __future__ import annotations

from typing import Any

from reportgen.presenting import View
from reportgen.registry import presenter
from reportgen.results import Bars, ImageGrid, Metric, Scatter, Section, Table
from reportgen.values import SECONDS, Style, Value, show

from ._show import plural

ONE_PCT = Style(decimals=1, unit="%")
TWO = Style(decimals=2)
THREE = Style(decimals=3)
TIMES = Style(decimals=1, unit="×")
EVIDENCE = "class evidence (scaled to its maximum)"


# --- words shared by the slides ---------------------------------------------------------------


def _cap(text: str) -> str:
    """First letter upper case, the rest as it is ("our baseline CNN" -> "Our baseline CNN")."""
    return text[:1].upper() + text[1:]


def _listed(items: list[Any]) -> str:
    """'3', '3 and 17', '3, 5 and 17'."""
    words = [str(i) for i in items]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def own_words(facts: dict[str, Any]) -> tuple[str, str, str]:
    """How a caption names our CNN: ("our baseline CNN (...)", "trained 3 epochs on 20,000 X images",
    the same and ", 88.65% test accuracy")."""
    title, epochs, images, accuracy = facts["title"], facts["epochs"], facts["training_images"], facts["test_accuracy"]
    trained = "trained"
    if epochs:
        trained += f" {plural(int(epochs), 'epoch')}"
    if images:
        trained += f" on {int(images):,} {facts['dataset']} images"
    weights = trained + (f", {accuracy:.2f}% test accuracy" if accuracy is not None else "")
    return f"our {title[:1].lower()}{title[1:]}", trained, weights


def _tests_words(tests: dict[str, Any]) -> str:
    """Which test images these are: 'test images 3 and 17' or 'the first 3 test images'."""
    indices = tests["indices"]
    if tests["by_index"]:
        return f"{'test image' if len(indices) == 1 else 'test images'} {_listed(indices)}"
    return f"the first {plural(len(indices), 'test image')}"


def _crop_words(backbone: dict[str, Any]) -> str:
    """How the network's input was cut from a photo (as `reportgen.vis.photos.crop_words` says it)."""
    side = backbone["input_size"]
    return f"centre crop, {side} × {side} ({100 * backbone['crop']:.1f}% of the shorter side, aspect ratio kept)"


def _photo_size(shape: list[int]) -> str:
    """'902 × 300' (width × height)."""
    return f"{shape[1]} × {shape[0]}"


def _metric(view: View, name: str, style: Style, key: bool = False) -> Metric:
    return Metric(title=name, value=view.record["metrics"][name], style=style, key=key, name=name)


# --- first-layer filters --------------------------------------------------------------------


def filter_words(channels: int, limit: float, both: bool) -> tuple[str, str]:
    """What first-layer filters with `channels` input channels are ("single-channel", "RGB") and
    how their tiles are drawn, as filter_grid draws them; "both snapshots" only when two are shown."""
    if channels == 3:
        return "RGB", "each drawn in colour from its red, green and blue weights, scaled by its own largest weight"
    scale = f"on one scale (±{limit:.2f}){' for both snapshots' if both else ''}"
    if channels == 1:
        return "single-channel", f"grey is zero, light positive, dark negative, {scale}"
    return f"{channels}-channel", f"each the mean over its {channels} input channels; grey is zero, light positive, dark negative, {scale}"


@presenter("t3-filters")
def filters(view: View) -> Section:
    r = view.record
    name, trained, _ = own_words(r["model"])
    conv, k, epochs, limit, btitle = r["conv"], r["kernel"], r["epochs"], r["limit"], r["backbone"]["title"]
    kind, drawn = filter_words(r["in_channels"], limit, both=len(r["snapshots"]) == 2)
    items: list[Any] = []
    for snapshot in r["snapshots"]:
        when = f"after epoch {snapshot['epoch']}"
        items.append(ImageGrid(
            title=f"{_cap(name)}: {conv} filters {when}",
            caption=f"All {len(snapshot['images'])} {kind} {k}×{k} filters of {conv} ({name}, {trained}), {when}; {drawn}.",
            images=snapshot["images"], columns=snapshot["columns"], cmap="gray", vmin=-limit, vmax=limit, symmetric=True,
            key=snapshot["epoch"] != 1 or epochs == 1,
        ))  # fmt: skip
    stem = r["stem"]
    items.append(ImageGrid(
        title=f"{btitle}: stem filters in colour",
        caption=(f"The {len(stem['images'])} RGB {stem['kernel'][0]}×{stem['kernel'][1]} filters of the stem conv of "
                 f"{r['backbone']['source']}; {filter_words(3, 0.0, both=False)[1]}."),
        images=stem["images"], columns=stem["columns"],
    ))  # fmt: skip
    change = r["change"]
    if epochs > 1:
        moved = (f"Between epoch 1 and epoch {epochs} the {conv} weights moved by {100 * change['relative']:.1f}% of their norm; "
                 f"each filter kept its shape (mean correlation {change['correlation']:.2f} between the two snapshots).")  # fmt: skip
        items[0:0] = [_metric(view, "relative weight change, first to last epoch", ONE_PCT),
                      _metric(view, "filter correlation, first to last epoch", TWO)]  # fmt: skip
    else:
        moved = "At this profile the model trained for one epoch, so only the snapshot after epoch 1 is shown."
    colour = "also see colour; both are drawn in colour" if r["in_channels"] == 3 else "see colour, so they are shown in colour"
    summary = (f"{_cap(name)} learned {r['filters']} {kind} {k}×{k} filters in {conv}. {moved} "
               f"{btitle}'s {len(stem['images'])} stem filters {colour}.")  # fmt: skip
    return Section(title=view.title, summary=summary, items=items)


# --- activation maps ------------------------------------------------------------------------


def _size(layer: dict[str, Any]) -> str:
    return f"{layer['total']} maps of {layer['size'][0]}×{layer['size'][1]}"


def _maps_grid(picture: str, layers: list[dict[str, Any]], *, title: str, who: str, image: str, key: bool = False) -> ImageGrid:
    images, labels, rows = [], [], []
    for layer in layers:
        rows.append(f"{layer['label']}\n({layer['total']} ch.)")
        images.append(picture)
        labels.append("input")
        for channel, tile, mean in zip(layer["channels"], layer["images"], layer["means"]):
            images.append(tile)
            labels.append(f"ch. {channel}\nmean {mean:.2f}")
    columns = 1 + max(len(layer["channels"]) for layer in layers)
    return ImageGrid(
        title=title,
        caption=(f"{_cap(who)}, {image}: the {columns - 1} channels with the largest mean activation of "
                 f"{' and of '.join(layer['label'] for layer in layers)}, each scaled to its own range (bright: strong)."),
        images=images, labels=labels, columns=columns, row_labels=rows, cmap="viridis", key=key,
    )  # fmt: skip


@presenter("t3-activations")
def activations(view: View) -> Section:
    r = view.record
    name, _, weights = own_words(r["model"])
    own, photo, btitle = r["own"], r["photo"], r["backbone"]["title"]
    items = [
        _maps_grid(own["input"], own["layers"], title=f"{_cap(name)}: activations of a test image", who=f"{name} ({weights})",
                   image=f"test image {own['test_index']} ({own['class']})", key=True),
        _maps_grid(photo["input"], photo["layers"], title=f"{btitle}: activations of '{photo['name']}'",
                   who=r["backbone"]["source"], image=f"{photo['what']} '{photo['name']}', {_crop_words(r['backbone'])}"),
    ]  # fmt: skip
    first, last = own["layers"][0], own["layers"][-1]
    bfirst, blast = photo["layers"][0], photo["layers"][-1]
    summary = (
        f"The first layers keep the picture's layout ({first['label']}: {_size(first)}, "
        f"{btitle}'s stem: {_size(bfirst)}); the last ones are coarser ({last['label']}: "
        f"{_size(last)}, {btitle}'s last conv: {_size(blast)}). After the activation, "
        f"{100 * first['zeros']:.0f}% of {first['label']}'s values are zero against {100 * last['zeros']:.0f}% of "
        f"{last['label']}'s, and {100 * bfirst['zeros']:.0f}% against {100 * blast['zeros']:.0f}% in {btitle}."
    )
    return Section(title=view.title, summary=summary, items=items)


# --- activation maximisation ----------------------------------------------------------------


def _maximised_grid(part: dict[str, Any], title: str, model_text: str, own: bool) -> ImageGrid:
    """One model's maximised inputs: a row per layer, a column per channel."""
    images, labels, rows = [], [], []
    for layer in part["layers"]:
        rows.append(f"{layer['label']}\n({layer['total']} ch.)")
        for c in layer["channels"]:
            images.append(c["image"])
            labels.append(f"ch. {c['channel']}\n{c['start']:.2f} → {c['end']:.2f}")
    s = part["settings"]
    shown = max(len(layer["channels"]) for layer in part["layers"])  # a layer may have fewer than asked for
    scales = " → ".join(f"{round(s['size'] / s['octave_scale'] ** i)}" for i in reversed(range(s["octaves"])))
    return ImageGrid(
        title=f"{_cap(title)}: inputs that maximise a channel",
        caption=(f"{_cap(model_text)}, channels 0–{shown - 1} of {' and '.join(layer['label'] for layer in part['layers'])}: "
                 f"each image optimised from grey noise with Adam (step {s['lr']:g}) for {s['steps'] * s['octaves']} iterations "
                 f"over {plural(s['octaves'], 'octave')} ({scales} px), jitter ±{s['jitter']} px, TV weight {s['tv']:g}, "
                 f"L2 weight {s['l2']:g}; labels give the channel's mean activation for the noise → for the "
                 f"picture{' (conv outputs before the ReLU)' if own else ''}; contrast stretched."),
        images=images, labels=labels, columns=shown, row_labels=rows, cmap="gray", key=not own,
    )  # fmt: skip


@presenter("t3-maximise")
def maximise_channels(view: View) -> Section:
    r = view.record
    name, _, weights = own_words(r["model"])
    items: list[Any] = [
        _metric(view, "median rise of the target activation", TIMES),
        _maximised_grid(r["own"], name, f"{name} ({weights})", own=True),
        _maximised_grid(r["imagenet"], r["backbone"]["title"], r["backbone"]["source"], own=False),
    ]
    channels = [c for part in (r["own"], r["imagenet"]) for layer in part["layers"] for c in layer["channels"]]
    rose = sum(1 for c in channels if c["end"] > c["start"])
    median = r["metrics"]["median rise of the target activation"]
    summary = (f"Optimising the input raised the target activation for {rose} of {len(channels)} channels; where it started "
               f"above zero, it ended {median:.1f} times higher (median). Each picture shows the pattern one channel "
               f"responds to most: repeated over the whole image, since the mean over all positions was maximised.")  # fmt: skip
    return Section(title=view.title, summary=summary, items=items)


# --- t-SNE ------------------------------------------------------------------------------------


@presenter("t3-tsne")
def tsne(view: View) -> Section:
    r = view.record
    name = own_words(r["model"])[0]
    groups, learned, raw = r["groups"], r["learned"], r["raw"]
    n = len(groups)

    def scatter(emb: dict[str, Any], what: str, key: bool) -> Scatter:
        return Scatter(
            title=f"t-SNE of {what}",
            caption=(f"{n:,} test images of {r['model']['dataset']}, {what}; perplexity {emb['perplexity']:g}, seed {r['seed']}, "
                     f"{emb['seconds']:.1f} s; trustworthiness {emb['trustworthiness']:.3f} ({emb['neighbours']} neighbours); "
                     f"{100 * emb['agreement']:.1f}% of each point's 5 nearest neighbours share its class."),
            points=[{"x": x, "y": y, "group": g} for (x, y), g in zip(emb["points"], groups)],
            annotate=False, legend_title="class", key=key,
        )  # fmt: skip

    what = f"{name}'s penultimate features ({r['features']} values, the input of its classifier)"
    better = "better" if learned["agreement"] > raw["agreement"] else "no better"
    summary = (
        f"Classes separate {better} in the learned features: {100 * learned['agreement']:.1f}% of the 5 nearest t-SNE "
        f"neighbours share the class, against {100 * raw['agreement']:.1f}% for raw pixels "
        f"(trustworthiness {learned['trustworthiness']:.3f} and {raw['trustworthiness']:.3f}, perplexity {learned['perplexity']:g})."
    )
    metrics = [("trustworthiness, learned features", THREE, False), ("trustworthiness, raw pixels", THREE, False),
               ("same-class neighbours, learned features", ONE_PCT, True), ("same-class neighbours, raw pixels", ONE_PCT, True),
               ("t-SNE time, learned features", SECONDS, False), ("t-SNE time, raw pixels", SECONDS, False),
               ("perplexity", Style(), False)]  # fmt: skip
    items = [_metric(view, title, style, key) for title, style, key in metrics]
    return Section(title=view.title, summary=summary,
                   items=[*items, scatter(learned, what, True), scatter(raw, f"raw pixels ({r['pixels']} values)", False)])  # fmt: skip


# --- Grad-CAM ---------------------------------------------------------------------------------


def _photo_cams(r: dict[str, Any]) -> ImageGrid:
    chosen, layer, b = r["chosen_class"], r["layer"], r["backbone"]
    images, overlays, labels = [], [], []
    for row in r["photos"]:
        images.append(row["whole"])
        overlays.append("")
        labels.append(f"{row['name']} ({_photo_size(row['shape'])})")
        for m in row["maps"]:
            images.append(row["picture"])
            overlays.append(m["overlay"])
            labels.append(f"{m['class']} ({m['probability']:.2f})")
    which = f"'{chosen}'" if chosen else "the second most probable class"
    c, h, w = layer["shape"]
    return ImageGrid(
        title=f"{b['title']}: Grad-CAM and Grad-CAM++ on photos",
        caption=(f"{b['source']}; maps of its {layer['label']} ({h}×{w}, {c} channels) for the "
                 f"top-1 class and for {which}, over each photo's {_crop_words(b)}; photos: "
                 f"{_listed([repr(row['name']) for row in r['photos']])}, shown whole at left (faded outside the crop); labels: the "
                 f"class explained and its probability."),
        images=images, overlays=overlays, labels=labels, columns=4,
        col_labels=["whole photo", "Grad-CAM", "Grad-CAM++", f"Grad-CAM, {'chosen' if chosen else '2nd'} class"],
        colorbar=EVIDENCE, key=True,
    )  # fmt: skip


def _own_cams(own: dict[str, Any]) -> ImageGrid:
    name, _, weights = own_words(own["model"])
    images, overlays, labels = [], [], []
    for image in own["images"]:
        images += [image["picture"]] * 4
        overlays += [""] + [m["overlay"] for m in image["maps"]]
        labels += [f"test image {image['index']}\ntrue: {image['true']}"]
        labels += [f"{m['class']} ({m['probability']:.2f})" for m in image["maps"]]
    return ImageGrid(
        title=f"{_cap(name)}: Grad-CAM and Grad-CAM++ on test images",
        caption=(f"{_cap(name)} ({weights}), {_tests_words(own['tests'])} of the "
                 f"{own['tests']['total']:,}-image test split; maps of {own['layer']} after its activation "
                 f"for the predicted class (Grad-CAM, Grad-CAM++) and the second most probable class (Grad-CAM)."),
        images=images, overlays=overlays, labels=labels, columns=4,
        col_labels=["test image", "Grad-CAM", "Grad-CAM++", "Grad-CAM, 2nd class"], colorbar=EVIDENCE,
    )  # fmt: skip


@presenter("t3-gradcam")
def gradcam(view: View) -> Section:
    r, m = view.record, view.record["metrics"]
    which = f"'{r['chosen_class']}'" if r["chosen_class"] else "the second most probable class"
    names = ("Grad-CAM / Grad-CAM++ correlation, photos", "Grad-CAM / Grad-CAM++ correlation, test images",
             "top-1 / other class map correlation, photos")  # fmt: skip
    summary = (f"Both methods weight the channels of the last conv layer by the gradient of a class score; Grad-CAM++ "
               f"weights each position's positive gradients. On the photos their maps correlate at r = {m[names[0]]:.2f} "
               f"on average ({m[names[1]]:.2f} on the test images); the map of {which} correlates with the top-1 map "
               f"at r = {m[names[2]]:.2f}.")  # fmt: skip
    items = [*(_metric(view, n, TWO) for n in names), _photo_cams(r), _own_cams(r["own"])]
    return Section(title=view.title, summary=summary, items=items)


# --- off-the-shelf and local classification -------------------------------------------------


@presenter("t3-classify")
def classify(view: View) -> Section:
    r, b = view.record, view.record["backbone"]
    items: list[Any] = []
    rows = []
    for index, row in enumerate(r["photos"]):
        name, classes, probabilities = row["name"], row["classes"], row["probabilities"]
        items.append(Bars(
            title=f"{b['title']} on '{name}'",
            caption=(f"Top-{len(classes)} ImageNet classes for '{name}' from its {_crop_words(b)}; the photo "
                     f"({_photo_size(row['shape'])}) is shown whole, faded outside the crop; {b['source']}."),
            labels=classes, values=probabilities, xlabel="probability", image=row["image"], key=index == 0,
        ))  # fmt: skip
        rest = ", ".join(f"{label} ({p:.2f})" for label, p in zip(classes[1:3], probabilities[1:3]))
        rows.append([name, classes[0], Value(probabilities[0], THREE), rest])
    table = Table(
        title=f"{b['title']}: top-1 class per photo",
        caption=f"{b['source']}; each photo's {_crop_words(b)}, ImageNet normalisation.",
        columns=["photo", "top-1 class", "probability", "next two"],
        rows=rows,
    )
    # As the table shows it: 0.4996 is written 0.500, and counts as confident.
    confident = [row for row in rows if float(show(row[2])) >= 0.5]
    unsure = [row for row in rows if float(show(row[2])) < 0.5]
    summary = f"{b['title']} gives a class a probability of 0.5 or more for {len(confident)} of {len(rows)} photos"
    if confident:
        summary += ": " + ", ".join(f"'{row[0]}' is \"{row[1]}\" ({show(row[2])})" for row in confident)
    if unsure:
        summary += ". Its best guesses for " + ", ".join(f"'{row[0]}' (\"{row[1]}\", {show(row[2])})" for row in unsure) + " are uncertain"
    return Section(title=view.title, summary=summary + ".", items=[table, *items])


def _own_occlusion(own: dict[str, Any]) -> ImageGrid:
    name, _, weights = own_words(own["model"])
    images, overlays, labels = [], [], []
    for image in own["images"]:
        images += [image["picture"], image["picture"]]
        overlays += ["", image["overlay"]]
        labels += [f"test image {image['index']}\ntrue: {image['true']}",
                   f"{image['predicted']} {image['base']:.2f}\nlargest drop {image['drop']:.2f}"]  # fmt: skip
    patch = own["patch"]
    return ImageGrid(
        title=f"{_cap(name)}: occlusion on test images",
        caption=(f"{_cap(name)} ({weights}), {_tests_words(own['tests'])} of the {own['tests']['total']:,}-image "
                 f"test split: drop in the predicted class's probability when a "
                 f"{patch}×{patch}-pixel black patch covers each place (stride {own['stride']} px), scaled to "
                 f"the largest drop written under each image."),
        images=images, overlays=overlays, labels=labels, columns=6, colorbar="share of the largest drop",
    )  # fmt: skip


@presenter("t3-local")
def local(view: View) -> Section:
    r, p, b = view.record, view.params, view.record["backbone"]
    images, overlays, labels = [], [], []
    for row in r["photos"]:
        images += [row["whole"], row["picture"], row["picture"]]
        overlays += ["", row["crops"], row["occlusion"]]
        labels += [f"{row['class']}: {row['base']:.2f}", f"best crop: {row['best']:.2f}", f"largest drop: {row['drop']:.2f}"]
    grid = ImageGrid(
        title=f"{b['title']}: where the top-1 class is found",
        caption=(f"{b['source']}; left: the whole photo, faded outside the network's {_crop_words(b)}. "
                 f"Middle: the top-1 class's probability for {p['crop_steps']}×{p['crop_steps']} overlapping crops of "
                 f"that square ({p['crop']:.0%} of its side, resized to {b['input_size']} px); right: its drop under a "
                 f"{p['patch']}-pixel grey patch (stride {p['stride']} px). Each map is scaled to its largest value."),
        images=images, overlays=overlays, labels=labels, columns=3, row_labels=[row["name"] for row in r["photos"]],
        col_labels=["whole photo and top-1 class", "probability per crop", "drop under occlusion"],
        colorbar="share of the largest value", key=True,
    )  # fmt: skip
    table = Table(
        title="Local classification in numbers",
        caption=f"{b['title']}: the top-1 class's probability for the whole photo, its largest drop under the patch, and over the crops.",
        columns=["photo", "top-1 class", "whole photo", "largest drop", "best crop", "worst crop"],
        rows=[[row["name"], row["class"], *(Value(row[k], TWO) for k in ("base", "drop", "best", "worst"))] for row in r["photos"]],
    )
    best = max(r["photos"], key=lambda row: row["drop"])
    summary = (f"Covering one place can remove the evidence: on '{best['name']}' the probability of \"{best['class']}\" fell "
               f"from {best['base']:.2f} by up to {best['drop']:.2f} under a {p['patch']}-pixel patch. Over the crops of "
               f"'{best['name']}' it ranged from {best['worst']:.2f} to {best['best']:.2f}.")  # fmt: skip
    return Section(title=view.title, summary=summary, items=[grid, table, _own_occlusion(r["own"])])

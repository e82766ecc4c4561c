"""Task 3, what a prediction rests on: Grad-CAM / Grad-CAM++ maps, off-the-shelf ImageNet
classification, and local classification by crops and occlusion, for EfficientNet-Lite0 on
photos and our own CNN (Task 1's stored baseline) on test images.

This module computes: each experiment returns a Record of what it measured and the arrays it
saved. What readers see is built from it at render time by `task3_present`, which this module
never imports.
"""

from __future__ import annotations

from typing import Any

from reportgen.errors import ReportgenError
from reportgen.records import Record
from reportgen.registry import experiment, per_profile

from ._task3 import (
    OWN,
    PHOTOS,
    TEST,
    backbone_facts,
    chosen_images,
    correlation,
    load_backbone,
    output_shape,
    own_model,
    photo_shape,
    photos,
    picture,
    relative,
    second_class,
    whole,
)

# --- Grad-CAM ---------------------------------------------------------------------------------


@experiment(task=3, id="t3-gradcam", title="Grad-CAM and Grad-CAM++", needs=(OWN,),
            # test_images: a count (the first N of the test split) or a list of indices.
            params={**PHOTOS, **TEST, "test_images": per_profile(quick=3, standard=4, full=6), "chosen_class": ""})  # fmt: skip
def gradcam(ctx) -> Record:
    """Where the evidence for the top-1 class and a chosen class lies, by Grad-CAM and Grad-CAM++."""
    import difflib

    from reportgen.vis.cam import GradCAM, GradCAMPlusPlus
    from reportgen.vis.photos import photo_view

    backbone = load_backbone(ctx)
    layer = backbone.layers[-1]
    chosen = ctx.params["chosen_class"]
    if chosen and chosen not in backbone.labels:
        close = difflib.get_close_matches(chosen, backbone.labels, n=3)
        raise ReportgenError(f"experiments.{ctx.exp.id}.chosen_class: '{chosen}' is no ImageNet class",
                             f"did you mean {', '.join(close)}?" if close else "use an ImageNet class name, e.g. 'tabby'", 2)  # fmt: skip
    methods = [GradCAM(backbone.model, layer), GradCAMPlusPlus(backbone.model, layer)]
    shown = photos(ctx)
    rows: list[dict[str, Any]] = []
    overlays = 0  # cells so far, the blank one under each whole photo included: the maps' file names
    ctx.progress.start(ctx.exp.id, len(shown))
    for name, photo in shown.items():
        view = photo_view(photo, backbone, ctx.device)
        x = view.x
        pixels = ctx.save_array(f"photo_{len(rows)}", view.pixels)
        maps = [method(x) for method in methods]
        second = second_class(backbone.model, x) if not chosen else backbone.labels.index(chosen)
        maps.append(methods[0](x, target=second))
        row = {"name": name, "shape": photo_shape(view), "picture": pixels,
               "agree": correlation(maps[0].heat, maps[1].heat), "other": correlation(maps[0].heat, maps[2].heat)}  # fmt: skip
        rows.append(row)
        row["whole"] = whole(ctx, f"whole_{len(rows)}", photo, view)
        row["maps"] = []
        overlays += 1
        for m in maps:
            row["maps"].append({"class": backbone.labels[m.target], "probability": float(m.probability),
                                "overlay": ctx.save_array(f"cam_{overlays}", m.heat)})  # fmt: skip
            overlays += 1
        ctx.progress.advance()
    ctx.progress.done()
    own = _own_gradcam(ctx)
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    return Record({
        "backbone": backbone_facts(backbone),
        "layer": {"name": layer, "label": backbone.layer_label(layer), "shape": output_shape(backbone.model, layer, 3, backbone.input_size)},
        "chosen_class": chosen,
        "photos": rows,
        "own": own,
        "metrics": {
            "Grad-CAM / Grad-CAM++ correlation, photos": mean([r["agree"] for r in rows]),
            "Grad-CAM / Grad-CAM++ correlation, test images": mean([r["agree"] for r in own["images"]]),
            "top-1 / other class map correlation, photos": mean([r["other"] for r in rows]),
        },
    })  # fmt: skip


def _own_gradcam(ctx) -> dict[str, Any]:
    """Grad-CAM and Grad-CAM++ of the own model on the chosen test images, and per image the
    correlation of the two maps."""
    from reportgen.vis.cam import GradCAM, GradCAMPlusPlus

    own = own_model(ctx)
    tests = chosen_images(ctx, own, ctx.params["test_images"])
    stage = own.stages[-1]
    own_methods = [GradCAM(own.model, stage), GradCAMPlusPlus(own.model, stage)]
    classes = own.checkpoint.classes
    images = []
    for i, index in enumerate(tests.indices):
        xi = tests.x[i : i + 1].to(ctx.device)
        pixels = ctx.save_array(f"own_{i}", picture(tests.pixels[i]))
        maps = [method(xi) for method in own_methods] + [own_methods[0](xi, target=second_class(own.model, xi))]
        images.append({"index": index, "true": tests.names[i], "picture": pixels, "agree": correlation(maps[0].heat, maps[1].heat),
                       "maps": [{"class": classes[m.target], "probability": float(m.probability),
                                 "overlay": ctx.save_array(f"own_cam_{i}_{j}", m.heat)} for j, m in enumerate(maps)]})  # fmt: skip
    return {"model": own.facts, "tests": tests.facts(ctx.params["test_images"]), "layer": own.layer(stage), "images": images}


# --- off-the-shelf and local classification -------------------------------------------------


@experiment(task=3, id="t3-classify", in_talk=False, title="Off-the-shelf ImageNet classification",
            params={**PHOTOS, "photos": ["chelsea", "coffee", "astronaut", "rocket", "hubble_deep_field",
                                         "immunohistochemistry"], "top": 5})  # fmt: skip
def classify(ctx) -> Record:
    """The top-5 ImageNet classes with probabilities for every photo."""
    from reportgen.vis.classify import top_k
    from reportgen.vis.photos import photo_view

    backbone = load_backbone(ctx)
    rows = []
    for index, (name, photo) in enumerate(photos(ctx).items()):
        view = photo_view(photo, backbone, ctx.device)
        ranked = top_k(backbone.model, view.x, backbone.labels, ctx.params["top"])
        rows.append({"name": name, "shape": photo_shape(view), "image": whole(ctx, f"photo_{index}", photo, view),
                     "classes": [label for label, _, _ in ranked], "probabilities": [float(p) for _, p, _ in ranked]})  # fmt: skip
    return Record({"backbone": backbone_facts(backbone), "photos": rows})


@experiment(task=3, id="t3-local", in_talk=False, title="Local classification: crops and occlusion", needs=(OWN,),
            params={**PHOTOS, **TEST, "crop": 0.5, "crop_steps": 3,
                    # Occlusion classifies each photo once per patch position: two photos by default.
                    "photos": per_profile(quick=["chelsea", "coffee"], standard=["chelsea", "coffee"],
                                          full=["chelsea", "coffee", "astronaut", "rocket"]),
                    "patch": per_profile(quick=56, standard=48, full=32),
                    "stride": per_profile(quick=56, standard=24, full=8),
                    "test_images": per_profile(quick=3, standard=6, full=6)})  # fmt: skip
def local(ctx) -> Record:
    """The top-1 class's probability over crops of each photo and under a sliding grey patch."""
    import torch

    from reportgen.vis.occlusion import crop_map, occlusion_map
    from reportgen.vis.photos import photo_view

    p = ctx.params
    backbone = load_backbone(ctx)
    shown = photos(ctx)
    rows = []
    ctx.progress.start(ctx.exp.id, len(shown))
    for index, (name, photo) in enumerate(shown.items()):
        view = photo_view(photo, backbone, ctx.device)
        occluded = occlusion_map(backbone.model, view.x, patch=p["patch"], stride=p["stride"])
        # Crops of the square picture the network saw, so both maps share its frame.
        square = torch.from_numpy(view.pixels).permute(2, 0, 1)[None].to(ctx.device)
        crops = crop_map(backbone.model, square, occluded.target, window=p["crop"], steps=p["crop_steps"],
                         size=backbone.input_size, mean=backbone.mean, std=backbone.std)  # fmt: skip
        pixels = ctx.save_array(f"photo_{index}", view.pixels)
        rows.append({
            "name": name, "class": backbone.labels[occluded.target], "base": float(occluded.base),
            "drop": float(occluded.values.max()), "best": float(crops.values.max()), "worst": float(crops.values.min()),
            "whole": whole(ctx, f"whole_{index}", photo, view), "picture": pixels,
            "crops": ctx.save_array(f"crops_{index}", relative(crops.values)),
            "occlusion": ctx.save_array(f"occlusion_{index}", relative(occluded.values)),
        })  # fmt: skip
        ctx.progress.advance()
    ctx.progress.done()
    return Record({"backbone": backbone_facts(backbone), "photos": rows, "own": _own_occlusion(ctx)})


def _own_occlusion(ctx) -> dict[str, Any]:
    """The own model's predicted-class probability under a sliding black patch, per test image."""
    import torch

    from reportgen.vis.occlusion import occlusion_map

    own = own_model(ctx)
    tests = chosen_images(ctx, own, ctx.params["test_images"])
    patch = max(2, tests.x.shape[-1] // 5)
    stride = max(1, patch // 2)
    images = []
    for i, index in enumerate(tests.indices):
        xi = tests.x[i : i + 1].to(ctx.device)
        # Fill with the value of a black pixel: Fashion-MNIST's background.
        fill = float(-torch.tensor(own.checkpoint.mean[0]) / own.checkpoint.std[0])
        occluded = occlusion_map(own.model, xi, patch=patch, stride=stride, fill=fill)
        images.append({"index": index, "true": tests.names[i], "picture": ctx.save_array(f"own_{i}", picture(tests.pixels[i])),
                       "overlay": ctx.save_array(f"own_occlusion_{i}", relative(occluded.values)),
                       "predicted": own.checkpoint.classes[occluded.target], "base": float(occluded.base),
                       "drop": float(occluded.values.max())})  # fmt: skip
    return {"model": own.facts, "tests": tests.facts(ctx.params["test_images"]), "patch": patch, "stride": stride, "images": images}

"""What Task 3's compute modules share: the own model (Task 1's stored baseline), its test
images, the ImageNet backbone and the photos, and a few numbers on maps.

Torch is imported inside the functions: `reportgen list` imports the experiment modules.
Nothing here writes a caption; records hold the plain facts the presenters word.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reportgen.errors import ReportgenError
from reportgen.params import Rule
from reportgen.records import Record
from reportgen.registry import per_profile

OWN = "arch-baseline"  # the Task 1 experiment whose stored model Task 3 looks into
BACKBONE = "efficientnet-lite0"
# Photos bundled with scikit-image; the user adds their own files with `images = [...]`.
PHOTOS = {"photos": per_profile(quick=["chelsea", "coffee"], standard=["chelsea", "coffee", "astronaut", "rocket"],
                                full=["chelsea", "coffee", "astronaut", "rocket"]),
          "images": []}  # fmt: skip
# A file named by `image`: a path with its extension (the runner tells files from names by it).
IMAGE_FILE = Rule(lambda v: v == "" or bool(Path(v).suffix), "a file's path with its extension (bundled photos go in photo)")
# The own model's test images come from the same subset as Task 1's test split.
TEST = {"test_size": per_profile(quick=1000, standard=10000, full=10000)}


@dataclass
class Own:
    """Our trained CNN and the facts a caption quotes about it (`facts`: plain JSON)."""

    model: Any
    checkpoint: Any
    stages: list[str]  # module after each conv layer (its activation), first to last
    convs: list[str]  # the conv layers' names, in the same order
    facts: dict[str, Any]

    def layer(self, stage: str) -> str:
        """'conv2' for the activation after conv2: the name a reader knows."""
        return self.convs[self.stages.index(stage)] if stage in self.stages else stage


def own_model(ctx) -> Own:
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
    result = entry.result
    metrics = dict(result.metrics) if isinstance(result, Record) else result.metrics()
    # The baseline's title as this build names it (Task 1's comparison stores its variants' too).
    title = entry.title or (entry.section.title if isinstance(result, Record) else result.title)
    model = ck.model.to(ctx.device).eval()
    facts = {
        "title": title,
        "epochs": entry.inputs.get("params", {}).get("epochs"),
        # The images it trained on as stored with its result (a small folder gives fewer than train_size).
        "training_images": metrics.get("training images"),
        "test_accuracy": metrics.get("test accuracy"),
        "dataset": ctx.dataset.display,
    }
    return Own(model, ck, stage_outputs(model), conv_layers(model), facts)


@dataclass
class ChosenImages:
    """Test images chosen for the own model: the model's input, [0, 1] pixels, class names, and
    their indices into the test split (which holds `total` images)."""

    x: Any
    pixels: Any
    names: list[str]
    indices: list[int]
    total: int

    def facts(self, chosen: int | list[int]) -> dict[str, Any]:
        """Which images these are, as a presenter words them ("test images 3 and 17")."""
        return {"indices": self.indices, "by_index": isinstance(chosen, list), "names": self.names, "total": self.total}


def chosen_images(ctx, own: Own, chosen: int | list[int], param: str = "test_images") -> ChosenImages:
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


def picture(pixels) -> Any:
    """(C, H, W) tensor in [0, 1] -> (H, W) grey or (H, W, 3) RGB numpy picture."""
    array = pixels.detach().cpu().numpy()
    return array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)


def load_backbone(ctx) -> Any:
    from reportgen.nn.backbones import load_backbone as load

    backbone = load(BACKBONE)
    backbone.model.to(ctx.device)
    return backbone


def backbone_facts(backbone) -> dict[str, Any]:
    """What a caption says of the backbone: its name, where its weights came from, its input crop."""
    return {"title": backbone.title, "source": backbone.source, "input_size": backbone.input_size, "crop": backbone.crop}


def photos(ctx) -> dict[str, Any]:
    """The chosen scikit-image photos and the user's image files (by file name), as RGB uint8."""
    from reportgen.nn.images import load_image, sample_photos

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


def whole(ctx, name: str, photo, view) -> str:
    """Stores the whole photo, aspect ratio kept and faded outside the network's crop; its file name."""
    from reportgen.vis.photos import whole_with_crop

    return ctx.save_array(name, whole_with_crop(photo, view.box))


def photo_shape(view) -> list[int]:
    """The photo's (height, width) in pixels."""
    return [int(view.shape[0]), int(view.shape[1])]


def correlation(a, b) -> float:
    """Pearson correlation of two maps of the same shape (1.0 for two constant maps)."""
    import numpy as np

    a, b = np.ravel(a).astype(float), np.ravel(b).astype(float)
    if a.std() == 0 or b.std() == 0:
        return 1.0 if np.allclose(a, b) else 0.0
    return float(np.corrcoef(a, b)[0, 1])


def relative(values):
    """A map scaled to [0, 1] by its largest value (negative values, a rise, count as 0)."""
    import numpy as np

    top = float(np.max(values))
    return np.clip(values, 0, None) / top if top > 0 else np.zeros_like(values)


def output_shape(model, layer: str, channels_in: int, size: int) -> list[int]:
    """(channels, height, width) of `layer`'s output for one zero image of `size` pixels."""
    import torch

    from reportgen.vis.activations import forward_to

    device = next(model.parameters()).device
    with torch.no_grad():
        out = forward_to(model, layer, torch.zeros(1, channels_in, size, size, device=device))
    return [int(d) for d in out.shape[1:]]


def second_class(model, x) -> int:
    import torch

    with torch.inference_mode():
        return int(model(x).topk(2).indices[0, 1])

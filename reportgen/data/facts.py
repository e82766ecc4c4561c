"""What the data is (channels, image size, classes), known without reading a pixel.

Parameters that follow the data (`from_data(...)` in the registry) take their values from
here when a build is planned, so that the per-layer tables, the worked theory and the
variants all describe the images they are trained on: one source of truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reportgen.data.sources import FASHION_CLASSES, DatasetInfo, native_shape

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
DIGIT_CLASSES = [str(d) for d in range(10)]
CLASS_COUNTS = {"cifar100": 100}  # datasets whose class names we do not list


@dataclass(frozen=True)
class DataFacts:
    """The shape of what experiments train on.

    Attributes:
        channels: 1 (grey) or 3 (RGB; folder images are always read as RGB).
        image_size: the side in pixels the images are presented at.
        classes: the class names (empty when only their number is known).
        class_count: how many classes.
        explicit_size: the config's top-level image_size was set by the student (it then wins
            over every other default).
        native_size: the side in pixels the images have as stored (before any resizing).
    """

    channels: int
    image_size: int
    classes: tuple[str, ...]
    class_count: int
    explicit_size: bool
    native_size: int

    def get(self, fact: str) -> int:
        """'channels', 'image_size' or 'classes' (the number of classes)."""
        if fact == "classes":
            return self.class_count
        if fact in ("channels", "image_size"):
            return getattr(self, fact)
        raise KeyError(f"unknown data fact '{fact}' (use channels, image_size or classes)")


def _class_names(info: DatasetInfo) -> list[str]:
    if info.name == "folder":
        from reportgen.data import folder

        parts = folder.scan(Path(info.location))
        return sorted({name for by_class in parts.values() for name in by_class})
    if info.name == "fashion-mnist":
        return list(FASHION_CLASSES)
    if info.name == "cifar10":
        return list(CIFAR10_CLASSES)
    if info.name in CLASS_COUNTS:
        return []
    return list(DIGIT_CLASSES)  # digits, mnist, svhn


def data_facts(info: DatasetInfo, image_size: int | None = None) -> DataFacts:
    """Facts of a resolved dataset; `image_size` is the config's top-level value when the student
    set it (a folder is read at that size anyway), None when left at its default."""
    channels, native, _ = native_shape(info)
    names = _class_names(info)
    return DataFacts(
        channels=channels,
        image_size=image_size or native,
        classes=tuple(names),
        class_count=len(names) or CLASS_COUNTS[info.name],
        explicit_size=image_size is not None,
        native_size=native,
    )


def config_facts(config, info: DatasetInfo) -> DataFacts:
    """The facts a build with `config` plans with (the top-level image_size counts when it was set)."""
    explicit = "image_size" in config.model_fields_set
    return data_facts(info, config.image_size if explicit else None)

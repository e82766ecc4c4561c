"""Where a dataset's files are, its fingerprint, and its pixels as numpy arrays.

Resolving a dataset reads no pixels and imports no torch, so cache keys are cheap to compute.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reportgen.errors import ReportgenError

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
INSTALL_FASHION = (
    "install it with 'apt-get install dataset-fashion-mnist', point data_root in reportgen.toml "
    "at the idx files, or pass --download when online"
)


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset found on disk: what to call it, where it is, and a fingerprint of its files."""

    name: str
    display: str
    location: str
    fingerprint: str
    notice: str = ""  # set when the configured dataset was missing and a fallback is used
    image_size: int = 64  # what folder images are resized to


@dataclass
class RawData:
    """Pixels as uint8 (N, C, H, W) arrays, integer labels and class names."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: list[str]
    skipped: list[str] = field(default_factory=list)  # unreadable files left out


def _find_idx(folder: Path) -> dict[str, Path] | None:
    """The four idx files in `folder` (plain or .gz, flat or in torchvision's raw/ layout)."""
    for base in (folder, folder / "FashionMNIST" / "raw", folder / "raw"):
        found = {}
        for part, stem in IDX_FILES.items():
            for candidate in (base / stem, base / f"{stem}.gz"):
                if candidate.is_file():
                    found[part] = candidate
                    break
        if len(found) == len(IDX_FILES):
            return found
    return None


def _fingerprint(paths: list[Path]) -> str:
    sha = hashlib.sha256()
    for path in sorted(paths):
        sha.update(path.name.encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()[:16]


def _digits_info(notice: str = "") -> DatasetInfo:
    from importlib.metadata import version

    return DatasetInfo(
        name="digits",
        display="scikit-learn digits (8x8 upsampled to 16x16)",
        location="scikit-learn",
        fingerprint=f"sklearn-{version('scikit-learn')}",
        notice=notice,
    )


def _download_fashion(root: Path) -> None:
    try:
        from torchvision.datasets import FashionMNIST

        FashionMNIST(str(root), train=True, download=True)
        FashionMNIST(str(root), train=False, download=True)
    except Exception as exc:  # network errors come in many types
        raise ReportgenError(f"could not download Fashion-MNIST: {exc}", INSTALL_FASHION) from None


TORCHVISION = {"cifar10": "CIFAR10", "cifar100": "CIFAR100", "svhn": "SVHN"}
NAMES = "fashion-mnist, mnist, cifar10, cifar100, svhn, digits or folder:PATH"


def _stat_fingerprint(root: Path) -> str:
    sha = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        stat = path.stat()
        sha.update(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return sha.hexdigest()[:16]


def _torchvision_dataset(name: str, root: Path, train: bool, download: bool):
    import torchvision.datasets as tvd

    cls = getattr(tvd, TORCHVISION[name])
    if name == "svhn":
        return cls(str(root), split="train" if train else "test", download=download)
    return cls(str(root), train=train, download=download)


def _resolve_torchvision(name: str, data_root: Path | None, download: bool) -> DatasetInfo:
    root = data_root or Path.home() / ".cache" / "reportgen" / "data"
    try:
        _torchvision_dataset(name, root, True, download)
        _torchvision_dataset(name, root, False, download)
    except Exception as exc:  # torchvision raises RuntimeError when missing, URLError offline
        raise ReportgenError(
            f"dataset '{name}' not found under {root} ({str(exc).splitlines()[0]})",
            "set data_root in reportgen.toml to where it is, or pass --download when online",
            2,
        ) from None
    return DatasetInfo(name, TORCHVISION[name].replace("CIFAR", "CIFAR-"), str(root), _stat_fingerprint(root))


def resolve_dataset(
    name: str,
    data_root: Path | None = None,
    fallback: str = "digits",
    download: bool = False,
    image_size: int = 64,
) -> DatasetInfo:
    """Finds `name` on disk (downloading only when asked); a missing Fashion-MNIST falls back to digits.

    Raises:
        ReportgenError: the dataset is missing (with how to get it), or the name is unknown.
    """
    from reportgen.data import folder

    if name == "digits":
        return _digits_info()
    if name.startswith("folder:"):
        root = Path(name.removeprefix("folder:")).expanduser()
        return DatasetInfo("folder", f"image folder {root.name}", str(root), folder.fingerprint(root), image_size=image_size)
    if name in TORCHVISION:
        return _resolve_torchvision(name, data_root, download)
    if name not in ("fashion-mnist", "mnist"):
        raise ReportgenError(f"unknown dataset '{name}'", f"use {NAMES}", exit_code=2)
    folders = [data_root] if data_root else []
    if name == "fashion-mnist":
        folders.append(DEBIAN_FASHION)
    for candidate in folders:
        found = _find_idx(candidate)
        if found:
            display = "Fashion-MNIST" if name == "fashion-mnist" else "MNIST"
            return DatasetInfo(name, display, str(candidate), _fingerprint(list(found.values())))
    if download and name == "fashion-mnist":
        root = data_root or Path.home() / ".cache" / "reportgen" / "data"
        _download_fashion(root)
        return resolve_dataset(name, root, fallback="none")
    how = INSTALL_FASHION if name == "fashion-mnist" else "set data_root to a folder with its idx files"
    if fallback == "digits" and name == "fashion-mnist":
        return _digits_info(notice=f"{name} was not found, so scikit-learn's digits were used: {how}.")
    looked = ", ".join(str(f) for f in folders) or "nowhere (no data_root)"
    raise ReportgenError(f"dataset '{name}' not found (looked in {looked})", how, exit_code=2)


def native_shape(info: DatasetInfo) -> tuple[int, int, int]:
    """(channels, height, width) of the dataset's images as loaded, without reading pixels."""
    if info.name == "digits":
        return (1, 16, 16)
    if info.name in ("fashion-mnist", "mnist"):
        return (1, 28, 28)
    if info.name == "folder":
        return (3, info.image_size, info.image_size)
    return (3, 32, 32)  # CIFAR-10/100, SVHN


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(bytearray(data), dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_arrays(info: DatasetInfo) -> RawData:
    """Reads the pixels of a resolved dataset into memory."""
    if info.name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = (digits.images * (255.0 / 16.0)).round().astype(np.uint8)[:, None]
        images = images.repeat(2, axis=2).repeat(2, axis=3)  # 8x8 -> 16x16, so two poolings still fit
        labels = digits.target.astype(np.int64)
        train, test = _split_fixed(len(labels))
        return RawData(images[train], labels[train], images[test], labels[test],
                       [str(d) for d in range(10)])  # fmt: skip
    if info.name == "folder":
        return _load_folder(info)
    if info.name in TORCHVISION:
        return _load_torchvision(info)
    found = _find_idx(Path(info.location))
    if found is None:
        raise ReportgenError(f"dataset files vanished from {info.location}", INSTALL_FASHION)
    try:
        arrays = {part: _read_idx(path) for part, path in found.items()}
    except (OSError, ValueError, EOFError) as exc:
        raise ReportgenError(f"{info.location}: unreadable idx file: {exc}", INSTALL_FASHION) from None
    classes = FASHION_CLASSES if info.name == "fashion-mnist" else [str(d) for d in range(10)]
    return RawData(
        arrays["train_x"][:, None],
        arrays["train_y"].astype(np.int64),
        arrays["test_x"][:, None],
        arrays["test_y"].astype(np.int64),
        classes,
    )


def _split_fixed(n: int) -> tuple[np.ndarray, np.ndarray]:
    """A fixed 80/20 train/test split: the test set must not move with the experiment seed."""
    order = np.random.default_rng(12345).permutation(n)
    cut = int(0.8 * n)
    return order[:cut], order[cut:]


def _load_folder(info: DatasetInfo) -> RawData:
    from reportgen.data import folder

    parts = folder.layout(Path(info.location))
    by_part = {part: folder.class_folders(path) for part, path in parts.items()}
    classes = sorted({name for files in by_part.values() for name in files})
    if "all" in by_part:
        x, y, skipped = folder.read_images(by_part["all"], classes, info.image_size)
        train, test = _split_fixed(len(y))
        return RawData(x[train], y[train], x[test], y[test], classes, skipped)
    train_x, train_y, skipped = folder.read_images(by_part["train"], classes, info.image_size)
    test_x, test_y, skipped_test = folder.read_images(by_part["test"], classes, info.image_size)
    return RawData(train_x, train_y, test_x, test_y, classes, skipped + skipped_test)


def _load_torchvision(info: DatasetInfo) -> RawData:
    arrays = []
    for train in (True, False):
        ds = _torchvision_dataset(info.name, Path(info.location), train, download=False)
        x = np.asarray(ds.data, dtype=np.uint8)
        x = x if info.name == "svhn" else x.transpose(0, 3, 1, 2)  # SVHN is already N, C, H, W
        y = np.asarray(ds.labels if info.name == "svhn" else ds.targets, dtype=np.int64)
        arrays += [x, y]
        classes = list(getattr(ds, "classes", [str(d) for d in range(10)]))
    return RawData(*arrays, classes)

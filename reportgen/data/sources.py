"""Where a dataset's files are, its fingerprint, and its pixels as numpy arrays.

Resolving a dataset reads no pixels and imports no torch, so cache keys are cheap to compute.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
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


@dataclass
class RawData:
    """Pixels as uint8 (N, C, H, W) arrays, integer labels and class names."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: list[str]


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
        display="scikit-learn digits (8x8, upsampled)",
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


def resolve_dataset(
    name: str,
    data_root: Path | None = None,
    fallback: str = "digits",
    download: bool = False,
) -> DatasetInfo:
    """Finds `name` on disk (downloading only when asked), falling back to digits with a notice.

    Raises:
        ReportgenError: the dataset is missing and no fallback is allowed, or the name is unknown.
    """
    if name == "digits":
        return _digits_info()
    if name not in ("fashion-mnist", "mnist"):
        raise ReportgenError(
            f"unknown dataset '{name}'", "use fashion-mnist, mnist or digits", exit_code=2
        )
    folders = [data_root] if data_root else []
    if name == "fashion-mnist":
        folders.append(DEBIAN_FASHION)
    for folder in folders:
        found = _find_idx(folder)
        if found:
            display = "Fashion-MNIST" if name == "fashion-mnist" else "MNIST"
            return DatasetInfo(name, display, str(folder), _fingerprint(list(found.values())))
    if download and name == "fashion-mnist":
        root = data_root or Path.home() / ".cache" / "reportgen" / "data"
        _download_fashion(root)
        return resolve_dataset(name, root, fallback="none")
    how = INSTALL_FASHION if name == "fashion-mnist" else "set data_root to a folder with its idx files"
    if fallback == "digits":
        return _digits_info(notice=f"{name} was not found, so scikit-learn's digits were used: {how}.")
    looked = ", ".join(str(f) for f in folders) or "nowhere (no data_root)"
    raise ReportgenError(f"dataset '{name}' not found (looked in {looked})", how, exit_code=2)


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
        labels = digits.target.astype(np.int64)
        # A fixed 20% test split: the "test set" must not move with the experiment seed.
        order = np.random.default_rng(12345).permutation(len(labels))
        cut = int(0.8 * len(labels))
        train, test = order[:cut], order[cut:]
        return RawData(images[train], labels[train], images[test], labels[test],
                       [str(d) for d in range(10)])  # fmt: skip
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

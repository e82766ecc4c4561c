"""An ImageFolder of the user's own images (one sub-folder per class), read into arrays.

Corrupt or unreadable files are skipped and counted; an empty class is an error.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from reportgen.errors import ReportgenError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
HOW = "lay it out as PATH/<class name>/<image files> (optionally under PATH/train and PATH/test)"


def class_folders(root: Path) -> dict[str, list[Path]]:
    """Class name -> image files; raises a ReportgenError for a missing, empty or classless folder."""
    if not root.is_dir():
        raise ReportgenError(f"image folder {root} does not exist", HOW, 2)
    classes = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise ReportgenError(f"class folder {folder} has no images", HOW, 2)
        classes[folder.name] = files
    if not classes:
        raise ReportgenError(f"image folder {root} has no class sub-folders with images", HOW, 2)
    return classes


def layout(root: Path) -> dict[str, Path]:
    """{'train': ..., 'test': ...} when the folder is pre-split, else {'all': root}."""
    if (root / "train").is_dir() and (root / "test").is_dir():
        return {"train": root / "train", "test": root / "test"}
    return {"all": root}


def fingerprint(root: Path) -> str:
    """Names, sizes and modification times of every image: cheap, and changes when a file does."""
    sha = hashlib.sha256()
    for part, folder in layout(root).items():
        for name, files in class_folders(folder).items():
            for f in files:
                stat = f.stat()
                sha.update(f"{part}/{name}/{f.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return sha.hexdigest()[:16]


def read_images(files_by_class: dict[str, list[Path]], classes: list[str], size: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """RGB uint8 (N, 3, size, size) and labels; returns the files that could not be read too."""
    from PIL import Image, UnidentifiedImageError

    images, labels, skipped = [], [], []
    for name, files in files_by_class.items():
        for path in files:
            try:
                with Image.open(path) as img:
                    img = img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
                    images.append(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1))
                labels.append(classes.index(name))
            except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
                skipped.append(str(path))
    if not images:
        raise ReportgenError("no image in the folder could be read", HOW, 2)
    return np.stack(images), np.asarray(labels, dtype=np.int64), skipped

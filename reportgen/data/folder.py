"""An ImageFolder of the user's own images (one sub-folder per class), read into arrays.

What a student's folder may hold and what happens to it:
- any image mode (grey, grey + alpha, RGBA, CMYK, palette, 1-bit, 16-bit 'I;16', 32-bit 'I',
  float 'F'): converted to 8-bit RGB; transparency is composited onto white, 16-bit values
  are scaled down rather than clipped;
- a zero-byte, truncated or non-image file (also one named like an image): skipped and counted;
- an image smaller than the size it is read at: enlarged, and counted;
- an empty class folder, a class whose files are all unreadable, only one class, a class in
  test/ that train/ lacks: one ReportgenError that says what to fix.
Hidden files and the thumbnail databases of file managers are ignored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reportgen.errors import ReportgenError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
HOW = "lay it out as PATH/<class name>/<image files> (optionally under PATH/train, PATH/val and PATH/test)"
PARTS = ("train", "val", "test")
# Files a file manager or an OS drops into folders; never the student's data.
_JUNK = {"thumbs.db", "desktop.ini", "ehthumbs.db"}


def _listed(path: Path) -> bool:
    """Whether a file is data to read: not hidden, not a file manager's own."""
    return path.is_file() and not path.name.startswith(".") and path.name.lower() not in _JUNK


def class_folders(root: Path) -> dict[str, list[Path]]:
    """Class name -> its files (sorted; nested folders included); a ReportgenError for a missing folder,
    an empty class or a folder without class sub-folders.

    Every visible file counts, not only those with an image suffix, so that a stray document is
    skipped and counted when read rather than silently ignored.
    """
    if not root.is_dir():
        raise ReportgenError(f"image folder {root} does not exist", HOW, 2)
    classes = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(p for p in folder.rglob("*") if _listed(p))
        if not files:
            raise ReportgenError(f"class folder {folder} has no images", f"add images or remove the folder; {HOW}", 2)
        classes[folder.name] = files
    if not classes:
        loose = [p for p in root.iterdir() if _listed(p) and p.suffix.lower() in IMAGE_SUFFIXES]
        hint = f"the {len(loose)} image(s) directly in it need one sub-folder per class; {HOW}" if loose else HOW
        raise ReportgenError(f"image folder {root} has no class sub-folders with images", hint, 2)
    return classes


def layout(root: Path) -> dict[str, Path]:
    """{'train': ..., 'test': ...} (plus 'val' when there is one) for a pre-split folder, else {'all': root}.

    Raises:
        ReportgenError: a partial split (train/ without test/, or val/ or test/ without train/).
    """
    present = [part for part in PARTS if (root / part).is_dir()]
    if not present:
        return {"all": root}
    if "train" not in present or "test" not in present:
        missing = " and ".join(f"{p}/" for p in ("train", "test") if p not in present)
        raise ReportgenError(
            f"image folder {root} has {', '.join(f'{p}/' for p in present)} but no {missing}",
            f"a pre-split folder needs train/ and test/ (val/ is optional); {HOW}",
            2,
        )
    return {part: root / part for part in present}


def scan(root: Path) -> dict[str, dict[str, list[Path]]]:
    """Part ('all' or train/val/test) -> class -> files, with the class sets checked.

    Raises:
        ReportgenError: fewer than two classes, or a class in val/ or test/ that train/ lacks.
    """
    parts = {part: class_folders(path) for part, path in layout(root).items()}
    first = parts.get("all") or parts["train"]
    if len(first) < 2:
        only = next(iter(first))
        raise ReportgenError(
            f"image folder {root} has one class ('{only}'); a classifier needs at least two",
            f"add a sub-folder per class; {HOW}",
            2,
        )
    for part in ("val", "test"):
        extra = sorted(set(parts.get(part, {})) - set(first))
        if extra:
            raise ReportgenError(
                f"{root / part} has class(es) that train/ lacks: {', '.join(extra)}",
                "add training images for them or remove them from " + f"{part}/",
                2,
            )
    return parts


def fingerprint(root: Path) -> str:
    """Names, sizes and modification times of every file: cheap, and changes when a file does."""
    sha = hashlib.sha256()
    for part, by_class in scan(root).items():
        for name, files in by_class.items():
            for f in files:
                stat = f.stat()
                sha.update(f"{part}/{name}/{f.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return sha.hexdigest()[:16]


@dataclass
class FolderImages:
    """Pixels read from a folder, with an account of what had to be done to them.

    Attributes:
        x: RGB uint8 (N, 3, size, size).
        y: class indices (N,).
        skipped: files that could not be read as images (zero-byte, truncated, not an image).
        enlarged: images smaller than `size` on either side, enlarged to it.
        converted: image mode -> how many images were converted from it to RGB ('L', 'RGBA', 'I;16', ...).
    """

    x: np.ndarray
    y: np.ndarray
    skipped: list[str] = field(default_factory=list)
    enlarged: list[str] = field(default_factory=list)
    converted: dict[str, int] = field(default_factory=dict)

    def notes(self, size: int) -> list[str]:
        """Sentences for the report: what was skipped, enlarged and converted."""
        out = []
        if self.skipped:
            names = ", ".join(Path(p).name for p in self.skipped[:5]) + (", ..." if len(self.skipped) > 5 else "")
            out.append(f"{len(self.skipped)} file(s) could not be read as images and were skipped: {names}.")
        if self.enlarged:
            out.append(f"{len(self.enlarged)} image(s) smaller than {size}×{size} pixels were enlarged to it.")
        if self.converted:
            parts = [f"{n} {_MODE_NAMES.get(m, m)}" for m, n in sorted(self.converted.items(), key=lambda kv: -kv[1])]
            listed = ", ".join(parts[:-1]) + f" and {parts[-1]}" if len(parts) > 1 else parts[0]
            out.append(f"Converted to 8-bit RGB: {listed} image(s).")
        return out


_MODE_NAMES = {
    "1": "1-bit",
    "L": "greyscale",
    "LA": "greyscale with alpha",
    "P": "palette",
    "PA": "palette with alpha",
    "RGBA": "RGBA",
    "CMYK": "CMYK",
    "YCbCr": "YCbCr",
    "LAB": "Lab",
    "HSV": "HSV",
    "I": "32-bit greyscale",
    "I;16": "16-bit greyscale",
    "I;16B": "16-bit greyscale",
    "I;16L": "16-bit greyscale",
    "F": "floating-point greyscale",
}


def to_rgb(img: Any) -> Any:
    """An 8-bit RGB PIL image from any mode; alpha over white, high bit depths scaled, not clipped."""
    from PIL import Image

    mode = img.mode
    if mode == "RGB":
        return img
    if mode.startswith("I") or mode == "F":
        # PIL's own conversion clips 16-bit and float values at 255: a 16-bit photo turns white.
        values = np.asarray(img, dtype=np.float64)
        if mode == "F" and values.size and np.nanmax(values) <= 1.0:
            peak = 1.0
        elif mode.startswith("I;16") or (values.size and np.nanmax(values) > 255):
            peak = 65535.0
        else:
            peak = 255.0
        grey = np.clip(np.nan_to_num(values) * (255.0 / peak), 0, 255).round().astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if mode == "P" and "transparency" in img.info:
        img, mode = img.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV


def _read_one(path: Path, size: int) -> tuple[np.ndarray, str, bool]:
    """(pixels as uint8 (3, size, size), the file's image mode, whether it was smaller than size)."""
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        img.draft("RGB", (size, size))  # JPEG: decode at a reduced scale when large; others: no-op
        try:
            img = ImageOps.exif_transpose(img)
        except Exception:  # noqa: BLE001 -- a broken EXIF block should not cost the picture
            pass
        small = img.width < size or img.height < size
        rgb = to_rgb(img).resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
        return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1), img.mode, small


def read_folder(files_by_class: dict[str, list[Path]], classes: list[str], size: int) -> FolderImages:
    """Every readable file as RGB uint8 at size x size, in class order, with what was done to them.

    Raises:
        ReportgenError: no file could be read at all, or every file of a class failed.
    """
    images, labels = [], []
    result = FolderImages(np.zeros((0, 3, size, size), np.uint8), np.zeros(0, np.int64))
    for name, files in files_by_class.items():
        readable = 0
        for path in files:
            try:
                pixels, mode, small = _read_one(path, size)
            except Exception:  # noqa: BLE001 -- PIL's plugins raise many types on broken files; skip, count, name it
                result.skipped.append(str(path))
                continue
            images.append(pixels)
            labels.append(classes.index(name))
            readable += 1
            if small:
                result.enlarged.append(str(path))
            if mode != "RGB":
                result.converted[mode] = result.converted.get(mode, 0) + 1
        if files and not readable:
            raise ReportgenError(
                f"class folder '{name}': none of its {len(files)} file(s) could be read as an image",
                f"replace them with PNG or JPEG files; {HOW}",
                2,
            )
    if not images:
        raise ReportgenError("no image in the folder could be read", HOW, 2)
    result.x = np.stack(images)
    result.y = np.asarray(labels, dtype=np.int64)
    return result


def read_images(
    files_by_class: dict[str, list[Path]], classes: list[str], size: int
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """RGB uint8 (N, 3, size, size) and labels; returns the files that could not be read too."""
    images = read_folder(files_by_class, classes, size)
    return images.x, images.y, images.skipped

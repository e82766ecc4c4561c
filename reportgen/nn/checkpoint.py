"""Saving and loading the course's own CNNs: layer spec, weights and what the data looked like.

One format for every experiment that stores a model (Task 1 variants, Task 2 baselines) and
every one that reads it back (Task 3 visualisation, Task 4 transfer).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from reportgen.errors import ReportgenError
from reportgen.nn.spec import build_model

FORMAT = 1


@dataclass
class Checkpoint:
    """A rebuilt model (eval mode) and what it was trained on."""

    model: nn.Sequential
    layers: list[str]
    activation: str
    in_shape: tuple[int, int, int]
    classes: list[str]
    mean: list[float]
    std: list[float]
    extra: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(
    path: Path,
    model: nn.Module,
    *,
    layers: list[str],
    in_shape: tuple[int, ...],
    classes: list[str],
    mean: list[float],
    std: list[float],
    activation: str = "relu",
    extra: dict[str, Any] | None = None,
) -> Path:
    """Writes the model's weights with everything needed to rebuild it (atomically)."""
    return save_torch(
        {
            "format": FORMAT,
            "layers": list(layers),
            "activation": activation,
            "in_shape": list(in_shape),
            "classes": list(classes),
            "mean": list(mean),
            "std": list(std),
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "extra": extra or {},
        },
        path,
    )


def save_torch(obj: Any, path: Path) -> Path:
    """torch.save through a Python file and a rename: a reader never sees half a file, and a full
    disk is an OSError naming the file (torch's own writer reports only an opaque RuntimeError)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as handle:
            torch.save(obj, handle)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
    tmp.replace(path)
    return path


def load_checkpoint(path: Path) -> Checkpoint:
    """Rebuilds the model stored at `path` in eval mode on the CPU.

    Raises:
        ReportgenError: the file is missing, unreadable or from an unknown format.
    """
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        model = build_model(data["layers"], tuple(data["in_shape"]), len(data["classes"]), data["activation"])
        model.load_state_dict(data["state_dict"])
    except FileNotFoundError:
        raise ReportgenError(f"model checkpoint {path} is missing", "re-run the experiment that trains it (--rerun)") from None
    except (OSError, RuntimeError, KeyError, ValueError, TypeError, EOFError, pickle.UnpicklingError) as exc:
        raise ReportgenError(f"model checkpoint {path} cannot be read: {exc}", "re-run the experiment that trains it (--rerun)") from None
    return Checkpoint(
        model=model.eval(),
        layers=list(data["layers"]),
        activation=data["activation"],
        in_shape=tuple(data["in_shape"]),
        classes=list(data["classes"]),
        mean=list(data["mean"]),
        std=list(data["std"]),
        extra=dict(data.get("extra", {})),
    )

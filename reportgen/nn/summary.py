"""A per-layer table of a model: type, output shape, parameters, multiply-adds and memory."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from reportgen.nn.hooks import Recorder, preserved_modes

BYTES_PER_PARAM = 4  # fp32


@dataclass
class LayerRow:
    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int
    trainable: int = 0
    macs: int = 0  # multiply-accumulates for one image

    @property
    def memory_kb(self) -> float:
        return self.params * BYTES_PER_PARAM / 1024


@dataclass
class ModelSummary:
    rows: list[LayerRow]
    input_shape: tuple[int, ...]

    @property
    def total_params(self) -> int:
        return sum(row.params for row in self.rows)

    @property
    def trainable_params(self) -> int:
        return sum(row.trainable for row in self.rows)

    @property
    def total_macs(self) -> int:
        return sum(row.macs for row in self.rows)

    @property
    def total_memory_kb(self) -> float:
        return sum(row.memory_kb for row in self.rows)


def layer_macs(module: nn.Module, output: torch.Tensor) -> int:
    """Multiply-accumulates of one layer for one image (conv and dense layers; others ~0)."""
    per_image = math.prod(output.shape[1:])
    if isinstance(module, nn.Conv2d):
        k = math.prod(module.kernel_size)
        return per_image * (module.in_channels // module.groups) * k
    if isinstance(module, nn.Linear):
        return module.in_features * module.out_features
    return 0


def summarize(model: nn.Module, input_shape: tuple[int, ...]) -> ModelSummary:
    """Runs one dummy image through `model` and records every leaf module's output and parameters."""
    leaves = {name: m for name, m in model.named_modules() if name and not list(m.children())}
    with preserved_modes(model, train=False), Recorder(model, list(leaves)) as rec, torch.no_grad():
        param = next(model.parameters(), None)
        device = param.device if param is not None else "cpu"
        model(torch.zeros(1, *input_shape, device=device))
    rows = []
    for name, output in rec.outputs.items():  # forward order
        module = leaves[name]
        own = list(module.parameters(recurse=False))
        rows.append(
            LayerRow(
                name,
                type(module).__name__,
                tuple(output.shape[1:]),
                sum(p.numel() for p in own),
                sum(p.numel() for p in own if p.requires_grad),
                layer_macs(module, output),
            )
        )
    return ModelSummary(rows, tuple(input_shape))

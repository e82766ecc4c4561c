"""A per-layer table of a model: type, output shape, parameters and their memory."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

BYTES_PER_PARAM = 4  # fp32


@dataclass
class LayerRow:
    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int

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
    def total_memory_kb(self) -> float:
        return sum(row.memory_kb for row in self.rows)


def summarize(model: nn.Module, input_shape: tuple[int, ...]) -> ModelSummary:
    """Runs one dummy image through `model` and records every leaf module's output and parameters."""
    rows: list[LayerRow] = []
    hooks = []

    def hook_for(name: str):
        def hook(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            params = sum(p.numel() for p in module.parameters(recurse=False))
            rows.append(LayerRow(name, type(module).__name__, tuple(output.shape[1:]), params))

        return hook

    for name, module in model.named_modules():
        if not list(module.children()):
            hooks.append(module.register_forward_hook(hook_for(name)))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            param = next(model.parameters(), None)
            device = param.device if param is not None else "cpu"
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for handle in hooks:
            handle.remove()
        model.train(was_training)
    return ModelSummary(rows, tuple(input_shape))

"""Forward/backward hooks that are always removed, with every module's train/eval flag restored.

Modelled on torch-cam's `core.py`: a visualisation or summary attaches hooks inside a `with`
block, so an exception or a loop never leaves a hook behind or a model in the wrong mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def preserved_modes(model: nn.Module, train: bool | None = None) -> Iterator[nn.Module]:
    """Optionally sets train/eval mode for the block, then restores each module's own flag.

    `model.train(was)` on exit would also flip a frozen BatchNorm that was deliberately left in
    eval mode inside a training model; restoring module by module keeps it as it was.
    """
    modes = {module: module.training for module in model.modules()}
    try:
        if train is not None:
            model.train(train)
        yield model
    finally:
        for module, training in modes.items():
            module.training = training


class Recorder:
    """Outputs (and, after backward, output gradients) of named submodules.

    Use as a context manager; hooks go on enter and are removed on exit:

        with Recorder(model, ["features.0", "features.8"]) as rec:
            model(x)
        rec.outputs["features.0"]
    """

    def __init__(self, model: nn.Module, layers: list[str], *, grads: bool = False, detach: bool = True) -> None:
        self.model = model
        self.layers = list(layers)
        self.grads = grads
        self.detach = detach
        self.outputs: dict[str, torch.Tensor] = {}
        self.gradients: dict[str, torch.Tensor] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def _forward_hook(self, name: str):
        def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            if isinstance(output, (tuple, list)):
                output = output[0]
            self.outputs[name] = output.detach() if self.detach else output
            if self.grads and output.requires_grad:
                output.register_hook(lambda grad: self.gradients.__setitem__(name, grad.detach()))

        return hook

    def __enter__(self) -> Recorder:
        for name in self.layers:
            module = self.model.get_submodule(name)  # AttributeError names the missing layer
            self._handles.append(module.register_forward_hook(self._forward_hook(name)))
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

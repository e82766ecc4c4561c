"""Off-the-shelf classification: the k most probable classes of one image."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from reportgen.nn.hooks import preserved_modes


def top_k(model: nn.Module, x: Tensor, labels: list[str], k: int = 5) -> list[tuple[str, float, int]]:
    """(label, probability, index) of the k most probable classes for one image (1, C, H, W)."""
    with preserved_modes(model, train=False), torch.inference_mode():
        probs = model(x).softmax(1)[0]
    values, indices = probs.topk(min(k, probs.numel()))
    return [(labels[i], float(v), int(i)) for v, i in zip(values.tolist(), indices.tolist())]

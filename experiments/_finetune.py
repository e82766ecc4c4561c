"""Fine-tuning the last blocks of an ImageNet backbone (Task 4, method 4): where to cut it.

Interim home until the backbone owns its structure (`split(last_blocks)` on
reportgen.nn.backbones.Backbone, issue 15 item 4).
"""

from __future__ import annotations

from typing import Any


def split_backbone(backbone: Any, blocks: int) -> tuple[Any, Any, list[Any]]:
    """(frozen prefix: the stem and all but the last `blocks` blocks, trainable tail: those blocks,
    the head convolution, pooling and a dropout, the tail's trainable parameters) of EfficientNet.

    The modules are the backbone's own (shared, not copied). The tail's BatchNorm layers stay
    frozen, so `fit` keeps them in eval mode: with a few hundred images their batch statistics
    would be noise.
    """
    from collections import OrderedDict

    from torch import nn

    from reportgen.errors import ReportgenError

    model = backbone.model
    if not all(hasattr(model, name) for name in ("stem", "blocks", "conv_head", "pool")):
        raise ReportgenError(f"fine-tuning the last blocks is implemented for EfficientNet-Lite0, not {backbone.name}",
                             'set backbone = "efficientnet-lite0" in [experiments.t4-backbone]', 2)  # fmt: skip
    if not 1 <= blocks <= len(model.blocks):
        raise ReportgenError(
            f"[experiments.t4-backbone] finetune_blocks must be from 1 to {len(model.blocks)}, not {blocks}",
            exit_code=2,
        )
    cut = len(model.blocks) - blocks
    prefix = nn.Sequential(model.stem, *model.blocks[:cut])
    body = nn.Sequential(*model.blocks[cut:], model.conv_head)
    body.requires_grad_(True)
    for module in body.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.requires_grad_(False)
    tail = nn.Sequential(OrderedDict(blocks=body, pool=model.pool, flatten=nn.Flatten(), dropout=nn.Dropout(0.2)))
    return prefix, tail, [p for p in body.parameters() if p.requires_grad]

"""An ImageNet backbone in Task 4 (methods 3 and 4): where to cut it, its frozen blocks' outputs
computed once, and its last blocks fine-tuned on them.

Interim home until the backbone owns its structure (`split(last_blocks)` on
reportgen.nn.backbones.Backbone, issue 15 item 4).
"""

from __future__ import annotations

from typing import Any

from ._fewshot import count_params, method_record, predict, settings


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


def frozen_outputs(ctx, data: Any, backbone: Any, prefix: Any, pooled: Any) -> tuple[Any, Any, int]:
    """(the frozen blocks' outputs, once per image and per augmented variant of each training
    image; method 3's pooled features, once per image, saved as files/features.pt; the number of
    augmented variants)."""
    from reportgen.data.augment import AugmentSettings, make_augment
    from reportgen.data.fewshot import InputFormat, convert
    from reportgen.nn.frozen import feature_splits, originals_only, save_features

    p, pool = ctx.params, data.target
    fmt = InputFormat(3, p["backbone_size"], tuple(backbone.mean), tuple(backbone.std))
    own = data.target_format
    aug = AugmentSettings.from_params(p)
    variants = p["aug_variants"] if aug.enabled else 0
    stored = feature_splits(
        prefix, pool, transform=lambda x: convert(x, own, fmt), augment=make_augment(aug, pool.mean, pool.std),
        variants=variants, seed=ctx.seed, batch_size=32, channels_last=True, device=ctx.device,
        progress=ctx.progress, label=f"{ctx.exp.id}: frozen blocks",
    )  # fmt: skip
    features = feature_splits(pooled, originals_only(stored), batch_size=256, device=ctx.device,
                              progress=ctx.progress, label=f"{ctx.exp.id}: pooled features")  # fmt: skip
    save_features(ctx.files / "features.pt", features)
    return stored, features, variants


def finetune_tail(ctx, method: str, tail: Any, block_params: list, train_rows: Any, *, test_x: Any, per_prefix: float,
              backbone_params: int) -> tuple[dict, int]:  # fmt: skip
    """Method 4: the tail (last blocks, head convolution, classifier) trained on the stored outputs
    of the frozen blocks, blocks at block_lr and the classifier at finetune_lr; (its method
    record, its trainable parameters)."""
    import time

    from reportgen.nn.train import fit

    p = ctx.params
    groups = [
        {"params": block_params, "lr": p["block_lr"]},
        {"params": list(tail.head.parameters()), "lr": p["finetune_lr"]},
    ]
    tuning = settings({**p, "min_steps": p["finetune_min_steps"]}, len(train_rows.data.train),
                      epochs=p["finetune_epochs"], train_eval_size=train_rows.originals)  # fmt: skip
    started = time.perf_counter()
    tuned = fit(tail, train_rows.data, tuning, seed=ctx.seed, device=ctx.device, progress=ctx.progress,
                label=f"{ctx.exp.id}: fine-tuning", param_groups=groups)  # fmt: skip
    stored_rows = len(train_rows.data.train) + len(train_rows.data.val) + len(train_rows.data.test)
    seconds = stored_rows * per_prefix + time.perf_counter() - started
    trainable = count_params(tail, trainable=True)
    record = method_record(ctx, method, tuned, trainable=trainable, total=backbone_params + count_params(tail.head),
                           seconds=seconds, predictions=predict(tail.cpu(), test_x))  # fmt: skip
    return record, trainable


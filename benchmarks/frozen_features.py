"""Frozen features computed once against recomputing the frozen backbone every epoch.

Method 3 of Task 4 (EfficientNet-Lite0 as a frozen feature extractor + a new linear classifier,
imprinted and trained at learning rate 0.01 as in Task 4) trained for 10 epochs both ways on the same few-shot Fashion-MNIST target task (digits when
Fashion-MNIST is not installed), same seed, no augmentation:
  (a) recompute: the backbone runs inside the model on every batch, every epoch (training,
      validation after each epoch, final evaluation), as a plain model with frozen layers does;
  (b) cached: `reportgen.nn.frozen.feature_splits` runs it once per image, then the head trains
      on the stored features.
Prints both wall times (feature extraction included in (b)), the speed ratio a/b (goal >= 5),
whether the two heads reached the same accuracy and weights, and one JSON line.
Run: `python benchmarks/frozen_features.py` (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--shots", type=int, default=100, help="training images per target class")
    parser.add_argument("--val-per-class", type=int, default=20)
    parser.add_argument("--test-per-class", type=int, default=50)
    parser.add_argument("--size", type=int, default=128, help="backbone input side in pixels (Task 4's default)")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    import torch
    from torch import nn

    from reportgen.data.fewshot import InputFormat, convert
    from reportgen.data.transfer import transfer_data
    from reportgen.data.sources import resolve_dataset
    from reportgen.nn.backbones import load_backbone
    from reportgen.nn.frozen import Features, FrozenPart, NormalisedLinear, compute_features, feature_splits
    from reportgen.nn.runtime import prepare
    from reportgen.nn.train import TrainSettings, fit

    threads = prepare()["threads"]
    info = resolve_dataset("fashion-mnist", fallback="digits")
    if info.name == "digits":  # about 140 training images per class: fewer shots, smaller held-out sets
        args.shots, args.val_per_class, args.test_per_class = min(args.shots, 60), min(args.val_per_class, 20), 30
    data = transfer_data(info, shots=args.shots, max_shots=args.shots, val_per_class=args.val_per_class,
                         test_per_class=args.test_per_class, seed=0).main_target()  # fmt: skip
    backbone = load_backbone("efficientnet-lite0")
    own = InputFormat(data.image_shape[0], data.image_shape[1], tuple(data.mean), tuple(data.std))
    fmt = InputFormat(3, args.size, tuple(backbone.mean), tuple(backbone.std))

    def to_input(x: torch.Tensor) -> torch.Tensor:
        return convert(x, own, fmt).contiguous(memory_format=torch.channels_last)

    extractor = Features(backbone.model, backbone.features)
    # The backbone runs channels_last both ways (the faster layout here); the head's features are 2-D.
    # float32: the features computed once are float32, and under bfloat16 autocast only the
    # recomputing run would multiply the backbone in bfloat16 (the heads would then differ).
    settings = TrainSettings(epochs=args.epochs, batch_size=args.batch_size, lr=1e-2, memory_format="channels_last",
                             precision="fp32")  # fmt: skip
    # Method 3's classifier, imprinted from the training features (set-up, not timed); both sides
    # start from copies of it. This pass also builds the kernels, so that neither side pays for that.
    train_features = compute_features(extractor, data.train.x, transform=to_input, batch_size=32, channels_last=True)
    with torch.inference_mode():
        extractor.to(memory_format=torch.channels_last)(to_input(data.train.x[: args.batch_size]))
    head = NormalisedLinear(backbone.feature_dim, data.num_classes).imprint(train_features, data.train.y)

    started = time.perf_counter()
    head_a = copy.deepcopy(head)
    recomputed = fit(nn.Sequential(FrozenPart(extractor, to_input), head_a), data, settings, seed=0)
    extractor.to(memory_format=torch.contiguous_format)
    seconds_a = time.perf_counter() - started

    started = time.perf_counter()
    features = feature_splits(extractor, data, transform=to_input, batch_size=32, channels_last=True)
    head_b = copy.deepcopy(head)
    cached = fit(head_b, features.data, dataclasses.replace(settings, memory_format="contiguous"), seed=0)
    seconds_b = time.perf_counter() - started

    ratio = seconds_a / seconds_b
    same_accuracy = (recomputed.train.acc, recomputed.val.acc, recomputed.test.acc) == (
        cached.train.acc,
        cached.val.acc,
        cached.test.acc,
    )
    weight_gap = float((head_a.linear.weight - head_b.linear.weight).detach().abs().max())
    n = (len(data.train), len(data.val), len(data.test))
    print(f"method 3 head ({backbone.feature_dim} -> {data.num_classes}) on {info.display}: {n[0]} training, {n[1]} validation, "
          f"{n[2]} test images at {args.size}x{args.size}, {args.epochs} epochs, batch {args.batch_size}, {threads} threads")  # fmt: skip
    print(f"(a) backbone recomputed every epoch : {seconds_a:7.1f} s   test accuracy {100 * recomputed.test.acc:.2f}%")
    print(
        f"(b) features computed once (cached) : {seconds_b:7.1f} s   test accuracy {100 * cached.test.acc:.2f}% "
        f"(of which features {features.seconds:.1f} s)"
    )
    print(f"speed ratio a/b: {ratio:.1f}x (goal >= 5x)")
    print(f"same accuracy on train/val/test: {same_accuracy}; largest head weight difference: {weight_gap:.2e}")
    print(json.dumps({"benchmark": "frozen_features", "recompute_s": round(seconds_a, 2), "cached_s": round(seconds_b, 2),
                      "features_s": round(features.seconds, 2), "ratio": round(ratio, 2), "same_accuracy": same_accuracy,
                      "test_acc_recompute": recomputed.test.acc, "test_acc_cached": cached.test.acc,
                      "max_weight_diff": weight_gap, "images": n, "size": args.size, "epochs": args.epochs,
                      "threads": threads}))  # fmt: skip
    if not same_accuracy:
        sys.exit(1)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()

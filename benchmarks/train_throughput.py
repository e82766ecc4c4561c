"""Training throughput: a plain torchvision DataLoader loop against reportgen's Trainer.

Same model (Task 1 baseline CNN), same Fashion-MNIST subset, batch size, number of steps and
augmentation (random horizontal flip + 2-pixel pad-and-crop) in both; prints images/second of
each, the ratio Trainer/plain, and one JSON line. Run: `make bench` or
`python benchmarks/train_throughput.py --steps 40`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F


def plain_loader(raw_dir: Path, n: int, batch_size: int, mean: float, std: float):
    """The way tutorials do it: a torchvision dataset of PIL images, per-sample transforms, DataLoader."""
    import torchvision.transforms as T
    from torch.utils.data import DataLoader, Subset
    from torchvision.datasets import FashionMNIST

    root = Path(tempfile.mkdtemp(prefix="rg-bench-"))
    target = root / "FashionMNIST" / "raw"
    target.mkdir(parents=True)
    for gz in raw_dir.glob("*-ubyte.gz"):  # torchvision wants the uncompressed idx files
        with gzip.open(gz) as src, open(target / gz.stem, "wb") as dst:
            shutil.copyfileobj(src, dst)
    transform = T.Compose([T.RandomHorizontalFlip(), T.RandomCrop(28, padding=2), T.ToTensor(), T.Normalize((mean,), (std,))])
    dataset = Subset(FashionMNIST(str(root), train=True, transform=transform), range(n))
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=0), root


def run_plain(model, loader, steps: int) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    seen, started = 0, time.perf_counter()
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += len(y)
        if seen >= steps * loader.batch_size:
            break
    return seen / (time.perf_counter() - started)


def run_trainer(model, data, batch_size: int) -> float:
    from reportgen.data.augment import AugmentSettings, make_augment
    from reportgen.nn.train import TrainSettings, fit

    augment = make_augment(AugmentSettings(flip=True, translate=2), data.mean, data.std)
    # float32 like the plain loop: this compares input pipelines and the engine at the same
    # arithmetic (bfloat16, the Trainer's default where the CPU has it, is time_to_accuracy's).
    settings = TrainSettings(epochs=1, batch_size=batch_size, eval_batch_size=2048, precision="fp32")
    result = fit(model, data, settings, augment=augment)
    return len(data.train) / result.history[0].seconds


def data_only(loader, data, batch_size: int, steps: int) -> tuple[float, float]:
    """Images/second of the input pipelines alone (no model), to show what limits each loop."""
    from reportgen.data.augment import AugmentSettings, make_augment

    seen, started = 0, time.perf_counter()
    for x, _ in loader:
        seen += len(x)
        if seen >= steps * batch_size:
            break
    plain = seen / (time.perf_counter() - started)
    augment = make_augment(AugmentSettings(flip=True, translate=2), data.mean, data.std)
    gen = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    order = torch.randperm(len(data.train), generator=gen)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        augment(data.train.x[idx], gen)
    return plain, len(order) / (time.perf_counter() - started)


def measure(layers: list[str], steps: int, batch_size: int, rounds: int, mode: str) -> dict:
    """Images/second of the plain loop, the Trainer, or both, best of `rounds` alternations."""
    from reportgen.data.sources import resolve_dataset
    from reportgen.data.splits import make_splits
    from reportgen.nn.spec import build_model

    info = resolve_dataset("fashion-mnist", None, fallback="none")
    n = steps * batch_size
    data = make_splits(info, train_size=n, val_size=256, test_size=256, seed=0, image_size=28)
    loader, tmp = plain_loader(Path(info.location), n, batch_size, data.mean[0], data.std[0])
    out: dict = {"plain": [], "trainer": []}
    try:
        torch.manual_seed(0)
        run_plain(build_model(layers, (1, 28, 28), 10), loader, 3)  # warm the kernels up once for both
        for _ in range(rounds):
            if mode in ("plain", "both"):
                torch.manual_seed(0)
                out["plain"].append(run_plain(build_model(layers, (1, 28, 28), 10), loader, steps))
            if mode in ("trainer", "both"):
                torch.manual_seed(0)
                out["trainer"].append(run_trainer(build_model(layers, (1, 28, 28), 10), data, batch_size))
        if mode == "both":
            out["data_plain"], out["data_trainer"] = data_only(loader, data, batch_size, steps)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def plain_as_users_run_it(model: str, steps: int, batch_size: int, rounds: int) -> list[float]:
    """The plain loop in a fresh process: default allocator, torch's default threads."""
    cmd = [sys.executable, __file__, "--model", model, "--steps", str(steps), "--batch-size", str(batch_size),
           "--rounds", str(rounds), "--mode", "plain"]  # fmt: skip
    line = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    return json.loads(line)["plain"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["baseline", "small"], default="baseline",
                        help="baseline: Task 1's Keras-style CNN (the goal's model); small: Task 2's CNN")  # fmt: skip
    parser.add_argument("--steps", type=int, default=40, help="training steps per measurement")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best of each is reported")
    parser.add_argument("--mode", choices=["both", "plain"], default="both", help=argparse.SUPPRESS)
    args = parser.parse_args()

    from reportgen.experiments.task1_architecture import BASELINE
    from reportgen.experiments.task2_training import SMALL_CNN

    layers = BASELINE if args.model == "baseline" else SMALL_CNN
    if args.mode == "plain":  # the child process: no reportgen runtime tuning at all
        print(json.dumps(measure(layers, args.steps, args.batch_size, args.rounds, "plain")))
        return

    from reportgen.nn.runtime import prepare

    untuned = plain_as_users_run_it(args.model, args.steps, args.batch_size, args.rounds)
    threads = prepare()["threads"]
    both = measure(layers, args.steps, args.batch_size, args.rounds, "both")
    plain, tuned_plain, trainer = max(untuned), max(both["plain"]), max(both["trainer"])
    ratio = trainer / plain
    print(f"model: {args.model} CNN {layers}, batch {args.batch_size}, {args.steps} steps, "
          f"flip + translate, {threads} threads")
    print(f"(a) plain DataLoader loop     : {plain:8.0f} images/s  (rounds: {', '.join(f'{v:.0f}' for v in untuned)})")
    print(f"(b) reportgen Trainer         : {trainer:8.0f} images/s  (rounds: {', '.join(f'{v:.0f}' for v in both['trainer'])})")
    print(f"ratio b/a: {ratio:.2f}")
    print(f"    plain loop with the Trainer's allocator tuning: {tuned_plain:.0f} images/s (b / that: {trainer / tuned_plain:.2f})")
    print(f"    input pipeline alone: plain {both['data_plain']:.0f} images/s, Trainer {both['data_trainer']:.0f} images/s")
    print(json.dumps({"benchmark": "train_throughput", "model": args.model, "plain_img_s": round(plain, 1),
                      "trainer_img_s": round(trainer, 1), "ratio": round(ratio, 3),
                      "plain_tuned_img_s": round(tuned_plain, 1),
                      "plain_data_img_s": round(both["data_plain"], 1), "trainer_data_img_s": round(both["data_trainer"], 1),
                      "batch_size": args.batch_size, "steps": args.steps, "threads": threads}))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()

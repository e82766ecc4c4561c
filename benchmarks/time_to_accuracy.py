"""Time to accuracy: the course baseline trained a plain-PyTorch way and with reportgen's Trainer.

(a) plain: a torchvision `FashionMNIST` dataset with `ToTensor`/`Normalize` through a shuffling
`DataLoader`, Adam at 1e-3 without a schedule, in a fresh process as a user would run it;
(b) reportgen: `fit` with Task 1's default recipe (the arch-baseline experiment's parameters).
Both train the same model on the same training images (the standard profile's Task 1
split, seed 0) and are scored on the same test images after every epoch; scoring is not counted
as training time, data preparation is. Prints one JSON object: the seconds each needs to reach
88 % and 90 % test accuracy, their ratio (plain / reportgen) and the test accuracy each reaches
within the standard profile's budget (its number of epochs). Fashion-MNIST falls back to
scikit-learn's digits when it is not installed (or with TTA_DATASET=digits). Run: `make bench`
or `python benchmarks/time_to_accuracy.py --max-epochs 6`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

TARGETS = (0.88, 0.90)


class Clock:
    """Wall time that can be paused while the benchmark itself scores the model."""

    def __init__(self) -> None:
        self.started, self.paused = time.perf_counter(), 0.0

    def pause(self) -> float:
        return time.perf_counter()

    def resume(self, since: float) -> None:
        self.paused += time.perf_counter() - since

    def seconds(self) -> float:
        return time.perf_counter() - self.started - self.paused


def standard_params() -> dict:
    """arch-baseline's parameters in the standard profile (the Trainer's default recipe)."""
    from reportgen.registry import load_experiments

    return load_experiments()["arch-baseline"].resolve("standard", None)


def dataset_info():
    from reportgen.data.sources import resolve_dataset

    return resolve_dataset(os.environ.get("TTA_DATASET", "fashion-mnist"), None, fallback="digits")


def splits(info, params: dict):
    from reportgen.data.splits import make_splits

    return make_splits(info, train_size=params["train_size"], val_size=params["val_size"],
                       test_size=params["test_size"], seed=0, image_size=params["image_size"])  # fmt: skip


def first_reached(curve: list[tuple[float, float]], target: float) -> float | None:
    """Seconds at the first (seconds, accuracy) point at or above `target`; None when never."""
    return next((round(s, 1) for s, acc in curve if acc >= target), None)


def plain_datasets(info, params: dict, workdir: Path):
    """The tutorial way: torchvision datasets of PIL images with per-sample transforms."""
    import torchvision.transforms as T
    from torch.utils.data import Subset, TensorDataset

    if info.name != "fashion-mnist":  # digits: no torchvision dataset; the same tensors the Trainer gets
        data = splits(info, params)
        return TensorDataset(data.train.x, data.train.y), TensorDataset(data.test.x, data.test.y)
    # The same training images as make_splits draws (seed 0: validation first, then train).
    pool = torch.randperm(60000, generator=torch.Generator().manual_seed(0))
    train_idx = pool[params["val_size"] : params["val_size"] + params["train_size"]].tolist()
    from torchvision.datasets import FashionMNIST

    raw_dir = workdir / "FashionMNIST" / "raw"
    raw_dir.mkdir(parents=True)
    for gz in Path(info.location).glob("*-ubyte.gz"):  # torchvision wants the uncompressed idx files
        with gzip.open(gz) as src, open(raw_dir / gz.stem, "wb") as dst:
            shutil.copyfileobj(src, dst)
    transform = T.Compose([T.ToTensor(), T.Normalize((0.2860,), (0.3530,))])  # the usual published values
    train = Subset(FashionMNIST(str(workdir), train=True, transform=transform), train_idx)
    return train, FashionMNIST(str(workdir), train=False, transform=transform)


def run_plain(max_epochs: int) -> dict:
    """The plain loop; test accuracy after every epoch, until 90 % or `max_epochs`."""
    from torch.utils.data import DataLoader

    from reportgen.experiments.task1_architecture import BASELINE
    from reportgen.nn.spec import build_model

    params, info = standard_params(), dataset_info()
    workdir = Path(tempfile.mkdtemp(prefix="rg-tta-"))
    clock = Clock()
    try:
        train, test = plain_datasets(info, params, workdir)
        loader = DataLoader(train, batch_size=128, shuffle=True, num_workers=0)
        test_loader = DataLoader(test, batch_size=1000)
        torch.manual_seed(0)
        shape = tuple(train[0][0].shape)
        model = build_model(BASELINE, shape, 10)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        curve = []
        for _ in range(max_epochs):
            model.train()
            for x, y in loader:
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
            paused = clock.pause()
            curve.append((clock.seconds(), _accuracy(model, test_loader)))
            clock.resume(paused)
            if curve[-1][1] >= max(TARGETS):
                break
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"curve": curve, "threads": torch.get_num_threads()}


@torch.no_grad()
def _accuracy(model, loader) -> float:
    model.eval()
    correct = total = 0
    for x, y in loader:
        correct += (model(x).argmax(1) == y).sum().item()
        total += len(y)
    return correct / total


def run_reportgen(overrides: dict) -> dict:
    """reportgen's Trainer with the arch-baseline recipe; the test set is scored after each epoch."""
    from reportgen.experiments.task1_architecture import BASELINE
    from reportgen.nn.runtime import prepare
    from reportgen.nn.spec import build_model
    from reportgen.nn.train import Callback, TrainSettings, evaluate, fit

    threads = prepare()["threads"]
    params = {**standard_params(), **overrides}
    clock = Clock()
    data = splits(dataset_info(), params)
    curve: list[tuple[float, float]] = []

    class ScoreTest(Callback):
        def on_epoch_end(self, epoch, model, stats) -> None:
            paused = clock.pause()
            curve.append((clock.seconds(), evaluate(model, data.test).acc))
            clock.resume(paused)

    torch.manual_seed(0)
    model = build_model(BASELINE, data.image_shape, data.num_classes)
    settings = TrainSettings.from_params(params)
    result = fit(model, data, settings, seed=0, callbacks=[ScoreTest()])
    recipe = {k: getattr(settings, k) for k in ("optimizer", "lr", "schedule", "label_smoothing", "weight_decay", "epochs")}
    recipe["precision"] = result.precision  # what "auto" chose on this machine
    return {"curve": curve, "threads": threads, "recipe": recipe, "train_images": len(data.train)}


def summary(run: dict, budget: int) -> dict:
    curve = run["curve"]
    within = curve[: budget]
    return {
        "seconds_to": {f"{t:.0%}": first_reached(curve, t) for t in TARGETS},
        "accuracy_in_budget": round(100 * max(acc for _, acc in within), 2) if within else None,
        "curve": [[round(s, 1), round(100 * acc, 2)] for s, acc in curve],
        "threads": run["threads"],
        **{k: run[k] for k in ("recipe", "train_images") if k in run},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-epochs", type=int, default=6, help="the plain loop stops at 90 %% or after this many epochs")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="change the Trainer's recipe (e.g. --set lr=0.005) to compare recipes")  # fmt: skip
    parser.add_argument("--only", choices=["both", "plain", "reportgen"], default="both")
    args = parser.parse_args()
    overrides = {k: json.loads(v) if v[:1].isdigit() or v in ("true", "false") else v
                 for k, v in (item.split("=", 1) for item in args.set)}  # fmt: skip
    if args.only == "plain":  # the child process: no reportgen runtime tuning at all
        print(json.dumps(run_plain(args.max_epochs)))
        return
    budget = standard_params()["epochs"]
    out: dict = {"benchmark": "time_to_accuracy", "dataset": dataset_info().name, "budget_epochs": budget,
                 "load_before": round(os.getloadavg()[0], 2)}  # fmt: skip
    if args.only == "both":
        cmd = [sys.executable, __file__, "--only", "plain", "--max-epochs", str(args.max_epochs)]
        line = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        out["plain"] = summary(json.loads(line), budget)
    out["reportgen"] = summary(run_reportgen(overrides), budget)
    if "plain" in out:
        out["ratio"] = {t: (round(p / r, 2) if p and r else None)
                        for t, p, r in ((t, out["plain"]["seconds_to"][t], out["reportgen"]["seconds_to"][t])
                                        for t in out["plain"]["seconds_to"])}  # fmt: skip
    out["load_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()

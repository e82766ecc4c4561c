"""Wall time of a training step of Task 1's architectures in float32 and under bfloat16 autocast.

The number format is a fixed rule per device (reportgen.nn.runtime.precision_for); this is the
measurement behind the CPU's rule. A step is the Trainer's (channels_last, fused Adam, the loss in
float32); the two formats alternate step by step, so a noisy neighbour slows both alike. Prints one
JSON object: median milliseconds per step for each format and their ratio (float32 / bfloat16).

    python benchmarks/precision.py [--steps 40] [arch-baseline arch-deeper ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reportgen.experiments.task1_architecture import VARIANTS  # noqa: E402
from reportgen.nn.runtime import cpu_capability, precision_for, prepare  # noqa: E402
from reportgen.nn.spec import build_model  # noqa: E402


def step_times(layers: list[str], steps: int, batch: int = 128) -> dict[str, list[float]]:
    """Wall seconds of forward + backward + Adam step per format (the first three steps warm up)."""
    torch.manual_seed(0)
    x = torch.randn(batch, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))
    runs = {}
    for name in ("fp32", "bf16"):
        model = build_model(layers, (1, 28, 28), 10).train().to(memory_format=torch.channels_last)
        runs[name] = (model, torch.optim.Adam(model.parameters(), lr=1e-3, fused=True))
    times: dict[str, list[float]] = {name: [] for name in runs}
    for step in range(steps + 3):
        for name, (model, opt) in runs.items():
            started = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=name == "bf16"):
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step >= 3:
                times[name].append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("archs", nargs="*", default=["arch-baseline"], choices=sorted(VARIANTS))
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    info = prepare()
    out: dict = {"benchmark": "precision", "torch": torch.__version__, "cpu_capability": cpu_capability(),
                 "rule": precision_for("cpu"), "threads": info["threads"], "batch": 128, "archs": {}}  # fmt: skip
    for arch in args.archs:
        medians = {name: statistics.median(v) * 1000 for name, v in step_times(VARIANTS[arch][1], args.steps).items()}
        out["archs"][arch] = {"fp32_ms": round(medians["fp32"], 1), "bf16_ms": round(medians["bf16"], 1),
                              "ratio": round(medians["fp32"] / medians["bf16"], 2)}  # fmt: skip
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""CPU time of a training step of Task 1's architectures in each memory layout (contiguous, channels_last).

The layout is a fixed rule per device type (reportgen.nn.runtime.memory_format_for); this is the
measurement behind the CPU's rule. Steps alternate between the layouts, so a noisy neighbour slows
both alike, and the time is the process's CPU time (on one thread by default), which another
job's load disturbs far less than wall time.

    python benchmarks/memory_layout.py [--steps 20] [--threads 1] [arch-baseline arch-deeper ...]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from reportgen.experiments.task1_architecture import VARIANTS
from reportgen.nn.runtime import cpu_capability, prepare
from reportgen.nn.spec import build_model

FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


def step_times(layers: list[str], steps: int, batch: int = 128) -> dict[str, list[float]]:
    """CPU seconds of forward + backward + SGD step per layout (the first two steps warm up)."""
    torch.manual_seed(0)
    x, y = torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    runs = {}
    for name, fmt in FORMATS.items():
        model = build_model(layers, (1, 28, 28), 10).train().to(memory_format=fmt)
        runs[name] = (model, fmt, torch.optim.SGD(model.parameters(), lr=0.01))
    times: dict[str, list[float]] = {name: [] for name in FORMATS}
    for step in range(steps + 2):
        for name, (model, fmt, opt) in runs.items():
            started = time.process_time()
            loss = F.cross_entropy(model(x.contiguous(memory_format=fmt)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step >= 2:
                times[name].append(time.process_time() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("archs", nargs="*", default=["arch-baseline"], choices=sorted(VARIANTS))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    prepare(args.threads)
    print(f"torch {torch.__version__}, {cpu_capability()}, {torch.get_num_threads()} thread(s), batch 128, 28x28x1")
    for arch in args.archs:
        times = step_times(VARIANTS[arch][1], args.steps)
        medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
        change = medians["channels_last"] / medians["contiguous"] - 1
        print(f"{arch}: contiguous {medians['contiguous']:.1f} ms, channels_last {medians['channels_last']:.1f} ms "
              f"CPU time per step (median of {args.steps}; channels_last {change:+.0%})")  # fmt: skip


if __name__ == "__main__":
    main()

"""Process-wide settings that make CPU training fast: threads and the memory allocator."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from pathlib import Path

import torch

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # the largest value glibc accepts on 64-bit


def physical_cores() -> int:
    """Physical cores from /proc/cpuinfo (hyper-threads slow convolutions down); torch's guess elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return torch.get_num_threads()
    cores = {line.split(":")[1].strip() for line in text.splitlines() if line.startswith("core id")}
    sockets = {line for line in text.splitlines() if line.startswith("physical id")}
    return max(len(cores) * max(len(sockets), 1), 1)


@functools.cache
def tune_allocator() -> bool:
    """Keeps freed activation buffers in the heap instead of returning them to the OS.

    glibc serves blocks over 128 KB with mmap and unmaps them on free, so every training
    step page-faults its activations in again; on two cores that costs about a third of the
    step time. Raising the mmap and trim thresholds makes the buffers reusable. Returns
    whether it applied (glibc only).
    """
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        ok = libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)
        ok &= libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)
        ok &= libc.mallopt(_M_TOP_PAD, 64 * 1024 * 1024)
        return bool(ok)
    except (OSError, AttributeError):
        return False


def prepare(threads: int | None = None) -> dict[str, object]:
    """Sets threads (physical cores unless given) and the allocator; returns what was set."""
    threads = threads or physical_cores()
    torch.set_num_threads(threads)
    return {"threads": threads, "allocator_tuned": tune_allocator()}


_FORMAT_CHOICES: dict[tuple, str] = {}


def choose_memory_format(model: torch.nn.Module, example: torch.Tensor, loss_fn, steps: int = 6) -> str:
    """'channels_last' or 'contiguous', whichever trains `model` faster here; decided once per architecture.

    Times forward/backward passes of copies of the model in each layout, interleaved so that
    a noisy neighbour slows both alike, and compares medians. The real model is untouched.
    Which layout wins depends on the layers and the CPU (measured: either way on Task 1's CNNs).
    """
    import copy
    import statistics
    import time

    key = (str(model), tuple(example.shape), str(example.device))
    if example.dim() != 4:
        return "contiguous"
    if key not in _FORMAT_CHOICES:
        formats = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
        probes = {name: copy.deepcopy(model).train().to(memory_format=fmt) for name, fmt in formats.items()}
        timings: dict[str, list[float]] = {name: [] for name in formats}
        for step in range(steps + 1):
            for name, fmt in formats.items():
                started = time.perf_counter()
                loss_fn(probes[name](example.contiguous(memory_format=fmt))).backward()
                if step:  # the first pass builds kernels and is not timed
                    timings[name].append(time.perf_counter() - started)
        _FORMAT_CHOICES[key] = min(timings, key=lambda name: statistics.median(timings[name]))
    return _FORMAT_CHOICES[key]

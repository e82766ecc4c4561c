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


# Layout decisions, kept per machine so that the same architecture always trains with the same
# kernels here (the two layouts round differently: a per-process timing race made the same seed
# give different accuracies from one cold build to the next).
LAYOUTS_FILE = "layouts.json"
USED: dict[str, str] = {}  # architecture key -> layout, for the provenance of the running experiment
FORCED: dict[str, str] = {}  # architecture key -> layout to use regardless (verify re-runs)


def layouts_path() -> Path:
    """Where this machine's layout decisions are kept ($REPORTGEN_HOME or ~/.cache/reportgen)."""
    import os

    home = os.environ.get("REPORTGEN_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "reportgen")
    return Path(home) / LAYOUTS_FILE


def machine_key() -> str:
    """CPU model, thread count and torch version: what decides which layout is faster."""
    from reportgen.provenance import cpu_model

    return f"{cpu_model()} | {torch.get_num_threads()} threads | torch {torch.__version__}"


def architecture_key(model: torch.nn.Module, example: torch.Tensor) -> str:
    import hashlib

    text = f"{model}|{tuple(example.shape)}|{example.device.type}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read_layouts() -> dict:
    import json

    try:
        data = json.loads(layouts_path().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _store_layout(machine: str, key: str, layout: str) -> None:
    import json
    import os
    import uuid

    path = layouts_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _read_layouts()
        data.setdefault(machine, {})[key] = layout
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        pass  # an unwritable home: the choice still holds for this process


def choose_memory_format(model: torch.nn.Module, example: torch.Tensor, loss_fn, steps: int = 6) -> str:
    """'channels_last' or 'contiguous' for `model`: measured once per architecture and machine, then kept.

    The first time, times forward/backward passes of copies of the model in each layout,
    interleaved so that a noisy neighbour slows both alike, and compares medians (the real model
    is untouched). The winner is stored per machine, so every later run (and every fresh project
    folder) trains this architecture with the same kernels and gets the same numbers.
    """
    if example.dim() != 4:
        return "contiguous"
    key = architecture_key(model, example)
    machine = machine_key()
    layout = FORCED.get(key) or _read_layouts().get(machine, {}).get(key)
    if layout not in ("contiguous", "channels_last"):
        layout = _probe(model, example, loss_fn, steps)
        _store_layout(machine, key, layout)
    USED[key] = layout
    return layout


@torch.random.fork_rng(devices=[])
def _probe(model: torch.nn.Module, example: torch.Tensor, loss_fn, steps: int) -> str:
    """Times both layouts. Runs on a forked RNG: the probe's dropout draws must not shift the
    random numbers training gets, or a run that probes and one that reads the stored choice differ."""
    import copy
    import statistics
    import time

    formats = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
    probes = {name: copy.deepcopy(model).train().to(memory_format=fmt) for name, fmt in formats.items()}
    timings: dict[str, list[float]] = {name: [] for name in formats}
    for step in range(steps + 1):
        for name, fmt in formats.items():
            started = time.perf_counter()
            loss_fn(probes[name](example.contiguous(memory_format=fmt))).backward()
            if step:  # the first pass builds kernels and is not timed
                timings[name].append(time.perf_counter() - started)
    return min(timings, key=lambda name: statistics.median(timings[name]))

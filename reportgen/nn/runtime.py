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


def memory_format_for(device: torch.device | str) -> str:
    """The memory layout a model trains in: a fixed rule per device type, never a measurement.

    The two layouts run different convolution kernels that round differently, so choosing by a
    timing probe made the same configuration and seed give accuracies points apart from one cold
    build to the next. channels_last on the CPU (measured cheaper than contiguous for every
    Task 1 architecture on the course machine: README, "Same inputs, same numbers") and on CUDA
    (the layout cuDNN's tensor-core convolutions are built for); contiguous on MPS and elsewhere.
    """
    return "channels_last" if torch.device(device).type in ("cpu", "cuda") else "contiguous"


def precision_for(device: torch.device | str) -> str:
    """The number format a model trains in: a fixed rule per device, never a measurement.

    "bf16" (bfloat16 autocast: convolutions and matrix products in bfloat16, weights, optimiser
    state and losses in float32) where the hardware multiplies bfloat16 natively: CPUs with
    AVX512-BF16 or AMX (measured 1.6x faster a step than float32 for the course baseline on the
    course machine's two cores) and CUDA devices that support it. "fp32" elsewhere, where bfloat16
    would be emulated and slower.
    """
    d = torch.device(device)
    if d.type == "cpu":
        native = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)() or getattr(
            torch.cpu, "_is_amx_tile_supported", lambda: False
        )()
        return "bf16" if native else "fp32"
    if d.type == "cuda":
        return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"
    return "fp32"


def cpu_capability() -> str:
    """The instruction set torch's CPU kernels were dispatched for (e.g. AVX512, AVX2, DEFAULT)."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):
        return "unknown"


def environment() -> dict[str, object]:
    """What can change a number without changing the configuration, as this process runs now."""
    from reportgen.provenance import library_versions

    return {"threads": torch.get_num_threads(), "cpu_capability": cpu_capability(), "versions": library_versions()}

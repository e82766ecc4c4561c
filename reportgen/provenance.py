"""Where a result came from: seed, git commit (+dirty), library versions, hardware, wall time."""

from __future__ import annotations

import datetime as dt
import functools
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = ("torch", "torchvision", "numpy", "scikit-learn")


def library_versions() -> dict[str, str]:
    """Installed versions, read from package metadata so that torch is not imported."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


@functools.cache
def git_state(cwd: str = ".") -> dict[str, Any]:
    """Commit and dirty flag of the repository around `cwd`; empty values outside git."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short=10", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": "", "dirty": False}
    return {"commit": commit, "dirty": dirty}


@functools.cache
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(device: str, gpu_name: str = "") -> dict[str, Any]:
    """CPU model, cores and the device used (with the GPU's name when there is one)."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count() or 1,
        "device": device,
        "gpu": gpu_name,
    }


def record(seed: int, wall_s: float, device: str, gpu_name: str = "", **extra: Any) -> dict[str, Any]:
    """The provenance stored with one experiment's result."""
    return {
        "seed": seed,
        "wall_s": round(wall_s, 3),
        "finished": dt.datetime.now().isoformat(timespec="seconds"),
        "git": git_state(),
        "versions": library_versions(),
        "hardware": hardware(device, gpu_name),
        **extra,
    }


def footer(prov: dict[str, Any]) -> str:
    """One line for a slide footer."""
    git = prov.get("git", {})
    commit = git.get("commit") or "no git"
    if git.get("dirty"):
        commit += "+dirty"
    hw = prov.get("hardware", {})
    where = hw.get("gpu") or f"{hw.get('cores', '?')}-core CPU"
    versions = prov.get("versions", {})
    return (
        f"seed {prov.get('seed')} · {commit} · torch {versions.get('torch', '?')} · "
        f"{where} · {prov.get('wall_s', 0):.1f} s · {prov.get('dataset', '')}"
    )

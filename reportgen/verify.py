"""`reportgen verify`: re-run stored experiments from their recorded inputs and compare the numbers.

A re-run goes into a scratch cache that is deleted afterwards; the project's cache and output
are never touched. Every stored number is compared with the re-run's: every field of a
converted experiment's record (matrices included), or every metric, table cell, curve point,
matrix cell and plotted value of an older Section, and every element of every stored array
(images, heat maps, predictions: files/*.npy). Each is identical, within a tolerance (allowed
only when the hardware, thread count or library versions differ from those recorded), or
different, and a difference is named by where it is.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reportgen.cache import Cache, Entry, write_json_atomic
from reportgen.records import numbers
from reportgen.results import Bars, Curves, Heatmap, Matrix, Metric, Scatter, Section, Table
from reportgen.values import Value

NUMBER = re.compile(r"[-−]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?")
STATE_FILE = "verify.json"  # beside the cache folder: .reportgen/verify.json
STATE_SHAPE: dict[str, Any] = {
    "date": str,
    "outcome": str,
    "tolerance": float,
    "machine_differs": list[str],
    "experiments": dict[str, dict[str, Any]],
}


@dataclass
class Outcome:
    """The verdict for one experiment."""

    exp_id: str
    compared: int = 0
    differences: list[str] = field(default_factory=list)
    within: list[str] = field(default_factory=list)  # differences inside the tolerance
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        if self.differences:
            return "different"
        return "within tolerance" if self.within else "identical"


def _numbers(text: str) -> list[float]:
    return [float(m.replace(",", "").replace("−", "-")) for m in NUMBER.findall(text)]


def comparable(section: Section) -> dict[str, float | str]:
    """Every number a reader sees in a section, by a name that says where it is."""
    values: dict[str, float | str] = {}
    for index, item in enumerate(section.items):
        where = f"{item.kind} '{item.title}'" if item.title else f"{item.kind} #{index + 1}"
        if isinstance(item, Metric):
            values[f"metric '{item.title}'"] = item.value
        elif isinstance(item, Table):
            for row in item.rows:
                for c, cell in enumerate(row):
                    column = item.columns[c] if c < len(item.columns) else str(c)
                    name = f"{where}, row '{row[0]}', {column}"
                    found = [cell.number] + ([cell.spread] if cell.spread is not None else []) if isinstance(cell, Value) else _numbers(cell)
                    if not found:
                        values[name] = cell
                    for k, number in enumerate(found):
                        values[name + (f" [{k + 1}]" if len(found) > 1 else "")] = number
        elif isinstance(item, Matrix):
            for panel in item.panels:
                for r, row in enumerate(panel.values):
                    for c, v in enumerate(row):
                        values[f"{where}, {panel.label} ({r + 1},{c + 1})"] = v
        elif isinstance(item, Curves):
            for series, points in item.series.items():
                for x, y in zip(item.x, points):
                    values[f"{where}, {series} at {item.xlabel} {x:g}"] = y
        elif isinstance(item, Scatter):
            for k, point in enumerate(item.points):
                label = point.get("label") or f"point {k + 1}"
                values[f"{where}, {label} x"] = point["x"]
                values[f"{where}, {label} y"] = point["y"]
        elif isinstance(item, Heatmap):
            for r, row in enumerate(item.values):
                for c, v in enumerate(row):
                    values[f"{where}, cell ({r + 1},{c + 1})"] = v
        elif isinstance(item, Bars):
            for label, v in zip(item.labels, item.values):
                values[f"{where}, {label}"] = v
    return values


# Numbers that measure the machine, not the model: they are reported, never compared.
TIMING_WORDS = ("time", "s / epoch", "s/epoch", "seconds", "ms / image", "ms/image", "wall")


def _is_timing(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in TIMING_WORDS)


def comparable_entry(entry: Entry) -> dict[str, Any]:
    """Every stored number of an entry by where it is: a record's fields by their path
    ("record confusion[3][4]"), or what a Section shows."""
    if entry.record is not None:
        return {f"record {path}": v for path, v in numbers(entry.record.data).items()}
    return comparable(entry.section)


def array_names(entry: Entry) -> list[str]:
    """The stored .npy arrays of an entry (images, overlays, predictions)."""
    names = entry.record.files if entry.record is not None else entry.section.files()
    return sorted({n for n in names if n.endswith(".npy")} | {p.name for p in entry.files.glob("*.npy")})


def compare_entries(stored: Entry, rerun: Entry, tolerance: float) -> tuple[int, list[str], list[str]]:
    """compare_sections for whole entries: every number of the result and of every stored array."""
    compared, differences, within = compare_values(comparable_entry(stored), comparable_entry(rerun), tolerance)
    for name in sorted(set(array_names(stored)) | set(array_names(rerun))):
        n, diff, near = compare_array(name, stored.files / name, rerun.files / name, tolerance)
        compared, differences, within = compared + n, differences + diff, within + near
    return compared, differences, within


def compare_array(name: str, old_path: Path, new_path: Path, tolerance: float) -> tuple[int, list[str], list[str]]:
    """Element by element; a difference names the array, the first differing index and how many differ."""
    import numpy as np

    where = f"array files/{name}"
    if not old_path.is_file() or not new_path.is_file():
        return 0, [f"{where}: {'only in the re-run' if new_path.is_file() else 'missing from the re-run'}"], []
    old, new = np.load(old_path, allow_pickle=False), np.load(new_path, allow_pickle=False)
    if old.shape != new.shape:
        return 1, [f"{where}: stored shape {old.shape}, re-run {new.shape}"], []
    if _is_timing(name):
        return 0, [], []
    exact = (old == new) | (np.isnan(old) & np.isnan(new)) if old.dtype.kind == "f" else old == new
    if exact.all():
        return old.size, [], []
    close = np.isclose(old, new, rtol=tolerance, atol=0, equal_nan=True) if tolerance else exact
    first = tuple(int(i) for i in np.argwhere(~exact)[0])
    at = ", ".join(map(str, first))
    text = f"{where} [{at}]: stored {old[first]:g}, re-run {new[first]:g} ({int((~exact).sum())} of {old.size} values differ)"
    return old.size, ([] if close.all() else [text]), ([text] if close.all() else [])


def compare_sections(stored: Section, rerun: Section, tolerance: float) -> tuple[int, list[str], list[str]]:
    """(values compared, differences beyond the tolerance, differences within it).

    `tolerance` is relative (0.02 = 2 %); 0 demands identical numbers.
    """
    return compare_values(comparable(stored), comparable(rerun), tolerance)


def compare_values(old: dict[str, Any], new: dict[str, Any], tolerance: float) -> tuple[int, list[str], list[str]]:
    """compare_sections on two name -> value mappings."""
    differences, within, compared = [], [], 0
    for name in sorted(set(old) | set(new)):
        if _is_timing(name):
            continue
        if name not in old or name not in new:
            differences.append(f"{name}: {'only in the re-run' if name not in old else 'missing from the re-run'}")
            continue
        compared += 1
        a, b = old[name], new[name]
        if a == b:
            continue
        if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
            scale = max(abs(a), abs(b), 1e-12)
            if tolerance and math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance * 1e-3 * scale):
                within.append(f"{name}: {a:g} -> {b:g}")
                continue
            differences.append(f"{name}: stored {a:g}, re-run {b:g}")
        else:
            differences.append(f"{name}: stored {a!r}, re-run {b!r}")
    return compared, differences, within


def same_machine(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between the recorded run's machine and this one (empty when nothing does)."""
    notes = []
    hw_old, hw_new = recorded.get("hardware", {}), current.get("hardware", {})
    for key in ("cpu", "device", "gpu"):
        if hw_old.get(key) != hw_new.get(key):
            notes.append(f"{key}: {hw_old.get(key) or '—'} -> {hw_new.get(key) or '—'}")
    for key in ("threads", "cpu_capability", "precision"):
        if recorded.get(key) != current.get(key):
            notes.append(f"{key.replace('_', ' ')}: {recorded.get(key)} -> {current.get(key)}")
    v_old, v_new = recorded.get("versions", {}), current.get("versions", {})
    for key in ("torch", "numpy", "scikit-learn"):
        if v_old.get(key) != v_new.get(key):
            notes.append(f"{key}: {v_old.get(key)} -> {v_new.get(key)}")
    return notes


def rerun(item: Any, config: Any, dataset: Any, entries: dict[str, Entry], work: Path) -> Entry:
    """Runs one planned experiment again into a scratch cache under `work`."""
    from reportgen.runner import run_one

    return run_one(item, config, dataset, Cache(work), entries, None)


def record(state_dir: Path, outcomes: list[Outcome], notes: list[str], tolerance: float) -> dict[str, Any]:
    """Writes the latest verification's date and outcome for the report's appendix."""
    state = {
        "date": dt.datetime.now().isoformat(timespec="minutes"),
        "outcome": "passed" if all(o.verdict != "different" for o in outcomes) else "failed",
        "tolerance": tolerance,
        "machine_differs": notes,
        "experiments": {o.exp_id: {"verdict": o.verdict, "compared": o.compared, "seconds": round(o.seconds, 1),
                                   "differences": o.differences[:20]} for o in outcomes},  # fmt: skip
    }
    state_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(state_dir / STATE_FILE, state)
    return state


def load_state(state_dir: Path) -> dict[str, Any] | None:
    """The last verification recorded in `state_dir`, or None."""
    from reportgen.integrity import check_value
    from reportgen.results import InvalidResult

    try:
        data = json.loads((state_dir / STATE_FILE).read_text())
        check_value(data, dict[str, Any], STATE_FILE)
        for name, hint in STATE_SHAPE.items():  # what the report's appendix prints
            check_value(data[name], hint, f"{STATE_FILE}: {name}")
        for exp_id, outcome in data["experiments"].items():
            check_value(outcome["verdict"], str, f"{STATE_FILE}: {exp_id}")
            check_value(outcome["compared"], int, f"{STATE_FILE}: {exp_id}")
    except (OSError, ValueError, KeyError, InvalidResult):
        return None  # hand-damaged: the appendix says nothing rather than something wrong
    return data


def scratch_area(cache_root: Path) -> Path:
    """A private folder beside the cache for re-runs; the caller deletes it."""
    base = cache_root.parent
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="verify-", dir=base))


def discard(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)

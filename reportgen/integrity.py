"""Whether a stored entry can be read back exactly as it was written.

A cache entry is trusted only when every JSON file has the types its readers expect (at any
depth, checked against the result kinds' own annotations), its inputs are the ones its key was
computed from, its provenance has the fields the deliverables print, and every array file it
names is whole. Anything else (a hand edit, a truncated file, a half-deleted folder) raises
InvalidResult with the reason, so the entry is reported as stale and re-run: never trusted,
never a crash. Storing runs the same checks, so what is stored always loads.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from pathlib import Path
from typing import Any

from reportgen.results import InvalidResult

# The fields provenance.record always writes, and the types of those it may add.
PROVENANCE_REQUIRED: dict[str, Any] = {
    "seed": int,
    "wall_s": float,
    "finished": str,
    "git": dict[str, typing.Union[str, bool]],
    "versions": dict[str, str],
    "hardware": dict[str, typing.Union[str, int]],
}
PROVENANCE_OPTIONAL: dict[str, Any] = {
    "dataset": str,
    "dataset_notice": str,
    "dataset_skipped": str,
    "profile": str,
    "threads": int,
    "cpu_capability": str,
    "memory_format": str,
    "precision": str,
    "layouts": dict[str, Any],  # results stored before the layout became a fixed rule
}


def check_value(value: Any, hint: Any, where: str) -> None:
    """Raises InvalidResult unless `value` has type `hint` (lists, mappings, unions, dataclasses
    and their fields included)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return check_value(value, option, where)
            except InvalidResult:
                continue
        raise InvalidResult(f"{where}: unexpected {_name(value)}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise InvalidResult(f"{where}: expected a list, got {_name(value)}")
        fixed = origin is tuple and args and args[-1] is not Ellipsis
        if fixed and len(value) != len(args):
            raise InvalidResult(f"{where}: expected {len(args)} values, got {len(value)}")
        for i, item in enumerate(value):
            check_value(item, args[i] if fixed else (args[0] if args else Any), f"{where}[{i}]")
        return
    if origin is dict:
        if not isinstance(value, dict):
            raise InvalidResult(f"{where}: expected a mapping, got {_name(value)}")
        key_type, value_type = args or (Any, Any)
        for key, item in value.items():
            check_value(key, key_type, f"{where} key")
            check_value(item, value_type, f"{where}[{key!r}]")
        return
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(value, hint):
            raise InvalidResult(f"{where}: expected {hint.__name__}, got {_name(value)}")
        hints = _hints(type(value))
        for f in dataclasses.fields(value):
            check_value(getattr(value, f.name), hints.get(f.name, Any), f"{where}.{f.name}")
        return
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, hint) if isinstance(hint, type) else True
    if not ok:
        raise InvalidResult(f"{where}: expected {getattr(hint, '__name__', hint)}, got {_name(value)}")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _name(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"


def check_result(section: Any) -> None:
    """Every field of the section and its items has its annotated type."""
    check_value(section, type(section), getattr(section, "kind", "result"))


def check_inputs(inputs: Any, key: str) -> None:
    """The stored inputs are exactly those the entry's key was computed from."""
    from reportgen.cache import digest

    if not isinstance(inputs, dict) or digest(inputs) != key:
        raise InvalidResult("inputs.json does not match the entry's key")


def check_provenance(provenance: Any) -> None:
    if not isinstance(provenance, dict):
        raise InvalidResult("provenance.json: expected a mapping")
    for name, hint in PROVENANCE_REQUIRED.items():
        if name not in provenance:
            raise InvalidResult(f"provenance.json: '{name}' is missing")
        check_value(provenance[name], hint, f"provenance.json: {name}")
    for name, hint in PROVENANCE_OPTIONAL.items():
        if name in provenance:
            check_value(provenance[name], hint, f"provenance.json: {name}")
    if not math.isfinite(provenance["wall_s"]):
        raise InvalidResult("provenance.json: wall_s is not a number")


def check_files(folder: Path, names: list[str]) -> None:
    """Each named file lies in `folder` and is whole (an array file holds every byte its header
    announces)."""
    for name in names:
        parts = Path(name).parts
        if not name or Path(name).is_absolute() or ".." in parts:
            raise InvalidResult(f"file name {name!r} leaves the entry's folder")
        path = folder / name
        if not path.is_file():
            raise InvalidResult(f"file {name} is missing")
        if path.suffix == ".npy":
            _check_npy(path, name)


def _check_npy(path: Path, name: str) -> None:
    import numpy as np

    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = reader(handle)
            header = handle.tell()
    except (ValueError, OSError, EOFError) as exc:
        raise InvalidResult(f"file {name} is not a readable array ({exc})") from None
    if dtype.hasobject:
        raise InvalidResult(f"file {name} holds Python objects, not numbers")
    expected = header + math.prod(shape) * dtype.itemsize
    if path.stat().st_size != expected:
        raise InvalidResult(f"file {name} is truncated or damaged ({path.stat().st_size} of {expected} bytes)")

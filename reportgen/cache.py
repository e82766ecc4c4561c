"""Content-addressed result store under .reportgen/cache, written atomically.

Layout: <root>/<experiment id>/<key>/{inputs,result,provenance}.json + files/, and
<root>/<experiment id>/latest.json naming the entry the last build used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reportgen.results import Section, from_dict

DEFAULT_ROOT = Path(".reportgen/cache")


def digest(data: Any) -> str:
    """sha256 of the canonical JSON of `data`, shortened to 20 hex digits."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def write_json_atomic(path: Path, data: Any) -> None:
    """Writes JSON through a temporary file and a rename, so a reader never sees half of it."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str), encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class Entry:
    """A stored result: its folder, the Section, the inputs that made it and its provenance."""

    path: Path
    key: str
    section: Section
    inputs: dict[str, Any]
    provenance: dict[str, Any]

    @property
    def files(self) -> Path:
        return self.path / "files"


class Cache:
    """Stores and finds experiment results by the hash of their inputs."""

    def __init__(self, root: Path = DEFAULT_ROOT) -> None:
        self.root = root

    def entry_dir(self, exp_id: str, key: str) -> Path:
        return self.root / exp_id / key

    def load(self, exp_id: str, key: str) -> Entry | None:
        """The entry for `key`, or None when there is none (or it cannot be read)."""
        path = self.entry_dir(exp_id, key)
        try:
            result = json.loads((path / "result.json").read_text(encoding="utf-8"))
            inputs = json.loads((path / "inputs.json").read_text(encoding="utf-8"))
            provenance = json.loads((path / "provenance.json").read_text(encoding="utf-8"))
            section = from_dict(result)
        except (OSError, ValueError, TypeError, KeyError):
            return None  # missing, half-deleted or from an older result format: treat as not cached
        if not isinstance(section, Section):
            return None
        return Entry(path, key, section, inputs, provenance)

    def latest(self, exp_id: str) -> Entry | None:
        """The entry the last build of `exp_id` used, whatever its inputs."""
        try:
            key = json.loads((self.root / exp_id / "latest.json").read_text())["key"]
        except (OSError, ValueError, KeyError):
            return None
        return self.load(exp_id, key)

    def scratch(self) -> Path:
        """A fresh temporary entry folder (with files/) on the same file system as the cache."""
        path = self.root / ".tmp" / uuid.uuid4().hex
        (path / "files").mkdir(parents=True)
        return path

    def store(
        self,
        exp_id: str,
        key: str,
        scratch: Path,
        section: Section,
        inputs: dict[str, Any],
        provenance: dict[str, Any],
    ) -> Entry:
        """Completes `scratch` and renames it into place; the old entry goes only after that."""
        for name, data in (
            ("result.json", section.to_dict()),
            ("inputs.json", inputs),
            ("provenance.json", provenance),
        ):
            (scratch / name).write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
        final = self.entry_dir(exp_id, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        trash = None
        if final.exists():
            trash = self.root / ".tmp" / f"old-{uuid.uuid4().hex}"
            os.rename(final, trash)
        os.rename(scratch, final)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
        self.mark_latest(exp_id, key)
        return Entry(final, key, section, inputs, provenance)

    def mark_latest(self, exp_id: str, key: str) -> None:
        write_json_atomic(self.root / exp_id / "latest.json", {"key": key})

    def discard_scratch(self) -> None:
        """Removes temporary folders left by interrupted runs."""
        shutil.rmtree(self.root / ".tmp", ignore_errors=True)

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def why_stale(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable differences between the inputs of a stored entry and the current ones."""
    reasons = []
    old_params, new_params = old.get("params", {}), new.get("params", {})
    for name in sorted(set(old_params) | set(new_params)):
        if old_params.get(name) != new_params.get(name):
            reasons.append(f"{name}: {old_params.get(name)!r} -> {new_params.get(name)!r}")
    for part in ("code", "dataset", "versions", "seed", "needs", "engine"):
        if old.get(part) != new.get(part):
            reasons.append(f"{part} changed")
    return reasons

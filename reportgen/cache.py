"""Content-addressed result store under .reportgen/cache, written atomically.

Layout: <root>/<experiment id>/<key>/{inputs,result,provenance}.json + files/, and
<root>/<experiment id>/latest.json naming the entry the last build used.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

import filelock

from reportgen import integrity
from reportgen.errors import ReportgenError
from reportgen.records import InvalidRecord, Record
from reportgen.results import InvalidResult, Section, from_dict

DEFAULT_ROOT = Path(".reportgen/cache")
KEY = re.compile(r"[0-9a-f]{20}")  # what digest() gives
HOLDER = ".lock.holder"  # beside the lock file: "pid N: command" of the build holding it


def digest(data: Any) -> str:
    """sha256 of the canonical JSON of `data`, shortened to 20 hex digits."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def write_json_atomic(path: Path, data: Any) -> None:
    """Writes JSON through a temporary file and a rename, so a reader never sees half of it."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half-written file behind


def write_synced(path: Path, text: str) -> None:
    """Writes and flushes to the disk: the rename that publishes an entry must not publish unwritten data."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def readable(result: Any, files: Path, provenance: Any) -> Section | Record:
    """The stored section (or a converted experiment's record), checked as every reader needs
    it; raises InvalidResult otherwise."""
    section = load_result(result)
    if isinstance(section, Section):
        integrity.check_result(section)
    integrity.check_provenance(provenance)
    integrity.check_files(files, section.files() if isinstance(section, Section) else section.files)
    return section


class Entry:
    """A stored result: its folder, what the experiment returned (a Section, or a converted
    experiment's Record), the inputs that made it and its provenance.

    `section` is what readers see: the stored Section, or the record presented now (once).
    `title` is the experiment's title for this build (a config may change it).
    """

    def __init__(
        self,
        path: Path,
        key: str,
        section: Section | Record,
        inputs: dict[str, Any],
        provenance: dict[str, Any],
        title: str = "",
    ) -> None:
        self.path, self.key, self.result = path, key, section
        self.inputs, self.provenance, self.title = inputs, provenance, title
        self._presented: Section | None = None

    @property
    def files(self) -> Path:
        return self.path / "files"

    @property
    def record(self) -> Record | None:
        return self.result if isinstance(self.result, Record) else None

    @property
    def section(self) -> Section:
        if isinstance(self.result, Section):
            return self.result
        if self._presented is None:
            from reportgen.presenting import present

            exp_id = self.inputs.get("experiment") or self.path.parent.name
            params = self.inputs.get("params", {})
            self._presented = present(exp_id, self.result, title=self.title, params=params, files=self.files)
        return self._presented

    def __repr__(self) -> str:
        return f"Entry({self.path}, {type(self.result).__name__})"


class Cache:
    """Stores and finds experiment results by the hash of their inputs."""

    def __init__(self, root: Path = DEFAULT_ROOT) -> None:
        self.root = root
        self.build_id = uuid.uuid4().hex[:12]  # this process's scratch area: .tmp/<build id>/
        self.problems: dict[tuple[str, str], str] = {}  # (id, key) -> why a stored entry is unusable
        self._lock_file: Any = None

    def entry_dir(self, exp_id: str, key: str) -> Path:
        return self.root / exp_id / key

    def load(self, exp_id: str, key: str) -> Entry | None:
        """The entry for `key`, or None when there is none (or it cannot be read)."""
        path = self.entry_dir(exp_id, key)
        if not path.is_dir():
            return None
        try:
            result = json.loads((path / "result.json").read_text(encoding="utf-8"))
            inputs = json.loads((path / "inputs.json").read_text(encoding="utf-8"))
            provenance = json.loads((path / "provenance.json").read_text(encoding="utf-8"))
            integrity.check_inputs(inputs, key)
            section = readable(result, path / "files", provenance)
        except (OSError, ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError) as exc:
            # Missing, half-deleted, hand-edited or from an older format: not a hit, and say why.
            reason = str(exc) if isinstance(exc, InvalidResult) else f"{type(exc).__name__}: {exc}"
            self.problems[exp_id, key] = f"stored result is invalid ({reason})"
            return None
        return Entry(path, key, section, inputs, provenance)

    def latest(self, exp_id: str) -> Entry | None:
        """The entry the last build of `exp_id` used, whatever its inputs."""
        try:
            key = json.loads((self.root / exp_id / "latest.json").read_text())["key"]
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None
        if not isinstance(key, str) or not KEY.fullmatch(key):  # hand-edited: not a path to follow
            return None
        return self.load(exp_id, key)

    def scratch(self) -> Path:
        """A fresh temporary entry folder (with files/) on the same file system as the cache.

        Each build has its own folder under .tmp, so a build that ends never deletes another's work.
        """
        path = self.root / ".tmp" / self.build_id / uuid.uuid4().hex
        (path / "files").mkdir(parents=True)
        return path

    def lock(self) -> None:
        """Takes this cache for one build; a second build in the same folder is refused with a message.

        The lock is an OS file lock on <root>/.lock (filelock: flock on POSIX, msvcrt on Windows);
        the OS drops it when the process dies, so a killed build never leaves the folder locked.
        Who holds it (pid and command) is written beside it, in .lock.holder, for the refusal's
        message. Leftover scratch folders of dead builds go here.
        """
        if self._lock_file is not None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(self.root / ".lock", timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise ReportgenError(
                f"another reportgen build is running on {self.root} ({self._holder()})",
                "wait for it to finish, then run again; 'reportgen render' and 'reportgen list' are safe meanwhile",
            ) from None
        command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else "python"
        try:
            (self.root / HOLDER).write_text(f"pid {os.getpid()}: {command}", encoding="utf-8")
        except OSError:
            pass  # the message then says "another process"; the lock itself holds
        self._lock_file = lock
        shutil.rmtree(self.root / ".tmp", ignore_errors=True)  # no other build is running

    def _holder(self) -> str:
        try:
            return (self.root / HOLDER).read_text(encoding="utf-8").strip()[:200] or "another process"
        except OSError:
            return "another process"

    def unlock(self) -> None:
        if self._lock_file is not None:
            try:
                (self.root / HOLDER).unlink()
            except OSError:
                pass
            self._lock_file.release()
            self._lock_file = None

    def store(
        self,
        exp_id: str,
        key: str,
        scratch: Path,
        section: Section | Record,
        inputs: dict[str, Any],
        provenance: dict[str, Any],
    ) -> Entry:
        """Completes `scratch` and renames it into place; the old entry goes only after that.

        Raises:
            InvalidResult: the result would not load back (the same checks as `load`), e.g. a
                metric that is NaN: it is not stored, so it cannot turn stale on every build.
        """
        texts = {name: json.dumps(data, indent=1, default=str)
                 for name, data in (("result.json", section.to_dict()), ("inputs.json", inputs),
                                    ("provenance.json", provenance))}  # fmt: skip
        readable(json.loads(texts["result.json"]), scratch / "files", json.loads(texts["provenance.json"]))
        integrity.check_inputs(json.loads(texts["inputs.json"]), key)
        for name, text in texts.items():
            write_synced(scratch / name, text)
        final = self.entry_dir(exp_id, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        trash = None
        if final.exists():
            trash = scratch.parent / f"old-{uuid.uuid4().hex}"
            os.rename(final, trash)
        os.rename(scratch, final)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
        self.mark_latest(exp_id, key)
        return Entry(final, key, section, inputs, provenance)

    def mark_latest(self, exp_id: str, key: str) -> None:
        write_json_atomic(self.root / exp_id / "latest.json", {"key": key})

    def discard_scratch(self) -> None:
        """Removes this build's temporary folders (another build's are left alone)."""
        shutil.rmtree(self.root / ".tmp" / self.build_id, ignore_errors=True)
        try:
            (self.root / ".tmp").rmdir()  # only when no other build has a scratch folder there
        except OSError:
            pass

    def clear(self) -> bool:
        """Deletes every stored result; False when there was nothing to delete."""
        if not self.root.exists():
            return False
        self.lock()
        try:
            shutil.rmtree(self.root)
        finally:
            self.unlock()
        return True


def load_result(data: Any) -> Section | Record:
    """A stored result.json: a converted experiment's Record, or a Section.

    Raises:
        InvalidResult: neither, or not of the shape its kind requires.
    """
    if isinstance(data, dict) and data.get("kind") == Record.kind:
        try:
            return Record.from_dict(data)
        except InvalidRecord as exc:
            raise InvalidResult(str(exc)) from None
    section = from_dict(data)
    if not isinstance(section, Section):
        raise InvalidResult("the stored result is not a section")
    return section


def why_stale(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable differences between the inputs of a stored entry and the current ones."""
    reasons = []
    old_params, new_params = old.get("params", {}), new.get("params", {})
    for name in sorted(set(old_params) | set(new_params)):
        if old_params.get(name) != new_params.get(name):
            reasons.append(f"{name}: {old_params.get(name)!r} -> {new_params.get(name)!r}")
    for part in ("code", "dataset", "versions", "seed", "needs", "engine", "files"):
        if old.get(part) != new.get(part):
            reasons.append(f"{part} changed")
    return reasons

"""What a converted experiment's cached part returns: a record of what it measured.

A Record holds numbers, series, labels and the names of the arrays it saved (files/*.npy),
as plain JSON; never a title, a caption or a formatted number. What a reader sees is built
from it at render time by the experiment's presenter (see reportgen.presenting), so editing
a caption re-renders and re-trains nothing. Dependants (`ctx.record(id)`), `reportgen verify`
and the student's live numbers read its fields.

Torch-free and tiny on purpose: every compute module imports it, so it is part of their cache key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


class InvalidRecord(ValueError):
    """A record that is not plain JSON data (a tensor, a NaN, a non-text key)."""


@dataclass
class Record:
    """Named measurements of one experiment run.

    Attributes:
        data: JSON data: numbers, text (class names, layer specs), lists and mappings of them.
            A missing number is None, never NaN. Numbers worth quoting on their own go under
            "metrics" (name -> number): the names `{{ id.name }}` and dependants use.
        files: the arrays saved with it (filled in by the runner from the entry's files/).
    """

    data: dict[str, Any]
    files: list[str] = field(default_factory=list)
    kind = "record"

    def __getitem__(self, name: str) -> Any:
        return self.data[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.data.get("metrics", {}))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "data": self.data, "files": list(self.files)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        """Raises InvalidRecord when the stored JSON is not a record's shape."""
        if not isinstance(data, dict) or data.get("kind") != cls.kind:
            raise InvalidRecord("not a stored record")
        record = cls(data.get("data"), data.get("files", []))  # type: ignore[arg-type]
        record.validate()
        return record

    def validate(self) -> None:
        if not isinstance(self.data, dict):
            raise InvalidRecord("a record's data must be a mapping")
        if not isinstance(self.files, list) or not all(isinstance(f, str) for f in self.files):
            raise InvalidRecord("a record's files must be a list of names")
        _check("data", self.data)
        metrics = self.data.get("metrics", {})
        if not isinstance(metrics, dict) or not all(_is_number(v) for v in metrics.values()):
            raise InvalidRecord("a record's metrics must map names to numbers")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check(where: str, value: Any) -> None:
    if value is None or isinstance(value, (str, bool)):
        return
    if _is_number(value):
        if not math.isfinite(value):
            raise InvalidRecord(f"{where} is {value} (store None for a missing number)")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check(f"{where}[{index}]", item)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidRecord(f"{where}: key {key!r} is not text")
            _check(f"{where}.{key}", item)
        return
    raise InvalidRecord(f"{where}: {type(value).__name__} is not JSON data (convert it with float() or .tolist())")


def numbers(data: Any, where: str = "") -> dict[str, float | str | bool | None]:
    """Every leaf of a record's data by its path ("methods.scratch.test", "confusion[3][4]"):
    what `reportgen verify` compares."""
    found: dict[str, float | str | bool | None] = {}
    if isinstance(data, dict):
        for key, item in data.items():
            found.update(numbers(item, f"{where}.{key}" if where else key))
    elif isinstance(data, (list, tuple)):
        for index, item in enumerate(data):
            found.update(numbers(item, f"{where}[{index}]"))
    else:
        found[where] = data
    return found

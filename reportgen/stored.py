"""Every registered experiment's stored result, for the write-up's live numbers.

A write-up may name any experiment, not only those of the tasks being built: `build --task 3`
with Task 1 cached must show Task 1's numbers in the conclusions. The results of this run are
given; any other experiment is planned (parameters and cache key, no torch) and read from the
cache only when the text names it, so a build never pays for what its text does not read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from reportgen.cache import Cache, Entry
from reportgen.results import Section

Found = tuple[Section | None, bool]  # (the section or None when never computed, stale)


class StoredResults(Mapping[str, Found]):
    """experiment id -> (stored section or None, stale) for every id of `registry`."""

    def __init__(self, entries: Mapping[str, Entry], stale: set[str], registry: Mapping[str, Any],
                 config: Any, dataset: Any, cache: Cache) -> None:  # fmt: skip
        self._given = {exp_id: (entry.section, exp_id in stale) for exp_id, entry in entries.items()}
        self._registry = registry
        self._config, self._dataset, self._cache = config, dataset, cache

    def __getitem__(self, exp_id: str) -> Found:
        if exp_id not in self._given:
            if exp_id not in self._registry:
                raise KeyError(exp_id)
            self._given[exp_id] = self._look_up(exp_id)
        return self._given[exp_id]

    def _look_up(self, exp_id: str) -> Found:
        from reportgen.runner import plan

        item = next(p for p in plan([self._registry[exp_id]], self._config, self._dataset, self._cache, self._registry)
                    if p.exp.id == exp_id)  # fmt: skip
        if item.entry is not None:
            return item.entry.section, False
        latest = self._cache.latest(exp_id)
        return (latest.section, True) if latest is not None else (None, False)

    def __contains__(self, exp_id: object) -> bool:
        return exp_id in self._given or exp_id in self._registry

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self._given, *self._registry]))

    def __len__(self) -> int:
        return len(set(self._given) | set(self._registry))

"""Records -> what readers see: runs an experiment's presenter at render time.

A converted experiment stores a `reportgen.records.Record`; its presenter (registered with
`reportgen.registry.presenter`) builds the Section (titles, captions, sentences, key items,
table layout, number styles) from it every time the deliverables are rendered. Nothing
here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reportgen.errors import ReportgenError
from reportgen.records import Record
from reportgen.results import InvalidResult, Section


@dataclass
class View:
    """What a presenter gets: the record, the parameters it was computed with, the title."""

    exp_id: str
    title: str
    record: Record
    params: dict[str, Any]
    files: Path

    def __getitem__(self, name: str) -> Any:
        return self.record[name]


def present(exp_id: str, record: Record, *, title: str, params: dict[str, Any], files: Path) -> Section:
    """The Section readers see for `record`.

    Raises:
        ReportgenError: no presenter is registered for the experiment, or it returned no Section.
    """
    from reportgen.registry import _REGISTRY, PRESENTERS

    # A family of experiments (Task 1's variants, config ones included) shares one presenter,
    # named by the record itself.
    fn = PRESENTERS.get(exp_id) or PRESENTERS.get(str(record.get("presenter", "")))
    if fn is None:
        raise ReportgenError(
            f"experiment '{exp_id}' stored a record, but no presenter is registered for it",
            f"register one with @presenter('{exp_id}') in a module of its experiments folder",
            2,
        )
    if not title and exp_id in _REGISTRY:
        title = _REGISTRY[exp_id].title
    section = fn(View(exp_id, title, record, params, files))
    if not isinstance(section, Section):
        raise ReportgenError(f"the presenter of '{exp_id}' returned {type(section).__name__}, not a Section", exit_code=2)
    try:
        section.validate()
    except InvalidResult as exc:
        raise ReportgenError(f"the presenter of '{exp_id}' built an invalid section: {exc}", exit_code=2) from None
    return section

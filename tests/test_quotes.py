"""Every number quotable (issue 16 item 6): table cells and curve ends in the student's text, with
the same checks and closest-name errors as key numbers, and the list of names in writeup/README.md."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from reportgen.errors import ReportgenError
from reportgen.quotes import BEGIN, END, find, names, names_markdown, with_names
from reportgen.results import Curves, Metric, Section, Table
from reportgen.values import PERCENT, Value
from reportgen.writeup import load_writeup
from tests.test_writeup import text

ACC = PERCENT.but(unit="")


def optimisers() -> Section:
    """A Task 2-shaped result: a key number, a table of typed cells with a ± spread, curves, and a
    row label holding a dot."""
    return Section(
        title="Optimisers",
        items=[
            Metric(title="val accuracy, adam", value=91.88, style=PERCENT, name="best val accuracy"),
            Table(title="results", columns=["variant", "settings", "val acc", "test acc"],
                  rows=[["adam", "lr 0.003", Value(91.88, ACC, 0.1), Value(91.2, ACC)],
                        ["sgd", "lr 0.05", Value(24.0, ACC), Value(23.5, ACC)],
                        ["p = 0.25", "", Value(80.0, ACC), "diverged"]]),  # fmt: skip
            Curves(title="accuracy", x=[1, 2], series={"adam · validation": [80.0, 91.88], "sgd · validation": [20.0, 24.0]},
                   ylabel="accuracy (%)"),  # fmt: skip
        ],
    )


def test_a_cell_is_found_by_row_and_column_and_shown_as_the_table_shows_it():
    section = optimisers()
    assert find(section, "sgd.val acc").text == "24.00"
    assert find(section, "ADAM.val  acc").text == "91.88 ± 0.10"  # case and spaces do not matter
    assert find(section, "p = 0.25.val acc").value.number == 80.0  # a dot inside a row label
    assert find(section, "sgd.settings") is None  # a label, not a number
    assert find(section, "p = 0.25.test acc") is None


def test_a_series_end_is_found_with_the_dot_written_as_a_space():
    section = optimisers()
    quote = find(section, "adam validation.final")
    assert quote.text == "91.88 %" and quote.value.number == 91.88
    assert find(section, "sgd · validation.final").text == "24.00 %"


def test_key_numbers_come_first_by_record_name_then_title():
    section = optimisers()
    assert find(section, "best val accuracy").text == "91.88 %"
    assert names(section)[:2] == ["best val accuracy", "val accuracy, adam"]
    assert "sgd.val acc" in names(section) and "adam · validation.final" in names(section)


REGISTRY = {"t2-optimizers": SimpleNamespace(title="Optimisers", task=2)}


def _load(root: Path, body: str):
    (root / "writeup").mkdir(parents=True, exist_ok=True)
    (root / "writeup" / "conclusions.md").write_text(body)
    return load_writeup(root / "writeup", {"t2-optimizers": (optimisers(), False)}, registry=REGISTRY, project=root)


def test_the_text_quotes_cells_and_curve_ends_and_their_differences(tmp_path):
    """A cell reads as its table shows it: this table's columns leave the unit to the caption."""
    writeup = _load(tmp_path, "SGD reached {{ t2-optimizers.sgd.val acc }}, Adam ended at "
                              "{{ t2-optimizers.adam validation.final }}: "
                              "{{ t2-optimizers.adam.test acc - t2-optimizers.sgd.test acc }}.")
    assert text(writeup.conclusions.html) == "SGD reached 24.00, Adam ended at 91.88 %: +67.70."


def test_a_misspelt_cell_names_the_closest_and_how_to_list_them_all(tmp_path):
    with pytest.raises(ReportgenError) as info:
        _load(tmp_path, "{{ t2-optimizers.sgd.val accc }}")
    assert "conclusions.md:1: 't2-optimizers' has no metric 'sgd.val accc'" in info.value.message
    assert "sgd.val acc" in info.value.hint and "reportgen names t2-optimizers" in info.value.hint


def test_a_text_cell_cannot_be_subtracted(tmp_path):
    section = Section(title="legacy", items=[Table(title="t", columns=["variant", "acc"], rows=[["a", "90.1"], ["b", "80.0"]])])
    (tmp_path / "writeup").mkdir()
    (tmp_path / "writeup" / "intro.md").write_text("{{ x.a.acc }} {{ x.a.acc - x.b.acc }}")
    with pytest.raises(ReportgenError, match="subtracts a number stored as text"):
        load_writeup(tmp_path / "writeup", {"x": (section, False)}, registry={}, project=tmp_path)
    (tmp_path / "writeup" / "intro.md").write_text("{{ x.a.acc }}")
    writeup = load_writeup(tmp_path / "writeup", {"x": (section, False)}, registry={}, project=tmp_path)
    assert text(writeup.intro.html) == "90.1"


def test_the_readme_list_is_replaced_between_its_markers_only():
    listing = names_markdown([("t2-optimizers", optimisers(), False), ("t2-l2", None, False)])
    assert "`{{ t2-optimizers.sgd.val acc }}` → 24.00" in listing and "t2-l2" not in listing
    readme = f"# Mine\n\nmy notes\n\n{BEGIN}\nold\n{END}\n\nmore notes\n"
    new = with_names(readme, listing)
    assert new.startswith("# Mine\n\nmy notes\n\n") and new.endswith(f"{END}\n\nmore notes\n")
    assert "old" not in new and listing in new
    assert with_names(new, listing) is None  # nothing changes: not written again
    assert with_names("# my own README\n", listing) is None  # no markers: the student's file is left alone

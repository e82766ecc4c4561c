"""Results as data (issue 15): the one number formatter, records and presenters, loading older
stored results, the verifier on records and arrays, and the import layering. Fast: no training."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from reportgen.cache import Cache, Entry, load_result
from reportgen.records import InvalidRecord, Record, numbers
from reportgen.results import InvalidResult, Metric, Section, Table, from_dict
from reportgen.values import COUNT, FRACTION, PERCENT, POINTS, SECONDS, Value, difference, show

ROOT = Path(__file__).resolve().parents[1]


# --- the formatter ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Value(91.234, PERCENT), "91.23 %"),
        (Value(0.91234, FRACTION), "91.23 %"),
        (Value(3377413, COUNT), "3,377,413"),
        (Value(12.34, SECONDS), "12.3 s"),
        (Value(0.7, POINTS), "+0.70 points"),
        (Value(-0.2, POINTS), "\u22120.20 points"),
        (Value(1.0, POINTS.but(decimals=0)), "+1 point"),
        (Value(-0.001, POINTS), "0.00 points"),  # no sign on a number that shows as zero
        (Value(90.1, PERCENT, spread=1.3), "90.10 ± 1.30 %"),
        (Value(1234.5678), "1235"),
        ("a label", "a label"),
    ],
)
def test_show_writes_every_number_one_way(value, text):
    assert show(value) == text


def test_a_difference_of_percentages_is_in_points_and_units_must_agree():
    assert show(difference(Value(91.2, PERCENT), Value(90.5, PERCENT))) == "+0.70 points"
    assert show(difference(Value(0.912, FRACTION), Value(0.905, FRACTION))) == "+0.70 points"
    with pytest.raises(ValueError, match="'s' and '%'"):
        difference(Value(1.0, SECONDS), Value(1.0, PERCENT))


def test_tables_and_metrics_keep_numbers_and_format_them_when_shown():
    table = Table(title="t", columns=["method", "test acc"], rows=[["a", Value(91.25, PERCENT)]])
    again = from_dict(json.loads(json.dumps(table.to_dict())))
    assert again.rows[0][1] == Value(91.25, PERCENT) and again.text_rows() == [["a", "91.25 %"]]
    metric = from_dict(Metric(title="m", value=0.5, style=FRACTION, name="m").to_dict())
    assert metric.text == "50.00 %" and metric.as_value == Value(0.5, FRACTION)
    legacy = from_dict({"kind": "metric", "title": "old", "value": 91.11, "unit": "%", "fmt": "{:.2f}"})
    assert legacy.text == "91.11 %" and legacy.style is None  # results stored before issue 15 still load
    with pytest.raises(InvalidResult):
        from_dict({"kind": "table", "title": "t", "columns": ["a"], "rows": [[{"value": "x"}]]})


# --- records ---------------------------------------------------------------------------------


def test_a_record_holds_plain_data_only():
    Record({"metrics": {"test accuracy": 91.2}, "confusion": [[1, 0], [2, 3]], "label": None}).validate()
    for bad in ({"x": float("nan")}, {"x": np.float32(1.0)}, {1: 2}, {"metrics": {"a": "91 %"}}):
        with pytest.raises(InvalidRecord):
            Record(bad).validate()
    assert numbers({"a": {"b": [1, [2, 3]]}, "c": "x"}) == {"a.b[0]": 1, "a.b[1][0]": 2, "a.b[1][1]": 3, "c": "x"}


def test_a_stored_record_is_presented_by_its_presenter_at_read_time(tmp_path, monkeypatch):
    from reportgen import registry

    calls = []

    def present(view):
        calls.append(view.title)
        return Section(title=view.title, summary=f"{show(Value(view.record.metrics['acc'], PERCENT))} with lr {view.params['lr']:g}",
                       items=[Metric(title="accuracy", value=view.record.metrics["acc"], style=PERCENT, name="acc")])  # fmt: skip

    monkeypatch.setitem(registry.PRESENTERS, "rec-test", present)
    stored = load_result(Record({"metrics": {"acc": 88.5}}).to_dict())
    entry = Entry(tmp_path, "k", stored, {"experiment": "rec-test", "params": {"lr": 0.01}}, {}, title="My title")
    assert entry.record is stored and entry.section.summary == "88.50 % with lr 0.01"
    assert entry.section is entry.section and calls == ["My title"]  # presented once per load
    unknown = Entry(tmp_path, "k", stored, {"experiment": "nobody", "params": {}}, {})
    with pytest.raises(Exception, match="no presenter is registered"):
        _ = unknown.section


def test_an_older_stored_section_still_loads_and_a_broken_record_is_stale(tmp_path):
    cache = Cache(tmp_path)
    section = Section(title="old", items=[Table(title="t", columns=["a"], rows=[["1.00"]])])
    from reportgen.cache import digest

    provenance = {"seed": 0, "wall_s": 1.0, "finished": "2026-12-03T19:00", "git": {}, "versions": {}, "hardware": {}}
    keys = {}
    for name, result in (("old", section.to_dict()), ("broken", {"kind": "record", "data": {"x": [1, "NaN", {"y": None}]}, "files": 3})):
        inputs = {"experiment": name}
        keys[name] = key = digest(inputs)
        path = tmp_path / "exp" / key
        (path / "files").mkdir(parents=True)
        (path / "result.json").write_text(json.dumps(result))
        (path / "inputs.json").write_text(json.dumps(inputs))
        (path / "provenance.json").write_text(json.dumps(provenance))
    assert cache.load("exp", keys["old"]).section.items[0].rows == [["1.00"]]
    assert cache.load("exp", keys["broken"]) is None and "files must be a list" in cache.problems["exp", keys["broken"]]


# --- the verifier ----------------------------------------------------------------------------


def _entry(root: Path, confusion: list, image: np.ndarray) -> Entry:
    (root / "files").mkdir(parents=True)
    np.save(root / "files" / "mistake-1.npy", image)
    record = Record({"confusion": confusion, "wall_s": 3.0, "metrics": {"best": 90.0}}, ["mistake-1.npy"])
    return Entry(root, "k", record, {"experiment": "x"}, {})


def test_verify_compares_every_record_field_and_every_array_element(tmp_path):
    from reportgen.verify import compare_entries

    image = np.zeros((4, 5), dtype=np.float32)
    stored = _entry(tmp_path / "a", [[5, 0], [1, 4]], image)
    changed = image.copy()
    changed[2, 3] = 0.25
    rerun = _entry(tmp_path / "b", [[5, 0], [2, 3]], changed)
    rerun.record.data["wall_s"] = 9.0  # timing: reported, never compared
    compared, differences, within = compare_entries(stored, rerun, 0.0)
    assert compared == 4 + 1 + 20 and not within
    assert differences == [
        "record confusion[1][0]: stored 1, re-run 2",
        "record confusion[1][1]: stored 4, re-run 3",
        "array files/mistake-1.npy [2, 3]: stored 0, re-run 0.25 (1 of 20 values differ)",
    ]
    assert compare_entries(stored, stored, 0.0)[1] == []


# --- layering --------------------------------------------------------------------------------


def _imports(path: Path) -> set[str]:
    """Every module a file imports (at the top or inside functions), relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            found.add(module)
            found |= {f"{module}.{a.name}" for a in node.names}
    return found


def _offending(files: list[Path], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    bad = {}
    for path in files:
        hits = sorted(m for m in _imports(path) if any(m == f or m.startswith(f + ".") for f in forbidden))
        if hits:
            bad[path.relative_to(ROOT).as_posix()] = hits
    return bad


def test_layering_render_core_and_engine_import_only_what_they_may():
    """render/ never imports torch or the engine's nn/, data/, vis/; the engine never imports the
    built-in experiments; config, registry, results, records, values, cache and the presenting
    step are torch-free (so `reportgen render` and `list` never load torch)."""
    engine = ROOT / "reportgen"
    render = sorted((engine / "render").glob("*.py"))
    assert _offending(render, ("torch", "torchvision", "reportgen.nn", "reportgen.data", "reportgen.vis")) == {}
    core = [engine / f"{name}.py" for name in ("config", "registry", "results", "records", "values", "cache", "presenting")]
    assert _offending(core, ("torch", "torchvision", "reportgen.nn", "reportgen.vis")) == {}
    everything = sorted(engine.rglob("*.py"))
    allowed = {"reportgen/modules.py"}  # it loads the built-in experiments package by name, to register them
    offending = _offending(everything, ("reportgen.experiments", "experiments"))
    assert {path for path in offending if path not in allowed} == set(), offending
    presenters = sorted((ROOT / "experiments").glob("*_present.py"))
    assert presenters and _offending(presenters, ("torch", "torchvision", "reportgen.nn", "reportgen.vis")) == {}


def test_a_compute_module_never_imports_its_presenter():
    """The cache key walks a compute module's imports: its presenter must not be among them."""
    from reportgen.runner import module_sources

    for present in sorted((ROOT / "experiments").glob("*_present.py")):
        compute = [p for p in (ROOT / "experiments").glob(present.name.split("_")[0] + "_*.py") if p != present]
        for module in compute:
            assert present not in module_sources(module.resolve()), f"{module.name} imports {present.name}"


# --- a project's own experiment as record + presenter, end to end ---------------------------

COMPUTE = '''
from reportgen.records import Record
from reportgen.registry import experiment


@experiment(task=1, id="own-probe", title="A probe", params={"scale": 2.0})
def probe(ctx) -> Record:
    import numpy as np

    grid = np.arange(6, dtype=np.float32).reshape(2, 3) * ctx.params["scale"]
    ctx.save_array("grid", grid)
    accuracy = 91.25 * ctx.params["scale"] / 2
    return Record({"accuracy": accuracy, "counts": [[3, 1], [0, 4]], "metrics": {"test accuracy": accuracy}})
'''
PRESENT = '''
from reportgen.registry import presenter
from reportgen.results import Heatmap, ImageGrid, Metric, Section, Table
from reportgen.values import PERCENT, Value, show

STYLE = PERCENT


@presenter("own-probe")
def probe(view) -> Section:
    acc = view.record["accuracy"]
    return Section(title=view.title, summary=f"SENTENCE: the probe reached {show(Value(acc, PERCENT))}.", items=[
        Metric(title="accuracy of the probe", value=acc, style=STYLE, name="test accuracy"),
        Table(title="t", caption="CAPTION one", columns=["what", "value"], rows=[["accuracy", Value(acc, STYLE)]]),
        Heatmap(title="counts", values=view.record["counts"]),
        ImageGrid(title="grid", images=["grid.npy"]),
    ])
'''


def test_a_project_record_experiment_renders_re_renders_after_a_caption_edit_and_is_verified(project):
    """The whole path on a project's own experiment: run -> record stored -> presented at render;
    editing the presenter (caption, sentence, format) leaves the result cached and shows the new
    text; `{{ id.name }}` reads the record's metric; verify names a changed matrix cell and array value."""
    from tests.conftest import invoke

    (project / "experiments").mkdir()
    (project / "experiments" / "probe.py").write_text(COMPUTE)
    (project / "experiments" / "probe_present.py").write_text(PRESENT)
    (project / "writeup").mkdir()
    (project / "writeup" / "own-probe.md").write_text("Live: {{ own-probe.test accuracy }}.\n")
    assert invoke("run", "-e", "own-probe").exit_code == 0
    [entry] = [p for p in (project / ".reportgen" / "cache" / "own-probe").iterdir() if p.is_dir()]
    stored = json.loads((entry / "result.json").read_text())
    assert stored["kind"] == "record" and stored["files"] == ["grid.npy"] and "CAPTION" not in json.dumps(stored)

    result = invoke("render", "--task", "1", "--partial", "--format", "html")
    assert result.exit_code == 0, result.output
    report = (project / "output" / "report.html").read_text()
    assert "SENTENCE: the probe reached 91.25 %" in report and "CAPTION one" in report and 'Live: <span class="ref">91.25&nbsp;%' in report

    present = project / "experiments" / "probe_present.py"
    present.write_text(PRESENT.replace("CAPTION one", "CAPTION two").replace("SENTENCE:", "EDITED:")
                       .replace("STYLE = PERCENT", "STYLE = PERCENT.but(decimals=1)"))  # fmt: skip
    listed = invoke("list")
    assert "own-probe" in listed.output and "cached" in listed.output.split("own-probe")[1].splitlines()[0]
    assert invoke("render", "--task", "1", "--partial", "--format", "html").exit_code == 0
    report = (project / "output" / "report.html").read_text()
    assert "EDITED: the probe reached 91.25 %" in report and "CAPTION two" in report
    assert 'Live: <span class="ref">91.2&nbsp;%' in report and "<td>91.2 %</td>" in report  # the new format

    stored["data"]["counts"][1][0] = 7
    (entry / "result.json").write_text(json.dumps(stored))
    grid = np.load(entry / "files" / "grid.npy")
    grid[1, 2] = -1.0
    np.save(entry / "files" / "grid.npy", grid)
    verified = invoke("verify", "-e", "own-probe")
    assert verified.exit_code == 1
    assert "record counts[1][0]: stored 7, re-run 0" in verified.output
    assert "array files/grid.npy [1, 2]: stored -1, re-run 10 (1 of 6 values differ)" in verified.output

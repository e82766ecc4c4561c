"""The cache reuses results, re-runs what changed, and never keeps a half-written entry."""

import json
from pathlib import Path

import pytest

from reportgen.cache import Cache, digest, why_stale
from reportgen.config import load_config
from reportgen.registry import experiment, load_experiments, select
from reportgen.results import Curves, ImageGrid, Matrix, Metric, Panel, Section, Table, Text
from reportgen.runner import plan, resolve_config_dataset, run_planned


def sample_section() -> Section:
    return Section(
        title="s",
        summary="x",
        items=[
            Metric(title="acc", value=0.5, unit="%"),
            Table(title="t", columns=["a"], rows=[["1"]], highlight=[0]),
            Curves(title="c", x=[1, 2], series={"train": [1.0, 2.0]}, bands={"train": [0.1, 0.1]}),
            Matrix(title="m", panels=[Panel("p", [[1, 2]], [(0, 1)])]),
            ImageGrid(title="g", images=["a.png"], labels=["cat"]),
            Text(title="w", body="hello"),
        ],
    )


def test_store_and_load_round_trip(tmp_path):
    cache = Cache(tmp_path)
    scratch = cache.scratch()
    (scratch / "files" / "a.png").write_bytes(b"png")
    inputs = {"params": {}}  # an entry's key is the digest of its inputs (checked when loading)
    prov = {"seed": 0, "wall_s": 0.5, "finished": "2026-11-25T10:00:00", "git": {}, "versions": {}, "hardware": {}}
    entry = cache.store("exp", digest(inputs), scratch, sample_section(), inputs, prov)
    loaded = cache.load("exp", digest(inputs))
    assert loaded.section == sample_section()
    assert (loaded.files / "a.png").read_bytes() == b"png"
    assert cache.latest("exp").key == digest(inputs) == entry.key
    assert not [p for p in (tmp_path / ".tmp").rglob("*") if p.is_file()]
    cache.discard_scratch()
    assert not (tmp_path / ".tmp").exists()


def test_half_written_entry_is_not_a_hit(tmp_path):
    cache = Cache(tmp_path)
    broken = tmp_path / "exp" / "k2"
    broken.mkdir(parents=True)
    (broken / "result.json").write_text('{"kind": "section", "ti')
    assert cache.load("exp", "k2") is None


def test_digest_is_order_independent():
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1})
    assert digest({"a": 1}) != digest({"a": 2})


def test_why_stale_names_the_parameter():
    old = {"params": {"epochs": 1, "lr": 0.1}, "code": "a", "seed": 0}
    new = {"params": {"epochs": 2, "lr": 0.1}, "code": "b", "seed": 0}
    assert why_stale(old, new) == ["epochs: 1 -> 2", "code changed"]


CALLS: list[str] = []


def counter(ctx) -> Section:
    CALLS.append(ctx.params["n"])
    if ctx.params["n"] < 0:
        raise KeyboardInterrupt  # what Ctrl-C looks like in the middle of training
    (ctx.files / "half.bin").write_bytes(b"x")
    return Section(title="counter", items=[Metric(title="n", value=ctx.params["n"])])


@pytest.fixture(autouse=True)
def registered_counter():
    """A throwaway experiment, registered for these tests only (other tests walk the registry)."""
    from reportgen import registry

    experiment(task=5, id="test-counter", title="Counts its runs", params={"n": 1})(counter)
    yield
    registry._REGISTRY.pop("test-counter", None)


def _build(tmp_path: Path, n: int, rerun: bool = False):
    toml = tmp_path / "rg.toml"
    toml.write_text(f'dataset = "digits"\n[experiments.test-counter]\nn = {n}\n')
    config = load_config(toml)
    cache = Cache(tmp_path / "cache")
    exps = [e for e in select(load_experiments(), [5]) if e.id == "test-counter"]
    planned = plan(exps, config, resolve_config_dataset(config), cache)
    return planned, run_planned(planned, config, resolve_config_dataset(config), cache, rerun=rerun)


def test_cached_result_is_reused_and_changed_param_reruns(tmp_path):
    CALLS.clear()
    _, first = _build(tmp_path, 1)
    planned, second = _build(tmp_path, 1)
    assert CALLS == [1] and planned[0].state == "cached"
    assert second["test-counter"].section == first["test-counter"].section
    planned, third = _build(tmp_path, 2)
    assert CALLS == [1, 2] and planned[0].state == "stale" and planned[0].reasons == ["n: 1 -> 2"]
    assert third["test-counter"].section.metrics() == {"n": 2}
    _build(tmp_path, 2, rerun=True)
    assert CALLS == [1, 2, 2]


def test_interrupted_run_leaves_no_entry(tmp_path):
    _build(tmp_path, 1)
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "cache").rglob("*"))
    with pytest.raises(KeyboardInterrupt):
        _build(tmp_path, -1)
    after = sorted(p.relative_to(tmp_path) for p in (tmp_path / "cache").rglob("*") if ".tmp" not in p.parts)
    assert after == [p for p in before if ".tmp" not in p.parts]
    latest = json.loads((tmp_path / "cache" / "test-counter" / "latest.json").read_text())
    assert Cache(tmp_path / "cache").load("test-counter", latest["key"]).section.metrics() == {"n": 1}

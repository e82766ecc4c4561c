"""Task 2 end to end (quick profile, digits): every ablation has curves, a pinned table, a
sentence whose numbers are the table's, and a checkpoint that reproduces its accuracy."""

import re
import tempfile
from pathlib import Path

import pytest
import torch
from pypdf import PdfReader

from reportgen.cache import Cache
from reportgen.registry import load_experiments
from reportgen.results import Curves, Metric, Table


TASK2 = sorted(e.id for e in load_experiments().values() if e.task == 2)


@pytest.fixture(scope="module")
def task2(built) -> Path:
    return built["root"]


def entry(root: Path, exp_id: str):
    return Cache(root / ".reportgen" / "cache").latest(exp_id)


@pytest.mark.parametrize("exp_id", TASK2)
def test_ablation_has_curves_and_pinned_table(task2, exp_id):
    section = entry(task2, exp_id).section
    curves = [i for i in section.items if isinstance(i, Curves)]
    tables = [i for i in section.items if isinstance(i, Table)]
    assert [c.ylabel for c in curves] == ["accuracy (%)", "cross-entropy loss"]
    table = tables[0]
    assert table.highlight == [0]
    assert table.columns[:2] == ["variant", "settings"] and "test loss" in table.columns
    variants = [row[0] for row in table.rows]
    assert len(variants) >= 2
    for variant in variants:  # a train and a validation curve per variant, one point per epoch
        assert {f"{variant} · train", f"{variant} · val"} <= set(curves[0].series)
    assert all(len(v) == len(curves[0].x) for v in curves[0].series.values())


@pytest.mark.parametrize("exp_id", TASK2)
def test_sentence_numbers_come_from_the_table(task2, exp_id):
    section = entry(task2, exp_id).section
    table = next(i for i in section.items if isinstance(i, Table))
    val_column = table.columns.index("val acc")
    vals = {row[val_column].split(" ")[0] for row in table.text_rows()}
    quoted = set(re.findall(r"(\d+\.\d\d)%", table.caption))
    assert quoted and quoted <= vals
    base = next(m for m in section.items if isinstance(m, Metric) and m.title.startswith("val accuracy"))
    assert f"{base.value:.2f}" == table.text_rows()[0][val_column].split(" ")[0]


def test_batch_norm_sentence_uses_first_epoch(task2):
    section = entry(task2, "t2-batch-norm").section
    acc = next(i for i in section.items if isinstance(i, Curves) and i.ylabel.startswith("accuracy"))
    first = f"{acc.series['with BN · val'][0]:.2f}%"
    assert f"reached {first} after 1 epoch" in section.summary


def test_checkpoint_reproduces_the_baseline_accuracy(task2):
    from reportgen.data.sources import resolve_dataset
    from reportgen.data.splits import make_splits
    from reportgen.nn.spec import build_model
    from reportgen.nn.train import evaluate

    found = entry(task2, "t2-l2")
    saved = torch.load(found.files / "model.pt", weights_only=False)
    params = found.inputs["params"]
    data = make_splits(resolve_dataset("digits"), train_size=params["train_size"], val_size=params["val_size"],
                       test_size=params["test_size"], seed=0)  # fmt: skip
    model = build_model(saved["layers"], data.image_shape, data.num_classes, saved["activation"])
    model.load_state_dict(saved["state_dict"])
    table = next(i for i in found.section.items if isinstance(i, Table))
    val = table.text_rows()[0][table.columns.index("val acc")]
    assert f"{100 * evaluate(model, data.val).acc:.2f}" == val


def test_deck_and_report_show_every_ablation(task2):
    deck = " ".join(p.extract_text() for p in PdfReader(task2 / "output" / "deck.pdf").pages)
    report = " ".join(p.extract_text() for p in PdfReader(task2 / "output" / "report.pdf").pages)
    for exp in (e for e in load_experiments().values() if e.task == 2):
        assert exp.title.split(" (")[0] in report
        assert (exp.title.split(" (")[0] in deck) == exp.in_talk  # the talk shows the central questions
    assert "Training ablations" in deck


def test_talk_deck_for_tasks_1_and_2_fits_fifteen_slides(task2):
    reader = PdfReader(task2 / "output" / "deck.pdf")
    html = (task2 / "output" / "deck.html").read_text()
    assert len(reader.pages) == html.count('<section class="slide') <= 15
    text = " ".join(p.extract_text() for p in reader.pages)
    assert "± one standard deviation" not in text  # one seed on the quick profile: no spread claimed
    assert "epoch(s)" not in text and "measured faster" not in text


def test_ablations_sharing_the_baseline_train_it_once_with_the_same_numbers(tmp_path, monkeypatch):
    """t2-l2 after t2-batch-norm in one process: the baseline (same settings, seeds and data) is
    not trained again, and its runs are the ones a fresh training gives; a changed setting trains."""
    from reportgen.data.sources import resolve_dataset
    from reportgen.experiments import _ablation
    from reportgen.nn import train
    from reportgen.nn.train import Progress
    from reportgen.runner import Context

    registry, digits = load_experiments(), resolve_dataset("digits")
    small = {"train_size": 200, "val_size": 100, "test_size": 100, "epochs": 1, "seeds": 1}

    def run(exp_id: str, **changes):
        exp = registry[exp_id]
        files = Path(tempfile.mkdtemp(dir=tmp_path))
        ctx = Context(exp=exp, params=exp.resolve("quick", {**small, **changes}), seed=0, device_name="cpu",
                      dataset=digits, files=files, progress=Progress())  # fmt: skip
        return exp.fn(ctx).data["variants"]

    calls = []
    real_fit = train.fit
    monkeypatch.setattr(train, "fit", lambda *a, **k: calls.append(k["label"]) or real_fit(*a, **k))
    monkeypatch.setattr(_ablation, "_FITS", {})
    bn = run("t2-batch-norm")
    l2 = run("t2-l2")
    assert [c.split(": ")[1] for c in calls] == ["without BN (seed 0)", "with BN (seed 0)", "L2 0.001 (seed 0)"]
    assert l2[0]["runs"] == bn[0]["runs"]  # t2-l2's baseline is t2-batch-norm's
    _ablation._FITS.clear()

    def numbers(runs):  # everything but the wall time of each epoch
        return [{**r, "history": {k: v for k, v in r["history"].items() if k != "seconds"}} for r in runs]

    assert numbers(run("t2-l2")[0]["runs"]) == numbers(l2[0]["runs"])  # trained afresh: the same numbers
    calls.clear()
    run("t2-l2", epochs=2)
    assert len(calls) == 2  # another setting: both variants train

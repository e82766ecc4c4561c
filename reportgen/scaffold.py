"""`reportgen init`: a new project's commented reportgen.toml, writeup/ examples and an example
experiment, written without ever replacing a file that is already there.

The texts are strings in this module, not data files, so that they ship in the wheel with the
code and cannot go missing from an install.
"""

from __future__ import annotations

from pathlib import Path

from reportgen import quotes
from reportgen.errors import ReportgenError

__all__ = ["FILES", "scaffold"]

CONFIG = """\
# reportgen.toml: the settings of this project. `reportgen build` reads it from the folder it
# runs in (or --config PATH). Every key is optional: one left out, or commented out with #,
# takes its default (shown after "default:" or, where none is named, the value written).
# A misspelt key is an error that names it. Paths are relative to this file's folder.

# --- The title slide and the report's cover -------------------------------------------------
title = "Deep Learning for Computer Vision"
course = "DL4CV"                          # written above the title
team = ["First Author", "Second Author"]  # one string per person
# date = "2026-11-25"                     # the day of the talk; default: the day you build
# institution = "Your University"         # under the team names

# --- The look -------------------------------------------------------------------------------
# accent = "#1f6feb"                      # colour of titles, rules and highlights (#rrggbb or #rgb)
# logo = "theme/logo.png"                 # a picture in this folder: title slide and cover
# theme = "theme"                         # a folder whose CSS files and templates replace the
                                          # built-in ones of the same name (deck.css, report.css,
                                          # deck.html.j2, ...); absent: the built-in look

# --- Data -----------------------------------------------------------------------------------
dataset = "fashion-mnist"   # fashion-mnist | mnist | cifar10 | cifar100 | svhn | digits |
                            # folder:PATH (one sub-folder of images per class)
# data_root = "/data"       # looked in first (idx files, or torchvision's layout)
fallback = "digits"         # Fashion-MNIST not installed: "digits" (scikit-learn's 8x8 digits,
                            # with a notice on the title slide) or "none" (stop with an error)
# download = false          # true: torchvision may download a missing dataset (needs the network)
# image_size = 64           # folder datasets are resized to this many pixels a side; when set,
                            # every experiment trains at this size (Task 1 and 2 follow the data:
                            # its size, channels and classes; `reportgen data` shows them)

# --- How the experiments run ----------------------------------------------------------------
profile = "standard"        # quick: seconds, to try things out | standard: real accuracies on a
                            # laptop CPU in minutes | full: whole datasets, for a GPU
seed = 0                    # the same seed gives the same numbers
# device = "auto"           # auto (CUDA or MPS when present, else the CPU) | cpu | cuda | mps
# threads = 2               # CPU threads; default: the physical cores

# --- Your own material ----------------------------------------------------------------------
# writeup = "writeup"               # your text in Markdown with live numbers (writeup/README.md)
# experiments_dir = "experiments"   # your experiments in Python (see experiments/example.py)
# builtin_variants = true           # false: your Task 1 variants ([variants.NAME] below)
                                    # instead of ours

# disabled = ["t2-l2", "occlusion"]  # experiments neither run nor shown (ids: `reportgen list`)

# Tables ([name]) come last: a key under a table header belongs to that table.

# --- The deck: a 12-minute talk (+ 3 for questions) -----------------------------------------
# The deck holds about one slide per experiment.
# [deck]
# mode = "talk"             # talk: one slide per experiment | full: a slide per table and figure
# show = [1, "arch-baseline", "arch-comparison", 2]
#                           # tasks (number or name) and experiment ids on slides, in this order;
#                           # default: every task and experiment that was built
# appendix = false          # true: the experiments left out of the talk as slides at the end
# dividers = true           # false: no divider slide before each task
# max_slides = 14           # your course's limit: a longer deck warns (fails with --strict)
# minutes = 12              # the talk's length: the speaker view (S in deck.html) counts down from it

# --- The report: everything by default --------------------------------------------------------
# [report]
# show = [1, "t2-optimizers", 3]    # what it holds, in this order
# max_pages = 12            # your course's limit: a longer report warns, naming its longest sections

# --- Your course's names for the tasks --------------------------------------------------------
# [tasks.1]                 # by number or name (architecture, training, visualisation, ...)
# label = "Part A"          # heads its slides, numbers its sections and figures (A.1, Figure A.2)
# title = "Architecture"

# --- Task 1: your own architecture variants, without Python ---------------------------------
# Each [variants.NAME] is trained like the built-in variants and joins the comparison table
# and the accuracy-against-parameters plot; NAME is its id (for writeup/NAME.md and
# {{ NAME.test accuracy }}).
# Layers: conv32 (3x3, no padding), conv64 k5 same bn, pool, gap, dropout0.25, fc128; the
# classifier is appended.
#
# Any parameter of arch-baseline may be set here too (epochs, lr, image_size, ...);
# `reportgen show arch-baseline` lists them with their values and where each came from.
#
# [variants.arch-narrow]
# title = "Narrow: 16 and 32 filters"
# layers = ["conv16", "conv32", "pool", "dropout0.25", "fc128", "dropout0.5"]

# --- Changing a built-in experiment ---------------------------------------------------------
# [experiments.ID] sets its parameters (ids and parameters: `reportgen list`); changing one
# re-runs that experiment and what reads its results, nothing else.
#
# [experiments.arch-baseline]       # e.g. the course's baseline: 263,418 parameters on 28x28
# title = "Course baseline"
# layers = ["conv32", "conv32 same", "pool", "conv16", "fc128"]
# epochs = 5
"""

WRITEUP_README = """\
# Your write-up

The Markdown files in this folder are your own words in the deck and the report. A file's
name says where it goes:

| file | where it goes |
|---|---|
| `intro.md` | after the title slide, and before Task 1 in the report |
| `task1.md` ... `task5.md` (or `task-architecture.md`, `task-training.md`, ...) | at the start of that task |
| `<experiment id>.md`, e.g. `arch-baseline.md` | with that experiment (ids: `reportgen list`) |
| `conclusions.md` | after the last task |

This README is ignored; any other name is an error that lists the allowed ones.

**Slides.** A rule, `---` on a line of its own with a blank line above it, starts a new
slide. A slide's first heading is its title. The report shows the slides one after another.

**Speaker notes.** A block between `::: notes` and `:::` is the notes of the slide it is in:
shown in the deck's speaker view (press S in `output/deck.html`), never on the slide, in the
report or in a PDF. In `<experiment id>.md` the first slide's notes go with the result slide.

**Live numbers.** `{{ arch-baseline.test accuracy }}` writes the stored value, formatted as in
the tables (e.g. 88.48 %); `{{ arch-wider.test accuracy - arch-baseline.test accuracy }}`
writes the difference (e.g. +0.71 points). The part before the dot is an experiment id, the
part after it a metric's name in the experiment's record (Task 4: `{{ t4-comparison.best test
accuracy }}`) or its title as the slides show it. Any number of a table is quoted as
`{{ id.ROW.COLUMN }}` (the row's first cell, then the column title: `{{ t2-optimizers.sgd.val
acc }}`) and a curve's last point as `{{ id.SERIES.final }}` (`{{ t2-optimizers.adam ·
validation.final }}`; "·" may be written as a space). A misspelt name stops the build and
names the closest ones; a result that is out of date is marked "(stale)" and one that was not
computed yet "[missing result]", with a warning. In `code` nothing is replaced.
`reportgen names` prints every name; the list at the end of this file is rewritten by each
build and render (delete the two marker lines to keep your own text there instead).

**Pictures.** `![A caption](figures/confusion.png)`, relative to the Markdown file and inside
the project folder: PNG, JPEG, GIF, SVG or WebP. Web addresses are not allowed (nothing is
downloaded when the PDF is made). HTML tags are shown as text.

## Numbers you can quote

{BEGIN}
No results are stored yet: run `reportgen build` first.
{END}
"""

# The list of quotable names is kept up to date between these markers (reportgen.quotes).
WRITEUP_README = WRITEUP_README.replace("{BEGIN}", quotes.BEGIN).replace("{END}", quotes.END)

INTRO = """\
# What we set out to do

We train small convolutional networks and ask what each design choice buys: accuracy,
parameters and training time.

- The baseline reaches {{ arch-baseline.test accuracy }} on the test set
- with {{ arch-baseline.parameters }} parameters.

---

# How we measured

Every number in these slides is read from a stored result: change a setting, rebuild, and the
text follows.

::: notes
Say where the numbers come from before showing any of them.
:::
"""

TASK1 = """\
# Architectures: what we changed

We started from the baseline and changed one thing at a time: fewer or more convolutions, a
wider fully connected layer, depth with batch normalisation, wider filters.

---

# Wider or deeper?

- Wider filters changed test accuracy by
  {{ arch-wider.test accuracy - arch-baseline.test accuracy }} against the baseline,
- at {{ arch-wider.parameters }} parameters instead of {{ arch-baseline.parameters }}.
"""

BASELINE = """\
# Our baseline

Two convolutions, one pooling layer and one hidden dense layer: {{ arch-baseline.parameters }}
parameters, most of them in the dense layer after flattening.

One epoch took {{ arch-baseline.epoch time }}; the training accuracy of
{{ arch-baseline.train accuracy }} against {{ arch-baseline.test accuracy }} on the test set shows
how far it fits the training images.
"""

CONCLUSIONS = """\
# What we learned

1. The baseline already reaches {{ arch-baseline.test accuracy }}.
2. Wider filters gain {{ arch-wider.test accuracy - arch-baseline.test accuracy }} for
   {{ arch-wider.parameters - arch-baseline.parameters }} parameters.
3. Going deeper with batch normalisation gives {{ arch-deeper.test accuracy }}.

---

# Questions?
"""

EXAMPLE_EXPERIMENT = '''\
"""An experiment of this project, to copy and change: a Task 1 variant written in Python.

reportgen loads every module in this folder (`experiments_dir` in reportgen.toml) from its file,
so its name cannot clash with an installed package. @experiment registers a function the way
the built-in experiments are registered: `reportgen list` shows it, `reportgen build --task 1`
runs it (and again only when this file or its parameters change), the report shows what it
returns, and the write-up can quote its metrics: {{ own-residual.test accuracy }}.

A layer list in reportgen.toml ([variants.NAME]) is enough for a plain stack of layers; Python
is for what a list cannot say, here a skip connection (the idea behind ResNet).
Delete this file if you do not want it.
"""

# Only reportgen's plain-data modules at the top: the deliverables are rendered without torch.
from reportgen.experiments.task1_architecture import TRAINING
from reportgen.registry import experiment
from reportgen.results import Curves, Metric, Section


@experiment(
    task=1,
    id="own-residual",  # unique and stable: it names the stored result and writeup/own-residual.md
    title="A residual block",
    # Defaults; each can be changed in reportgen.toml under [experiments.own-residual].
    params={
        # Task 1's sizes, epochs and recipe, so that the comparison compares architectures, not training.
        **TRAINING,
        "width": 32,
    },
    tags=("architecture",),  # joins the Task 1 comparison table and plot
)
def residual(ctx) -> Section:
    """Trains a small CNN with one residual block; returns its key numbers and curves."""
    import torch
    from torch import nn

    from reportgen.nn.train import TrainSettings, fit

    data = ctx.data()  # normalised tensors at image_size: data.train, data.val, data.test
    width = ctx.params["width"]

    def conv_bn(channels: int) -> list[nn.Module]:
        return [nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)]

    class Residual(nn.Module):
        """relu(x + f(x)): the block learns a correction to its input; deep nets stay trainable."""

        def __init__(self, channels: int) -> None:
            super().__init__()
            self.body = nn.Sequential(*conv_bn(channels), nn.ReLU(), *conv_bn(channels))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(x + self.body(x))

    model = nn.Sequential(
        nn.Conv2d(data.image_shape[0], width, 3, padding=1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.MaxPool2d(2),
        Residual(width),
        nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width, data.num_classes),
    )
    result = fit(
        model, data, TrainSettings.from_params(ctx.params),
        seed=ctx.seed, device=ctx.device, progress=ctx.progress, label=ctx.exp.id,
    )  # fmt: skip
    params = sum(p.numel() for p in model.parameters())
    epochs = list(range(1, len(result.history) + 1))
    # The same metric titles as the built-in variants: the comparison reads them by name.
    return Section(
        title=ctx.exp.title,
        summary=f"{params:,} parameters; test accuracy {100 * result.test.acc:.2f} % after "
        f"{len(epochs)} epoch{'s' if len(epochs) != 1 else ''}.",
        items=[
            Metric(title="parameters", value=params, fmt="{:,.0f}"),
            Metric(title="test accuracy", value=100 * result.test.acc, unit="%", fmt="{:.2f}",
                   key=True),
            Metric(title="epoch time", value=result.epoch_seconds, unit="s", fmt="{:.1f}"),
            Metric(title="train accuracy", value=100 * result.train.acc, unit="%", fmt="{:.2f}"),
            Curves(
                title=f"{ctx.exp.title}: accuracy per epoch",
                caption="Training accuracy is the running mean over an epoch (batch norm in "
                "training mode); validation accuracy is measured after it.",
                x=epochs,
                series={
                    "train": [100 * a for a in result.series("train_acc")],
                    "validation": [100 * a for a in result.series("val_acc")],
                },
                roles={"train": "train", "validation": "validation"},
                ylabel="accuracy (%)",
                key=True,
            ),
        ],
    )
'''

# Relative path -> text, in the order they are written and reported.
FILES: dict[str, str] = {
    "reportgen.toml": CONFIG,
    "writeup/README.md": WRITEUP_README,
    "writeup/intro.md": INTRO,
    "writeup/task1.md": TASK1,
    "writeup/arch-baseline.md": BASELINE,
    "writeup/conclusions.md": CONCLUSIONS,
    "experiments/example.py": EXAMPLE_EXPERIMENT,
}


def scaffold(folder: Path) -> list[tuple[Path, str]]:
    """Writes the starter files into `folder` (created when missing); returns (path, "created" or
    "kept") for each, "kept" where a file of that name was already there and was left as it was.

    Raises:
        ReportgenError: `folder` is a file, or a file cannot be written.
    """
    if folder.exists() and not folder.is_dir():
        raise ReportgenError(
            f"{folder} is a file, not a folder", "give a folder for the project", 2
        )
    done: list[tuple[Path, str]] = []
    for relative, text in FILES.items():
        path = folder / relative
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # FileExistsError too: a file where the folder should be
            raise ReportgenError(
                f"cannot create the folder {path.parent}: {exc.strerror}",
                "move that file out of the way",
                2,
            ) from None
        try:
            # "x" fails when the file exists, even one created a moment ago: never a replacement.
            handle = path.open("x", encoding="utf-8")
        except FileExistsError:
            done.append((path, "kept"))
            continue
        except OSError as exc:
            raise ReportgenError(
                f"cannot write {path}: {exc.strerror}", "check the folder's permissions", 2
            ) from None
        try:
            with handle:
                handle.write(text)
        except OSError as exc:
            path.unlink(missing_ok=True)  # ours, half written: a rerun must not keep it
            raise ReportgenError(
                f"cannot write {path}: {exc.strerror}", "check the free disk space", 2
            ) from None
        done.append((path, "created"))
    return done

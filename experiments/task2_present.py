"""What readers see of Task 2: each ablation's sentence, key numbers, curves and table, built from
the records that `task2_training` stores. Runs at render time, never imports torch, and is not
part of any cache key: editing a caption, a sentence or a number format re-renders in seconds.
"""

from __future__ import annotations

from reportgen.presenting import View
from reportgen.registry import presenter
from reportgen.results import Section

from ._ablation_present import ranked, section, variants, versus


@presenter("t2-batch-size")
def batch_size(view: View) -> Section:
    results = variants(view)
    fastest = min(results, key=lambda r: r.epoch_seconds)
    slowest = max(results, key=lambda r: r.epoch_seconds)
    sentence = (
        f"An epoch took {slowest.epoch_seconds:.1f} s with {slowest.label} and "
        f"{fastest.epoch_seconds:.1f} s with {fastest.label}; validation accuracy was "
        + ", ".join(f"{r.val():.2f}% ({r.label})" for r in results) + " after the same number of epochs."
    )
    return section(view, results, sentence)


@presenter("t2-batch-norm")
def batch_norm(view: View) -> Section:
    results = variants(view)
    first = {r.label: 100 * r.curve("val_acc")[0][0] for r in results}
    n = len(results[0].curve("val_acc")[0])
    sentence = (
        f"With batch normalisation validation accuracy reached {first['with BN']:.2f}% after 1 epoch "
        f"and {results[1].val():.2f}% after {n}, against {first['without BN']:.2f}% and {results[0].val():.2f}% without."
    )
    return section(view, results, sentence)


@presenter("t2-dropout")
def dropout(view: View) -> Section:
    base, dropped = variants(view)
    sentence = (
        f"Trained on {base.train_images:,} images, the model without dropout ended with a train–validation "
        f"accuracy gap of {base.gap():.1f} points ({base.val():.2f}% validation); with dropout the gap was "
        f"{dropped.gap():.1f} points ({dropped.val():.2f}% validation)."
    )
    return section(view, [base, dropped], sentence)


@presenter("t2-augmentation")
def augmentation(view: View) -> Section:
    base, augmented = variants(view)
    sentence = (
        f"With flips, 2-pixel shifts and ±10° rotations on {base.train_images:,} training images, validation "
        f"accuracy was {augmented.val():.2f}% against {base.val():.2f}% without; the train–validation gap "
        f"went from {base.gap():.1f} to {augmented.gap():.1f} points."
    )
    return section(view, [base, augmented], sentence)


@presenter("t2-optimizers")
def optimizers(view: View) -> Section:
    results = variants(view)
    usable = ranked(results)
    best = max(usable, key=lambda r: r.val()) if usable else None
    lead = (f"{best.label} reached the best validation accuracy ({best.val():.2f}%). " if best
            else "Every optimiser diverged at its learning rate. ")  # fmt: skip
    rates = ", ".join(f"{r.label} {r.data['lr']:g}" for r in results)
    note = f"Each optimiser at a peak learning rate that suits it: {rates}."
    return section(view, results, lead + versus(results), note)


@presenter("t2-activations")
def activations(view: View) -> Section:
    results = variants(view)
    return section(view, results, versus(results))


@presenter("t2-l2")
def l2(view: View) -> Section:
    base, decayed = variants(view)
    sentence = (
        f"Weight decay {view.params['l2']:g} changed validation accuracy from {base.val():.2f}% to "
        f"{decayed.val():.2f}% and the train–validation gap from {base.gap():.1f} to {decayed.gap():.1f} points."
    )
    return section(view, [base, decayed], sentence)


@presenter("t2-depth")
def depth(view: View) -> Section:
    shallow, deep = variants(view)
    sentence = (
        f"Doubling the depth at the same width (16 filters a layer) took an epoch from {shallow.epoch_seconds:.1f} s to "
        f"{deep.epoch_seconds:.1f} s and validation accuracy from {shallow.val():.2f}% to {deep.val():.2f}%."
    )
    return section(view, [shallow, deep], sentence)

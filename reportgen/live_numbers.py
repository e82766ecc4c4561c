"""Live numbers in the student's Markdown, resolved against the stored results.

A stored result's value is written between double braces,

    The baseline reaches {{ arch-baseline.test accuracy }} on the test set.
        -> The baseline reaches 88.48 % on the test set.
    Wider filters add {{ arch-wider.test accuracy - arch-baseline.test accuracy }}.
        -> Wider filters add +0.71 points.

that is `{{ EXPERIMENT.NAME }}` or `{{ EXPERIMENT.NAME - EXPERIMENT.NAME }}`. EXPERIMENT is
an id from `reportgen list`; NAME is one of that experiment's key numbers as the slides show it
("test accuracy", "parameters", "epoch time"), a table cell as ROW.COLUMN or a curve's last point
as SERIES.final (reportgen.quotes; `reportgen names` lists them); case and extra spaces do not
matter, and a reference may wrap over two lines. The value is formatted as in the deliverables
(the metric's own precision and unit); a difference is signed, keeps the left metric's
precision and unit, and a difference of percentages is in points. The minus of a difference
needs a space on each side (experiment ids contain hyphens). Braces mean nothing else in
Markdown, so `{{` cannot clash with ordinary text; inside `code spans` and code blocks nothing
is replaced, and `\\{{` writes two literal braces.

An unknown experiment or metric stops the build with an error naming the file, the line and the
closest known names. A reference to a result that is stale shows its last stored value marked
"(stale)"; one to a result not computed yet shows "[missing result]"; both are listed in
`Writeup.warnings` for the command line to print.

Torch-free.
"""

from __future__ import annotations

import difflib
import string
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markdown_it.token import Token
from markupsafe import escape

from reportgen.errors import ReportgenError
from reportgen.quotes import Quote, find, metric_quotes, names
from reportgen.values import difference, show

STALE_FLAG = "(stale)"
MISSING_TEXT = "[missing result]"


@dataclass(frozen=True)
class WriteupWarning:
    """A live number shown from a stale result, or missing."""

    file: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def _closest(word: str, names: Iterable[str], n: int) -> list[str]:
    """Up to n names, most similar first (always some, so that a hint never comes out empty)."""
    return difflib.get_close_matches(word, list(dict.fromkeys(names)), n=n, cutoff=0.0)



def live_html(token: Token, line: int, env: Any) -> str:
    """The HTML of one live number (a `live_ref` token at `line`); `env` is the file's writeup._Env."""
    where = f"{env.shown}:{line}"
    if token.meta.get("unclosed"):
        raise ReportgenError(
            f"{where}: '{{{{' without a closing '}}}}'",
            "close it, or write \\{{ for literal braces",
            2,
        )
    expression = " ".join(token.content.split())
    shown = f"{{{{ {expression} }}}}"
    refs = [_lookup(operand, shown, where, env) for operand in _split_difference(expression)]
    for ref in refs:
        if ref.exp_id not in env.referenced:
            env.referenced.append(ref.exp_id)
    missing = next((ref for ref in refs if ref.quote is None), None)
    if missing is not None:
        message = (
            f"{shown} shows {MISSING_TEXT}: {missing.why} (run {_command(missing.exp_id, env)})"
        )
        env.warnings.append(WriteupWarning(env.shown, line, message))
        token.meta["text"] = MISSING_TEXT
        return f'<span class="ref ref-missing">{escape(MISSING_TEXT)}</span>'
    found = [ref.quote for ref in refs if ref.quote is not None]
    text = found[0].text if len(found) == 1 else _difference(found[0], found[1], shown, where)
    token.meta["text"] = text
    value = str(escape(text)).replace(" ", "&nbsp;")  # a number never wraps away from its unit
    stale = next((ref for ref in refs if ref.stale), None)
    if stale is not None:
        message = (
            f"{shown} shows the last stored value of '{stale.exp_id}', which is stale, marked "
            f"{STALE_FLAG} (run {_command(stale.exp_id, env)})"
        )
        env.warnings.append(WriteupWarning(env.shown, line, message))
        token.meta["text"] = f"{text} {STALE_FLAG}"
        return (
            f'<span class="ref ref-stale">{value} <span class="ref-flag">{STALE_FLAG}</span></span>'
        )
    return f'<span class="ref">{value}</span>'


def _command(exp_id: str, env: Any) -> str:
    exp = env.registry.get(exp_id)
    return f"reportgen build --task {exp.task}" if exp is not None else "reportgen build"


@dataclass(frozen=True)
class _Ref:
    exp_id: str
    quote: Quote | None  # None: no value to show, `why` says why
    stale: bool
    why: str = ""


def _split_difference(expression: str) -> list[str]:
    """'a.x - b.y' -> ['a.x', 'b.y']: the first ' - ' followed by something shaped like `id.`."""
    if not expression:
        return [expression]
    at = expression.find(" - ")
    while at >= 0:
        head, dot, _ = expression[at + 3 :].partition(".")
        if dot and head and " " not in head:
            return [expression[:at], expression[at + 3 :]]
        at = expression.find(" - ", at + 1)
    return [expression]


def _lookup(operand: str, shown: str, where: str, env: Any) -> _Ref:
    """The metric that 'experiment-id.metric title' names.

    Raises:
        ReportgenError: the operand is not of that shape, names an unknown experiment, or a metric
            that the experiment's (current) result does not have.
    """
    exp_id, dot, name = (part.strip() for part in operand.partition("."))
    if not dot or not exp_id or not name:
        raise ReportgenError(
            f"{where}: {shown} does not name an experiment and a metric",
            "write {{ experiment-id.metric title }}, e.g. {{ arch-baseline.test accuracy }}",
            2,
        )
    known = {i.casefold(): i for i in env.results}
    if exp_id.casefold() not in known:
        closest = _closest(exp_id, env.results, 3)
        raise ReportgenError(
            f"{where}: unknown experiment '{exp_id}' in {shown}",
            f"closest: {', '.join(closest)} (all ids: reportgen list)"
            if closest
            else "no experiments are registered",
            2,
        )
    exp_id = known[exp_id.casefold()]
    section, stale = env.results[exp_id]
    if section is None:
        return _Ref(exp_id, None, stale, f"'{exp_id}' has no stored result yet")
    quote = find(section, name)
    if quote is not None:
        return _Ref(exp_id, quote, stale)
    titles = list(dict.fromkeys(q.name for q in metric_quotes(section)))
    others = [n for n in names(section) if n not in titles]
    closest = _closest(name, titles, len(titles)) if titles else []
    closest += difflib.get_close_matches(name, others, n=3, cutoff=0.6)
    more = f" (and every table cell and curve end: reportgen names {exp_id})" if others else ""
    hint = (
        f"closest: {', '.join(closest)}{more}"
        if closest
        else f"'{exp_id}' has no metrics to reference; name an experiment with key numbers (ids: reportgen list)"
    )
    if stale:
        # An old result may predate the metric: the rebuild decides; until then it is missing.
        return _Ref(
            exp_id, None, stale, f"the stale result of '{exp_id}' has no metric '{name}' ({hint})"
        )
    raise ReportgenError(f"{where}: '{exp_id}' has no metric '{name}' in {shown}", hint, 2)


def _difference(left_quote: Quote, right_quote: Quote, shown: str, where: str) -> str:
    """'+0.71 points': signed, in the left number's precision; percentages differ in points."""
    if left_quote.value is not None and right_quote.value is not None:
        try:
            return show(difference(left_quote.value, right_quote.value))
        except ValueError as exc:
            raise ReportgenError(f"{where}: {shown} subtracts numbers in different units ({exc})",
                                 "subtract two metrics of the same kind", 2) from None
    left, right = left_quote.metric, right_quote.metric
    if left is None or right is None:
        raise ReportgenError(f"{where}: {shown} subtracts a number stored as text",
                             "subtract key numbers or table cells of results built with this version", 2)
    if left.unit != right.unit:
        units = f"'{left.unit or 'no unit'}' and '{right.unit or 'no unit'}'"
        raise ReportgenError(
            f"{where}: {shown} subtracts numbers in different units ({units})",
            "subtract two metrics of the same kind",
            2,
        )
    diff = left.value - right.value
    fmt, unit = left.fmt, left.unit
    spec = _percent_spec(fmt)
    if spec is not None:  # "{:.1%}" writes 0.887 as 88.7%: a difference of those is in points
        magnitude, unit = format(abs(diff) * 100, spec), "%"
    else:
        magnitude = fmt.format(abs(diff))
        if not unit and magnitude.endswith("%"):  # a literal "%" in the format, e.g. "{:.2f}%"
            magnitude, unit = magnitude[:-1].rstrip(), "%"
    if unit == "%":
        unit = "point" if magnitude == "1" else "points"
    sign = "" if not any(c in "123456789" for c in magnitude) else ("+" if diff > 0 else "\u2212")
    return f"{sign}{magnitude}" + (f" {unit}" if unit else "")


def _percent_spec(fmt: str) -> str | None:
    """The fixed-point spec of a format whose only field uses the '%' type, else None."""
    fields = [spec for _, name, spec, _ in string.Formatter().parse(fmt) if name is not None]
    if len(fields) == 1 and fields[0] and fields[0].endswith("%"):
        return fields[0][:-1] + "f"
    return None

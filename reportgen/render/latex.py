"""The report as a LaTeX project for Overleaf: output/latex/main.tex with its figures (vector
PDF plots, PNG image grids) and output/report-latex.zip holding the same. Booktabs tables with
right-aligned numbers, a \\label and a \\ref for every table and figure, and everything the
student or a result writes escaped."""

from __future__ import annotations

import io
import re
import shutil
import unicodedata
import zipfile
from pathlib import Path
from typing import Any

from reportgen.render.cells import cell_text, metric_text, numeric
from reportgen.render.figure_files import figure_file
from reportgen.render.html import write_atomic
from reportgen.render.prose import Style, blocks, inline
from reportgen.results import Matrix, Metric, Table, Text

_SPECIAL = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#", "_": r"\_",
    "%": r"\%", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
    # Characters pdfLaTeX's UTF-8 input does not know by default (Overleaf's default engine).
    "\u2212": r"\textminus{}", "\u00d7": r"\texttimes{}", "\u00b7": r"\textperiodcentered{}", "\u2026": r"\dots{}",
    "\u2264": r"$\leq$", "\u2265": r"$\geq$", "\u00b1": r"\textpm{}", "\u2192": r"$\rightarrow$", "\u2248": r"$\approx$",
    "\u03b1": r"$\alpha$", "\u03b2": r"$\beta$", "\u03bb": r"$\lambda$", "\u03bc": r"$\mu$", "\u03c3": r"$\sigma$",
    "\u2713": r"$\checkmark$", "\u2717": r"$\times$", "\u00a0": "~", "\u2009": r"\,", "\u202f": r"\,",
    "\u230a": r"$\lfloor$", "\u230b": r"$\rfloor$", "\u2308": r"$\lceil$", "\u2309": r"$\rceil$", "\u2260": r"$\neq$",
    "\u221e": r"$\infty$", "\u2211": r"$\sum$", "\u2208": r"$\in$", "\u221a": r"$\surd$", "\u2022": r"\textbullet{}",
    "\u25b6": r"$\blacktriangleright$", "\u2190": r"$\leftarrow$", "\u2032": r"$'$", "\u22c5": r"$\cdot$",
}  # fmt: skip
# Greek letters by name (σ -> $\sigma$); the capitals that LaTeX writes as Latin letters are left out.
_SPECIAL.update({chr(c): rf"$\{unicodedata.name(chr(c)).split()[-1].lower()}$" for c in range(0x3B1, 0x3CA) if c != 0x3BF and c != 0x3C2})
# What pdfLaTeX's inputenc and T1 know beyond ASCII: Latin-1, Latin Extended-A and typography.
_KNOWN = set(map(chr, range(0xA0, 0x180))) | set("\u2013\u2014\u2018\u2019\u201c\u201d\u201e\u2020\u2021\u20ac\u2030")
_PATTERN = re.compile("|".join(re.escape(k) for k in _SPECIAL) + "|[^\\x00-\\x7f]")
UNKNOWN = "[?]"  # a character pdfLaTeX cannot typeset (e.g. CJK): compile those with LuaLaTeX
HEADINGS = ["section", "subsection", "subsubsection", "paragraph", "subparagraph"]
PICTURES = (".png", ".jpg", ".jpeg", ".pdf")  # what pdfLaTeX includes


def escape(text: str) -> str:
    """`text` typeset as written: LaTeX's special characters and a few symbols made safe."""
    return _PATTERN.sub(_replace, text)


def _replace(match: re.Match) -> str:
    char = match.group(0)
    return _SPECIAL.get(char) or (char if char in _KNOWN else UNKNOWN)


def _aligned(column: list[str]) -> str:
    """r for a column of numbers (so their digits line up), l for text."""
    return "r" if numeric(column) else "l"


def tabular(header: list[str], rows: list[list[str]], raw: list[list[str]] | None = None) -> str:
    """A booktabs tabular of escaped cells; `raw` (the unescaped text) decides the alignment."""
    raw = raw or rows
    spec = "".join(_aligned([row[c] for row in raw]) for c in range(len(header)))
    lines = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", " & ".join(header) + r" \\", r"\midrule"]
    lines += [" & ".join(row) + r" \\" for row in rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    body = "\n".join(lines)
    return rf"\resizebox{{\linewidth}}{{!}}{{{body}}}" if len(header) > 5 else body


class _Images:
    """The student's pictures (under output/assets/writeup/) copied into latex/figures/."""

    def __init__(self, out: Path, folder: Path, written: set[Path]) -> None:
        self.out, self.folder, self.written = out, folder, written

    def __call__(self, alt: str, src: str) -> str:
        source = self.out / src
        if not source.is_file() or source.suffix.lower() not in PICTURES:
            return escape(alt)
        target = self.folder / "figures" / source.name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        self.written.add(target)
        return rf"\includegraphics[width=0.8\linewidth]{{figures/{source.name}}}"


def _item(text: str, depth: int, number: int | None) -> str:
    return rf"\item {text}"


def _style(images: _Images) -> Style:
    return Style(
        escape=escape,
        code=lambda text: rf"\texttt{{{escape(text)}}}",
        em=(r"\emph{", "}"),
        strong=(r"\textbf{", "}"),
        strike=("", ""),  # no package for it in a plain installation; the text stays
        link=lambda text, href: rf"\href{{{href.replace('%', chr(92) + '%').replace('#', chr(92) + '#')}}}{{{text}}}",
        image=images,
        heading=lambda text, level: rf"\{HEADINGS[min(level, len(HEADINGS)) - 1]}*{{{text}}}",
        item=_item,
        block_code=lambda code, language: "\\begin{verbatim}\n" + code.replace("\\end{verbatim}", "") + "\n\\end{verbatim}",
        quote=lambda text: f"\\begin{{quote}}\n{text}\n\\end{{quote}}",
        table=lambda header, rows: "\\begin{center}\n" + tabular(header, rows) + "\n\\end{center}",
        list_open=lambda ordered: r"\begin{enumerate}" if ordered else r"\begin{itemize}",
        list_close=lambda ordered: r"\end{enumerate}" if ordered else r"\end{itemize}",
    )


def _label(item: Any, block: Any, index: int) -> str:
    return f"{'tab' if item.kind == 'table' else 'fig'}:{block.id}-{index}"


def _float(item: Any, block: Any, index: int, files: Path | None, folder: Path, written: set[Path]) -> list[str]:
    """A table or figure as a float with its caption and label, and the sentence that refers to it."""
    result = item.result
    label = _label(item, block, index)
    caption = escape(result.title) + (f". {escape(result.caption)}" if result.caption else "")
    if isinstance(result, Table):
        raw = [[cell_text(c) for c in row] for row in result.rows + ([result.footer] if result.footer else [])]
        body = tabular([escape(c) for c in result.columns], [[escape(c) for c in row] for row in raw], raw)
        kind, name = "table", "Table"
    elif isinstance(result, Matrix):
        panels = []
        for panel in result.panels:
            rows = [[result.fmt.format(v) for v in row] for row in panel.values]
            grid = tabular([""] * len(rows[0]), rows) if rows else ""
            panels.append(rf"\begin{{tabular}}{{c}}{escape(panel.label)}\\ {grid}\end{{tabular}}")
        body, kind, name = "\n\\quad\n".join(panels), "figure", "Figure"  # as the HTML report numbers it
    else:
        path = figure_file(item, files, folder / "figures", f"{block.id}-{index:02d}", vector="pdf")
        if path is None:
            return []
        written.add(path)
        body = rf"\includegraphics[width=\linewidth,height=0.4\textheight,keepaspectratio]{{figures/{path.name}}}"
        kind, name = "figure", "Figure"
    placed = [rf"\caption{{{caption}}}\label{{{label}}}", body] if kind == "table" else [body, rf"\caption{{{caption}}}\label{{{label}}}"]
    return [f"{name}~\\ref{{{label}}}: {escape(result.title)}.",
            "\n".join([rf"\begin{{{kind}}}[htbp]", r"\centering", *placed, rf"\end{{{kind}}}"])]  # fmt: skip


def _block(block: Any, entries: dict, folder: Path, written: set[Path], style: Style) -> list[str]:
    lines = [rf"\subsection{{{escape(block.title)}}}\label{{sec:{block.id}}}"]
    if block.summary:
        lines.append(escape(block.summary))
    if block.writeup is not None:
        lines += blocks(block.writeup.tokens, style, shift=2)
    metrics = [i.result for i in block.items if isinstance(i.result, Metric)]
    if metrics:
        numbers = "; ".join(f"{escape(m.title)} {escape(metric_text(m))}" for m in metrics)
        lines.append(rf"\textbf{{Key numbers.}} {numbers}.")
    entry = entries.get(block.id)
    for index, item in enumerate(block.items):
        if isinstance(item.result, Text) and item.result.body != block.summary:
            lines += [escape(p) for p in item.result.body.split("\n\n")]
        elif item.shown:
            lines += _float(item, block, index, entry.files if entry else None, folder, written)
    return lines


def _abstract(writeup: Any, style: Style) -> str:
    """The introduction's first paragraph."""
    if not (writeup and writeup.intro):
        return ""
    tokens = writeup.intro.tokens
    for i, token in enumerate(tokens):
        if token.type == "inline" and i and tokens[i - 1].type == "paragraph_open" and token.level == 1:
            return inline(token.children or [], style)
    return ""


PREAMBLE = r"""\documentclass[11pt,a4paper]{article}
% Text in the PDF copies and searches as written (ligatures, symbols), also in pdftotext.
\ifdefined\pdfgentounicode\IfFileExists{glyphtounicode.tex}{\input{glyphtounicode}\pdfgentounicode=1}{}\fi
\usepackage[utf8]{inputenc}
\usepackage[T1]{fontenc}
\IfFileExists{lmodern.sty}{\usepackage{lmodern}}{}
\usepackage{textcomp,amsmath,amssymb}
\usepackage[margin=2.2cm]{geometry}
\usepackage{graphicx,booktabs}
\usepackage[hidelinks]{hyperref}
\numberwithin{figure}{section}
\numberwithin{table}{section}
"""


def _provenance(context: dict[str, Any]) -> list[str]:
    """The appendix: where every number comes from."""
    rows = [rf"\item \textbf{{{escape(b.title)}}} (\ref{{sec:{b.id}}}): {escape(b.footer)}"
            for part in context["report_parts"] for b in part.blocks]  # fmt: skip
    lines = [r"\appendix", r"\section{Provenance}",
             "Every number, table and figure in this report comes from a stored, re-runnable experiment result "
             f"(computed {escape(context['computed'])}); \\texttt{{reportgen verify}} re-runs them and checks the numbers. "
             f"Data: {escape(', '.join(context['datasets']) or 'none')}."]  # fmt: skip
    lines += [escape(notice) for notice in context["notices"]]
    if rows:
        lines.append("\\begin{itemize}\n" + "\n".join(rows) + "\n\\end{itemize}")
    return lines


def document(context: dict[str, Any], entries: dict, folder: Path, out: Path, written: set[Path]) -> str:
    """main.tex's text; the figures it names are written under `folder`/figures."""
    config, writeup = context["config"], context["writeup"]
    style = _style(_Images(out, folder, written))
    authors = r" \and ".join(escape(name) for name in config.team) or escape(config.course)
    lines = [PREAMBLE + rf"\title{{{escape(config.title)}}}", rf"\author{{{authors}}}",
             rf"\date{{{escape(config.course)}{' · ' + escape(config.institution) if config.institution else ''} \\ {escape(config.date)}}}",
             r"\begin{document}", r"\maketitle"]  # fmt: skip
    abstract = _abstract(writeup, style)
    if abstract:
        lines.append(f"\\begin{{abstract}}\n{abstract}\n\\end{{abstract}}")
    if writeup and writeup.intro:
        lines += [r"\section*{Introduction}", *blocks(writeup.intro.tokens, style, shift=1)]
    for part in context["report_parts"]:
        lines.append(rf"\section{{{escape(part.label)}: {escape(part.title)}}}\label{{sec:task-{part.number}}}")
        if part.writeup is not None:
            lines += blocks(part.writeup.tokens, style, shift=1)
        for block in part.blocks:
            lines += _block(block, entries, folder, written, style)
    if writeup and writeup.conclusions:
        lines += [r"\section{Conclusions}", *blocks(writeup.conclusions.tokens, style, shift=1)]
    lines += _provenance(context)
    lines.append(r"\end{document}")
    return "\n\n".join(lines) + "\n"


def write_latex(context: dict[str, Any], entries: dict, out: Path) -> tuple[Path, Path]:
    """Writes out/latex/ (main.tex, figures/) and out/report-latex.zip (publishing removes older
    figures)."""
    folder = out / "latex"
    written: set[Path] = set()
    main = folder / "main.tex"
    write_atomic(main, document(context, entries, folder, out, written))
    written.add(main)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(written):
            # A fixed date: the same report gives the same archive.
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=(2000, 1, 1, 0, 0, 0))
            archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    archive_path = out / "report-latex.zip"
    write_atomic(archive_path, buffer.getvalue())
    return main, archive_path

"""The report as a GitHub page: output/README.md with its figures (PNG at 2x) in
output/readme-assets/, tables as GitHub Markdown tables, the student's words, how to reproduce."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from reportgen.render.cells import cell_text, metric_text
from reportgen.render.figure_files import figure_file
from reportgen.render.html import write_atomic
from reportgen.render.prose import Style, blocks
from reportgen.results import Matrix, Metric, Table, Text

ASSETS = "readme-assets"
_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def escape(text: str) -> str:
    """Text that Markdown shows as written (no emphasis, links or HTML made of it)."""
    return _SPECIAL.sub(r"\\\1", text)


def table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub table; cells are already escaped text."""
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(c.replace("\n", " ") for c in line) + " |" for line in lines)


class _Images:
    """Copies the student's pictures (already under output/assets/writeup/) into readme-assets/."""

    def __init__(self, out: Path, written: set[Path]) -> None:
        self.out, self.written = out, written

    def __call__(self, alt: str, src: str) -> str:
        source = self.out / src
        if not source.is_file():
            return escape(alt)
        target = self.out / ASSETS / source.name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        self.written.add(target)
        return f"![{alt}]({ASSETS}/{source.name})"


def _style(images: _Images) -> Style:
    return Style(
        escape=escape,
        code=lambda text: f"`{text}`" if "`" not in text else f"`` {text} ``",
        em=("*", "*"),
        strong=("**", "**"),
        strike=("~~", "~~"),
        link=lambda text, href: f"[{text}]({href})",
        image=images,
        heading=lambda text, level: "#" * min(6, level) + " " + text,
        item=lambda text, depth, number: "   " * (depth - 1) + (f"{number}. " if number is not None else "- ") + text,
        block_code=lambda code, language: f"```{language}\n{code}\n```",
        quote=lambda text: "\n".join("> " + line for line in text.splitlines()),
        table=table,
    )


def _item(item: Any, files: Path | None, out: Path, written: set[Path], stem: str) -> list[str]:
    """One result as Markdown blocks."""
    result = item.result
    caption = escape(f"{item.number}: {result.title}" if item.number else result.title)
    if isinstance(result, Metric):
        return [f"- **{escape(result.title)}**: {escape(metric_text(result))}"]
    if isinstance(result, Text):
        return [escape(p) for p in result.body.split("\n\n")]
    if isinstance(result, Table):
        rows = [[escape(cell_text(c)) for c in row] for row in result.rows]
        if result.footer:
            rows.append([escape(cell_text(c)) for c in result.footer])
        head = [f"**{caption}**"] + ([escape(result.caption)] if result.caption else [])
        return head + [table([escape(c) for c in result.columns], rows)]
    if isinstance(result, Matrix):
        parts = [f"**{caption}**"]
        for panel in result.panels:
            rows = [[escape(result.fmt.format(v)) for v in row] for row in panel.values]
            parts += [f"*{escape(panel.label)}*", table([""] * len(rows[0]), rows) if rows else ""]
        return parts
    path = figure_file(item, files, out / ASSETS, stem)
    if path is None:
        return []
    written.add(path)
    text = f"*{caption}.*" + (f" {escape(result.caption)}" if result.caption else "")
    return [f"![{caption}]({ASSETS}/{path.name})", text]


def _block(block: Any, entries: dict, out: Path, written: set[Path], style: Style) -> list[str]:
    lines = [f"### {escape(block.title)}"]
    if block.summary:
        lines.append(escape(block.summary))
    if block.writeup is not None:
        lines += blocks(block.writeup.tokens, style, shift=3)
    entry = entries.get(block.id)
    metrics = [i for i in block.items if isinstance(i.result, Metric)]
    if metrics:
        lines.append("\n".join(_item(i, None, out, written, "")[0] for i in metrics))
    for index, item in enumerate(i for i in block.items if not isinstance(i.result, Metric)):
        if isinstance(item.result, Text) and item.result.body == block.summary:
            continue
        lines += _item(item, entry.files if entry else None, out, written, f"{block.id}-{index:02d}")
    lines.append(f"<sub>{escape(block.footer)}</sub>")
    return lines


def _reproduce(context: dict[str, Any]) -> list[str]:
    tasks = ",".join(str(p.number) for p in context["report_parts"])
    profiles = [p for p in context["profiles"] if p]
    profile = f" --profile {profiles[0]}" if len(profiles) == 1 else ""
    return [
        "## How to reproduce",
        "Every number and figure here comes from a stored, re-runnable experiment result "
        f"(computed {escape(context['computed'])}). In this folder's project:",
        f"```sh\nreportgen build --task {tasks}{profile}\nreportgen verify\n```",
        "`reportgen build` re-runs what is missing and renders the deliverables; `reportgen verify` "
        "re-runs the experiments and checks that the stored numbers come out again.",
    ]


def write_readme(context: dict[str, Any], entries: dict, out: Path) -> Path:
    """Writes out/README.md and out/readme-assets/ (publishing removes older files there)."""
    config, writeup = context["config"], context["writeup"]
    written: set[Path] = set()
    style = _style(_Images(out, written))
    lines = [f"# {escape(config.title)}", escape(config.course + (f" · {config.institution}" if config.institution else "")
                                                 + f" · {config.date}")]  # fmt: skip
    if config.team:
        lines += ["## Team", "\n".join(f"- {escape(name)}" for name in config.team)]
    lines.append(f"Data: {escape(', '.join(context['datasets']) or 'no results yet')}")
    lines += [f"> {escape(notice)}" for notice in context["notices"]]  # e.g. the quick profile's caveat
    if writeup and writeup.intro:
        lines += ["## Introduction", *blocks(writeup.intro.tokens, style, shift=2)]
    for part in context["report_parts"]:
        lines.append(f"## {escape(part.label)}: {escape(part.title)}")
        if part.writeup is not None:
            lines += blocks(part.writeup.tokens, style, shift=2)
        for block in part.blocks:
            lines += _block(block, entries, out, written, style)
    if writeup and writeup.conclusions:
        lines += ["## Conclusions", *blocks(writeup.conclusions.tokens, style, shift=2)]
    lines += _reproduce(context)
    path = out / "README.md"
    write_atomic(path, "\n\n".join(lines) + "\n")
    return path

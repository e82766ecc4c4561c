"""The student's Markdown (markdown-it tokens, see reportgen.writeup.Place.tokens) written out as
LaTeX, GitHub Markdown or plain paragraphs for PowerPoint: one walk over the tokens, the target's
syntax in a small `Style`. Live numbers arrive resolved in each live_ref token's meta["text"]."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from markdown_it.token import Token


@dataclass
class Style:
    """How one target writes what Markdown marks."""

    escape: Callable[[str], str]
    code: Callable[[str], str]
    em: tuple[str, str]
    strong: tuple[str, str]
    strike: tuple[str, str]
    link: Callable[[str, str], str]  # (text, href)
    image: Callable[[str, str], str]  # (alt, src)
    heading: Callable[[str, int], str]  # (text, level as written, 1 = '#')
    item: Callable[[str, int, int | None], str]  # (text, depth, number or None)
    block_code: Callable[[str, str], str]  # (code, language)
    quote: Callable[[str], str]
    table: Callable[[list[str], list[list[str]]], str]
    list_open: Callable[[bool], str] = lambda ordered: ""
    list_close: Callable[[bool], str] = lambda ordered: ""


def inline(children: list[Token], style: Style) -> str:
    """One paragraph's or heading's inline tokens as the target's text."""
    out: list[str] = []
    link: list[Any] = []  # open links: (href, where its text starts in out)
    for token in children:
        kind = token.type
        if kind == "text":
            out.append(style.escape(token.content))
        elif kind in ("softbreak", "hardbreak"):
            out.append(" " if kind == "softbreak" else "\n")
        elif kind == "code_inline":
            out.append(style.code(token.content))
        elif kind == "live_ref":
            out.append(style.escape(token.meta.get("text", "")))
        elif kind in ("em_open", "strong_open", "s_open"):
            out.append(getattr(style, kind[:-5] if kind != "s_open" else "strike")[0])
        elif kind in ("em_close", "strong_close", "s_close"):
            out.append(getattr(style, kind[:-6] if kind != "s_close" else "strike")[1])
        elif kind == "link_open":
            link.append((str(token.attrGet("href") or ""), len(out)))
        elif kind == "link_close" and link:
            href, start = link.pop()
            text = "".join(out[start:])
            del out[start:]
            out.append(style.link(text, href))
        elif kind == "image":
            alt = inline(token.children or [], _PLAIN)
            out.append(style.image(alt, str(token.attrGet("src") or "")))
        else:  # html_inline (escaped by the writeup's settings) and anything new: its text
            out.append(style.escape(token.content))
    return "".join(out)


def blocks(tokens: list[Token], style: Style, shift: int = 0) -> list[str]:
    """The tokens as the target's blocks (paragraphs, headings, list items, code, tables)."""
    out: list[str] = []
    lists: list[list[int | None]] = []  # per open list: the next number, or None for bullets
    quote_from: list[int] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        kind = token.type
        if kind == "heading_open":
            level = token.meta.get("level", int(token.tag[1])) + shift
            out.append(style.heading(inline(tokens[i + 1].children or [], style), level))
            i += 3
            continue
        if kind in ("bullet_list_open", "ordered_list_open"):
            ordered = kind == "ordered_list_open"
            out.append(style.list_open(ordered))
            lists.append([int(token.attrGet("start") or 1) if ordered else None])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            out.append(style.list_close(kind == "ordered_list_close"))
        elif kind == "inline":
            text = inline(token.children or [], style)
            opened = tokens[i - 1] if i else None
            if lists and opened is not None and opened.type == "paragraph_open" and _first_in_item(tokens, i):
                number = lists[-1][0]
                out.append(style.item(text, len(lists), number))
                if number is not None:
                    lists[-1][0] = number + 1
            else:
                out.append(text)
        elif kind in ("fence", "code_block"):
            out.append(style.block_code(token.content.rstrip("\n"), token.info.strip()))
        elif kind == "blockquote_open":
            quote_from.append(len(out))
        elif kind == "blockquote_close" and quote_from:
            start = quote_from.pop()
            text = "\n\n".join(part for part in out[start:] if part)
            del out[start:]
            out.append(style.quote(text))
        elif kind == "table_open":
            i = _table(tokens, i, style, out)
        i += 1
    return [part for part in out if part != ""]


def _first_in_item(tokens: list[Token], i: int) -> bool:
    """Whether the paragraph at i (its inline token) is the first of a list item."""
    return i >= 2 and tokens[i - 2].type == "list_item_open"


def _table(tokens: list[Token], i: int, style: Style, out: list[str]) -> int:
    """Reads a Markdown table from table_open at i; returns the index of its table_close."""
    header: list[str] = []
    rows: list[list[str]] = []
    in_head = False
    while tokens[i].type != "table_close":
        kind = tokens[i].type
        if kind == "thead_open":
            in_head = True
        elif kind == "thead_close":
            in_head = False
        elif kind == "tr_open" and not in_head:
            rows.append([])
        elif kind == "inline":
            (header if in_head else rows[-1]).append(inline(tokens[i].children or [], style))
        i += 1
    out.append(style.table(header, rows))
    return i


def _plain_table(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(" | ".join(row) for row in [header, *rows])


_PLAIN = Style(
    escape=lambda text: text,
    code=lambda text: text,
    em=("", ""),
    strong=("", ""),
    strike=("", ""),
    link=lambda text, href: text,
    image=lambda alt, src: alt,
    heading=lambda text, level: text,
    item=lambda text, depth, number: ("  " * (depth - 1)) + (f"{number}. " if number is not None else "• ") + text,
    block_code=lambda code, language: code,
    quote=lambda text: text,
    table=_plain_table,
)


def plain(tokens: list[Token], with_tables: bool = True) -> list[str]:
    """Paragraphs of plain text (list items marked with • or their number), for PowerPoint;
    tables as lines of cells, or left out (`with_tables=False`, see `tables`)."""
    if with_tables:
        return blocks(tokens, _PLAIN)
    return [part for part in blocks(tokens, replace(_PLAIN, table=lambda header, rows: "")) if part]


def tables(tokens: list[Token]) -> list[tuple[list[str], list[list[str]]]]:
    """The Markdown tables among `tokens` as (header, rows) of plain text."""
    found: list[tuple[list[str], list[list[str]]]] = []

    def keep(header: list[str], rows: list[list[str]]) -> str:
        found.append((header, rows))
        return ""

    blocks(tokens, replace(_PLAIN, table=keep))
    return found


def plain_inline(children: list[Token]) -> str:
    return inline(children, _PLAIN)

"""Formatting helpers shared by the task modules (numbers as a reader wants them)."""

from __future__ import annotations


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def count(n: float) -> str:
    return f"{int(n):,}"


def shape(s: tuple[int, ...] | list[int]) -> str:
    return "×".join(str(d) for d in s)


def plural(n: int, word: str, many: str = "") -> str:
    """'1 epoch', '3 epochs'."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"

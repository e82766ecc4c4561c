"""Worked CNN arithmetic in plain Python (no torch), so each step can be shown and checked."""

from __future__ import annotations

import math


def pad(image: list[list[float]], p: int) -> list[list[float]]:
    """Zero-pads a 2-D grid by p cells on every side."""
    width = len(image[0]) + 2 * p
    rows = [[0.0] * width for _ in range(p)]
    rows += [[0.0] * p + [float(v) for v in row] + [0.0] * p for row in image]
    return rows + [[0.0] * width for _ in range(p)]


def conv2d_by_hand(
    image: list[list[float]], kernel: list[list[float]], padding: int = 0, stride: int = 1
) -> tuple[list[list[float]], list[list[str]]]:
    """Cross-correlation (what CNN layers compute) and, for each output cell, its sum written out."""
    padded = pad(image, padding)
    k = len(kernel)
    out_h = (len(padded) - k) // stride + 1
    out_w = (len(padded[0]) - k) // stride + 1
    values, terms = [], []
    for i in range(out_h):
        row_v, row_t = [], []
        for j in range(out_w):
            total, parts = 0.0, []
            for a in range(k):
                for b in range(k):
                    w, x = kernel[a][b], padded[i * stride + a][j * stride + b]
                    total += w * x
                    if w != 0:
                        parts.append(f"{w:g}·{x:g}")
            row_v.append(total)
            row_t.append(" + ".join(parts).replace("+ -", "− ") + f" = {total:g}")
        values.append(row_v)
        terms.append(row_t)
    return values, terms


def max_pool_by_hand(
    grid: list[list[float]], size: int = 2, stride: int = 2
) -> tuple[list[list[float]], list[tuple[int, int]]]:
    """Max pooling and the input cells that won each window."""
    out, winners = [], []
    for i in range(0, len(grid) - size + 1, stride):
        row = []
        for j in range(0, len(grid[0]) - size + 1, stride):
            cells = [(i + a, j + b) for a in range(size) for b in range(size)]
            best = max(cells, key=lambda c: grid[c[0]][c[1]])
            row.append(grid[best[0]][best[1]])
            winners.append(best)
        out.append(row)
    return out, winners


def same_padding(kernel: int, stride: int = 1) -> int:
    """Padding that keeps the spatial size at stride 1: (k - 1) / 2 for odd k."""
    if stride != 1 or kernel % 2 == 0:
        raise ValueError("'same' padding by a whole number needs stride 1 and an odd kernel")
    return (kernel - 1) // 2


def conv_output_size(size: int, kernel: int, padding: int = 0, stride: int = 1) -> int:
    """floor((W - K + 2P) / S) + 1."""
    return math.floor((size - kernel + 2 * padding) / stride) + 1


def conv_params(kernel: int, c_in: int, c_out: int, bias: bool = True) -> int:
    """k*k*C_in*C_out + C_out."""
    return kernel * kernel * c_in * c_out + (c_out if bias else 0)


def linear_params(n_in: int, n_out: int, bias: bool = True) -> int:
    """n_in*n_out + n_out."""
    return n_in * n_out + (n_out if bias else 0)

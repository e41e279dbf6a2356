"""Adjusted p-values for several metrics (and arms) tested at once.

Holm (1979) controls the family-wise error under any dependence; Benjamini-Hochberg (1995)
controls the false discovery rate for independent or positively dependent p-values.
Both return adjusted p-values in the input order: reject where adjusted < alpha.
"""

from __future__ import annotations

from collections.abc import Sequence


def holm(p_values: Sequence[float]) -> list[float]:
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i], reverse=True)
    adjusted = [0.0] * m
    running = 1.0
    for back, i in enumerate(order):
        running = min(running, m / (m - back) * p_values[i])
        adjusted[i] = running
    return adjusted


def adjust(p_values: Sequence[float], method: str) -> list[float]:
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    msg = f"unknown correction {method!r}: holm or bh"
    raise ValueError(msg)

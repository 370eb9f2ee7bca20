"""Small statistics helpers (pure Python, no dependencies)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], pct: float) -> float:
    """Percentile with linear interpolation between closest ranks.

    Same definition as numpy's default ("linear") method, so figures match
    what an operator computes by hand with numpy.
    """
    if not values:
        raise ValueError("percentile of an empty sequence")
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile {pct} is outside 0..100")
    ordered = sorted(values)
    rank = pct / 100.0 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50.0)


def centered_running_mean(values: Sequence[float], window: int) -> list[float]:
    """Mean over a window centred on each value, shrinking at the edges.

    A centred window does not lag behind the data the way a trailing one
    does, so degradation periods line up with the operations that caused
    them.
    """
    if window < 1:
        raise ValueError("window must be at least 1")
    count = len(values)
    prefix = [0.0] * (count + 1)
    total = 0.0
    for index, value in enumerate(values):
        total += value
        prefix[index + 1] = total
    before = (window - 1) // 2
    after = window - 1 - before
    means = [0.0] * count
    for index in range(count):
        low = max(0, index - before)
        high = min(count, index + after + 1)
        means[index] = (prefix[high] - prefix[low]) / (high - low)
    return means


def spearman_rho(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Spearman rank correlation (average ranks for ties); 0.0 if flat."""
    if len(xs) != len(ys):
        raise ValueError("xs and ys differ in size")
    if len(xs) < 2:
        return 0.0
    rank_x = _average_ranks(xs)
    rank_y = _average_ranks(ys)
    return _pearson(rank_x, rank_y)


def _average_ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    position = 0
    while position < len(order):
        tie_end = position
        while (
            tie_end + 1 < len(order)
            and values[order[tie_end + 1]] == values[order[position]]
        ):
            tie_end += 1
        average = (position + tie_end) / 2.0
        for k in range(position, tie_end + 1):
            ranks[order[k]] = average
        position = tie_end + 1
    return ranks


def _pearson(xs: Sequence[float], ys: Sequence[float]) -> float:
    count = len(xs)
    mean_x = sum(xs) / count
    mean_y = sum(ys) / count
    cov = var_x = var_y = 0.0
    for x, y in zip(xs, ys):
        dx = x - mean_x
        dy = y - mean_y
        cov += dx * dy
        var_x += dx * dx
        var_y += dy * dy
    if var_x == 0.0 or var_y == 0.0:
        return 0.0
    return cov / math.sqrt(var_x * var_y)

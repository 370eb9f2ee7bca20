"""Small statistics helpers on numpy arrays."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def percentile(values: Sequence[float], pct: float) -> float:
    """Percentile with linear interpolation between closest ranks.

    numpy's default ("linear") method, so figures match what an operator
    computes by hand.
    """
    if len(values) == 0:
        raise ValueError("percentile of an empty sequence")
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile {pct} is outside 0..100")
    return float(np.percentile(np.asarray(values, dtype=float), pct))


def median(values: Sequence[float]) -> float:
    return percentile(values, 50.0)


def centered_running_mean(values: Sequence[float], window: int) -> np.ndarray:
    """Mean over ``window`` values centred on each value.

    A centred window does not lag behind the data the way a trailing one
    does, so degradation periods line up with the operations that caused
    them. At the edges the window slides inside the data instead of
    shrinking: the end of a run decides "recovered or not", and half a
    window there would be twice as noisy as anywhere else. Shorter data
    than one window gives the plain mean everywhere.
    """
    if window < 1:
        raise ValueError("window must be at least 1")
    data = np.asarray(values, dtype=float)
    count = len(data)
    if count == 0:
        return data
    span = min(window, count)
    prefix = np.concatenate(([0.0], np.cumsum(data)))
    before = (span - 1) // 2
    low = np.clip(np.arange(count) - before, 0, count - span)
    return (prefix[low + span] - prefix[low]) / span


def spearman_rho(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Spearman rank correlation (average ranks for ties); 0.0 if flat."""
    if len(xs) != len(ys):
        raise ValueError("xs and ys differ in size")
    if len(xs) < 2:
        return 0.0
    rank_x = average_ranks(np.asarray(xs, dtype=float))
    rank_y = average_ranks(np.asarray(ys, dtype=float))
    return _pearson(rank_x, rank_y)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """0-based ranks, ties sharing the average of their positions."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    new_group = np.concatenate(([True], ordered[1:] != ordered[:-1]))
    bounds = np.concatenate((np.flatnonzero(new_group), [len(values)]))
    group_rank = (bounds[:-1] + bounds[1:] - 1) / 2.0
    ranks = np.empty(len(values))
    ranks[order] = group_rank[np.cumsum(new_group) - 1]
    return ranks


def _pearson(xs: np.ndarray, ys: np.ndarray) -> float:
    dx = xs - xs.mean()
    dy = ys - ys.mean()
    var_x = float(dx @ dx)
    var_y = float(dy @ dy)
    if var_x == 0.0 or var_y == 0.0:
        return 0.0
    return float(dx @ dy) / (var_x * var_y) ** 0.5


def mann_whitney_p(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation
    with tie correction); 1.0 when every value is the same.

    Samples here have tens to thousands of values, where the normal
    approximation is what the exact test converges to.
    """
    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    n_x, n_y = len(x), len(y)
    if n_x == 0 or n_y == 0:
        raise ValueError("Mann-Whitney U of an empty sample")
    both = np.concatenate((x, y))
    ranks = average_ranks(both) + 1.0
    u_x = float(ranks[:n_x].sum()) - n_x * (n_x + 1) / 2.0
    total = n_x + n_y
    _, ties = np.unique(both, return_counts=True)
    tie_term = float(((ties**3) - ties).sum()) / (total * (total - 1))
    variance = n_x * n_y / 12.0 * ((total + 1) - tie_term)
    if variance <= 0:
        return 1.0
    # Continuity correction: U moves in steps of one.
    z = (abs(u_x - n_x * n_y / 2.0) - 0.5) / math.sqrt(variance)
    return float(math.erfc(max(z, 0.0) / math.sqrt(2.0)))

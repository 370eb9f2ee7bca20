"""Builders of synthetic timelines for the measurement tests."""

from __future__ import annotations

from rally_osic.measure import Timeline


def timeline_from_pattern(
    pattern: str,
    interval: float = 1.0,
    ok: float = 0.1,
    slow: float = 1.0,
    failure: float = 0.01,
) -> Timeline:
    """One operation per character, ``interval`` seconds apart.

    ``.`` is a normal success, ``S`` a slow success, ``x`` a failure.
    """
    durations = {".": ok, "S": slow, "x": failure}
    timestamps = [1000.0 + i * interval for i in range(len(pattern))]
    return Timeline.from_columns(
        timestamps,
        [durations[c] for c in pattern],
        [c == "x" for c in pattern],
    )

"""A workload's iterations as a time-ordered timeline.

Rally stores iterations in completion order; with concurrency that is not
the order in which they started. Every measurement here is made on the
timeline sorted by start time, with times in seconds since the load
started (the start of the earliest iteration), which is also the origin of
Rally's ``time`` hook trigger.

Pure module: no Rally imports, no I/O.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


class Timeline:
    """Columns of operations sorted by start time.

    ``starts`` are seconds since ``origin`` (an epoch timestamp),
    ``durations`` are seconds, ``failed`` tells which operations failed.
    """

    __slots__ = ("origin", "starts", "durations", "failed")

    def __init__(
        self,
        origin: float,
        starts: list[float],
        durations: list[float],
        failed: list[bool],
    ) -> None:
        self.origin = origin
        self.starts = starts
        self.durations = durations
        self.failed = failed

    @classmethod
    def from_columns(
        cls,
        timestamps: Sequence[float],
        durations: Sequence[float],
        failed: Sequence[bool],
        origin: float | None = None,
    ) -> Timeline:
        """Build from epoch start timestamps in any order."""
        count = len(timestamps)
        if len(durations) != count or len(failed) != count:
            raise ValueError("timestamps, durations and failed differ in size")
        if count == 0:
            return cls(origin or 0.0, [], [], [])
        if _is_sorted(timestamps):
            order: Iterable[int] = range(count)
            first = timestamps[0]
        else:
            order = sorted(range(count), key=timestamps.__getitem__)
            first = timestamps[order[0]]
        origin = first if origin is None else origin
        order = list(order)
        return cls(
            origin,
            [timestamps[i] - origin for i in order],
            [float(durations[i]) for i in order],
            [bool(failed[i]) for i in order],
        )

    @classmethod
    def from_iterations(
        cls, iterations: Iterable[Mapping[str, Any]]
    ) -> Timeline:
        """Build from Rally iteration dicts (timestamp, duration, error)."""
        timestamps, durations, failed = [], [], []
        for iteration in iterations:
            timestamps.append(float(iteration["timestamp"]))
            durations.append(float(iteration["duration"] or 0.0))
            failed.append(bool(iteration.get("error")))
        return cls.from_columns(timestamps, durations, failed)

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def end(self) -> float:
        """Seconds from the load start to the end of the last operation."""
        if not self.starts:
            return 0.0
        return max(s + d for s, d in zip(self.starts, self.durations))

    def successful(self) -> tuple[list[float], list[float]]:
        """(starts, durations) of the successful operations, in order."""
        starts = [s for s, f in zip(self.starts, self.failed) if not f]
        durations = [d for d, f in zip(self.durations, self.failed) if not f]
        return starts, durations

    def start_of_iteration(self, number: int) -> float | None:
        """Start of the ``number``-th iteration to start (1-based).

        Rally's ``iteration`` hook trigger fires when that iteration
        starts; None if the load never reached it.
        """
        if number < 1 or number > len(self.starts):
            return None
        return self.starts[number - 1]


def _is_sorted(values: Sequence[float]) -> bool:
    return all(a <= b for a, b in itertools.pairwise(values))

"""A workload's iterations as a time-ordered timeline.

Rally stores iterations in completion order; with concurrency that is not
the order in which they started. Every measurement here is made on the
timeline sorted by start time, with times in seconds since the load
started (the start of the earliest iteration), which is also the origin of
Rally's ``time`` hook trigger.

Pure module: no Rally imports, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np


class Timeline:
    """Columns of operations sorted by start time (numpy arrays).

    ``starts`` are seconds since ``origin`` (an epoch timestamp),
    ``durations`` are seconds, ``failed`` tells which operations failed.
    """

    __slots__ = ("origin", "starts", "durations", "failed")

    def __init__(
        self,
        origin: float,
        starts: np.ndarray,
        durations: np.ndarray,
        failed: np.ndarray,
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
        stamps = np.asarray(timestamps, dtype=float)
        lengths = np.asarray(durations, dtype=float)
        failures = np.asarray(failed).astype(bool)
        if not len(stamps) == len(lengths) == len(failures):
            raise ValueError("timestamps, durations and failed differ in size")
        if len(stamps) and np.any(stamps[1:] < stamps[:-1]):
            order = np.argsort(stamps, kind="stable")
            stamps, lengths, failures = (
                stamps[order],
                lengths[order],
                failures[order],
            )
        if origin is None:
            origin = float(stamps[0]) if len(stamps) else 0.0
        return cls(origin, stamps - origin, lengths, failures)

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
        if not len(self.starts):
            return 0.0
        return float(np.max(self.starts + self.durations))

    def successful(self) -> tuple[np.ndarray, np.ndarray]:
        """(starts, durations) of the successful operations, in order."""
        ok = ~self.failed
        return self.starts[ok], self.durations[ok]

    def start_of_iteration(self, number: int) -> float | None:
        """Start of the ``number``-th iteration to start (1-based).

        Rally's ``iteration`` hook trigger fires when that iteration
        starts; None if the load never reached it.
        """
        if number < 1 or number > len(self.starts):
            return None
        return float(self.starts[number - 1])

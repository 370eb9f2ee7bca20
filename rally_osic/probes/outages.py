"""Outages from the UDP probe's sequence numbers. Pure: no I/O.

The agent numbers its send *slots*: slot ``n`` is due at ``t0 + n *
interval``, and a probe sent in slot ``n`` carries ``n``. On a busy
2-core machine a 1 ms prober misses some slots (it woke up late); those
are *skipped*, not lost. Every slot ``0..last_slot`` is therefore one of

* answered (an echo came back, however late),
* lost (sent, never answered),
* skipped (never sent).

An outage is a maximal run of lost slots, where runs separated only by
skipped slots are one outage (both sides lost: the path was down in
between too). Its duration is its number of slots times the interval:
counting replies, or the gap between two replies, would instead
underestimate with every skipped slot and overestimate by one interval.
Skipped slots at an outage's edge are not counted: the true edge lies
somewhere in them, which :attr:`Outage.uncertainty` says.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

Runs = Sequence[Sequence[int]]  # [[first, last], ...], sorted, inclusive


@dataclasses.dataclass(frozen=True)
class Outage:
    first_slot: int
    last_slot: int
    lost: int  # probes sent in it and never answered
    start: float  # agent clock: when its first slot was due
    duration: float  # seconds: slots × interval
    uncertainty: float  # skipped slots on either edge, in seconds

    def to_json(self) -> dict:
        return {
            "start": round(self.start, 6),
            "duration": round(self.duration, 6),
            "lost": self.lost,
            "uncertainty": round(self.uncertainty, 6),
        }


@dataclasses.dataclass(frozen=True)
class ProbeRecord:
    """What the agent reports for one UDP probe session."""

    interval: float
    t0: float
    last_slot: int
    sent: int
    answered: int
    lost: tuple[tuple[int, int], ...]
    skipped: tuple[tuple[int, int], ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProbeRecord:
        return cls(
            interval=float(data["interval"]),
            t0=float(data["t0"]),
            last_slot=int(data["last_slot"]),
            sent=int(data["sent"]),
            answered=int(data["answered"]),
            lost=_runs(data.get("lost") or ()),
            skipped=_runs(data.get("skipped") or ()),
        )

    def slot_time(self, slot: int) -> float:
        return self.t0 + slot * self.interval


def _runs(runs: Runs) -> tuple[tuple[int, int], ...]:
    out = []
    for first, last in runs:
        if last < first:
            raise ValueError(f"run [{first}, {last}] ends before it starts")
        if out and first <= out[-1][1]:
            raise ValueError("runs overlap or are not sorted")
        out.append((int(first), int(last)))
    return tuple(out)


def runs_of(slots: Sequence[int]) -> list[list[int]]:
    """Sorted slot numbers as inclusive runs: [1, 2, 3, 7] -> [[1, 3],
    [7, 7]]."""
    runs: list[list[int]] = []
    for slot in sorted(set(slots)):
        if runs and slot == runs[-1][1] + 1:
            runs[-1][1] = slot
        else:
            runs.append([slot, slot])
    return runs


def _skipped_between(skipped, first: int, last: int) -> bool:
    """True if every slot in first..last is skipped (an empty range too)."""
    if first > last:
        return True
    i = bisect.bisect_right(skipped, (first, float("inf"))) - 1
    return i >= 0 and skipped[i][0] <= first and skipped[i][1] >= last


def _skipped_run_ending(skipped, slot: int) -> int:
    """Length of the skipped run that ends right at ``slot``."""
    i = bisect.bisect_right(skipped, (slot, float("inf"))) - 1
    if i >= 0 and skipped[i][1] == slot:
        return skipped[i][1] - skipped[i][0] + 1
    return 0


def _skipped_run_starting(skipped, slot: int) -> int:
    i = bisect.bisect_left(skipped, (slot, -1))
    if i < len(skipped) and skipped[i][0] == slot:
        return skipped[i][1] - skipped[i][0] + 1
    return 0


def outages(record: ProbeRecord) -> list[Outage]:
    merged: list[list[int]] = []  # [first, last, lost]
    for first, last in record.lost:
        if merged and _skipped_between(
            record.skipped, merged[-1][1] + 1, first - 1
        ):
            merged[-1][1] = last
            merged[-1][2] += last - first + 1
        else:
            merged.append([first, last, last - first + 1])
    result = []
    for first, last, lost in merged:
        edges = _skipped_run_ending(
            record.skipped, first - 1
        ) + _skipped_run_starting(record.skipped, last + 1)
        result.append(
            Outage(
                first_slot=first,
                last_slot=last,
                lost=lost,
                start=record.slot_time(first),
                duration=(last - first + 1) * record.interval,
                uncertainty=edges * record.interval,
            )
        )
    return result


def downtime(found: Sequence[Outage]) -> float:
    return sum(outage.duration for outage in found)


def _state(record: ProbeRecord, slot: int) -> bool | None:
    """True answered, False lost, None skipped."""
    for runs, value in ((record.lost, False), (record.skipped, None)):
        i = bisect.bisect_right(runs, (slot, float("inf"))) - 1
        if i >= 0 and runs[i][0] <= slot <= runs[i][1]:
            return value
    return True


def _nearest_sent_state(record: ProbeRecord, slot: int) -> bool:
    for distance in range(record.last_slot + 1):
        for candidate in (slot - distance, slot + distance):
            if 0 <= candidate <= record.last_slot:
                state = _state(record, candidate)
                if state is not None:
                    return state
    return True


@dataclasses.dataclass(frozen=True)
class SparsePing:
    """What a probe every ``period`` seconds would have reported."""

    period: float
    probes: int
    lost: int

    @property
    def downtime(self) -> float:
        return self.lost * self.period


def sparse_ping(
    record: ProbeRecord, period: float = 0.5, phase: float = 0.0
) -> SparsePing:
    """Replay the session as a ping every ``period`` s, starting ``phase``
    s after slot 0: the study's method (0.5 s) on the same packets.

    Each ping is the probe of the slot due at its time; a skipped slot
    takes the state of the nearest slot that was sent.
    """
    if period < record.interval:
        raise ValueError("period is shorter than the probe interval")
    probes = lost = 0
    k = 0
    while True:
        slot = round((phase + k * period) / record.interval)
        if slot > record.last_slot:
            break
        state = _state(record, slot)
        if state is None:
            state = _nearest_sent_state(record, slot)
        probes += 1
        lost += not state
        k += 1
    return SparsePing(period=period, probes=probes, lost=lost)


@dataclasses.dataclass(frozen=True)
class UdpSummary:
    interval: float
    downtime: float
    outages: tuple[Outage, ...]
    sent: int
    answered: int
    skipped: int
    ping_500ms: SparsePing

    def to_json(self) -> dict:
        return {
            "interval": self.interval,
            "downtime": round(self.downtime, 6),
            "outages": [o.to_json() for o in self.outages],
            "sent": self.sent,
            "answered": self.answered,
            "skipped": self.skipped,
            "ping_500ms_downtime": self.ping_500ms.downtime,
        }


def summarize(data: Mapping[str, Any]) -> UdpSummary:
    record = ProbeRecord.from_json(data)
    found = outages(record)
    return UdpSummary(
        interval=record.interval,
        downtime=downtime(found),
        outages=tuple(found),
        sent=record.sent,
        answered=record.answered,
        skipped=sum(last - first + 1 for first, last in record.skipped),
        ping_500ms=sparse_ping(record, 0.5)
        if record.interval <= 0.5
        else SparsePing(0.5, 0, 0),
    )

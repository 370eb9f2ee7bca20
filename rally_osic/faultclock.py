"""In-process publication of measured fault times.

Rally runs hook actions as threads of the main ``rally`` process and asks
the SLA objects of a workload for their results only after it has joined
those threads. A fault hook of this package therefore publishes here the
epoch time at which it *observed* the fault taking effect, and the fault
SLAs of the same workload read it back.

An SLA object knows neither its workload nor its task, so a published fault
is matched to a workload by time: Rally runs the workloads of a task one
after another, so the fault observed inside a workload's load interval
belongs to that workload.

Pure module: no Rally imports, no I/O.
"""

from __future__ import annotations

import dataclasses
import threading


@dataclasses.dataclass(frozen=True)
class PublishedFault:
    """A fault whose effect was observed by a hook."""

    triggered_at: float  # epoch seconds, when the hook fired
    effective_at: float  # epoch seconds, when the effect was observed
    description: str = ""


_lock = threading.Lock()
_faults: list[PublishedFault] = []


def publish(fault: PublishedFault) -> None:
    with _lock:
        _faults.append(fault)


def find(load_start: float, load_end: float) -> PublishedFault | None:
    """The earliest fault that took effect within [load_start, load_end]."""
    with _lock:
        inside = [
            fault
            for fault in _faults
            if load_start <= fault.effective_at <= load_end
        ]
    return min(inside, key=lambda f: f.effective_at, default=None)


def clear() -> None:
    with _lock:
        _faults.clear()

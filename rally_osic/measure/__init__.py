"""Measurement core: pure functions over a workload's iterations.

No Rally imports and no I/O, so that the SLA plugins, the reporter and the
tests all compute exactly the same figures. Names are imported on first
use: the SLA plugins read :mod:`rally_osic.measure.schema` when Rally
loads them, and numpy must wait until a verdict is computed.
"""

import importlib

_NAMES = {
    "AnalysisConfig": "analysis",
    "Baseline": "analysis",
    "Degradation": "analysis",
    "FaultAnalysis": "analysis",
    "Outage": "analysis",
    "Trend": "analysis",
    "Recovery": "recovery",
    "Relapse": "recovery",
    "Shift": "recovery",
    "Timeline": "timeline",
}

__all__ = sorted(_NAMES)


def __getattr__(name):
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

"""Measurement core: pure functions over a workload's iterations.

No Rally imports and no I/O, so that the SLA plugins, the reporter and the
tests all compute exactly the same figures.
"""

from rally_osic.measure.analysis import (
    AnalysisConfig,
    Baseline,
    Degradation,
    FaultAnalysis,
    Outage,
    Recovery,
    Trend,
)
from rally_osic.measure.timeline import Timeline

__all__ = [
    "AnalysisConfig",
    "Baseline",
    "Degradation",
    "FaultAnalysis",
    "Outage",
    "Recovery",
    "Timeline",
    "Trend",
]

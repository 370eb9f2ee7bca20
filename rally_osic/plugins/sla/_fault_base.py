"""Shared glue of the fault SLAs: collect iterations, find the fault time.

The measurement itself lives in :mod:`rally_osic.measure`; this module only
adapts it to Rally's SLA interface.
"""

from __future__ import annotations

import abc
import typing as t
from array import array

from rally import consts
from rally.task import sla

from rally_osic import faultclock

if t.TYPE_CHECKING:  # pragma: no cover
    from rally_osic.measure import AnalysisConfig, FaultAnalysis, Timeline

FAULT_AT_SCHEMA = {
    "description": "When the fault was triggered, as in the hook's "
    "trigger: seconds since the load started, or the iteration at whose "
    "start it fired.",
    "oneOf": [
        {
            "type": "object",
            "properties": {
                "unit": {"enum": ["time"]},
                "at": {"type": "number", "minimum": 0},
            },
            "required": ["unit", "at"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {
                "unit": {"enum": ["iteration"]},
                "at": {"type": "integer", "minimum": 1},
            },
            "required": ["unit", "at"],
            "additionalProperties": False,
        },
    ],
}

COMMON_PROPERTIES: dict[str, t.Any] = {
    "fault_at": FAULT_AT_SCHEMA,
    "prefer_measured": {
        "type": "boolean",
        "description": "Use the time at which the osic_fault hook of the "
        "same workload observed the fault taking effect, when there is "
        "one (default true).",
    },
    "cluster_gap": {
        "type": "integer",
        "minimum": 1,
        "description": "Consecutive successful operations that end an "
        "outage (default 5).",
    },
}

BASELINE_PROPERTIES: dict[str, t.Any] = {
    "percentile": {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 100,
        "description": "Percentile of the baseline durations used as the "
        "degradation threshold (default 95).",
    },
    "warmup_iterations": {
        "type": "integer",
        "minimum": 0,
        "description": "Iterations at the start left out of the baseline "
        "(default 0).",
    },
    "min_baseline": {
        "type": "integer",
        "minimum": 1,
        "description": "Fewest successful baseline samples needed for a "
        "verdict (default 10).",
    },
    "window": {
        "type": "integer",
        "minimum": 1,
        "description": "Operations in the centred running mean (default 9).",
    },
    "persistence": {
        "type": "integer",
        "minimum": 1,
        "description": "Consecutive operations the running mean must stay "
        "above the threshold to count as degradation (default 3).",
    },
}


def object_schema(
    properties: dict[str, t.Any], **extra: t.Any
) -> dict[str, t.Any]:
    return {
        "type": "object",
        "$schema": consts.JSON_SCHEMA7,
        "properties": properties,
        "additionalProperties": False,
        **extra,
    }


class FaultSLA(sla.SLA, metaclass=abc.ABCMeta):
    """Stores each iteration's start, duration and outcome; judges at the
    end.

    ``add_iteration`` always says "pass": the verdict needs the whole run
    (the recovery comes after the fault), so ``--abort-on-sla-failure``
    must not stop the load early because of these criteria.
    """

    def __init__(self, criterion_value: dict[str, t.Any]) -> None:
        super().__init__(criterion_value)
        self.timestamps = array("d")
        self.durations = array("d")
        self.failed = array("b")
        self._verdict: tuple[bool, str] | None = None

    def add_iteration(self, iteration: t.Mapping[str, t.Any]) -> bool:
        self.timestamps.append(iteration["timestamp"])
        self.durations.append(iteration["duration"] or 0.0)
        self.failed.append(1 if iteration.get("error") else 0)
        self._verdict = None
        return True

    def merge(self, other: FaultSLA) -> bool:
        self.timestamps.extend(other.timestamps)
        self.durations.extend(other.durations)
        self.failed.extend(other.failed)
        self._verdict = None
        return True

    def result(self) -> sla.SLAResult:
        self.success, detail = self._judge()
        return {
            "criterion": self.get_name(),
            "success": self.success,
            "detail": detail,
        }

    def details(self) -> str:
        return self._judge()[1]

    def _judge(self) -> tuple[bool, str]:
        if self._verdict is None:
            self._verdict = self._compute_verdict()
        return self._verdict

    def _compute_verdict(self) -> tuple[bool, str]:
        if not self.timestamps:
            return False, "no iterations to judge: FAIL"
        # numpy is imported only now, so that `rally` starts as fast as
        # without this package.
        from rally_osic.measure import FaultAnalysis, Timeline

        timeline = Timeline.from_columns(
            self.timestamps, self.durations, self.failed
        )
        fault_at, source = self._fault_time(timeline)
        if fault_at is None:
            return False, f"{source}: FAIL"
        analysis = FaultAnalysis(timeline, fault_at, self._analysis_config())
        if not analysis.fault_within_load:
            return False, (
                f"fault at +{fault_at:.1f} s ({source}) is outside the load "
                f"(0 to +{timeline.end:.1f} s): FAIL"
            )
        success, detail = self.judge(analysis)
        return success, (
            f"{detail}: {'PASS' if success else 'FAIL'}"
            f" (fault at +{fault_at:.1f} s, {source})"
        )

    def _fault_time(self, timeline: Timeline) -> tuple[float | None, str]:
        """Fault time in seconds since load start, and where it came from.

        A fault time measured by the osic_fault hook of the same workload
        wins over the configured trigger unless ``prefer_measured`` is
        false: the trigger says when the command was issued, not when the
        service was hit.
        """
        if self.criterion_value.get("prefer_measured", True):
            measured = faultclock.find(
                timeline.origin, timeline.origin + timeline.end
            )
            if measured is not None:
                return measured.effective_at - timeline.origin, "measured"
        fault_at = self.criterion_value.get("fault_at")
        if fault_at is None:
            return None, (
                "no fault time: set fault_at, or run the osic_fault hook in "
                "this workload"
            )
        if fault_at["unit"] == "time":
            return float(fault_at["at"]), "trigger"
        start = timeline.start_of_iteration(fault_at["at"])
        if start is None:
            return None, (
                f"fault at iteration {fault_at['at']} never happened: the "
                f"load ran {len(timeline)} iterations"
            )
        return start, f"trigger, iteration {fault_at['at']}"

    def _analysis_config(self) -> AnalysisConfig:
        from rally_osic.measure import AnalysisConfig

        return AnalysisConfig.from_options(self.criterion_value)

    @abc.abstractmethod
    def judge(self, analysis: FaultAnalysis) -> tuple[bool, str]:
        """(success, one-line figure and limit) for this criterion."""


def insufficient_baseline(analysis: FaultAnalysis) -> str | None:
    """A one-line reason when the baseline is too small to judge."""
    baseline = analysis.baseline
    if baseline.sufficient:
        return None
    return (
        f"baseline too small: {baseline.samples} successful samples before "
        f"the fault (need {analysis.config.min_baseline})"
    )


def seconds(value: float) -> str:
    return f"{value:.1f} s"

"""Shared glue of the fault SLAs: collect iterations, judge at the end.

The verdict itself is :func:`rally_osic.measure.verdicts.judge`, which the
report and ``rally-osic verdicts`` call too; this module only adapts it to
Rally's SLA interface and supplies the hook-measured fault time.
"""

from __future__ import annotations

import typing as t
from array import array

from rally import consts
from rally.common import validation
from rally.task import sla

from rally_osic import faultclock
from rally_osic.measure import schema
from rally_osic.plugins.validators import fault_time_known


def config_schema(criterion: str) -> dict[str, t.Any]:
    """The criterion's schema (rally_osic.measure.schema) for Rally."""
    return {"$schema": consts.JSON_SCHEMA7, **schema.schema(criterion)}


class FaultSLA(sla.SLA):
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
        # numpy is imported only now, so that `rally` starts as fast as
        # without this package.
        from rally_osic.measure import Timeline, verdicts

        timeline = Timeline.from_columns(
            self.timestamps, self.durations, self.failed
        )
        measured_at = None
        if len(timeline):
            measured = faultclock.find(
                timeline.origin, timeline.origin + timeline.end
            )
            if measured is not None:
                measured_at = measured.effective_at - timeline.origin
        verdict = verdicts.judge(
            self.get_name(), self.criterion_value, timeline, measured_at
        )
        return verdict.success, verdict.detail


# Every fault SLA is checked at `rally task validate` for a fault time.
FaultSLA._default_meta_init(inherit=True)
validation.add_default(fault_time_known.FaultTimeKnownValidator.get_name())(
    FaultSLA
)

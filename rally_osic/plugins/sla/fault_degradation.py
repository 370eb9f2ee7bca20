"""SLA: performance degradation after a fault."""

from __future__ import annotations

from rally.task import sla

from rally_osic.plugins.sla import _fault_base as base


@sla.configure(name="fault_degradation")
class FaultDegradation(base.FaultSLA):
    """Limit how long and how badly a fault degrades performance.

    The baseline is the run before the fault: the operations that ended
    before it, after ``warmup_iterations``. The degradation threshold is
    the ``percentile`` (95th by default) of the successful baseline
    durations. A degradation period is a stretch where the centred running
    mean of successful durations (``window`` operations) stays above the
    threshold for at least ``persistence`` operations in a row, so that a
    single slow call (expected once in twenty) does not count.

    Configuration (at least one limit):

    * ``max_seconds``: the most seconds degraded after the fault;
    * ``max_ratio``: the highest allowed ratio of a degradation period's
      mean duration to the baseline mean;
    * ``fault_at`` / ``prefer_measured``: the fault time, as for
      fault_downtime;
    * ``percentile``, ``warmup_iterations``, ``min_baseline`` (default 10
      successful samples; fewer fails with a clear message), ``window``,
      ``persistence``.

    The detail also reports a baseline that keeps growing with time (such
    as resources accumulating), which makes the threshold meaningless.
    """

    CONFIG_SCHEMA = base.object_schema(
        {
            "max_seconds": {"type": "number", "minimum": 0},
            "max_ratio": {"type": "number", "minimum": 1},
            **base.COMMON_PROPERTIES,
            **base.BASELINE_PROPERTIES,
        },
        anyOf=[{"required": ["max_seconds"]}, {"required": ["max_ratio"]}],
    )

    def judge(self, analysis):
        too_small = base.insufficient_baseline(analysis)
        if too_small:
            return False, too_small
        max_seconds = self.criterion_value.get("max_seconds")
        max_ratio = self.criterion_value.get("max_ratio")
        degraded = analysis.degraded_seconds
        ratio = analysis.worst_degradation_ratio
        success = True
        figures, limits = [f"degraded {degraded:.1f} s"], []
        if max_seconds is not None:
            success &= degraded <= max_seconds
            limits.append(f"{max_seconds:g} s")
        if ratio is not None:
            figures.append(f"worst period {ratio:.2f}x baseline mean")
        if max_ratio is not None:
            success &= ratio is None or ratio <= max_ratio
            limits.append(f"{max_ratio:g}x")
        baseline = analysis.baseline
        detail = (
            f"{', '.join(figures)} (limit {', '.join(limits)}); threshold "
            f"p{baseline.percentile:g} = {baseline.threshold:.3f} s from "
            f"{baseline.samples} baseline samples"
        )
        if baseline.trend and baseline.trend.growing:
            detail += (
                f"; baseline grows {baseline.trend.growth:+.0%} over time "
                f"(rho {baseline.trend.rho:.2f})"
            )
        return bool(success), detail

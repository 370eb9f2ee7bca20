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

    CONFIG_SCHEMA = base.config_schema("fault_degradation")

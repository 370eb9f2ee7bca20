"""SLA: recovery to baseline after a fault."""

from __future__ import annotations

from rally.task import sla

from rally_osic.plugins.sla import _fault_base as base


@sla.configure(name="fault_recovery")
class FaultRecovery(base.FaultSLA):
    """Require the service to recover to its baseline in time after a fault.

    Time to recover runs from the fault until failures have stopped (the
    first successful operation after the last failure) and the running mean
    of durations is back under the degradation threshold (the end of the
    last degradation period; see fault_degradation). A run that ends while
    operations still fail, or while still degraded, never recovered: that
    is a permanent failure, such as a service that is not restarted
    automatically.

    Configuration:

    * ``within``: seconds allowed to recover (default 300, the 5-minute
      rule of the availability study);
    * ``fault_at`` / ``prefer_measured``: the fault time, as for
      fault_downtime;
    * ``percentile``, ``warmup_iterations``, ``min_baseline``, ``window``,
      ``persistence``, ``cluster_gap``: as for fault_degradation and
      fault_downtime.

    Run the load long enough after the fault to see the recovery.
    """

    CONFIG_SCHEMA = base.object_schema(
        {
            "within": {"type": "number", "minimum": 0},
            **base.COMMON_PROPERTIES,
            **base.BASELINE_PROPERTIES,
        }
    )

    def judge(self, analysis):
        within = self.criterion_value.get("within", 300)
        too_small = base.insufficient_baseline(analysis)
        if too_small:
            return False, too_small
        recovery = analysis.recovery
        if not recovery.recovered:
            return False, (
                f"never recovered: {recovery.reason} (limit {within:g} s)"
            )
        ttr = recovery.time_to_recover
        return ttr <= within, (
            f"recovered {ttr:.1f} s after the fault (limit {within:g} s)"
        )

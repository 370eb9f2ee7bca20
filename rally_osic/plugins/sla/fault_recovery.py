"""SLA: recovery to baseline after a fault."""

from __future__ import annotations

from rally.task import sla

from rally_osic.plugins.sla import _fault_base as base


@sla.configure(name="fault_recovery")
class FaultRecovery(base.FaultSLA):
    """Require the service to recover to its baseline, and to stay there.

    The service has recovered at R when, from R on, it stays healthy for
    a hold period: no failed operation, and the centred running mean of
    durations at or under the degradation threshold (the ``percentile`` of
    the baseline, see fault_degradation) plus ``recovery_margin``. The
    time to recover is R minus the fault time. Failures or degradation
    after R are reported as relapses (count, seconds, worst ratio to the
    baseline mean); they count toward fault_downtime and fault_degradation
    but do not undo the recovery. A service whose healthy operations after
    R stay slower than the baseline (median up by ``min_shift`` or more,
    Mann-Whitney p < 0.01) shows a lasting shift, reported with its size.

    The verdict fails when the service recovered later than ``within``,
    never recovered (the run ends still failing or still degraded: how
    long, and how far above the threshold), or when the run ended too
    soon after the last trouble to see a whole hold period
    ("undetermined"). A service that is not restarted automatically
    never recovers.

    Configuration:

    * ``within``: seconds allowed to recover (default 300, the 5-minute
      rule of the availability study);
    * ``hold`` (seconds, default 10) and ``hold_operations`` (default 5):
      how long the service must stay healthy, both must hold;
    * ``recovery_margin``: relative margin over the threshold that still
      counts as healthy (default 0.1; chosen from no-fault A/A runs, see
      the README);
    * ``min_shift``: smallest median slow-down reported as a lasting
      shift (default 0.2; the lab's no-fault runs drift by up to 18 %);
    * ``fault_at`` / ``prefer_measured``: the fault time, as for
      fault_downtime;
    * ``percentile``, ``warmup_iterations``, ``min_baseline``, ``window``,
      ``persistence``, ``cluster_gap``: as for fault_degradation and
      fault_downtime.

    Run the load for at least the hold period after the service is back.
    """

    CONFIG_SCHEMA = base.config_schema("fault_recovery")

"""SLA: downtime after a fault."""

from __future__ import annotations

from rally.task import sla

from rally_osic.plugins.sla import _fault_base as base


@sla.configure(name="fault_downtime")
class FaultDowntime(base.FaultSLA):
    """Limit the downtime that a fault causes.

    Downtime is measured from the first to the last failed operation of
    each outage that ends after the fault, and summed over those outages.
    An outage is a cluster of failed operations; it ends once
    ``cluster_gap`` operations in a row succeed. Each figure carries ± half
    the gaps to the neighbouring successful operations, i.e. how precisely
    the load sampled the edges of the outage: use a fixed-rate (``rps``)
    runner so that sampling goes on during the outage.

    Configuration:

    * ``max``: the most seconds of downtime allowed (required);
    * ``full_only``: count only stretches where every operation failed, not
      the partial outage where failures and successes are mixed (default
      false);
    * ``fault_at``: the fault trigger, ``{"unit": "time", "at": 120}`` or
      ``{"unit": "iteration", "at": 600}``, as in the hook's trigger. The
      time at which the osic_fault hook of the same workload *observed*
      the fault wins, unless ``prefer_measured`` is false;
    * ``cluster_gap``: successful operations in a row that end an outage
      (default 5).

    The verdict is computed when Rally asks for results, after the whole
    load has run.
    """

    CONFIG_SCHEMA = base.config_schema("fault_downtime")

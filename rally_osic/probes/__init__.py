"""Live-migration probes: a library that imports nothing of Rally.

Three independent views of one migration:

* :mod:`~rally_osic.probes.agent`: a UDP echo probe with sequence numbers
  (10 ms by default, 1 ms possible) and a TCP continuity stream of
  numbered messages, run by a self-contained agent wherever the servers'
  addresses are reachable (this machine, a node over SSH, a network
  namespace or an LXC container: :mod:`~rally_osic.probes.runner`, over
  the fault layer's transports);
* :mod:`~rally_osic.probes.hypervisor`: libvirt's own figures (completed
  job statistics on the target, the source's JOB_COMPLETED event) and an
  optional domain-stats sampler;
* the API's view, which the scenario times itself.

The arithmetic (outages from sequence numbers, per-migration rows, what a
500 ms ping would have reported) is in pure modules:
:mod:`~rally_osic.probes.outages` and :mod:`~rally_osic.probes.records`.
:mod:`~rally_osic.probes.workload` renders the servers' user data (load,
echo responders, disk fill).
"""

"""Scenario ``OsicLiveMigration.evacuate_host``: one host evacuation per
iteration, each migration measured by three independent probes."""

from __future__ import annotations

from rally import exceptions
from rally.task import atomic, scenario
from rally_openstack.task import scenario as os_scenario

NOVA_MICROVERSION = "2.25"  # block_migration "auto", abort (2.24)


class MigrationFailed(exceptions.RallyException):
    error_code = 722
    msg_fmt = "%(message)s"


class BadArgument(exceptions.RallyException):
    error_code = 723
    msg_fmt = "%(message)s"


def _check(args: dict) -> None:
    bm = args["block_migration"]
    if bm not in ("auto", True, False):
        raise BadArgument(
            message=f"block_migration must be auto, true or false: {bm!r}"
        )
    for key in ("timeout", "poll_interval"):
        value = args[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadArgument(message=f"{key} must be a number: {value!r}")
        if value <= 0:
            raise BadArgument(message=f"{key} must be positive: {value!r}")
    unknown = set(args["probe"] or {}) - {
        "interval",
        "tcp_interval",
        "lead",
        "tail",
        "location",
    }
    unknown |= set(args["libvirt"] or {}) - {
        "uri",
        "host_map",
        "stats_interval",
    }
    if unknown:
        raise BadArgument(
            message="unknown probe/libvirt option(s): "
            + ", ".join(sorted(unknown))
        )
    if args["libvirt"] and "uri" not in args["libvirt"]:
        raise BadArgument(message="libvirt needs a uri template")


@scenario.configure(
    name="OsicLiveMigration.evacuate_host",
    platform="openstack",
)
class EvacuateHost(os_scenario.OpenStackScenario):
    def run(
        self,
        source_host=None,
        target_host=None,
        block_migration="auto",
        timeout=600,
        poll_interval=0.25,
        probe=None,
        libvirt=None,
        storage="unspecified",
        flavor=None,
        tunnelled=None,
    ):
        """Live-migrate every workload server off one host, one at a time.

        One iteration is one host evacuation: every server of the
        ``osic_workload_servers`` context moves from the source to the
        target host; the next iteration moves them back (the study's run
        is ``times: 40``, 20 round trips, with the serial runner). Source
        and target are ``source_host``/``target_host`` (alternating each
        iteration), else the host that holds most servers and the first
        other enabled, up compute.

        Each migration is recorded, as a row of the "Live migrations"
        table in the iteration's output (columns in
        ``rally_osic/probes/records.py``): server, direction, source,
        target, success and error; the duration by the API (call ->
        ACTIVE on the target, polled every ``poll_interval`` s);
        libvirt's ``time_elapsed``, ``downtime``, ``downtime_net``, data
        transferred, memory iterations and dirty rate (with ``libvirt``);
        the network probe's downtime (lost probes x interval, from
        sequence numbers), its outages and what a 500 ms ping would have
        reported; TCP bytes lost, reordered and duplicated and the
        longest stall; the transport and block-migration flag used. A
        probe with nothing to reach (no address) gives "n/a".

        A migration fails on an API error, the server in ERROR, the host
        unchanged, or ``timeout`` s (then it is aborted through Nova's
        API). It is recorded with its reason and the evacuation goes on;
        nothing is retried. The iteration fails at its end when any
        migration failed, so Rally's ``failure_rate`` SLA counts
        evacuations; the "Evacuation" table gives the success rate x/N.

        :param source_host: Nova host to evacuate (first iteration)
        :param target_host: Nova host to evacuate to (first iteration)
        :param block_migration: "auto" (Nova decides: local storage means
            block migration), true or false
        :param timeout: seconds per migration before it is aborted
        :param poll_interval: seconds between two polls of the server
        :param probe: {"interval": 0.01 (UDP probe, s; 0.001 possible),
            "tcp_interval": 0.01, "lead": 0.5, "tail": 1.0 (s probed
            before the call and after the end), "location": where the
            agent runs (default: the workload context's probe location)}
        :param libvirt: {"uri": "qemu+ssh://root@{host}/system",
            "host_map": {nova hypervisor name: what {host} becomes},
            "stats_interval": seconds between domain-stats samples}
        :param storage: label of the storage backend for the report
            ("shared", "local")
        :param flavor: label of the flavor for the report (default: the
            workload context's flavor)
        :param tunnelled: label for the report when no
            ``osic_migration_transport`` context sets the transport
        """
        from rally_osic.probes import evacuate, records
        from rally_osic.probes import runner as probe_runner

        _check(
            {
                "block_migration": block_migration,
                "timeout": timeout,
                "poll_interval": poll_interval,
                "probe": probe,
                "libvirt": libvirt,
            }
        )
        state = self.context.get("osic_workload_servers") or {}
        servers = state.get("servers") or []
        if not servers:
            raise BadArgument(
                message="no workload servers: add the osic_workload_servers"
                " context"
            )
        nova = self.admin_clients("nova", NOVA_MICROVERSION)
        placed = [
            {**s, "host": getattr(nova.servers.get(s["id"]), _HOST, None)}
            for s in servers
        ]
        up = [
            s.host
            for s in nova.services.list(binary="nova-compute")
            if s.status == "enabled" and s.state == "up"
        ]
        iteration = self.context.get("iteration", 1)
        fixed = (source_host, target_host)
        if source_host and target_host and iteration % 2 == 0:
            fixed = (target_host, source_host)
        try:
            source, target = evacuate.choose_hosts(placed, up, *fixed)
        except ValueError as exc:
            raise BadArgument(message=str(exc)) from None
        toggle = self.context.get("osic_migration_transport") or {}
        transport = toggle.get("transport")
        if transport is None and tunnelled is not None:
            transport = "tunnelled" if tunnelled else "native"
        probe = dict(probe or {})
        options = evacuate.Options(
            block_migration=block_migration,
            timeout=float(timeout),
            poll_interval=float(poll_interval),
            probe_interval=float(probe.get("interval", 0.01)),
            tcp_interval=float(probe.get("tcp_interval", 0.01)),
            lead=float(probe.get("lead", 0.5)),
            tail=float(probe.get("tail", 1.0)),
            udp_port=state.get("workload", {}).get("udp_port", 7),
            tcp_port=state.get("workload", {}).get("tcp_port", 7),
            transport=transport,
            stats_interval=(libvirt or {}).get("stats_interval"),
        )
        location = probe.get(
            "location", (state.get("probe") or {}).get("location")
        )
        to_move = [s for s in placed if s["host"] == source]
        agent = hypervisors = None
        rows: list = []
        samples: list = []
        try:
            if any(s.get("address") for s in to_move):
                agent = probe_runner.ProbeAgent(location)
            names = {}
            if libvirt:
                from rally_osic.probes import hypervisor as hv

                hypervisors = hv.Hypervisors(
                    libvirt["uri"], libvirt.get("host_map")
                )
                names = evacuate._hypervisor_names(nova, {source, target})
            for server in to_move:
                with atomic.ActionTimer(self, "nova.live_migrate"):
                    rows.append(
                        evacuate.migrate_one(
                            nova,
                            server,
                            source,
                            target,
                            options,
                            agent=agent,
                            hypervisors=hypervisors,
                            hypervisor_names=names,
                            samples=samples,
                        )
                    )
        finally:
            if agent is not None:
                agent.close()
            if hypervisors is not None:
                hypervisors.close()
            self._report(rows, source, target, toggle, storage, flavor)
            lines = evacuate.cpu_lines(samples)
            if lines:
                self.add_output(
                    complete={
                        "title": "Domain statistics",
                        "description": "CPU use of each server during its"
                        " migration, sampled by libvirt on the host that"
                        " runs it (getAllDomainStats)",
                        "chart_plugin": "Lines",
                        "data": lines,
                        "label": "% of one CPU",
                        "axis_label": "seconds since the first sample",
                    }
                )
        ok, total = records.success_rate(rows)
        if ok < total:
            failed = [r for r in rows if r["success"] is not True]
            raise MigrationFailed(
                message=f"{total - ok} of {total} migrations failed "
                f"({source} -> {target}); first: {failed[0]['vm']}: "
                f"{failed[0]['error']}"
            )

    def _report(self, rows, source, target, toggle, storage, flavor):
        from rally_osic.probes import records

        ok, total = records.success_rate(rows)
        self.add_output(complete=records.table(rows))
        effective = toggle.get("effective") or {}
        options = "; ".join(
            f"{host}: "
            + ", ".join(f"{k}={v}" for k, v in sorted(values.items()))
            for host, values in sorted(effective.items())
        )
        self.add_output(
            complete={
                "title": "Evacuation",
                "chart_plugin": "Table",
                "data": {
                    "cols": [
                        "source",
                        "target",
                        "migrations",
                        "succeeded",
                        "success_rate",
                        "transport",
                        "storage",
                        "flavor",
                        "nova_options",
                    ],
                    "rows": [
                        [
                            source,
                            target,
                            total,
                            ok,
                            f"{ok}/{total}",
                            toggle.get("transport") or records.NA,
                            storage,
                            flavor
                            or (
                                self.context.get("osic_workload_servers") or {}
                            ).get("flavor", records.NA),
                            options or records.NA,
                        ]
                    ],
                },
            }
        )


_HOST = "OS-EXT-SRV-ATTR:host"

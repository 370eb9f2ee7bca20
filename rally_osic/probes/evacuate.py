"""One host evacuation through Nova's API, measured by the three probes.

No Rally here: the scenario (``plugins/scenarios/evacuation.py``) hands
in a novaclient (microversion 2.25 or later, for ``block_migration:
auto`` and the abort call), the servers, an optional probe agent and an
optional libvirt connection template.

Each server is live-migrated, one at a time, and polled every
``poll_interval`` (rally-openstack's helper sleeps 1 s, then polls every
2 s, so its durations are quantised to about 2 s). :func:`classify` is
the pure decision on each poll. A failed migration is recorded with its
reason and the evacuation goes on; nothing is retried. A migration that
exceeds ``timeout`` is aborted through Nova's API (``DELETE
/servers/{id}/migrations/{id}``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from rally_osic.probes import records

LOG = logging.getLogger(__name__)
FAILED_MIGRATION = ("error", "failed", "cancelled")
STARTED_MIGRATION = ("running", "post-migrating", "completed")
# Before API 2.65 Nova aborts only a running migration; a queued or
# preparing one is refused (400) until it runs.
NOT_YET_RUNNING = ("accepted", "queued", "preparing", "pre-migrating")


@dataclasses.dataclass(frozen=True)
class Options:
    block_migration: Any = "auto"  # "auto", True or False
    timeout: float = 600.0
    poll_interval: float = 0.25
    probe_interval: float = 0.01
    tcp_interval: float = 0.01
    lead: float = 0.5
    tail: float = 1.0
    udp_port: int = 7
    tcp_port: int = 7
    transport: str | None = None
    stats_interval: float | None = None
    abort_wait: float = 120.0


@dataclasses.dataclass(frozen=True)
class Poll:
    status: str
    task_state: str | None
    host: str | None
    migration_status: str | None
    fault: str | None = None


def classify(poll: Poll, source: str, target: str) -> tuple[str, str]:
    """("running" | "success" | "failure", reason) for one poll. Pure."""
    if poll.status == "ERROR":
        return "failure", "server in ERROR" + (
            f": {poll.fault}" if poll.fault else ""
        )
    settled = poll.status == "ACTIVE" and not poll.task_state
    if settled and poll.host == target:
        if poll.migration_status in FAILED_MIGRATION:
            return "failure", (
                f"on {target}, but the migration is {poll.migration_status}"
            )
        return "success", ""
    if settled:
        where = (
            "host unchanged"
            if poll.host == source
            else f"host is {poll.host}, not {target}"
        )
        if poll.migration_status:
            where += f" (migration {poll.migration_status})"
        return "failure", where
    return "running", ""


def _poll(nova, server_id: str, migration_status: str | None) -> Poll:
    server = nova.servers.get(server_id)
    fault = (getattr(server, "fault", None) or {}).get("message")
    return Poll(
        status=server.status,
        task_state=getattr(server, "OS-EXT-STS:task_state", None),
        host=getattr(server, "OS-EXT-SRV-ATTR:host", None),
        migration_status=migration_status,
        fault=fault,
    )


def _migration(nova, server_id: str, since_id: int) -> Any:
    """The newest live-migration record of the server, newer than
    ``since_id``."""
    found = [
        m
        for m in nova.migrations.list(instance_uuid=server_id)
        if getattr(m, "migration_type", "live-migration") == "live-migration"
        and m.id > since_id
    ]
    return max(found, key=lambda m: m.id) if found else None


def _last_migration_id(nova, server_id: str) -> int:
    found = nova.migrations.list(instance_uuid=server_id)
    return max((m.id for m in found), default=0)


def _hypervisor_names(nova, hosts) -> dict[str, str]:
    names = {}
    for hyp in nova.hypervisors.list():
        host = getattr(hyp, "service", {}).get("host")
        if host in hosts:
            names[host] = hyp.hypervisor_hostname
    return names


def migrate_one(
    nova,
    server: Mapping[str, Any],
    source: str,
    target: str,
    options: Options,
    agent=None,
    hypervisors=None,
    hypervisor_names: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    samples: list | None = None,
) -> dict[str, Any]:
    """Live-migrate one server; its row (see records.py). Domain-stats
    samples, if libvirt took any, are appended to ``samples`` as
    ``[vm, t, host, cpu_time, net_rx, net_tx, block_rd, block_wr, rss]``.
    """
    name, server_id = server["name"], server["id"]
    session = None
    if agent is not None and server.get("address"):
        session = f"{server_id}-{time.monotonic_ns()}"
        agent.start_session(
            session,
            udp={
                "host": server["address"],
                "port": options.udp_port,
                "interval": options.probe_interval,
            },
            tcp={
                "host": server["address"],
                "port": options.tcp_port,
                "interval": options.tcp_interval,
            },
            max_seconds=options.timeout + options.abort_wait + 120,
        )
        sleep(options.lead)
    monitor = None
    if hypervisors is not None:
        from rally_osic.probes import hypervisor as hv

        names = hypervisor_names or {}
        monitor = hv.MigrationMonitor(
            hypervisors,
            names.get(source, source),
            names.get(target, target),
            server_id,
            options.stats_interval,
        )
        try:
            monitor.start()
        except hv.HypervisorError as exc:
            LOG.warning(f"libvirt figures of {name} unavailable: {exc}")
            monitor = None
    outcome, reason = "failure", ""
    started_after = detected = migration_status = None
    before = _last_migration_id(nova, server_id)
    called = time.time()
    try:
        nova.servers.live_migrate(server_id, target, options.block_migration)
    except Exception as exc:  # noqa: BLE001 - any API refusal is recorded
        reason = "API error: " + str(exc).strip().splitlines()[0]
    else:
        outcome, reason, started_after, migration_status = _wait(
            nova, server_id, source, target, options, before, called, sleep
        )
    detected = time.time()
    answer: dict = {}
    if session is not None:
        sleep(options.tail)
        answer = agent.stop_session(session, grace=1.0)
    job = monitor.finish(outcome == "success") if monitor else None
    detected_after = None
    if job and monitor.event_at:
        detected_after = max(0.0, detected - monitor.event_at)
    block = options.block_migration
    if block == "auto" and job and "disks_mirrored" in job:
        block = bool(job["disks_mirrored"])
    if job and job.get("samples") and samples is not None:
        samples.extend([name, *sample] for sample in job["samples"])
    return records.migration_row(
        vm=name,
        direction=f"{source} -> {target}",
        source=source,
        target=target,
        success=outcome == "success",
        error=reason,
        duration=detected - called,
        transport=options.transport,
        block_migration=block,
        libvirt=job,
        udp=answer.get("udp"),
        tcp=answer.get("tcp"),
        started_after=started_after,
        detected_after=detected_after,
        migration_status=migration_status,
    )


def _wait(nova, server_id, source, target, options, before, called, sleep):
    started_after = None
    migration = None
    deadline = called + options.timeout
    while True:
        migration = _migration(nova, server_id, before) or migration
        status = getattr(migration, "status", None)
        if started_after is None and status in STARTED_MIGRATION:
            started_after = time.time() - called
        outcome, reason = classify(
            _poll(nova, server_id, status), source, target
        )
        if outcome != "running":
            if outcome == "success" and migration is not None:
                status = _final_status(nova, server_id, before, options, sleep)
            return outcome, reason, started_after, status
        if time.time() > deadline:
            reason, status = _abort(
                nova, server_id, migration, before, options, sleep
            )
            return "failure", reason, started_after, status
        sleep(options.poll_interval)


def _final_status(
    nova, server_id, before, options, sleep, seconds: float = 30.0
) -> str | None:
    """Nova marks the migration completed a little after the server is
    ACTIVE on the target (post-live-migration), and cancelled a little
    after an abort: wait for it, bounded, without counting it in the
    duration."""
    deadline = time.time() + seconds
    status = None
    while time.time() < deadline:
        status = getattr(_migration(nova, server_id, before), "status", None)
        if status in ("completed", *FAILED_MIGRATION):
            break
        sleep(options.poll_interval)
    return status


def _abort(nova, server_id, migration, before, options, sleep):
    """Abort a migration that ran past the timeout; (reason, the
    migration's status once the server has settled)."""
    reason = f"timed out after {options.timeout:g} s"
    migration = _migration(nova, server_id, before) or migration
    if migration is None:
        return reason + "; no migration record to abort", None
    deadline = time.time() + options.abort_wait
    seen = migration.status
    while True:
        try:
            nova.server_migrations.live_migration_abort(
                server_id, migration.id
            )
            break
        except Exception as exc:  # noqa: BLE001 - recorded, not raised
            refused = str(exc).strip().splitlines()[0]
        status = getattr(_migration(nova, server_id, before), "status", seen)
        if status == "completed" or status in FAILED_MIGRATION:
            return reason + f"; it ended ({status}) before the abort", status
        # Refused while it was not running yet: ask again (once it runs).
        not_yet = seen in NOT_YET_RUNNING or status in NOT_YET_RUNNING
        if not_yet and time.time() < deadline:
            seen = status
            sleep(options.poll_interval)
            continue
        return reason + "; abort refused: " + refused, status
    while time.time() < deadline:
        poll = _poll(nova, server_id, None)
        if poll.status != "MIGRATING" and not poll.task_state:
            status = _final_status(nova, server_id, before, options, sleep)
            return (
                reason + f"; aborted (server on {poll.host}, migration "
                f"{status or 'without a status'})",
                status,
            )
        sleep(options.poll_interval)
    return (
        reason + f"; abort did not settle in {options.abort_wait:g} s",
        getattr(_migration(nova, server_id, before), "status", None),
    )


def choose_hosts(
    servers, hosts_up: list[str], source: str | None, target: str | None
) -> tuple[str, str]:
    """Source = the host holding most servers (or ``source``); target =
    ``target`` or the first other enabled host. Pure."""
    if source is None:
        counts: dict[str, int] = {}
        for server in servers:
            if server.get("host"):
                counts[server["host"]] = counts.get(server["host"], 0) + 1
        if not counts:
            raise ValueError("no workload server has a host")
        source = max(sorted(counts), key=lambda h: counts[h])
    if target is None:
        others = [h for h in sorted(hosts_up) if h != source]
        if not others:
            raise ValueError(f"no other enabled compute than {source}")
        target = others[0]
    if source == target:
        raise ValueError(f"source and target are both {source}")
    return source, target


def cpu_lines(samples: list) -> list:
    """Rally ``Lines`` data: each server's CPU use (% of one CPU) over
    time from the first sample, from consecutive cpu_time values. Pure."""
    if not samples:
        return []
    t0 = min(sample[1] for sample in samples)
    series: dict[str, list] = {}
    last: dict[str, tuple] = {}
    for vm, t, host, cpu, *_ in sorted(samples, key=lambda s: s[1]):
        previous = last.get(vm)
        if previous and cpu is not None and previous[1] is not None:
            if previous[2] == host and t > previous[0]:
                share = 100 * (cpu - previous[1]) / (t - previous[0])
                series.setdefault(f"{vm} CPU %", []).append(
                    [round(t - t0, 3), round(max(share, 0.0), 1)]
                )
        last[vm] = (t, cpu, host)
    return sorted(series.items())

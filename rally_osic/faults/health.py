"""Is the cloud healthy? The fault hook's own checks, without a fault.

For every service of an os-faults config that uses the exact
``osic_process`` driver: on each of its nodes, the process runs and is
not frozen, its port listens, and its ``health_url`` answers below 500,
which is what the hook waits for before it calls a service healthy again.
Services of os-faults' stock drivers cannot be checked this way and are
left out.
"""

from __future__ import annotations

from collections.abc import Iterable

from rally_osic.faults import cloud as cloud_mod
from rally_osic.faults import osf
from rally_osic.faults import targets as tg
from rally_osic.faults import transport as tr
from rally_osic.faults.spec import FaultError
from rally_osic.faults.timeline import is_healthy
from rally_osic.faults.watch import health_ok


def checkable(config: dict) -> list[str]:
    """The services of ``config`` that these checks can judge."""
    return sorted(
        name
        for name, service in (config.get("services") or {}).items()
        if service.get("driver") == "osic_process"
    )


def problems(config: dict, names: Iterable[str]) -> dict[str, str]:
    """Service -> what is wrong with it, for those of ``names`` that are
    not healthy on every node (an empty dict: all healthy)."""
    from os_faults.api import error as osf_error

    found: dict[str, str] = {}
    cloud = osf.connect(config)
    try:
        for name in names:
            try:
                service = cloud_mod.get_service(cloud, name)
                hosts = service.get_nodes().hosts
            except (FaultError, osf_error.OSFError) as exc:
                found[name] = str(exc).splitlines()[0]
                continue
            target = getattr(service, "target", None)
            if target is None:
                continue
            for host in hosts:
                wrong = _node_problem(cloud, target, host)
                if wrong:
                    found[name] = f"{wrong} on {host.ip}"
                    break
    finally:
        osf.close_transports(cloud)
    return found


def _node_problem(cloud, target, host) -> str | None:
    target = target.on(host.ip, host.fqdn)
    try:
        transport = osf.transport_for_host(cloud, host)
        seen = tg.probe(transport, "snapshot", target.spec())
    except (tr.TransportError, tg.TargetError) as exc:
        return f"cannot check ({str(exc).splitlines()[0]})"
    if target.health_url:
        seen["health_ok"] = health_ok(target.health_url)
    if is_healthy(seen):
        return None
    if not seen.get("pids"):
        return "not running"
    if seen.get("frozen"):
        return "frozen"
    if seen.get("port_open") is False:
        return f"port {target.port} not listening"
    if seen.get("health_ok") is False:
        return "health check failing"
    if seen.get("connected") is False:
        return "not connected to its broker"
    return "not healthy"

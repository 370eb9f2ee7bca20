"""Looking up the fault's targets in the os-faults cloud: a service, and
the hosts the fault acts on.
"""

from __future__ import annotations

from rally_osic.faults import targets as tg
from rally_osic.faults.spec import FaultError


def select_hosts(hosts, nodes, what):
    if not hosts:
        raise FaultError(f"{what} is not found on any node")
    if nodes == "one":
        import random

        return [random.choice(hosts)]
    if nodes == "all":
        return list(hosts)
    wanted = set(nodes)
    chosen = [h for h in hosts if h.ip in wanted or h.fqdn in wanted]
    missing = wanted - {h.ip for h in chosen} - {h.fqdn for h in chosen}
    if missing:
        raise FaultError(
            f"{what}: unknown node(s) {', '.join(sorted(missing))}"
        )
    return chosen


def get_service(cloud, name):
    from os_faults.api import error as osf_error

    if not name:
        raise FaultError("no service named in the fault")
    try:
        return cloud.get_service(name)
    except osf_error.OSFError as exc:
        raise FaultError(f"unknown service {name!r} ({exc})") from None
    except tg.TargetError as exc:
        raise FaultError(str(exc)) from None

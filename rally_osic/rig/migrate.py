"""One probed migration on the rig, as the scenario records one.

The three probes run exactly as in the evacuation scenario: the agent's
UDP and TCP session opens before the migration call and closes after the
end is detected plus a tail; libvirt's figures come from the completed
job statistics on the target. The row is :func:`records.migration_row`,
so a refused or aborted migration is a recorded failure, as in the
scenario.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from rally_osic.probes import hypervisor as hv
from rally_osic.probes import records

TRANSPORT_FLAGS = {
    "native": ("live", "peer2peer", "persist_dest", "undefine_source"),
    "tunnelled": (
        "live",
        "peer2peer",
        "tunnelled",
        "persist_dest",
        "undefine_source",
    ),
    "native_tls": (
        "live",
        "peer2peer",
        "tls",
        "persist_dest",
        "undefine_source",
    ),
}


@dataclasses.dataclass
class Probed:
    row: dict[str, Any]
    udp: dict | None
    tcp: dict | None
    libvirt: dict
    result: hv.DirectResult


def probed_migration(
    rig,
    agent,
    vm,
    source,
    target,
    transport: str = "native",
    extra_flags: tuple[str, ...] = (),
    interval: float = 0.001,
    tcp_interval: float = 0.01,
    during: Callable[[Any], None] | None = None,
    timeout: float = 300.0,
    params: dict | None = None,
    lead: float = 0.3,
    tail: float = 0.7,
    sample_interval: float | None = 0.5,
) -> Probed:
    ident = f"{vm.name}-{time.monotonic_ns()}"
    agent.start_session(
        ident,
        udp={"host": vm.ip, "port": 7, "interval": interval},
        tcp={"host": vm.ip, "port": 7, "interval": tcp_interval},
        max_seconds=timeout + 60,
    )
    try:
        time.sleep(lead)  # the probes' own steady state before the call
        flags = hv.flags_of(TRANSPORT_FLAGS[transport] + tuple(extra_flags))
        result = hv.migrate_direct(
            rig.hypervisors,
            source.name,
            target.name,
            vm.uuid,
            flags,
            dest_uri=target.tcp_uri,
            params=params,
            sample_interval=sample_interval,
            during=during,
            timeout=timeout,
        )
        time.sleep(tail)
    finally:
        answer = agent.stop_session(ident, grace=1.0)
    row = records.migration_row(
        vm=vm.name,
        direction=f"{source.name} -> {target.name}",
        source=source.name,
        target=target.name,
        success=result.success,
        error=result.error,
        duration=result.finished - result.started,
        transport=transport,
        block_migration=False,
        libvirt=result.libvirt,
        udp=answer.get("udp"),
        tcp=answer.get("tcp"),
    )
    return Probed(
        row, answer.get("udp"), answer.get("tcp"), result.libvirt, result
    )

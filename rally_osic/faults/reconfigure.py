"""Rewrite the computes' nova.conf and restart nova-compute, through the
fault layer (local, SSH, lxc-attach; the os-faults config names the nodes
and the service).

Which file and which service on which node, per Nova compute host:

* the os-faults config's ``osic.nova_computes`` mapping, for example the
  lab's ``{"lab-compute-1": {"node": "127.0.0.1", "config_file":
  ".../compute-1.conf", "service": "nova-compute-1"}}``;
* else the node whose ``fqdn`` or ``ip`` is the compute's host name,
  ``/etc/nova/nova.conf`` and the service ``nova-compute`` (any os-faults
  driver: the stock ``process``/``system_service`` ones, or rally-osic's
  exact ``osic_process``).

:class:`Reconfiguration` reads every file first (an unreachable compute
fails before anything is written), writes each one atomically (temporary
file in the same directory, owner and mode kept, then ``mv``), and
:meth:`Reconfiguration.restore` puts the original bytes back.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Callable, Iterable

from rally_osic.faults import novaconf, osf
from rally_osic.faults import transport as tr

DEFAULT_CONFIG_FILE = "/etc/nova/nova.conf"
DEFAULT_SERVICE = "nova-compute"


class ReconfigureError(Exception):
    """A compute could not be reconfigured (one line)."""


@dataclasses.dataclass(frozen=True)
class Compute:
    host: str  # Nova's compute host name
    node: str  # os-faults node ip
    config_file: str
    service: str


def _node_list(config: dict) -> list[dict]:
    discover = config.get("node_discover") or {}
    args = discover.get("args") if isinstance(discover, dict) else None
    return list(args) if isinstance(args, list) else []


def computes(
    config: dict,
    hosts: Iterable[str],
    config_file: str | None = None,
    service: str | None = None,
) -> list[Compute]:
    """Where each compute's file and service are. Pure."""
    mapping = (config.get("osic") or {}).get("nova_computes") or {}
    nodes = _node_list(config)
    found = []
    for host in hosts:
        entry = mapping.get(host) or {}
        node = entry.get("node")
        if node is None:
            match = next(
                (
                    n
                    for n in nodes
                    if host in (n.get("fqdn"), n.get("ip"))
                    or str(n.get("fqdn", "")).split(".")[0] == host
                ),
                None,
            )
            if match is None:
                raise ReconfigureError(
                    f"compute {host!r} is not a node of the os-faults config "
                    "(add it to node_list or to osic.nova_computes)"
                )
            node = match["ip"]
        found.append(
            Compute(
                host=host,
                node=node,
                config_file=entry.get("config_file")
                or config_file
                or DEFAULT_CONFIG_FILE,
                service=entry.get("service") or service or DEFAULT_SERVICE,
            )
        )
    return found


def write_command(path: str) -> str:
    """A shell command that replaces ``path`` with stdin, atomically,
    keeping its owner and mode."""
    p = shlex.quote(path)
    return (
        f'tmp=$(mktemp {p}.osic-XXXXXX) && cat > "$tmp" && '
        f'chmod --reference={p} "$tmp" && '
        f'chown --reference={p} "$tmp" && mv -f "$tmp" {p} || '
        '{ rm -f "$tmp"; exit 1; }'
    )


class Reconfiguration:
    """Live-migration options on a set of computes, and their undo."""

    def __init__(
        self,
        config: dict,
        targets: list[Compute],
        wait_up: Callable[[str, float], None],
    ) -> None:
        self.config = config
        self.targets = targets
        self.wait_up = wait_up  # (compute host, restarted at) -> None
        self.originals: dict[str, str] = {}
        self.changed: list[Compute] = []
        self._cloud = None

    @property
    def cloud(self):
        if self._cloud is None:
            try:
                self._cloud = osf.connect(self.config)
            except osf.FaultConfigError as exc:
                raise ReconfigureError(str(exc)) from None
        return self._cloud

    def _host(self, compute: Compute):
        for host in self.cloud.get_nodes().hosts:
            if host.ip == compute.node:
                return host
        raise ReconfigureError(
            f"node {compute.node} of compute {compute.host} is not in the "
            "os-faults config"
        )

    def _transport(self, compute: Compute) -> tr.Transport:
        return osf.transport_for_host(self.cloud, self._host(compute))

    def read(self, compute: Compute) -> str:
        try:
            return (
                self._transport(compute)
                .check(f"cat {shlex.quote(compute.config_file)}", timeout=30)
                .stdout
            )
        except tr.TransportError as exc:
            raise ReconfigureError(
                f"cannot read {compute.config_file} of compute "
                f"{compute.host}: {exc}"
            ) from None

    def write(self, compute: Compute, text: str) -> None:
        transport = self._transport(compute)
        try:
            res = transport.run(
                write_command(compute.config_file), timeout=30, input=text
            )
        except tr.TransportError as exc:
            raise ReconfigureError(str(exc)) from None
        if res.rc != 0:
            err = res.stderr.strip().splitlines()
            raise ReconfigureError(
                f"cannot write {compute.config_file} of compute "
                f"{compute.host}" + (f": {err[-1]}" if err else "")
            )

    def _restart_all(self, computes: list[Compute]) -> list[str]:
        """Restart them together and wait until Nova reports each up:
        a nova-compute takes tens of seconds to stop and report again
        (a 22-node cloud one at a time would take many minutes). The
        errors, one per compute that failed."""
        import concurrent.futures

        def one(compute: Compute) -> None:
            self.wait_up(compute.host, self._restart(compute))

        if not computes:
            return []
        errors = []
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=min(8, len(computes))
        ) as pool:
            for future in [pool.submit(one, c) for c in computes]:
                try:
                    future.result()
                except Exception as exc:  # noqa: BLE001 - each one's say
                    errors.append(str(exc))
        return errors

    def _restart(self, compute: Compute) -> float:
        """Restart its service; when the restart returned, by this
        machine's clock: a heartbeat after that is the new process's
        (the old one still reports while it shuts down)."""
        import time

        from os_faults.api import error as osf_error

        try:
            service = self.cloud.get_service(compute.service)
            nodes = service.get_nodes().filter(
                lambda host: host.ip == compute.node
            )
            if len(nodes) == 0:
                nodes = self.cloud.get_nodes().filter(
                    lambda host: host.ip == compute.node
                )
            service.restart(nodes)
        except (osf_error.OSFError, tr.TransportError) as exc:
            raise ReconfigureError(
                f"restart of {compute.service} on {compute.node} failed: "
                + str(exc).strip().splitlines()[0]
            ) from None
        except Exception as exc:
            if type(exc).__name__ != "TargetError":
                raise
            raise ReconfigureError(str(exc)) from None
        return time.time()

    def apply(self, values: dict[str, str]) -> dict[str, dict[str, str]]:
        """Set ``values`` on every compute, restart it, wait until Nova
        reports it up; the effective values per compute. A compute
        whose file already holds the values is neither written nor
        restarted."""
        for compute in self.targets:  # all reads before any write
            self.originals[compute.host] = self.read(compute)
        effective = {}
        try:
            to_restart = []
            for compute in self.targets:
                original = self.originals[compute.host]
                wanted = novaconf.apply(original, values)
                if wanted == original:
                    # Its file already says so: a restart would cost a
                    # compute's heartbeat (20 s on the lab) for nothing.
                    effective[compute.host] = novaconf.read(original)
                    continue
                self.write(compute, wanted)
                self.changed.append(compute)
                to_restart.append(compute)
            errors = self._restart_all(to_restart)
            if errors:
                raise ReconfigureError(errors[0])
            for compute in to_restart:
                effective[compute.host] = novaconf.read(self.read(compute))
        except Exception:  # also a compute not up in time (wait_up's)
            self.restore()
            raise
        return effective

    def restore(self) -> list[str]:
        """Put every changed file back and restart; the errors, if any."""
        errors = []
        rewritten = []
        while self.changed:
            compute = self.changed.pop()
            try:
                if self.read(compute) != self.originals[compute.host]:
                    self.write(compute, self.originals[compute.host])
                rewritten.append(compute)
            except ReconfigureError as exc:
                errors.append(str(exc))
        errors += self._restart_all(rewritten)
        if self._cloud is not None:
            osf.close_transports(self._cloud)
        return errors

"""Context ``osic_workload_servers``: loaded servers on one compute host."""

from __future__ import annotations

import time

from rally import consts, exceptions
from rally.common import logging, validation
from rally.task import context

from rally_osic.probes import runner as probe_runner
from rally_osic.probes import workload as wl

LOG = logging.getLogger(__name__)

NAME_PREFIX = "osic-lm-"
PROBE_SCHEMA = {
    "type": "object",
    "properties": {
        "location": probe_runner.LOCATION_SCHEMA,
        "network": {"type": "string", "minLength": 1},
        "wait": {"type": "boolean"},
        "timeout": {"type": "number", "minimum": 1},
    },
    "additionalProperties": False,
}


class WorkloadError(exceptions.RallyException):
    error_code = 720
    msg_fmt = "%(message)s"


@validation.add("required_platform", platform="openstack", admin=True)
@context.configure(
    name="osic_workload_servers", platform="openstack", order=440
)
class WorkloadServers(context.Context):
    """Boot N loaded servers on one source compute host, for evacuations.

    Each server gets user data (``rally_osic/probes/workload.py``) that
    starts a load like the study's, all of it configurable under
    ``workload``: a process rewriting ``dirty_mib`` MiB of memory at
    ``dirty_mibps`` MiB/s (0: flat out), a UDP and a TCP echo responder
    (``udp_port``, ``tcp_port``, default 7) for the probes, and the root
    disk filled to ``disk_fill`` (0.5: halfway).

    The servers are booted as admin on ``host`` (Nova API microversion
    2.74), or on the first enabled, up compute host. With ``probe.wait``
    (default true) the context waits until each server's address (on
    ``probe.network``, else its first fixed IPv4) answers the UDP probe,
    from where ``probe.location`` says the probe runs (this machine, a
    node over SSH, a network namespace, an LXC container: see
    ``rally_osic/probes/runner.py``). A server without an address is
    not probed, and its probe figures are "n/a".

    Servers are always deleted at cleanup, also after a failed setup or a
    ``rally task abort``.

    Example::

        osic_workload_servers:
          count: 6
          flavor: {name: m1.small}
          image: {name: debian-12}
          network: private
          workload: {dirty_mib: 256, dirty_mibps: 64, disk_fill: 0.5}
          probe: {location: {netns: qrouter-1f0e...}}
    """

    CONFIG_SCHEMA = {
        "type": "object",
        "$schema": consts.JSON_SCHEMA7,
        "properties": {
            "count": {"type": "integer", "minimum": 1},
            "flavor": {
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"],
                "additionalProperties": False,
            },
            "image": {
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"],
                "additionalProperties": False,
            },
            "host": {"type": "string", "minLength": 1},
            "network": {"type": "string", "minLength": 1},
            "workload": {
                "type": "object",
                "properties": wl.SCHEMA_PROPERTIES,
                "additionalProperties": False,
            },
            "probe": PROBE_SCHEMA,
            "boot_timeout": {"type": "number", "minimum": 1},
            "poll_interval": {"type": "number", "exclusiveMinimum": 0},
        },
        "required": ["flavor", "image"],
        "additionalProperties": False,
    }
    DEFAULT_CONFIG = {
        "count": 6,
        "boot_timeout": 600,
        "poll_interval": 1.0,
    }

    def _nova(self, version: str = "2.74"):
        from rally_openstack.common import osclients

        return osclients.Clients(self.context["admin"]["credential"]).nova(
            version
        )

    def _glance_image(self, name: str) -> str:
        from rally_openstack.common import osclients

        glance = osclients.Clients(self.context["admin"]["credential"]).glance(
            "2"
        )
        found = [i for i in glance.images.list(filters={"name": name})]
        if not found:
            raise WorkloadError(message=f"no image named {name!r}")
        return found[0]["id"]

    def _source_host(self, nova) -> str:
        if self.config.get("host"):
            return self.config["host"]
        up = sorted(
            s.host
            for s in nova.services.list(binary="nova-compute")
            if s.status == "enabled" and s.state == "up"
        )
        if not up:
            raise WorkloadError(message="no enabled nova-compute is up")
        return up[0]

    def _network_id(self, name: str) -> str:
        from rally_openstack.common import osclients

        neutron = osclients.Clients(
            self.context["admin"]["credential"]
        ).neutron()
        found = neutron.list_networks(name=name)["networks"]
        if not found:
            raise WorkloadError(message=f"no network named {name!r}")
        return found[0]["id"]

    def setup(self) -> None:
        try:
            self._setup()
        except Exception:
            self.cleanup()
            raise

    def _setup(self) -> None:
        nova = self._nova()
        config = self.config
        workload = wl.Workload(**config.get("workload", {}))
        flavor = nova.flavors.find(name=config["flavor"]["name"])
        image = self._glance_image(config["image"]["name"])
        host = self._source_host(nova)
        network = config.get("network")
        nics = [{"net-id": self._network_id(network)}] if network else "none"
        prefix = f"{NAME_PREFIX}{self.context['owner_id'][:8]}-"
        self.context["osic_workload_servers"] = state = {
            "servers": [],
            "source_host": host,
            "flavor": config["flavor"]["name"],
            "workload": vars(workload),
            "probe": dict(config.get("probe") or {}),
            "name_prefix": prefix,
        }
        user_data = wl.user_data(workload)
        created = []
        for index in range(config["count"]):
            server = nova.servers.create(
                f"{prefix}{index + 1}",
                image,
                flavor.id,
                userdata=user_data,
                nics=nics,
                host=host,
            )
            created.append(server.id)
            state["servers"].append({"id": server.id, "name": server.name})
        deadline = time.monotonic() + config["boot_timeout"]
        for entry in state["servers"]:
            server = self._wait_active(nova, entry["id"], deadline)
            entry["host"] = getattr(server, "OS-EXT-SRV-ATTR:host", None)
            entry["address"] = _address(server, network)
        self._wait_probes(state, workload, deadline)
        LOG.info(f"{len(state['servers'])} workload servers on {host}")

    def _wait_active(self, nova, server_id: str, deadline: float):
        while True:
            server = nova.servers.get(server_id)
            if server.status == "ACTIVE":
                return server
            if server.status == "ERROR":
                fault = getattr(server, "fault", {}) or {}
                raise WorkloadError(
                    message=f"server {server.name} went to ERROR: "
                    + str(fault.get("message", "no fault recorded"))
                )
            if time.monotonic() > deadline:
                raise WorkloadError(
                    message=f"server {server.name} not ACTIVE after "
                    f"{self.config['boot_timeout']:g} s ({server.status})"
                )
            time.sleep(self.config["poll_interval"])

    def _wait_probes(self, state, workload, deadline) -> None:
        probe = state["probe"]
        targets = [s for s in state["servers"] if s.get("address")]
        if not targets or not probe.get("wait", True):
            return
        with probe_runner.ProbeAgent(probe.get("location")) as agent:
            for entry in targets:
                left = max(1.0, deadline - time.monotonic())
                answer = agent.check(
                    entry["address"],
                    workload.udp_port,
                    min(left, probe.get("timeout", 300)),
                )
                if not answer["ok"]:
                    raise WorkloadError(
                        message=f"server {entry['name']} ({entry['address']})"
                        " never answered the UDP probe from "
                        + probe_runner.describe(probe.get("location"))
                    )

    def cleanup(self) -> None:
        state = self.context.get("osic_workload_servers") or {}
        prefix = state.get("name_prefix")
        if not prefix:
            return
        nova = self._nova()
        ids = {s["id"] for s in state.get("servers", [])}
        # Also servers whose create call returned no id (an abort mid-way).
        for server in nova.servers.list(search_opts={"all_tenants": 1}):
            if server.name.startswith(prefix):
                ids.add(server.id)
        for server_id in ids:
            try:
                nova.servers.delete(server_id)
            except Exception as exc:  # noqa: BLE001 - already gone is fine
                if getattr(exc, "code", None) != 404:
                    LOG.warning(f"delete of server {server_id}: {exc}")
        deadline = time.monotonic() + 300
        while ids and time.monotonic() < deadline:
            left = set()
            for server_id in ids:
                try:
                    nova.servers.get(server_id)
                    left.add(server_id)
                except Exception:  # noqa: BLE001 - 404: deleted
                    pass
            ids = left
            if ids:
                time.sleep(1)
        if ids:
            LOG.warning(f"servers not deleted after 300 s: {sorted(ids)}")


def _address(server, network: str | None) -> str | None:
    addresses = getattr(server, "addresses", {}) or {}
    names = [network] if network else sorted(addresses)
    for name in names:
        for item in addresses.get(name) or []:
            if item.get("version") == 4 and item.get(
                "OS-EXT-IPS:type", "fixed"
            ) in ("fixed", None):
                return item["addr"]
    return None

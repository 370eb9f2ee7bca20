"""Neutron's agents on a network node of the lab's own.

The study's section 4 killed and restarted the L3, DHCP, metadata,
metering and L2 agents. Here they run, with neutron-rpc-server (the RPC
side of neutron-server, which the agents talk to), on a "network node":
a mount, UTS and network namespace that the lab creates
(``osic_lab_node.py hold``), with Open vSwitch (userspace datapath: no
kernel module here) inside it. Everything the agents create, qdhcp- and
qrouter- namespaces, OVS bridges and ports, veths, iptables rules,
dnsmasq and haproxy, lives in that node and vanishes with it: the
node's /run/netns is a tmpfs of its own, so no other lab and not the
host sees them. A relay lets the node's processes reach RabbitMQ and
nova's metadata API on the host's loopback.

neutron-linuxbridge-agent, the study's L2 agent, is gone from neutron
29: neutron-openvswitch-agent stands in for it.
"""

from __future__ import annotations

import os
from pathlib import Path

from rally_osic.lab import catalog, nodes, procs, steps
from rally_osic.lab.config import LabConfig
from rally_osic.lab.families import Family
from rally_osic.lab.families.neutron import conf_args
from rally_osic.lab.services import (
    DATA_DIR,
    Service,
    command,
    venv_python,
)

NETWORK_HOST = "lab-network"
NODE = "lab-network-node"
RELAY = "lab-network-relay"
BRIDGES = ("br-phys", "br-ex", "br-guests")
OVS_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
# (service, binary, its own ini file)
AGENTS = (
    ("neutron-openvswitch-agent", "openvswitch_agent.ini"),
    ("neutron-dhcp-agent", "dhcp_agent.ini"),
    ("neutron-l3-agent", "l3_agent.ini"),
    ("neutron-metadata-agent", "metadata_agent.ini"),
    ("neutron-metering-agent", "metering_agent.ini"),
)
# neutron's agent_type of each, as GET /v2.0/agents lists them.
AGENT_TYPES = {
    "neutron-openvswitch-agent": "Open vSwitch agent",
    "neutron-dhcp-agent": "DHCP agent",
    "neutron-l3-agent": "L3 agent",
    "neutron-metadata-agent": "Metadata agent",
    "neutron-metering-agent": "Metering agent",
}
# Binaries the agents start inside the node, found by the lab's path in
# their command line or by the node's namespaces at lab down.
SPAWNED = ("dnsmasq", "haproxy", "keepalived", "radvd", "privsep-helper")


def node_script(config: LabConfig) -> list[str]:
    return [
        *venv_python(config.neutron_venv),
        str(DATA_DIR / "osic_lab_node.py"),
    ]


def ovs_env(config: LabConfig) -> dict:
    return {
        "OVS_RUNDIR": str(config.run / "ovs"),
        "OVS_LOGDIR": str(config.log),
        "OVS_DBDIR": str(config.data / "ovs"),
    }


def agent_env(config: LabConfig) -> dict:
    path = os.environ.get("PATH", "/usr/bin:/bin")
    return {
        **ovs_env(config),
        # privsep-helper and the agents' helpers (neutron-*) come from
        # the venv; ip, dnsmasq, haproxy, ovs-vsctl from Debian.
        "PATH": f"{config.neutron_venv / 'bin'}:/usr/sbin:/sbin:{path}",
    }


class NeutronAgents(Family):
    name = "neutron-agents"
    optional = True
    requires = ("nova-extra",)
    summary = (
        "neutron-rpc-server; openvswitch (L2), DHCP, L3, metadata and "
        "metering agents on a network node namespace with Open vSwitch"
    )
    debian_packages = (
        "openvswitch-switch",
        "dnsmasq-base",
        "dnsmasq-utils",  # dhcp_release frees a deleted port's address
        "haproxy",
        "iptables",
        "conntrack",
        "iproute2",
    )
    venvs = ("neutron",)
    # neutron-server reads the ML2 drivers and plugins at start.
    reconfigures = ("neutron",)
    templates = (
        ("neutron-agents.conf", "neutron/neutron-agents.conf"),
        ("openvswitch_agent.ini", "neutron/openvswitch_agent.ini"),
        ("dhcp_agent.ini", "neutron/dhcp_agent.ini"),
        ("dnsmasq.conf", "neutron/dnsmasq.conf"),
        ("l3_agent.ini", "neutron/l3_agent.ini"),
        ("metadata_agent.ini", "neutron/metadata_agent.ini"),
        ("metering_agent.ini", "neutron/metering_agent.ini"),
    )

    def substitutions(self, config):
        return {"network_host": NETWORK_HOST, "ovs_firewall": "openvswitch"}

    def render(self, config, values):
        super().render(config, values)
        for path in (
            config.run / "ovs",
            config.data / "ovs",
            config.data / "neutron-node" / "lock",
        ):
            path.mkdir(parents=True, exist_ok=True)

    def holder(self, config: LabConfig) -> Service:
        return self.services(config)[0]

    def services(self, config: LabConfig) -> list[Service]:
        run, etc = config.run, config.etc / "neutron"
        holder_argv = (
            *node_script(config),
            "hold",
            str(config.state_dir),
            NODE,
            NETWORK_HOST,
        )
        holder = command(
            config,
            NODE,
            holder_argv,
            f"osic_lab_node.py hold {config.state_dir} {NODE}",
            kind="last",
            family=self.name,
            settle=1.0,
        )
        enter = (holder.pidfile, holder.match)
        relay_ports = (config.port("rabbitmq"), config.port("nova-metadata"))
        relay = command(
            config,
            RELAY,
            (
                *node_script(config),
                "relay",
                str(config.state_dir),
                str(holder.pidfile),
                *map(str, relay_ports),
            ),
            f"osic_lab_node.py relay {config.state_dir} {holder.pidfile} ",
            kind="infra",
            family=self.name,
            settle=1.0,
        )
        db = config.data / "ovs" / "conf.db"
        ovsdb = command(
            config,
            "ovsdb-server",
            (
                "/usr/sbin/ovsdb-server",
                str(db),
                f"--remote=punix:{run / 'ovs' / 'db.sock'}",
                f"--unixctl={run / 'ovs' / 'ovsdb-server.ctl'}",
                "-vconsole:info",
                "-vsyslog:off",
            ),
            f"ovsdb-server {db}",
            health="",
            env=ovs_env(config),
            kind="infra",
            family=self.name,
            enter=enter,
            settle=1.0,
        )
        vswitchd = command(
            config,
            "ovs-vswitchd",
            (
                "/usr/sbin/ovs-vswitchd",
                f"unix:{run / 'ovs' / 'db.sock'}",
                f"--unixctl={run / 'ovs' / 'ovs-vswitchd.ctl'}",
                "-vconsole:info",
                "-vsyslog:off",
            ),
            f"ovs-vswitchd unix:{run / 'ovs' / 'db.sock'}",
            env=ovs_env(config),
            kind="infra",
            family=self.name,
            enter=enter,
            settle=1.0,
        )
        services = [holder, relay, ovsdb, vswitchd]
        rpc_argv = (
            *venv_python(config.neutron_venv),
            str(config.neutron_venv / "bin" / "neutron-rpc-server"),
            *conf_args(config),
            "--log-file",
            str(config.log / "neutron-rpc-server.log"),
        )
        services.append(
            command(
                config,
                "neutron-rpc-server",
                rpc_argv,
                f"neutron-rpc-server --config-file {etc / 'neutron.conf'}",
                health=config.amqp_health,
                family=self.name,
                settle=3.0,
            )
        )
        for name, ini in AGENTS:
            argv = (
                *venv_python(config.neutron_venv),
                str(config.neutron_venv / "bin" / name),
                *conf_args(config),
                "--config-file",
                str(etc / "neutron-agents.conf"),
                "--config-file",
                str(etc / ini),
                "--log-file",
                str(config.log / f"{name}.log"),
            )
            services.append(
                command(
                    config,
                    name,
                    argv,
                    f"{name} --config-file {etc / 'neutron.conf'}",
                    env=agent_env(config),
                    health=config.amqp_health,
                    family=self.name,
                    enter=enter,
                    settle=3.0,
                )
            )
        return services

    def setup(self, run) -> None:
        config = run.config
        db = config.data / "ovs" / "conf.db"
        if not db.exists():
            steps.run_logged(
                config, ["ovsdb-tool", "create", str(db), OVS_SCHEMA]
            )
        run.start(NODE)
        run.start(RELAY)
        run.start("ovsdb-server")
        vsctl = [
            "ovs-vsctl",
            f"--db=unix:{config.run / 'ovs' / 'db.sock'}",
            "--timeout=20",
        ]
        steps.run_logged(config, [*vsctl, "--no-wait", "init"])
        run.start("ovs-vswitchd")
        # Before the agents: a call they make before the RPC workers
        # consume its topic is lost, and they retry only 45-60 s later.
        run.after("infra", "neutron")
        run.start("neutron-rpc-server", timeout=120)
        for bridge in BRIDGES:
            steps.run_logged(
                config,
                [
                    *vsctl,
                    "--may-exist",
                    "add-br",
                    bridge,
                    "--",
                    "set",
                    "bridge",
                    bridge,
                    "datapath_type=netdev",
                ],
            )

    def ready(self, run) -> None:
        config = run.config
        catalog.wait_until(
            lambda: (
                all(alive_agents(config).values())
                and len(alive_agents(config)) == len(AGENT_TYPES)
            ),
            120,
            f"neutron's {len(AGENT_TYPES)} agents (alive in list_agents)",
            str(config.log / "neutron-openvswitch-agent.log"),
        )

    def status(self, config, rows) -> None:
        try:
            alive = alive_agents(config)
        except Exception:  # noqa: BLE001 - status must not crash
            return
        for row in rows:
            if row["name"] in alive and row["pid"]:
                row["healthy"] = row["healthy"] and alive[row["name"]]
                state = "alive" if alive[row["name"]] else "dead"
                row["detail"] = f"neutron: {state}"

    def cleanup(self, config: LabConfig) -> list[str]:
        """What the agents left in the node: its namespaces and the
        processes in them (dnsmasq, haproxy), before the node goes."""
        holder = procs.running_pid(self.holder(config))
        said = []
        namespaces = []
        if holder:
            netns_dir = Path(f"/proc/{holder}/root/run/netns")
            namespaces = sorted(p.name for p in netns_dir.glob("*"))
        inodes = nodes.namespace_inodes(holder) if holder else set()
        strays = nodes.kill_strays(
            str(config.data / "neutron-node"), inodes, {holder}
        )
        if strays:
            said.append(
                f"stopped {len(strays)} processes the agents started "
                f"(dnsmasq, haproxy, privsep): pids {strays}"
            )
        if holder:
            for name in namespaces:
                steps.run_logged(
                    config,
                    [
                        "nsenter",
                        f"--target={holder}",
                        "--mount",
                        "--net",
                        "--",
                        "ip",
                        "netns",
                        "delete",
                        name,
                    ],
                )
            if namespaces:
                said.append(
                    f"removed {len(namespaces)} namespaces of the network "
                    f"node: {', '.join(namespaces)}"
                )
        return said


def alive_agents(config: LabConfig) -> dict[str, bool]:
    """{service name: alive} for the node's agents, from neutron's API."""
    sess = catalog.admin_session(config, timeout=10)
    response = sess.get(
        "/v2.0/agents",
        endpoint_filter={"service_type": "network", "interface": "public"},
        raise_exc=False,
    )
    if response.status_code != 200:
        return {}
    by_type = {kind: name for name, kind in AGENT_TYPES.items()}
    return {
        by_type[agent["agent_type"]]: agent["alive"]
        for agent in response.json()["agents"]
        if agent["host"] == NETWORK_HOST and agent["agent_type"] in by_type
    }


FAMILY = NeutronAgents()

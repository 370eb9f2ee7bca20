"""Nova's libvirt driver on two compute hosts of the lab: real guests and
real live migrations (``lab up --services libvirt``).

Each host (``lab-kvm-1``, ``lab-kvm-2``) is a node of the lab
(``osic_lab_node.py hold``: a mount, UTS and network namespace of its
own) that runs, inside it:

* a libvirtd listening on TCP on the host's management address (no
  auth: the namespace is private), whose /etc/libvirt, /run/libvirt,
  /var/lib/libvirt, /var/cache/libvirt and /var/log/libvirt are bind
  mounts of the host's directory under ``data/libvirt/<host>``, and
  QEMU under TCG (a Linux guest hangs under this machine's KVM);
* an Open vSwitch (userspace datapath) whose br-int takes the guests'
  taps: neutron binds their ports with vif type ``ovs``
  (osic_lab_bind_all), and libvirt plugs them;
* a nova-compute with the libvirt driver, which reaches the control
  plane on 127.0.0.1 through the node's relay.

Nova keeps the source's disk paths in a migrated domain, so both hosts
have one instances path, ``data/libvirt/instances``, bind-mounted from
their own ``data/libvirt/<host>/instances``: local storage, and block
migration between them; or, with ``libvirt_rbd`` (``--storage
shared``), the disks on the lab's Ceph.

A fabric node joins the hosts as a rack switch would. Its bridge br-mgmt
carries the hosts' management addresses (10.78.1.1 and .2), over which
libvirt migrates. Its bridge br-guests joins each host's br-int, the
network node's br-guests (neutron's DHCP agent serves the guests from
there) and the probes' address 10.78.0.254. Neutron's network
``lab-guests`` (flat, physnet ``guests``, 10.78.0.0/24) is the guests'
network. The fabric's network namespace is named (``ip netns``)
``osiclab<port offset>-guests``: probes run there, so that no probe
packet leaves the lab.
"""

from __future__ import annotations

import os
from pathlib import Path

from rally_osic.lab import catalog, nodes, procs, render, steps
from rally_osic.lab.config import LabConfig
from rally_osic.lab.families import Family, libvirt_rbd
from rally_osic.lab.families.neutron_agents import NODE as NETWORK_NODE
from rally_osic.lab.families.neutron_agents import OVS_SCHEMA
from rally_osic.lab.families.nova import (
    COMPUTE_HOSTS,
    compute_service_states,
    nova_argv,
    wait_for_hypervisors,
)
from rally_osic.lab.guest_image import IMAGE
from rally_osic.lab.services import DATA_DIR, Service, command, venv_python

HOSTS = ("lab-kvm-1", "lab-kvm-2")
FABRIC = "lab-kvm-fabric"
MGMT_SUBNET = "10.78.1"
GUEST_SUBNET = "10.78.0"
PROBE_ADDRESS = f"{GUEST_SUBNET}.254"
GUEST_NETWORK = "lab-guests"
PHYSNET = "guests"
AVAILABILITY_ZONE = "libvirt"
# The study's small, medium and large (2, 4 and 8 vCPUs; 4, 8 and 16 GB
# of RAM; 40, 80 and 160 GB of disk), scaled to a 2-core machine with
# their 1 : 2 : 4 ratios. A busybox guest with its 64 MiB dirtying load
# needs more than 128 MiB (its root is in RAM).
STUDY_FLAVORS = (
    {"name": "lab-small", "vcpus": 1, "ram": 192, "disk": 1},
    {"name": "lab-medium", "vcpus": 2, "ram": 384, "disk": 2},
    {"name": "lab-large", "vcpus": 4, "ram": 768, "disk": 4},
)


def lab_flavors(host_cpus: int | None = None) -> tuple[dict, ...]:
    """The lab's flavors, vCPUs capped at the host's CPUs.

    Placement caps one server's VCPU at the compute's CPU count
    (``max_unit``) whatever the allocation ratio, so a 4-vCPU lab-large
    was never placed on 2 cores ("No valid host"). Memory and disk keep
    the 1 : 2 : 4 ratios, and memory is what a migration copies.
    """
    cpus = max(1, host_cpus or os.cpu_count() or 1)
    return tuple(
        {**flavor, "vcpus": min(flavor["vcpus"], cpus)}
        for flavor in STUDY_FLAVORS
    )


LIBVIRT_PORT = 16509
# Inside each host: these paths are its own directories.
BIND_MOUNTS = {
    "etc": "/etc/libvirt",
    "run": "/run/libvirt",
    "lib": "/var/lib/libvirt",
    "cache": "/var/cache/libvirt",
    "log": "/var/log/libvirt",
    "ovs": "/run/openvswitch",
}
DEBIAN_PACKAGES = (
    "libvirt-daemon-system",
    # nova-compute's libvirt bindings: Debian's, linked into the
    # services venv (as ceph's are into cinder's).
    "python3-libvirt",
    "qemu-system-x86",
    "qemu-utils",
    "genisoimage",
    "openvswitch-switch",
    "busybox-static",
    "gcc",
    "libc6-dev",
)


def host_dir(config: LabConfig, host: str) -> Path:
    return config.data / "libvirt" / host


def pki_dir(config: LabConfig) -> Path:
    """QEMU's certificates for native TLS migration, one set for both
    hosts (it names both management addresses)."""
    return config.data / "libvirt" / "pki"


def ensure_certificates(config: LabConfig) -> None:
    """Make the hosts' CA and certificate once; a lab keeps them (ten
    years) so that a guest's TLS migration works after any restart."""
    from rally_osic.rig.hosts import RigError, make_certificates

    directory = pki_dir(config)
    names = ("ca-cert.pem", "server-cert.pem", "server-key.pem")
    if all((directory / name).is_file() for name in names):
        return
    try:
        make_certificates(
            directory,
            [mgmt_address(i) for i in range(1, len(HOSTS) + 1)],
            days=3650,
        )
    except RigError as exc:
        raise steps.SetupError(f"QEMU's TLS certificates: {exc}") from None


def instances_path(config: LabConfig) -> Path:
    return config.data / "libvirt" / "instances"


def mgmt_address(index: int) -> str:
    return f"{MGMT_SUBNET}.{index}"


def guests_netns(config: LabConfig) -> str:
    """The named network namespace of the guests' network (probes)."""
    return f"osiclab{config.port_offset}-guests"


def short(host: str) -> str:
    return host.removeprefix("lab-")


def node_name(host: str) -> str:
    return f"{host}-node"


def relay_ports(config: LabConfig) -> list[int]:
    names = [
        # nova-compute reads the cells' databases itself at start-up
        # (the minimum service version of every cell).
        "mariadb",
        "rabbitmq",
        "memcached",
        "keystone",
        "glance",
        "placement",
        "neutron",
        "nova-api",
    ]
    if "cinder" in config.families:
        names.append("cinder")
    ports = [config.port(name) for name in names]
    if libvirt_rbd.enabled(config):
        ports += libvirt_rbd.relay_ports(config)
    return ports


def ovs_env(config: LabConfig, host: str) -> dict:
    directory = host_dir(config, host)
    return {
        "OVS_RUNDIR": str(directory / "ovs"),
        "OVS_LOGDIR": str(config.log),
        "OVS_DBDIR": str(directory / "ovsdb"),
    }


def compute_env(config: LabConfig) -> dict:
    path = os.environ.get("PATH", "/usr/bin:/bin")
    # privsep-helper from the venv; ip, ovs-vsctl, qemu-img, genisoimage
    # from Debian.
    path = f"{config.services_venv / 'bin'}:/usr/sbin:/sbin:{path}"
    if libvirt_rbd.enabled(config):
        path = f"{libvirt_rbd.bin_dir(config)}:{path}"
    return {"PATH": path}


class Libvirt(Family):
    name = "libvirt"
    optional = True
    computes = True
    requires = ("neutron-agents",)
    summary = (
        "2 compute hosts with libvirtd, QEMU (TCG), Open vSwitch and "
        "nova-compute's libvirt driver: real guests, live migration"
    )
    debian_packages = DEBIAN_PACKAGES
    venvs = ("services",)
    # The bind driver learns these hosts; the OVS agent their physnet.
    reconfigures = ("neutron", "neutron-openvswitch-agent")

    def substitutions(self, config):
        return {}

    def render(self, config, values):
        # The rig's namespaced libvirtds are configured the same way.
        import uuid

        from rally_osic.rig.hosts import LIBVIRTD_CONF, QEMU_CONF

        for index, host in enumerate(HOSTS, start=1):
            directory = host_dir(config, host)
            for key in (*BIND_MOUNTS, "instances", "ovsdb", "state"):
                (directory / key).mkdir(parents=True, exist_ok=True)
            (directory / "lib" / "qemu").mkdir(exist_ok=True)
            uuid_file = directory / "host_uuid"
            if not uuid_file.exists():
                uuid_file.write_text(str(uuid.uuid4()) + "\n")
            address = mgmt_address(index)
            (directory / "etc" / "libvirtd.conf").write_text(
                LIBVIRTD_CONF.format(
                    name=host,
                    address=address,
                    port=LIBVIRT_PORT,
                    host_uuid=uuid_file.read_text().strip(),
                )
            )
            (directory / "etc" / "qemu.conf").write_text(
                QEMU_CONF.format(
                    name=host,
                    address=address,
                    port_min=49152,
                    port_max=49215,
                    # Used only by a migration that asks for TLS (Nova's
                    # live_migration_with_native_tls); verified both ways.
                    tls=(
                        f'default_tls_x509_cert_dir = "{pki_dir(config)}"\n'
                        "default_tls_x509_verify = 1\n"
                    ),
                )
            )
            conf = config.etc / "nova" / f"compute-{short(host)}.conf"
            helper = (
                f"{config.services_venv / 'bin' / 'privsep-helper'} "
                f"--config-file {config.etc / 'nova' / 'nova.conf'} "
                f"--config-file {conf}"
            )
            render.write(
                config,
                "nova-compute-libvirt.conf",
                f"nova/{conf.name}",
                {
                    **values,
                    "compute_host": host,
                    "host_dir": str(directory),
                    "instances_path": str(instances_path(config)),
                    "mgmt_address": address,
                    "privsep_helper": helper,
                    "storage_options": libvirt_rbd.nova_storage_options(
                        config
                    ),
                },
            )
        instances_path(config).mkdir(parents=True, exist_ok=True)

    # ----------------------------------------------------------- services
    def holders(self, config: LabConfig) -> dict[str, Service]:
        script = (
            *venv_python(config.services_venv),
            str(DATA_DIR / "osic_lab_node.py"),
            "hold",
            str(config.state_dir),
        )
        holders = {}
        for name, hostname in (
            (FABRIC, "lab-kvm-fabric"),
            *((node_name(host), host) for host in HOSTS),
        ):
            holders[name] = command(
                config,
                name,
                (*script, name, hostname),
                f"osic_lab_node.py hold {config.state_dir} {name} ",
                kind="last",
                family=self.name,
                settle=1.0,
            )
        return holders

    def services(self, config: LabConfig) -> list[Service]:
        holders = self.holders(config)
        services = list(holders.values())
        for host in HOSTS:
            holder = holders[node_name(host)]
            enter = (holder.pidfile, holder.match)
            directory = host_dir(config, host)
            services.append(
                command(
                    config,
                    f"{host}-relay",
                    (
                        *venv_python(config.services_venv),
                        str(DATA_DIR / "osic_lab_node.py"),
                        "relay",
                        str(config.state_dir),
                        str(holder.pidfile),
                        *map(str, relay_ports(config)),
                    ),
                    f"osic_lab_node.py relay {config.state_dir} "
                    f"{holder.pidfile} ",
                    kind="infra",
                    family=self.name,
                    settle=1.0,
                )
            )
            db = directory / "ovsdb" / "conf.db"
            sock = directory / "ovs" / "db.sock"
            services.append(
                command(
                    config,
                    f"ovsdb-server-{short(host)}",
                    (
                        "/usr/sbin/ovsdb-server",
                        str(db),
                        f"--remote=punix:{sock}",
                        f"--unixctl={directory / 'ovs' / 'ovsdb.ctl'}",
                        "-vconsole:info",
                        "-vsyslog:off",
                    ),
                    f"ovsdb-server {db}",
                    env=ovs_env(config, host),
                    kind="infra",
                    family=self.name,
                    enter=enter,
                    settle=1.0,
                )
            )
            services.append(
                command(
                    config,
                    f"ovs-vswitchd-{short(host)}",
                    (
                        "/usr/sbin/ovs-vswitchd",
                        f"unix:{sock}",
                        f"--unixctl={directory / 'ovs' / 'vswitchd.ctl'}",
                        "-vconsole:info",
                        "-vsyslog:off",
                    ),
                    f"ovs-vswitchd unix:{sock}",
                    env=ovs_env(config, host),
                    kind="infra",
                    family=self.name,
                    enter=enter,
                    settle=1.0,
                )
            )
            libvirtd_conf = directory / "etc" / "libvirtd.conf"
            services.append(
                command(
                    config,
                    f"libvirtd-{short(host)}",
                    (
                        "/usr/sbin/libvirtd",
                        "--listen",
                        "--pid-file",
                        str(directory / "run" / "libvirtd.pid"),
                        "-f",
                        str(libvirtd_conf),
                    ),
                    f"libvirtd --listen --pid-file "
                    f"{directory / 'run' / 'libvirtd.pid'}",
                    health=f"unix://{libvirt_socket(config, host)}",
                    kind="infra",
                    family=self.name,
                    enter=enter,
                    settle=2.0,
                )
            )
            compute_conf = config.etc / "nova" / f"compute-{short(host)}.conf"
            services.append(
                command(
                    config,
                    f"nova-compute-{short(host)}",
                    nova_argv(config, "nova-compute", compute_conf),
                    f"config-file {compute_conf}",
                    env=compute_env(config),
                    health=config.amqp_health,
                    family=self.name,
                    enter=enter,
                    start_timeout=120.0,
                )
            )
        return services

    def groups(self, config):
        return {
            "libvirtd": tuple(f"libvirtd-{short(h)}" for h in HOSTS),
            "nova-compute-libvirt": tuple(
                f"nova-compute-{short(h)}" for h in HOSTS
            ),
        }

    # -------------------------------------------------------------- setup
    def preflight(self, config) -> None:
        from rally_osic.rig import qemu_version

        defect = qemu_version.tcg_migration_defect()
        if defect:
            raise steps.SetupError(defect)

    def setup(self, run) -> None:
        config = run.config
        steps.link_debian_modules(
            config.services_venv,
            "libvirt",
            "python3-libvirt",
            ("libvirt.py", "libvirtmod.cpython-*.so", "libvirtaio.py"),
        )
        ensure_certificates(config)
        for host in HOSTS:
            db = host_dir(config, host) / "ovsdb" / "conf.db"
            if not db.exists():
                steps.run_logged(
                    config, ["ovsdb-tool", "create", str(db), OVS_SCHEMA]
                )
        run.start(FABRIC)
        for host in HOSTS:
            run.start(node_name(host))
        fabric = nodes.Node(config, run.started_at(FABRIC))
        for bridge in ("br-mgmt", "br-guests"):
            if not fabric.has_link(bridge):
                fabric.ip("link", "add", bridge, "type", "bridge")
                fabric.ip(
                    "link", "set", bridge, "type", "bridge", "stp_state", "0",
                    "forward_delay", "0",
                )  # fmt: skip
            fabric.ip("link", "set", bridge, "up")
        if not fabric.has_address("br-guests", PROBE_ADDRESS):
            fabric.ip("addr", "add", f"{PROBE_ADDRESS}/24", "dev", "br-guests")
        attach_netns(config, run.started_at(FABRIC))
        for index, host in enumerate(HOSTS, start=1):
            node = nodes.Node(config, run.started_at(node_name(host)))
            node.bind_mounts(
                [
                    (host_dir(config, host) / key, Path(target))
                    for key, target in BIND_MOUNTS.items()
                ]
                + [
                    (
                        host_dir(config, host) / "instances",
                        instances_path(config),
                    )
                ]
            )
            fabric.veth(f"m{index}", node, "mgmt", "br-mgmt")
            fabric.veth(f"g{index}", node, "uplink", "br-guests")
            if not node.has_address("mgmt", mgmt_address(index)):
                node.ip(
                    "addr", "add", f"{mgmt_address(index)}/24", "dev", "mgmt"
                )
            run.start(f"{host}-relay")
            run.start(f"ovsdb-server-{short(host)}")
            vsctl = _vsctl(host_dir(config, host) / "ovs" / "db.sock")
            # A virtio guest leaves its TCP and UDP checksums to the
            # host (the tap's vnet header). Without this, the userspace
            # datapath reads such packets raw and sends them on with the
            # checksum unfilled, and the probes' side drops them: ARP and
            # DHCP work, TCP and UDP to the guest do not.
            steps.run_logged(
                config,
                [
                    *vsctl, "--no-wait", "init", "--", "set",
                    "Open_vSwitch", ".",
                    "other_config:userspace-tso-enable=true",
                ],
            )  # fmt: skip
            run.start(f"ovs-vswitchd-{short(host)}")
            steps.run_logged(
                config,
                [
                    *vsctl,
                    "--may-exist",
                    "add-br",
                    "br-int",
                    "--",
                    "set",
                    "bridge",
                    "br-int",
                    "datapath_type=netdev",
                    "--",
                    "--may-exist",
                    "add-port",
                    "br-int",
                    "uplink",
                ],
            )
            run.start(f"libvirtd-{short(host)}")
        # The network node's br-guests (neutron-agents' setup adds it).
        run.after("neutron-agents")
        network = nodes.Node(config, run.started_at(NETWORK_NODE))
        network_vsctl = _vsctl(config.run / "ovs" / "db.sock")
        # The userspace datapath keeps reading the socket of a guests-up
        # that went with an earlier fabric; only a port deleted in a
        # transaction of its own is opened again.
        steps.run_logged(
            config,
            [*network_vsctl, "--if-exists", "del-port", "br-guests",
             "guests-up"],
        )  # fmt: skip
        fabric.veth("gnet", network, "guests-up", "br-guests")
        steps.run_logged(
            config, [*network_vsctl, "add-port", "br-guests", "guests-up"]
        )

    def ready(self, run) -> None:
        from rally_osic.lab import guest_image  # builds with rig.guest
        from rally_osic.lab.families import libvirt_cloud

        config = run.config
        wait_for_hypervisors(
            config, len(COMPUTE_HOSTS) + len(HOSTS), timeout=180
        )
        # A host listed with a heartbeat of its last life reads "down"
        # until its first report: the scheduler would skip it.
        catalog.wait_until(
            lambda: all(
                compute_service_states(config).get(f"nova-compute@{host}")
                == "up"
                for host in HOSTS
            ),
            120,
            "the libvirt hosts' nova-computes (up in nova's list)",
            str(config.log / "nova-compute-kvm-1.log"),
        )
        sess = catalog.admin_session(config)
        libvirt_cloud.ensure_flavors(sess)
        libvirt_cloud.ensure_zone(sess)
        guest_image.ensure_image(config, sess)
        libvirt_cloud.ensure_network(sess)

    def cleanup(self, config: LabConfig) -> list[str]:
        """The guests (QEMU) and helpers left in the hosts, and the
        guests' named network namespace."""
        said = []
        inodes: set[int] = set()
        holders = self.holders(config)
        for holder in holders.values():
            pid = procs.running_pid(holder)
            if pid:
                inodes |= nodes.namespace_inodes(pid)
        strays = nodes.kill_strays(
            str(config.data / "libvirt"),
            inodes,
            {procs.running_pid(h) for h in holders.values()},
        )
        if strays:
            said.append(
                f"stopped {len(strays)} processes left in the libvirt "
                f"hosts (guests, privsep): pids {strays}"
            )
        name = guests_netns(config)
        if Path(f"/run/netns/{name}").exists():
            steps.run_logged(config, ["ip", "netns", "delete", name])
            said.append(f"removed the network namespace {name}")
        return said

    def retire_in_cloud(self, session) -> list[str]:
        """Delete the hosts' nova-compute services, as an operator
        retiring a compute does: a stopped compute reads "up" in Nova
        for a minute after its last heartbeat, and whatever lists the
        up computes then (the transport toggle) would reach for it."""
        from rally_osic.lab.families import libvirt_cloud

        return libvirt_cloud.delete_compute_services(session, HOSTS)

    def status(self, config, rows) -> None:
        """Nova's view of the hosts' nova-computes, and each libvirtd's
        guests with their accelerator (TCG or KVM)."""
        from rally_osic.lab.families import libvirt_cloud

        try:
            states = compute_service_states(config)
        except Exception:  # noqa: BLE001 - status must not crash
            states = {}
        for row in rows:
            for host in HOSTS:
                if not row["pid"]:
                    continue
                if row["name"] == f"nova-compute-{short(host)}":
                    state = states.get(f"nova-compute@{host}")
                    if state:
                        row["healthy"] = state == "up"
                        row["detail"] = f"nova: {state}"
                elif row["name"] == f"libvirtd-{short(host)}":
                    row["detail"] = libvirt_cloud.guests_summary(
                        libvirt_socket(config, host)
                    )


def libvirt_socket(config: LabConfig, host: str) -> Path:
    return host_dir(config, host) / "run" / "libvirt-sock"


def live_migration_args(config: LabConfig) -> dict:
    """Task args of live_migration_evacuation.yaml for these hosts."""
    return {
        "image": IMAGE,
        # The catalogue's sizes (LM.*: flavor small, medium, large).
        "flavor_names": dict(
            zip(
                ("small", "medium", "large"),
                (f["name"] for f in STUDY_FLAVORS),
            )
        ),
        "network": GUEST_NETWORK,
        "host": HOSTS[0],
        "target_host": HOSTS[1],
        "storage": "shared" if libvirt_rbd.enabled(config) else "local",
        # lab-small has 128 MiB; the guest has no root filesystem to fill
        # (it runs from its initramfs).
        "dirty_mib": 32,
        "dirty_mibps": 16,
        "disk_fill": 0.0,
        "probe_location": {"netns": guests_netns(config)},
        "libvirt_uri": "qemu+unix:///system?socket={host}",
        "libvirt_host_map": {
            host: str(libvirt_socket(config, host)) for host in HOSTS
        },
    }


def _vsctl(sock: Path) -> list[str]:
    return ["ovs-vsctl", f"--db=unix:{sock}", "--timeout=20"]


def attach_netns(config: LabConfig, holder: int | None) -> None:
    """Name the fabric's network namespace, for ``ip netns exec``."""
    name = guests_netns(config)
    path = Path(f"/run/netns/{name}")
    if path.exists():
        try:
            here = os.stat(f"/proc/{holder}/ns/net").st_ino
            same = os.stat(path).st_ino == here
        except OSError:
            same = False
        if same:
            return
        steps.run_logged(config, ["ip", "netns", "delete", name])
    steps.run_logged(config, ["ip", "netns", "attach", name, str(holder)])


FAMILY = Libvirt()

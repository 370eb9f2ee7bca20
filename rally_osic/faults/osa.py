"""An os-faults config from an OpenStack-Ansible inventory.

OpenStack-Ansible (OSA) writes ``/etc/openstack_deploy/
openstack_inventory.json`` with its dynamic inventory script: Ansible
groups, each with ``hosts`` and ``children`` (``keystone_all`` has the
child ``keystone``, which lists the containers), and ``_meta.hostvars``
giving each host its ``physical_host``, ``ansible_host``, ``component``,
``is_metal`` and ``properties``. os-faults has no OSA driver; this module
maps every service of the study that OSA deploys to an ``osic_process``
service: its systemd unit, acted on inside the service's LXC container
(``lxc-attach``, one container name per physical host) or on the metal
host, and the physical hosts become the ``node_list``.

Groups are resolved through their children, as Ansible does; a component
group that the inventory lacks is found from the hosts' ``component`` or
``properties.service_name``. Every name that reaches a command line (host,
container, address) must be a plain name: anything else is refused with
the name shown, before a config is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from rally_osic.errors import CommandError

# OSA component group -> (os-faults service, systemd unit, TCP port), one
# per process the group runs. Units and ports are OSA's own: the
# ``*_services`` maps and port defaults of the os_nova, os_neutron and
# os_swift roles (Swift's servers on 6000-6002; each background daemon
# has its own unit). Groups of older releases (the study's Newton:
# glance_registry, nova_cert, nova_consoleauth, linuxbridge) are mapped
# too; a group that is not in the inventory is skipped.
SERVICES: dict[str, tuple[tuple[str, str, int | None], ...]] = {
    "galera": (("mysql", "mariadb", 3306),),
    "memcached": (("memcached", "memcached", 11211),),
    "rabbitmq": (("rabbitmq", "rabbitmq-server", 5672),),
    "haproxy": (("haproxy", "haproxy", None),),
    "keystone": (("keystone", "keystone-wsgi-public", 5000),),
    "glance_api": (("glance-api", "glance-api", 9292),),
    "glance_registry": (("glance-registry", "glance-registry", 9191),),
    "placement_api": (("placement-api", "placement-api", 8778),),
    "nova_api_os_compute": (
        ("nova-api-os-compute", "nova-api-os-compute", 8774),
    ),
    "nova_api_metadata": (("nova-api-metadata", "nova-api-metadata", 8775),),
    "nova_conductor": (("nova-conductor", "nova-conductor", None),),
    "nova_scheduler": (("nova-scheduler", "nova-scheduler", None),),
    "nova_compute": (("nova-compute", "nova-compute", None),),
    # Which proxy runs depends on nova_console_type; a fault on one that
    # does not run fails with "not running".
    "nova_console": (
        ("nova-novncproxy", "nova-novncproxy", 6080),
        ("nova-spicehtml5proxy", "nova-spicehtml5proxy", 6082),
        ("nova-serialproxy", "nova-serialproxy", 6083),
    ),
    "nova_cert": (("nova-cert", "nova-cert", None),),
    "nova_consoleauth": (("nova-consoleauth", "nova-consoleauth", None),),
    "neutron_server": (("neutron-server", "neutron-server", 9696),),
    "neutron_l3_agent": (("neutron-l3-agent", "neutron-l3-agent", None),),
    "neutron_dhcp_agent": (
        ("neutron-dhcp-agent", "neutron-dhcp-agent", None),
    ),
    "neutron_metadata_agent": (
        ("neutron-metadata-agent", "neutron-metadata-agent", None),
    ),
    "neutron_metering_agent": (
        ("neutron-metering-agent", "neutron-metering-agent", None),
    ),
    "neutron_linuxbridge_agent": (
        ("neutron-linuxbridge-agent", "neutron-linuxbridge-agent", None),
    ),
    "neutron_openvswitch_agent": (
        ("neutron-openvswitch-agent", "neutron-openvswitch-agent", None),
    ),
    "cinder_api": (("cinder-api", "cinder-api", 8776),),
    "cinder_scheduler": (("cinder-scheduler", "cinder-scheduler", None),),
    "cinder_volume": (("cinder-volume", "cinder-volume", None),),
    "cinder_backup": (("cinder-backup", "cinder-backup", None),),
    "heat_api": (("heat-api", "heat-api", 8004),),
    "heat_api_cfn": (("heat-api-cfn", "heat-api-cfn", 8000),),
    "heat_engine": (("heat-engine", "heat-engine", None),),
    "horizon": (("horizon", "apache2", 443),),
    "swift_proxy": (("swift-proxy-server", "swift-proxy-server", 8080),),
    "swift_acc": (
        ("swift-account-server", "swift-account-server", 6002),
        ("swift-account-auditor", "swift-account-auditor", None),
        ("swift-account-reaper", "swift-account-reaper", None),
        ("swift-account-replicator", "swift-account-replicator", None),
    ),
    "swift_cont": (
        ("swift-container-server", "swift-container-server", 6001),
        ("swift-container-auditor", "swift-container-auditor", None),
        ("swift-container-reconciler", "swift-container-reconciler", None),
        ("swift-container-replicator", "swift-container-replicator", None),
        ("swift-container-sync", "swift-container-sync", None),
        ("swift-container-updater", "swift-container-updater", None),
    ),
    "swift_obj": (
        ("swift-object-server", "swift-object-server", 6000),
        ("swift-object-auditor", "swift-object-auditor", None),
        ("swift-object-expirer", "swift-object-expirer", None),
        ("swift-object-reconstructor", "swift-object-reconstructor", None),
        ("swift-object-replicator", "swift-object-replicator", None),
        ("swift-object-updater", "swift-object-updater", None),
    ),
}

# Host and container names and addresses go into ssh and lxc-attach
# command lines: letters, digits and . _ - (and : % for IPv6) only.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:%-]*")
SAFE_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
SAFE_PATH = re.compile(r"/[A-Za-z0-9_./+-]*")


class InventoryError(CommandError):
    """The inventory is not a usable OSA inventory (one line)."""


def load(path: str) -> dict:
    """The inventory at ``path``, its shape checked (see :func:`check`)."""
    try:
        with open(path, "rb") as fd:
            raw = fd.read()
    except OSError as exc:
        raise InventoryError(f"cannot read {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")  # a BOM is not an error
    except UnicodeDecodeError:
        raise InventoryError(f"{path} is not UTF-8 text") from None
    if not text.strip():
        raise InventoryError(f"{path} is empty")
    try:
        data = json.loads(text)
    except RecursionError:
        raise InventoryError(f"{path}: JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) - 1:
            raise InventoryError(
                f"{path}: truncated JSON (ends at byte {len(raw)})"
            ) from None
        raise InventoryError(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}"
        ) from None
    check(data, path)
    return data


def _kind(value) -> str:
    return {
        str: "a string",
        list: "a list",
        dict: "a mapping",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def check(inventory, where: str = "inventory") -> None:
    """Raise :class:`InventoryError` unless ``inventory`` has the shape of
    an Ansible JSON inventory: an object whose ``_meta.hostvars`` is a
    mapping of mappings. Groups are checked as they are resolved (see
    :func:`resolve`), so that a quirk in a group this does not use (OSA
    writes a null into ``lxc_hosts`` for a host it cannot place) does not
    stop it."""
    if not isinstance(inventory, dict):
        raise InventoryError(
            f"{where} is not an OpenStack-Ansible inventory (a JSON object "
            f"with _meta.hostvars), but {_kind(inventory)}"
        )
    meta = inventory.get("_meta")
    if not isinstance(meta, dict) or not isinstance(
        meta.get("hostvars"), dict
    ):
        found = (
            _kind(meta)
            if not isinstance(meta, dict)
            else f"hostvars {_kind(meta.get('hostvars'))}"
        )
        raise InventoryError(
            f"{where} is not an OpenStack-Ansible inventory: _meta must be "
            f"a mapping with a hostvars mapping, found {found}"
        )
    for host, hostvars in meta["hostvars"].items():
        if not isinstance(hostvars, dict):
            raise InventoryError(
                f"{where}: hostvars of {host!r} must be a mapping, not "
                f"{_kind(hostvars)}"
            )


def _group_names(inventory: dict, group: str, key: str) -> list[str]:
    """``hosts`` or ``children`` of a group, checked: a list of names
    (nulls, which OSA itself writes, are skipped). A group may be a plain
    list of host names, as Ansible allows."""
    value = inventory[group]
    if isinstance(value, list):
        value = {"hosts": value}
    if not isinstance(value, dict):
        raise InventoryError(
            f"group {group!r} must be a mapping (hosts, children, vars), "
            f"not {_kind(value)}"
        )
    names = value.get(key)
    if names is None:
        return []
    if not isinstance(names, list):
        shown = f" ({names!r})" if isinstance(names, str) else ""
        raise InventoryError(
            f"group {group!r}: {key} must be a list of names, not "
            f"{_kind(names)}{shown}"
        )
    for name in names:
        if name is not None and not isinstance(name, str):
            raise InventoryError(
                f"group {group!r}: {key} must hold names (strings), found "
                f"{_kind(name)} {name!r}"
            )
    return [name for name in names if name]


def safe_name(name, what: str) -> str:
    """``name`` if it may go into a command line; else the refusal."""
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
        raise InventoryError(
            f"{what} {name!r} is not a plain name (letters, digits and "
            "'.', '_', '-', ':' only): refused, it would reach a command "
            "line"
        )
    return name


def resolve(inventory: dict, group: str) -> list[str]:
    """Hosts of ``group`` and of its children, recursively, as Ansible
    resolves them (cycles are followed once)."""
    found: dict[str, None] = {}
    seen = set()
    pending = [group]
    while pending:
        name = pending.pop()
        if name in seen or name not in inventory or name == "_meta":
            continue
        seen.add(name)
        for host in _group_names(inventory, name, "hosts"):
            found.setdefault(host, None)
        pending.extend(reversed(_group_names(inventory, name, "children")))
    return list(found)


def members(inventory: dict, component: str) -> list[str]:
    """The hosts that run OSA ``component``: its group (or the group
    ``<component>_all``), resolved through children; else the hosts whose
    hostvars name it as ``component`` or ``properties.service_name``."""
    for group in (component, f"{component}_all"):
        if group in inventory:
            return resolve(inventory, group)
    hostvars = inventory["_meta"]["hostvars"]
    found = []
    for host, hv in hostvars.items():
        properties = hv.get("properties")
        service_name = (
            properties.get("service_name")
            if isinstance(properties, dict)
            else None
        )
        if component in (hv.get("component"), service_name):
            found.append(host)
    return found


def to_os_faults(
    inventory: dict,
    username: str = "root",
    private_key_file: str | None = None,
    local_nodes: Iterable[str] = (),
    lxc_path: str | None = None,
) -> dict:
    """The os-faults config for an OSA inventory.

    ``lxc_path`` is the LXC path of the containers on the physical hosts
    (``lxc-attach -P``); None means LXC's default (``/var/lib/lxc``, as
    OSA uses).
    """
    check(inventory)
    if not SAFE_USER.fullmatch(username or ""):
        raise InventoryError(f"SSH user {username!r} is not a user name")
    if lxc_path is not None and not SAFE_PATH.fullmatch(lxc_path):
        raise InventoryError(
            f"LXC path {lxc_path!r} is not a plain absolute path"
        )
    local_nodes = [safe_name(n, "--local-node") for n in local_nodes]
    hostvars = inventory["_meta"]["hostvars"]

    def hv_of(name: str) -> dict:
        return hostvars.get(name) or {}

    def physical(name: str) -> str:
        phys = hv_of(name).get("physical_host", name)
        if not isinstance(phys, str):
            raise InventoryError(
                f"host {name!r}: physical_host must be a host name, not "
                f"{_kind(phys)}"
            )
        return safe_name(phys or name, f"host {name!r}: physical_host")

    def address(phys: str, member: str) -> str:
        for hv, keys in (
            (hv_of(phys), ("ansible_host", "management_address")),
            (hv_of(member), ("physical_host_addr",)),
            (hv_of(phys), ("container_address",)),
        ):
            for key in keys:
                if hv.get(key):
                    return safe_name(hv[key], f"host {phys!r}: {key}")
        return phys

    services: dict = {}
    addresses: dict[str, str] = {}
    for group, processes in SERVICES.items():
        hosts: list[str] = []
        containers: dict[str, str] = {}
        for member in sorted(members(inventory, group)):
            safe_name(member, f"group {group!r}: host")
            hv = hv_of(member)
            phys = physical(member)
            ip = addresses.setdefault(phys, address(phys, member))
            hosts.append(ip)
            properties = hv.get("properties")
            is_metal = hv.get(
                "is_metal",
                isinstance(properties, dict) and properties.get("is_metal"),
            )
            if not is_metal and member != phys:
                tech = hv.get("container_tech", "lxc")
                if tech != "lxc":
                    raise InventoryError(
                        f"host {member!r} is a {tech!r} container: only LXC "
                        "containers are supported"
                    )
                containers[ip] = safe_name(
                    hv.get("container_name") or member,
                    f"host {member!r}: container_name",
                )
        if not hosts:
            continue
        for service, unit, port in processes:
            args: dict = {"unit": unit}
            if port:
                args["port"] = port
            if containers:
                args["containers"] = dict(sorted(containers.items()))
                if lxc_path:
                    args["lxc_path"] = lxc_path
            services[service] = {
                "driver": "osic_process",
                "args": args,
                "hosts": sorted(set(hosts)),
            }
    if not services:
        raise InventoryError(
            "no OpenStack service of the study in the inventory (groups "
            "such as keystone, galera, nova_conductor, swift_obj)"
        )
    nodes = []
    for phys, ip in sorted(addresses.items()):
        auth: dict = {"username": username}
        if private_key_file:
            auth["private_key_file"] = private_key_file
        nodes.append({"ip": ip, "fqdn": phys, "auth": auth})
    config = {
        "cloud_management": {"driver": "universal"},
        "node_discover": {"driver": "node_list", "args": nodes},
        "services": dict(sorted(services.items())),
    }
    if local_nodes:
        config["osic"] = {"local_nodes": local_nodes}
    return config

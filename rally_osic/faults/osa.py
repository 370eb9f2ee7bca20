"""An os-faults config from an OpenStack-Ansible inventory.

OpenStack-Ansible (OSA) writes ``/etc/openstack_deploy/
openstack_inventory.json``: Ansible groups (``keystone``, ``galera``...)
list container or metal hosts, and ``_meta.hostvars`` gives each one its
``physical_host``, ``ansible_host`` and ``is_metal``. os-faults has no OSA
driver; this module maps every known service group to an ``osic_process``
service: the systemd unit, acting inside the service's LXC container
(``lxc-attach``, one container name per physical host) on the physical
hosts, which become the ``node_list``.
"""

from __future__ import annotations

import json

# OSA group -> (os-faults service name, systemd unit, TCP port or None)
SERVICES = {
    "galera": ("mysql", "mariadb", 3306),
    "memcached": ("memcached", "memcached", 11211),
    "rabbitmq": ("rabbitmq", "rabbitmq-server", 5672),
    "keystone": ("keystone", "keystone-wsgi-public", 5000),
    "glance_api": ("glance-api", "glance-api", 9292),
    "nova_api_os_compute": ("nova-api", "nova-api-os-compute", 8774),
    "nova_api_metadata": ("nova-metadata", "nova-api-metadata", 8775),
    "nova_conductor": ("nova-conductor", "nova-conductor", None),
    "nova_scheduler": ("nova-scheduler", "nova-scheduler", None),
    "nova_compute": ("nova-compute", "nova-compute", None),
    "placement": ("placement-api", "placement-api", 8778),
    "neutron_server": ("neutron-server", "neutron-server", 9696),
    "neutron_l3_agent": ("neutron-l3-agent", "neutron-l3-agent", None),
    "neutron_dhcp_agent": ("neutron-dhcp-agent", "neutron-dhcp-agent", None),
    "neutron_metadata_agent": (
        "neutron-metadata-agent",
        "neutron-metadata-agent",
        None,
    ),
    "neutron_linuxbridge_agent": (
        "neutron-linuxbridge-agent",
        "neutron-linuxbridge-agent",
        None,
    ),
    "neutron_openvswitch_agent": (
        "neutron-openvswitch-agent",
        "neutron-openvswitch-agent",
        None,
    ),
    "cinder_api": ("cinder-api", "cinder-api", 8776),
    "cinder_scheduler": ("cinder-scheduler", "cinder-scheduler", None),
    "cinder_volume": ("cinder-volume", "cinder-volume", None),
    "heat_api": ("heat-api", "heat-api", 8004),
    "heat_engine": ("heat-engine", "heat-engine", None),
    "horizon": ("horizon", "apache2", 443),
    "swift_proxy": ("swift-proxy", "swift-proxy-server", 8080),
    "swift_obj": ("swift-object", "swift-object-server", 6200),
    "swift_cont": ("swift-container", "swift-container-server", 6201),
    "swift_acc": ("swift-account", "swift-account-server", 6202),
    "haproxy": ("haproxy", "haproxy", None),
}


class InventoryError(Exception):
    """The inventory is not an OSA inventory (one line)."""


def load(path: str) -> dict:
    try:
        with open(path) as fd:
            data = json.load(fd)
    except OSError as exc:
        raise InventoryError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise InventoryError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(
        data.get("_meta", {}).get("hostvars"), dict
    ):
        raise InventoryError(
            f"{path} is not an OpenStack-Ansible inventory (no _meta.hostvars)"
        )
    return data


def to_os_faults(
    inventory: dict,
    username: str = "root",
    private_key_file: str | None = None,
    local_nodes: tuple[str, ...] = (),
    lxc_path: str | None = None,
) -> dict:
    """The os-faults config for an OSA inventory.

    ``lxc_path`` is the LXC path of the containers on the physical hosts
    (``lxc-attach -P``); None means LXC's default (``/var/lib/lxc``, as
    OSA uses).
    """
    hostvars = inventory["_meta"]["hostvars"]

    def physical(name: str) -> str:
        hv = hostvars.get(name) or {}
        return hv.get("physical_host") or name

    def address(host: str) -> str:
        hv = hostvars.get(host) or {}
        return hv.get("ansible_host") or hv.get("container_address") or host

    services: dict = {}
    used_hosts: set[str] = set()
    for group, (svc, unit, port) in sorted(SERVICES.items()):
        members = (inventory.get(group) or {}).get("hosts") or []
        if not members:
            continue
        args: dict = {"unit": unit}
        containers = {}
        hosts = []
        for member in sorted(members):
            hv = hostvars.get(member) or {}
            phys = physical(member)
            used_hosts.add(phys)
            ip = address(phys)
            hosts.append(ip)
            if not hv.get("is_metal", member == phys):
                containers[ip] = hv.get("container_name") or member
        if port:
            args["port"] = port
        if containers:
            args["containers"] = containers
            if lxc_path:
                args["lxc_path"] = lxc_path
        services[svc] = {
            "driver": "osic_process",
            "args": args,
            "hosts": sorted(set(hosts)),
        }
    if not services:
        raise InventoryError("no known OpenStack service group in inventory")
    nodes = []
    for host in sorted(used_hosts):
        auth: dict = {"username": username}
        if private_key_file:
            auth["private_key_file"] = private_key_file
        nodes.append({"ip": address(host), "fqdn": host, "auth": auth})
    config = {
        "cloud_management": {"driver": "universal"},
        "node_discover": {"driver": "node_list", "args": nodes},
        "services": services,
    }
    if local_nodes:
        config["osic"] = {"local_nodes": list(local_nodes)}
    return config

"""What the lab's libvirt hosts need in the cloud (flavors, an
availability zone, the guests' network) and what they hold (guests), for
:mod:`rally_osic.lab.families.libvirt`."""

from __future__ import annotations

from pathlib import Path

from rally_osic.lab.families.libvirt import (
    AVAILABILITY_ZONE,
    GUEST_NETWORK,
    GUEST_SUBNET,
    HOSTS,
    PHYSNET,
    lab_flavors,
)
from rally_osic.lab.families.nova import COMPUTE


def ensure_flavors(sess) -> None:
    """The lab's flavors as :func:`lab_flavors` says; a flavor cannot
    change, so one left by an older lab with other sizes is made again."""
    flavors = sess.get("/flavors/detail", endpoint_filter=COMPUTE).json()
    existing = {flavor["name"]: flavor for flavor in flavors["flavors"]}
    for flavor in lab_flavors():
        old = existing.get(flavor["name"])
        if old and all(old[key] == flavor[key] for key in flavor):
            continue
        if old:
            sess.delete(f"/flavors/{old['id']}", endpoint_filter=COMPUTE)
        sess.post("/flavors", json={"flavor": flavor}, endpoint_filter=COMPUTE)


def ensure_zone(sess) -> None:
    """An aggregate whose availability zone holds the libvirt hosts, so
    that a boot (and Rally's servers) can ask for real guests."""
    aggregates = sess.get("/os-aggregates", endpoint_filter=COMPUTE).json()
    found = [
        a for a in aggregates["aggregates"] if a["name"] == AVAILABILITY_ZONE
    ]
    if found:
        aggregate = found[0]
    else:
        aggregate = sess.post(
            "/os-aggregates",
            json={
                "aggregate": {
                    "name": AVAILABILITY_ZONE,
                    "availability_zone": AVAILABILITY_ZONE,
                }
            },
            endpoint_filter=COMPUTE,
        ).json()["aggregate"]
    for host in HOSTS:
        if host not in aggregate.get("hosts", []):
            sess.post(
                f"/os-aggregates/{aggregate['id']}/action",
                json={"add_host": {"host": host}},
                endpoint_filter=COMPUTE,
            )


NETWORK = {"service_type": "network", "interface": "public"}


def ensure_network(sess) -> None:
    networks = sess.get(
        f"/v2.0/networks?name={GUEST_NETWORK}", endpoint_filter=NETWORK
    ).json()["networks"]
    if networks:
        network = networks[0]
    else:
        network = sess.post(
            "/v2.0/networks",
            json={
                "network": {
                    "name": GUEST_NETWORK,
                    "shared": True,
                    "provider:network_type": "flat",
                    "provider:physical_network": PHYSNET,
                }
            },
            endpoint_filter=NETWORK,
        ).json()["network"]
    if not network["subnets"]:
        sess.post(
            "/v2.0/subnets",
            json={
                "subnet": {
                    "network_id": network["id"],
                    "name": f"{GUEST_NETWORK}-v4",
                    "ip_version": 4,
                    "cidr": f"{GUEST_SUBNET}.0/24",
                    "gateway_ip": None,
                    "enable_dhcp": True,
                    "allocation_pools": [
                        {
                            "start": f"{GUEST_SUBNET}.10",
                            "end": f"{GUEST_SUBNET}.200",
                        }
                    ],
                }
            },
            endpoint_filter=NETWORK,
        )


def delete_compute_services(sess, hosts) -> list[str]:
    """Delete the nova-compute services of ``hosts`` (with their compute
    nodes and resource providers); what was done, one line each."""
    said = []
    headers = {"OpenStack-API-Version": "compute 2.53"}
    for host in hosts:
        found = sess.get(
            f"/os-services?binary=nova-compute&host={host}",
            endpoint_filter=COMPUTE,
            headers=headers,
        ).json()["services"]
        for service in found:
            response = sess.delete(
                f"/os-services/{service['id']}",
                endpoint_filter=COMPUTE,
                headers=headers,
                raise_exc=False,
            )
            if response.status_code == 204:
                said.append(f"deleted nova-compute service of {host}")
            else:
                said.append(
                    f"nova kept the nova-compute service of {host} "
                    f"(HTTP {response.status_code}: "
                    f"{response.text.strip()[:120]})"
                )
    return said


def guests_summary(socket: Path) -> str:
    """ "2 guests (TCG): instance-00000001, ..." from a libvirtd."""
    import xml.etree.ElementTree as ElementTree

    try:
        import libvirt
    except ImportError:
        return "libvirt-python missing"
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    try:
        conn = libvirt.open(f"qemu+unix:///system?socket={socket}")
    except libvirt.libvirtError as exc:
        return f"libvirt: {str(exc).splitlines()[0][:60]}"
    try:
        domains = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
        kinds = {
            ElementTree.fromstring(d.XMLDesc()).get("type") for d in domains
        }
        names = ", ".join(sorted(d.name() for d in domains))
    finally:
        conn.close()
    accel = "/".join(
        sorted("TCG" if kind == "qemu" else kind.upper() for kind in kinds)
    )
    count = f"{len(domains)} guest{'s' if len(domains) != 1 else ''}"
    return f"{count} ({accel}): {names}" if domains else "no guests"

"""An os-faults config from a real OpenStack-Ansible inventory: the one
OSA's own inventory script generated (tests/data/osa/README.md)."""

from __future__ import annotations

import copy
import json
import pathlib
import re

import pytest

from rally_osic.faults import osa, osf

DATA = pathlib.Path(__file__).resolve().parents[2] / "data" / "osa"
INVENTORY = DATA / "openstack_inventory.json"

INFRA = ["172.29.236.11", "172.29.236.12", "172.29.236.13"]
AGENTS = ["172.29.236.21", "172.29.236.22", "172.29.236.23"]
SWIFT = ["172.29.236.61", "172.29.236.62", "172.29.236.63"]

# Every service of the study that this OSA deploys: where it runs, in a
# container on the infra hosts or on metal, and its unit and port.
STUDY_SERVICES = {
    "mysql": (INFRA, "galera", "mariadb", 3306),
    "memcached": (INFRA, "memcached", "memcached", 11211),
    "rabbitmq": (INFRA, "rabbit-mq", "rabbitmq-server", 5672),
    "keystone": (INFRA, "keystone", "keystone-wsgi-public", 5000),
    "glance-api": (INFRA, "glance", "glance-api", 9292),
    "nova-api-os-compute": (INFRA, "nova-api", "nova-api-os-compute", 8774),
    "nova-api-metadata": (INFRA, "nova-api", "nova-api-metadata", 8775),
    "nova-conductor": (INFRA, "nova-api", "nova-conductor", None),
    "nova-scheduler": (INFRA, "nova-api", "nova-scheduler", None),
    "nova-novncproxy": (INFRA, "nova-api", "nova-novncproxy", 6080),
    "nova-spicehtml5proxy": (INFRA, "nova-api", "nova-spicehtml5proxy", 6082),
    "nova-serialproxy": (INFRA, "nova-api", "nova-serialproxy", 6083),
    "neutron-server": (INFRA, "neutron-server", "neutron-server", 9696),
    "neutron-l3-agent": (AGENTS, None, "neutron-l3-agent", None),
    "neutron-dhcp-agent": (AGENTS, None, "neutron-dhcp-agent", None),
    "neutron-metadata-agent": (AGENTS, None, "neutron-metadata-agent", None),
    "neutron-metering-agent": (AGENTS, None, "neutron-metering-agent", None),
    "cinder-api": (INFRA, "cinder-api", "cinder-api", 8776),
    "swift-proxy-server": (INFRA, "swift-proxy", "swift-proxy-server", 8080),
    "swift-object-server": (SWIFT, None, "swift-object-server", 6000),
    "swift-container-server": (SWIFT, None, "swift-container-server", 6001),
    "swift-account-server": (SWIFT, None, "swift-account-server", 6002),
}
SWIFT_DAEMONS = [
    "swift-account-auditor",
    "swift-account-reaper",
    "swift-account-replicator",
    "swift-container-auditor",
    "swift-container-reconciler",
    "swift-container-replicator",
    "swift-container-sync",
    "swift-container-updater",
    "swift-object-auditor",
    "swift-object-expirer",
    "swift-object-replicator",
    "swift-object-updater",
]


@pytest.fixture(scope="module")
def inventory():
    return osa.load(str(INVENTORY))


@pytest.fixture(scope="module")
def config(inventory):
    return osa.to_os_faults(inventory, private_key_file="/root/.ssh/id")


@pytest.mark.parametrize("name", sorted(STUDY_SERVICES))
def test_study_services_are_mapped(config, inventory, name):
    hosts, container, unit, port = STUDY_SERVICES[name]
    service = config["services"][name]
    assert service["driver"] == "osic_process"
    assert service["hosts"] == hosts
    assert service["args"]["unit"] == unit
    assert service["args"].get("port") == port
    containers = service["args"].get("containers", {})
    if container is None:
        assert containers == {}
    else:
        assert sorted(containers) == hosts
        for ip, name_ in containers.items():
            # the container the inventory puts on that physical host
            hv = inventory["_meta"]["hostvars"][name_]
            assert f"-{container}-container-" in name_
            assert hv["physical_host_addr"] == ip


def test_swift_background_daemons_run_on_the_swift_hosts(config):
    for name in SWIFT_DAEMONS:
        args = config["services"][name]["args"]
        assert config["services"][name]["hosts"] == SWIFT
        assert args == {"unit": name}


def test_nodes_are_the_physical_hosts(config):
    nodes = {n["fqdn"]: n for n in config["node_discover"]["args"]}
    assert sorted(nodes) == sorted(
        [f"infra{i}" for i in (1, 2, 3)]
        + [f"net{i}" for i in (1, 2, 3)]
        + [f"compute{i}" for i in range(1, 10)]
        + [f"block{i}" for i in (1, 2, 3)]
        + [f"swift{i}" for i in (1, 2, 3)]
    )
    assert nodes["infra2"]["ip"] == "172.29.236.12"
    assert nodes["swift3"]["auth"] == {
        "username": "root",
        "private_key_file": "/root/.ssh/id",
    }


def test_os_faults_accepts_it_and_picks_each_hosts_container(config):
    cloud = osf.connect(config)
    target = cloud.get_service("nova-api-metadata").target
    for ip in INFRA:
        container = target.on(ip).container
        assert container.startswith(f"infra{INFRA.index(ip) + 1}-nova-api-")
    assert (
        cloud.get_service("swift-object-updater").target.on(SWIFT[0]).container
        is None
    )


def test_groups_resolve_through_children(inventory):
    """keystone_all has no hosts of its own, only the child keystone."""
    assert inventory["keystone_all"]["hosts"] == []
    assert (
        osa.resolve(inventory, "keystone_all")
        == inventory["keystone"]["hosts"]
    )
    swift = osa.resolve(inventory, "swift_all")
    assert set(inventory["swift_proxy"]["hosts"]) < set(swift)
    assert {"swift1", "swift2", "swift3"} < set(swift)


def test_a_group_missing_from_the_inventory_is_found_from_hostvars(
    inventory,
):
    trimmed = copy.deepcopy(inventory)
    expected = trimmed["keystone"]["hosts"]
    del trimmed["keystone"], trimmed["keystone_all"]
    # an older inventory: properties.service_name, no component
    galera = trimmed.pop("galera")["hosts"]
    del trimmed["galera_all"]
    for host in galera:
        hv = trimmed["_meta"]["hostvars"][host]
        del hv["component"]
        hv["properties"] = {"service_name": "galera"}
    config = osa.to_os_faults(trimmed)
    keystone = config["services"]["keystone"]["args"]["containers"]
    assert sorted(keystone.values()) == sorted(expected)
    mysql = config["services"]["mysql"]["args"]["containers"]
    assert sorted(mysql.values()) == sorted(galera)


def test_a_group_may_be_a_plain_list_of_hosts_as_in_ansible(inventory):
    trimmed = copy.deepcopy(inventory)
    trimmed["memcached"] = list(trimmed["memcached"]["hosts"])
    config = osa.to_os_faults(trimmed)
    assert config["services"]["memcached"]["hosts"] == INFRA


def test_a_utf8_bom_is_read(tmp_path):
    path = tmp_path / "inventory.json"
    path.write_bytes(b"\xef\xbb\xbf" + INVENTORY.read_bytes())
    assert osa.load(str(path))["_meta"]["hostvars"]


def test_unsafe_command_line_arguments_are_refused(inventory):
    for kwargs, message in (
        ({"username": "root; id"}, "SSH user 'root; id'"),
        ({"lxc_path": "/var/lib/lxc $(id)"}, "LXC path"),
        ({"local_nodes": ["infra1 &"]}, "--local-node 'infra1 &'"),
    ):
        with pytest.raises(osa.InventoryError, match=re.escape(message)):
            osa.to_os_faults(inventory, **kwargs)


def test_cli_writes_the_config_readable_by_its_owner(tmp_path, capsys):
    from rally_osic import cli

    out = tmp_path / "os-faults.json"
    assert (
        cli.main(
            [
                "faults-config",
                "--osa-inventory",
                str(INVENTORY),
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads(out.read_text())["services"]["keystone"]
    assert out.stat().st_mode & 0o777 == 0o600
    assert "46 services on 21 hosts" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["os-faults.json"]


@pytest.mark.parametrize(
    "output, message",
    [
        ("", "-o needs a file name (got an empty one)"),
        (".", "-o . is a folder: give a file name, e.g. ./os-faults.json"),
        ("missing/osf.json", "folder"),
    ],
)
def test_cli_refuses_an_output_that_is_not_a_file_name(
    output, message, tmp_path, monkeypatch, capsys
):
    from rally_osic import cli

    monkeypatch.chdir(tmp_path)
    args = ["faults-config", "--osa-inventory", str(INVENTORY), "-o", output]
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_leaves_neither_file_nor_temp(tmp_path, monkeypatch):
    """SIGTERM arriving while the config is written (Terminated raised from
    inside the write, as the signal handler does) removes the temporary
    file and keeps the old config."""
    from rally_osic import cli, errors, files

    out = tmp_path / "os-faults.json"
    out.write_text("old config")

    def replace(src, dst):
        raise errors.Terminated(15)

    monkeypatch.setattr(files.os, "replace", replace)
    with pytest.raises(errors.Terminated):
        files.write_atomic(out, "new")
    args = ["faults-config", "--osa-inventory", str(INVENTORY), "-o", str(out)]
    assert cli.main(args) == 143
    assert out.read_text() == "old config"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["os-faults.json"]

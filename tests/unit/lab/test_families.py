"""Every service family of the lab: exact, unique targets and a health
check for each (no processes)."""

import os
import subprocess
from pathlib import Path

import jsonschema
import pytest

from rally_osic.faults import targets as tg
from rally_osic.lab import config as lab_config
from rally_osic.lab import envfiles, families, render, services


@pytest.fixture
def full_lab(tmp_path):
    config = lab_config.load(tmp_path / "lab", port_offset=24000, create=True)
    return lab_config.save_families(config, families.resolve(["all"]))


def _cmdline(service):
    text = " ".join(service.argv)
    if service.name == "rabbitmq":
        text += " " + service.env["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"]
    return text


def _groups(config):
    return {
        name: members
        for family in families.enabled(config)
        for name, members in family.groups(config).items()
    }


def test_optional_families_and_what_they_require():
    assert families.resolve(["cinder"]) == ("ceph", "cinder")
    assert families.resolve(["neutron-agents"]) == (
        "nova-extra",
        "neutron-agents",
    )
    # "all" is every service family; compute hosts are asked for apart.
    assert set(families.resolve(["all"])) == set(families.optional_names()) - {
        "libvirt",
        "libvirt-rbd",
    }
    assert set(families.resolve(["libvirt-rbd"])) >= {"libvirt", "ceph"}
    assert families.resolve(["libvirt"]) == (
        "nova-extra",
        "neutron-agents",
        "libvirt",
    )
    with pytest.raises(ValueError, match="unknown service family 'cindr'"):
        families.resolve(["cindr"])


def test_a_default_lab_runs_only_the_core(tmp_path):
    config = lab_config.load(tmp_path / "core", create=True)
    names = {s.family for s in services.build(config)}
    assert names == {"infra", "keystone", "glance", "placement", "nova"} | {
        "neutron"
    }


def test_the_families_are_kept_in_lab_json(full_lab):
    again = lab_config.load(full_lab.state_dir)
    assert again.families == full_lab.families
    assert "swift_hash" in again.secrets


def test_every_service_of_every_family_is_an_exact_target(full_lab):
    table = services.build(full_lab)
    assert len(table) == len({s.name for s in table}) == 49
    for service in table:
        assert str(full_lab.state_dir) in service.match or (
            str(service.port) in service.match
        ), service.name
        text = _cmdline(service)
        assert service.match in text, service.name
        for other in table:
            if other is not service:
                assert service.match not in _cmdline(other), (
                    service.name,
                    other.name,
                )


def test_the_study_daemons_are_there(full_lab):
    names = {s.name for s in services.build(full_lab)}
    for daemon in (
        "swift-object-auditor",
        "swift-object-replicator",
        "swift-object-updater",
        "swift-object-expirer",
        "swift-container-auditor",
        "swift-container-replicator",
        "swift-container-updater",
        "swift-container-sync",
        "swift-container-reconciler",
        "swift-account-auditor",
        "swift-account-reaper",
        "swift-account-replicator",
        "swift-proxy-server",
        "neutron-l3-agent",
        "neutron-dhcp-agent",
        "neutron-metadata-agent",
        "neutron-metering-agent",
        "neutron-openvswitch-agent",
        "nova-api-metadata",
        "nova-novncproxy",
        "nova-spicehtml5proxy",
        "nova-serialproxy",
        "cinder-api",
        "cinder-scheduler",
        "cinder-volume",
    ):
        assert daemon in names


def test_ports_are_unique_and_follow_the_offset(full_lab):
    table = services.build(full_lab)
    ports = [p for s in table for p in (s.port, *s.extra_ports) if p]
    assert len(ports) == len(set(ports))
    assert all(p > 24000 for p in ports)
    by_name = {s.name: s for s in table}
    assert by_name["swift-proxy-server"].port == 32080
    assert by_name["cinder-api"].port == 32776
    assert by_name["ceph-mon"].port == 30789
    assert by_name["ceph-osd"].extra_ports[0] == 30800


def test_both_os_faults_configs_cover_every_service(full_lab):
    import os_faults
    from os_faults.drivers.services import process

    table = services.build(full_lab)
    groups = _groups(full_lab)
    stock = envfiles.os_faults_config(full_lab, table, groups)
    jsonschema.validate(stock, os_faults.CONFIG_SCHEMA)
    osic = envfiles.os_faults_osic_config(full_lab, table, groups)
    targets = set(envfiles.NOT_FAULT_TARGETS)
    for service in table:
        if service.name in targets:
            continue
        args = stock["services"][service.name]["args"]
        jsonschema.validate(args, process.ServiceAsProcess.CONFIG_SCHEMA)
        exact = osic["services"][service.name]["args"]
        target = tg.ServiceTarget.from_args(service.name, exact)
        # A health check for the hook: an HTTP URL, a listening port, the
        # link to RabbitMQ, or (a daemon without any) its process alive.
        assert (
            target.health_url
            or target.port
            or target.connected_port
            or service.settle > 0
        ), service.name
        assert exact["start_cmd"] and exact["stop_cmd"], service.name
    grep = stock["services"]["swift-background"]["args"]["grep"]
    matched = [
        s.name
        for s in table
        if subprocess.run(
            ["grep", grep], input=_cmdline(s), text=True, capture_output=True
        ).returncode
        == 0
    ]
    assert sorted(matched) == sorted(groups["swift-background"])
    assert len(matched) == 12


def test_rpc_services_are_healthy_when_linked_to_rabbitmq(full_lab):
    by_name = services.by_name(full_lab)
    port = full_lab.port("rabbitmq")
    for name in ("cinder-volume", "neutron-dhcp-agent", "neutron-rpc-server"):
        assert by_name[name].health == f"connected://127.0.0.1:{port}"


def test_agents_run_inside_the_network_node(full_lab):
    by_name = services.by_name(full_lab)
    node = by_name["lab-network-node"]
    for name in ("neutron-l3-agent", "ovs-vswitchd", "neutron-dhcp-agent"):
        assert by_name[name].enter == (node.pidfile, node.match)
    assert by_name["neutron-rpc-server"].enter is None
    assert node.kind == "last"


def test_every_template_renders(full_lab):
    render.render_all(full_lab)
    for family in families.enabled(full_lab):
        for _template, destination in family.templates:
            text = (full_lab.etc / destination).read_text()
            assert "${" not in text, destination
    ml2 = (full_lab.etc / "neutron" / "ml2_conf.ini").read_text()
    assert "mechanism_drivers = openvswitch,osic_lab_bind_all" in ml2
    assert "hosts = lab-compute-1,lab-compute-2" in ml2
    ceph = (full_lab.etc / "ceph" / "ceph.conf").read_text()
    assert "ms_bind_port_min = 30800" in ceph
    assert "ms_bind_port_max = 30815" in ceph


@pytest.fixture
def libvirt_lab(tmp_path):
    config = lab_config.load(tmp_path / "lab", port_offset=24000, create=True)
    return lab_config.save_families(
        config, families.resolve(["all", "libvirt"])
    )


def test_libvirt_hosts_are_exact_targets_inside_their_nodes(libvirt_lab):
    table = services.build(libvirt_lab)
    mine = [s for s in table if s.family == "libvirt"]
    assert len(mine) == 3 + 2 * 5
    for service in table:
        assert str(libvirt_lab.state_dir) in service.match or (
            str(service.port) in service.match
        ), service.name
        for other in table:
            if other is not service:
                assert service.match not in _cmdline(other), (
                    service.name,
                    other.name,
                )
    by_name = services.by_name(libvirt_lab)
    for index in (1, 2):
        node = by_name[f"lab-kvm-{index}-node"]
        assert node.kind == "last"
        for name in ("libvirtd", "ovs-vswitchd", "nova-compute"):
            service = by_name[f"{name}-kvm-{index}"]
            assert service.enter == (node.pidfile, node.match), name
    assert by_name["libvirtd-kvm-1"].health.startswith("unix:///")
    groups = _groups(libvirt_lab)
    assert groups["libvirtd"] == ("libvirtd-kvm-1", "libvirtd-kvm-2")


def test_libvirt_hosts_configuration(libvirt_lab):
    render.render_all(libvirt_lab)
    etc = libvirt_lab.etc
    data = libvirt_lab.data / "libvirt"
    for index in (1, 2):
        conf = (etc / "nova" / f"compute-kvm-{index}.conf").read_text()
        assert "${" not in conf
        assert f"host = lab-kvm-{index}\n" in conf
        assert f"live_migration_inbound_addr = 10.78.1.{index}\n" in conf
        # One instances path on both hosts (each binds its own there).
        assert f"instances_path = {data / 'instances'}\n" in conf
        assert "compute_driver = libvirt.LibvirtDriver" in conf
        libvirtd = data / f"lab-kvm-{index}" / "etc" / "libvirtd.conf"
        assert f'listen_addr = "10.78.1.{index}"' in libvirtd.read_text()
        qemu = (data / f"lab-kvm-{index}" / "etc" / "qemu.conf").read_text()
        assert f'default_tls_x509_cert_dir = "{data / "pki"}"' in qemu
        assert "default_tls_x509_verify = 1" in qemu
    ml2 = (etc / "neutron" / "ml2_conf.ini").read_text()
    assert "hosts = lab-compute-1,lab-compute-2,lab-kvm-1,lab-kvm-2" in ml2
    assert "flat_networks = public,guests" in ml2
    ovs = (etc / "neutron" / "openvswitch_agent.ini").read_text()
    assert "guests:br-guests" in ovs


def test_libvirt_storage_local_or_on_ceph(libvirt_lab):
    from rally_osic.lab.families import libvirt

    render.render_all(libvirt_lab)
    local = (libvirt_lab.etc / "nova" / "compute-kvm-1.conf").read_text()
    assert "images_type = default\n" in local
    assert libvirt.live_migration_args(libvirt_lab)["storage"] == "local"
    mon = libvirt_lab.port("ceph-mon")
    assert mon not in libvirt.relay_ports(libvirt_lab)

    shared = lab_config.save_families(
        libvirt_lab, families.resolve([*libvirt_lab.families, "libvirt-rbd"])
    )
    render.render_all(shared)
    conf = (shared.etc / "nova" / "compute-kvm-1.conf").read_text()
    assert "images_type = rbd\nimages_rbd_pool = vms\n" in conf
    assert f"images_rbd_ceph_conf = {shared.etc}/ceph/ceph.conf\n" in conf
    assert "rbd_user" not in conf  # no cephx: no libvirt secret either
    assert libvirt.live_migration_args(shared)["storage"] == "shared"
    # librbd in the hosts reaches the mon and the OSD through the relay.
    ports = libvirt.relay_ports(shared)
    low = shared.port("ceph-daemons")
    assert {mon, low, low + 15} <= set(ports)
    assert len(ports) == len(set(ports))
    # Nova's "ceph mon dump" goes through the retrying wrapper.
    first = libvirt.compute_env(shared)["PATH"].split(":")[0]
    assert (Path(first) / "ceph").stat().st_mode & 0o111
    assert "/ceph" not in libvirt.compute_env(libvirt_lab)["PATH"]


def test_every_flavor_can_be_placed_and_six_fit_on_ceph(libvirt_lab):
    """Placement caps a server's VCPU at the host's CPUs, and Nova's RBD
    backend offers the pool's size as DISK_GB: the study's six servers
    of the largest flavor must fit both."""
    from rally_osic.lab.families import libvirt

    on_two = libvirt.lab_flavors(2)
    assert [f["vcpus"] for f in on_two] == [1, 2, 2]
    assert [f["vcpus"] for f in libvirt.lab_flavors(8)] == [1, 2, 4]
    for key in ("ram", "disk"):
        small, medium, large = (f[key] for f in on_two)
        assert (medium, large) == (2 * small, 4 * small), key
    render.render_all(libvirt_lab)
    ceph = (libvirt_lab.etc / "ceph" / "ceph.conf").read_text()
    size = next(
        int(line.split("=")[1])
        for line in ceph.splitlines()
        if line.startswith("bluestore_block_size")
    )
    assert size >= 6 * on_two[-1]["disk"] * 1024**3 * 1.25


def test_tls_certificates_name_both_hosts_and_are_kept(libvirt_lab):
    """QEMU checks the target's certificate against the address it
    migrates to: both management addresses, signed by the lab's CA, and
    made once (a restart must not change what a host trusts)."""
    from rally_osic.lab.families import libvirt

    libvirt.ensure_certificates(libvirt_lab)
    pki = libvirt.pki_dir(libvirt_lab)
    cert = pki / "server-cert.pem"
    text = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "IP Address:10.78.1.1, IP Address:10.78.1.2" in text
    assert "TLS Web Server Authentication" in text
    assert "TLS Web Client Authentication" in text
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(pki / "ca-cert.pem"), str(cert)],
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stderr
    made = cert.stat().st_mtime_ns
    libvirt.ensure_certificates(libvirt_lab)
    assert cert.stat().st_mtime_ns == made


def test_an_old_qemu_stops_lab_up_before_anything_starts(
    libvirt_lab, tmp_path, monkeypatch
):
    """QEMU before 9.0 loses TCG guests' memory in migrations: ``lab up
    --computes libvirt`` says so in one line and has started nothing.
    The machine's QEMU is 10; the old one is a script that answers
    ``--version`` as Debian 12's does."""
    from rally_osic.lab import lab, procs, steps

    fake = tmp_path / "bin" / "qemu-system-x86_64"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        "echo 'QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7)'\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    # The packages are this machine's business, not this test's.
    monkeypatch.setattr(steps, "ensure_debian_packages", lambda *a: None)
    started = []
    monkeypatch.setattr(procs, "start", lambda s: started.append(s.name))

    def render_all(config):
        raise AssertionError("configuration written before the check")

    monkeypatch.setattr(render, "render_all", render_all)

    with pytest.raises(lab.LabError) as refused:
        lab.up(libvirt_lab.state_dir)
    (line,) = str(refused.value).splitlines()
    assert "QEMU 7.2 loses guest memory in TCG live migrations" in line
    assert started == []

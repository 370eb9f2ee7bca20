"""Pure logic of the fault layer: no Rally, no processes."""

from __future__ import annotations

import json
import os
import re

import pytest

from rally_osic.faults import osa, osf, probe, timeline
from rally_osic.faults import spec as specs
from rally_osic.faults import targets as tg

SAMPLE = os.path.join(
    os.path.dirname(__file__),
    "..",
    "..",
    "..",
    "samples",
    "openstack_inventory.json",
)


def test_effect_reasons():
    base = {"pids": [10], "port_open": True}
    assert timeline.effect_of(base, {"pids": []}) == "process gone"
    assert timeline.effect_of(base, {"pids": [11]}) == "PID changed"
    assert timeline.effect_of(base, {"pids": [10], "frozen": True}) == (
        "process frozen"
    )
    assert timeline.effect_of(base, {"pids": [10], "port_open": False}) == (
        "port closed"
    )
    assert timeline.effect_of(base, dict(base)) is None


def test_timeline_itself_restore_never():
    tl = timeline.Timeline(baseline={"pids": [1]}, triggered_at=100.0)
    tl.feed(99.0, {"pids": []})  # before the trigger: ignored
    tl.feed(100.2, {"pids": []})
    tl.feed(101.0, {"pids": [2]})
    assert (tl.effective_at, tl.healthy_at, tl.came_back) == (
        100.2,
        101.0,
        "itself",
    )
    assert timeline.verdict(tl, 5, "x")[0]
    assert not timeline.verdict(tl, 0.5, "x")[0]

    tl = timeline.Timeline(baseline={"pids": [1]}, triggered_at=0.0)
    tl.feed(1.0, {"pids": []})
    tl.restore_started_at = 6.0
    tl.feed(6.1, {"pids": [3]})
    assert tl.came_back == "restore"
    ok, why = timeline.verdict(tl, 5, "svc")
    assert not ok and "did not come back by itself" in why
    tl.planned_restore = True
    assert timeline.verdict(tl, 10, "svc")[0]

    tl = timeline.Timeline(baseline={"pids": [1]}, triggered_at=0.0)
    assert timeline.verdict(tl, 5, "svc") == (
        False,
        "svc: the fault had no observable effect",
    )


def test_container_and_unit_cgroup_matching():
    assert probe.in_container(["/lxc.payload.c1"], "c1")
    assert probe.in_container(["/lxc/c1/system.slice"], "c1")
    assert not probe.in_container(["/lxc.payload.c10"], "c1")
    assert probe.in_unit(["/system.slice/nova-api.service"], "nova-api")
    assert not probe.in_unit(["/system.slice/nova-api-x.service"], "nova-api")


def test_cmdline_is_exact(tmp_path):
    proc = tmp_path / "proc"
    for pid, argv in (
        (5, ["memcached", "-p", "1"]),
        (6, ["memcached", "-p", "11"]),
    ):
        d = proc / str(pid)
        d.mkdir(parents=True)
        (d / "cmdline").write_bytes("\0".join(argv).encode() + b"\0")
        (d / "stat").write_text(f"{pid} (memcached) S 1")
        (d / "cgroup").write_text("0::/\n")
    spec = {"cmdline": ["memcached", "-p", "1"]}
    assert probe.resolve(spec, str(proc)) == [5]


def test_target_args_validation():
    t = tg.ServiceTarget.from_args("m", {"cmdline": "a -b 'c d'"})
    assert t.cmdline == ("a", "-b", "c d")
    with pytest.raises(tg.TargetError, match="invalid osic_process"):
        tg.ServiceTarget.from_args("m", {"port": 1})
    with pytest.raises(tg.TargetError):
        tg.ServiceTarget.from_args("m", {"pid_file": "/x", "grep": "m"})


def test_sentences():
    s = specs.parse_sentence("restart memcached service on one node")
    assert (s.action, s.service, s.nodes) == ("restart", "memcached", "one")
    s = specs.parse_sentence("freeze mysql service on all nodes for 5 seconds")
    assert (s.action, s.seconds, s.nodes) == ("freeze", 5.0, "all")
    s = specs.parse_sentence("stress cpu for 30 seconds on one node")
    assert (s.action, s.stress, s.seconds) == ("stress", "cpu", 30.0)
    with pytest.raises(specs.FaultError, match="cannot parse"):
        specs.parse_sentence("make tea")


def test_config_lookup_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("OS_FAULTS_CONFIG", raising=False)
    with pytest.raises(osf.FaultConfigError, match="no os-faults config"):
        osf.find_config({}, {})
    (tmp_path / "os-faults.yaml").write_text("cloud_management: {x: 1}\n")
    assert osf.find_config({}, {})[1].endswith("os-faults.yaml")
    other = tmp_path / "o.json"
    other.write_text(json.dumps({"a": 1}))
    monkeypatch.setenv("OS_FAULTS_CONFIG", str(other))
    assert osf.find_config({}, {})[0] == {"a": 1}
    assert osf.find_config({}, {"os_faults_config": {"b": 2}})[0] == {"b": 2}
    assert osf.find_config({"config": {"c": 3}}, {})[0] == {"c": 3}
    (tmp_path / "bad.yaml").write_text("a: [\n")
    with pytest.raises(osf.FaultConfigError, match="not valid YAML"):
        osf.find_config({"config_file": str(tmp_path / "bad.yaml")})


def test_osa_inventory_conversion():
    config = osa.to_os_faults(osa.load(SAMPLE))
    ks = config["services"]["keystone"]
    assert ks["driver"] == "osic_process"
    assert ks["args"]["unit"] == "keystone-wsgi-public"
    assert ks["args"]["containers"] == {
        "172.29.236.11": "infra1_keystone_container-7e5f6071",
        "172.29.236.12": "infra2_keystone_container-8f607182",
    }
    assert "containers" not in config["services"]["nova-compute"]["args"]
    fqdns = {n["fqdn"] for n in config["node_discover"]["args"]}
    assert fqdns == {"infra1", "infra2", "compute1"}
    # and os-faults accepts it
    cloud = osf.connect(config)
    t = cloud.get_service("keystone").target.on("172.29.236.12")
    assert t.container == "infra2_keystone_container-8f607182"


def test_osa_bad_inventory(tmp_path):
    p = tmp_path / "inv.json"
    p.write_text("{}")
    with pytest.raises(osa.InventoryError, match="not an OpenStack-Ansible"):
        osa.load(str(p))


def test_osa_lxc_path_only_for_containers():
    config = osa.to_os_faults(osa.load(SAMPLE), lxc_path="/srv/lxc")
    assert config["services"]["keystone"]["args"]["lxc_path"] == "/srv/lxc"
    assert "lxc_path" not in config["services"]["nova-compute"]["args"]
    cloud = osf.connect(config)
    t = cloud.get_service("keystone").target.on("172.29.236.11")
    assert t.inside("true").startswith("lxc-attach -P /srv/lxc -n infra1_")


def test_ssh_port_from_osic_section():
    from os_faults.api import node_collection

    a = node_collection.Host(ip="10.0.0.1", fqdn="a")
    b = node_collection.Host(ip="10.0.0.2", fqdn="b")
    assert osf.ssh_port(None, a) is None
    assert osf.ssh_port(2222, a) == 2222
    assert osf.ssh_port({"b": 2200}, a) is None
    assert osf.ssh_port({"b": 2200, "10.0.0.1": 2201}, b) == 2200
    with pytest.raises(osf.FaultConfigError, match="not a port"):
        osf.ssh_port("x", a)
    config = {
        "cloud_management": {"driver": "universal"},
        "node_discover": {
            "driver": "node_list",
            "args": [{"ip": "10.0.0.1", "auth": {"username": "u"}}],
        },
        "osic": {"ssh_port": 2222},
    }
    cloud = osf.connect(config)
    t = osf.transport_for_host(cloud, cloud.get_nodes().hosts[0])
    argv = t.argv("true")
    assert argv[argv.index("-p") + 1] == "2222"
    assert "u@10.0.0.1" in argv
    osf.close_transports(cloud)


def test_stress_size_in_command():
    spec = specs.FaultSpec(
        action="stress", stress="disk", seconds=1, size="16M",
        temp_path="/t m p",
    )  # fmt: skip
    from rally_osic.faults import hookrun

    got = hookrun.spec_from_config(
        {
            "node_action": "stress",
            "stress": "disk",
            "seconds": 1,
            "size": "16M",
            "temp_path": "/t m p",
        }
    )
    assert (got.size, got.temp_path) == (spec.size, spec.temp_path)


def test_survivors_of_a_partly_killed_service_are_not_a_recovery():
    # kill -9 of nova-conductor (master 10, worker 11): the watcher saw the
    # worker alone for a moment, then nothing; the restore started it.
    base = {"pids": [10, 11]}
    assert timeline.effect_of(base, {"pids": [11]}) == "processes partly gone"
    assert timeline.effect_of(base, {"pids": [11, 12]}) == "PID changed"
    tl = timeline.Timeline(baseline=base, triggered_at=100.0)
    tl.feed(100.1, {"pids": [11]})
    assert (tl.effective_at, tl.healthy_at) == (100.1, None)
    tl.feed(100.2, {"pids": []})
    assert not tl.recovered
    tl.restore_started_at = 108.0
    tl.feed(109.0, {"pids": [20, 21]})
    assert (tl.healthy_at, tl.came_back) == (109.0, "restore")


def test_a_master_respawning_a_killed_worker_is_a_recovery():
    tl = timeline.Timeline(baseline={"pids": [10, 11]}, triggered_at=100.0)
    tl.feed(100.1, {"pids": [10, 12]})
    assert (tl.effect, tl.healthy_at, tl.came_back) == (
        "PID changed",
        100.1,
        "itself",
    )


@pytest.mark.parametrize(
    "action, message",
    [
        ("make tea", "cannot parse fault sentence 'make tea'"),
        ({"node_action": "stress", "seconds": 5}, "stress needs a kind"),
        ({"node_action": "stress", "stress": "disk"}, "needs a duration"),
        (
            {
                "node_action": "stress",
                "stress": "memory",
                "seconds": 5,
                "size": "lots",
            },
            "bad stress size 'lots'",
        ),
        ("connect storage network on one node", "'connect' is not"),
        ({"service": "x", "action": "kill", "nodes": []}, "nodes must be"),
    ],
)
def test_hook_check_refuses_what_cannot_run(action, message):
    from rally_osic.faults import hookrun

    with pytest.raises(specs.FaultError, match=re.escape(message)):
        hookrun.check({"action": action})


def test_hook_check_reads_a_config_given_in_the_hook(tmp_path):
    from rally_osic.faults import hookrun

    config = {
        "cloud_management": {"driver": "universal"},
        "node_discover": {
            "driver": "node_list",
            "args": [{"ip": "127.0.0.1", "fqdn": "lab1", "auth": {}}],
        },
        "services": {
            "memcached": {
                "driver": "osic_process",
                "args": {"pid_file": "/run/m.pid"},
            },
        },
    }
    good = {"service": "memcached", "action": "kill", "nodes": ["lab1"]}
    hookrun.check({"action": good, "config": config})
    with pytest.raises(osf.FaultConfigError, match="node.s. lab2 not in"):
        hookrun.check({"action": dict(good, nodes=["lab2"]), "config": config})
    path = tmp_path / "osf.json"
    config["services"]["memcached"]["args"] = {"pid_file": "/x", "grep": 1}
    path.write_text(json.dumps(config))
    with pytest.raises(tg.TargetError, match="invalid osic_process args"):
        hookrun.check({"action": good, "config_file": str(path)})
    del config["cloud_management"]
    path.write_text(json.dumps(config))
    with pytest.raises(osf.FaultConfigError, match="'cloud_management' is"):
        hookrun.check({"action": good, "config_file": str(path)})


def test_connected_port_is_part_of_health():
    # An RPC service is healthy only while linked to its broker.
    base = {"pids": [7], "connected": True}
    assert timeline.is_healthy(base)
    assert not timeline.is_healthy({"pids": [7], "connected": False})
    tl = timeline.Timeline(baseline=base, triggered_at=10.0)
    tl.feed(10.1, {"pids": []})
    tl.feed(11.0, {"pids": [8], "connected": False})  # up, not linked yet
    assert not tl.recovered
    tl.feed(12.5, {"pids": [8], "connected": True})
    assert tl.healthy_at == 12.5 and tl.effect == "process gone"
    target = tg.ServiceTarget.from_args(
        "agent", {"cmdline": ["x"], "connected_port": 5672}
    )
    assert target.spec()["connected_port"] == 5672


def test_probe_sees_a_real_established_connection():
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        assert not probe.connected([os.getpid()], port)
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        try:
            assert probe.connected([os.getpid()], port)
            obs = probe.observe(
                {"pids": [os.getpid()], "connected_port": port}
            )
            assert obs["connected"] is True
        finally:
            client.close()
            accepted.close()
        assert not probe.connected([os.getpid()], port)
    finally:
        server.close()

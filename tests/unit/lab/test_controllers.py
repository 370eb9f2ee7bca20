"""``lab up --controllers 3``: three controller nodes on 127.0.1.1-3, each
with a Galera node, a RabbitMQ node and a memcached, HAProxy in front of
Galera, and every node of a service its own fault target (no processes;
the functional test runs them)."""

import os
from pathlib import Path

import jsonschema
import os_faults
import pytest

from rally_osic.faults import targets as tg
from rally_osic.lab import config as lab_config
from rally_osic.lab import envfiles, families, lab, render, services
from rally_osic.lab.families import infra_ha

NODES = ("127.0.1.1", "127.0.1.2", "127.0.1.3")


@pytest.fixture
def ha_lab(tmp_path):
    return lab_config.load(
        tmp_path / "lab", port_offset=24000, create=True, controllers=3
    )


def _osic_config(config):
    table = services.build(config)
    aliases = {
        alias: name
        for family in families.enabled(config)
        for alias, name in family.aliases.items()
    }
    return envfiles.os_faults_osic_config(config, table, {}, aliases)


def test_the_controllers_are_kept_and_cannot_change(ha_lab):
    assert ha_lab.nodes == NODES
    assert lab_config.load(ha_lab.state_dir).controllers == 3
    with pytest.raises(ValueError, match="created with --controllers 3"):
        lab_config.load(ha_lab.state_dir, controllers=1)
    with pytest.raises(ValueError, match="must be 1 to 9, not 10"):
        lab_config.load(ha_lab.state_dir / "x", create=True, controllers=10)


def test_clients_know_every_node(ha_lab):
    password = ha_lab.secrets["rabbit"]
    assert ha_lab.transport_url == (
        "rabbit://"
        + ",".join(f"lab:{password}@{node}:29672" for node in NODES)
        + "/"
    )
    assert render.memcached_servers(ha_lab) == ",".join(
        f"{node}:35211" for node in NODES
    )
    # The database is HAProxy's address, on the catalog host.
    assert "@127.0.0.1:27306/" in ha_lab.db_url("nova")


def test_one_controller_is_today_s_lab(tmp_path):
    config = lab_config.load(tmp_path / "one", create=True)
    assert config.nodes == ("127.0.0.1",)
    assert config.transport_url.count("@") == 1
    names = {s.name for s in services.build(config)}
    assert {"mariadb", "memcached", "rabbitmq", "epmd"} <= names
    assert {"keystone", "nova-api", "nova-conductor", "neutron"} <= names
    assert "haproxy" not in names
    assert infra_ha.balanced(services.build(config)) == {}
    render.render_all(config)
    nova = (config.etc / "nova" / "nova.conf").read_text()
    assert "memcache_servers = 127.0.0.1:11211" in nova
    assert "rabbit_quorum_queue" not in nova


def test_each_controller_runs_its_own_exact_services(ha_lab):
    table = services.build(ha_lab)
    by_name = {s.name: s for s in table}
    for index, node in enumerate(NODES, start=1):
        for base in (
            "mariadb",
            "galera-check",
            "memcached",
            "rabbitmq",
            "keystone",
        ):
            service = by_name[f"{base}-{index}"]
            assert service.address == node
            assert service.target == base
        keystone = by_name[f"keystone-{index}"]
        assert f"{node}:29000" in keystone.argv
        assert keystone.health == f"http://{node}:29000/"
    # Only HAProxy answers on the catalog address's keystone port.
    assert "keystone" not in by_name
    assert ha_lab.port("keystone") in by_name["haproxy"].extra_ports
    assert by_name["haproxy"].address == "127.0.0.1"
    assert by_name["haproxy"].port == ha_lab.port("mariadb")
    # No two services listen on one address and port.
    bound = [
        (s.address, port)
        for s in table
        for port in (s.port, *s.extra_ports)
        if port
    ]
    assert len(bound) == len(set(bound))
    matches = [s.match for s in table]
    assert len(matches) == len(set(matches))
    for service in table:
        others = [o for o in table if o is not service]
        assert not any(service.match in " ".join(o.argv) for o in others), (
            service.name
        )


def test_galera_and_haproxy_configs(ha_lab):
    cnf = infra_ha.my_cnf(ha_lab, 2)
    assert "bind-address = 127.0.1.2" in cnf
    assert (
        "wsrep_cluster_address = gcomm://127.0.1.1:28567,127.0.1.2:28567,"
        "127.0.1.3:28567"
    ) in cnf
    assert "gmcast.listen_addr=tcp://127.0.1.2:28567" in cnf
    assert "wsrep_sst_receive_address = 127.0.1.2:28444" in cnf
    cfg = infra_ha.haproxy_cfg(ha_lab)
    servers = [
        line.split()
        for line in cfg.splitlines()
        if line.strip().startswith("server ")
    ]
    assert [s[2] for s in servers] == [f"{n}:27306" for n in NODES]
    # OpenStack-Ansible: one active Galera node, the others backups,
    # checked on the cluster check's port every 2 s, 2 to rise or fall.
    assert ["backup" in s for s in servers] == [False, True, True]
    for server in servers:
        assert server[3:11] == [
            "check", "port", "33200", "inter", "2000", "rise", "2", "fall",
        ]  # fmt: skip
    assert "bind 127.0.0.1:27306" in cfg


def _section(cfg: str, header: str) -> list[str]:
    lines = [*cfg.splitlines(), ""]
    start = lines.index(header) + 1
    end = lines.index("", start)
    return [line.strip() for line in lines[start:end]]


def test_haproxy_balances_each_api_over_every_controller(ha_lab):
    apis = infra_ha.balanced(services.build(ha_lab))
    checks = {
        "keystone": (29000, "HEAD /"),
        "glance": (33292, "GET /"),
        "placement": (32778, "GET /"),
        "nova-api": (32774, "HEAD /"),
        "neutron": (33696, "GET /"),
    }
    assert list(apis) == list(checks)
    cfg = infra_ha.haproxy_cfg(ha_lab, apis)
    for name, (port, check) in checks.items():
        assert _section(cfg, f"frontend {name}-front")[:2] == [
            f"bind 127.0.0.1:{port}",
            "mode http",
        ]
        backend = _section(cfg, f"backend {name}-back")
        # OpenStack-Ansible's service of each API: every node active,
        # its own check every 2 s, 2 to rise or fall.
        assert "balance leastconn" in backend
        assert f'option httpchk {check} "HTTP/1.0"' in backend
        servers = [
            line.split() for line in backend if line.startswith("server")
        ]
        assert [s[2] for s in servers] == [f"{n}:{port}" for n in NODES]
        for server in servers:
            assert server[3:] == [
                "check", "inter", "2000", "rise", "2", "fall", "2",
            ]  # fmt: skip
    assert set(by_port(services.build(ha_lab))["haproxy"]) == {
        27306,
        *(port for port, _ in checks.values()),
    }
    # The Galera section is unchanged: one active node, two backups.
    galera = _section(cfg, "backend galera-back")
    assert sum("backup" in line for line in galera) == 2


def by_port(table):
    return {s.name: (s.port, *s.extra_ports) for s in table}


def test_nova_s_workers_run_on_every_controller_as_hosts_of_their_own(
    ha_lab,
):
    by_name = {s.name: s for s in services.build(ha_lab)}
    for binary in ("nova-conductor", "nova-scheduler"):
        assert binary not in by_name
        for index, node in enumerate(NODES, start=1):
            worker = by_name[f"{binary}-{index}"]
            assert worker.target == binary
            assert worker.address == node
            own = ha_lab.etc / "nova" / f"controller-{index}.conf"
            assert worker.argv[-2:] == ("--config-file", str(own))


def test_services_list_every_node_and_use_quorum_queues(ha_lab, monkeypatch):
    # pytest's temp dir is private to root: no Galera node could use it,
    # but these are only files.
    monkeypatch.setattr(infra_ha, "unreachable_parent", lambda *a: None)
    render.render_all(ha_lab)
    nova = (ha_lab.etc / "nova" / "nova.conf").read_text()
    assert f"transport_url = {ha_lab.transport_url}" in nova
    assert "[oslo_messaging_rabbit]\nrabbit_quorum_queue = true" in nova
    assert f"memcache_servers = {render.memcached_servers(ha_lab)}" in nova
    keystone = (ha_lab.etc / "keystone" / "keystone.conf").read_text()
    assert f"memcache_servers = {render.memcached_servers(ha_lab)}" in keystone
    for index in (1, 2, 3):
        assert (ha_lab.etc / f"controller-{index}" / "my.cnf").exists()
        own = (ha_lab.etc / "nova" / f"controller-{index}.conf").read_text()
        assert own == f"[DEFAULT]\nhost = controller-{index}\n"


def test_a_fault_on_one_node_names_that_node_s_process(ha_lab):
    config = _osic_config(ha_lab)
    jsonschema.validate(
        {k: v for k, v in config.items() if k != "osic"},
        os_faults.CONFIG_SCHEMA,
    )
    assert set(NODES) <= set(config["osic"]["local_nodes"])
    assert set(NODES) <= {n["ip"] for n in config["node_discover"]["args"]}
    for name in ("mariadb", "mysql", "rabbitmq", "memcached", "keystone"):
        described = config["services"][name]
        assert described["hosts"] == list(NODES), name
        target = tg.ServiceTarget.from_args(name, described["args"])
        seen = set()
        for index, node in enumerate(NODES, start=1):
            own = target.on(node, None)
            assert own.address == node
            assert f"--only {name.replace('mysql', 'mariadb')}-{index}" in (
                own.start_cmd
            ), name
            seen.add((own.cmdline, own.pid_file))
        assert len(seen) == 3, name
    # Each node also by its own name, on its own host.
    assert config["services"]["mariadb-2"]["hosts"] == ["127.0.1.2"]


def test_families_that_need_one_controller_are_refused(ha_lab):
    with pytest.raises(lab.LabError, match="neutron-agents: not yet"):
        lab._check_clustered(ha_lab, ["neutron-agents"])
    lab._check_clustered(ha_lab, ["cinder", "swift"])


def test_a_state_dir_the_galera_user_cannot_reach_is_named(tmp_path):
    import os
    import tempfile

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    os.chmod(private, 0o700)
    blocked = infra_ha.unreachable_parent(private / "lab" / "data", "mysql")
    assert blocked is not None and not blocked.stat().st_mode & 0o001
    shared = Path(tempfile.mkdtemp(dir="/var/tmp"))
    try:
        shared.chmod(0o755)
        assert infra_ha.unreachable_parent(shared / "lab", "mysql") is None
    finally:
        shared.rmdir()


GRASTATE = """# GALERA saved state
version: 2.1
uuid:    9a3bd5e4-d39c-11f0-8a4b-2f3a4c1e0b11
seqno:   -1
safe_to_bootstrap: {}
"""


def _grastate(config, index: int) -> Path:
    path = infra_ha.node_data(config, index) / "mariadb" / "grastate.dat"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_the_cluster_starts_from_the_node_galera_marked_safe(ha_lab):
    for index, safe in ((1, 0), (2, 0), (3, 1)):
        _grastate(ha_lab, index).write_text(GRASTATE.format(safe))
    assert infra_ha.safe_to_bootstrap(ha_lab) == 3
    assert "safe_to_bootstrap: 0" in _grastate(ha_lab, 1).read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="gives the file to another uid")
def test_with_no_node_marked_safe_controller_1_is_marked_whole(ha_lab):
    """Every node killed: none is safe. Node 1 is marked, the rest of its
    state kept, its owner and mode too (MariaDB runs as another user)."""
    for index in (1, 2, 3):
        _grastate(ha_lab, index).write_text(GRASTATE.format(0))
    state = _grastate(ha_lab, 1)
    state.chmod(0o660)
    os.chown(state, 4242, 4243)
    assert infra_ha.safe_to_bootstrap(ha_lab) == 1
    assert state.read_text() == GRASTATE.format(1)
    stat = state.stat()
    assert (stat.st_uid, stat.st_gid, stat.st_mode & 0o777) == (
        4242,
        4243,
        0o660,
    )
    assert [p.name for p in state.parent.iterdir()] == ["grastate.dat"]
    assert _grastate(ha_lab, 2).read_text() == GRASTATE.format(0)


def test_status_names_the_node_of_each_service(ha_lab):
    """``lab status`` with nothing running: every service down, each on
    its node's address (the table's third column)."""
    rows = lab.status(ha_lab.state_dir, with_nova=False)
    assert {row["address"] for row in rows} >= set(NODES)
    text = lab.format_status(rows).splitlines()
    assert text[0].split()[:4] == ["SERVICE", "PID", "ADDRESS", "PORT"]
    table = {line.split()[0]: line.split() for line in text[1:]}
    for index, node in enumerate(NODES, 1):
        assert table[f"memcached-{index}"][1:3] == ["-", node]
        assert table[f"memcached-{index}"][-2:] == ["FAIL", "(down)"]


def test_a_family_with_an_api_added_later_restarts_haproxy(
    ha_lab, monkeypatch
):
    # Its frontend is in the new haproxy.cfg only: the running HAProxy
    # must stop so that lab up starts it on that file (no process here:
    # the stop is recorded).
    stopped = []
    monkeypatch.setattr(
        lab.procs, "stop", lambda service: stopped.append(service.name)
    )
    config = lab._enable(ha_lab, ["cinder"])
    assert "cinder" in config.families
    assert stopped == ["haproxy"]
    stopped.clear()
    lab._enable(config, ["swift"])  # no API on every controller
    assert stopped == []

"""What the APIs share, on the controllers of ``lab up --controllers N``.

Each controller is a loopback address of its own (127.0.1.1, 127.0.1.2,
...) with a Galera node (MariaDB and galera-4), a RabbitMQ node of one
cluster and a memcached, and its own copy of each API (``BALANCED_APIS``,
``services.web_apis``) and of nova's conductor and scheduler. HAProxy on
the catalog address (127.0.0.1) sends every database client to one
Galera node and keeps the others as backups, with OpenStack-Ansible's
check (an HTTP cluster check on each node) and timings (see
``haproxy_cfg``), and spreads each API's callers over every node that
passes its check. The services list every RabbitMQ node and every
memcached, as OpenStack-Ansible configures them.

Recipes and what failed first: ../shared/notes/ha-lab.md. The Galera
nodes run as the ``mysql`` user: as root, the joiners' rsync state
transfer could not write the data directory.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from rally_osic.lab import steps
from rally_osic.lab.config import HOST, LabConfig, write_atomic
from rally_osic.lab.services import DATA_DIR, Service, command, user

MARIADBD = "/usr/sbin/mariadbd"
MEMCACHED = "/usr/bin/memcached"
RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
RABBITMQCTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
HAPROXY = "/usr/sbin/haproxy"
GALERA_PROVIDER = "/usr/lib/galera/libgalera_smm.so"
DEBIAN_PACKAGES = ("galera-4", "rsync", "haproxy")
SYNCED = "4"

# OpenStack-Ansible's HAProxy (openstack-ansible-haproxy_server:
# defaults/main.yml haproxy_interval 2000 ms, haproxy_rise 2,
# haproxy_fall 2; templates/haproxy.cfg.j2 defaults; and the galera
# service of openstack-ansible's haproxy group_vars: the first Galera
# node as backend, the others as backups, checked on port 9200 with
# "HEAD /", client and server timeouts 5000 s).
CHECK_INTERVAL_MS = 2000
RISE = 2
FALL = 2
# The APIs that run on every controller: the family that runs each, its
# port's name, and OpenStack-Ansible's health check of it (the same
# group_vars: haproxy_backend_options "httpchk <this> HTTP/1.0"; balance
# type http, haproxy_server's default algorithm leastconn).
BALANCED_APIS = {
    "keystone": ("keystone", "keystone", "HEAD /"),
    "glance": ("glance", "glance", "GET /"),
    "placement": ("placement", "placement", "GET /"),
    "nova-api": ("nova", "nova-api", "HEAD /"),
    "neutron": ("neutron", "neutron", "GET /"),
    "cinder-api": ("cinder", "cinder", "HEAD /"),
}


def index_of(config: LabConfig, node: str) -> int:
    return config.nodes.index(node) + 1


def node_etc(config: LabConfig, index: int) -> Path:
    return config.etc / f"controller-{index}"


def node_data(config: LabConfig, index: int) -> Path:
    return config.data / f"controller-{index}"


def mariadb_socket(config: LabConfig, index: int) -> Path:
    return node_data(config, index) / "mariadb-run" / "mariadb.sock"


def mysql_user() -> str:
    return "mysql" if os.geteuid() == 0 else user()


def my_cnf(config: LabConfig, index: int) -> str:
    node = config.nodes[index - 1]
    data = node_data(config, index)
    cluster = ",".join(f"{n}:{config.port('galera')}" for n in config.nodes)
    provider_options = (
        f"gmcast.listen_addr=tcp://{node}:{config.port('galera')};"
        f"ist.recv_addr={node}:{config.port('galera-ist')}"
    )
    return "\n".join(
        [
            "# Galera node of the rally-osic lab's controller "
            f"{index} (rendered by rally-osic lab up).",
            "[mariadbd]",
            f"user = {mysql_user()}",
            f"datadir = {data / 'mariadb'}",
            f"socket = {mariadb_socket(config, index)}",
            f"pid-file = {data / 'mariadb-run' / 'mariadb.server.pid'}",
            f"bind-address = {node}",
            f"port = {config.port('mariadb')}",
            f"log-error = {data / 'mariadb-run' / 'mariadb.err.log'}",
            "skip-name-resolve",
            "character-set-server = utf8mb4",
            "collation-server = utf8mb4_general_ci",
            "max_connections = 1000",
            "innodb_buffer_pool_size = 64M",
            "innodb_log_file_size = 32M",
            "innodb_flush_log_at_trx_commit = 2",
            "performance_schema = OFF",
            "binlog_format = ROW",
            "innodb_autoinc_lock_mode = 2",
            "wsrep_on = ON",
            f"wsrep_provider = {GALERA_PROVIDER}",
            "wsrep_cluster_name = rally-osic-lab",
            f"wsrep_cluster_address = gcomm://{cluster}",
            f"wsrep_node_address = {node}:{config.port('galera')}",
            f"wsrep_node_name = controller-{index}",
            f'wsrep_provider_options = "{provider_options}"',
            f"wsrep_sst_receive_address = {node}:{config.port('galera-sst')}",
            "wsrep_sst_method = rsync",
            "",
            "[client]",
            f"socket = {mariadb_socket(config, index)}",
            "",
        ]
    )


def rabbitmq_conf(config: LabConfig, node: str) -> str:
    return "\n".join(
        [
            "# RabbitMQ node of the rally-osic lab (rendered by lab up).",
            f"listeners.tcp.1 = {node}:{config.port('rabbitmq')}",
            "default_user = lab",
            f"default_pass = {config.secrets['rabbit']}",
            "loopback_users = none",
            "log.file.level = warning",
            "log.console = false",
            "disk_free_limit.absolute = 50MB",
            "",
        ]
    )


def balanced(services: list[Service]) -> dict[str, list[Service]]:
    """API name -> its copies on the controllers, for HAProxy."""
    found: dict[str, list[Service]] = {}
    for service in services:
        if service.target in BALANCED_APIS:
            found.setdefault(service.target, []).append(service)
    return found


def _api_sections(apis: dict) -> list[str]:
    check = f"inter {CHECK_INTERVAL_MS} rise {RISE} fall {FALL}"
    lines = []
    for name, copies in apis.items():
        method_path = BALANCED_APIS[name][2]
        port = copies[0].port
        lines += [
            f"frontend {name}-front",
            f"    bind {HOST}:{port}",
            "    mode http",
            "    option forwardfor",
            f"    default_backend {name}-back",
            "",
            f"backend {name}-back",
            "    mode http",
            "    balance leastconn",
            f'    option httpchk {method_path} "HTTP/1.0"',
            *(
                f"    server controller-{index} {api.address}:{api.port} "
                f"check {check}"
                for index, api in enumerate(copies, start=1)
            ),
            "",
        ]
    return lines


def wait_served(config: LabConfig, name: str, timeout: float = 60) -> None:
    """Until HAProxy sends the API's callers to a copy it has seen
    healthy (``RISE`` checks after the copy answers)."""
    import urllib.error
    import urllib.request

    url = config.url(BALANCED_APIS[name][1], "/")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
            error = f"HTTP {exc.code}"
        except OSError as exc:
            error = str(exc)
        if time.monotonic() > deadline:
            raise steps.SetupError(
                f"HAProxy did not serve {name} at {url} within "
                f"{timeout:.0f} s: {error}"
            )
        time.sleep(0.5)


def frontend_ports(config: LabConfig) -> tuple[int, ...]:
    """The catalog-address ports HAProxy binds for the APIs."""
    from rally_osic.lab import families

    enabled = {family.name for family in families.enabled(config)}
    return tuple(
        config.port(port_name)
        for family, port_name, _ in BALANCED_APIS.values()
        if family in enabled
    )


def haproxy_cfg(config: LabConfig, apis: dict | None = None) -> str:
    check = f"inter {CHECK_INTERVAL_MS} rise {RISE} fall {FALL}"
    servers = [
        f"    server controller-{index} {node}:{config.port('mariadb')} "
        f"check port {config.port('galera-check')} {check}"
        + (" backup" if index > 1 else "")
        for index, node in enumerate(config.nodes, start=1)
    ]
    return "\n".join(
        [
            "# HAProxy of the rally-osic lab's controllers (rendered by",
            "# rally-osic lab up); OpenStack-Ansible's defaults.",
            "global",
            "    maxconn 4096",
            f"    stats socket {config.run / 'haproxy.sock'} mode 600 "
            "level admin",
            "",
            "defaults",
            "    option dontlognull",
            "    option redispatch",
            "    retries 3",
            "    timeout client 50s",
            "    timeout connect 10s",
            "    timeout server 50s",
            "    maxconn 4096",
            "",
            "frontend galera-front-1",
            f"    bind {HOST}:{config.port('mariadb')}",
            "    option tcplog",
            "    timeout client 5000s",
            "    mode tcp",
            "    default_backend galera-back",
            "",
            "backend galera-back",
            "    mode tcp",
            "    balance leastconn",
            "    timeout server 5000s",
            '    option httpchk HEAD / "HTTP/1.0"',
            *servers,
            "",
            *_api_sections(apis or {}),
        ]
    )


def rabbitmq_env(config: LabConfig, index: int) -> dict:
    node = config.nodes[index - 1]
    data = node_data(config, index) / "rabbitmq"
    etc = node_etc(config, index) / "rabbitmq"
    return {
        # One HOME for every node and the CLI: one Erlang cookie.
        "HOME": str(config.data / "rabbitmq"),
        "RABBITMQ_NODENAME": config.rabbit_node_of(index),
        "RABBITMQ_NODE_IP_ADDRESS": node,
        "RABBITMQ_NODE_PORT": str(config.port("rabbitmq")),
        "RABBITMQ_DIST_PORT": str(config.port("rabbitmq-dist") + index),
        "ERL_EPMD_PORT": str(config.port("epmd")),
        "ERL_EPMD_ADDRESS": HOST,
        "RABBITMQ_CONFIG_FILE": str(etc / "rabbitmq"),
        "RABBITMQ_CONF_ENV_FILE": str(etc / "env.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(etc / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(data / "mnesia"),
        "RABBITMQ_LOG_BASE": str(config.log / f"rabbitmq-{index}"),
        "RABBITMQ_PID_FILE": str(data / "beam.pid"),
        # Distribution stays on 127.0.0.1: the CLI resolves "localhost"
        # there (ha-lab.md). So cutting a controller's address cuts its
        # AMQP clients, not its cluster links.
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": (
            f"-start_epmd false -kernel inet_dist_use_interface {{127,0,0,1}}"
            f" -osic_lab {data}"
        ),
        "RUNNING_UNDER_SYSTEMD": "true",
    }


def unreachable_parent(path: Path, name: str) -> Path | None:
    """The first directory above ``path`` that user ``name`` cannot
    enter (None: every one can be)."""
    import grp
    import pwd

    account = pwd.getpwnam(name)
    groups = {account.pw_gid} | {
        g.gr_gid for g in grp.getgrall() if name in g.gr_mem
    }
    for parent in reversed(path.parents):
        try:
            st = parent.stat()
        except OSError:
            return None  # made by the lab, with its usual modes
        if st.st_uid == account.pw_uid:
            allowed = st.st_mode & 0o100
        elif st.st_gid in groups:
            allowed = st.st_mode & 0o010
        else:
            allowed = st.st_mode & 0o001
        if not allowed and account.pw_uid != 0:
            return parent
    return None


def render(config: LabConfig) -> None:
    owner = mysql_user()
    blocked = unreachable_parent(config.data / "x", owner)
    if blocked:
        raise steps.SetupError(
            f"the Galera nodes run as user {owner}, who cannot enter "
            f"{blocked}: choose a --state-dir that {owner} can reach, or "
            f"allow it (chmod o+x {blocked})"
        )
    for index, node in enumerate(config.nodes, start=1):
        etc = node_etc(config, index)
        (etc / "rabbitmq").mkdir(parents=True, exist_ok=True)
        write_atomic(etc / "my.cnf", my_cnf(config, index), 0o644)
        write_atomic(
            etc / "rabbitmq" / "rabbitmq.conf", rabbitmq_conf(config, node)
        )
        (etc / "rabbitmq" / "enabled_plugins").write_text("[].\n")
        (etc / "rabbitmq" / "env.conf").write_text("")
        data = node_data(config, index)
        for sub in ("mariadb-run", "rabbitmq"):
            (data / sub).mkdir(parents=True, exist_ok=True)
        shutil.chown(data / "mariadb-run", owner, owner)
        (config.log / f"rabbitmq-{index}").mkdir(parents=True, exist_ok=True)
    (config.data / "rabbitmq").mkdir(parents=True, exist_ok=True)
    from rally_osic.lab import services as lab_services

    apis = balanced(lab_services.build(config))
    write_atomic(config.etc / "haproxy.cfg", haproxy_cfg(config, apis), 0o644)


def services(config: LabConfig, family: str) -> list[Service]:
    found = []
    for index, node in enumerate(config.nodes, start=1):
        cnf = node_etc(config, index) / "my.cnf"
        found.append(
            command(
                config,
                f"mariadb-{index}",
                (MARIADBD, f"--defaults-file={cnf}"),
                f"mariadbd --defaults-file={cnf}",
                port=config.port("mariadb"),
                extra_ports=(config.port("galera"), config.port("galera-ist")),
                health=f"tcp://{node}:{config.port('mariadb')}",
                # A joiner copies the whole data directory first.
                start_timeout=180.0,
                kind="database",
                family=family,
                address=node,
                target="mariadb",
            )
        )
        check_argv = (
            config.python,
            str(DATA_DIR / "osic_lab_galera_check.py"),
            node,
            str(config.port("galera-check")),
            str(mariadb_socket(config, index)),
        )
        found.append(
            command(
                config,
                f"galera-check-{index}",
                check_argv,
                " ".join(check_argv[1:]),
                port=config.port("galera-check"),
                health=f"tcp://{node}:{config.port('galera-check')}",
                kind="infra",
                family=family,
                address=node,
                target="galera-check",
            )
        )
        pid_file = node_data(config, index) / "memcached.pid"
        found.append(
            command(
                config,
                f"memcached-{index}",
                memcached_argv(pid_file, node, config.port("memcached")),
                f"memcached -P {pid_file}",
                port=config.port("memcached"),
                health=f"tcp://{node}:{config.port('memcached')}",
                kind="infra",
                family=family,
                address=node,
                target="memcached",
            )
        )
        rabbit_data = node_data(config, index) / "rabbitmq"
        found.append(
            command(
                config,
                f"rabbitmq-{index}",
                (RABBITMQ_SERVER,),
                f"osic_lab {rabbit_data}",
                port=config.port("rabbitmq"),
                health=f"tcp://{node}:{config.port('rabbitmq')}",
                env=rabbitmq_env(config, index),
                start_timeout=120.0,
                kind="infra",
                family=family,
                address=node,
                target="rabbitmq",
            )
        )
    haproxy_cfg_file = config.etc / "haproxy.cfg"
    found.append(
        command(
            config,
            "haproxy",
            (HAPROXY, "-db", "-f", str(haproxy_cfg_file)),
            f"haproxy -db -f {haproxy_cfg_file}",
            port=config.port("mariadb"),
            extra_ports=frontend_ports(config),
            health=f"tcp://{HOST}:{config.port('mariadb')}",
            kind="infra",
            family=family,
        )
    )
    return found


# ------------------------------------------------------------- Galera


def init_datadirs(config: LabConfig) -> None:
    owner = mysql_user()
    for index in range(1, config.controllers + 1):
        datadir = node_data(config, index) / "mariadb"
        if (datadir / "mysql").is_dir():
            continue
        # Never a user's file: the lab's own half-made data directory.
        shutil.rmtree(datadir, ignore_errors=True)
        datadir.mkdir(parents=True)
        shutil.chown(datadir, owner, owner)
        steps.run_logged(
            config,
            [
                "mariadb-install-db",
                f"--defaults-file={node_etc(config, index) / 'my.cnf'}",
                f"--user={owner}",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ],
            timeout=120,
        )


def wsrep_status(config: LabConfig, index: int) -> dict[str, str]:
    """The node's wsrep status variables ({} if it does not answer)."""
    try:
        result = subprocess.run(
            [
                "mariadb",
                f"--socket={mariadb_socket(config, index)}",
                "--connect-timeout=2",
                "-N",
                "-B",
                "-e",
                "SHOW STATUS LIKE 'wsrep_%'",
            ],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if result.returncode != 0:
        return {}
    return dict(
        line.split("\t", 1)
        for line in result.stdout.splitlines()
        if "\t" in line
    )


def synced(config: LabConfig, index: int) -> bool:
    status = wsrep_status(config, index)
    return status.get("wsrep_local_state") == SYNCED and status.get(
        "wsrep_cluster_size"
    ) == str(config.controllers)


def wait_synced(config: LabConfig, indexes, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(indexes)
    while waiting and time.monotonic() < deadline:
        waiting = [index for index in waiting if not synced(config, index)]
        if waiting:
            time.sleep(1)
    if waiting:
        names = ", ".join(f"mariadb-{index}" for index in waiting)
        raise steps.SetupError(
            f"Galera: {names} not synced in a cluster of "
            f"{config.controllers} after {timeout:.0f} s"
        )


def memcached_argv(pid_file: Path, address: str, port: int) -> tuple:
    """One memcached: 64 MiB, no UDP. ``-P`` is only used with ``-d``;
    here it makes the command line unique."""
    argv = [MEMCACHED, "-P", str(pid_file), "-l", address, "-p", str(port)]
    argv += ["-U", "0", "-m", "64", "-c", "1024"]
    if os.geteuid() == 0:
        argv += ["-u", user()]
    return tuple(argv)


def safe_to_bootstrap(config: LabConfig) -> int:
    """The node to start the cluster from, after every node stopped: the
    one Galera marked safe (the last to stop cleanly), else controller 1,
    marked safe here. HAProxy sends every write to controller 1 while it
    is up, so it holds them all but what a failover sent elsewhere."""
    for index in range(1, config.controllers + 1):
        state = node_data(config, index) / "mariadb" / "grastate.dat"
        try:
            text = state.read_text()
        except OSError:
            continue
        if re.search(r"^safe_to_bootstrap:\s*1\s*$", text, re.M):
            return index
    state = node_data(config, 1) / "mariadb" / "grastate.dat"
    if state.exists():
        text = re.sub(
            r"^safe_to_bootstrap:.*$",
            "safe_to_bootstrap: 1",
            state.read_text(),
            flags=re.M,
        )
        _rewrite_as_its_owner(state, text)
    return 1


def _rewrite_as_its_owner(path: Path, text: str) -> None:
    """Replace a file of MariaDB's whole, with its owner and mode (the
    lab runs as root, MariaDB as mysql)."""
    was = path.stat()
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.chown(temporary, was.st_uid, was.st_gid)
    temporary.chmod(was.st_mode & 0o7777)
    temporary.replace(path)


def start_galera(run, say) -> None:
    """Start the nodes that are down; form the cluster if none is up.

    The first node of a new cluster starts with ``--wsrep-new-cluster``
    and, once the others have joined, is restarted without it: every node
    then runs its plain command line, the one a fault restarts it with.
    """
    from rally_osic.lab import procs

    config = run.config
    nodes = [
        run.table[f"mariadb-{i}"] for i in range(1, len(config.nodes) + 1)
    ]
    down = [s for s in nodes if procs.running_pid(s) is None]
    if not down:
        return
    if len(down) < len(nodes):
        run.start_all([s.name for s in down])
        wait_synced(config, range(1, len(nodes) + 1), timeout=180)
        return
    first = safe_to_bootstrap(config)
    plain = nodes[first - 1]
    bootstrap = dataclasses.replace(
        plain, argv=(*plain.argv, "--wsrep-new-cluster")
    )
    run.start_service(bootstrap)
    say(f"Galera: new cluster from mariadb-{first}")
    run.start_all([s.name for s in nodes if s is not plain])
    wait_synced(config, range(1, len(nodes) + 1), timeout=240)
    procs.stop(plain)
    run.start_service(plain)
    wait_synced(config, range(1, len(nodes) + 1), timeout=180)


# ------------------------------------------------------------ RabbitMQ


def rabbitmqctl(config: LabConfig, index: int, *args: str) -> None:
    env = {
        k: v
        for k, v in rabbitmq_env(config, index).items()
        if k in ("HOME", "ERL_EPMD_PORT")
    }
    steps.run_logged(
        config,
        [RABBITMQCTL, "-n", config.rabbit_node_of(index), *args],
        env=env,
        timeout=120,
    )


def join_rabbitmq(config: LabConfig) -> None:
    """Make one cluster of the nodes (once: the nodes remember it)."""
    step = f"rabbitmq-cluster-{config.controllers}"
    if steps.is_done(config, step):
        return
    first = config.rabbit_node_of(1)
    for index in range(2, config.controllers + 1):
        rabbitmqctl(config, index, "stop_app")
        rabbitmqctl(config, index, "join_cluster", first)
        rabbitmqctl(config, index, "start_app")
    steps.mark_done(config, step)

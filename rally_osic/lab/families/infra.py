"""MariaDB, memcached and RabbitMQ (with its epmd): what the APIs share."""

from __future__ import annotations

import os
import shutil

from rally_osic.lab import steps
from rally_osic.lab.config import HOST, LabConfig
from rally_osic.lab.families import Family, infra_ha
from rally_osic.lab.services import Service, command, user

MARIADBD = "/usr/sbin/mariadbd"
EPMD = "/usr/bin/epmd"
RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


def rabbitmq_env(config: LabConfig) -> dict:
    rabbit_dir = config.data / "rabbitmq"
    return {
        "HOME": str(rabbit_dir),  # the Erlang cookie lives there
        "RABBITMQ_NODENAME": config.rabbit_node,
        "RABBITMQ_NODE_IP_ADDRESS": HOST,
        "RABBITMQ_NODE_PORT": str(config.port("rabbitmq")),
        "RABBITMQ_DIST_PORT": str(config.port("rabbitmq-dist")),
        "ERL_EPMD_PORT": str(config.port("epmd")),
        "ERL_EPMD_ADDRESS": HOST,
        "RABBITMQ_CONFIG_FILE": str(config.etc / "rabbitmq" / "rabbitmq"),
        "RABBITMQ_CONF_ENV_FILE": str(config.etc / "rabbitmq" / "env.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(
            config.etc / "rabbitmq" / "enabled_plugins"
        ),
        "RABBITMQ_MNESIA_BASE": str(rabbit_dir / "mnesia"),
        "RABBITMQ_LOG_BASE": str(config.log / "rabbitmq"),
        "RABBITMQ_PID_FILE": str(rabbit_dir / "beam.pid"),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": (
            f"-start_epmd false -kernel inet_dist_use_interface {{127,0,0,1}}"
            f" -osic_lab {rabbit_dir}"
        ),
        # Makes the script exec the VM instead of supervising it, so the
        # PID the lab records is the broker's.
        "RUNNING_UNDER_SYSTEMD": "true",
    }


FAMILY_NAME = "infra"


class Infra(Family):
    name = FAMILY_NAME
    summary = "MariaDB, memcached, RabbitMQ"
    aliases = {"mysql": "mariadb"}
    debian_packages = ("mariadb-server", "memcached", "rabbitmq-server")
    templates = (
        ("my.cnf", "mariadb/my.cnf"),
        ("rabbitmq.conf", "rabbitmq/rabbitmq.conf"),
    )

    def packages(self, config):
        if config.clustered:
            return self.debian_packages + infra_ha.DEBIAN_PACKAGES
        return self.debian_packages

    def render(self, config, values):
        if config.clustered:
            infra_ha.render(config)
            return
        super().render(config, values)
        (config.log / "rabbitmq").mkdir(parents=True, exist_ok=True)
        (config.data / "rabbitmq").mkdir(parents=True, exist_ok=True)
        rabbit_etc = config.etc / "rabbitmq"
        (rabbit_etc / "enabled_plugins").write_text("[].\n")
        (rabbit_etc / "env.conf").write_text("")

    def services(self, config: LabConfig) -> list[Service]:
        if config.clustered:
            return [*infra_ha.services(config, self.name), epmd(config)]
        run = config.run
        my_cnf = config.etc / "mariadb" / "my.cnf"
        mariadb = command(
            config,
            "mariadb",
            (MARIADBD, f"--defaults-file={my_cnf}"),
            f"mariadbd --defaults-file={my_cnf}",
            port=config.port("mariadb"),
            health=f"tcp://{HOST}:{config.port('mariadb')}",
            kind="infra",
            family=self.name,
        )
        memcached = command(
            config,
            "memcached",
            infra_ha.memcached_argv(
                run / "memcached.pid", HOST, config.port("memcached")
            ),
            f"memcached -P {run / 'memcached.pid'}",
            port=config.port("memcached"),
            health=f"tcp://{HOST}:{config.port('memcached')}",
            kind="infra",
            family=self.name,
        )
        rabbit_dir = config.data / "rabbitmq"
        rabbitmq = command(
            config,
            "rabbitmq",
            (RABBITMQ_SERVER,),
            # The script execs the Erlang VM, whose command line carries
            # this marker (an Erlang user flag, see rabbitmq_env).
            f"osic_lab {rabbit_dir}",
            port=config.port("rabbitmq"),
            extra_ports=(config.port("rabbitmq-dist"),),
            health=f"tcp://{HOST}:{config.port('rabbitmq')}",
            env=rabbitmq_env(config),
            start_timeout=60.0,
            kind="infra",
            family=self.name,
        )
        return [mariadb, memcached, epmd(config), rabbitmq]

    def start_base(self, run, say) -> None:
        """MariaDB (or the Galera cluster and HAProxy) and memcached, up
        and healthy, before any family's set-up."""
        from rally_osic.lab import procs

        config, table = run.config, run.table
        if config.clustered:
            infra_ha.init_datadirs(config)
            infra_ha.start_galera(run, say)
            run.start_all(
                [
                    s.name
                    for s in table.values()
                    if s.target in ("memcached", "galera-check")
                ]
                + ["haproxy", "epmd"]
            )
            return
        init_mariadb(config)
        for name in ("mariadb", "memcached", "epmd"):
            if procs.running_pid(table[name]) is None:
                say(f"started {name} (pid {procs.start(table[name])})")
        run.start("mariadb")
        run.start("memcached")

    def setup(self, run) -> None:
        run.start("epmd")
        if run.config.clustered:
            # In parallel: a node that was stopped with the others waits
            # for its peers before it opens its port.
            run.start_all(
                [s.name for s in run.table.values() if s.target == "rabbitmq"]
            )
            infra_ha.join_rabbitmq(run.config)
            return
        run.start("rabbitmq")


def epmd(config: LabConfig) -> Service:
    argv = (EPMD, "-port", str(config.port("epmd")), "-address", HOST)
    return command(
        config,
        "epmd",
        argv,
        " ".join(argv),
        port=config.port("epmd"),
        health=f"tcp://{HOST}:{config.port('epmd')}",
        kind="last",
        family=FAMILY_NAME,
    )


def init_mariadb(config: LabConfig) -> None:
    if (config.data / "mariadb" / "mysql").is_dir():
        return
    shutil.rmtree(config.data / "mariadb", ignore_errors=True)
    steps.run_logged(
        config,
        [
            "mariadb-install-db",
            f"--defaults-file={config.etc / 'mariadb' / 'my.cnf'}",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        ],
        timeout=120,
    )


def create_databases(config: LabConfig, names: list[str]) -> None:
    """Create the databases (missing ones only) and the lab's DB user
    (on the first Galera node of a cluster: it replicates them)."""
    password = config.secrets["db"]
    statements = [f"CREATE DATABASE IF NOT EXISTS {name};" for name in names]
    for host in (HOST, "localhost"):
        statements += [
            f"CREATE USER IF NOT EXISTS 'lab'@'{host}' "
            f"IDENTIFIED BY '{password}';",
            f"GRANT ALL PRIVILEGES ON *.* TO 'lab'@'{host}';",
        ]
    steps.run_logged(
        config,
        [
            "mariadb",
            f"--socket={database_socket(config)}",
            "-u",
            user() if os.geteuid() != 0 else "root",
        ],
        input_text="\n".join(statements) + "\n",
        timeout=60,
    )


def database_socket(config: LabConfig):
    if config.clustered:
        return infra_ha.mariadb_socket(config, 1)
    return config.run / "mariadb.sock"


FAMILY = Infra()

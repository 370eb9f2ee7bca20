"""What each lab service runs, where it listens and logs. Pure.

Every service is one process tree that the lab starts itself, in its own
session, with stdout and stderr appended to ``log/<name>.log``. It is
recognised by ``match``: a literal piece of its command line that contains
a path of this lab's state directory (or its own port), so that no other
process on the host can match it. ``grep`` is the same text as a basic
regular expression, as the os-faults ``process`` driver needs it
(``ps ax | grep -v grep | grep '<grep>'``).
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import re
from pathlib import Path

from rally_osic.lab.config import HOST, LabConfig

DATA_DIR = Path(__file__).resolve().parent / "data"
MARIADBD = "/usr/sbin/mariadbd"
MEMCACHED = "/usr/bin/memcached"
EPMD = "/usr/bin/epmd"
RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"

# (name, wsgi factory in data/osic_lab_wsgi.py, workers, threads)
WEB_APIS = (
    ("keystone", "keystone", 2, 4),
    ("glance", "glance", 1, 8),
    ("placement", "placement", 1, 8),
    ("neutron", "neutron", 1, 8),
    ("nova-api", "nova_api", 1, 8),
)
NOVA_WORKERS = ("nova-conductor", "nova-scheduler")
COMPUTE_HOSTS = ("lab-compute-1", "lab-compute-2")

_BRE_SPECIAL = re.compile(r"([\\.\[\]*^$])")


def bre_escape(text: str) -> str:
    """``text`` as a grep basic regular expression that matches itself."""
    if "'" in text or '"' in text:
        # os-faults wraps the pattern in both kinds of quotes.
        raise ValueError(f"quotes are not allowed in a lab path: {text!r}")
    return _BRE_SPECIAL.sub(r"\\\1", text)


@dataclasses.dataclass(frozen=True)
class Service:
    name: str
    argv: tuple[str, ...]
    match: str  # literal part of /proc/PID/cmdline (args joined by " ")
    log_file: Path
    pidfile: Path
    port: int | None = None
    health: str = ""  # "http://..." (any status < 500), "tcp://h:p", ""
    env: dict = dataclasses.field(default_factory=dict)
    start_timeout: float = 60.0
    kind: str = "openstack"  # "infra" | "openstack"

    @property
    def grep(self) -> str:
        # os-faults runs "grep '<grep>'": a leading "-" would be an option.
        assert not self.match.startswith("-"), self.match
        return bre_escape(self.match)


def _user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


def _venv_python(venv: Path) -> list[str]:
    return [str(venv / "bin" / "python")]


def web_api_argv(
    config: LabConfig, name: str, factory: str, workers: int, threads: int
) -> tuple[str, ...]:
    venv = config.neutron_venv if name == "neutron" else config.services_venv
    return tuple(
        _venv_python(venv)
        + [
            str(venv / "bin" / "gunicorn"),
            "--bind",
            f"{HOST}:{config.port(name)}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--timeout",
            "120",
            "--graceful-timeout",
            "5",
            # The default 2 s races with client connection pooling.
            "--keep-alive",
            "75",
            "--no-control-socket",
            "--pythonpath",
            str(DATA_DIR),
            "--error-logfile",
            str(config.log / f"{name}.log"),
            f"osic_lab_wsgi:{factory}()",
        ]
    )


def build(config: LabConfig) -> list[Service]:
    """All services, in start order."""
    etc, run, log = config.etc, config.run, config.log

    def common(name: str) -> dict:
        return {
            "name": name,
            "log_file": log / f"{name}.log",
            "pidfile": run / f"{name}.pid",
        }

    services = []
    my_cnf = etc / "mariadb" / "my.cnf"
    services.append(
        Service(
            argv=(MARIADBD, f"--defaults-file={my_cnf}"),
            match=f"mariadbd --defaults-file={my_cnf}",
            port=config.port("mariadb"),
            health=f"tcp://{HOST}:{config.port('mariadb')}",
            kind="infra",
            **common("mariadb"),
        )
    )
    # -P is only used with -d; here it makes the command line unique.
    memcached_argv = [
        MEMCACHED,
        "-P",
        str(run / "memcached.pid"),
        "-l",
        HOST,
        "-p",
        str(config.port("memcached")),
        "-U",
        "0",
        "-m",
        "64",
        "-c",
        "1024",
    ]
    if os.geteuid() == 0:
        memcached_argv += ["-u", _user()]
    services.append(
        Service(
            argv=tuple(memcached_argv),
            match=f"memcached -P {run / 'memcached.pid'}",
            port=config.port("memcached"),
            health=f"tcp://{HOST}:{config.port('memcached')}",
            kind="infra",
            **common("memcached"),
        )
    )
    epmd_argv = (EPMD, "-port", str(config.port("epmd")), "-address", HOST)
    services.append(
        Service(
            argv=epmd_argv,
            match=" ".join(epmd_argv),
            port=config.port("epmd"),
            health=f"tcp://{HOST}:{config.port('epmd')}",
            kind="infra",
            **common("epmd"),
        )
    )
    rabbit_dir = config.data / "rabbitmq"
    services.append(
        Service(
            argv=(RABBITMQ_SERVER,),
            # The script execs the Erlang VM, whose command line carries
            # this marker (an Erlang user flag, see rabbitmq_env).
            match=f"osic_lab {rabbit_dir}",
            port=config.port("rabbitmq"),
            health=f"tcp://{HOST}:{config.port('rabbitmq')}",
            env=rabbitmq_env(config),
            start_timeout=60.0,
            kind="infra",
            **common("rabbitmq"),
        )
    )
    for name, factory, workers, threads in WEB_APIS:
        argv = web_api_argv(config, name, factory, workers, threads)
        services.append(
            Service(
                argv=argv,
                match=f"error-logfile {log / name}.log",
                port=config.port(name),
                health=config.url(name, "/"),
                env=api_env(config, name),
                **common(name),
            )
        )
    nova_conf = etc / "nova" / "nova.conf"
    for name in NOVA_WORKERS:
        argv = (
            *_venv_python(config.services_venv),
            str(config.services_venv / "bin" / name),
            "--config-file",
            str(nova_conf),
        )
        services.append(
            Service(
                argv=argv,
                match=f"{name} --config-file {nova_conf}",
                **common(name),
            )
        )
    for index, _host in enumerate(COMPUTE_HOSTS, start=1):
        host_conf = etc / "nova" / f"compute-{index}.conf"
        argv = (
            *_venv_python(config.services_venv),
            str(config.services_venv / "bin" / "nova-compute"),
            "--config-file",
            str(nova_conf),
            "--config-file",
            str(host_conf),
        )
        services.append(
            Service(
                argv=argv,
                match=f"config-file {host_conf}",
                **common(f"nova-compute-{index}"),
            )
        )
    return services


def by_name(config: LabConfig) -> dict[str, Service]:
    return {service.name: service for service in build(config)}


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


def api_env(config: LabConfig, name: str) -> dict:
    return {"OSIC_LAB_ETC": str(config.etc)}

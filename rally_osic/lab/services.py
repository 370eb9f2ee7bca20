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
    # A service without a health URL or port is healthy once its
    # process has stayed up this long (a daemon that dies of a bad config
    # does so within a second or two).
    settle: float = 0.0
    # "openstack" services stop first, then "infra", then "last" (epmd,
    # the namespaces' holder).
    kind: str = "openstack"
    family: str = ""
    # Other TCP ports it binds on its address (checked for clashes).
    extra_ports: tuple[int, ...] = ()
    # The node it runs on: the address it listens on (HOST, or one
    # controller's of ``lab up --controllers N``).
    address: str = HOST
    # The fault target it is one node of, when the same service runs on
    # every controller (mariadb-1, mariadb-2, ... are "mariadb").
    target: str = ""
    # Started inside the mount, UTS and network namespaces of the process
    # named by this (pidfile, match) pair: a host node of the lab.
    enter: tuple[Path, str] | None = None

    @property
    def grep(self) -> str:
        # os-faults runs "grep '<grep>'": a leading "-" would be an option.
        assert not self.match.startswith("-"), self.match
        return bre_escape(self.match)


def user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


def venv_python(venv: Path) -> list[str]:
    return [str(venv / "bin" / "python")]


def web_api_argv(
    config: LabConfig,
    name: str,
    factory: str,
    workers: int,
    threads: int,
    venv: Path | None = None,
    port: int | None = None,
    address: str = HOST,
    log_name: str | None = None,
) -> tuple[str, ...]:
    venv = venv or config.services_venv
    return tuple(
        venv_python(venv)
        + [
            str(venv / "bin" / "gunicorn"),
            "--bind",
            f"{address}:{port or config.port(name)}",
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
            str(config.log / f"{log_name or name}.log"),
            f"osic_lab_wsgi:{factory}()",
        ]
    )


def web_api(
    config: LabConfig,
    name: str,
    factory: str,
    workers: int = 1,
    threads: int = 8,
    venv: Path | None = None,
    health_path: str = "/",
    port_name: str | None = None,
    address: str = HOST,
    service_name: str | None = None,
    **fields,
) -> Service:
    """A WSGI app under gunicorn, recognised by its own error log."""
    log = config.log
    port_name = port_name or name
    service_name = service_name or name
    port = config.port(port_name)
    return Service(
        name=service_name,
        argv=web_api_argv(
            config,
            name,
            factory,
            workers,
            threads,
            venv,
            port=port,
            address=address,
            log_name=service_name,
        ),
        match=f"error-logfile {log / service_name}.log",
        log_file=log / f"{service_name}.log",
        pidfile=config.run / f"{service_name}.pid",
        port=port,
        health=f"http://{address}:{port}{health_path}",
        env={"OSIC_LAB_ETC": str(config.etc)},
        address=address,
        **fields,
    )


def web_apis(
    config: LabConfig, name: str, factory: str, *args, **fields
) -> list[Service]:
    """``web_api`` once, or on every controller of a lab with several
    (``name-1``, ``name-2``, ...: one fault target ``name``), each on
    its node's address, behind HAProxy on the catalog address."""
    if not config.clustered:
        return [web_api(config, name, factory, *args, **fields)]
    return [
        web_api(
            config,
            name,
            factory,
            *args,
            address=node,
            service_name=f"{name}-{index}",
            target=name,
            **fields,
        )
        for index, node in enumerate(config.nodes, start=1)
    ]


def command(
    config: LabConfig, name: str, argv: tuple[str, ...], match: str, **fields
) -> Service:
    """A service with the lab's usual log and pidfile paths."""
    return Service(
        name=name,
        argv=argv,
        match=match,
        log_file=config.log / f"{name}.log",
        pidfile=config.run / f"{name}.pid",
        **fields,
    )


def build(config: LabConfig) -> list[Service]:
    """Every service of the lab's enabled families, in start order."""
    from rally_osic.lab import families

    return [
        service
        for family in families.enabled(config)
        for service in family.services(config)
    ]


def by_name(config: LabConfig) -> dict[str, Service]:
    return {service.name: service for service in build(config)}

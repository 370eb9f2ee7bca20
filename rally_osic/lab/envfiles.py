"""Files that describe a lab to Rally and os-faults. Pure rendering.

- ``rally_env_spec``: the ``existing@openstack`` spec for
  ``rally env create --spec``.
- ``os_faults_config``: standard os-faults JSON (universal cloud,
  ``node_list`` with 127.0.0.1, one ``process`` service per lab service
  with an exact ``grep`` and the lab's own start/terminate/restart
  commands).
- ``lab_services``: ``lab-services.json``, the same services for programs
  that do not speak os-faults: pidfile, argv, match, grep, port, health
  URL, start/stop commands and log file of each.
"""

from __future__ import annotations

import copy
import shlex
import sys
from pathlib import Path

from rally_osic.lab.config import HOST, REGION, LabConfig
from rally_osic.lab.families.nova import COMPUTE_HOSTS
from rally_osic.lab.services import Service

# Services that are fault targets (os-faults); epmd is plumbing.
NOT_FAULT_TARGETS = ("epmd",)


def lab_command(config: LabConfig, *args: str) -> str:
    """A shell command running ``rally-osic lab ...`` on this lab."""
    script = Path(sys.executable).with_name("rally-osic")
    if script.exists():
        prefix = [str(script)]
    else:
        prefix = [sys.executable, "-m", "rally_osic.cli"]
    argv = [
        *prefix,
        "lab",
        args[0],
        "--state-dir",
        str(config.state_dir),
        *args[1:],
    ]
    return " ".join(shlex.quote(arg) for arg in argv)


def service_commands(config: LabConfig, names: list[str]) -> dict:
    only = [item for name in names for item in ("--only", name)]
    start = lab_command(config, "up", *only)
    stop = lab_command(config, "down", *only)
    return {
        "start_cmd": start,
        "terminate_cmd": stop,
        "restart_cmd": (f"{stop} && {start}"),
    }


def rally_env_spec(config: LabConfig) -> dict:
    return {
        "existing@openstack": {
            "auth_url": config.auth_url,
            "region_name": REGION,
            "endpoint_type": "public",
            "https_insecure": False,
            "admin": {
                "username": "admin",
                "password": config.secrets["admin"],
                "project_name": "admin",
                "user_domain_name": "Default",
                "project_domain_name": "Default",
            },
        }
    }


def openrc(config: LabConfig) -> str:
    values = {
        "OS_AUTH_URL": config.auth_url,
        "OS_IDENTITY_API_VERSION": "3",
        "OS_REGION_NAME": REGION,
        "OS_USERNAME": "admin",
        "OS_PASSWORD": config.secrets["admin"],
        "OS_PROJECT_NAME": "admin",
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
    }
    return "".join(
        f"export {key}={shlex.quote(value)}\n" for key, value in values.items()
    )


def os_faults_config(
    config: LabConfig,
    services: list[Service],
    groups: dict | None = None,
    aliases: dict | None = None,
) -> dict:
    targets = [s for s in services if s.name not in NOT_FAULT_TARGETS]
    described = {}
    for service in targets:
        args = {"grep": service.grep}
        if service.port:
            args["port"] = ["tcp", service.port]
        args.update(service_commands(config, [service.name]))
        described[service.name] = {
            "driver": "process",
            "args": args,
            "hosts": [HOST],
        }
    by_name = {service.name: service for service in services}
    for group, members in (groups or {}).items():
        # One alternative per member (GNU grep's "\|" in a basic
        # regular expression): each is exact, so the group is too.
        pattern = "\\|".join(by_name[m].grep for m in members)
        described[group] = {
            "driver": "process",
            "args": {
                "grep": pattern,
                **service_commands(config, list(members)),
            },
            "hosts": [HOST],
        }
    _add_aliases(described, aliases)
    return {
        "cloud_management": {"driver": "universal"},
        "node_discover": {
            "driver": "node_list",
            "args": [
                {
                    "ip": HOST,
                    "fqdn": "localhost",
                    # os-faults 0.3.0 always connects with ssh (connection
                    # "smart"); a local run needs the fault hook to force
                    # ansible_connection=local or an sshd on 127.0.0.1.
                    "auth": {"username": _user_name()},
                }
            ],
        },
        "services": described,
    }


def os_faults_osic_config(
    config: LabConfig,
    services: list[Service],
    groups: dict | None = None,
    aliases: dict | None = None,
) -> dict:
    """The same services for rally-osic's exact ``osic_process`` driver.

    Processes are named by their exact argv (master and workers share it),
    except RabbitMQ, whose script execs the Erlang VM: by its pidfile.
    """
    standard = os_faults_config(config, services, groups)
    described = {}
    for service in services:
        if service.name in NOT_FAULT_TARGETS:
            continue
        commands = service_commands(config, [service.name])
        args = {
            "start_cmd": commands["start_cmd"],
            "stop_cmd": commands["terminate_cmd"],
            "restart_cmd": commands["restart_cmd"],
        }
        if service.match in " ".join(service.argv):
            args["cmdline"] = list(service.argv)
        else:
            args["pid_file"] = str(service.pidfile)
        if service.port:
            args["port"] = service.port
            if service.address != HOST:
                args["address"] = service.address
        if service.health.startswith("http"):
            args["health_url"] = service.health
        elif service.health.startswith("connected://"):
            args["connected_port"] = int(service.health.rsplit(":", 1)[1])
        described[service.name] = {
            "driver": "osic_process",
            "args": args,
            "hosts": [service.address],
        }
    for target, members in node_targets(services).items():
        # One service on every controller: each node is its own, exact
        # target ("restart mariadb on one node" restarts one Galera node).
        per_host = {m.address: described[m.name]["args"] for m in members}
        described[target] = {
            "driver": "osic_process",
            "args": {**described[members[0].name]["args"],
                     "per_host": per_host},
            "hosts": list(per_host),
        }  # fmt: skip
    _add_aliases(described, aliases)
    return {
        **standard,
        "node_discover": {
            "driver": "node_list",
            "args": standard["node_discover"]["args"]
            + [
                {"ip": node, "auth": {"username": _user_name()}}
                for node in config.nodes
                if node != HOST
            ],
        },
        "services": described,
        "osic": {
            # The controllers' addresses are this machine's: no SSH.
            "local_nodes": _addresses(config),
            "nova_computes": nova_computes(config),
        },
    }


def node_targets(services: list[Service]) -> dict[str, list[Service]]:
    """Fault target -> its services, one per controller."""
    found: dict[str, list[Service]] = {}
    for service in services:
        if service.target and service.name not in NOT_FAULT_TARGETS:
            found.setdefault(service.target, []).append(service)
    return found


def _addresses(config: LabConfig) -> list[str]:
    return list(dict.fromkeys([HOST, *config.nodes]))


def _add_aliases(described: dict, aliases: dict | None) -> None:
    """OpenStack-Ansible's names for lab services: the same target under a
    second name, unless that name is taken (a group keeps its own)."""
    for alias, name in (aliases or {}).items():
        if name in described and alias not in described:
            described[alias] = copy.deepcopy(described[name])


def nova_computes(config: LabConfig) -> dict:
    """Nova host -> node, own config file and service of each compute, for
    the live-migration transport toggle (rally_osic/faults/reconfigure.py):
    every lab compute runs on 127.0.0.1 (the libvirt hosts' inside their
    node's namespaces, which the lab's start command enters) with its own
    compute-N.conf."""
    computes = {
        host: {
            "node": HOST,
            "config_file": str(config.etc / "nova" / f"compute-{index}.conf"),
            "service": f"nova-compute-{index}",
        }
        for index, host in enumerate(COMPUTE_HOSTS, start=1)
    }
    if "libvirt" in config.families:
        from rally_osic.lab.families import libvirt

        for host in libvirt.HOSTS:
            name = libvirt.short(host)
            conf = config.etc / "nova" / f"compute-{name}.conf"
            computes[host] = {
                "node": HOST,
                "config_file": str(conf),
                "service": f"nova-compute-{name}",
            }
    return computes


def _user_name() -> str:
    from rally_osic.lab.services import user

    return user()


def lab_services(
    config: LabConfig, services: list[Service], groups: dict | None = None
) -> dict:
    entries = {}
    for service in services:
        commands = service_commands(config, [service.name])
        entries[service.name] = {
            "kind": service.kind,
            "family": service.family,
            "pidfile": str(service.pidfile),
            "argv": list(service.argv),
            "match": service.match,
            "grep": service.grep,
            "port": service.port,
            "address": service.address,
            "target": service.target or service.name,
            "health": service.health,
            "log_file": str(service.log_file),
            "start_cmd": commands["start_cmd"],
            "stop_cmd": commands["terminate_cmd"],
            "env": service.env,
        }
    return {
        "format": "rally-osic-lab-services/1",
        "description": (
            "Processes of a rally-osic lab. A service's PID is the number in"
            " 'pidfile' if /proc/PID/cmdline (NUL replaced by spaces)"
            " contains 'match'; its workers share the PID's process group"
            " and command line. 'grep' is 'match' as a grep basic regex."
        ),
        "state_dir": str(config.state_dir),
        "host": HOST,
        "auth_url": config.auth_url,
        "services": entries,
        "groups": {
            name: list(members) for name, members in (groups or {}).items()
        },
    }

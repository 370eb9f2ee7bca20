"""Configuration files of the lab, rendered from ``data/templates``.

``render_all`` is idempotent: it rewrites the files of every enabled
family from the settings and secrets in the state directory, and creates
missing keys and directories but never replaces existing keys or data.
"""

from __future__ import annotations

import base64
import os
import string
from pathlib import Path

from rally_osic.lab import families
from rally_osic.lab.config import BASE_PORTS, HOST, REGION, LabConfig
from rally_osic.lab.services import DATA_DIR, user

TEMPLATES = DATA_DIR / "templates"


def databases(config: LabConfig) -> list[str]:
    return [
        name
        for family in families.enabled(config)
        for name in family.databases
    ]


def service_users(config: LabConfig) -> list[str]:
    return [
        name
        for family in families.enabled(config)
        for name in family.service_users
    ]


def memcached_servers(config: LabConfig) -> str:
    """Every controller's memcached, as OpenStack-Ansible lists them."""
    return ",".join(
        f"{node}:{config.port('memcached')}" for node in config.nodes
    )


def rabbit_options(config: LabConfig) -> str:
    """[oslo_messaging_rabbit]: quorum queues on a RabbitMQ cluster
    (replicated; classic mirrored queues are deprecated since RabbitMQ
    3.9 and gone in 4.0), as OpenStack-Ansible's default."""
    return "rabbit_quorum_queue = true" if config.clustered else ""


def authtoken(config: LabConfig, user_name: str) -> str:
    return "\n".join(
        [
            f"www_authenticate_uri = {config.url('keystone')}",
            f"auth_url = {config.url('keystone')}",
            f"memcached_servers = {memcached_servers(config)}",
            "auth_type = password",
            "project_domain_name = Default",
            "user_domain_name = Default",
            "project_name = service",
            f"username = {user_name}",
            f"password = {config.secrets['service']}",
            f"region_name = {REGION}",
        ]
    )


def service_auth(config: LabConfig, user_name: str) -> str:
    return "\n".join(
        [
            "auth_type = password",
            f"auth_url = {config.auth_url}",
            "project_domain_name = Default",
            "user_domain_name = Default",
            "project_name = service",
            f"username = {user_name}",
            f"password = {config.secrets['service']}",
            f"region_name = {REGION}",
            "valid_interfaces = public",
        ]
    )


def substitutions(config: LabConfig) -> dict[str, str]:
    values = {
        "host": HOST,
        "region": REGION,
        "user": user(),
        "etc": str(config.etc),
        "run": str(config.run),
        "log": str(config.log),
        "data": str(config.data),
        "neutron_venv": str(config.neutron_venv),
        "transport_url": config.transport_url,
        "rabbit_password": config.secrets["rabbit"],
        "metadata_secret": config.secrets["metadata"],
        "memcached_servers": memcached_servers(config),
        "rabbit_options": rabbit_options(config),
    }
    for name in ("mariadb", "memcached", "rabbitmq"):
        values[f"{name}_port"] = str(config.port(name))
    for name in BASE_PORTS:
        values[f"port_{name.replace('-', '_')}"] = str(config.port(name))
    for database in databases(config):
        values[f"db_{database}"] = config.db_url(database)
    for name in service_users(config):
        values[f"authtoken_{name}"] = authtoken(config, name)
        values[f"service_auth_{name}"] = service_auth(config, name)
    for family in families.enabled(config):
        values.update(family.substitutions(config))
    return values


def render_template(name: str, values: dict[str, str]) -> str:
    return string.Template((TEMPLATES / name).read_text()).substitute(values)


def write(
    config: LabConfig, template: str, destination: str, values: dict
) -> Path:
    path = config.etc / destination
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_template(template, values))
    return path


def fernet_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def render_all(config: LabConfig) -> None:
    for directory in (config.run, config.log, config.data):
        directory.mkdir(parents=True, exist_ok=True)
    values = substitutions(config)
    for family in families.enabled(config):
        family.render(config, values)


def compute_node_uuid(host: str) -> str:
    from rally_osic.lab.families import nova

    return nova.compute_node_uuid(host)

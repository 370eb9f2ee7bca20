"""Configuration files of the lab, rendered from ``data/templates``.

``render_all`` is idempotent: it rewrites the files from the settings and
secrets in the state directory, and creates missing keys and directories
but never replaces existing keys or data.
"""

from __future__ import annotations

import base64
import os
import shutil
import string
import uuid
from pathlib import Path

from rally_osic.lab.config import HOST, REGION, LabConfig
from rally_osic.lab.services import COMPUTE_HOSTS, DATA_DIR, _user

TEMPLATES = DATA_DIR / "templates"
SERVICE_USERS = ("glance", "placement", "nova", "neutron")
DATABASES = (
    "keystone",
    "glance",
    "placement",
    "nova_api",
    "nova_cell0",
    "nova_cell1",
    "neutron",
)


def authtoken(config: LabConfig, user: str) -> str:
    return "\n".join(
        [
            f"www_authenticate_uri = {config.url('keystone')}",
            f"auth_url = {config.url('keystone')}",
            f"memcached_servers = {HOST}:{config.port('memcached')}",
            "auth_type = password",
            "project_domain_name = Default",
            "user_domain_name = Default",
            "project_name = service",
            f"username = {user}",
            f"password = {config.secrets['service']}",
            f"region_name = {REGION}",
        ]
    )


def service_auth(config: LabConfig, user: str) -> str:
    return "\n".join(
        [
            "auth_type = password",
            f"auth_url = {config.auth_url}",
            "project_domain_name = Default",
            "user_domain_name = Default",
            "project_name = service",
            f"username = {user}",
            f"password = {config.secrets['service']}",
            f"region_name = {REGION}",
            "valid_interfaces = public",
        ]
    )


def substitutions(config: LabConfig) -> dict[str, str]:
    values = {
        "host": HOST,
        "region": REGION,
        "user": _user(),
        "etc": str(config.etc),
        "run": str(config.run),
        "log": str(config.log),
        "data": str(config.data),
        "neutron_venv": str(config.neutron_venv),
        "transport_url": config.transport_url,
        "rabbit_password": config.secrets["rabbit"],
    }
    for name in ("mariadb", "memcached", "rabbitmq"):
        values[f"{name}_port"] = str(config.port(name))
    for database in DATABASES:
        values[f"db_{database}"] = config.db_url(database)
    for user in SERVICE_USERS:
        values[f"authtoken_{user}"] = authtoken(config, user)
        values[f"service_auth_{user}"] = service_auth(config, user)
    return values


def render_template(name: str, values: dict[str, str]) -> str:
    return string.Template((TEMPLATES / name).read_text()).substitute(values)


# (template, destination relative to etc/)
FILES = (
    ("my.cnf", "mariadb/my.cnf"),
    ("rabbitmq.conf", "rabbitmq/rabbitmq.conf"),
    ("keystone.conf", "keystone/keystone.conf"),
    ("glance-api.conf", "glance/glance-api.conf"),
    ("placement.conf", "placement/placement.conf"),
    ("nova.conf", "nova/nova.conf"),
    ("neutron.conf", "neutron/neutron.conf"),
    ("ml2_conf.ini", "neutron/ml2_conf.ini"),
)


def compute_node_uuid(host: str) -> str:
    """The node UUID that fake.PredictableNodeUUIDDriver reports."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, host))


def fernet_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _write_keys(repository: Path) -> None:
    # What keystone-manage fernet_setup/credential_setup create, without
    # two more keystone-manage runs: key 0 staged, key 1 primary.
    repository.mkdir(parents=True, exist_ok=True, mode=0o700)
    for index in ("0", "1"):
        key = repository / index
        if not key.exists():
            key.touch(mode=0o600)
            key.write_text(fernet_key())


def render_all(config: LabConfig) -> None:
    values = substitutions(config)
    for directory in (config.run, config.log, config.log / "rabbitmq"):
        directory.mkdir(parents=True, exist_ok=True)
    for template, destination in FILES:
        path = config.etc / destination
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_template(template, values))
    rabbit_etc = config.etc / "rabbitmq"
    (rabbit_etc / "enabled_plugins").write_text("[].\n")
    (rabbit_etc / "env.conf").write_text("")
    for index, host in enumerate(COMPUTE_HOSTS, start=1):
        path = config.etc / "nova" / f"compute-{index}.conf"
        path.write_text(
            render_template(
                "nova-compute.conf", {**values, "compute_host": host}
            )
        )
        state_path = config.data / "nova" / host
        (state_path / "instances").mkdir(parents=True, exist_ok=True)
        # Written before the first start: nova-compute refuses to start
        # when the node it finds does not match this file.
        compute_id = state_path / "compute_id"
        if not compute_id.exists():
            compute_id.write_text(compute_node_uuid(host))
    for sub in ("nova/lock", "neutron/lock", "rabbitmq", "glance/images"):
        (config.data / sub).mkdir(parents=True, exist_ok=True)
    _write_keys(config.etc / "keystone" / "fernet-keys")
    _write_keys(config.etc / "keystone" / "credential-keys")
    paste_files = (
        (config.services_venv / "etc/nova/api-paste.ini", "nova"),
        (config.services_venv / "etc/glance/glance-api-paste.ini", "glance"),
    )
    for source, service in paste_files:
        if source.exists():
            shutil.copyfile(source, config.etc / service / source.name)

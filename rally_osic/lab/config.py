"""Lab settings: state directory, ports, venvs and secrets. Pure + JSON I/O.

The settings are chosen at the first ``lab up`` and stored in
``<state>/lab.json``; later commands (and the commands os-faults runs)
only need the state directory.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets as _secrets
import sys
from pathlib import Path

HOST = "127.0.0.1"
REGION = "RegionOne"
_CHECKOUT = Path(__file__).resolve().parents[2]
STATE_DIR_ENV = "RALLY_OSIC_LAB_DIR"

# Standard ports; ``port_offset`` is added to every one of them so that a
# second lab (for example the functional tests) can run next to the first.
BASE_PORTS = {
    "mariadb": 3306,
    "memcached": 11211,
    "epmd": 4369,
    "rabbitmq": 5672,
    "rabbitmq-dist": 25672,
    # --controllers N > 1: Galera's group communication, incremental and
    # full state transfer, and the HTTP cluster check HAProxy asks (on
    # each controller's own address; OpenStack-Ansible's 9200).
    "galera": 4567,
    "galera-ist": 4568,
    "galera-sst": 4444,
    "galera-check": 9200,
    "haproxy-stats": 1936,
    "keystone": 5000,
    "glance": 9292,
    "placement": 8778,
    "nova-api": 8774,
    "neutron": 9696,
    # nova-extra
    "nova-metadata": 8775,
    "novncproxy": 6080,
    "spicehtml5proxy": 6082,
    "serialproxy": 6083,
    # cinder (and its ceph)
    "cinder": 8776,
    "ceph-mon": 6789,
    # OSD and mgr bind ports from this range on (ms_bind_port_min/max).
    "ceph-daemons": 6800,
    # swift
    "swift-proxy": 8080,
    "swift-object": 6200,
    "swift-container": 6201,
    "swift-account": 6202,
}
CEPH_DAEMON_PORTS = 16
# The controllers of ``lab up --controllers N`` (N > 1), one loopback
# address each: 127.0.1.1, 127.0.1.2, ... (all of 127/8 is this machine).
CONTROLLER_NET = "127.0.1"
MAX_CONTROLLERS = 9

SECRET_NAMES = (
    "db",
    "rabbit",
    "admin",
    "service",
    "metadata",
    "swift_hash",
)


def default_state_dir() -> Path:
    """$RALLY_OSIC_LAB_DIR, else .lab in the source checkout (editable
    install), else ~/.rally-osic/lab."""
    if os.environ.get(STATE_DIR_ENV):
        return Path(os.environ[STATE_DIR_ENV])
    if (_CHECKOUT / "setup.cfg").exists():
        return _CHECKOUT / ".lab"
    return Path.home() / ".rally-osic" / "lab"


@dataclasses.dataclass(frozen=True)
class LabConfig:
    state_dir: Path
    port_offset: int = 0
    venv_dir: Path | None = None  # default: <state_dir>/venvs
    python: str = sys.executable  # interpreter that builds the venvs
    secrets: dict = dataclasses.field(default_factory=dict)
    # Optional service families enabled in this lab (lab up --services).
    families: tuple[str, ...] = ()
    # Controller nodes: 1 runs everything on HOST; more run a Galera
    # node, a RabbitMQ node, a memcached and each API and nova worker on
    # each controller's address, with HAProxy on HOST in front.
    controllers: int = 1

    @property
    def clustered(self) -> bool:
        return self.controllers > 1

    @property
    def nodes(self) -> tuple[str, ...]:
        """The controllers' addresses."""
        if not self.clustered:
            return (HOST,)
        return tuple(
            f"{CONTROLLER_NET}.{index}"
            for index in range(1, self.controllers + 1)
        )

    @property
    def venvs(self) -> Path:
        return self.venv_dir or self.state_dir / "venvs"

    def venv(self, name: str) -> Path:
        return self.venvs / name

    @property
    def services_venv(self) -> Path:
        return self.venv("services")

    @property
    def neutron_venv(self) -> Path:
        return self.venv("neutron")

    @property
    def etc(self) -> Path:
        return self.state_dir / "etc"

    @property
    def run(self) -> Path:
        return self.state_dir / "run"

    @property
    def log(self) -> Path:
        return self.state_dir / "log"

    @property
    def data(self) -> Path:
        return self.state_dir / "data"

    def port(self, name: str) -> int:
        return BASE_PORTS[name] + self.port_offset

    def url(self, name: str, path: str = "") -> str:
        return f"http://{HOST}:{self.port(name)}{path}"

    @property
    def amqp_health(self) -> str:
        """The health check of an RPC service: linked to RabbitMQ."""
        return f"connected://{HOST}:{self.port('rabbitmq')}"

    @property
    def auth_url(self) -> str:
        return self.url("keystone", "/v3")

    @property
    def rabbit_node(self) -> str:
        return self.rabbit_node_of(1)

    def rabbit_node_of(self, index: int) -> str:
        """The Erlang node name of controller ``index`` (from 1)."""
        suffix = f"-{index}" if self.clustered else ""
        return f"lab{self.port('rabbitmq')}{suffix}@localhost"

    def db_url(self, database: str) -> str:
        return (
            f"mysql+pymysql://lab:{self.secrets['db']}@{HOST}:"
            f"{self.port('mariadb')}/{database}?charset=utf8"
        )

    @property
    def transport_url(self) -> str:
        """Every RabbitMQ node, as OpenStack-Ansible lists them."""
        hosts = ",".join(
            f"lab:{self.secrets['rabbit']}@{node}:{self.port('rabbitmq')}"
            for node in self.nodes
        )
        return f"rabbit://{hosts}/"

    def to_json(self) -> dict:
        return {
            "port_offset": self.port_offset,
            "venv_dir": str(self.venv_dir) if self.venv_dir else None,
            "python": self.python,
            "families": list(self.families),
            "controllers": self.controllers,
        }


def new_secrets() -> dict:
    return {name: _secrets.token_hex(12) for name in SECRET_NAMES}


def _with_new_names(secrets_file: Path) -> dict:
    """The stored secrets, plus any this release added (kept once made)."""
    stored = json.loads(secrets_file.read_text())
    missing = [name for name in SECRET_NAMES if name not in stored]
    if missing:
        stored.update({name: _secrets.token_hex(12) for name in missing})
        write_atomic(secrets_file, json.dumps(stored, indent=2) + "\n")
    return stored


def write_atomic(path: Path, text: str, mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.touch(mode=mode)
    tmp.chmod(mode)
    tmp.write_text(text)
    tmp.replace(path)


def save_families(config: LabConfig, families: tuple[str, ...]) -> LabConfig:
    """Record the optional families of an existing lab (lab.json)."""
    config = dataclasses.replace(config, families=tuple(families))
    write_atomic(
        config.state_dir / "lab.json",
        json.dumps(config.to_json(), indent=2) + "\n",
        mode=0o644,
    )
    return config


def load(
    state_dir: Path,
    port_offset: int | None = None,
    venv_dir: Path | None = None,
    create: bool = False,
    controllers: int | None = None,
) -> LabConfig:
    """Read ``lab.json`` and ``secrets.json``; create them if ``create``.

    Options given for an existing lab must match what it was created with:
    its configuration files and databases already use those ports.
    """
    state_dir = Path(state_dir).resolve()
    settings_file = state_dir / "lab.json"
    secrets_file = state_dir / "secrets.json"
    if settings_file.exists():
        stored = json.loads(settings_file.read_text())
        if port_offset is not None and port_offset != stored["port_offset"]:
            raise ValueError(
                f"{state_dir} was created with --port-offset "
                f"{stored['port_offset']}, not {port_offset}"
            )
        if venv_dir is not None and str(Path(venv_dir).resolve()) != (
            stored["venv_dir"] or str(state_dir / "venvs")
        ):
            raise ValueError(
                f"{state_dir} was created with venvs in "
                f"{stored['venv_dir'] or state_dir / 'venvs'}"
            )
        stored_controllers = stored.get("controllers") or 1
        if controllers is not None and controllers != stored_controllers:
            raise ValueError(
                f"{state_dir} was created with --controllers "
                f"{stored_controllers}, not {controllers}"
            )
        return LabConfig(
            state_dir=state_dir,
            controllers=stored_controllers,
            port_offset=stored["port_offset"],
            venv_dir=Path(stored["venv_dir"]) if stored["venv_dir"] else None,
            python=stored.get("python") or sys.executable,
            secrets=_with_new_names(secrets_file),
            families=tuple(stored.get("families") or ()),
        )
    if not create:
        raise FileNotFoundError(
            f"no lab in {state_dir} (run 'rally-osic lab up' first)"
        )
    controllers = controllers or 1
    if not 1 <= controllers <= MAX_CONTROLLERS:
        raise ValueError(
            f"--controllers must be 1 to {MAX_CONTROLLERS}, not {controllers}"
        )
    config = LabConfig(
        state_dir=state_dir,
        controllers=controllers,
        port_offset=port_offset or 0,
        venv_dir=Path(venv_dir).resolve() if venv_dir else None,
        secrets=new_secrets(),
    )
    state_dir.mkdir(parents=True, exist_ok=True)
    secrets_file.touch(mode=0o600)
    secrets_file.write_text(json.dumps(config.secrets, indent=2) + "\n")
    settings_file.write_text(json.dumps(config.to_json(), indent=2) + "\n")
    return config

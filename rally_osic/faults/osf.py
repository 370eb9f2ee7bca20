"""os-faults glue: config discovery, the ``osic_process`` service driver and
an Ansible executor that works on a local node.

Everything that imports os_faults or ansible does so inside functions.

Config lookup (first hit wins):

1. the hook's ``config_file`` (a path) or ``config`` (an inline dict);
2. the Rally env's extras: ``os_faults_config`` (dict or path) or
   ``cloud_config`` (dict, as rally-openstack's ``fault_injection`` reads);
3. like os-faults / rally-openstack: ``$OS_FAULTS_CONFIG``, then
   ``os-faults.{json,yaml,yml}`` in the CWD, ``~/.config/openstack``,
   ``/etc/openstack``.

This package adds an optional top-level ``osic`` section to the os-faults
config (os-faults ignores unknown top-level keys)::

    osic:
      local_nodes: [node1.example]   # run on this machine, not over SSH
      ssh_port: 2222                 # or {node ip or fqdn: port, ...}

(os-faults' ``node_list`` auth schema has no SSH port.) A node whose
``ip`` is ``127.0.0.1``, ``::1`` or ``localhost`` is always local; any
other address, ``127.0.0.2`` included, is reached over SSH.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading

from rally_osic.faults import targets as tg
from rally_osic.faults import transport as tr

CALLBACK_DIR = os.path.join(os.path.dirname(__file__), "ansible_callbacks")


class FaultConfigError(Exception):
    """The os-faults config is missing or malformed (one line)."""


def default_config_files() -> list[str]:
    dirs = [
        os.getcwd(),
        os.path.join(os.path.expanduser("~"), ".config", "openstack"),
        "/etc/openstack",
    ]
    return [
        os.path.join(d, "os-faults" + ext)
        for d in dirs
        for ext in (".json", ".yaml", ".yml")
    ]


def load_config_file(path: str) -> dict:
    import yaml

    try:
        with open(path) as fd:
            data = yaml.safe_load(fd)
    except OSError as exc:
        raise FaultConfigError(
            f"cannot read os-faults config {path}: {exc.strerror}"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise FaultConfigError(
            f"os-faults config {path}{where} is not valid YAML/JSON"
        ) from None
    if not isinstance(data, dict):
        raise FaultConfigError(
            f"os-faults config {path} must be a mapping, not "
            f"{type(data).__name__}"
        )
    return data


def find_config(
    hook_config: dict | None = None, env_extras: dict | None = None
) -> tuple[dict, str]:
    """(config dict, where it came from)."""
    hook_config = hook_config or {}
    if hook_config.get("config") is not None:
        return dict(hook_config["config"]), "hook config"
    if hook_config.get("config_file"):
        path = hook_config["config_file"]
        return load_config_file(path), path
    extras = env_extras or {}
    for key in ("os_faults_config", "cloud_config"):
        value = extras.get(key)
        if isinstance(value, dict):
            return dict(value), f"env extras {key}"
        if isinstance(value, str) and value:
            return load_config_file(value), value
    if os.environ.get("OS_FAULTS_CONFIG"):
        path = os.environ["OS_FAULTS_CONFIG"]
        return load_config_file(path), path
    for path in default_config_files():
        if os.path.exists(path):
            return load_config_file(path), path
    raise FaultConfigError(
        "no os-faults config: set the hook's config_file, the env extra "
        "os_faults_config, $OS_FAULTS_CONFIG, or create os-faults.yaml"
    )


# --------------------------------------------------------------- drivers


def _make_driver_class():
    from os_faults.api import error, service

    class OsicProcessService(service.Service):
        """A process matched exactly (PID file, command line, unit, LXC).

        Actions run through rally-osic's transports (local or SSH), not
        Ansible, and never touch a process that merely looks similar.
        """

        NAME = "osic_process"
        DESCRIPTION = "Exactly matched process (rally-osic)"
        CONFIG_SCHEMA = tg.TARGET_SCHEMA

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.target = tg.ServiceTarget.from_args(
                self.service_name, self.config
            )

        def transport_for(self, host):
            return transport_for_host(self.cloud_management, host)

        def discover_nodes(self):
            nodes = self.cloud_management.get_nodes()
            found = []
            for host in nodes.hosts:
                try:
                    obs = tg.probe(
                        self.transport_for(host),
                        "snapshot",
                        self.target.on(host.ip, host.fqdn).spec(),
                    )
                except (tr.TransportError, tg.TargetError):
                    continue
                if obs["pids"]:
                    found.append(host)
            return self.node_cls(
                cloud_management=self.cloud_management, hosts=found
            )

        def _each(self, nodes, action):
            nodes = nodes if nodes is not None else self.get_nodes()
            if len(nodes) == 0:
                raise error.ServiceError(
                    f"Service {self.service_name} is not found on any nodes"
                )
            for host in nodes.hosts:
                tg.perform(
                    self.transport_for(host),
                    self.target.on(host.ip, host.fqdn),
                    action,
                )

        def restart(self, nodes=None):
            self._each(nodes, "restart")

        def terminate(self, nodes=None):
            self._each(nodes, "terminate")

        def start(self, nodes=None):
            self._each(nodes, "start")

        def kill(self, nodes=None):
            self._each(nodes, "kill")

        def freeze(self, nodes=None, sec=None):
            self._each(nodes, "freeze")
            if sec:
                import time

                time.sleep(sec)
                self._each(nodes, "unfreeze")

        def unfreeze(self, nodes=None):
            self._each(nodes, "unfreeze")

        def unplug(self, nodes=None, direction=None, other_port=None):
            self._each(nodes, "unplug")

        def plug(self, nodes=None, direction=None, other_port=None):
            self._each(nodes, "plug")

    return OsicProcessService


_DRIVER = None
_REGISTRY_LOCK = threading.Lock()


def register_drivers():
    """Add ``osic_process`` to the os-faults driver registry (idempotent).

    os-faults fills its registry lazily from a global without a lock;
    several hooks starting at the same iteration race on it ("Driver ...
    already defined"), so it is filled here, once, under a lock.
    """
    global _DRIVER
    from os_faults import registry

    with _REGISTRY_LOCK:
        if _DRIVER is None:
            _DRIVER = _make_driver_class()
        if not registry.DRIVERS or _DRIVER.NAME not in registry.DRIVERS:
            drivers = {}
            for klass in registry._list_drivers():
                drivers.setdefault(klass.get_driver_name(), klass)
            drivers[_DRIVER.NAME] = _DRIVER
            registry.DRIVERS = drivers
    return _DRIVER


def transport_for_host(cloud, host) -> tr.Transport:
    cache = cloud.__dict__.setdefault("_osic_transports", {})
    if host.ip not in cache:
        local = host.ip in getattr(cloud, "osic_local_nodes", ()) or (
            host.fqdn in getattr(cloud, "osic_local_nodes", ())
        )
        auth = dict(host.auth or {})
        port = ssh_port(getattr(cloud, "osic_ssh_port", None), host)
        if port:
            auth["port"] = port
        cache[host.ip] = tr.for_node(host.ip, auth, local=local)
    return cache[host.ip]


def ssh_port(setting, host) -> int | None:
    """The SSH port of a node from ``osic.ssh_port`` (int or mapping)."""
    if isinstance(setting, dict):
        setting = setting.get(host.ip, setting.get(host.fqdn))
    if setting is None:
        return None
    try:
        port = int(setting)
    except (TypeError, ValueError):
        raise FaultConfigError(
            f"osic.ssh_port of {host.ip}: not a port number: {setting!r}"
        ) from None
    if not 0 < port < 65536:
        raise FaultConfigError(f"osic.ssh_port of {host.ip}: {port}")
    return port


def close_transports(cloud) -> None:
    for t in cloud.__dict__.get("_osic_transports", {}).values():
        t.close()


# -------------------------------------------------------------- executor


def make_runner(local_nodes=()):
    """An os-faults AnsibleRunner that can act on this machine.

    os-faults 0.3.0 forces ``ansible_connection: smart`` (SSH) and runs
    ansible-playbook with an empty environment. This subclass uses the
    ``local`` connection for loopback / ``osic.local_nodes`` hosts, gives
    ansible-playbook a minimal environment (PATH, a private HOME and temp
    dirs, our ``json`` stdout callback) and removes its temp files.
    """
    from os_faults.ansible import executor

    class OsicAnsibleRunner(executor.AnsibleRunner):
        def __init__(self, local=(), **kwargs):
            super().__init__(**kwargs)
            self.local = set(local)

        def _run_play(self, play_source, host_vars):
            import yaml
            from oslo_concurrency import processutils

            inventory = {}
            for host, variables in host_vars.items():
                hv = {k: v for k, v in self.default_host_vars.items() if v}
                hv.update({k: v for k, v in variables.items() if v})
                if host in self.local or tr.is_local_address(host):
                    hv["ansible_connection"] = "local"
                    hv["ansible_python_interpreter"] = sys.executable
                else:
                    hv["ansible_connection"] = self.options.connection
                inventory[host] = hv
            temp_dir = tempfile.mkdtemp(prefix="osic-ansible-")
            try:
                inv = os.path.join(temp_dir, "inventory")
                book = os.path.join(temp_dir, "playbook")
                with open(inv, "w") as fd:
                    yaml.safe_dump({"all": {"hosts": inventory}}, fd)
                play = {
                    "hosts": "all",
                    "gather_facts": "no",
                    "tasks": play_source["tasks"],
                }
                with open(book, "w") as fd:
                    yaml.safe_dump([play], fd)
                env = ansible_environment(temp_dir)
                stdout, _ = processutils.execute(
                    self.ansible,
                    "--module-path",
                    ":".join(self.options.module_path),
                    "-i",
                    inv,
                    book,
                    env_variables=env,
                    check_exit_code=False,
                )
            finally:
                shutil.rmtree(temp_dir, ignore_errors=True)
            start = stdout.find("{")
            if start < 0:
                raise executor.AnsibleExecutionException(
                    "ansible-playbook printed no JSON result"
                )
            data = json.loads(stdout[start:])
            recs = []
            for h, hv in data["plays"][0]["tasks"][0]["hosts"].items():
                if hv.get("unreachable"):
                    status = executor.STATUS_UNREACHABLE
                elif hv.get("failed"):
                    status = executor.STATUS_FAILED
                else:
                    status = executor.STATUS_OK
                recs.append(
                    executor.AnsibleExecutionRecord(
                        host=h, status=status, task="", payload=hv
                    )
                )
            return recs

    return OsicAnsibleRunner(local=local_nodes)


def ansible_environment(temp_dir: str) -> dict:
    """The environment given to ansible-playbook (nothing inherited but
    PATH, so a stray ANSIBLE_* variable cannot change the behaviour)."""
    bindir = os.path.dirname(sys.executable)
    return {
        "PATH": bindir + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": temp_dir,
        "ANSIBLE_STDOUT_CALLBACK": "json",
        "ANSIBLE_CALLBACK_PLUGINS": CALLBACK_DIR,
        "ANSIBLE_LOCAL_TEMP": os.path.join(temp_dir, "tmp"),
        "ANSIBLE_REMOTE_TEMP": "/tmp/.osic-ansible",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
        "LANG": "C.UTF-8",
    }


def _ensure_ansible_on_path() -> None:
    """os-faults looks ansible-playbook up in $PATH; a venv's bin dir is
    not on PATH when its python is run directly."""
    bindir = os.path.dirname(sys.executable)
    if not shutil.which("ansible-playbook") and os.path.exists(
        os.path.join(bindir, "ansible-playbook")
    ):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def connect(config: dict):
    """os_faults.connect() with our driver and executor; one-line errors."""
    import jsonschema
    import os_faults
    from os_faults.api import error as osf_error

    register_drivers()
    _ensure_ansible_on_path()
    local = tuple((config.get("osic") or {}).get("local_nodes") or ())
    try:
        cloud = os_faults.connect(config)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        raise FaultConfigError(
            "invalid os-faults config"
            + (f" at {where}" if where else "")
            + f": {exc.message}"
        ) from None
    except osf_error.OSFError as exc:
        raise FaultConfigError(f"os-faults: {exc}") from None
    except Exception as exc:
        if type(exc).__name__ != "AnsibleExecutionException":
            raise
        raise FaultConfigError(
            f"os-faults: {exc} (pip install -r tools/requirements-ansible.txt)"
        ) from None
    except tg.TargetError as exc:
        raise FaultConfigError(str(exc)) from None
    except (KeyError, TypeError) as exc:
        raise FaultConfigError(f"malformed os-faults config: {exc}") from None
    cloud.osic_local_nodes = local
    cloud.osic_ssh_port = (config.get("osic") or {}).get("ssh_port")
    if hasattr(cloud, "cloud_executor"):
        try:
            cloud.cloud_executor = make_runner(local)
        except Exception:  # ansible-playbook missing: only needed later
            pass
    return cloud

"""``lab up|down|status|env``: orchestration of setup and services."""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

from rally_osic.lab import (
    catalog,
    envfiles,
    families,
    procs,
    render,
    services,
    steps,
)
from rally_osic.lab import config as lab_config
from rally_osic.lab.config import LabConfig
from rally_osic.lab.families import infra, infra_ha
from rally_osic.lab.services import Service


class LabError(Exception):
    """A one-line, user-facing failure."""


def _say(message: str) -> None:
    # One write: lines of parallel stops must not interleave.
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def _start_and_wait(service: Service, timeout: float | None = None) -> None:
    """Start ``service`` unless it runs; wait until it is healthy."""
    pid = procs.running_pid(service)
    started = False
    if pid is None:
        try:
            pid = procs.start(service)
        except procs.NotRunnable as exc:
            raise LabError(str(exc)) from exc
        started = True
    deadline = time.monotonic() + (timeout or service.start_timeout)
    reason = procs.wait_healthy(service, pid, deadline)
    if reason:
        last = procs.tail(service.log_file, 1).strip()[:160]
        raise LabError(
            f"{service.name} failed to start ({reason}"
            + (f"; last log line: {last}" if last else "")
            + f"); see {service.log_file}"
        )
    if started:
        _say(f"started {service.name} (pid {pid})")


def _run_parallel(jobs: list) -> None:
    """Run callables in threads; re-raise the first failure."""
    if not jobs:
        return
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        futures = [pool.submit(job) for job in jobs]
        for future in futures:
            exc = future.exception()
            if exc:
                raise exc


def listening_ports() -> set[tuple[str, int]]:
    """(address, port) of every listening TCP socket in this network
    namespace; "*" for a socket on every address.

    A listener is a clash; a connection in TIME-WAIT from the lab's own
    last run is not (a test bind fails on those).
    """
    found = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/net/{table}").read_text().splitlines()
        except OSError:
            continue
        for line in lines[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A":
                hex_address, hex_port = fields[1].rsplit(":", 1)
                found.add((_address(hex_address), int(hex_port, 16)))
    return found


def _address(hex_address: str) -> str:
    if not hex_address.strip("0"):
        return "*"
    if len(hex_address) != 8:
        return hex_address  # IPv6: never one of the lab's addresses
    return socket.inet_ntoa(struct.pack("=I", int(hex_address, 16)))


RESERVED_PORTS = Path("/proc/sys/net/ipv4/ip_local_reserved_ports")


def reserve_ports(ports: set[int], reserved: Path = RESERVED_PORTS) -> None:
    """Keep the kernel from handing the lab's ports out as the local port
    of outgoing connections.

    With a port offset, some of the lab's ports (RabbitMQ's distribution
    port above all) fall in the ephemeral range, where any client
    connection of the machine may hold one at the moment the service
    binds it: an occasional "address in use" at start. The reservation
    only narrows the ephemeral range; ports already reserved stay so.
    Without the right to write it (not root), nothing changes.
    """
    try:
        current = reserved.read_text().strip()
    except OSError:
        return
    have = set()
    for part in filter(None, current.split(",")):
        low, _, high = part.partition("-")
        have.update(range(int(low), int(high or low) + 1))
    missing = sorted(set(ports) - have)
    if not missing:
        return
    text = ",".join(filter(None, [current, *map(str, missing)]))
    try:
        reserved.write_text(text + "\n")
    except OSError:
        pass


def check_ports(wanted: list[Service]) -> None:
    """Fail early if a port of a stopped service is taken by a stranger."""
    reserve_ports(
        {
            port
            for service in wanted
            for port in (service.port, *service.extra_ports)
            if port
        }
    )
    taken = listening_ports()
    for service in wanted:
        if procs.running_pid(service) is not None:
            continue
        for port in filter(None, (service.port, *service.extra_ports)):
            if {(service.address, port), ("*", port)} & taken:
                raise LabError(
                    f"port {port} of {service.name} is in use by another "
                    f"process; stop it or create the lab with another "
                    f"--port-offset"
                )


class Run:
    """What a family's setup and ready steps get: the lab being started."""

    def __init__(self, config: LabConfig) -> None:
        self.config = config
        self.families = families.enabled(config)
        self.table = services.by_name(config)
        self._set_up = {f.name: threading.Event() for f in self.families}
        self._failed: set[str] = set()

    def setup(self, family) -> None:
        try:
            family.setup(self)
        except BaseException:
            self._failed.add(family.name)
            raise
        finally:
            self._set_up[family.name].set()

    def after(self, *names: str, timeout: float = 600) -> None:
        """Wait until these families' setup has finished (in parallel
        with this one's)."""
        for name in names:
            if not self._set_up[name].wait(timeout) or name in self._failed:
                raise steps.SetupError(f"the set-up of {name} did not finish")

    def start(self, name: str, timeout: float | None = None) -> None:
        _start_and_wait(self.table[name], timeout)

    def start_all(self, names: list[str]) -> None:
        """Start these services together; wait until all are healthy."""
        _run_parallel([lambda n=n: self.start(n) for n in names])

    def start_service(self, service: Service) -> None:
        """Start a variant of a service (another command line that its
        ``match`` still recognises); wait until it is healthy."""
        _start_and_wait(service)

    def started_at(self, name: str) -> int | None:
        return procs.running_pid(self.table[name])


def _enable(config: LabConfig, wanted: list[str] | None) -> LabConfig:
    if not wanted:
        return config
    try:
        names = families.resolve(wanted)
    except ValueError as exc:
        raise LabError(str(exc)) from exc
    merged = families.resolve([*config.families, *names])
    if merged == config.families:
        return config
    added = set(merged) - set(config.families)
    config = lab_config.save_families(config, merged)
    table = services.by_name(config)
    stale = [
        name
        for family in families.all_families()
        if family.name in added
        for name in family.reconfigures
    ]
    # A new API on every controller gets a frontend in haproxy.cfg.
    if config.clustered and any(
        family in added for family, _, _ in infra_ha.BALANCED_APIS.values()
    ):
        stale.append("haproxy")
    for name in stale:
        if procs.stop(table[name]):
            _say(f"stopped {name} (its configuration changes)")
    return config


def up(
    state_dir: Path,
    port_offset: int | None = None,
    venv_dir: Path | None = None,
    only: list[str] | None = None,
    with_services: list[str] | None = None,
    without: list[str] | None = None,
    controllers: int | None = None,
) -> LabConfig:
    started = time.monotonic()
    try:
        config = lab_config.load(
            state_dir,
            port_offset,
            venv_dir,
            create=not only,
            controllers=controllers,
        )
    except (ValueError, FileNotFoundError) as exc:
        raise LabError(str(exc)) from exc
    table = services.by_name(config)
    if only:
        unknown = [name for name in only if name not in table]
        if unknown:
            raise LabError(f"unknown service(s): {', '.join(unknown)}")
        if not steps.is_done(config, "resources"):
            raise LabError("the lab is not set up; run 'lab up' first")
        check_ports([table[name] for name in only])
        for name in only:
            _start_and_wait(table[name])
        return config
    config = _disable(config, without or [])
    _check_clustered(config, with_services)
    config = _enable(config, with_services)
    from keystoneauth1 import exceptions as ks_exceptions

    try:
        _full_up(Run(config))
        _retire_in_cloud(config)
    except steps.SetupError as exc:
        raise LabError(str(exc)) from exc
    except ks_exceptions.ClientException as exc:
        raise LabError(
            f"OpenStack API call failed ({exc}); see the logs in {config.log}"
        ) from exc
    _say(f"lab is up in {time.monotonic() - started:.0f} s ({state_dir})")
    return config


def _full_up(run: Run) -> None:
    config, table = run.config, run.table
    started = time.monotonic()

    def phase(text: str) -> None:
        steps.note(config, f"{time.monotonic() - started:6.1f} s {text}")

    check_ports(list(table.values()))
    packages = tuple(
        dict.fromkeys(p for f in run.families for p in f.packages(config))
    )
    steps.ensure_debian_packages(config, packages)
    phase("Debian packages present")
    for family in run.families:
        family.preflight(config)
    venvs = list(dict.fromkeys(v for f in run.families for v in f.venvs))
    steps.ensure_venvs(config, venvs)
    phase("venvs ready")
    render.render_all(config)
    infra.FAMILY.start_base(run, _say)
    wanted = render.databases(config)
    missing = [db for db in wanted if not steps.is_done(config, f"db-{db}")]
    if missing:  # CREATE ... IF NOT EXISTS: cheap, and safe to repeat
        infra.create_databases(config, missing)
    for database in missing:
        steps.mark_done(config, f"db-{database}")
    phase("MariaDB and memcached up, databases created")
    _run_parallel([lambda f=f: run.setup(f) for f in run.families])
    phase("every family set up (schemas, catalog, rings, clusters)")
    rest = [s for s in table.values() if procs.running_pid(s) is None]
    for service in rest:
        try:
            _say(f"started {service.name} (pid {procs.start(service)})")
        except procs.NotRunnable as exc:
            raise LabError(str(exc)) from exc
    _run_parallel([lambda s=s: _start_and_wait(s) for s in table.values()])
    # Each copy answered on its node; HAProxy sends callers to one only
    # once its own checks saw it rise.
    balanced = infra_ha.balanced(list(table.values()))
    _run_parallel(
        [lambda n=n: infra_ha.wait_served(config, n) for n in balanced]
    )
    phase("all services healthy")
    _run_parallel([lambda f=f: f.ready(run) for f in run.families])
    steps.mark_done(config, "resources")
    phase("every family ready (resources, hosts and agents registered)")


def down(state_dir: Path, only: list[str] | None = None) -> list[str]:
    config = _existing(state_dir)
    table = services.by_name(config)
    names = only or list(table)
    unknown = [name for name in names if name not in table]
    if unknown:
        raise LabError(f"unknown service(s): {', '.join(unknown)}")
    cleaners = [] if only else families.enabled(config)
    stopped = _stop_services(config, table, names, cleaners)
    if "epmd" in names:
        _stop_stray_epmd(config)
    return stopped


def _stop_services(config, table, names, cleaners) -> list[str]:
    """Stop ``names``; the ``cleaners`` families clean up what their
    services left before the last phase."""
    stopped = []

    def stop(service: Service) -> None:
        if procs.stop(service):
            stopped.append(service.name)
            _say(f"stopped {service.name}")

    # OpenStack services first, then what they use, epmd and the
    # namespaces' holders last: RabbitMQ starts a new "epmd -daemon" when
    # its epmd goes away. Each phase in parallel (nova-compute alone takes
    # about 10 s to shut down), but the Galera nodes one at a time, the
    # first controller's last: Galera marks the last node to leave as the
    # one safe to start the cluster from again.
    for kind in ("openstack", "infra", "database", "last"):
        if kind == "last":
            for family in cleaners:
                for line in family.cleanup(config):
                    _say(line)
        phase = [
            s for s in table.values() if s.kind == kind and s.name in names
        ]
        if kind == "database":
            for service in reversed(phase):
                stop(service)
        elif phase:
            _run_parallel([lambda s=s: stop(s) for s in phase])
    return stopped


def _disable(config: LabConfig, names: list[str]) -> LabConfig:
    """Stop and drop the families ``names`` (the compute hosts of
    ``--computes fake``); what they required stays."""
    gone = [f for f in families.enabled(config) if f.name in names]
    if not gone:
        return config
    table = services.by_name(config)
    mine = [s.name for f in gone for s in f.services(config)]
    _stop_services(config, table, mine, gone)
    for family in gone:
        for line in family.retire(config):
            _say(line)
        # Kept until done, so that a lab up that fails before the APIs
        # answer (or a lab that was down) retires it the next time.
        steps.mark_done(config, f"retire-{family.name}")
    kept = tuple(name for name in config.families if name not in names)
    return lab_config.save_families(config, kept)


# Their hosts live in network namespaces and reach RabbitMQ through a
# relay to 127.0.0.1, where a lab with several controllers has none.
NOT_WITH_CONTROLLERS = ("neutron-agents", "libvirt")


def _check_clustered(config: LabConfig, wanted: list[str] | None) -> None:
    if not config.clustered:
        return
    try:
        names = families.resolve([*config.families, *(wanted or [])])
    except ValueError as exc:
        raise LabError(str(exc)) from exc
    refused = [name for name in names if name in NOT_WITH_CONTROLLERS]
    if refused:
        raise LabError(
            f"{', '.join(refused)}: not yet with --controllers "
            f"{config.controllers} (only with one controller)"
        )


def _retire_in_cloud(config: LabConfig) -> None:
    """What dropped families registered in the cloud, deleted now that
    the lab without them is up."""
    chosen = {family.name for family in families.enabled(config)}
    pending = [
        family
        for family in families.all_families()
        if family.name not in chosen
        and steps.is_done(config, f"retire-{family.name}")
    ]
    for family in pending:
        for line in family.retire_in_cloud(catalog.admin_session(config)):
            _say(line)
        steps.clear_done(config, f"retire-{family.name}")


def _stop_stray_epmd(config: LabConfig) -> None:
    """An epmd that this lab's RabbitMQ started by itself (see above)."""
    rabbit_env = infra.rabbitmq_env(config)
    wanted = {
        key: rabbit_env[key]
        for key in ("ERL_EPMD_PORT", "RABBITMQ_MNESIA_BASE")
    }
    strays = procs.find_by_environ("epmd", wanted)
    if strays:
        procs.stop_pids(strays)
        _say(f"stopped epmd started by RabbitMQ (pid {strays[0]})")


def _existing(state_dir: Path) -> LabConfig:
    try:
        return lab_config.load(state_dir)
    except FileNotFoundError as exc:
        raise LabError(str(exc)) from exc


def status(state_dir: Path, with_nova: bool = True) -> list[dict]:
    config = _existing(state_dir)
    rows = []
    for service in services.build(config):
        pid = procs.running_pid(service)
        if pid is None:
            health, detail = False, "down"
        else:
            health, detail = procs.check_health(
                service.health, pids=procs.service_pids(service, pid)
            )
        rows.append(
            {
                "name": service.name,
                "family": service.family,
                "pid": pid,
                "address": service.address,
                "port": service.port,
                "healthy": health,
                "detail": detail,
                "rss_mib": round(procs.tree_rss_kib(service, pid) / 1024)
                if pid
                else 0,
                "log_file": str(service.log_file),
            }
        )
    if with_nova:
        for family in families.enabled(config):
            family.status(config, rows)
    return rows


def format_status(rows: list[dict]) -> str:
    width = max([16] + [len(row["name"]) for row in rows])
    lines = [
        f"{'SERVICE':{width}} {'PID':>7} {'ADDRESS':>15} {'PORT':>6} "
        f"{'RSS MiB':>8}  HEALTH"
    ]
    for row in rows:
        lines.append(
            f"{row['name']:{width}} {row['pid'] or '-':>7} "
            f"{row['address']:>15} {row['port'] or '-':>6} "
            f"{row['rss_mib'] or '-':>8}  "
            f"{'ok' if row['healthy'] else 'FAIL'} ({row['detail']})"
        )
    return "\n".join(lines)


def _rally(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    rally = Path(sys.executable).with_name("rally")
    command = str(rally) if rally.exists() else shutil.which("rally")
    if not command:
        raise LabError("rally is not installed next to this Python")
    return subprocess.run(
        [command, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def write_env_files(config: LabConfig) -> dict[str, Path]:
    table = services.build(config)
    groups = {
        name: members
        for family in families.enabled(config)
        for name, members in family.groups(config).items()
    }
    aliases = {
        alias: name
        for family in families.enabled(config)
        for alias, name in family.aliases.items()
    }
    files = {
        "os-faults": config.state_dir / "os-faults.json",
        "os-faults-osic": config.state_dir / "os-faults-osic.json",
        "lab-services": config.state_dir / "lab-services.json",
        "rally-env": config.state_dir / "rally-env.json",
        "openrc": config.state_dir / "openrc",
    }
    contents = {
        "os-faults": envfiles.os_faults_config(config, table, groups, aliases),
        "os-faults-osic": envfiles.os_faults_osic_config(
            config, table, groups, aliases
        ),
        "lab-services": envfiles.lab_services(config, table, groups),
        "rally-env": envfiles.rally_env_spec(config),
    }
    if "libvirt" in config.families:
        from rally_osic.lab.families import libvirt

        files["live-migration-args"] = (
            config.state_dir / "live-migration-args.json"
        )
        contents["live-migration-args"] = libvirt.live_migration_args(config)
    for key, value in contents.items():
        files[key].write_text(json.dumps(value, indent=2) + "\n")
    files["openrc"].write_text(envfiles.openrc(config))
    for key in ("rally-env", "openrc"):
        files[key].chmod(0o600)
    return files


def env(state_dir: Path, name: str = "osic-lab") -> dict[str, Path]:
    """Write the env files; (re)create the Rally env ``name``."""
    config = _existing(state_dir)
    files = write_env_files(config)
    existing = _rally("env", "show", "--env", name, "--json")
    if existing.returncode == 0:
        _rally("env", "delete", "--env", name, "--force")
    # The osic_fault hook finds the lab's (exact) os-faults config here.
    extras = {"os_faults_config": str(files["os-faults-osic"])}
    created = _rally(
        "env",
        "create",
        "--name",
        name,
        "--spec",
        str(files["rally-env"]),
        "--extras",
        json.dumps(extras),
    )
    if created.returncode != 0:
        detail = (created.stderr or created.stdout).strip().splitlines()
        raise LabError(
            "rally env create failed: " + (detail[-1] if detail else "?")
        )
    checked = _rally("env", "check", "--env", name)
    if checked.returncode != 0:
        raise LabError(
            f"rally env check --env {name} failed: "
            + (checked.stdout + checked.stderr).strip().splitlines()[-1]
        )
    return files

"""``lab up|down|status|env``: orchestration of setup and services."""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from rally_osic.lab import config as lab_config
from rally_osic.lab import envfiles, procs, render, services, setup
from rally_osic.lab.config import LabConfig
from rally_osic.lab.services import Service


class LabError(Exception):
    """A one-line, user-facing failure."""


def _say(message: str) -> None:
    print(message, flush=True)


def _start_and_wait(service: Service, timeout: float | None = None) -> None:
    """Start ``service`` unless it runs; wait until it is healthy."""
    pid = procs.running_pid(service)
    started = False
    if pid is None:
        pid = procs.start(service)
        started = True
    deadline = time.monotonic() + (timeout or service.start_timeout)
    reason = procs.wait_healthy(service, pid, deadline)
    if reason:
        raise LabError(
            f"{service.name} failed to start ({reason}); "
            f"see {service.log_file}"
        )
    if started:
        _say(f"started {service.name} (pid {pid})")


def _run_parallel(jobs: list) -> None:
    """Run callables in threads; re-raise the first failure."""
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        futures = [pool.submit(job) for job in jobs]
        for future in futures:
            exc = future.exception()
            if exc:
                raise exc


def _check_ports(config: LabConfig, wanted: list[Service]) -> None:
    """Fail early if a port of a stopped service is taken by a stranger."""
    for service in wanted:
        if service.port and procs.running_pid(service) is None:
            busy, _ = procs.check_health(f"tcp://127.0.0.1:{service.port}", 1)
            if busy:
                raise LabError(
                    f"port {service.port} of {service.name} is in use by "
                    f"another process; stop it or use --port-offset"
                )


def up(
    state_dir: Path,
    port_offset: int | None = None,
    venv_dir: Path | None = None,
    only: list[str] | None = None,
) -> LabConfig:
    started = time.monotonic()
    try:
        config = lab_config.load(
            state_dir, port_offset, venv_dir, create=not only
        )
    except (ValueError, FileNotFoundError) as exc:
        raise LabError(str(exc)) from exc
    table = services.by_name(config)
    if only:
        unknown = [name for name in only if name not in table]
        if unknown:
            raise LabError(f"unknown service(s): {', '.join(unknown)}")
        if not setup.is_done(config, "resources"):
            raise LabError("the lab is not set up; run 'lab up' first")
        for name in only:
            _start_and_wait(table[name])
        return config
    from keystoneauth1 import exceptions as ks_exceptions

    try:
        _full_up(config, table)
    except setup.SetupError as exc:
        raise LabError(str(exc)) from exc
    except ks_exceptions.ClientException as exc:
        raise LabError(
            f"OpenStack API call failed ({exc}); see the logs in {config.log}"
        ) from exc
    _say(f"lab is up in {time.monotonic() - started:.0f} s ({state_dir})")
    return config


def _full_up(config: LabConfig, table: dict[str, Service]) -> None:
    started = time.monotonic()

    def phase(text: str) -> None:
        setup.note(config, f"{time.monotonic() - started:6.1f} s {text}")

    _check_ports(config, list(table.values()))
    setup.ensure_debian_packages(config)
    phase("Debian packages present")
    setup.ensure_venvs(config)
    phase("venvs ready")
    render.render_all(config)
    setup.init_mariadb(config)
    for name in ("mariadb", "memcached", "epmd"):
        if procs.running_pid(table[name]) is None:
            _say(f"started {name} (pid {procs.start(table[name])})")

    def rabbitmq() -> None:
        _start_and_wait(table["epmd"])
        _start_and_wait(table["rabbitmq"])

    def keystone() -> None:
        setup.sync_keystone(config)
        _start_and_wait(table["keystone"])
        setup.register_catalog(config)

    _start_and_wait(table["mariadb"])
    _start_and_wait(table["memcached"])
    setup.create_databases(config)
    phase("MariaDB and memcached up, databases created")
    _run_parallel(
        [
            rabbitmq,
            keystone,
            lambda: setup.sync_nova(config),
            lambda: setup.sync_glance_placement(config),
            lambda: setup.sync_neutron(config),
        ]
    )
    phase("schemas synced, RabbitMQ and Keystone up, catalog registered")
    rest = [s for s in table.values() if procs.running_pid(s) is None]
    for service in rest:
        _say(f"started {service.name} (pid {procs.start(service)})")
    _run_parallel([lambda s=s: _start_and_wait(s) for s in table.values()])
    phase("all services healthy")
    if not setup.is_done(config, "resources"):
        setup.create_resources(config)
    setup.wait_for_hypervisors(
        config, len(services.COMPUTE_HOSTS), timeout=120
    )
    phase("flavor and image present, both compute hosts in nova")


def down(state_dir: Path, only: list[str] | None = None) -> list[str]:
    config = _existing(state_dir)
    table = services.by_name(config)
    names = only or list(table)
    unknown = [name for name in names if name not in table]
    if unknown:
        raise LabError(f"unknown service(s): {', '.join(unknown)}")
    stopped = []

    def stop(service: Service) -> None:
        if procs.stop(service):
            stopped.append(service.name)
            _say(f"stopped {service.name}")

    # OpenStack services first, then what they use, epmd last: RabbitMQ
    # starts a new "epmd -daemon" when its epmd goes away. Each phase in
    # parallel (nova-compute alone takes about 10 s to shut down).
    phases = (
        [s for s in table.values() if s.kind == "openstack"],
        [s for s in table.values() if s.kind == "infra" and s.name != "epmd"],
        [table["epmd"]],
    )
    for phase in phases:
        phase = [s for s in phase if s.name in names]
        if phase:
            _run_parallel([lambda s=s: stop(s) for s in phase])
    if "epmd" in names:
        _stop_stray_epmd(config)
    return stopped


def _stop_stray_epmd(config: LabConfig) -> None:
    """An epmd that this lab's RabbitMQ started by itself (see above)."""
    rabbit_env = services.rabbitmq_env(config)
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
            health, detail = procs.check_health(service.health)
        rows.append(
            {
                "name": service.name,
                "pid": pid,
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
        _add_nova_states(config, rows)
    return rows


def _add_nova_states(config: LabConfig, rows: list[dict]) -> None:
    """Nova's own view (service up/down) for its RPC services."""
    try:
        states = setup.compute_service_states(config)
    except Exception as exc:  # noqa: BLE001 - status must not crash
        states, error = {}, str(exc).splitlines()[0][:60]
    else:
        error = ""
    hosts = dict(
        zip(("nova-compute-1", "nova-compute-2"), services.COMPUTE_HOSTS)
    )
    for row in rows:
        name = row["name"]
        if (
            not name.startswith(
                ("nova-conductor", "nova-scheduler", "nova-compute")
            )
            or not row["pid"]
        ):
            continue
        if name in hosts:
            key = f"nova-compute@{hosts[name]}"
        else:
            key = next((k for k in states if k.startswith(f"{name}@")), "")
        state = states.get(key)
        if state:
            row["healthy"] = state == "up"
            row["detail"] = f"nova: {state}"
        elif error:
            row["detail"] = f"nova api: {error}"


def format_status(rows: list[dict]) -> str:
    lines = [f"{'SERVICE':16} {'PID':>7} {'PORT':>6} {'RSS MiB':>8}  HEALTH"]
    for row in rows:
        lines.append(
            f"{row['name']:16} {row['pid'] or '-':>7} "
            f"{row['port'] or '-':>6} {row['rss_mib'] or '-':>8}  "
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
    files = {
        "os-faults": config.state_dir / "os-faults.json",
        "os-faults-osic": config.state_dir / "os-faults-osic.json",
        "lab-services": config.state_dir / "lab-services.json",
        "rally-env": config.state_dir / "rally-env.json",
        "openrc": config.state_dir / "openrc",
    }
    contents = {
        "os-faults": envfiles.os_faults_config(config, table),
        "os-faults-osic": envfiles.os_faults_osic_config(config, table),
        "lab-services": envfiles.lab_services(config, table),
        "rally-env": envfiles.rally_env_spec(config),
    }
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

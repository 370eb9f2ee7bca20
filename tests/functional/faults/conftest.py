"""Real services for the fault tests: started here, on free 127.0.0.1
ports with their own temp dirs, and always stopped (by PID) afterwards."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from osic_fault_helpers import (
    SUPERVISOR,
    Service,
    free_port,
    memcached_argv,
)


@pytest.fixture
def services():
    started: list[Service] = []

    def start(*args, **kwargs):
        svc = Service(*args, **kwargs)
        started.append(svc)
        return svc

    try:
        yield start
    finally:
        for svc in started:
            svc.stop()


@pytest.fixture
def memcached(services, tmp_path):
    if not shutil.which("memcached"):
        pytest.skip("memcached not installed")
    port = free_port()
    pid_file = tmp_path / "memcached.pid"
    svc = services(memcached_argv(port, pid_file), pid_file, port)
    args = {
        "pid_file": str(pid_file),
        "port": port,
        "start_cmd": " ".join(memcached_argv(port, pid_file, daemon=True)),
    }
    return svc, args


@pytest.fixture
def decoy_memcached(services, tmp_path):
    """A memcached that looks like the target (same binary, same flags
    shape); every fault must leave it alone."""
    port = free_port()
    pid_file = tmp_path / "decoy.pid"
    return services(memcached_argv(port, pid_file), pid_file, port)


@pytest.fixture
def supervised_memcached(services, tmp_path):
    """memcached respawned by a tiny supervisor (comes back by itself)."""
    port = free_port()
    pid_file = tmp_path / "sup-memcached.pid"
    sup = services(
        [sys.executable, "-c", SUPERVISOR, *memcached_argv(port, pid_file)],
        pid_file,
        port,
    )
    return sup, {"pid_file": str(pid_file), "port": port}


@pytest.fixture
def http_service(services, tmp_path):
    port = free_port()
    argv = [sys.executable, "-m", "http.server", "-b", "127.0.0.1", str(port)]
    svc = services(argv, None, port, cwd=str(tmp_path))
    args = {
        "cmdline": argv,
        "port": port,
        "health_url": f"http://127.0.0.1:{port}/",
        "start_cmd": f"cd {tmp_path} && nohup "
        + " ".join(argv)
        + " >/dev/null 2>&1 &",
    }
    return svc, args


@pytest.fixture
def mariadb(services, tmp_path):
    if not shutil.which("mariadbd") or not shutil.which("mariadb-install-db"):
        pytest.skip("MariaDB not installed")
    port = free_port()
    data = tmp_path / "mysql"
    cnf = tmp_path / "my.cnf"
    pid_file = tmp_path / "mariadb.pid"
    cnf.write_text(
        "[mariadbd]\n"
        f"datadir={data}\nsocket={tmp_path}/mysql.sock\n"
        f"pid-file={pid_file}\nport={port}\nbind-address=127.0.0.1\n"
        "user=root\nskip-name-resolve\ninnodb_buffer_pool_size=16M\n"
        "skip-log-bin\n"
    )
    subprocess.run(
        [
            "mariadb-install-db",
            f"--defaults-file={cnf}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    argv = ["mariadbd", f"--defaults-file={cnf}"]
    svc = services(argv, pid_file, port)
    args = {
        "pid_file": str(pid_file),
        "port": port,
        "start_cmd": "nohup " + " ".join(argv) + " >/dev/null 2>&1 &",
    }
    return svc, args

"""Helpers of the fault tests (a uniquely named module, imported by the
conftest and the tests)."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import threading
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def read_pid(path) -> int | None:
    try:
        return int(open(path).read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def kill_pid(pid: int | None) -> None:
    if not pid:
        return
    for sig in (signal.SIGCONT, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


class Service:
    """A process started by a test; died_at is when it really died."""

    def __init__(self, argv, pid_file=None, port=None, cwd=None):
        self.argv, self.pid_file, self.port = argv, pid_file, port
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.died_at: float | None = None
        threading.Thread(target=self._reap, daemon=True).start()
        if port:
            wait_port(port)

    def _reap(self):
        self.proc.wait()
        self.died_at = time.time()

    def stop(self):
        kill_pid(self.proc.pid if self.proc.poll() is None else None)
        # A copy started by the hook's restore has the exact same argv.
        from rally_osic.faults import probe

        for pid in probe.resolve({"cmdline": list(self.argv)}):
            kill_pid(pid)
        if self.pid_file:
            # A daemon started by the hook's restore writes the PID file.
            pid = read_pid(self.pid_file)
            if pid and pid != self.proc.pid:
                kill_pid(pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


class DeathClock:
    """When a process that is not our child really died (its pidfd)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.died_at = pid, None
        self.fd = os.pidfd_open(pid)
        self.thread = threading.Thread(target=self._wait, daemon=True)
        self.thread.start()

    def _wait(self):
        select.select([self.fd], [], [], 300)
        self.died_at = time.time()
        os.close(self.fd)


def memcached_argv(port, pid_file, daemon=False):
    argv = ["memcached", "-u", "root", "-l", "127.0.0.1", "-p", str(port)]
    argv += ["-U", "0", "-P", str(pid_file)]
    return argv + (["-d"] if daemon else [])


def local_config(services: dict) -> dict:
    return {
        "cloud_management": {"driver": "universal"},
        "node_discover": {
            "driver": "node_list",
            "args": [{"ip": "127.0.0.1"}],
        },
        "services": {
            name: {
                "driver": "osic_process",
                "args": args,
                "hosts": ["127.0.0.1"],
            }
            for name, args in services.items()
        },
    }


SUPERVISOR = r"""
import subprocess, sys, time, signal, os
argv = sys.argv[1:]
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
child = None
try:
    while True:
        child = subprocess.Popen(argv)
        child.wait()
        time.sleep(0.3)
finally:
    if child and child.poll() is None:
        child.kill()
"""

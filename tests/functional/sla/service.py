"""A real HTTP service on 127.0.0.1 and a watcher of its real outages."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, timeout: float = 0.5) -> bool | None:
    """True if it accepts, False if refused, None if it cannot tell.

    A killed server's port refuses at once; a slow answer on a loaded
    machine says nothing about an outage.
    """
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except ConnectionRefusedError:
        return False
    except OSError:
        return None


class HttpService:
    """``python -m http.server`` that hooks can kill and start again.

    Its start command writes the PID file itself, so a Rally ``sys_call``
    hook can restart it and the test can still find what to stop.
    """

    def __init__(self, workdir) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.pidfile = workdir / "http.pid"
        (workdir / "www").mkdir(exist_ok=True)
        (workdir / "www" / "index.html").write_text("ok\n")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def start_command(self) -> str:
        server = (
            f"{sys.executable} -m http.server {self.port} --bind 127.0.0.1 "
            f"--directory {self.workdir / 'www'}"
        )
        return (
            f"sh -c 'nohup {server} >/dev/null 2>&1 & "
            f"echo $! > {self.pidfile}'"
        )

    @property
    def kill_command(self) -> str:
        return f"sh -c 'kill -9 $(cat {self.pidfile})'"

    def start(self, timeout: float = 10.0) -> None:
        os.system(self.start_command.replace("sh -c '", "").rstrip("'"))
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"http service on {self.port} not up")
            time.sleep(0.02)

    def stop(self) -> None:
        with contextlib.suppress(FileNotFoundError, ValueError):
            pid = int(self.pidfile.read_text())
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class OutageWatcher(threading.Thread):
    """Records when the port really stops and starts accepting connections.

    It probes every 5 ms, twenty times as often as the load samples, so its
    edges are the ground truth that the measured downtime is checked
    against.
    """

    def __init__(self, port: int, interval: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.interval = interval
        self.transitions: list[tuple[float, bool]] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        state = None
        while not self._stop_event.is_set():
            now = time.time()
            is_open = port_open(self.port)
            if is_open is not None and is_open != state:
                self.transitions.append((now, is_open))
                state = is_open
            time.sleep(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)

    def outages(self) -> list[tuple[float, float | None]]:
        """(went down, came back or None) in epoch seconds."""
        outages, down_at = [], None
        for when, is_open in self.transitions:
            if not is_open:
                down_at = when
            elif down_at is not None:
                outages.append((down_at, when))
                down_at = None
        if down_at is not None:
            outages.append((down_at, None))
        return outages

"""Watching a target while a fault runs: probe streams from the node,
health checks by URL or port.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

from rally_osic.faults import transport as tr
from rally_osic.faults.spec import POLL


class Watcher:
    """Streams probe observations of one target on one node."""

    def __init__(self, transport, spec, max_seconds, sink, key):
        self.transport = transport
        self.key = key
        self.sink = sink
        cmd = transport.python_probe_command(
            ["watch", json.dumps(spec), str(POLL), str(max_seconds)]
        )
        self.proc = transport.popen(cmd, input_text=tr.probe_source())
        self.local = isinstance(transport, tr.LocalTransport)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            recv = time.time()
            try:
                obs = json.loads(line)
            except ValueError:
                continue
            if "hb" in obs:
                continue
            node_t = obs.pop("t")
            # Same clock locally; over SSH trust our clock, not the node's.
            self.sink.put((node_t if self.local else recv, self.key, obs))

    def stop(self):
        import os
        import signal

        # The watcher runs in its own session: end the whole group (the
        # shell, python3, or the ssh client), nothing else.
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=5)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        self.thread.join(timeout=5)
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()


class Checker:
    """Controller-side checks: health URL and TCP reachability."""

    def __init__(self, key, sink, health_url=None, host=None, port=None):
        self.key, self.sink = key, sink
        self.health_url, self.host, self.port = health_url, host, port
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def check(self) -> dict:
        obs = {}
        if self.health_url:
            obs["health_ok"] = health_ok(self.health_url)
        if self.host and self.port:
            obs["reachable"] = reachable(self.host, self.port)
        return obs

    def start(self):
        self.thread.start()

    def _loop(self):
        while not self._stop.wait(0.1):
            self.sink.put((time.time(), self.key, self.check()))

    def stop(self):
        self._stop.set()
        self.thread.join(timeout=5)


def health_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (OSError, ValueError):
        return False


def reachable(host: str, port: int, timeout: float = 0.3) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False

"""Where the probe agent runs, and how this side talks to it.

The probes must reach the servers' addresses. On a real cloud that is a
host on the instance network (a network node, a compute, a Neutron router
namespace), so the agent (``agent.py``, self-contained) runs there,
through the fault layer's transports:

* ``{}`` or ``{"host": "127.0.0.1"}``: on this machine;
* ``{"host": "10.0.0.11", "username": ..., "private_key_file": ...,
  "port": 22, "become": false}``: over SSH (OpenSSH, batch mode);
* ``"netns": "qrouter-..."`` (with either): inside that network
  namespace (``ip netns exec``);
* ``"container": "..."`` (with either): inside that LXC container
  (``lxc-attach``), as on OpenStack-Ansible hosts.

The agent answers on its stdout; its clock is mapped to this machine's by
the round trip of a ping (good to a few ms over SSH, exact locally).
"""

from __future__ import annotations

import json
import os
import queue
import shlex
import subprocess
import threading
import time
from typing import Any

from rally_osic.faults import transport as tr

AGENT_PATH = os.path.join(os.path.dirname(__file__), "agent.py")
LOCATION_SCHEMA = {
    "type": "object",
    "properties": {
        "host": {"type": "string", "minLength": 1},
        "username": {"type": "string"},
        "private_key_file": {"type": "string"},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "become": {"type": "boolean"},
        "netns": {"type": "string", "minLength": 1},
        "container": {"type": "string", "minLength": 1},
        "python": {"type": "string", "minLength": 1},
    },
    "additionalProperties": False,
}


class ProbeError(Exception):
    """The agent could not be started or stopped answering (one line)."""


def agent_source() -> str:
    with open(AGENT_PATH) as fd:
        return fd.read()


def transport_for(where: dict | None) -> tr.Transport:
    where = dict(where or {})
    host = where.get("host", "127.0.0.1")
    auth = {
        key: where[key]
        for key in ("username", "private_key_file", "port", "become")
        if key in where
    }
    return tr.for_node(host, auth)


def agent_command(where: dict | None, max_seconds: float) -> str:
    where = dict(where or {})
    python = where.get("python", "python3")
    command = (
        f"exec {shlex.quote(python)} -u -c {shlex.quote(agent_source())} "
        f"--max-seconds {max_seconds:g}"
    )
    command = tr.in_container(command, where.get("container"))
    return tr.in_netns(command, where.get("netns"))


def describe(where: dict | None) -> str:
    where = dict(where or {})
    text = where.get("host", "this machine")
    if where.get("netns"):
        text += f", netns {where['netns']}"
    if where.get("container"):
        text += f", container {where['container']}"
    return text


class ProbeAgent:
    """One running agent; call :meth:`close` (or use ``with``)."""

    def __init__(
        self, where: dict | None = None, max_seconds: float = 3600.0
    ) -> None:
        self.where = dict(where or {})
        self.transport = transport_for(self.where)
        self.offset = 0.0  # agent clock - this clock
        self._lines: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        argv = self.transport.argv(agent_command(self.where, max_seconds))
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                bufsize=1,
                start_new_session=True,
            )
        except OSError as exc:
            raise ProbeError(
                f"cannot start the probe agent on {describe(self.where)}: "
                f"{exc}"
            ) from None
        threading.Thread(target=self._read, daemon=True).start()
        self.call({"op": "ping"}, timeout=60)  # started: now the clocks
        if not isinstance(self.transport, tr.LocalTransport):
            best = None
            for _ in range(5):
                sent = time.time()
                answer = self.call({"op": "ping"}, timeout=30)
                received = time.time()
                if best is None or received - sent < best[0]:
                    best = (
                        received - sent,
                        answer["t"] - (sent + received) / 2,
                    )
            self.offset = best[1]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def call(self, command: dict, timeout: float) -> dict:
        with self._lock:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps(command) + "\n")
                self.proc.stdin.flush()
            except (OSError, ValueError):
                raise ProbeError(self._died()) from None
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                raise ProbeError(
                    f"probe agent on {describe(self.where)} did not answer "
                    f"{command['op']!r} within {timeout:g} s"
                ) from None
            if line is None:
                raise ProbeError(self._died())
        answer = json.loads(line)
        if answer.get("ack") == "error":
            raise ProbeError(f"probe agent: {answer.get('error')}")
        return answer

    def _died(self) -> str:
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        assert self.proc.stderr is not None
        err = ""
        if self.proc.returncode is not None:
            err = self.proc.stderr.read().strip().splitlines()
            err = err[-1] if err else f"exit {self.proc.returncode}"
        return f"probe agent on {describe(self.where)} stopped" + (
            f": {err}" if err else ""
        )

    def local_time(self, agent_time: float | None) -> float | None:
        return None if agent_time is None else agent_time - self.offset

    def check(self, host: str, port: int, timeout: float) -> dict:
        return self.call(
            {"op": "check", "host": host, "port": port, "timeout": timeout},
            timeout=timeout + 30,
        )

    def start_session(
        self,
        ident: str,
        udp: dict | None = None,
        tcp: dict | None = None,
        max_seconds: float = 900.0,
    ) -> None:
        command: dict[str, Any] = {
            "op": "start",
            "id": ident,
            "max_seconds": max_seconds,
        }
        if udp:
            command["udp"] = udp
        if tcp:
            command["tcp"] = tcp
        self.call(command, timeout=30)

    def stop_session(self, ident: str, grace: float = 1.0) -> dict:
        answer = self.call(
            {"op": "stop", "id": ident, "grace": grace}, timeout=grace + 60
        )
        udp = answer.get("udp")
        if udp:
            udp["t0"] = self.local_time(udp["t0"])
        tcp = answer.get("tcp")
        if tcp:
            tcp["stall_start"] = self.local_time(tcp.get("stall_start"))
        return answer

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)  # its own session (see Popen)
            self.proc.wait(timeout=10)
        self.transport.close()

    def __enter__(self) -> ProbeAgent:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""How the fault layer runs commands on a node: locally or over SSH.

os-faults runs everything through ``ansible-playbook`` (2–5 s per action);
the fault hook needs sub-second actions and a streaming watcher, so it
talks to nodes directly:

* :class:`LocalTransport` runs ``/bin/sh -c`` on this machine (the lab or
  a single-node cloud);
* :class:`SSHTransport` runs the same command through the OpenSSH client
  (``ssh -o BatchMode=yes``) with a shared control connection, so only the
  first command pays for the SSH handshake.

Commands that must act *inside* an LXC container are wrapped by
:func:`in_container` (``lxc-attach``), as OpenStack-Ansible hosts need;
inside a network namespace (a Neutron router or DHCP namespace, or the
test rigs' own) by :func:`in_netns`.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
import tempfile
import threading
from collections.abc import Sequence

PROBE_SOURCE_PATH = os.path.join(os.path.dirname(__file__), "probe.py")

SSH_OPTIONS = (
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ServerAliveInterval=5",
    "-o",
    "ServerAliveCountMax=2",
)


class TransportError(Exception):
    """A node could not be reached or a command failed (one line)."""


@dataclasses.dataclass
class Result:
    rc: int
    stdout: str
    stderr: str


def probe_source() -> str:
    with open(PROBE_SOURCE_PATH) as fd:
        return fd.read()


class Transport:
    """Runs shell commands on one node."""

    host: str = "localhost"
    become: bool = False

    def argv(self, command: str) -> list[str]:
        raise NotImplementedError

    def _wrap_become(self, command: str) -> str:
        if self.become:
            return "sudo -n /bin/sh -c " + shlex.quote(command)
        return command

    def run(
        self, command: str, timeout: float = 60.0, input: str | None = None
    ) -> Result:
        try:
            proc = subprocess.run(
                self.argv(command),
                input=input,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=None if input is not None else subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise TransportError(
                f"{self.host}: command timed out after {timeout:g} s"
            ) from exc
        except OSError as exc:
            raise TransportError(f"{self.host}: {exc}") from exc
        if proc.returncode == 255 and isinstance(self, SSHTransport):
            msg = proc.stderr.strip().splitlines()
            raise TransportError(
                f"{self.host}: unreachable over SSH"
                + (f" ({msg[-1]})" if msg else "")
            )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def check(self, command: str, timeout: float = 60.0) -> Result:
        res = self.run(command, timeout=timeout)
        if res.rc != 0:
            err = (res.stderr.strip() or res.stdout.strip()).splitlines()
            raise TransportError(
                f"{self.host}: command failed (exit {res.rc}): "
                + (err[-1] if err else command)
            )
        return res

    def popen(self, command: str, input_text: str | None = None):
        proc = subprocess.Popen(
            self.argv(command),
            stdin=subprocess.PIPE if input_text is not None else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        if input_text is not None:
            assert proc.stdin is not None
            proc.stdin.write(input_text)
            proc.stdin.close()
        return proc

    def python_probe_command(self, args: Sequence[str]) -> str:
        """A shell command running probe.py (from stdin) with args."""
        return "python3 - " + " ".join(shlex.quote(a) for a in args)

    def close(self) -> None:
        pass


class LocalTransport(Transport):
    def __init__(self, become: bool = False) -> None:
        self.host = "localhost"
        self.become = become and os.geteuid() != 0

    def argv(self, command: str) -> list[str]:
        return ["/bin/sh", "-c", self._wrap_become(command)]


class SSHTransport(Transport):
    _lock = threading.Lock()

    def __init__(
        self,
        host: str,
        username: str | None = None,
        private_key_file: str | None = None,
        port: int | None = None,
        become: bool = False,
        connect_timeout: float = 10.0,
        jump: str | None = None,
    ) -> None:
        self.host = host
        self.username = username
        self.private_key_file = private_key_file
        self.port = port
        self.become = become
        self.connect_timeout = connect_timeout
        self.jump = jump
        self._control_dir = tempfile.mkdtemp(prefix="osic-ssh-")

    def base_argv(self) -> list[str]:
        argv = ["ssh", *SSH_OPTIONS]
        argv += ["-o", f"ConnectTimeout={int(self.connect_timeout)}"]
        argv += ["-o", "ControlMaster=auto", "-o", "ControlPersist=60"]
        argv += ["-o", f"ControlPath={self._control_dir}/%C"]
        if self.private_key_file:
            argv += ["-i", os.path.expanduser(self.private_key_file)]
        if self.port:
            argv += ["-p", str(self.port)]
        if self.jump:
            argv += ["-J", self.jump]
        target = self.host
        if self.username:
            target = f"{self.username}@{self.host}"
        return [*argv, target]

    def argv(self, command: str) -> list[str]:
        # ssh joins its remote arguments with spaces; pass one quoted word.
        remote = "/bin/sh -c " + shlex.quote(self._wrap_become(command))
        return [*self.base_argv(), remote]

    def close(self) -> None:
        subprocess.run(
            [*self.base_argv()[:-1], "-O", "exit", self.base_argv()[-1]],
            capture_output=True,
            timeout=10,
            check=False,
        )
        try:
            for name in os.listdir(self._control_dir):
                os.unlink(os.path.join(self._control_dir, name))
            os.rmdir(self._control_dir)
        except OSError:
            pass


def in_container(command: str, container: str | None, lxc_path=None) -> str:
    """Wrap a shell command to run inside an LXC container, if any."""
    if not container:
        return command
    path = f"-P {shlex.quote(lxc_path)} " if lxc_path else ""
    return (
        f"lxc-attach {path}-n {shlex.quote(container)} -- /bin/sh -c "
        + shlex.quote(command)
    )


def in_netns(command: str, netns: str | None) -> str:
    """Wrap a shell command to run inside a network namespace, if any."""
    if not netns:
        return command
    return f"ip netns exec {shlex.quote(netns)} /bin/sh -c " + shlex.quote(
        command
    )


def is_local_address(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1", "local")


def for_node(
    host: str, auth: dict | None = None, local: bool = False
) -> Transport:
    """The transport for a node of an os-faults ``node_list``.

    ``127.0.0.1``, ``::1``, ``localhost``, or ``local=True`` (the node is
    listed in the config's ``osic.local_nodes``), selects the local
    transport; every other address (``127.0.0.2`` too) uses SSH, with
    ``auth["port"]`` from the config's ``osic.ssh_port``.
    """
    auth = dict(auth or {})
    become = bool(
        auth.get("become_username")
        or auth.get("become_password")
        or auth.get("become")
    )
    if local or is_local_address(host):
        return LocalTransport(become=become)
    jump = auth.get("jump")
    jump_arg = None
    if isinstance(jump, dict) and jump.get("host"):
        user = jump.get("username") or auth.get("username")
        jump_arg = f"{user}@{jump['host']}" if user else jump["host"]
    return SSHTransport(
        host,
        username=auth.get("username"),
        private_key_file=auth.get("private_key_file"),
        port=auth.get("port"),
        become=become,
        jump=jump_arg,
    )

"""Processes of the lab: pidfiles, command-line checks, start, stop, health.

A pidfile alone is never trusted: a PID is the service's only while
``/proc/PID/cmdline`` still contains the service's ``match`` text, so a
stale pidfile whose PID was reused by another program is ignored, and
``stop`` never signals a process the lab did not start.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from rally_osic.lab.services import Service


def read_cmdline(pid: int) -> str | None:
    """The command line of ``pid``, arguments joined by spaces."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0"))


def cmdline_matches(cmdline: str | None, match: str) -> bool:
    return bool(cmdline) and match in cmdline


def read_pidfile(pidfile: Path) -> int | None:
    try:
        text = pidfile.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def write_pidfile(pidfile: Path, pid: int) -> None:
    tmp = pidfile.with_suffix(".pid.tmp")
    tmp.write_text(f"{pid}\n")
    tmp.replace(pidfile)


def running_pid(service: Service) -> int | None:
    """The service's PID if its pidfile names a live process of it."""
    pid = read_pidfile(service.pidfile)
    if pid and cmdline_matches(read_cmdline(pid), service.match):
        return pid
    return None


def find_by_cmdline(match: str) -> list[int]:
    """Every PID whose command line contains ``match``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            if cmdline_matches(read_cmdline(int(entry.name)), match):
                pids.append(int(entry.name))
    return sorted(pids)


def clean_environment(extra: dict | None = None) -> dict:
    """This process's environment without ``OS_*`` variables, plus extra.

    oslo.config reads ``OS_<GROUP>__<OPTION>`` from the environment: a
    caller's ``OS_DATABASE__CONNECTION`` (how Rally is pointed at its own
    SQLite file) silently became nova's database; ``OS_AUTH_URL`` and
    friends of an openrc do not belong to the services either.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(extra or {})
    return env


def read_environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.partition(b"=") for item in raw.split(b"\0") if item)
    return {
        k.decode(errors="replace"): v.decode(errors="replace")
        for k, _, v in pairs
    }


def find_by_environ(program: str, wanted: dict[str, str]) -> list[int]:
    """PIDs of ``program`` whose environment has every ``wanted`` item."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        cmdline = read_cmdline(int(entry.name)) or ""
        if Path(cmdline.split(" ")[0]).name != program:
            continue
        environ = read_environ(int(entry.name))
        if all(environ.get(k) == v for k, v in wanted.items()):
            pids.append(int(entry.name))
    return pids


def stop_pids(pids: list[int]) -> None:
    for pid in pids:
        _signal(pid, signal.SIGTERM)


class NotRunnable(Exception):
    """A service cannot be started now (one line)."""


def node_argv(service: Service) -> list[str]:
    """The argv that starts ``service``: inside its node's namespaces."""
    if service.enter is None:
        return list(service.argv)
    pidfile, match = service.enter
    holder = read_pidfile(pidfile)
    if not holder or not cmdline_matches(read_cmdline(holder), match):
        raise NotRunnable(
            f"{service.name} runs inside the lab's node namespaces, and "
            f"their holder ({pidfile.stem}) is not running"
        )
    # nsenter execs the service: the PID is the service's.
    return [
        "nsenter",
        f"--target={holder}",
        "--mount",
        "--uts",
        "--net",
        "--",
        *service.argv,
    ]


def start(service: Service) -> int:
    """Start the service in its own session; write and return its PID."""
    argv = node_argv(service)
    service.log_file.parent.mkdir(parents=True, exist_ok=True)
    service.pidfile.parent.mkdir(parents=True, exist_ok=True)
    env = clean_environment(service.env)
    with open(service.log_file, "ab") as log:
        log.write(
            f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} rally-osic lab "
            f"starts: {' '.join(service.argv)}\n".encode()
        )
        log.flush()
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(service.pidfile.parent),
            start_new_session=True,
            close_fds=True,
        )
    write_pidfile(service.pidfile, process.pid)
    _record_session(service, process.pid)
    return process.pid


def _sessions_file(service: Service) -> Path:
    return service.pidfile.with_suffix(".sessions")


def _record_session(service: Service, sid: int) -> None:
    """Remember every session the lab started for the service.

    A kill -9 of a service's master (a fault) leaves its forked workers
    running in the old session, and the restore starts a new one: stop
    must find both, and only those.
    """
    with open(_sessions_file(service), "a") as sessions:
        sessions.write(f"{sid}\n")


def _recorded_sessions(service: Service) -> set[int]:
    try:
        lines = _sessions_file(service).read_text().split()
    except OSError:
        return set()
    return {int(line) for line in lines if line.isdigit()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A dead child that nobody reaped yet is a zombie, not a service.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _session_members(sessions: set[int], match: str) -> list[int]:
    members = []
    for pid in find_by_cmdline(match):
        try:
            if os.getsid(pid) in sessions:
                members.append(pid)
        except ProcessLookupError:
            pass
    return members


def stop(service: Service, timeout: float = 15.0) -> bool:
    """SIGTERM the service's sessions, SIGKILL after ``timeout``.

    Returns False when neither the pidfile nor the sessions the lab
    started name a live process of the service. Orphaned workers (their
    master was killed -9 by a fault, perhaps restarted since) are found by
    command line and by a session the lab started, and stopped too.
    """
    pid = read_pidfile(service.pidfile)
    sessions = _recorded_sessions(service)
    if pid is not None:
        sessions.add(pid)
    targets = set(_session_members(sessions, service.match))
    if pid is not None and cmdline_matches(read_cmdline(pid), service.match):
        targets.add(pid)
    if not targets:
        service.pidfile.unlink(missing_ok=True)
        _sessions_file(service).unlink(missing_ok=True)
        return False
    for target in targets:
        _signal(target, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_alive(target) for target in targets):
            break
        time.sleep(0.1)
    else:
        for target in targets:
            if _alive(target) and cmdline_matches(
                read_cmdline(target), service.match
            ):
                _signal(target, signal.SIGKILL)
        kill_deadline = time.monotonic() + 5
        while time.monotonic() < kill_deadline and any(
            _alive(target) for target in targets
        ):
            time.sleep(0.1)
    service.pidfile.unlink(missing_ok=True)
    _sessions_file(service).unlink(missing_ok=True)
    return True


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def connected_to(pids: list[int], port: int) -> bool:
    """True if one of ``pids`` has an established TCP connection to
    ``port`` (in its own network namespace), as kolla's healthcheck_port
    checks an RPC service's link to RabbitMQ."""
    want = f":{port:04X}"
    for pid in pids:
        inodes = _socket_inodes(pid)
        if not inodes:
            continue
        for table in ("tcp", "tcp6"):
            try:
                lines = Path(f"/proc/{pid}/net/{table}").read_text()
            except OSError:
                continue
            for line in lines.splitlines()[1:]:
                fields = line.split()
                if (
                    len(fields) > 9
                    and fields[3] == "01"
                    and fields[2].endswith(want)
                    and int(fields[9]) in inodes
                ):
                    return True
    return False


def check_health(
    health: str, timeout: float = 2.0, pids: list[int] | None = None
) -> tuple[bool, str]:
    """(healthy, detail) for a ``tcp://h:p``, ``unix:///path``,
    ``http://...`` or ``connected://h:p`` (one of ``pids`` holds a
    connection to it) target."""
    if not health:
        return True, "process"
    if health.startswith("unix://"):
        path = health[len("unix://") :]
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(timeout)
                sock.connect(path)
            return True, "unix socket ok"
        except OSError as exc:
            return False, f"unix socket: {exc.strerror or exc}"
    if health.startswith("connected://"):
        port = int(health.rsplit(":", 1)[1])
        if connected_to(pids or [], port):
            return True, f"connected to :{port}"
        return False, f"no connection to :{port}"
    if health.startswith("tcp://"):
        host, port = health[len("tcp://") :].rsplit(":", 1)
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                return True, "tcp ok"
        except OSError as exc:
            return False, f"tcp: {exc.strerror or exc}"
    try:
        with urllib.request.urlopen(health, timeout=timeout) as response:
            return True, f"http {response.status}"
    except urllib.error.HTTPError as exc:
        return exc.code < 500, f"http {exc.code}"
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"http: {reason}"


def _age(pid: int) -> float:
    """Seconds since ``pid`` started."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2]
        started = int(fields.split()[19]) / os.sysconf("SC_CLK_TCK")
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return uptime - started


def wait_healthy(service: Service, pid: int, deadline: float) -> str:
    """Wait until healthy; return "" or a one-line reason for failing."""
    while True:
        if not _alive(pid):
            return "exited"
        healthy, detail = check_health(
            service.health, pids=service_pids(service, pid)
        )
        if healthy and _age(pid) >= service.settle:
            return ""
        if time.monotonic() >= deadline:
            return f"not healthy in time ({detail})"
        time.sleep(0.2)


def tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def service_pids(service: Service, pid: int) -> list[int]:
    """The service's leader and its session's workers (same match)."""
    return sorted(set(_session_members({pid}, service.match)) | {pid})


def tree_rss_kib(service: Service, pid: int) -> int:
    """RSS of the service's leader plus its session's workers."""
    return sum(rss_kib(member) for member in service_pids(service, pid))

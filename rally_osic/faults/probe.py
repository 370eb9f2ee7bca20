# ruff: noqa: UP031, UP032, E501
"""Node-side probe: find a target's processes exactly, watch them, signal.

This file is sent as source text to ``python3 -`` on the node (over SSH,
or locally) and must stay self-contained: standard library only, Python
3.6+, no imports from this package.

A *target spec* (JSON) names the processes of one service exactly:

* ``pid_file``: the PID written there (inside the container's root file
  system when ``container`` is set);
* ``cmdline``: the exact argument vector (list), compared element by
  element, never as a pattern;
* ``unit``: the processes of one systemd unit (cgroup
  ``.../<unit>.service``);
* ``pids``: explicit PIDs (used for processes the hook started itself);
* ``container``: restrict all of the above to one LXC container (cgroup
  ``lxc.payload.<name>`` or ``lxc/<name>``);
* ``port``: a TCP port that is LISTENing while the service is healthy
  (looked up in the network namespace of the container, if any);
* ``address``: the IPv4 address that ``port`` listens on (a socket on
  every address counts too), when several nodes share one machine;
* ``connected_port``: a TCP port that one of the target's processes
  holds an established connection to while it is healthy (an RPC
  service's link to RabbitMQ), looked up in each process's own network
  namespace.

Modes (first argument):

* ``snapshot SPEC``: print one JSON observation;
* ``watch SPEC INTERVAL MAX_SECONDS``: print an observation at start and
  each time it changes, until MAX_SECONDS or stdout closes;
* ``signal SPEC SIGNAL``: resolve and signal the target in one step, print
  ``{"t": ..., "pids": [...], "signalled": [...]}``.
"""

import json
import os
import signal
import socket
import struct
import sys
import time

PROC = "/proc"


def _read(path, mode="r"):
    try:
        with open(path, mode) as fd:
            return fd.read()
    except OSError:
        return None


def list_pids(proc=PROC):
    try:
        names = os.listdir(proc)
    except OSError:
        return []
    return sorted(int(n) for n in names if n.isdigit())


def cmdline_of(pid, proc=PROC):
    raw = _read("%s/%d/cmdline" % (proc, pid), "rb")
    if not raw:
        return None
    return [
        a.decode("utf-8", "replace") for a in raw.rstrip(b"\0").split(b"\0")
    ]


def cgroup_paths(pid, proc=PROC):
    text = _read("%s/%d/cgroup" % (proc, pid))
    if text is None:
        return None
    return [
        line.split(":", 2)[2]
        for line in text.splitlines()
        if line.count(":") >= 2
    ]


def in_container(paths, name):
    """True if one cgroup path has a segment naming LXC container name."""
    for path in paths or ():
        segments = path.split("/")
        for i, seg in enumerate(segments):
            if seg == "lxc.payload." + name:
                return True
            if (
                seg == "lxc"
                and i + 1 < len(segments)
                and segments[i + 1] == name
            ):
                return True
    return False


def in_unit(paths, unit):
    if not unit.endswith(".service"):
        unit += ".service"
    return any(path.rstrip("/").split("/")[-1] == unit for path in paths or ())


def state_of(pid, proc=PROC):
    text = _read("%s/%d/stat" % (proc, pid))
    if not text:
        return None
    return text.rsplit(")", 1)[1].split()[0]


def ns_pid_map(pid, proc=PROC):
    """(host pid, innermost namespace pid) of a process."""
    text = _read("%s/%d/status" % (proc, pid)) or ""
    for line in text.splitlines():
        if line.startswith("NSpid:"):
            fields = line.split()[1:]
            return int(fields[-1])
    return pid


def container_pids(name, proc=PROC):
    return [
        p for p in list_pids(proc) if in_container(cgroup_paths(p, proc), name)
    ]


def container_init(name, proc=PROC):
    """Host PID of the container's init (namespace PID 1), or None."""
    for pid in container_pids(name, proc):
        if ns_pid_map(pid, proc) == 1:
            return pid
    return None


def resolve(spec, proc=PROC):
    """Host PIDs of the target, sorted; [] when it is not running."""
    container = spec.get("container")
    scope = container_pids(container, proc) if container else None
    if container and not scope:
        return []
    found = set()
    if spec.get("pids"):
        found |= {
            int(p)
            for p in spec["pids"]
            if os.path.exists("%s/%d" % (proc, int(p)))
        }
    if spec.get("pid_file"):
        path = spec["pid_file"]
        if container:
            init = container_init(container, proc)
            path = (
                "%s/%d/root/%s" % (proc, init, path.lstrip("/"))
                if init
                else None
            )
        text = _read(path) if path else None
        try:
            want = int((text or "").split()[0])
        except (ValueError, IndexError):
            want = None
        if want is not None:
            if container:
                found |= {p for p in scope if ns_pid_map(p, proc) == want}
            elif os.path.exists("%s/%d" % (proc, want)):
                found.add(want)
    candidates = scope if scope is not None else None
    if spec.get("cmdline"):
        want = list(spec["cmdline"])
        for pid in candidates if candidates is not None else list_pids(proc):
            if cmdline_of(pid, proc) == want:
                found.add(pid)
    if spec.get("unit"):
        for pid in candidates if candidates is not None else list_pids(proc):
            if in_unit(cgroup_paths(pid, proc), spec["unit"]):
                found.add(pid)
    # A zombie is dead for our purpose.
    return sorted(
        p for p in found if state_of(p, proc) not in (None, "Z", "X")
    )


def _hex_addresses(address):
    """How /proc/net/tcp and tcp6 write ``address`` (IPv4, in host byte
    order) and the any-address, each followed by ":"."""
    if not address:
        return None
    packed = socket.inet_aton(address)
    v4 = "%08X" % struct.unpack("=I", packed)[0]
    mapped = "0000000000000000FFFF0000" + v4
    return (v4 + ":", mapped + ":", "00000000:", "0" * 32 + ":")


def listening(port, netns_pid=None, proc=PROC, address=None):
    """True if some socket LISTENs on TCP port (on ``address`` or on
    every address, if given; else on any)."""
    base = "%s/%d/net" % (proc, netns_pid) if netns_pid else "%s/net" % proc
    want = ":%04X" % int(port)
    local = _hex_addresses(address)
    for name in ("tcp", "tcp6"):
        text = _read("%s/%s" % (base, name)) or ""
        for line in text.splitlines()[1:]:
            fields = line.split()
            if (
                len(fields) > 3
                and fields[3] == "0A"
                and fields[1].endswith(want)
                and (local is None or fields[1].startswith(local))
            ):
                return True
    return False


def connected(pids, port, proc=PROC):
    """True if one of pids has an ESTABLISHED TCP connection to port."""
    want = ":%04X" % int(port)
    for pid in pids:
        inodes = set()
        fd_dir = "%s/%d/fd" % (proc, pid)
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink("%s/%s" % (fd_dir, fd))
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        if not inodes:
            continue
        for name in ("tcp", "tcp6"):
            text = _read("%s/%d/net/%s" % (proc, pid, name)) or ""
            for line in text.splitlines()[1:]:
                fields = line.split()
                if (
                    len(fields) > 9
                    and fields[3] == "01"
                    and fields[2].endswith(want)
                    and fields[9] in inodes
                ):
                    return True
    return False


def observe(spec, proc=PROC):
    pids = resolve(spec, proc)
    obs = {
        "pids": pids,
        "frozen": bool(pids) and all(state_of(p, proc) == "T" for p in pids),
    }
    if spec.get("port"):
        netns = None
        if spec.get("container"):
            netns = container_init(spec["container"], proc)
        obs["port_open"] = bool(
            netns or not spec.get("container")
        ) and listening(spec["port"], netns, proc, spec.get("address"))
    if spec.get("connected_port"):
        obs["connected"] = connected(pids, spec["connected_port"], proc)
    return obs


def _emit(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def main(argv):
    mode, spec = argv[0], json.loads(argv[1])
    if mode == "snapshot":
        obs = observe(spec)
        obs["t"] = time.time()
        _emit(obs)
        return 0
    if mode == "signal":
        sig = getattr(signal, "SIG" + argv[2].upper().replace("SIG", ""))
        pids = resolve(spec)
        t = time.time()
        done = []
        for pid in pids:
            try:
                os.kill(pid, sig)
                done.append(pid)
            except OSError:
                pass
        _emit({"t": t, "pids": pids, "signalled": done})
        return 0 if done or not pids else 1
    if mode == "watch":
        interval, max_seconds = float(argv[2]), float(argv[3])
        deadline = time.time() + max_seconds
        last, beat = None, 0.0
        while time.time() < deadline:
            obs = observe(spec)
            now = time.time()
            try:
                if obs != last:
                    _emit(dict(obs, t=now))
                    last, beat = obs, now
                elif now - beat > 2.0:
                    # Heartbeat: a closed stdout ends the watcher.
                    _emit({"hb": now})
                    beat = now
            except (BrokenPipeError, OSError):
                return 0
            time.sleep(interval)
        return 0
    sys.stderr.write("unknown mode %s\n" % mode)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A host "node" of the rally-osic lab: its own namespaces, and a relay.

Standard library only (run with any Python 3.11 of the lab).

``osic_lab_node.py hold STATE_DIR NAME HOSTNAME``
    Unshares a mount, a UTS and a network namespace, makes the mounts
    private, mounts a sysfs of the new network namespace on /sys and a
    tmpfs on /run/netns (so that the namespaces the agents create there,
    qdhcp-... and qrouter-..., are this lab's alone and vanish with it),
    sets the hostname, brings ``lo`` up, and waits. Every process of the
    node is started with ``nsenter --target <this PID>``.

``osic_lab_node.py relay STATE_DIR HOLDER_PIDFILE PORT [PORT...]``
    The node's loopback is its own: an agent there reaches RabbitMQ (or
    nova's metadata API) at 127.0.0.1:PORT through this relay, which
    listens on 127.0.0.1:PORT inside the node's network namespace and
    connects to 127.0.0.1:PORT of the host's. No traffic leaves loopback.
"""

import ctypes
import os
import selectors
import signal
import socket
import subprocess
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWNET = 0x40000000
MS_REC = 16384
MS_PRIVATE = 1 << 18

libc = ctypes.CDLL(None, use_errno=True)


def _check(result, what):
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def mount(source, target, fstype, flags=0):
    _check(
        libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            None,
        ),
        f"mount {target}",
    )


def hold(name, hostname):
    _check(libc.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWNET), "unshare")
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("sysfs", "/sys", "sysfs")
    os.makedirs("/run/netns", exist_ok=True)
    mount("tmpfs", "/run/netns", "tmpfs")
    _check(libc.sethostname(hostname.encode(), len(hostname)), "sethostname")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    print(f"node {name} ({hostname}) ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        signal.pause()


def _listeners(holder_pid, ports):
    """Listening sockets on 127.0.0.1:PORT inside the holder's netns."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    node = os.open(f"/proc/{holder_pid}/ns/net", os.O_RDONLY)
    _check(libc.setns(node, CLONE_NEWNET), "setns node")
    sockets = {}
    try:
        for port in ports:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(64)
            sock.setblocking(False)
            sockets[sock] = port
    finally:
        _check(libc.setns(home, CLONE_NEWNET), "setns home")
        os.close(home)
        os.close(node)
    return sockets


def relay(holder_pidfile, ports):
    with open(holder_pidfile) as pidfile:
        holder = int(pidfile.read().split()[0])
    listeners = _listeners(holder, ports)
    selector = selectors.DefaultSelector()
    peers = {}
    for sock in listeners:
        selector.register(sock, selectors.EVENT_READ, "accept")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"relaying {ports} into the node of pid {holder}", flush=True)

    def close(sock):
        for end in (sock, peers.pop(sock, None)):
            if end is None:
                continue
            peers.pop(end, None)
            try:
                selector.unregister(end)
            except (KeyError, ValueError):
                pass
            end.close()

    while True:
        for key, _ in selector.select():
            sock = key.fileobj
            if key.data == "accept":
                try:
                    inner, _ = sock.accept()
                except BlockingIOError:
                    continue
                try:
                    outer = socket.create_connection(
                        ("127.0.0.1", listeners[sock]), timeout=5
                    )
                except OSError:
                    inner.close()  # the service is down: so is the link
                    continue
                for end in (inner, outer):
                    end.setblocking(False)
                    end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                peers[inner], peers[outer] = outer, inner
                selector.register(inner, selectors.EVENT_READ, "pipe")
                selector.register(outer, selectors.EVENT_READ, "pipe")
                continue
            try:
                data = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                close(sock)
                continue
            try:
                # A peer that takes no data for 10 s is dead.
                peers[sock].settimeout(10)
                peers[sock].sendall(data)
                peers[sock].setblocking(False)
            except (OSError, KeyError):
                close(sock)


def main(argv):
    mode = argv[0]
    if mode == "hold":
        _state, name, hostname = argv[1:4]
        hold(name, hostname)
    elif mode == "relay":
        _state, pidfile, *ports = argv[1:]
        relay(pidfile, [int(port) for port in ports])
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv[1:])

# ruff: noqa: UP004, UP031
"""Echo responders and a memory-dirtying load, for the probed servers.

Self-contained (standard library, Python 3.6+): the workload's user data
carries this file to servers whose image has python3 (every image with
cloud-init has it); ``responder.c`` is the same for busybox guests.

    python3 responder.py --udp 7 --tcp 7 [--dirty-mib 64 --dirty-mibps 32]
                         [--max-seconds N]

* UDP: every datagram is sent back to its sender unchanged.
* TCP: every connection gets back what it sends, byte for byte.
* ``--dirty-mib M --dirty-mibps R``: rewrites M MiB of memory, R MiB/s
  (0: as fast as it can), which is the dirty rate a live migration has to
  keep up with.
"""

import argparse
import os
import socket
import threading
import time


def udp_echo(sock):
    while True:
        try:
            data, peer = sock.recvfrom(65535)
            sock.sendto(data, peer)
        except OSError:
            time.sleep(0.01)


def tcp_client(conn):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            conn.sendall(data)
    except OSError:
        pass
    finally:
        conn.close()


def tcp_echo(server):
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            time.sleep(0.01)
            continue
        threading.Thread(target=tcp_client, args=(conn,), daemon=True).start()


def dirty(mib, mibps):
    page = 4096
    block = bytearray(mib * 1024 * 1024)
    chunk = 1024 * 1024
    value = 0
    while True:
        start = time.monotonic()
        value = (value + 1) % 251
        for offset in range(0, len(block), page):
            block[offset] = value
            if mibps and offset % chunk == 0 and offset:
                due = start + (offset / chunk) / float(mibps)
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        if not mibps:
            time.sleep(0.001)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--udp", type=int, default=7)
    parser.add_argument("--tcp", type=int, default=7)
    parser.add_argument("--dirty-mib", type=int, default=0)
    parser.add_argument("--dirty-mibps", type=float, default=0)
    parser.add_argument("--max-seconds", type=float, default=0)
    parser.add_argument("--ready-file")
    args = parser.parse_args()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # A starved responder must answer late, not have the kernel drop the
    # probes it had no time to read (they would count as an outage).
    for option in ("SO_RCVBUFFORCE", "SO_RCVBUF"):
        try:
            udp.setsockopt(socket.SOL_SOCKET, getattr(socket, option), 8 << 20)
            break
        except (AttributeError, OSError):
            continue
    udp.bind((args.bind, args.udp))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((args.bind, args.tcp))
    tcp.listen(16)
    jobs = [(udp_echo, (udp,)), (tcp_echo, (tcp,))]
    if args.dirty_mib > 0:
        jobs.append((dirty, (args.dirty_mib, args.dirty_mibps)))
    for target, job_args in jobs:
        threading.Thread(target=target, args=job_args, daemon=True).start()
    if args.ready_file:
        with open(args.ready_file, "w") as fd:
            fd.write("%d\n" % os.getpid())
    if args.max_seconds > 0:
        time.sleep(args.max_seconds)
    else:
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()

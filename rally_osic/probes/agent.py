# ruff: noqa: UP004, UP031, UP032, UP041
"""The probe agent: UDP echo probes and TCP continuity streams.

This file is sent as source text to ``python3 -`` wherever the servers'
addresses are reachable (this machine, a node over SSH, a network
namespace, an LXC container) and must stay self-contained: standard
library only, Python 3.6+, no imports from this package.

It reads one JSON command per line on stdin and answers one JSON line on
stdout per command. Every loop is bounded: a session ends after its
``max_seconds``, and the agent itself after ``--max-seconds`` or when
stdin closes.

* ``{"op": "ping"}`` -> ``{"ack": "ping", "t": wall-clock}``;
* ``{"op": "check", "host": H, "port": P, "timeout": S}``: probe until
  one echo comes back -> ``{"ack": "check", "ok": bool, "rtt": s}``;
* ``{"op": "start", "id": ID, "max_seconds": S, "udp": {"host", "port",
  "interval"}, "tcp": {"host", "port", "interval"}}`` (either may be
  missing) starts a session;
* ``{"op": "stop", "id": ID, "grace": S}`` ends it, waits up to ``grace``
  seconds for late echoes, and answers the session's record::

      {"ack": "stop", "id": ID, "t": ...,
       "udp": {"interval", "t0", "last_slot", "sent", "answered",
               "lost": [[first, last], ...], "skipped": [[...]],
               "rtt_median", "rtt_max", "errors"},
       "tcp": {"interval", "message_bytes", "sent", "received",
               "lost_bytes", "duplicated_bytes", "reordered_bytes",
               "max_stall", "stall_start", "reconnects", "error"}}

UDP probe ``n`` is sent in slot ``n``, due at ``t0 + n * interval``; a
slot the sender woke up too late for is skipped rather than sent late
(see ``rally_osic/probes/outages.py`` for the arithmetic). Times are this
machine's wall clock (``time.time()``), measured with the monotonic clock.
"""

import json
import socket
import struct
import sys
import threading
import time

UDP_MAGIC = b"OSIU"
UDP_FORMAT = "!4sIQ"  # magic, session token, slot
UDP_SIZE = struct.calcsize(UDP_FORMAT)
TCP_MAGIC = b"OSIT"
TCP_FORMAT = "!4sIQ"  # magic, session token, sequence number
TCP_SIZE = struct.calcsize(TCP_FORMAT)
WALL_OFFSET = time.time() - time.monotonic()


def wall(mono):
    return mono + WALL_OFFSET


def set_rcvbuf(sock, size):
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    for option in (force, socket.SO_RCVBUF):
        if option is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, size)
            return
        except OSError:
            continue


def runs_of(flags, limit):
    """Runs of indices < limit where flags[i] is set: [[first, last]]."""
    runs = []
    start = None
    for i in range(limit):
        if flags[i]:
            if start is None:
                start = i
        elif start is not None:
            runs.append([start, i - 1])
            start = None
    if start is not None:
        runs.append([start, limit - 1])
    return runs


class StreamTally(object):
    """Classifies the sequence numbers a TCP echo stream brings back.

    Pure: no I/O. ``feed(seq, t)`` for each message received, in order
    of arrival; ``sent`` is the number of messages written.
    """

    def __init__(self, capacity):
        self.seen = bytearray(capacity)
        self.highest = -1
        self.received = 0
        self.duplicated = 0
        self.reordered = 0
        self.last_t = None
        self.max_stall = 0.0
        self.stall_start = None

    def feed(self, seq, t):
        if 0 <= seq < len(self.seen):
            if self.seen[seq]:
                self.duplicated += 1
            else:
                self.seen[seq] = 1
                self.received += 1
                if seq < self.highest:
                    self.reordered += 1
                self.highest = max(self.highest, seq)
        self.gap(t)

    def gap(self, t):
        if self.last_t is not None and t - self.last_t > self.max_stall:
            self.max_stall = t - self.last_t
            self.stall_start = self.last_t
        self.last_t = t

    def lost(self, sent):
        return sent - sum(self.seen[:sent])


class UdpProbe(object):
    def __init__(self, host, port, interval, max_seconds, token):
        self.address = (host, int(port))
        self.interval = float(interval)
        self.slots = max(1, int(max_seconds / self.interval) + 1)
        self.sent = bytearray(self.slots)
        self.answered = bytearray(self.slots)
        self.token = token & 0xFFFFFFFF
        self.rtts = []
        self.errors = 0
        self.last_slot = -1
        self._stop = threading.Event()
        self._done = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # Room for seconds of echoes: a starved receiver thread must find
        # them late, not have the kernel drop them as "lost".
        set_rcvbuf(self.sock, 8 << 20)
        self.sock.settimeout(0.1)
        self.t0 = time.monotonic() + 0.005
        self._threads = [
            threading.Thread(target=self._send, daemon=True),
            threading.Thread(target=self._receive, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _send(self):
        slot = 0
        while not self._stop.is_set() and slot < self.slots:
            due = self.t0 + slot * self.interval
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)
                now = time.monotonic()
            late = int((now - self.t0) / self.interval)
            if late > slot:
                slot = min(late, self.slots - 1)  # woke up late: skip
            packet = struct.pack(UDP_FORMAT, UDP_MAGIC, self.token, slot)
            try:
                self.sock.sendto(packet, self.address)
            except OSError:
                self.errors += 1  # unreachable counts as sent and lost
            self.sent[slot] = 1
            self.last_slot = slot
            slot += 1

    def _receive(self):
        while not self._done.is_set():
            try:
                data = self.sock.recv(64)
            except socket.timeout:
                continue
            except OSError:
                if self._stop.is_set():
                    break
                time.sleep(0.01)
                continue
            now = time.monotonic()
            if len(data) < UDP_SIZE:
                continue
            magic, token, slot = struct.unpack(UDP_FORMAT, data[:UDP_SIZE])
            if magic != UDP_MAGIC or token != self.token:
                continue
            if 0 <= slot < self.slots and not self.answered[slot]:
                self.answered[slot] = 1
                if len(self.rtts) < 100000:
                    self.rtts.append(now - (self.t0 + slot * self.interval))

    def stop(self, grace):
        self._stop.set()
        self._threads[0].join(5)
        end = time.monotonic() + grace
        last = self.last_slot
        while time.monotonic() < end:
            if last < 0 or self.answered[last]:
                break
            time.sleep(0.01)
        self._done.set()
        self._threads[1].join(2)
        self.sock.close()
        return self.record()

    def record(self):
        limit = self.last_slot + 1
        lost = bytearray(
            1 if self.sent[i] and not self.answered[i] else 0
            for i in range(limit)
        )
        skipped = bytearray(0 if self.sent[i] else 1 for i in range(limit))
        rtts = sorted(self.rtts)
        return {
            "interval": self.interval,
            "t0": wall(self.t0),
            "last_slot": self.last_slot,
            "sent": sum(self.sent[:limit]),
            "answered": sum(self.answered[:limit]),
            "lost": runs_of(lost, limit),
            "skipped": runs_of(skipped, limit),
            "rtt_median": rtts[len(rtts) // 2] if rtts else None,
            "rtt_max": rtts[-1] if rtts else None,
            "errors": self.errors,
        }


class TcpStream(object):
    def __init__(self, host, port, interval, max_seconds, token):
        self.address = (host, int(port))
        self.interval = float(interval)
        self.capacity = max(1, int(max_seconds / self.interval) + 1)
        self.tally = StreamTally(self.capacity)
        self.token = token & 0xFFFFFFFF
        self.sent = 0
        self.reconnects = 0
        self.error = None
        self.sock = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._connect(first=True)
        self._threads = [
            threading.Thread(target=self._send, daemon=True),
            threading.Thread(target=self._receive, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _connect(self, first=False):
        try:
            sock = socket.create_connection(self.address, timeout=2)
        except OSError as exc:
            self.error = "connect: %s" % exc
            return False
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(0.1)
        with self._lock:
            old, self.sock = self.sock, sock
            if not first:
                self.reconnects += 1
        if old is not None:
            old.close()
        return True

    def _send(self):
        t0 = time.monotonic()
        n = 0
        while not self._stop.is_set() and self.sent < self.capacity:
            due = t0 + n * self.interval
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)
            n = max(n + 1, int((time.monotonic() - t0) / self.interval))
            sock = self.sock
            if sock is None:
                if not self._connect():
                    time.sleep(0.2)
                continue
            packet = struct.pack(TCP_FORMAT, TCP_MAGIC, self.token, self.sent)
            try:
                sock.sendall(packet)
            except socket.timeout:
                continue  # send buffer full: TCP is stalled, not broken
            except OSError as exc:
                self.error = "send: %s" % exc
                self._reconnect(sock)
                continue
            self.sent += 1

    def _reconnect(self, broken):
        with self._lock:
            if self.sock is broken:
                self.sock = None
        broken.close()

    def _receive(self):
        buffer = b""
        while not self._finished.is_set():
            sock = self.sock
            if sock is None:
                time.sleep(0.01)
                continue
            try:
                data = sock.recv(65536)
            except socket.timeout:
                continue
            except OSError as exc:
                if self._finished.is_set():
                    break
                self.error = "recv: %s" % exc
                self._reconnect(sock)
                buffer = b""
                continue
            if not data:
                self.error = "closed by the peer"
                self._reconnect(sock)
                buffer = b""
                continue
            now = time.monotonic()
            buffer += data
            usable = len(buffer) - len(buffer) % TCP_SIZE
            for offset in range(0, usable, TCP_SIZE):
                magic, token, seq = struct.unpack(
                    TCP_FORMAT, buffer[offset : offset + TCP_SIZE]
                )
                if magic == TCP_MAGIC and token == self.token:
                    self.tally.feed(seq, now)
            buffer = buffer[usable:]

    def stop(self, grace):
        self._stop.set()
        self._threads[0].join(5)
        end = time.monotonic() + grace
        while time.monotonic() < end:
            if self.tally.received >= self.sent:
                break
            time.sleep(0.01)
        self._finished.set()
        self._threads[1].join(2)
        if self.sock is not None:
            self.sock.close()
        return self.record()

    def record(self):
        tally = self.tally
        return {
            "interval": self.interval,
            "message_bytes": TCP_SIZE,
            "sent": self.sent,
            "received": tally.received,
            "lost_bytes": tally.lost(self.sent) * TCP_SIZE,
            "duplicated_bytes": tally.duplicated * TCP_SIZE,
            "reordered_bytes": tally.reordered * TCP_SIZE,
            "max_stall": tally.max_stall if tally.received else None,
            "stall_start": wall(tally.stall_start)
            if tally.stall_start is not None
            else None,
            "reconnects": self.reconnects,
            "error": self.error,
        }


def check(host, port, timeout):
    """Probe every 0.1 s until one echo comes back (bounded)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(0.1)
    deadline = time.monotonic() + float(timeout)
    slot = 0
    try:
        while time.monotonic() < deadline:
            sent = time.monotonic()
            try:
                sock.sendto(
                    struct.pack(UDP_FORMAT, UDP_MAGIC, 0, slot),
                    (host, int(port)),
                )
                data = sock.recv(64)
            except OSError:
                time.sleep(0.1)
                slot += 1
                continue
            if data[:4] == UDP_MAGIC:
                return {"ok": True, "rtt": time.monotonic() - sent}
            slot += 1
    finally:
        sock.close()
    return {"ok": False, "rtt": None}


class Session(object):
    def __init__(self, spec, token):
        max_seconds = float(spec.get("max_seconds", 600))
        self.deadline = time.monotonic() + max_seconds
        self.udp = self.tcp = None
        self.tcp_error = None
        udp = spec.get("udp")
        if udp:
            self.udp = UdpProbe(
                udp["host"],
                udp["port"],
                udp.get("interval", 0.01),
                max_seconds,
                token,
            )
        tcp = spec.get("tcp")
        if tcp:
            self.tcp = TcpStream(
                tcp["host"],
                tcp["port"],
                tcp.get("interval", 0.01),
                max_seconds,
                token,
            )

    def stop(self, grace):
        out = {}
        if self.udp:
            out["udp"] = self.udp.stop(grace)
        if self.tcp:
            out["tcp"] = self.tcp.stop(grace)
        return out


def serve(max_seconds):
    sys.setswitchinterval(0.0005)
    sessions = {}
    token = int(time.time() * 1000) & 0xFFFFFF
    deadline = time.monotonic() + max_seconds
    lines = iter(sys.stdin.readline, "")
    timer = threading.Timer(max_seconds, lambda: sys.stdin.close())
    timer.daemon = True
    timer.start()

    def answer(obj):
        obj["t"] = time.time()
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    for line in lines:
        if time.monotonic() > deadline:
            break
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
            op = cmd["op"]
            if op == "ping":
                answer({"ack": "ping"})
            elif op == "check":
                result = check(cmd["host"], cmd["port"], cmd["timeout"])
                result["ack"] = "check"
                answer(result)
            elif op == "start":
                token += 1
                sessions[cmd["id"]] = Session(cmd, token)
                answer({"ack": "start", "id": cmd["id"]})
            elif op == "stop":
                session = sessions.pop(cmd["id"])
                result = session.stop(float(cmd.get("grace", 1.0)))
                result.update({"ack": "stop", "id": cmd["id"]})
                answer(result)
            else:
                answer({"ack": op, "error": "unknown op"})
        except Exception as exc:  # one bad command must not end the agent
            answer(
                {"ack": "error", "error": "%s: %s" % (type(exc).__name__, exc)}
            )
    for session in sessions.values():
        session.stop(0)


def main(argv):
    max_seconds = 3600.0
    if len(argv) > 2 and argv[1] == "--max-seconds":
        max_seconds = float(argv[2])
    serve(max_seconds)


if __name__ == "__main__":
    main(sys.argv)

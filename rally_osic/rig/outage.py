"""Ground truth for the network probe: outages of exactly T ms.

Two network namespaces, the prober's (``-p``) and the responder's
(``-r``), hang on a bridge in a third (``-b``) through veth pairs.
:meth:`OutagePair.inject` adds a ``pfifo limit 0`` qdisc (drops every
packet) to both bridge ports over netlink (pyroute2), sleeps, and removes
them. Each netlink call takes 1-3 ms, so the true outage is taken from
the calls' own timestamps: from the middle of the first ``add`` (requests
stop) to the middle of the last ``del`` (replies flow again), known to
half the longer call (:attr:`Injected.uncertainty`). On a loaded machine
a call is sometimes held up for tens of ms; such an injection is not
ground truth, and the tests and the benchmark measure again
(:data:`PRECISE`).

netem, tbf, ping, iptables and nft are absent on this kind of machine;
taking an endpoint's link down instead makes TCP skip its backoff and
adds about 1 s of ARP. Every packet stays inside the namespaces.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time

from rally_osic.probes import responder as responder_module
from rally_osic.rig.hosts import PREFIX, _ip, sweep_stale

SUBNET = "10.78.0"
PRECISE = 0.0015  # s: the largest edge uncertainty taken as ground truth
TRIES = 5


@dataclasses.dataclass(frozen=True)
class Injected:
    start: float  # time.time(): middle of the call that closed the path
    end: float  # middle of the call that opened it again
    uncertainty: float  # half the longer of those two calls

    @property
    def duration(self) -> float:
        return self.end - self.start


class OutagePair:
    _count = 0

    def __init__(self, port: int = 7) -> None:
        OutagePair._count += 1
        base = f"{PREFIX}{os.getpid()}-o{OutagePair._count}"
        self.ns_probe, self.ns_responder, self.ns_bridge = (
            f"{base}-p",
            f"{base}-r",
            f"{base}-b",
        )
        self.port = port
        self.responder_ip = f"{SUBNET}.2"
        self.responder: subprocess.Popen | None = None
        self._made: list[str] = []

    @property
    def probe_location(self) -> dict:
        return {"netns": self.ns_probe}

    def up(self) -> OutagePair:
        sweep_stale()
        for ns in (self.ns_probe, self.ns_responder, self.ns_bridge):
            _ip("netns", "add", ns)
            self._made.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        br = ("-n", self.ns_bridge)
        _ip(*br, "link", "add", "br0", "type", "bridge", "forward_delay", "0")
        _ip(*br, "link", "set", "br0", "up")
        for ns, port, address in (
            (self.ns_probe, "pp", f"{SUBNET}.1"),
            (self.ns_responder, "pr", self.responder_ip),
        ):
            _ip(*br, "link", "add", port, "type", "veth", "peer", "eth0")
            _ip(*br, "link", "set", "eth0", "netns", ns)
            _ip(*br, "link", "set", port, "master", "br0", "up")
            _ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
        self.responder = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                self.ns_responder,
                sys.executable,
                responder_module.__file__,
                "--udp",
                str(self.port),
                "--tcp",
                str(self.port),
                "--max-seconds",
                "3600",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    def inject(self, seconds: float) -> Injected:
        from pyroute2 import NetNS

        with NetNS(self.ns_bridge) as ipr:
            ports = [ipr.link_lookup(ifname=name)[0] for name in ("pr", "pp")]
            before = time.time()
            ipr.tc("add", "pfifo", ports[0], limit=0)
            after = time.time()
            start, closing = (before + after) / 2, after - before
            ipr.tc("add", "pfifo", ports[1], limit=0)
            time.sleep(seconds)
            ipr.tc("del", "pfifo", ports[0])
            before = time.time()
            ipr.tc("del", "pfifo", ports[1])
            after = time.time()
            end, opening = (before + after) / 2, after - before
        return Injected(start, end, max(closing, opening) / 2)

    def close(self) -> None:
        if self.responder is not None and self.responder.poll() is None:
            os.killpg(self.responder.pid, signal.SIGTERM)
            try:
                self.responder.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.responder.pid, signal.SIGKILL)
                self.responder.wait(10)
        while self._made:
            _ip("netns", "del", self._made.pop(), check=False)

    def __enter__(self) -> OutagePair:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

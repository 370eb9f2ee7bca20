"""Commands inside a lab node's namespaces, found by its holder's PID
(``osic_lab_node.py hold``), and the processes that live in them."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from rally_osic.lab import procs, steps
from rally_osic.lab.config import LabConfig


def all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _ns_inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def namespaces_of(pid: int) -> set[int]:
    """The inodes of a process's network and mount namespaces."""
    return {
        inode
        for kind in ("net", "mnt")
        if (inode := _ns_inode(f"/proc/{pid}/ns/{kind}")) is not None
    }


def namespace_inodes(holder: int) -> set[int]:
    """A node's own mount and network namespaces and every named network
    namespace inside it (qdhcp-..., qrouter-...)."""
    inodes = namespaces_of(holder)
    for path in Path(f"/proc/{holder}/root/run/netns").glob("*"):
        inode = _ns_inode(str(path))
        if inode is not None:
            inodes.add(inode)
    return inodes


def kill_strays(marker: str, inodes: set[int], keep: set[int]) -> list[int]:
    """SIGKILL every process (but ``keep`` and this one) that names
    ``marker`` on its command line or lives in one of the namespaces
    ``inodes``: what a node's services started and left. Their PIDs."""
    strays = []
    for pid in all_pids():
        if pid in keep or pid == os.getpid():
            continue
        cmdline = procs.read_cmdline(pid) or ""
        if marker in cmdline or namespaces_of(pid) & inodes:
            strays.append(pid)
    for pid in strays:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return strays


class Node:
    """Commands inside a lab node's namespaces (by its holder's PID)."""

    def __init__(self, config: LabConfig, pid: int | None) -> None:
        if not pid:
            raise steps.SetupError("a node of the libvirt hosts is not up")
        self.config = config
        self.pid = pid

    def enter(self, *kinds: str) -> list[str]:
        return ["nsenter", f"--target={self.pid}", *kinds, "--"]

    def ip(self, *args: str) -> str:
        return steps.run_logged(
            self.config, [*self.enter("--net"), "ip", *args]
        )

    def has_link(self, name: str) -> bool:
        # "7: m1@if6: <BROADCAST,...> ..."
        return any(
            line.split(": ")[1].split("@")[0] == name
            for line in self.ip("-o", "link", "show").splitlines()
            if ": " in line
        )

    def has_address(self, device: str, address: str) -> bool:
        if not self.has_link(device):
            return False
        return f" {address}/" in self.ip("-o", "addr", "show", "dev", device)

    def veth(self, here: str, other: Node, there: str, bridge: str) -> None:
        """A veth pair from this node's ``bridge`` to ``there`` in
        ``other``, both ends up."""
        if not self.has_link(here):
            self.ip(
                "link", "add", here, "type", "veth", "peer", "name", there,
                "netns", str(other.pid),
            )  # fmt: skip
        self.ip("link", "set", here, "master", bridge, "up")
        other.ip("link", "set", there, "up")

    def bind_mounts(self, pairs: list[tuple[Path, Path]]) -> None:
        """Bind-mount each source on its target in the node's mount
        namespace (targets already mounted are left)."""
        mounted = _mount_points(self.pid)
        for source, target in pairs:
            if str(target) in mounted:
                continue
            steps.run_logged(
                self.config,
                [
                    *self.enter("--mount"),
                    "sh",
                    "-c",
                    'mkdir -p "$2" && mount --bind "$1" "$2"',
                    "bind",
                    str(source),
                    str(target),
                ],
            )


def _mount_points(pid: int) -> set[str]:
    points = set()
    with open(f"/proc/{pid}/mountinfo") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            if len(fields) > 4:
                points.add(fields[4])
    return points

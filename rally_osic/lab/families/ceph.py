"""A one-node Ceph (mon, mgr, one bluestore OSD on a file) for Cinder's
RBD driver, and later Nova's ephemeral disks (images_type = rbd).

Debian's Ceph 16; messenger v1 only, with the mon port and the OSD/mgr
port range offset per lab; auth none (a lab choice; cephx would be the
real one). The python3-rados and python3-rbd bindings (Debian's, built
for CPython 3.11; none on PyPI) are linked into the venvs that need them
by a .pth file naming a directory with just those two modules.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
import uuid
from pathlib import Path

from rally_osic.lab import steps
from rally_osic.lab.config import CEPH_DAEMON_PORTS, HOST, LabConfig
from rally_osic.lab.families import Family
from rally_osic.lab.services import Service, command

BINDINGS = ("rados", "rbd")
MON_ID = "a"
OSD_ID = "0"
MGR_ID = "x"
POOLS = ("volumes",)
# Nova's RBD backend offers the pool's size as the host's DISK_GB: 32 GiB
# holds the study's six lab-large servers (4 GB each) with room for images
# and volumes. The file is sparse: only what is written takes space.
BLOCK_SIZE = 32 << 30


def conf(config: LabConfig) -> Path:
    return config.etc / "ceph" / "ceph.conf"


def ceph_cli(config: LabConfig, *args: str) -> list[str]:
    return ["ceph", "-c", str(conf(config)), "--connect-timeout", "20", *args]


def ceph_command(config: LabConfig, *args: str, tries: int = 3) -> str:
    """A ceph CLI call, retried: the mon of a cluster that started a
    second ago may refuse one (its commands are idempotent here)."""
    for attempt in range(tries):
        try:
            return steps.run_logged(config, ceph_cli(config, *args))
        except steps.SetupError:
            if attempt == tries - 1:
                raise
            time.sleep(2)
    return ""


def fsid(config: LabConfig) -> str:
    path = config.data / "ceph" / "fsid"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(uuid.uuid4()) + "\n")
    return path.read_text().strip()


def link_bindings(venv: Path) -> None:
    """Make Debian's rados and rbd modules importable in ``venv``."""
    for name in BINDINGS:
        steps.link_debian_modules(
            venv, "ceph", f"python3-{name}", (f"{name}.cpython-*.so",)
        )


class Ceph(Family):
    name = "ceph"
    optional = True
    summary = "one-node Ceph 16: mon, mgr, one bluestore OSD on a file"
    debian_packages = (
        "ceph-mon",
        "ceph-osd",
        "ceph-mgr",
        "ceph-common",
        "python3-rados",
        "python3-rbd",
    )
    templates = (("ceph.conf", "ceph/ceph.conf"),)

    def substitutions(self, config):
        low = config.port("ceph-daemons")
        return {
            "ceph_fsid": fsid(config),
            "ceph_port_min": str(low),
            "ceph_port_max": str(low + CEPH_DAEMON_PORTS - 1),
            "ceph_block_size": str(BLOCK_SIZE),
        }

    def render(self, config, values):
        super().render(config, values)
        (config.run / "ceph").mkdir(parents=True, exist_ok=True)
        for sub in (f"mon-{MON_ID}", f"osd-{OSD_ID}", f"mgr-{MGR_ID}"):
            (config.data / "ceph" / sub).mkdir(parents=True, exist_ok=True)

    def services(self, config: LabConfig) -> list[Service]:
        low = config.port("ceph-daemons")
        ports = tuple(range(low, low + CEPH_DAEMON_PORTS))
        path = conf(config)
        daemons = []
        for binary, ident, extra in (
            ("ceph-mon", MON_ID, {"port": config.port("ceph-mon")}),
            ("ceph-osd", OSD_ID, {"extra_ports": ports, "settle": 3.0}),
            ("ceph-mgr", MGR_ID, {"settle": 3.0}),
        ):
            argv = (f"/usr/bin/{binary}", "-f", "-i", ident, "-c", str(path))
            health = ""
            if binary == "ceph-mon":
                health = f"tcp://{HOST}:{config.port('ceph-mon')}"
            daemons.append(
                command(
                    config,
                    binary,
                    argv,
                    f"{binary} -f -i {ident} -c {path}",
                    health=health,
                    kind="infra",
                    family=self.name,
                    **extra,
                )
            )
        return daemons

    def setup(self, run) -> None:
        config = run.config
        mon_data = config.data / "ceph" / f"mon-{MON_ID}"
        if not steps.is_done(config, "ceph-mon"):
            shutil.rmtree(mon_data, ignore_errors=True)
            mon_data.mkdir(parents=True)
            monmap = config.data / "ceph" / "monmap"
            steps.run_logged(
                config,
                [
                    "monmaptool",
                    "--create",
                    "--clobber",
                    # Messenger v1 only: "--add" would take the address
                    # as v2, which the daemons (ms_bind_msgr2 false)
                    # cannot reach ("Address family not supported").
                    "--addv",
                    MON_ID,
                    f"[v1:{HOST}:{config.port('ceph-mon')}]",
                    "--fsid",
                    fsid(config),
                    str(monmap),
                ],
            )
            steps.run_logged(
                config,
                [
                    "ceph-mon",
                    "--mkfs",
                    "-i",
                    MON_ID,
                    "--monmap",
                    str(monmap),
                    "-c",
                    str(conf(config)),
                ],
            )
            steps.mark_done(config, "ceph-mon")
        run.start("ceph-mon")
        if not steps.is_done(config, "ceph-osd"):
            self._make_osd(config)
        elif run.started_at("ceph-osd") is None:
            self._grow_osd(config)
        run.start("ceph-osd")
        run.start("ceph-mgr")
        if not steps.is_done(config, "ceph-pools"):
            for pool in POOLS:
                ceph_command(config, "osd", "pool", "create", pool, "8")
                steps.run_logged(
                    config,
                    ["rbd", "-c", str(conf(config)), "pool", "init", pool],
                    timeout=120,
                )
            steps.mark_done(config, "ceph-pools")

    def _grow_osd(self, config: LabConfig) -> None:
        """An OSD that an older lab made smaller than BLOCK_SIZE grows in
        place, its images kept: the file, then bluestore's view of it.
        Bluestore's own label says whether it is done, so a grow that was
        interrupted is finished by the next ``lab up``."""
        block = config.data / "ceph" / f"osd-{OSD_ID}.bluestore"
        if not block.is_file():
            return
        label = steps.run_logged(
            config, ["ceph-bluestore-tool", "show-label", "--dev", str(block)]
        )
        if next(iter(json.loads(label).values()))["size"] >= BLOCK_SIZE:
            return
        if block.stat().st_size < BLOCK_SIZE:
            os.truncate(block, BLOCK_SIZE)
        osd_data = config.data / "ceph" / f"osd-{OSD_ID}"
        steps.run_logged(
            config,
            [
                "ceph-bluestore-tool",
                "bluefs-bdev-expand",
                "--path",
                str(osd_data),
            ],
            timeout=300,
        )

    def _make_osd(self, config: LabConfig) -> None:
        osd_data = config.data / "ceph" / f"osd-{OSD_ID}"
        shutil.rmtree(osd_data, ignore_errors=True)
        (config.data / "ceph" / f"osd-{OSD_ID}.bluestore").unlink(
            missing_ok=True
        )
        osd_data.mkdir(parents=True)
        listed = ceph_command(config, "osd", "ls")
        if OSD_ID not in listed.split():
            ceph_command(config, "osd", "create")
        steps.run_logged(
            config,
            [
                "ceph-osd",
                "-i",
                OSD_ID,
                "--mkfs",
                "-c",
                str(conf(config)),
            ],
            timeout=300,
        )
        host = f"lab-{socket.gethostname()}-{config.port('ceph-mon')}"
        for args in (
            ("osd", "crush", "add-bucket", host, "host"),
            ("osd", "crush", "move", host, "root=default"),
            ("osd", "crush", "add", f"osd.{OSD_ID}", "1.0", f"host={host}"),
        ):
            ceph_command(config, *args)
        steps.mark_done(config, "ceph-osd")

    def ready(self, run) -> None:
        from rally_osic.lab import catalog

        config = run.config

        def osd_up() -> bool:
            try:
                out = steps.run_logged(
                    config, ceph_cli(config, "osd", "stat", "-f", "json")
                )
                return json.loads(out).get("num_up_osds", 0) >= 1
            except (steps.SetupError, ValueError):
                return False

        catalog.wait_until(
            osd_up, 90, "ceph's OSD", str(config.log / "ceph-osd.log")
        )


FAMILY = Ceph()

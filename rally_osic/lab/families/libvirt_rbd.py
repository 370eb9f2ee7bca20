"""Shared storage for the libvirt hosts: their guests' disks on the lab's
Ceph, as on the study's Ceph cloud (``lab up --computes libvirt
--storage shared``).

Nova's ``images_type = rbd`` keeps each guest's root disk and config
drive as RBD images in the pool ``vms``; QEMU on each host opens them
with librbd (Debian's qemu-block-extra) through the host's relay, which
then also carries the mon's port and the OSD's port range. Both hosts
see the same disks, so a live migration copies memory only (no block
migration), and libvirt accepts the tunnelled transport, which it
refuses as unsafe for local disks. Only the kernel and initramfs stay
in each host's instances directory (Nova fetches them again on the
target). Without this family (``--storage local``) the hosts
block-migrate their local disks.
"""

from __future__ import annotations

from pathlib import Path

from rally_osic.lab import steps
from rally_osic.lab.config import LabConfig
from rally_osic.lab.families import Family
from rally_osic.lab.families import ceph as ceph_family

NAME = "libvirt-rbd"
POOL = "vms"
HOSTS = ("lab-kvm-1", "lab-kvm-2")


def enabled(config: LabConfig) -> bool:
    return NAME in config.families


def relay_ports(config: LabConfig) -> list[int]:
    """The mon's port and the OSD's and mgr's range, for librbd."""
    from rally_osic.lab.config import CEPH_DAEMON_PORTS

    low = config.port("ceph-daemons")
    return [config.port("ceph-mon"), *range(low, low + CEPH_DAEMON_PORTS)]


def bin_dir(config: LabConfig) -> Path:
    """First on the computes' PATH: a ``ceph`` that retries the mon's
    refusal of a command sent before the monmap (osic_lab_ceph.sh)."""
    return config.run / "libvirt-rbd-bin"


def nova_storage_options(config: LabConfig) -> str:
    """The compute hosts' [libvirt] storage lines."""
    if not enabled(config):
        return "images_type = default"
    # No rbd_user: the lab's Ceph runs without cephx, and Nova asks
    # libvirt for authentication only when a user is named.
    return "\n".join(
        (
            "images_type = rbd",
            f"images_rbd_pool = {POOL}",
            f"images_rbd_ceph_conf = {ceph_family.conf(config)}",
        )
    )


class LibvirtRbd(Family):
    name = NAME
    optional = True
    computes = True
    requires = ("libvirt", "ceph")
    summary = (
        "the libvirt hosts' guest disks on Ceph RBD (shared storage: "
        "live migration without a block copy)"
    )
    debian_packages = ("qemu-block-extra",)
    # Their configuration and relays change with the storage.
    reconfigures = tuple(
        name
        for host in HOSTS
        for name in (
            f"nova-compute-{host.removeprefix('lab-')}",
            f"{host}-relay",
        )
    )

    def render(self, config, values):
        from rally_osic.lab.services import DATA_DIR

        directory = bin_dir(config)
        directory.mkdir(parents=True, exist_ok=True)
        wrapper = directory / "ceph"
        wrapper.write_text((DATA_DIR / "osic_lab_ceph.sh").read_text())
        wrapper.chmod(0o755)

    def setup(self, run) -> None:
        config = run.config
        run.after("ceph")
        # nova-compute talks to RBD itself (image import, disk sizes).
        ceph_family.link_bindings(config.services_venv)
        if not steps.is_done(config, "ceph-pool-vms"):
            ceph_family.ceph_command(
                config, "osd", "pool", "create", POOL, "8"
            )
            steps.run_logged(
                config,
                ["rbd", "-c", str(ceph_family.conf(config)), "pool", "init",
                 POOL],
                timeout=120,
            )  # fmt: skip
            steps.mark_done(config, "ceph-pool-vms")

    def retire(self, config) -> list[str]:
        """Back to local disks: the computes and relays start again with
        their new configuration (lab up restarts them)."""
        from rally_osic.lab import procs, services

        table = services.by_name(config)
        return [
            f"stopped {name} (its configuration changes)"
            for name in self.reconfigures
            if name in table and procs.stop(table[name])
        ]


FAMILY = LibvirtRbd()

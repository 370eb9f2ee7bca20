"""A small Linux guest for migrations: a Debian kernel and a busybox
initramfs that boots to the workload's responders.

Everything comes from Debian packages: the kernel from ``apt-get
download linux-image-<ver>-cloud-amd64`` unpacked with ``dpkg -x``, busybox
from ``busybox-static`` and ``osic-responder`` compiled statically from
``rally_osic/probes/data/responder.c``. The initramfs (newc cpio, gzip,
written here: Debian's Python image has no ``cpio``) loads the virtio
modules in dependency order, configures ``eth0`` from the kernel command
line (``osic_ip=10.1.2.3/24``), runs ``/etc/osic/user-data`` (the same
script the Rally context gives to servers, see probes/workload.py) and
prints ``osic-guest: ready`` on the serial console.

The build is cached under ``cache_dir`` by kernel version and by the hash
of what went into it.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from rally_osic.probes import workload as wl

RESPONDER_C = Path(__file__).resolve().parents[1] / "probes" / "data"
RESPONDER_C = RESPONDER_C / "responder.c"
BUSYBOX = "/bin/busybox"
KERNEL_META = "linux-image-cloud-amd64"
MODULES = ("virtio_pci", "virtio_net")
READY = "osic-guest: ready"
# The rig's domain and the lab image's os_command_line.
KERNEL_ARGS = "console=ttyS0 quiet panic=-1"
# A Nova server of the lab's libvirt hosts (build(cloud=True)) takes its
# address from neutron's DHCP agent and its user data from the config
# drive, an iso9660 CD-ROM on a virtio-scsi controller (the image's
# hw_cdrom_bus and hw_scsi_model).
CLOUD_MODULES = ("virtio_scsi", "sr_mod", "isofs")
CLOUD_SETUP = """if [ -z "$IP" ]; then
    udhcpc -i eth0 -s /etc/osic/udhcpc -t 60 -T 1 -A 1 -n -q
    IP=$(cat /run/osic-ip 2>/dev/null)
fi
mkdir -p /mnt/config
i=0
while [ ! -e /dev/sr0 ] && [ $i -lt 100 ]; do
    sleep 0.1; i=$((i + 1))
done
for dev in /dev/sr0 /dev/sr1; do
    mount -t iso9660 -o ro "$dev" /mnt/config 2>/dev/null && break
done
if [ -f /mnt/config/openstack/latest/user_data ]; then
    cp /mnt/config/openstack/latest/user_data /etc/osic/user-data
else
    echo "osic-guest: no user data on a config drive" > /dev/console
fi
"""
UDHCPC_SCRIPT = """#!/bin/sh
# udhcpc's lease handler: the address, and the routes DHCP gives.
case "$1" in
bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for r in $router; do ip route add default via "$r"; break; done
    set -- $staticroutes
    while [ $# -ge 2 ]; do ip route add "$1" via "$2"; shift 2; done
    echo "$ip/${mask:-24}" > /run/osic-ip
    ;;
esac
"""

INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mkdir -p /proc /sys /dev /run /tmp /var/log /var/lib /dev/shm
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /run
mount -t tmpfs -o size=64m tmp /var/lib
for m in $(cat /etc/osic/modules); do insmod /lib/modules/$m.ko; done
ip link set lo up
for arg in $(cat /proc/cmdline); do
    case "$arg" in osic_ip=*) IP=${arg#osic_ip=} ;; esac
done
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do
    sleep 0.1; i=$((i + 1))
done
ip link set eth0 up
[ -n "$IP" ] && ip addr add "$IP" dev eth0
sh /etc/osic/user-data
echo "osic-guest: ready ${IP:-no address}" > /dev/console
while true; do sleep 3600; done
"""


class GuestBuildError(Exception):
    """The guest image could not be built (one line)."""


@dataclasses.dataclass(frozen=True)
class GuestImage:
    kernel: Path
    initrd: Path
    kernel_version: str


def module_depends(ko: bytes) -> list[str]:
    """The ``depends=`` of a kernel module's .modinfo section. Pure."""
    match = re.search(rb"(?:^|\0)depends=([^\0]*)\0", ko)
    if not match or not match.group(1):
        return []
    return match.group(1).decode().split(",")


def load_order(wanted, depends_of) -> list[str]:
    """Modules in an order that loads each after its dependencies."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise GuestBuildError(f"module dependency cycle at {name}")
        visiting.add(name)
        for dep in depends_of(name):
            visit(dep)
        visiting.discard(name)
        order.append(name)

    for name in wanted:
        visit(name)
    return order


def _newc_entry(name: str, mode: int, data: bytes = b"", ino: int = 0):
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0]
    fields.append(len(name) + 1)
    fields.append(0)
    header = "070701" + "".join(f"{f:08x}" for f in fields)
    out = header.encode() + name.encode() + b"\0"
    out += b"\0" * (-len(out) % 4)
    out += data + b"\0" * (-len(data) % 4)
    return out


def cpio_newc(entries) -> bytes:
    """A newc cpio archive of (path, mode, data) entries. Pure."""
    buf = io.BytesIO()
    for ino, (name, mode, data) in enumerate(entries, start=1):
        buf.write(_newc_entry(name, mode, data, ino))
    buf.write(_newc_entry("TRAILER!!!", 0))
    return buf.getvalue()


def _run(argv, **kwargs) -> None:
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=600, **kwargs
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GuestBuildError(f"{argv[0]}: {exc}") from None
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip().splitlines()
        detail = err[-1] if err else f"exit {proc.returncode}"
        raise GuestBuildError(f"{' '.join(argv[:3])} failed: {detail}")


def kernel_package() -> str:
    """The versioned package behind linux-image-cloud-amd64."""
    out = subprocess.run(
        ["apt-cache", "depends", KERNEL_META],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    found = re.findall(r"Depends: (linux-image-\S+)", out)
    if not found:
        raise GuestBuildError(
            f"apt-cache knows no {KERNEL_META} (run apt-get update)"
        )
    return found[0]


def fetch_kernel(cache_dir: Path) -> Path:
    """Unpacked kernel package in the cache (downloaded once)."""
    package = kernel_package()
    root = cache_dir / package
    if (root / ".complete").exists():
        return root
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        # apt's sandbox user must be able to write the download directory.
        os.chmod(tmp, 0o777)
        _run(["apt-get", "download", "-q", package], cwd=tmp)
        debs = list(Path(tmp).glob("*.deb"))
        if not debs:
            raise GuestBuildError(f"apt-get download {package}: no .deb")
        unpacked = Path(tmp) / "x"
        _run(["dpkg-deb", "-x", str(debs[0]), str(unpacked)])
        shutil.rmtree(root, ignore_errors=True)
        unpacked.rename(root)
    (root / ".complete").write_text(package + "\n")
    return root


def build(
    cache_dir: Path, workload: wl.Workload | None = None, cloud: bool = False
) -> GuestImage:
    """The kernel and initramfs; ``cloud``: for a Nova server (DHCP, and
    the user data of the config drive instead of ``workload``'s)."""
    cache_dir = Path(cache_dir).resolve()  # libvirt opens these paths
    cache_dir.mkdir(parents=True, exist_ok=True)
    root = fetch_kernel(cache_dir)
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise GuestBuildError(f"no vmlinuz in {root}")
    version = kernels[0].name[len("vmlinuz-") :]
    modules_dir = root / "lib" / "modules" / version / "kernel"
    paths = {p.stem: p for p in modules_dir.rglob("*.ko")}

    def depends_of(name: str) -> list[str]:
        if name not in paths:
            raise GuestBuildError(f"kernel {version} has no module {name}")
        return module_depends(paths[name].read_bytes())

    wanted = MODULES + (CLOUD_MODULES if cloud else ())
    order = load_order(wanted, depends_of)
    user_data = wl.user_data(workload or wl.Workload(disk_fill=0.0))
    init = INIT
    extra = []
    if cloud:
        run_user_data = "sh /etc/osic/user-data\n"
        init = INIT.replace(run_user_data, CLOUD_SETUP + run_user_data)
        extra = [("etc/osic/udhcpc", 0o100755, UDHCPC_SCRIPT.encode())]
    source = RESPONDER_C.read_bytes()
    busybox = Path(BUSYBOX).read_bytes()
    digest = hashlib.sha256(
        b"".join(
            [source, busybox, init.encode(), user_data.encode()]
            + [name.encode() for name in order]
            + [data for _, _, data in extra]
        )
    ).hexdigest()[:16]
    out_dir = cache_dir / f"guest-{version}-{digest}"
    initrd = out_dir / "initrd.gz"
    if not initrd.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            binary = Path(tmp) / "osic-responder"
            _run(
                ["gcc", "-static", "-O2", "-o", str(binary), str(RESPONDER_C)]
            )
            responder = binary.read_bytes()
        entries = [
            (d, 0o040755, b"")
            for d in ("bin", "sbin", "etc", "etc/osic", "lib", "lib/modules")
        ]
        entries += [
            ("init", 0o100755, init.encode()),
            ("bin/busybox", 0o100755, busybox),
            ("bin/osic-responder", 0o100755, responder),
            ("etc/osic/user-data", 0o100644, user_data.encode()),
            ("etc/osic/modules", 0o100644, "\n".join(order).encode()),
            *extra,
        ]
        entries += [
            (f"lib/modules/{name}.ko", 0o100644, paths[name].read_bytes())
            for name in order
        ]
        tmp_initrd = initrd.with_suffix(".tmp")
        tmp_initrd.write_bytes(gzip.compress(cpio_newc(entries), 6))
        tmp_initrd.rename(initrd)
    kernel = out_dir / "vmlinuz"
    if not kernel.exists():
        shutil.copyfile(kernels[0], kernel)
    return GuestImage(kernel=kernel, initrd=initrd, kernel_version=version)

"""Two libvirt "hosts" on one machine, for real live migrations.

One network namespace (``<prefix><pid>-<n>``) holds a bridge with one
address per host. Each host is a libvirtd in its own mount+UTS namespace
inside it (``unshare --mount --uts --propagation private``), with its
own hostname, host UUID and bind-mounted ``/run``, ``/etc/libvirt``,
``/var/lib/libvirt``, ``/var/cache/libvirt`` and ``/var/log/libvirt``.
It listens on its bridge address over TCP (no auth: the namespace is
private), and QEMU's ``migration_host`` is that address, since loopback
is refused as a migration address. Guests plug a TAP into the bridge;
after a migration the target's TAP carries the guest.

This machine reaches each libvirtd on its UNIX socket, which the bind
mount makes visible at ``<host dir>/run/libvirt/libvirt-sock``; the
libvirtds reach each other over the bridge. Probe agents run inside the
namespace (``ip netns exec``), so no probe packet leaves it.

:meth:`Rig.close` removes everything the rig started, by PID: guests,
libvirtds, the namespace and the directories. :func:`sweep_stale` removes
what a killed earlier run (whose PID no longer exists) left behind.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid as uuidlib
from pathlib import Path

from rally_osic.probes import hypervisor as hv
from rally_osic.rig.guest import KERNEL_ARGS, READY, GuestImage

PREFIX = "osicmig"
SUBNET = "10.77.0"
LIBVIRT_PORT = 16509
BIND_DIRS = {
    "run": "/run",
    "etc": "/etc/libvirt",
    "lib": "/var/lib/libvirt",
    "cache": "/var/cache/libvirt",
    "log": "/var/log/libvirt",
}


class RigError(Exception):
    """The rig could not be built (one line)."""


def missing_requirements() -> str | None:
    """Why the rig cannot run here, or None."""
    for binary in ("ip", "unshare", "libvirtd", "qemu-system-x86_64"):
        if not shutil.which(binary):
            return f"{binary} is not installed"
    if os.geteuid() != 0:
        return "network and mount namespaces need root"
    try:
        import libvirt  # noqa: F401
    except ImportError:
        return "libvirt-python is not installed"
    probe = subprocess.run(
        ["unshare", "--net", "--mount", "--uts", "true"],
        capture_output=True,
        timeout=30,
    )
    if probe.returncode != 0:
        return "cannot create namespaces: " + probe.stderr.decode().strip()
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["ip", *args], capture_output=True, text=True, timeout=30
    )
    if check and proc.returncode != 0:
        raise RigError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _namespaces() -> list[str]:
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def sweep_stale(prefix: str = PREFIX) -> list[str]:
    """Remove namespaces (and their processes) of dead earlier runs."""
    removed = []
    for name in _namespaces():
        if not name.startswith(prefix):
            continue
        owner = name[len(prefix) :].split("-")[0]
        if not owner.isdigit() or _alive(int(owner)):
            continue
        pids = _ip("netns", "pids", name, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        _ip("netns", "del", name, check=False)
        removed.append(name)
    return removed


@dataclasses.dataclass
class Host:
    name: str
    address: str
    directory: Path
    migration_ports: tuple[int, int]
    proc: subprocess.Popen | None = None

    @property
    def socket(self) -> Path:
        return self.directory / "run" / "libvirt" / "libvirt-sock"

    @property
    def tcp_uri(self) -> str:
        return f"qemu+tcp://{self.address}:{LIBVIRT_PORT}/system"

    def path(self, inside: str) -> Path:
        """Where a path inside this host's mount namespace is outside."""
        for key, mount in sorted(BIND_DIRS.items(), key=lambda i: -len(i[1])):
            if inside == mount or inside.startswith(mount + "/"):
                return self.directory / key / inside[len(mount) :].lstrip("/")
        raise ValueError(f"{inside} is not inside a bind mount of {self.name}")


LIBVIRTD_CONF = """# libvirtd of {name}, a namespaced host (rally-osic)
listen_tls = 0
listen_tcp = 1
listen_addr = "{address}"
tcp_port = "{port}"
auth_tcp = "none"
auth_unix_rw = "none"
auth_unix_ro = "none"
unix_sock_rw_perms = "0700"
host_uuid = "{host_uuid}"
mdns_adv = 0
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
keepalive_interval = 5
"""

QEMU_CONF = """# QEMU of {name}, a namespaced host (rally-osic)
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
stdio_handler = "file"
migration_host = "{address}"
migration_address = "{address}"
migration_port_min = {port_min}
migration_port_max = {port_max}
{tls}"""

# ACPI on and no HPET, as Nova's guests: without <acpi/>, libvirt 9.0
# passes -no-acpi, which QEMU 9 and later refuse.
DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>{kernel_args} osic_ip={ip}/24</cmdline>
  </os>
  <features>
    <acpi/>
  </features>
  <clock offset='utc'>
    <timer name='hpet' present='no'/>
  </clock>
  <on_poweroff>destroy</on_poweroff>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='bridge'>
      <source bridge='br0'/>
      <mac address='{mac}'/>
      <model type='virtio'/>
    </interface>
    <serial type='file'>
      <source path='/var/log/libvirt/{name}-console.log'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def make_certificates(
    directory: Path, addresses: list[str], days: int = 2
) -> None:
    """A CA and one certificate (server and client, for every host's
    address) in the layout QEMU's TLS migration reads: ca-cert.pem,
    server-cert.pem, server-key.pem, client-cert.pem, client-key.pem;
    valid for ``days``."""
    directory.mkdir(parents=True, exist_ok=True)
    sans = ",".join(f"IP:{a}" for a in addresses)

    def openssl(*args: str) -> None:
        proc = subprocess.run(
            ["openssl", *args],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if proc.returncode != 0:
            raise RigError(
                f"openssl {args[0]}: {proc.stderr.strip().splitlines()[-1]}"
            )

    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(days),
        "-subj", "/CN=rally-osic rig CA", "-keyout", "ca-key.pem",
        "-out", "ca-cert.pem", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=rig host",
        "-keyout", "server-key.pem", "-out", "host.csr",
    )  # fmt: skip
    (directory / "ext.cnf").write_text(
        f"subjectAltName={sans}\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
        "keyUsage=digitalSignature,keyEncipherment\n"
    )
    openssl(
        "x509", "-req", "-in", "host.csr", "-CA", "ca-cert.pem",
        "-CAkey", "ca-key.pem", "-CAcreateserial", "-days", str(days),
        "-extfile", "ext.cnf", "-out", "server-cert.pem",
    )  # fmt: skip
    shutil.copyfile(
        directory / "server-cert.pem", directory / "client-cert.pem"
    )
    shutil.copyfile(directory / "server-key.pem", directory / "client-key.pem")


@dataclasses.dataclass
class Guest:
    name: str
    uuid: str
    ip: str


class Rig:
    """Build with :meth:`up`; always :meth:`close` (also after errors)."""

    _count = 0

    def __init__(
        self,
        work_dir: Path | None = None,
        prefix: str = PREFIX,
        tls: bool = False,
    ):
        Rig._count += 1
        self.name = f"{prefix}{os.getpid()}-{Rig._count}"
        self.work_dir = Path(
            tempfile.mkdtemp(prefix=self.name + "-", dir=work_dir)
        )
        self.netns = self.name
        self.hosts = [
            Host(
                f"{self.name}-a",
                f"{SUBNET}.1",
                self.work_dir / "host-a",
                (49152, 49183),
            ),
            Host(
                f"{self.name}-b",
                f"{SUBNET}.2",
                self.work_dir / "host-b",
                (49184, 49215),
            ),
        ]
        self.guests: list[Guest] = []
        self.tls = tls
        self.hypervisors = hv.Hypervisors(
            "qemu+unix:///system?socket={host}",
            {h.name: str(h.socket) for h in self.hosts},
        )
        self._netns_made = False

    # ------------------------------------------------------------ build
    def up(self, timeout: float = 60.0) -> Rig:
        from rally_osic.rig import qemu_version

        defect = qemu_version.tcg_migration_defect()
        if defect:
            raise RigError(defect)
        sweep_stale()
        _ip("netns", "add", self.netns)
        self._netns_made = True
        ns = ("-n", self.netns)
        _ip(*ns, "link", "set", "lo", "up")
        _ip(
            *ns,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "forward_delay",
            "0",
            "stp_state",
            "0",
        )
        for host in self.hosts:
            _ip(*ns, "addr", "add", f"{host.address}/24", "dev", "br0")
        _ip(*ns, "link", "set", "br0", "up")
        if self.tls:
            make_certificates(
                self.work_dir / "pki", [h.address for h in self.hosts]
            )
        for host in self.hosts:
            self._start_libvirtd(host)
        deadline = time.monotonic() + timeout
        for host in self.hosts:
            self._wait_libvirtd(host, deadline)
        return self

    def _start_libvirtd(self, host: Host) -> None:
        for key in BIND_DIRS:
            (host.directory / key).mkdir(parents=True, exist_ok=True)
        (host.directory / "lib" / "qemu").mkdir(exist_ok=True)
        (host.directory / "etc" / "libvirtd.conf").write_text(
            LIBVIRTD_CONF.format(
                name=host.name,
                address=host.address,
                port=LIBVIRT_PORT,
                host_uuid=uuidlib.uuid4(),
            )
        )
        (host.directory / "etc" / "qemu.conf").write_text(
            QEMU_CONF.format(
                name=host.name,
                address=host.address,
                port_min=host.migration_ports[0],
                port_max=host.migration_ports[1],
                tls=(
                    f'default_tls_x509_cert_dir = "{self.work_dir / "pki"}"\n'
                    "default_tls_x509_verify = 1\n"
                    if self.tls
                    else ""
                ),
            )
        )
        mounts = "; ".join(
            f"mount --bind {host.directory / key} {mount}"
            for key, mount in BIND_DIRS.items()
        )
        script = (
            f"hostname {host.name}; {mounts}; "
            "exec libvirtd --listen -f /etc/libvirt/libvirtd.conf"
        )
        log = open(host.directory / "libvirtd.out", "ab")
        argv = [
            "ip",
            "netns",
            "exec",
            self.netns,
            "unshare",
            "--mount",
            "--uts",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
        ]
        host.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()

    def _wait_libvirtd(self, host: Host, deadline: float) -> None:
        import libvirt

        last = "no socket"
        while time.monotonic() < deadline:
            assert host.proc is not None
            if host.proc.poll() is not None:
                raise RigError(
                    f"libvirtd of {host.name} exited "
                    f"{host.proc.returncode}; see "
                    f"{host.directory / 'libvirtd.out'}"
                )
            if host.socket.exists():
                try:
                    conn = libvirt.open(
                        f"qemu+unix:///system?socket={host.socket}"
                    )
                    conn.close()
                    return
                except libvirt.libvirtError as exc:
                    last = str(exc)
            time.sleep(0.2)
        raise RigError(f"libvirtd of {host.name} did not answer: {last}")

    # ----------------------------------------------------------- guests
    def define_guest(
        self, image: GuestImage, index: int = 0, memory_mib: int = 256
    ) -> Guest:
        guest = Guest(
            name=f"{self.name}-vm{index}",
            uuid=str(uuidlib.uuid4()),
            ip=f"{SUBNET}.{10 + index}",
        )
        xml = DOMAIN_XML.format(
            name=guest.name,
            uuid=guest.uuid,
            memory_mib=memory_mib,
            kernel=image.kernel,
            initrd=image.initrd,
            ip=guest.ip,
            kernel_args=KERNEL_ARGS,
            mac=f"52:54:00:77:00:{10 + index:02x}",
        )
        conn = self.hypervisors.connect(self.hosts[0].name)
        dom = conn.defineXML(xml)
        dom.create()
        self.guests.append(guest)
        return guest

    def console(self, guest: Guest) -> str:
        text = ""
        for host in self.hosts:
            path = host.path(f"/var/log/libvirt/{guest.name}-console.log")
            if path.exists():
                text += path.read_text(errors="replace")
        return text

    def wait_ready(self, guest: Guest, timeout: float = 120.0) -> float:
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if READY in self.console(guest):
                return time.monotonic() - started
            time.sleep(0.25)
        tail = self.console(guest)[-300:].replace("\n", " | ")
        raise RigError(
            f"{guest.name} did not boot within {timeout:g} s: ...{tail}"
        )

    def where(self, guest: Guest) -> str | None:
        """Name of the host whose libvirt runs the guest."""
        import libvirt

        for host in self.hosts:
            try:
                conn = self.hypervisors.connect(host.name)
                dom = conn.lookupByUUIDString(guest.uuid)
            except (libvirt.libvirtError, hv.HypervisorError):
                continue
            if dom.isActive():
                return host.name
        return None

    @property
    def probe_location(self) -> dict:
        return {"netns": self.netns}

    # ---------------------------------------------------------- teardown
    def _qemu_pids(self) -> list[int]:
        pids = []
        for host in self.hosts:
            for pidfile in (host.directory / "run" / "libvirt" / "qemu").glob(
                "*.pid"
            ):
                try:
                    pid = int(pidfile.read_text().strip())
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                except (OSError, ValueError):
                    continue
                if self.name.encode() in cmdline:
                    pids.append(pid)
        return pids

    def close(self) -> None:
        import libvirt

        for guest in self.guests:
            for host in self.hosts:
                try:
                    conn = self.hypervisors.connect(host.name)
                    dom = conn.lookupByUUIDString(guest.uuid)
                    if dom.isActive():
                        dom.destroy()
                    dom.undefine()
                except (libvirt.libvirtError, hv.HypervisorError):
                    pass
        self.hypervisors.close()
        qemus = self._qemu_pids()
        for host in self.hosts:
            if host.proc is not None and host.proc.poll() is None:
                host.proc.terminate()
        for pid in qemus:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for host in self.hosts:
            if host.proc is None:
                continue
            try:
                host.proc.wait(10)
            except subprocess.TimeoutExpired:
                host.proc.kill()
                host.proc.wait(10)
        if self._netns_made:
            leftovers = _ip("netns", "pids", self.netns, check=False)
            for pid in leftovers.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            _ip("netns", "del", self.netns, check=False)
            self._netns_made = False
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> Rig:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

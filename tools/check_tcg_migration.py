"""Does a TCG live migration hand the target the guest's exact memory?

Two QEMUs on this machine, no libvirt and no network device: the rig's
guest (rally_osic/rig/guest.py, with the workload's memory dirtier)
boots in one and is live-migrated over 127.0.0.1 to a new QEMU started
with ``-incoming ... -S``, then on to the next, ``--migrations`` times;
then the same with a fresh guest, ``--guests`` times. After each
migration both are paused: the source in ``postmigrate``, the target
before its first instruction. Their RAM (``pmemsave``) must be
identical; a page that differs is memory the migration lost. Prints
each migration and the count; exits 1 when a page differed, 2 on an
error. QEMU 7.2 lost memory in 13 of 16 (README, "A guest that panics
after a migration").

    python tools/check_tcg_migration.py [--guests 10 --migrations 4] \
        [--kernel-args "console=ttyS0 quiet panic=-1"]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rally_osic.probes import workload
from rally_osic.rig import guest

PAGE = 4096
BOOT_SECONDS = 25
MIGRATION_TIMEOUT = 120


class CheckError(Exception):
    """One line for the user."""


class Qmp:
    def __init__(self, path: Path, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.settimeout(timeout)
                self.sock.connect(str(path))
                break
            except OSError as exc:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise CheckError(f"QMP {path}: {exc}") from None
                time.sleep(0.1)
        self.stream = self.sock.makefile("rw")
        json.loads(self.stream.readline())  # the greeting
        self.command("qmp_capabilities")

    def command(self, name: str, **arguments):
        self.stream.write(
            json.dumps({"execute": name, "arguments": arguments}) + "\n"
        )
        self.stream.flush()
        while True:
            line = self.stream.readline()
            if not line:
                raise CheckError(f"QEMU closed its QMP socket at {name}")
            answer = json.loads(line)
            if "error" in answer:
                raise CheckError(f"{name}: {answer['error']['desc']}")
            if "return" in answer:
                return answer["return"]


def start_qemu(work: Path, name: str, image, args, memory_mib, incoming):
    qmp = work / f"{name}.qmp"
    argv = [
        "qemu-system-x86_64",
        "-accel", "tcg",
        "-machine", "pc",
        "-m", str(memory_mib),
        "-kernel", str(image.kernel),
        "-initrd", str(image.initrd),
        "-append", args,
        "-nodefaults",
        "-display", "none",
        "-serial", f"file:{work / name}.console",
        "-qmp", f"unix:{qmp},server=on,wait=off",
    ]  # fmt: skip
    if incoming:
        argv += ["-incoming", incoming, "-S"]
    process = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    return process, Qmp(qmp)


def wait_postmigrate(qmp: Qmp) -> dict:
    deadline = time.monotonic() + MIGRATION_TIMEOUT
    while qmp.command("query-status")["status"] != "postmigrate":
        state = qmp.command("query-migrate")
        if state.get("status") in ("failed", "cancelled"):
            raise CheckError(f"migration {state['status']}: {state}")
        if time.monotonic() > deadline:
            raise CheckError(f"no migration end in {MIGRATION_TIMEOUT} s")
        time.sleep(0.05)
    return qmp.command("query-migrate")


def differing_pages(first: Path, second: Path) -> list[int]:
    differ = []
    with first.open("rb") as one, second.open("rb") as other:
        index = 0
        while block := one.read(PAGE):
            if block != other.read(PAGE):
                differ.append(index)
            index += 1
    return differ


def check(image, migrations: int, kernel_args: str, memory_mib: int, work):
    """How many of ``migrations`` of one fresh guest lost memory."""
    processes = []
    try:
        source, source_qmp = start_qemu(
            work, "q0", image, kernel_args, memory_mib, None
        )
        processes.append(source)
        time.sleep(BOOT_SECONDS)
        lost = 0
        with socket.socket() as probe:  # a free loopback port
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        for number in range(1, migrations + 1):
            uri = f"tcp:127.0.0.1:{port}"
            target, target_qmp = start_qemu(
                work, f"q{number}", image, kernel_args, memory_mib, uri
            )
            processes.append(target)
            source_qmp.command("migrate", uri=uri)
            state = wait_postmigrate(source_qmp)
            source_qmp.command(
                "pmemsave", val=0, size=memory_mib << 20,
                filename=str(work / "source.ram"),
            )  # fmt: skip
            target_qmp.command(
                "pmemsave", val=0, size=memory_mib << 20,
                filename=str(work / "target.ram"),
            )  # fmt: skip
            differ = differing_pages(work / "source.ram", work / "target.ram")
            lost += bool(differ)
            print(
                f"  migration {number}: downtime {state.get('downtime')} ms, "
                f"{len(differ)} pages differ {differ[:6]}",
                flush=True,
            )
            target_qmp.command("cont")
            source.kill()
            source.wait()
            source, source_qmp = target, target_qmp
            time.sleep(1.5)
        return lost
    finally:
        for process in processes:
            with contextlib.suppress(OSError):
                process.kill()
                process.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guests", type=int, default=10)
    parser.add_argument("--migrations", type=int, default=4)
    parser.add_argument("--memory-mib", type=int, default=128)
    parser.add_argument("--kernel-args", default=guest.KERNEL_ARGS)
    options = parser.parse_args()
    if min(options.guests, options.migrations, options.memory_mib) < 1:
        parser.error("--guests, --migrations and --memory-mib must be >= 1")
    # A SIGTERM unwinds like ^C: the QEMUs are killed on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    lost = 0
    try:
        image = guest.build(
            Path(os.environ.get("RALLY_OSIC_GUEST_CACHE", ".cache/guest")),
            workload.Workload(dirty_mib=32, dirty_mibps=16, disk_fill=0.0),
        )
        for number in range(1, options.guests + 1):
            print(f"guest {number}: {options.kernel_args}", flush=True)
            with tempfile.TemporaryDirectory(prefix="tcg-migration-") as work:
                lost += check(
                    image,
                    options.migrations,
                    options.kernel_args,
                    options.memory_mib,
                    Path(work),
                )
    except (CheckError, guest.GuestBuildError, OSError, ValueError) as exc:
        print(f"check_tcg_migration: {exc}", file=sys.stderr)
        return 2
    total = options.guests * options.migrations
    print(f"{lost} of {total} migrations lost memory")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())

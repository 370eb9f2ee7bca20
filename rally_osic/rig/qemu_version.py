"""Whether this machine's QEMU keeps a TCG guest's memory intact across
a live migration.

Before 9.0, QEMU's fast path for syncing the migration's dirty bitmap
cleared the bits without resetting the vCPU's soft TLB, so a TCG guest
went on writing pages that were never sent again (fixed by QEMU commit
03bfc2188f, "physmem: Fix migration dirty bitmap coherency with TCG
memory access"). The target then runs with kernel data that is 60-140 ms
old, and dies or loses TCP data: a defect of the host, which the
migration probes would report as the cloud's. Measured by
tools/check_tcg_migration.py; Debian 12's QEMU 7.2 lost memory in 13 of
16 migrations, bookworm-backports' 10.0 in none of 40.
"""

from __future__ import annotations

import re
import subprocess

FIXED_IN = (9, 0)
BINARY = "qemu-system-x86_64"


def parse_version(text: str) -> tuple[int, int] | None:
    """(major, minor) of ``qemu-system-x86_64 --version``'s output. Pure."""
    found = re.search(r"QEMU emulator version (\d+)\.(\d+)", text)
    return (int(found[1]), int(found[2])) if found else None


def defect(version: tuple[int, int] | None) -> str | None:
    """One line on why that version cannot be used, or None. Pure."""
    if version is None:
        return f"cannot tell {BINARY}'s version"
    if version >= FIXED_IN:
        return None
    return (
        f"QEMU {version[0]}.{version[1]} loses guest memory in TCG live "
        f"migrations (fixed in {FIXED_IN[0]}.{FIXED_IN[1]}); install "
        "qemu-system-x86 from bookworm-backports (./run test does)"
    )


def tcg_migration_defect(binary: str = BINARY) -> str | None:
    """Why this machine's QEMU cannot be trusted with TCG live
    migrations, or None."""
    try:
        answer = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{binary} --version: {exc}"
    return defect(parse_version(answer.stdout))

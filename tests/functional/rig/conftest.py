"""The migration rig (rally_osic/rig): two namespaced libvirtds, one TCG
guest booted to the workload's responders. Built once per module, torn
down always (also after a failed test); a run killed outright is swept by
the next one (``hosts.sweep_stale``).

Skipped only where namespaces, libvirtd or QEMU are missing; on the
project's machines and in CI (root, Debian packages from
tools/debian-packages.txt) it runs. The guest image is cached in
``.cache/guest`` (``$RALLY_OSIC_GUEST_CACHE``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
GUEST_CACHE = Path(
    os.environ.get("RALLY_OSIC_GUEST_CACHE") or REPO / ".cache" / "guest"
)
# Light enough that a TCG guest on a loaded 2-core machine still answers
# a 1 ms probe: losses must come from the migration, not from the load.
GUEST_LOAD = {"dirty_mib": 32, "dirty_mibps": 16, "disk_fill": 0.0}


@pytest.fixture(scope="module")
def rig():
    from rally_osic.rig import hosts

    reason = hosts.missing_requirements()
    if reason:
        pytest.skip(f"migration rig unavailable: {reason}")
    from rally_osic.probes import workload
    from rally_osic.rig import guest

    image = guest.build(GUEST_CACHE, workload.Workload(**GUEST_LOAD))
    built = hosts.Rig(tls=True)  # certificates for the native_tls case
    try:
        built.up()
        vm = built.define_guest(image)
        built.boot_seconds = built.wait_ready(vm, timeout=180)
        built.vm = vm
        yield built
    finally:
        built.close()

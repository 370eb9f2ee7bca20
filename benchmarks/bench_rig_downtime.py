"""libvirt's downtime against the network probe's, on the migration rig
(as root): two namespaced libvirtds, one TCG guest, real migrations.

Per transport, ``--migrations`` migrations back and forth with a 1 ms
UDP probe and a 10 ms TCP stream; prints per transport the medians of
libvirt's downtime and of the probe's switchover outage (its longest in
the window), the median and largest difference, how many migrations a
500 ms ping would have noticed, TCP losses and the longest stall, and
libvirt's elapsed time, with the load average.

    python benchmarks/bench_rig_downtime.py [--migrations 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

from rally_osic.probes import records, runner, workload
from rally_osic.rig import guest, hosts, migrate

REPO = Path(__file__).resolve().parents[1]
TRANSPORTS = ("native", "tunnelled", "native_tls")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--migrations", type=int, default=10)
    parser.add_argument("--interval", type=float, default=0.001)
    args = parser.parse_args()
    image = guest.build(
        REPO / ".cache" / "guest",
        workload.Workload(dirty_mib=32, dirty_mibps=16, disk_fill=0.0),
    )
    rows: dict[str, list] = {t: [] for t in TRANSPORTS}
    loads = [os.getloadavg()[0]]
    with hosts.Rig(tls=True) as rig:
        rig.up()
        vm = rig.define_guest(image)
        boot = rig.wait_ready(vm, timeout=180)
        with runner.ProbeAgent(rig.probe_location) as agent:
            assert agent.check(vm.ip, 7, 30)["ok"]
            for n in range(args.migrations * len(TRANSPORTS)):
                transport = TRANSPORTS[n % len(TRANSPORTS)]
                here = rig.where(vm)
                source = next(h for h in rig.hosts if h.name == here)
                target = next(h for h in rig.hosts if h.name != here)
                probed = migrate.probed_migration(
                    rig,
                    agent,
                    vm,
                    source,
                    target,
                    transport,
                    interval=args.interval,
                )
                assert probed.row["success"], probed.row["error"]
                rows[transport].append(probed.row)
                loads.append(os.getloadavg()[0])
    print(
        f"\nTCG guest (256 MiB, 32 MiB rewritten at 16 MiB/s), booted in "
        f"{boot:.1f} s; {args.migrations} migrations per transport, "
        f"{args.interval * 1000:g} ms probe; load average "
        f"{min(loads):.1f}-{max(loads):.1f}\n"
    )
    print(
        "| Transport | libvirt downtime | probe (switchover) | difference "
        "(median / max) | 500 ms ping saw | TCP lost / longest stall | "
        "libvirt elapsed |"
    )
    print("|---|---|---|---|---|---|---|")
    for transport, found in rows.items():
        blind = [r for r in found if r["probe_max_outage"] == records.NA]
        if blind:
            # The agent got no echo at all (a starved machine): no figure.
            print(f"{transport}: {len(blind)} migrations without an echo")
        found = [r for r in found if r not in blind]
        libvirt = [r["libvirt_downtime"] * 1000 for r in found]
        probe = [r["probe_max_outage"] * 1000 for r in found]
        diffs = [p - v for p, v in zip(probe, libvirt)]
        seen = sum(1 for r in found if r["ping_500ms_downtime"])
        lost = sum(r["tcp_bytes_lost"] for r in found)
        stall = max(r["tcp_max_stall"] for r in found) * 1000
        elapsed = statistics.median(r["libvirt_time_elapsed"] for r in found)
        print(
            f"| {transport} | {statistics.median(libvirt):.0f} ms | "
            f"{statistics.median(probe):.0f} ms | "
            f"{statistics.median(diffs):+.0f} / {max(diffs, key=abs):+.0f} ms"
            f" | {seen}/{len(found)} | {lost} B / {stall:.0f} ms | "
            f"{elapsed:.2f} s |"
        )


if __name__ == "__main__":
    main()

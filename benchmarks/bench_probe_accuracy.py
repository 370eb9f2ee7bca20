"""Network probe accuracy against ground truth (as root).

Outages of exactly T ms between two network namespaces (``pfifo limit
0`` on both bridge ports through pyroute2; the true length from the
netlink calls' timestamps, see rally_osic/rig/outage.py), probed by the
package's UDP probe every 1, 10 and 500 ms. The 500 ms probe is the
study's method. Prints measured minus true, mean and max over the runs
(and how many outages each interval saw at all), with the load average.

    python benchmarks/bench_probe_accuracy.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from rally_osic.probes import outages, runner
from rally_osic.rig import outage
from rally_osic.rig.outage import OutagePair

OUTAGES_MS = (50, 200, 1000, 3000)
INTERVALS_MS = (1, 10, 500)


RETAKES = [0]


def measure(agent, pair, seconds: float, interval: float):
    for _ in range(outage.TRIES):
        agent.start_session(
            "bench",
            udp={"host": pair.responder_ip, "port": 7, "interval": interval},
            max_seconds=30,
        )
        # Start the outage at a random phase of the probe's slots.
        time.sleep(0.6 + (time.monotonic() % 1.0) * interval)
        injected = pair.inject(seconds)
        time.sleep(max(0.6, 2 * interval))
        answer = agent.stop_session("bench", grace=1.0)
        if injected.uncertainty <= outage.PRECISE:
            break
        RETAKES[0] += 1  # the netlink call was held up: not ground truth
    summary = outages.summarize(answer["udp"])
    return summary.downtime - injected.duration, bool(summary.outages)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    loads = [os.getloadavg()[0]]
    results: dict[tuple[int, int], list] = {}
    with OutagePair() as pair:
        pair.up()
        with runner.ProbeAgent(pair.probe_location) as agent:
            assert agent.check(pair.responder_ip, 7, 30)["ok"]
            for run in range(args.runs):
                for t_ms in OUTAGES_MS:
                    for i_ms in INTERVALS_MS:
                        results.setdefault((i_ms, t_ms), []).append(
                            measure(agent, pair, t_ms / 1000, i_ms / 1000)
                        )
                loads.append(os.getloadavg()[0])
                print(f"run {run + 1}/{args.runs} done", flush=True)
    print(
        f"\nload average {min(loads):.1f}-{max(loads):.1f}, "
        f"{args.runs} runs per cell, {RETAKES[0]} retaken (a netlink call "
        f"held up > {outage.PRECISE * 2000:.0f} ms); error = measured - true"
        " (ms)\n"
    )
    print(
        "| Probe interval | "
        + " | ".join(f"T = {t} ms" for t in OUTAGES_MS)
        + " |"
    )
    print("|---|" + "---|" * len(OUTAGES_MS))
    for i_ms in INTERVALS_MS:
        cells = []
        for t_ms in OUTAGES_MS:
            found = results[(i_ms, t_ms)]
            errors = [e * 1000 for e, seen in found]
            seen = sum(1 for _, s in found if s)
            mean = statistics.mean(errors)
            worst = max(errors, key=abs)
            cell = f"{mean:+.1f} / {worst:+.1f}"
            if seen < len(found):
                cell += f" (saw {seen}/{len(found)})"
            cells.append(cell)
        print(f"| {i_ms} ms (mean / max) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

"""The network probe against ground truth: an outage of a known length.

A ``pfifo limit 0`` qdisc on both bridge ports between two namespaces
drops every packet for T; the true outage comes from the netlink calls'
timestamps (rally_osic/rig/outage.py). The probe's downtime may differ
from it by at most one interval at each edge, the skipped slots it
reports at the edges (its own uncertainty) and 5 ms for the echo's way
back (a reply already under way when the path closes, or the first one
after it opens). The TCP stream must lose nothing and stall at least as
long as the outage. Accuracy over many runs is benchmarked in
benchmarks/bench_probe_accuracy.py.
"""

from __future__ import annotations

import os
import time

import pytest

from rally_osic.probes import outages, runner

pytestmark = pytest.mark.functional


@pytest.fixture(scope="module")
def pair():
    from rally_osic.rig import hosts, outage

    reason = hosts.missing_requirements()
    if reason:
        pytest.skip(f"namespaces unavailable: {reason}")
    built = outage.OutagePair()
    try:
        built.up()
        yield built
    finally:
        built.close()


@pytest.mark.parametrize(("seconds", "interval"), [(0.2, 0.001), (1.0, 0.01)])
def test_probe_downtime_matches_injected_outage(pair, seconds, interval):
    from rally_osic.rig import outage as truth

    target = {"host": pair.responder_ip, "port": pair.port}
    with runner.ProbeAgent(pair.probe_location, max_seconds=300) as agent:
        assert agent.check(pair.responder_ip, pair.port, 30)["ok"]
        for _ in range(truth.TRIES):
            agent.start_session(
                "truth",
                udp={**target, "interval": interval},
                tcp={**target, "interval": interval},
                max_seconds=60,
            )
            time.sleep(0.3)
            injected = pair.inject(seconds)
            time.sleep(0.5)
            answer = agent.stop_session("truth", grace=2.0)
            # A netlink call held up by the load is no ground truth.
            if injected.uncertainty <= truth.PRECISE:
                break
        assert injected.uncertainty <= truth.PRECISE, "no precise injection"
    summary = outages.summarize(answer["udp"])
    (outage,) = summary.outages
    error = outage.duration - injected.duration
    bound = 2 * interval + outage.uncertainty + injected.uncertainty + 0.005
    print(
        f"T={injected.duration * 1000:.1f} ms, probe {interval * 1000:g} ms:"
        f" measured {outage.duration * 1000:.1f} ms (error "
        f"{error * 1000:+.1f} ms, bound {bound * 1000:.1f}); load "
        "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    )
    assert abs(error) <= bound
    assert abs(outage.start - injected.start) <= interval + 0.005
    tcp = answer["tcp"]
    assert tcp["lost_bytes"] == 0
    assert tcp["duplicated_bytes"] == tcp["reordered_bytes"] == 0
    assert tcp["max_stall"] >= injected.duration - 2 * interval

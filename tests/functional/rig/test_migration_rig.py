"""Real live migrations between two namespaced libvirtds (TCG guest).

The three probes run for real: a 1 ms UDP probe with sequence numbers and
a TCP stream from an agent inside the rig's network namespace (the only
place the packets go), and libvirt's completed job statistics.

* Native, tunnelled and native TLS (VIR_MIGRATE_TLS, certificates made
  by the rig) each move the guest there and back.
* Network downtime and libvirt downtime agree: the longest outage the
  probe saw in the migration's window (the switchover; a TCG guest
  sometimes drops a few probes again while it catches up) lies within
  ``AGREEMENT`` of libvirt's ``downtime``, plus the slots the prober
  itself skipped at that outage's edges (its own uncertainty). A longer
  one (the network dark after the switchover) must be confirmed by the
  independent 500 ms ping.
* TCP loses, reorders and duplicates nothing.
* Failure paths are recorded failed migrations (the row has
  ``success: False`` and libvirt's reason), not crashes, and the guest
  keeps running where it was.

Each figure is printed with the load average (``pytest -s``).
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from rally_osic.probes import outages, records, runner
from rally_osic.rig import migrate

pytestmark = pytest.mark.functional

INTERVAL = 0.01  # the scenario's default probe interval
# "Within a few probe intervals": 5 intervals. QEMU's downtime starts
# when it asks the vCPU to stop; under TCG on a loaded machine the guest
# goes on answering for a while after that, so libvirt's figure ran up to
# 30 ms above a 1 ms probe's (and a few ms below it on a quiet machine;
# README, live-migration section). The probe's own accuracy is measured
# against netlink ground truth in benchmarks/bench_probe_accuracy.py.
AGREEMENT = 5 * INTERVAL


@pytest.fixture(scope="module")
def agent(rig):
    with runner.ProbeAgent(rig.probe_location, max_seconds=1800) as probe:
        answer = probe.check(rig.vm.ip, 7, timeout=30)
        assert answer["ok"], "the guest's UDP responder never answered"
        yield probe


def _load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _switchover(probed):
    """The longest outage; its uncertainty is the slots the prober itself
    skipped at its edges (it was starved then, so the edge is unknown)."""
    return max(outages.summarize(probed.udp).outages, key=lambda o: o.duration)


def _hosts(rig):
    here = rig.where(rig.vm)
    source = next(h for h in rig.hosts if h.name == here)
    target = next(h for h in rig.hosts if h.name != here)
    return source, target


@pytest.mark.parametrize("transport", ["native", "tunnelled", "native_tls"])
def test_migrations_there_and_back_agree_across_probes(rig, agent, transport):
    for _ in range(2):
        source, target = _hosts(rig)
        probed = migrate.probed_migration(
            rig, agent, rig.vm, source, target, transport, interval=INTERVAL
        )
        row = probed.row
        print(
            f"{transport} {row['direction']}: libvirt downtime "
            f"{row['libvirt_downtime']} s, probe max outage "
            f"{row['probe_max_outage']} s (total {row['probe_downtime']} s "
            f"in {row['probe_outages']}), elapsed "
            f"{row['libvirt_time_elapsed']} s, 500 ms ping "
            f"{row['ping_500ms_downtime']} s, TCP stall "
            f"{row['tcp_max_stall']} s; {_load()}"
        )
        assert row["success"] is True, row["error"]
        assert rig.where(rig.vm) == target.name
        assert probed.libvirt["libvirt_source"] == "target job stats"
        # The rig's disk is on storage both hosts share: nothing copied.
        assert probed.libvirt["disks_mirrored"] == []
        assert row["libvirt_downtime"] > 0
        assert row["probe_outages"] >= 1, "the switchover went unseen"
        margin = AGREEMENT + _switchover(probed).uncertainty
        # The guest is paused for libvirt's downtime: no probe can see
        # less.
        assert row["probe_max_outage"] >= row["libvirt_downtime"] - margin
        if row["probe_max_outage"] > row["libvirt_downtime"] + margin:
            # The network stayed dark after the switchover (once: 2.55 s
            # after a native TLS migration that libvirt timed at 0.02 s,
            # with a 55 ms TCP stall; cause not found). Such an outage is
            # real only when the independent 500 ms ping saw it too.
            assert (
                abs(row["ping_500ms_downtime"] - row["probe_max_outage"])
                <= 0.5 + margin
            ), row
        assert row["tcp_bytes_lost"] == 0
        assert row["tcp_bytes_reordered"] == 0
        assert row["tcp_bytes_duplicated"] == 0
        assert row["tcp_reconnects"] == 0
        assert probed.tcp["sent"] > 100
        assert records.NA not in (
            row["probe_downtime"],
            row["libvirt_downtime"],
            row["tcp_max_stall"],
        )
        assert probed.libvirt["samples"], "no domain statistics sampled"


def _assert_recorded_failure(rig, agent, probed, source, reason):
    row = probed.row
    print(f"failed as expected: {row['error']}; {_load()}")
    assert row["success"] is False
    assert reason in row["error"].lower(), row["error"]
    assert row["libvirt_downtime"] == records.NA
    assert rig.where(rig.vm) == source.name
    assert agent.check(rig.vm.ip, 7, timeout=30)["ok"]


def test_abort_job_during_migration_is_a_recorded_failure(rig, agent):
    import libvirt

    source, target = _hosts(rig)
    aborted = threading.Event()

    def abort_when_running(dom) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if dom.jobInfo()[0] == libvirt.VIR_DOMAIN_JOB_UNBOUNDED:
                    dom.abortJob()
                    aborted.set()
                    return
            except libvirt.libvirtError:
                pass
            time.sleep(0.02)

    # 8 MiB/s keeps the job running for seconds whatever the machine's
    # load, so that the abort always lands inside it (a CI run once saw
    # the migration over before the 20 ms poll found it running).
    probed = migrate.probed_migration(
        rig,
        agent,
        rig.vm,
        source,
        target,
        "native",
        during=abort_when_running,
        params={"bandwidth": 8},
    )
    assert aborted.is_set(), probed.row
    _assert_recorded_failure(rig, agent, probed, source, "cancel")


def test_timeout_aborts_the_migration(rig, agent):
    source, target = _hosts(rig)
    # The guest's pre-copy takes seconds under TCG; 0.2 s cannot suffice.
    probed = migrate.probed_migration(
        rig, agent, rig.vm, source, target, "tunnelled", timeout=0.2
    )
    _assert_recorded_failure(rig, agent, probed, source, "timed out")


def test_tunnelled_postcopy_is_refused_and_recorded(rig, agent):
    source, target = _hosts(rig)
    probed = migrate.probed_migration(
        rig,
        agent,
        rig.vm,
        source,
        target,
        "tunnelled",
        extra_flags=("postcopy",),
    )
    _assert_recorded_failure(rig, agent, probed, source, "post-copy")


def test_refusing_target_is_a_recorded_failure(rig, agent):
    source, target = _hosts(rig)
    # The target already defines a domain of that name with another UUID:
    # its libvirtd refuses the incoming migration.
    conn = rig.hypervisors.connect(target.name)
    xml = (
        f"<domain type='qemu'><name>{rig.vm.name}</name>"
        "<memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>"
    )
    squatter = conn.defineXML(xml)
    try:
        probed = migrate.probed_migration(
            rig, agent, rig.vm, source, target, "native"
        )
    finally:
        squatter.undefine()
    _assert_recorded_failure(rig, agent, probed, source, "already exists")

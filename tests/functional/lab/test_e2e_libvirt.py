"""End to end: real guests on the lab's libvirt hosts, live-migrated by
Nova and measured by the three probes, on the study's two clouds.

The session's lab gains its two libvirt compute hosts (``lab up
--computes libvirt``: a libvirtd, QEMU under TCG, Open vSwitch and a
nova-compute with the libvirt driver in each host's namespaces), then
``rally task start task_templates/live_migration_evacuation.yaml`` runs
with the task args ``lab env`` wrote for them: two busybox guests that
took their address from neutron's DHCP agent and their workload from the
config drive, evacuated from lab-kvm-1 to lab-kvm-2 and back twice.

* Local storage, native transport: block migration of the local disks.
* Shared storage (``lab up --storage shared``: the disks are RBD images
  on the lab's Ceph), tunnelled transport, switched on by the transport
  context for the run and back after it.

Each run checks:

* every migration really moved the guest: a watcher polling both
  libvirtds saw each domain running on the source, then on the target;
  the scenario's rows say the same hosts, and so do Nova's own
  live-migration records (``/os-migrations``, all completed);
* the three downtimes exist for every migration, and the network probe's
  agrees with libvirt's within a few probe intervals and the UDP
  probe's scheduling;
* the TCP stream lost no byte, but where the guest itself broke: a
  guest whose console shows it dying must show it in the probes too
  (see ``_evacuate``);
* block migration exactly on local storage: the source mirrored the
  disk; on shared storage the domains' disks were RBD images and none
  was mirrored;
* the transport: native memory goes over a QEMU-to-QEMU TCP connection
  (libvirt's ports 49152-49215), seen in the source host's network
  namespace; tunnelled goes inside the libvirtds' own connection, and no
  such stream appears. The context left native hosts alone (same
  PIDs), and restarted them into tunnelled and back (new PIDs, files
  byte for byte as before); during the run both computes' files had the
  transport and the other option asked for (``completion_timeout``),
  and the scenario recorded both;
* after the task, no server, no domain, no instance directory and no
  RBD image is left; ``lab up --computes fake`` then stops the hosts,
  leaves none of their processes and deletes their nova-compute
  services.

Tunnelled on local storage is not a combination that exists: libvirt
9.0 refuses each of Nova 34's tunnelled block migrations ("Unsafe
migration: Migration without shared storage is unsafe").
"""

from __future__ import annotations

import json
import re
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from rally_osic.lab import config as lab_config
from rally_osic.lab import procs
from rally_osic.lab.families.libvirt import LIBVIRT_PORT, MGMT_SUBNET, short
from rally_osic.lab.families.nova import compute_service_states
from tests.functional.lab.nova_watch import (
    NovaWatcher,
    admin_session,
    live_migration_ids,
)
from tests.functional.lab.tables import output_tables

pytestmark = pytest.mark.functional

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = REPO / "task_templates" / "live_migration_evacuation.yaml"
HOSTS = ("lab-kvm-1", "lab-kvm-2")
ENDED_BY_ABORT = ("cancelled", "error")  # Nova's migration status


def _up_with_env(lab, lab_rally, *args: str) -> None:
    """``lab up ARGS`` on the running lab, then ``lab env`` (the task
    args follow the hosts' storage)."""
    started = time.monotonic()
    result = lab.cli("up", *args, timeout=1800)
    assert result.returncode == 0, (
        f"lab up {' '.join(args)} failed:\n{result.stdout[-2000:]}\n"
        f"{result.stderr[-3000:]}"
    )
    print(f"\nlab up {' '.join(args)}: {time.monotonic() - started:.0f} s")
    result = lab.cli("env", "--name", "osic-lab", env=lab_rally.env)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def libvirt_lab(lab, lab_rally):
    try:
        _up_with_env(lab, lab_rally, "--computes", "libvirt")
        yield lab
    finally:
        # The later tests run on the fake computes, and the hosts' idle
        # nova-computes and vswitches would only cost them CPU.
        result = lab.cli("up", "--computes", "fake", timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
        lab.cli("env", "--name", "osic-lab", env=lab_rally.env)
        config = lab_config.load(lab.state_dir)
        left = procs.find_by_cmdline(str(config.data / "libvirt"))
        assert not left, [procs.read_cmdline(pid) for pid in left]
        # Retired from Nova too: a stopped compute would read "up" for a
        # minute, and the next test's transport toggle would reach it.
        states = compute_service_states(config)
        assert not [key for key in states if "lab-kvm" in key], states


QEMU_MIGRATION_PORTS = range(49152, 49216)  # the hosts' qemu.conf
TCP_ESTABLISHED = "01"


def _hex_address(field: str) -> tuple[str, int]:
    """ "0101A8C0:C000" of /proc/net/tcp -> ("192.168.1.1", 49152)."""
    address, port = field.split(":")
    packed = struct.pack("<I", int(address, 16))
    return socket.inet_ntoa(packed), int(port, 16)


def _migration_streams(netns_pid: int) -> set[tuple[int, int]]:
    """(local, remote) ports of the established TCP connections between
    the hosts' management addresses, in a process's network namespace,
    but for the libvirtds' own connections: QEMU's migration streams
    (and block-copy NBD), which native opens and tunnelled never does.
    Both ends are checked: either can be an ephemeral port inside
    libvirt's migration range."""
    streams = set()
    with open(f"/proc/{netns_pid}/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            if fields[3] != TCP_ESTABLISHED:
                continue
            (_, local), (remote_ip, remote) = map(_hex_address, fields[1:3])
            if remote_ip.startswith(
                f"{MGMT_SUBNET}."
            ) and LIBVIRT_PORT not in (local, remote):
                streams.add((local, remote))
    return streams


# What a guest kernel prints when it dies or its state is corrupt.
GUEST_DEATH = re.compile(
    r"Kernel panic|Oops|BUG: |general protection fault|Call Trace:"
    r"|is not a head"
)


class DomainWatcher(threading.Thread):
    """Where each domain runs, as both libvirtds say, what its disks are,
    which QEMU migration connections the hosts' namespaces hold, and
    where a guest's console first showed it dying, every 0.2 s."""

    def __init__(
        self,
        sockets: dict[str, str],
        netns_pids: list[int],
        instances: dict[str, Path],
    ):
        super().__init__(daemon=True)
        self.sockets = sockets
        self.netns_pids = netns_pids
        self.instances = instances  # host -> its instances directory
        self.seen: dict[str, list[str]] = {}  # domain uuid -> hosts in turn
        self.names: dict[str, str] = {}  # domain uuid -> server name
        self.disks: set[str] = set()  # "file" or the network protocol
        self.migration_streams: set[tuple[int, int]] = set()
        self.deaths: dict[str, tuple[str, str]] = {}  # name -> host, line
        self.death_seen: dict[str, float] = {}  # name -> monotonic time
        self.last_move: dict[str, float] = {}  # domain uuid -> time
        self.halt = threading.Event()

    def _read_consoles(self) -> None:
        for uuid, name in self.names.items():
            if name in self.deaths:
                continue
            for host, directory in self.instances.items():
                try:
                    text = (directory / uuid / "console.log").read_text(
                        errors="replace"
                    )
                except OSError:
                    continue
                found = GUEST_DEATH.search(text)
                if found:
                    start = text.rfind("\n", 0, found.start()) + 1
                    end = text.find("\n", found.end())
                    self.deaths[name] = (host, text[start:end].strip())
                    self.death_seen[name] = time.monotonic()
                    break

    def run(self):
        import xml.etree.ElementTree as ElementTree

        import libvirt

        conns = {
            host: libvirt.open(f"qemu+unix:///system?socket={path}")
            for host, path in self.sockets.items()
        }
        try:
            while not self.halt.wait(0.2):
                for pid in self.netns_pids:
                    self.migration_streams |= _migration_streams(pid)
                self._read_consoles()
                for host, conn in conns.items():
                    for dom in conn.listAllDomains(
                        libvirt.VIR_CONNECT_LIST_DOMAINS_RUNNING
                    ):
                        hosts = self.seen.setdefault(dom.UUIDString(), [])
                        if not hosts or hosts[-1] != host:
                            hosts.append(host)
                            self.last_move[dom.UUIDString()] = time.monotonic()
                            xml = ElementTree.fromstring(dom.XMLDesc())
                            name = next(
                                (
                                    e.text
                                    for e in xml.iter()
                                    if e.tag.startswith("{http://openstack")
                                    and e.tag.endswith("}name")
                                ),
                                None,
                            )
                            if name:
                                self.names[dom.UUIDString()] = name
                            for disk in xml.iter("disk"):
                                source = disk.find("source")
                                self.disks.add(
                                    source.get("protocol", disk.get("type"))
                                    if source is not None
                                    else disk.get("type")
                                )
        finally:
            for conn in conns.values():
                conn.close()


def _evacuate(
    config, lab_rally, transport: str, nova_options: dict | None = None
) -> dict:
    """One evacuation task (2 servers, 2 round trips) watched from the
    libvirtds and from Nova; its rows and what the watchers and the hosts
    showed."""
    args = json.loads(
        (config.state_dir / "live-migration-args.json").read_text()
    )
    args.update(servers=2, round_trips=2, timeout=300, poll_interval=0.25)
    args.update(probe_interval=0.01, transport=transport)
    if nova_options:
        args.update(nova_options=nova_options)
    netns_pids = [
        procs.read_pidfile(config.run / f"{host}-node.pid") for host in HOSTS
    ]
    assert all(netns_pids), netns_pids
    watcher = DomainWatcher(
        args["libvirt_host_map"],
        netns_pids,
        {host: config.data / "libvirt" / host / "instances" for host in HOSTS},
    )
    compute_pidfiles = [
        config.run / f"nova-compute-{short(host)}.pid" for host in HOSTS
    ]
    compute_files = [
        config.etc / "nova" / f"compute-{short(host)}.conf" for host in HOSTS
    ]
    computes_before = [procs.read_pidfile(p) for p in compute_pidfiles]
    files_before = [p.read_bytes() for p in compute_files]
    sess = admin_session(config.state_dir)
    nova = NovaWatcher(compute_files, sess, live_migration_ids(sess))
    watcher.start()
    nova.start()
    started = time.monotonic()
    try:
        run, uuid = lab_rally.start_template(TEMPLATE, args, timeout=1500)
    finally:
        watcher.halt.set()
        nova.stop.set()
        watcher.join(5)
        nova.join(5)
    print(f"\n{args['storage']} storage, {transport}: evacuation task "
          f"{time.monotonic() - started:.0f} s")  # fmt: skip
    assert uuid, run.stdout[-3000:] + run.stderr[-2000:]
    (task,) = lab_rally.report_json(uuid)["tasks"]
    (workload,) = task["subtasks"][0]["workloads"]
    assert task["status"] == "finished", run.stdout[-3000:]
    errors = [i["error"] for i in workload["data"] if i["error"]]
    assert not errors, errors

    evacuations = output_tables(workload, "Evacuation")
    assert [t[0]["storage"] for t in evacuations] == [args["storage"]] * 4
    assert [t[0]["success_rate"] for t in evacuations] == ["2/2"] * 4
    tables = output_tables(workload, "Live migrations")
    assert len(tables) == 4
    rows = [row for table in tables for row in table]
    assert len(rows) == 8
    for number, table in enumerate(tables):
        source, target = HOSTS if number % 2 == 0 else HOSTS[::-1]
        for row in table:
            assert row["success"] is True, row
            assert row["error"] == "", row
            assert row["migration_status"] == "completed", row
            assert (row["source"], row["target"]) == (source, target), row
    # Nova's own records: four there and four back, all completed.
    assert nova.moves() == sorted(
        [(*HOSTS, "completed")] * 4 + [(*HOSTS[::-1], "completed")] * 4
    ), nova.moves()
    # Each guest's domain ran on lab-kvm-1, then 2, 1, 2, 1: really moved.
    tracks = [hosts for hosts in watcher.seen.values() if len(hosts) > 1]
    assert len(tracks) == 2, watcher.seen
    for hosts in tracks:
        assert hosts == ["lab-kvm-1", "lab-kvm-2"] * 2 + ["lab-kvm-1"], hosts

    # The lab's TCG guests now and then break (see the README, "a guest
    # that panics after a migration"), mostly at a switch-over, once
    # before any: the kernel dies, or the TCP stream loses bytes while the
    # guest still answers. A death is a known truth the probes are held
    # to: the guest's console shows it, and a row of that guest must show
    # the lost stream and an outage far longer than libvirt's pause. A
    # stream that lost bytes with no death on the console has no witness
    # here; such rows are printed, and the probes' TCP figures are held to
    # zero loss by the migration rig's tests instead. Every other row must
    # lose nothing and agree with libvirt's downtime. A dead guest reboots
    # or hangs, so its later rows are not held to the switchover's figures.
    print(f"guests that died: {watcher.deaths}")
    corrupted: list[str] = []
    died_in: dict[str, str] = {}
    for row in rows:
        line = (
            f"{row['vm']} {row['direction']}: {row['duration']:.1f} s by "
            f"the API, libvirt {row['libvirt_time_elapsed']} s, downtime "
            f"libvirt {row['libvirt_downtime']} s, probe "
            f"{row['probe_downtime']} s, 500 ms ping "
            f"{row['ping_500ms_downtime']} s, TCP lost "
            f"{row['tcp_bytes_lost']} B, stall {row['tcp_max_stall']} s"
        )
        print(line)
        assert row["transport"] == transport, line
        vm = row["vm"]
        if vm in died_in:
            continue
        if vm in watcher.deaths and row["probe_downtime"] == "n/a":
            # Dead before this migration began (once at 34 s of uptime,
            # before any): the probes had no answer to measure from.
            assert row["tcp_bytes_lost"] == "n/a", line
            died_in[vm] = line
            continue
        for column in ("libvirt_downtime", "probe_downtime"):
            assert isinstance(row[column], float), (column, line)
        if row["tcp_bytes_lost"]:
            if (
                vm in watcher.deaths
                and row["probe_downtime"] > 1.0 > row["libvirt_downtime"]
                and row["ping_500ms_downtime"] >= 1.0
            ):
                died_in[vm] = line
            else:
                corrupted.append(line)
            continue
        # The switchover, seen from the guests' network: the same outage
        # within a few probe intervals, plus the time a RARP takes to
        # teach the bridges where the guest went.
        assert (
            abs(row["probe_downtime"] - row["libvirt_downtime"])
            <= 5 * row["probe_interval"] + 0.25
        ), line
    # Every guest whose console shows it died, the probes saw die (a lost
    # stream and an outage over 1 s), but one that died after its last
    # migration's window.
    moved = {
        name: watcher.last_move[uuid] for uuid, name in watcher.names.items()
    }
    unseen = [
        vm
        for vm in watcher.deaths
        if vm not in died_in and watcher.death_seen[vm] < moved[vm] + 10
    ]
    assert not unseen, (unseen, watcher.deaths)
    print(f"streams that lost bytes, no death on the console: {corrupted}")

    _assert_nothing_left(config, args)
    return {
        "rows": rows,
        "watcher": watcher,
        "computes": (
            computes_before,
            [procs.read_pidfile(p) for p in compute_pidfiles],
        ),
        "files": (files_before, [p.read_bytes() for p in compute_files]),
        "files_during": nova.seen,
        "evacuations": evacuations,
    }


def _assert_nothing_left(config, args: dict) -> None:
    """No domain on either libvirtd and no instance directory."""
    import libvirt

    for host, path in args["libvirt_host_map"].items():
        conn = libvirt.open(f"qemu+unix:///system?socket={path}")
        try:
            assert conn.listAllDomains() == [], host
        finally:
            conn.close()
    instances = config.data / "libvirt"
    for host in HOSTS:
        left = [
            p.name
            for p in (instances / host / "instances").iterdir()
            if p.name not in ("_base", "locks", "compute_nodes")
        ]
        assert not left, (host, left)


def test_local_storage_native_block_migrates(libvirt_lab, lab_rally):
    config = lab_config.load(libvirt_lab.state_dir)
    run = _evacuate(config, lab_rally, "native")
    assert {row["block_migration"] for row in run["rows"]} == {True}
    assert run["watcher"].disks == {"file"}, run["watcher"].disks
    streams = run["watcher"].migration_streams
    assert streams, "no QEMU-to-QEMU migration stream"
    assert all(
        any(port in QEMU_MIGRATION_PORTS for port in ends) for ends in streams
    ), streams
    # Their files already said native: neither rewritten nor restarted.
    before, after = run["computes"]
    assert after == before
    assert run["files"][1] == run["files"][0]


def test_shared_storage_tunnelled_moves_memory_only(libvirt_lab, lab_rally):
    _up_with_env(libvirt_lab, lab_rally, "--storage", "shared")
    config = lab_config.load(libvirt_lab.state_dir)
    # An option beside the transport, which changes nothing in migrations
    # of a few seconds (Nova aborts after 600 s a GiB instead of 800).
    options = {"completion_timeout": 600}
    run = _evacuate(config, lab_rally, "tunnelled", nova_options=options)
    assert {row["block_migration"] for row in run["rows"]} == {False}
    # The root disks and config drives were RBD images (the kernel and
    # initramfs are not disks).
    assert run["watcher"].disks == {"rbd"}, run["watcher"].disks
    # Tunnelled: the memory went inside the libvirtds' connection.
    streams = run["watcher"].migration_streams
    assert not streams, streams
    before, after = run["computes"]
    assert all(a != b for a, b in zip(after, before)), (before, after)
    assert run["files"][1] == run["files"][0]
    # Rewritten for the run: both options in each compute's file.
    for path, texts in run["files_during"].items():
        assert any(
            "live_migration_tunnelled = true" in text
            and "live_migration_completion_timeout = 600" in text
            for text in texts
        ), f"{path.name} was never rewritten"
    recorded = run["evacuations"][0][0]["nova_options"]
    assert "live_migration_tunnelled=true" in recorded, recorded
    assert "live_migration_completion_timeout=600" in recorded, recorded
    images = subprocess.run(
        ["rbd", "-c", str(config.etc / "ceph" / "ceph.conf"), "ls", "vms"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert images.returncode == 0, images.stderr
    assert images.stdout.split() == [], images.stdout


def _failed_evacuation(lab_rally, run, uuid) -> tuple[dict, list]:
    """A task of 2 servers and 1 round trip whose every migration there
    failed: the evacuation there failed as a whole, after both tries, and
    nothing had moved, so there was nothing to bring back. The workload
    and the 2 migrations' rows."""
    assert uuid, run.stdout[-3000:] + run.stderr[-2000:]
    (task,) = lab_rally.report_json(uuid)["tasks"]
    (workload,) = task["subtasks"][0]["workloads"]
    assert task["status"] == "finished", run.stdout[-3000:]
    first, back = workload["data"]
    assert "2 of 2 migrations failed (lab-kvm-1 -> lab-kvm-2)" in str(
        first["error"]
    ), first["error"]
    assert not back["error"], back["error"]
    rows, none_back = output_tables(workload, "Live migrations")
    assert none_back == [] and len(rows) == 2
    for row in rows:
        assert row["success"] is False, row
        assert (row["source"], row["target"]) == HOSTS, row
    return workload, rows


def test_a_migration_past_its_timeout_is_aborted_and_the_evacuation_goes_on(
    libvirt_lab, lab_rally
):
    """Nova's live_migration_bandwidth of 1 MiB/s (through the transport
    context's options) keeps each migration of a guest dirtying 16 MiB/s
    from ever converging: at the scenario's 10 s timeout it is aborted
    through Nova's API, libvirt cancels it and the guest stays on its
    host. Each migration is a recorded failure with that reason, the
    evacuation goes on to the next server, and the task's clean-up
    leaves nothing behind.

    Nova's record ends "cancelled" or "error": its libvirt driver rolls
    the migration back twice, once from the job monitor (cancelled) and
    once from the thread whose migrateToURI3 the abort broke (error),
    and the last one wins (both seen here)."""
    config = lab_config.load(libvirt_lab.state_dir)
    args = json.loads(
        (config.state_dir / "live-migration-args.json").read_text()
    )
    args.update(servers=2, round_trips=1, timeout=10, poll_interval=0.25)
    args.update(transport="native", nova_options={"bandwidth": 1})
    sess = admin_session(config.state_dir)
    compute_files = [
        config.etc / "nova" / f"compute-{short(host)}.conf" for host in HOSTS
    ]
    nova = NovaWatcher(compute_files, sess, live_migration_ids(sess))
    nova.start()
    started = time.monotonic()
    try:
        run, uuid = lab_rally.start_template(TEMPLATE, args, timeout=900)
    finally:
        nova.stop.set()
        nova.join(5)
    print(f"\ntimed-out evacuation task {time.monotonic() - started:.0f} s")
    workload, rows = _failed_evacuation(lab_rally, run, uuid)
    for row in rows:
        assert row["error"].startswith(
            "timed out after 10 s; aborted (server on lab-kvm-1, migration "
            f"{row['migration_status']})"
        ), row
        assert row["migration_status"] in ENDED_BY_ABORT, row
    evacuations = output_tables(workload, "Evacuation")
    assert [t[0]["success_rate"] for t in evacuations] == ["0/2", "0/0"]
    moves = nova.moves()
    assert [move[:2] for move in moves] == [HOSTS] * 2, moves
    assert {move[2] for move in moves} <= set(ENDED_BY_ABORT), moves
    # The option was there during the run, and gone after it.
    for path, texts in nova.seen.items():
        assert any("live_migration_bandwidth = 1" in text for text in texts), (
            f"{path.name} never had the bandwidth"
        )
        assert "live_migration_bandwidth" not in path.read_text(), path
    _assert_nothing_left(config, args)


def _force_down(sess, host: str, down: bool) -> None:
    """Nova's forced_down of a compute service: what an operator does
    to a host known dead, so that Nova stops waiting for its heartbeat
    to age (service_down_time) before it refuses to send it guests."""
    headers = {"OpenStack-API-Version": "compute 2.53"}
    compute = {"service_type": "compute", "interface": "public"}
    (service,) = sess.get(
        f"/os-services?binary=nova-compute&host={host}",
        endpoint_filter=compute,
        headers=headers,
    ).json()["services"]
    response = sess.put(
        f"/os-services/{service['id']}",
        json={"forced_down": down},
        endpoint_filter=compute,
        headers=headers,
    )
    assert response.json()["service"]["forced_down"] is down


def test_a_target_compute_that_is_down_fails_each_migration(
    libvirt_lab, lab_rally
):
    """lab-kvm-2's nova-compute stopped and forced down: Nova refuses to
    live-migrate a guest there, each migration is a recorded failure
    with Nova's reason, the evacuation goes on to the next server, and
    the task's clean-up leaves nothing behind."""
    config = lab_config.load(libvirt_lab.state_dir)
    args = json.loads(
        (config.state_dir / "live-migration-args.json").read_text()
    )
    args.update(servers=2, round_trips=1, timeout=120, poll_interval=0.25)
    sess = admin_session(config.state_dir)
    stopped = libvirt_lab.cli("down", "--only", "nova-compute-kvm-2")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    try:
        _force_down(sess, HOSTS[1], True)
        started = time.monotonic()
        run, uuid = lab_rally.start_template(TEMPLATE, args, timeout=900)
        print(
            f"\nevacuation to a dead host {time.monotonic() - started:.0f} s"
        )
    finally:
        _force_down(sess, HOSTS[1], False)
        back = libvirt_lab.cli("up", "--only", "nova-compute-kvm-2")
        assert back.returncode == 0, back.stdout + back.stderr
    workload, rows = _failed_evacuation(lab_rally, run, uuid)
    for row in rows:
        assert row["error"].startswith("API error: "), row
        assert "lab-kvm-2" in row["error"], row
    _assert_nothing_left(config, args)

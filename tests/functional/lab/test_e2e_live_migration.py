"""End to end: the evacuation scenario through Nova's API, on the lab.

``rally task start task_templates/live_migration_evacuation.yaml`` runs
against the session's lab and its two fake computes (nova's fake driver
"migrates" at once; what is real is Nova's API, scheduler, conductor,
computes, migration records and the transport toggle's files and
restarts). It checks:

* the servers really moved host <-> host: each row's direction matches
  a completed live-migration record in Nova (``/os-migrations``);
* the transport toggle really rewrote both computes' config files (seen
  by a watcher during the run), restarted both nova-computes (new PIDs)
  and restored the files byte for byte afterwards;
* the probes had nothing to reach (the servers have no network), so every
  probe cell is "n/a", never 0;
* the servers are gone after the task;
* a value Nova would reject is a one-line error before any file or
  process is touched;
* ``rally task abort`` in the middle of a run still deletes the servers
  and restores the computes' files.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from rally_osic.lab import config as lab_config
from rally_osic.lab import services as lab_services
from rally_osic.lab.families.nova import COMPUTE_HOSTS
from tests.functional.lab.tables import output_tables

pytestmark = pytest.mark.functional

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = REPO / "task_templates" / "live_migration_evacuation.yaml"
PROBE_COLUMNS = (
    "probe_downtime",
    "probe_max_outage",
    "probe_interval",
    "ping_500ms_downtime",
    "tcp_bytes_lost",
    "tcp_max_stall",
    "libvirt_downtime",
    "libvirt_time_elapsed",
)
ARGS = {
    "servers": 2,
    "round_trips": 1,
    "flavor_name": "m1.lab",
    "image": "lab-image",
    "transport": "tunnelled",
    "nova_options": {"downtime": 400, "permit_auto_converge": True},
    "poll_interval": 0.2,
    "timeout": 120,
}


def _compute_files(lab):
    config = lab_config.load(lab.state_dir)
    return [
        config.etc / "nova" / f"compute-{i}.conf"
        for i in range(1, len(COMPUTE_HOSTS) + 1)
    ]


def _compute_pids(lab):
    config = lab_config.load(lab.state_dir)
    table = lab_services.by_name(config)
    return {
        name: Path(table[name].pidfile).read_text().strip()
        for name in ("nova-compute-1", "nova-compute-2")
    }


def _session(lab):
    from rally_osic.lab import catalog

    return catalog.admin_session(lab_config.load(lab.state_dir))


def _get(sess, path):
    return sess.get(
        path,
        endpoint_filter={"service_type": "compute", "interface": "public"},
        headers={"OpenStack-API-Version": "compute 2.59"},
    ).json()


class Watcher(threading.Thread):
    """Remembers every content the compute files had during the run, and
    Nova's live-migration records (hidden once their servers are deleted).
    """

    def __init__(self, files, sess, known):
        super().__init__(daemon=True)
        self.files = files
        self.sess = sess
        self.known = known
        self.seen = {f: set() for f in files}
        self.migrations = {}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(0.2):
            for path in self.files:
                try:
                    self.seen[path].add(path.read_text())
                except OSError:
                    pass
            try:
                found = _get(
                    self.sess, "/os-migrations?migration_type=live-migration"
                )["migrations"]
            except Exception:  # noqa: BLE001 - nova restarting: next poll
                continue
            for record in found:
                if record["id"] not in self.known:
                    self.migrations[record["id"]] = record


def test_evacuation_through_nova_with_transport_toggle(lab, lab_rally):
    files = _compute_files(lab)
    before = {path: path.read_bytes() for path in files}
    pids_before = _compute_pids(lab)
    sess = _session(lab)
    known = {m["id"] for m in _get(sess, "/os-migrations")["migrations"]}
    watcher = Watcher(files, sess, known)
    watcher.start()
    started = time.monotonic()
    try:
        run, uuid = lab_rally.start_template(TEMPLATE, ARGS, timeout=900)
    finally:
        watcher.stop.set()
        watcher.join(5)
    print(f"evacuation task: {time.monotonic() - started:.0f} s")
    assert uuid, run.stdout[-2000:] + run.stderr[-2000:]
    report = lab_rally.report_json(uuid)
    (task,) = report["tasks"]
    (workload,) = task["subtasks"][0]["workloads"]
    assert task["status"] == "finished", run.stdout[-3000:]
    errors = [i["error"] for i in workload["data"] if i["error"]]
    assert not errors, errors
    assert workload["pass_sla"]

    # The toggle: rewritten during the run, restarted, restored after.
    for path in files:
        assert any(
            "live_migration_tunnelled = true" in text
            and "live_migration_downtime = 400" in text
            for text in watcher.seen[path]
        ), f"{path.name} was never rewritten"
        assert path.read_bytes() == before[path], f"{path.name} not restored"
    pids_after = _compute_pids(lab)
    for name, pid in pids_before.items():
        assert pids_after[name] != pid, f"{name} was not restarted"
    evacuation = output_tables(workload, "Evacuation")
    assert [t[0]["transport"] for t in evacuation] == ["tunnelled"] * 2
    assert all(t[0]["success_rate"] == "2/2" for t in evacuation)
    assert "live_migration_tunnelled=true" in evacuation[0][0]["nova_options"]

    # The servers moved there and back; Nova's records agree.
    tables = output_tables(workload, "Live migrations")
    assert len(tables) == 2
    there, back = tables
    assert len(there) == len(back) == 2
    (source,) = {row["source"] for row in there}
    (target,) = {row["target"] for row in there}
    assert source != target
    assert {row["source"] for row in back} == {target}
    assert {row["target"] for row in back} == {source}
    records = list(watcher.migrations.values())
    moves = sorted(
        (m["source_compute"], m["dest_compute"], m["status"]) for m in records
    )
    assert moves == sorted(
        [(source, target, "completed")] * 2
        + [(target, source, "completed")] * 2
    ), moves
    for row in there + back:
        print(
            f"{row['vm']} {row['direction']}: {row['duration']:.2f} s by the"
            f" API, started after {row['started_after']} s"
        )
        assert row["success"] is True
        assert row["error"] == ""
        assert row["migration_status"] == "completed"
        assert 0 < row["duration"] < ARGS["timeout"]
        assert row["transport"] == "tunnelled"
        for column in PROBE_COLUMNS:
            assert row[column] == "n/a", (column, row[column])

    # Cleanup: no workload server is left.
    servers = _get(sess, "/servers?all_tenants=1")["servers"]
    assert not [s for s in servers if s["name"].startswith("osic-lm-")]


def test_value_nova_rejects_is_one_line_and_touches_nothing(lab, lab_rally):
    files = _compute_files(lab)
    before = {path: path.read_bytes() for path in files}
    pids_before = _compute_pids(lab)
    args = {**ARGS, "nova_options": {"downtime": 50}}
    run, uuid = lab_rally.start_template(TEMPLATE, args, timeout=300)
    report = lab_rally.report_json(uuid)
    text = json.dumps(report)
    assert "Nova's minimum is 100" in text
    message = (
        "downtime (libvirt.live_migration_downtime) = 50: "
        "Nova's minimum is 100"
    )
    assert message in run.stdout + run.stderr + text
    for path in files:
        assert path.read_bytes() == before[path]
    assert _compute_pids(lab) == pids_before


def test_abort_deletes_the_servers_and_restores_the_computes(lab, lab_rally):
    import subprocess

    files = _compute_files(lab)
    before = {path: path.read_bytes() for path in files}
    sess = _session(lab)
    known = set(lab_rally.check("task", "list", "--uuids-only").split())
    args = {**ARGS, "round_trips": 50}
    task = subprocess.Popen(
        [
            lab_rally.binary,
            "task",
            "start",
            str(TEMPLATE),
            "--task-args",
            json.dumps(args),
        ],
        env=lab_rally.env,
        cwd=lab_rally.home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        uuid = None
        while time.monotonic() < deadline and task.poll() is None:
            servers = _get(sess, "/servers/detail?all_tenants=1")["servers"]
            ours = [s for s in servers if s["name"].startswith("osic-lm-")]
            if len(ours) == 2 and all(s["status"] == "ACTIVE" for s in ours):
                new = (
                    set(
                        lab_rally.check("task", "list", "--uuids-only").split()
                    )
                    - known
                )
                uuid = new.pop() if new else None
                if uuid:
                    break
            time.sleep(0.5)
        assert uuid, "the task never had its two servers up"
        lab_rally.check("task", "abort", uuid)
        assert task.wait(timeout=300) is not None
    finally:
        if task.poll() is None:
            task.kill()
            task.wait(30)
    status = lab_rally.check("task", "status", uuid)
    print(status.strip())
    assert "aborted" in status
    servers = _get(sess, "/servers?all_tenants=1")["servers"]
    assert not [s for s in servers if s["name"].startswith("osic-lm-")]
    for path in files:
        assert path.read_bytes() == before[path], f"{path.name} not restored"

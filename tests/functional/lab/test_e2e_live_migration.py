"""End to end: the evacuation scenario's failure paths through Nova's
API, on the lab's fake computes.

``rally task start task_templates/live_migration_evacuation.yaml`` runs
against the session's lab and its two fake computes (nova's fake driver
"migrates" at once; what is real is Nova's API, scheduler, conductor,
computes and the transport toggle's files and restarts). It checks:

* a value Nova would reject is a one-line error before any file or
  process is touched;
* ``rally task abort`` in the middle of a run still deletes the servers
  and restores the computes' files.

A whole evacuation, the toggle's rewrites and restarts and Nova's
migration records included, runs on real guests in test_e2e_libvirt.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from rally_osic.lab import config as lab_config
from rally_osic.lab import services as lab_services
from rally_osic.lab.families.nova import COMPUTE_HOSTS
from tests.functional.lab.nova_watch import admin_session, nova_get

pytestmark = pytest.mark.functional

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = REPO / "task_templates" / "live_migration_evacuation.yaml"
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
    sess = admin_session(lab.state_dir)
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
            listed = nova_get(sess, "/servers/detail?all_tenants=1")
            servers = listed["servers"]
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
    servers = nova_get(sess, "/servers?all_tenants=1")["servers"]
    assert not [s for s in servers if s["name"].startswith("osic-lm-")]
    for path in files:
        assert path.read_bytes() == before[path], f"{path.name} not restored"

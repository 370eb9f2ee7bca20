"""The lab for real: status, idempotent up, a Rally task, a clean down.

The tests of this module share one lab (session fixture) and run in order;
the last one takes the lab down.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from rally_osic.lab import config as lab_config
from rally_osic.lab import procs, services
from tests.functional.rally_cli import RallyCLI

pytestmark = pytest.mark.functional


def _pids(lab) -> dict[str, int | None]:
    config = lab_config.load(lab.state_dir)
    return {s.name: procs.running_pid(s) for s in services.build(config)}


def test_status_reports_every_service_healthy(lab):
    result = lab.cli("status", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    config = lab_config.load(lab.state_dir)
    # The core, plus the optional families an earlier test enabled
    # (test_e2e_services.py: lab up --services all).
    assert set(rows) == {s.name for s in services.build(config)}
    assert {
        "mariadb", "memcached", "epmd", "rabbitmq", "keystone", "glance",
        "placement", "neutron", "nova-api", "nova-conductor",
        "nova-scheduler", "nova-compute-1", "nova-compute-2",
    } <= set(rows)  # fmt: skip
    for name, row in rows.items():
        assert row["healthy"] and row["pid"], (name, row)
    assert rows["nova-compute-2"]["detail"] == "nova: up"
    assert (
        rows["keystone"]["port"]
        == 5000 + lab_config.load(lab.state_dir).port_offset
    )


def test_up_again_keeps_state_and_starts_only_what_is_down(lab):
    before = _pids(lab)
    os.kill(before["nova-conductor"], signal.SIGKILL)
    started = time.monotonic()
    result = lab.cli("up")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    after = _pids(lab)
    assert "started nova-conductor" in result.stdout
    assert after["nova-conductor"] not in (None, before["nova-conductor"])
    unchanged = {k: v for k, v in after.items() if k != "nova-conductor"}
    assert unchanged == {
        k: v for k, v in before.items() if k != "nova-conductor"
    }
    assert elapsed < 30, f"lab up on a running lab took {elapsed:.1f} s"


TASK = {
    "version": 2,
    "title": "rally-osic lab smoke test",
    "subtasks": [
        {
            "title": "keystone",
            "workloads": [
                {
                    "scenario": {"Authenticate.keystone": {}},
                    "runner": {"constant": {"times": 4, "concurrency": 2}},
                    "contexts": {"users": {"tenants": 1}},
                }
            ],
        },
        {
            "title": "glance",
            "workloads": [
                {
                    "scenario": {"GlanceImages.list_images": {}},
                    "runner": {"constant": {"times": 2, "concurrency": 1}},
                    "contexts": {"users": {"tenants": 1}},
                }
            ],
        },
        {
            "title": "nova",
            "workloads": [
                {
                    "scenario": {
                        "NovaServers.boot_and_delete_server": {
                            "flavor": {"name": "m1.lab"},
                            "image": {"name": "lab-image"},
                        }
                    },
                    "runner": {"constant": {"times": 2, "concurrency": 2}},
                    "contexts": {"users": {"tenants": 1}, "network": {}},
                }
            ],
        },
        {
            "title": "neutron",
            "workloads": [
                {
                    "scenario": {
                        "NeutronNetworks.create_and_list_networks": {}
                    },
                    "runner": {"constant": {"times": 2, "concurrency": 1}},
                    "contexts": {"users": {"tenants": 1}},
                }
            ],
        },
    ],
}


def test_rally_task_runs_against_the_lab(lab, tmp_path):
    rally = RallyCLI(tmp_path)
    rally.check("db", "create")
    result = lab.cli("env", "--name", "lab-test", env=rally.env)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("os-faults.json", "os-faults-osic.json", "lab-services.json"):
        assert json.loads((lab.state_dir / name).read_text())
    run, uuid = rally.start_task(TASK)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    report = rally.report_json(uuid)
    workloads = [
        workload
        for subtask in report["tasks"][0]["subtasks"]
        for workload in subtask["workloads"]
    ]
    assert len(workloads) == 4
    for workload in workloads:
        assert workload["pass_sla"], workload["sla_results"]
        assert workload["failed_iteration_count"] == 0


def test_down_stops_only_its_processes(lab):
    config = lab_config.load(lab.state_dir)
    table = services.build(config)
    # A stranger whose command line mentions the lab's files.
    decoy = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; time.sleep(120)",
            str(config.etc / "nova" / "nova.conf"),
            str(config.run / "memcached.pid"),
        ]
    )
    try:
        result = lab.cli("down", timeout=180)
        assert result.returncode == 0, result.stdout + result.stderr
        for service in table:
            assert procs.find_by_cmdline(service.match) == [], service.name
            assert not service.pidfile.exists(), service.name
        assert decoy.poll() is None, "lab down killed a stranger"
        # Nor anything the services started themselves (the agents'
        # dnsmasq and haproxy, privsep helpers): no process left names
        # the lab's state, but the decoy.
        left = [
            pid
            for pid in procs.find_by_cmdline(str(config.state_dir))
            if pid != decoy.pid
        ]
        assert left == [], [procs.read_cmdline(pid) for pid in left]
        status = lab.cli("status", "--json")
        assert status.returncode == 3
        assert not any(row["pid"] for row in json.loads(status.stdout))
    finally:
        decoy.kill()
        decoy.wait()

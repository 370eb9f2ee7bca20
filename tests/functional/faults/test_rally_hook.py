"""A real ``rally task start`` with the osic_fault hook (sqlite, own HOME)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from osic_fault_helpers import local_config, read_pid

pytestmark = pytest.mark.functional

BIN = os.path.dirname(sys.executable)


def rally(env, *args, timeout=300):
    return subprocess.run(
        [os.path.join(BIN, "rally"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def rally_env(tmp_path):
    env = dict(os.environ)
    env["HOME"] = str(tmp_path)
    env["OS_DATABASE__CONNECTION"] = f"sqlite:///{tmp_path}/rally.sqlite"
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    env.pop("OS_FAULTS_CONFIG", None)
    assert rally(env, "db", "create").returncode == 0
    assert rally(env, "env", "create", "--name", "osic").returncode == 0
    return env


def run_task(env, tmp_path, hooks):
    task = {
        "version": 2,
        "title": "osic_fault",
        "subtasks": [
            {
                "title": "sleep under a fault",
                "workloads": [
                    {
                        "scenario": {"Dummy.dummy": {"sleep": 0.25}},
                        "runner": {
                            "constant": {"times": 14, "concurrency": 1}
                        },
                        "hooks": hooks,
                    }
                ],
            }
        ],
    }
    path = tmp_path / "task.json"
    path.write_text(json.dumps(task))
    res = rally(env, "task", "start", str(path))
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    out = tmp_path / "report.json"
    rep = rally(env, "task", "report", "--json", "--out", str(out))
    assert rep.returncode == 0, rep.stderr[-2000:]
    workload = json.loads(out.read_text())["tasks"][0]["subtasks"][0][
        "workloads"
    ][0]
    return [h["results"][0] for h in workload["hooks"]]


def hook(action, config, **extra):
    return {
        "description": "fault",
        "action": {
            "osic_fault": {"action": action, "config": config, **extra}
        },
        "trigger": {"event": {"unit": "iteration", "at": [3]}},
    }


def test_rally_task_self_recovering_and_restored(
    rally_env, tmp_path, supervised_memcached, memcached, decoy_memcached
):
    _, sup_args = supervised_memcached
    svc, args = memcached
    config = local_config({"supervised": sup_args, "memcached": args})
    # A config given in the hook is checked at validation (an unknown
    # service never starts the task); one found at run time, here
    # $OS_FAULTS_CONFIG, fails the hook alone.
    found_at_run_time = tmp_path / "os-faults.json"
    found_at_run_time.write_text(json.dumps(config))
    rally_env = dict(rally_env, OS_FAULTS_CONFIG=str(found_at_run_time))
    unknown = hook("kill nosuch service on one node", config)
    del unknown["action"]["osic_fault"]["config"]
    results = run_task(
        rally_env,
        tmp_path,
        [
            hook(
                "kill supervised service on one node",
                config,
                recover_within=10,
            ),
            hook(
                "kill memcached service on one node", config, recover_within=1
            ),
            unknown,
        ],
    )
    by_itself, restored, bad = results
    assert by_itself["status"] == "success", by_itself.get("error")
    assert by_itself["fault"]["came_back"] == "itself"
    assert by_itself["output"]["complete"][0]["chart_plugin"] == "Table"

    assert restored["status"] == "failed"
    assert "did not come back by itself" in restored["error"]["msg"]
    assert restored["fault"]["came_back"] == "restore"
    assert restored["fault"]["findings"]
    assert abs(restored["fault"]["effective_at"] - svc.died_at) < 0.5
    assert read_pid(args["pid_file"]) != svc.proc.pid  # restored

    assert bad["status"] == "failed"
    assert "unknown service 'nosuch'" in bad["error"]["msg"]
    assert decoy_memcached.proc.poll() is None

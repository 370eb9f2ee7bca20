"""The fault layer against real processes on this machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
from osic_fault_helpers import free_port, local_config, read_pid

from rally_osic import faultclock
from rally_osic.faults import engine, hookrun, probe, watch
from rally_osic.faults import spec as specs

pytestmark = pytest.mark.functional


def alive(pid) -> bool:
    return pid is not None and os.path.exists(f"/proc/{pid}")


def test_kill_effect_time_restore_and_decoy(memcached, decoy_memcached):
    svc, args = memcached
    faultclock.clear()
    rec = engine.run_fault(
        local_config({"memcached": args}),
        specs.parse_sentence("kill memcached service on one node"),
        recover_within=1.5,
    )
    assert svc.died_at is not None
    # The effect is measured within 0.5 s of the real death.
    assert abs(rec["effective_at"] - svc.died_at) < 0.5
    assert rec["triggered_at"] <= rec["started_at"] <= rec["effective_at"]
    assert rec["effect"] == "process gone"
    # Nothing brought it back: the hook's restore did, and says so.
    assert rec["came_back"] == "restore"
    assert rec["restore_needed"] is True
    assert rec["passed"] is False
    assert "did not come back by itself" in rec["reason"]
    assert any("manual restore" in f for f in rec["findings"])
    new_pid = read_pid(args["pid_file"])
    assert alive(new_pid) and new_pid != svc.proc.pid
    assert rec["pids_after"]["127.0.0.1"] == [new_pid]
    # The look-alike memcached is untouched.
    assert decoy_memcached.proc.poll() is None
    published = faultclock.find(rec["triggered_at"], rec["healthy_at"])
    assert published and published.effective_at == rec["effective_at"]


def test_supervised_process_comes_back_by_itself(
    supervised_memcached, decoy_memcached
):
    sup, args = supervised_memcached
    time.sleep(0.3)
    before = read_pid(args["pid_file"])
    rec = engine.run_fault(
        local_config({"memcached": args}),
        specs.FaultSpec(action="kill", service="memcached"),
        recover_within=10,
    )
    assert rec["passed"], rec["reason"]
    assert rec["came_back"] == "itself"
    assert rec["effect"] in ("process gone", "PID changed")
    after = rec["pids_after"]["127.0.0.1"]
    assert rec["pids_before"]["127.0.0.1"] == [before]
    assert after and after != [before]
    assert rec["findings"] == []
    assert sup.proc.poll() is None
    assert decoy_memcached.proc.poll() is None


def test_every_action_touches_only_its_target(http_service, services):
    svc, args = http_service
    # Decoy: the same program on another port (differs only in argv).

    port = free_port()
    decoy = services(
        [*args["cmdline"][:-1], str(port)], None, port, cwd="/tmp"
    )
    config = local_config({"web": args})
    results = {}
    for action, seconds in (
        ("freeze", 1),
        ("restart", None),
        ("terminate", None),
        ("stop", None),
        ("start", None),
        ("kill", None),
    ):
        rec = engine.run_fault(
            config,
            specs.FaultSpec(action=action, service="web", seconds=seconds),
            recover_within=3,
        )
        results[action] = rec
        assert decoy.proc.poll() is None, f"decoy died on {action}"
        # restore leaves the service running after every action; on a
        # loaded 2-core machine one GET may time out, so allow a few
        assert any(
            watch.health_ok(args["health_url"], timeout=2.0) for _ in range(3)
        ), action
    assert results["freeze"]["effect"] == "process frozen"
    assert results["freeze"]["passed"], results["freeze"]["reason"]
    assert results["restart"]["effect"] in (
        "PID changed",
        "process gone",
        "port closed",
        "health check failing",
    )
    assert results["restart"]["passed"], results["restart"]["reason"]
    assert results["kill"]["came_back"] == "restore"
    # leave no stray server behind: the restored one is killed by PID
    rec = engine.run_fault(
        config,
        specs.FaultSpec(action="kill", service="web"),
        restore=False,
        recover_within=1,
    )
    assert rec["came_back"] == "never"
    assert decoy.proc.poll() is None


@pytest.mark.skipif(not shutil.which("iptables"), reason="no iptables")
def test_unplug_blocks_port_then_plug(http_service):
    svc, args = http_service
    probe = subprocess.run(["iptables", "-S"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("iptables not usable here")
    rec = engine.run_fault(
        local_config({"web": args}),
        specs.FaultSpec(action="unplug", service="web", seconds=1),
        recover_within=5,
    )
    assert rec["effect"] in ("port unreachable", "health check failing")
    assert rec["passed"], rec["reason"]
    assert watch.reachable("127.0.0.1", args["port"])
    rules = subprocess.run(["iptables", "-S"], capture_output=True, text=True)
    assert "rally-osic-fault" not in rules.stdout


def test_mariadb_kill_is_restored(mariadb):
    svc, args = mariadb
    rec = engine.run_fault(
        local_config({"mysql": args}),
        specs.parse_sentence("kill mysql service on all nodes"),
        recover_within=1,
    )
    assert abs(rec["effective_at"] - svc.died_at) < 0.5
    assert rec["came_back"] == "restore"
    assert rec["healthy_at"] is not None
    assert alive(read_pid(args["pid_file"]))


@pytest.mark.skipif(not shutil.which("stress-ng"), reason="no stress-ng")
def test_stress_cpu_is_time_bounded():
    config = local_config({})
    del config["services"]
    rec = engine.run_fault(
        config,
        specs.parse_sentence("stress cpu for 2 seconds on one node"),
    )
    assert rec["passed"], rec["reason"]
    assert 1.5 < rec["healthy_at"] - rec["effective_at"] < 6
    pid = rec["pids_after"]["127.0.0.1"][0]
    # ended (a zombie of a non-reaping PID 1 counts as ended)
    assert probe.resolve({"pids": [pid]}) == []


@pytest.mark.parametrize(
    "hook_config, message",
    [
        (
            {"action": "kill nosuch service on one node"},
            "unknown service 'nosuch'",
        ),
        ({"action": "dance memcached please"}, "cannot parse"),
        ({"action": "kill memcached service", "config": {"x": 1}}, "invalid"),
        (
            {
                "action": "kill memcached service",
                "config_file": "/nonexistent",
            },
            "cannot read",
        ),
    ],
)
def test_bad_input_is_a_clear_failure(memcached, hook_config, message):
    svc, args = memcached
    if "config_file" not in hook_config:
        hook_config.setdefault("config", local_config({"memcached": args}))
    hook_config["recover_within"] = 1
    res = hookrun.run(hook_config)
    assert not res.passed
    assert message in res.reason
    assert "\n" not in res.reason
    assert svc.proc.poll() is None


def test_unreachable_node_is_a_clear_failure(memcached):
    svc, args = memcached
    config = local_config({"memcached": args})
    config["node_discover"]["args"] = [{"ip": "nosuch-node.invalid"}]
    config["services"]["memcached"]["hosts"] = ["nosuch-node.invalid"]
    res = hookrun.run({"action": "kill memcached service", "config": config})
    assert not res.passed
    assert "unreachable" in res.reason
    assert svc.proc.poll() is None


FORKING_DAEMON = r"""
import os, socket, sys, time
# A classic forking daemon: it listens, forks the server, and the parent
# lingers a moment before it exits (as an init script's parent does).
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", int(sys.argv[1])))
sock.listen(8)
if os.fork():
    time.sleep(float(sys.argv[2]))
    os._exit(0)
os.setsid()
with open(sys.argv[3], "w") as fd:
    fd.write(str(os.getpid()))
deadline = time.time() + 600
while time.time() < deadline:
    sock.settimeout(1)
    try:
        sock.accept()[0].close()
    except OSError:
        pass
"""


def test_pids_after_are_the_server_not_the_forking_parent(services, tmp_path):
    script = tmp_path / "forkd.py"
    script.write_text(FORKING_DAEMON)
    port = free_port()
    server_pid = tmp_path / "server.pid"
    argv = [sys.executable, str(script), str(port), "0.6", str(server_pid)]
    first = services(argv, None, port)
    first.proc.wait(timeout=5)  # the parent has gone; its server serves
    [victim] = probe.resolve({"cmdline": argv})
    args = {
        "cmdline": argv,
        "port": port,
        "start_cmd": " ".join(argv) + " >/dev/null 2>&1 &",
    }
    rec = engine.run_fault(
        local_config({"forkd": args}),
        specs.FaultSpec(action="kill", service="forkd"),
        recover_within=0.5,
    )
    assert rec["came_back"] == "restore"
    # Healthy as soon as the new copy listened, while its parent still
    # lingered; the PIDs recorded are the server's alone.
    server = read_pid(str(server_pid))
    assert server != victim and alive(server)
    assert rec["pids_after"]["127.0.0.1"] == [server]
    assert probe.resolve({"cmdline": argv}) == [server]

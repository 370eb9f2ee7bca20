"""One service on three "nodes" of this machine (127.0.1.1-3, the same
port on each, as the lab's controllers have): a fault on one node touches
that node's process and address only. Real memcacheds, real signals,
real iptables."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest
from osic_fault_helpers import memcached_argv, read_pid

from rally_osic.faults import engine, health, watch
from rally_osic.faults import spec as specs

pytestmark = pytest.mark.functional

NODES = ("127.0.1.1", "127.0.1.2", "127.0.1.3")


def _port_free_on_every_node() -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind((NODES[0], 0))
            port = s.getsockname()[1]
        try:
            for node in NODES[1:]:
                with socket.socket() as s:
                    s.bind((node, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no port free on all three node addresses")


def _argv(node, port, pid_file, daemon=False):
    argv = memcached_argv(port, pid_file, daemon)
    argv[argv.index("127.0.0.1")] = node
    return argv


def _wait_listening(node, port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if watch.reachable(node, port):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {node}:{port}")


@pytest.fixture
def three_nodes(services, tmp_path):
    if not shutil.which("memcached"):
        pytest.skip("memcached not installed")
    port = _port_free_on_every_node()
    started, per_host = {}, {}
    for index, node in enumerate(NODES, start=1):
        pid_file = tmp_path / f"memcached-{index}.pid"
        started[node] = services(_argv(node, port, pid_file), pid_file)
        _wait_listening(node, port)
        per_host[node] = {
            "pid_file": str(pid_file),
            "address": node,
            "start_cmd": " ".join(_argv(node, port, pid_file, daemon=True)),
        }
    config = {
        "cloud_management": {"driver": "universal"},
        "node_discover": {
            "driver": "node_list",
            "args": [{"ip": node} for node in NODES],
        },
        "services": {
            "memcached": {
                "driver": "osic_process",
                # The service's own args name no process: each node's do.
                "args": {"pid_file": "/nonexistent", "port": port,
                         "per_host": per_host},
                "hosts": list(NODES),
            }
        },
        # Not over SSH: these addresses are this machine's.
        "osic": {"local_nodes": list(NODES)},
    }  # fmt: skip
    yield config, started, port
    for args in per_host.values():
        # A copy the restore started, as a daemon: by its PID file.
        pid = read_pid(args["pid_file"])
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)


def test_a_kill_on_one_node_kills_and_restores_that_node_only(three_nodes):
    config, started, port = three_nodes
    rec = engine.run_fault(
        config,
        specs.FaultSpec(action="kill", service="memcached",
                        nodes=["127.0.1.2"]),
        recover_within=2,
    )  # fmt: skip
    victim = started["127.0.1.2"]
    assert victim.died_at is not None
    assert abs(rec["effective_at"] - victim.died_at) < 0.5
    assert rec["effect"] == "process gone"
    assert [n["host"] for n in rec["nodes"]] == ["127.0.1.2"]
    # Nothing supervises it: the hook's restore ran node 2's own start.
    assert rec["came_back"] == "restore"
    new = rec["pids_after"]["127.0.1.2"]
    assert new and new != [victim.proc.pid]
    assert watch.reachable("127.0.1.2", port)
    for node in ("127.0.1.1", "127.0.1.3"):
        assert started[node].proc.poll() is None, node
    assert health.problems(config, ["memcached"]) == {}


def test_a_dead_node_is_named_while_the_others_listen(three_nodes):
    config, started, port = three_nodes
    started["127.0.1.3"].proc.kill()
    started["127.0.1.3"].proc.wait()
    assert watch.reachable("127.0.1.1", port)
    assert health.problems(config, ["memcached"]) == {
        "memcached": "not running on 127.0.1.3"
    }


@pytest.mark.skipif(not shutil.which("iptables"), reason="no iptables")
def test_unplugging_one_node_drops_that_address_only(three_nodes):
    if subprocess.run(["iptables", "-S"], capture_output=True).returncode:
        pytest.skip("iptables not usable here")
    config, started, port = three_nodes
    seen: dict[str, set] = {node: set() for node in NODES}
    done = threading.Event()

    def sample():
        while not done.is_set():
            for node in NODES:
                seen[node].add(watch.reachable(node, port, timeout=0.2))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        rec = engine.run_fault(
            config,
            specs.FaultSpec(action="unplug", service="memcached",
                            nodes=["127.0.1.2"], seconds=2),
            recover_within=5,
        )  # fmt: skip
    finally:
        done.set()
        sampler.join(timeout=5)
    assert rec["effect"] == "port unreachable"
    assert rec["passed"], rec["reason"]
    assert seen["127.0.1.2"] == {True, False}
    assert seen["127.0.1.1"] == seen["127.0.1.3"] == {True}
    assert all(svc.proc.poll() is None for svc in started.values())
    rules = subprocess.run(["iptables", "-S"], capture_output=True, text=True)
    assert "rally-osic-fault" not in rules.stdout

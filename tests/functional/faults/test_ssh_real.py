"""The SSH transport end to end, against a private sshd on 127.0.0.2.

The fault layer treats only 127.0.0.1, ::1 and localhost as local; a node
listed as 127.0.0.2 is reached with the OpenSSH client, so a private sshd
(own host key, own authorized_keys, ``UsePAM no``) listening there makes
this machine a remote node. Its port comes from the config's
``osic.ssh_port`` (os-faults' node auth schema has no port).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time

import pytest
from osic_fault_helpers import DeathClock, kill_pid, local_config, wait_port

from rally_osic.faults import engine, hookrun, probe, watch
from rally_osic.faults import spec as specs

pytestmark = pytest.mark.functional

SSH_ADDR = "127.0.0.2"
SSHD = "/usr/sbin/sshd"


def free_port_on(addr: str) -> int:
    with socket.socket() as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


def children_of(pid: int) -> list[int]:
    out = []
    for p in probe.list_pids():
        stat = probe._read(f"/proc/{p}/stat") or ""
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(pid):
            out.append(p)
    return out


@pytest.fixture
def sshd(tmp_path):
    for tool in (SSHD, "ssh", "ssh-keygen"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed (apt-get install "
                        "openssh-server openssh-client)")  # fmt: skip
    try:
        port = free_port_on(SSH_ADDR)
    except OSError as exc:
        pytest.skip(f"cannot bind {SSH_ADDR}: {exc}")
    d = tmp_path / "sshd"
    d.mkdir(mode=0o700)
    for key in ("host_key", "id"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
             str(d / key)],
            check=True, capture_output=True,
        )  # fmt: skip
    (d / "authorized_keys").write_text((d / "id.pub").read_text())
    cfg = d / "sshd_config"
    cfg.write_text(
        f"ListenAddress {SSH_ADDR}:{port}\n"
        f"HostKey {d}/host_key\n"
        f"AuthorizedKeysFile {d}/authorized_keys\n"
        f"PidFile {d}/sshd.pid\n"
        "UsePAM no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
        "StrictModes no\nLogLevel VERBOSE\n"
    )
    os.makedirs("/run/sshd", exist_ok=True)  # privilege separation dir
    log = d / "sshd.log"
    proc = subprocess.Popen(
        [SSHD, "-D", "-f", str(cfg), "-E", str(log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError):
                socket.create_connection((SSH_ADDR, port), 0.2).close()
                break
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "sshd did not listen"
            time.sleep(0.05)
        yield {"port": port, "key": str(d / "id"), "log": log, "proc": proc}
        # Every SSH session (control masters included) was closed.
        deadline = time.monotonic() + 5
        while children_of(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert children_of(proc.pid) == [], "SSH sessions left open"
    finally:
        for child in children_of(proc.pid):
            kill_pid(child)
        kill_pid(proc.pid)
        proc.wait(timeout=5)


def ssh_config(args: dict, sshd: dict, port=None) -> dict:
    config = local_config({"web": args})
    config["node_discover"]["args"] = [
        {
            "ip": SSH_ADDR,
            "auth": {"username": "root", "private_key_file": sshd["key"]},
        }
    ]
    config["services"]["web"]["hosts"] = [SSH_ADDR]
    config["osic"] = {"ssh_port": port or sshd["port"]}
    return config


def kill_and_measure(config, host, pid):
    clock = DeathClock(pid)
    rec = engine.run_fault(
        config,
        specs.FaultSpec(action="kill", service="web"),
        recover_within=1,
        publish=False,
    )
    clock.thread.join(timeout=5)
    assert clock.died_at is not None
    assert rec["effect"] in (
        "process gone",
        "port closed",
        "health check failing",  # the controller-side check
    ), rec["effect"]
    assert rec["pids_before"] == {host: [pid]}
    assert rec["came_back"] == "restore"
    assert rec["healthy_at"] is not None
    [new] = rec["pids_after"][host]
    assert new != pid
    return rec, rec["effective_at"] - clock.died_at, new


def test_kill_over_ssh_like_local(sshd, http_service, services):
    svc, args = http_service
    # A decoy: the same server on another port.
    from osic_fault_helpers import free_port

    port = free_port()
    decoy = services([*args["cmdline"][:-1], str(port)], None, port)

    rec, ssh_lag, pid = kill_and_measure(
        ssh_config(args, sshd), SSH_ADDR, svc.proc.pid
    )
    log = sshd["log"].read_text()
    assert "Accepted publickey for root" in log
    assert watch.health_ok(args["health_url"])  # restored over SSH
    ssh_total = rec["effective_at"] - rec["triggered_at"]
    ssh_restore = rec["healthy_at"] - rec["restored_at"]

    rec2, local_lag, pid = kill_and_measure(
        local_config({"web": args}), "127.0.0.1", pid
    )
    local_total = rec2["effective_at"] - rec2["triggered_at"]
    assert watch.health_ok(args["health_url"])
    # Over SSH the effect time is our clock when the watcher's line
    # arrived: a few ms later than locally, never before the death.
    assert -0.1 < local_lag < 0.3, local_lag
    assert -0.05 < ssh_lag < 0.5, ssh_lag
    assert decoy.proc.poll() is None
    # Stop the restored server (not our child) by PID.
    kill_pid(pid)
    print(
        f"\nkill effect after the real death: SSH {ssh_lag * 1000:.0f} ms, "
        f"local {local_lag * 1000:.0f} ms; trigger->effect SSH "
        f"{ssh_total:.3f} s, local {local_total:.3f} s; restore->healthy "
        f"SSH {ssh_restore:.3f} s, local "
        f"{rec2['healthy_at'] - rec2['restored_at']:.3f} s"
    )


def test_closed_ssh_port_is_a_quick_one_line_failure(sshd, http_service):
    svc, args = http_service
    closed = free_port_on(SSH_ADDR)
    t0 = time.monotonic()
    res = hookrun.run(
        {
            "action": "kill web service on all nodes",
            "config": ssh_config(args, sshd, port=closed),
        }
    )
    took = time.monotonic() - t0
    assert not res.passed
    assert "\n" not in res.reason
    assert f"{SSH_ADDR}: unreachable over SSH" in res.reason
    assert "Connection refused" in res.reason
    assert took < 5, took
    assert svc.proc.poll() is None
    wait_port(args["port"])

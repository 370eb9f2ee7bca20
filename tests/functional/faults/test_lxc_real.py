"""Faults inside real LXC containers, as on an OpenStack-Ansible host.

Each test creates busybox containers under its own ``lxc-create -P`` dir
(no network: ``lxc.net.0.type = empty``), runs a busybox httpd "service"
in each, and always stops and destroys them again.

OSA containers run systemd, which puts every service in the cgroup
``system.slice/<unit>.service`` (name=systemd hierarchy). busybox has no
systemd, so each container gets a tiny ``/bin/systemctl`` that does the
same for one unit: the config that ``rally-osic faults-config
--osa-inventory`` generates (``unit`` + ``containers`` + ``port``) is then
used unchanged. The physical host of the inventory is 127.0.0.1, which the
fault layer acts on locally; ``--lxc-path`` points ``lxc-attach`` at the
test's LXC dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest
from osic_fault_helpers import DeathClock, free_port, kill_pid, local_config

from rally_osic.faults import engine, probe
from rally_osic.faults import spec as specs

pytestmark = pytest.mark.functional

UNIT = "keystone-wsgi-public"  # what the generator maps "keystone" to
PORT = 5000  # ditto; every container has its own network namespace
SYSTEMD_CG = "/sys/fs/cgroup/systemd"

FAKE_SYSTEMCTL = r"""#!/bin/sh
# systemctl stand-in: unit UNIT runs "httpd -p PORT -h /www" in the cgroup
# system.slice/UNIT.service, as systemd would; PID file /run/web.pid.
unit=${2%.service}
cg=/sys/fs/cgroup/system.slice/$unit.service
[ "$unit" = "@UNIT@" ] || { echo "Unit $2 not found." >&2; exit 5; }
case "$1" in
start)
    mkdir -p "$cg" && echo $$ > "$cg/cgroup.procs" || exit 1
    httpd -p @PORT@ -h /www || exit 1
    mkdir -p /run
    grep -vx "$$" "$cg/cgroup.procs" | head -n 1 > /run/web.pid ;;
stop)
    for p in $(grep -vx "$$" "$cg/cgroup.procs"); do kill "$p"; done ;;
restart)
    "$0" stop "$2"; sleep 0.2; "$0" start "$2" ;;
*)
    exit 1 ;;
esac
"""


def lxc_skip_reason() -> str | None:
    for tool in ("lxc-create", "lxc-start", "lxc-attach", "lxc-destroy"):
        if not shutil.which(tool):
            return f"{tool} not installed (apt-get install lxc)"
    if not os.path.exists("/usr/share/lxc/templates/lxc-busybox"):
        return "no lxc-busybox template"
    if not shutil.which("busybox"):
        return "busybox not installed (apt-get install busybox-static)"
    if os.geteuid() != 0:
        return "LXC containers need root here"
    if not os.path.isdir(SYSTEMD_CG):
        return f"no name=systemd cgroup hierarchy at {SYSTEMD_CG}"
    return None


def sh(*argv, timeout=30, check=True):
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} exited {res.returncode}: {res.stderr[-500:]}"
        )
    return res


class Container:
    """A running busybox container with the fake systemd unit started."""

    def __init__(self, lxc_path: str, name: str) -> None:
        self.path, self.name = lxc_path, name
        sh("lxc-create", "-P", lxc_path, "-n", name, "-t", "busybox")
        config = os.path.join(lxc_path, name, "config")
        with open(config) as fd:
            lines = [
                "lxc.net.0.type = empty"
                if line.startswith("lxc.net.0.type")
                else line
                for line in fd.read().splitlines()
            ]
        # The container's own name=systemd cgroup, where "systemd" (our
        # systemctl) creates the unit cgroups.
        lines.append(
            f"lxc.mount.entry = {SYSTEMD_CG}/lxc.payload.{name} "
            "sys/fs/cgroup none bind,optional 0 0"
        )
        with open(config, "w") as fd:
            fd.write("\n".join(lines) + "\n")
        rootfs = os.path.join(lxc_path, name, "rootfs")
        os.makedirs(os.path.join(rootfs, "www"), exist_ok=True)
        with open(os.path.join(rootfs, "www", "index.html"), "w") as fd:
            fd.write(name)
        systemctl = os.path.join(rootfs, "bin", "systemctl")
        with open(systemctl, "w") as fd:
            fd.write(
                FAKE_SYSTEMCTL.replace("@UNIT@", UNIT).replace(
                    "@PORT@", str(PORT)
                )
            )
        os.chmod(systemctl, 0o755)
        sh("lxc-start", "-P", lxc_path, "-n", name)
        self.attach(f"systemctl start {UNIT}")

    def attach(self, command: str) -> str:
        return sh(
            "lxc-attach", "-P", self.path, "-n", self.name, "--",
            "/bin/sh", "-c", command,
        ).stdout  # fmt: skip

    def service_pids(self) -> list[int]:
        return probe.resolve({"unit": UNIT, "container": self.name})

    def destroy(self) -> None:
        sh("lxc-stop", "-P", self.path, "-n", self.name, "-k", check=False)
        sh("lxc-destroy", "-P", self.path, "-n", self.name, check=False)


@pytest.fixture
def containers(tmp_path):
    reason = lxc_skip_reason()
    if reason:
        pytest.skip(reason)
    lxc_path = str(tmp_path / "lxc")
    os.makedirs(lxc_path)
    made: list[Container] = []

    def make(name: str) -> Container:
        c = Container.__new__(Container)
        c.path, c.name = lxc_path, name
        made.append(c)  # destroyed even if creating it fails half-way
        c.__init__(lxc_path, name)
        return c

    try:
        yield make
    finally:
        for c in made:
            c.destroy()
        leftover = sh("lxc-ls", "-P", lxc_path, check=False).stdout.split()
        assert leftover == [], f"containers left behind: {leftover}"


@pytest.fixture
def host_decoy(tmp_path):
    """A busybox httpd on the host, outside any container, in a cgroup
    named like the unit: only the container tells it from the target."""
    www = tmp_path / "www"
    www.mkdir()
    cg = f"{SYSTEMD_CG}/osic-test-{uuid.uuid4().hex[:8]}"
    unit_cg = f"{cg}/system.slice/{UNIT}.service"
    proc = subprocess.Popen(
        ["busybox", "httpd", "-f", "-p", f"127.0.0.1:{free_port()}",
         "-h", str(www)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        os.makedirs(unit_cg)
        with open(f"{unit_cg}/cgroup.procs", "w") as fd:
            fd.write(str(proc.pid))
        assert probe.resolve({"unit": UNIT}) == [proc.pid]
        yield proc
    finally:
        kill_pid(proc.pid)
        proc.wait(timeout=5)
        for d in (unit_cg, f"{cg}/system.slice", cg):
            with contextlib.suppress(OSError):
                os.rmdir(d)


def osa_inventory(container: str) -> dict:
    """The smallest OSA inventory: keystone in one container on infra1,
    whose address is 127.0.0.1."""
    return {
        "_meta": {
            "hostvars": {
                "infra1": {
                    "ansible_host": "127.0.0.1",
                    "is_metal": True,
                    "physical_host": "infra1",
                },
                container: {
                    "ansible_host": "172.29.238.14",
                    "container_name": container,
                    "physical_host": "infra1",
                    "is_metal": False,
                },
            }
        },
        "keystone": {"hosts": [container], "children": []},
        "hosts": {"hosts": ["infra1"], "children": []},
    }


def generate_config(tmp_path, container: str, lxc_path: str) -> str:
    inv = tmp_path / "openstack_inventory.json"
    inv.write_text(json.dumps(osa_inventory(container)))
    out = tmp_path / "os-faults.json"
    cli = os.path.join(os.path.dirname(sys.executable), "rally-osic")
    res = subprocess.run(
        [cli, "faults-config", "--osa-inventory", str(inv),
         "--lxc-path", lxc_path, "-o", str(out)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return str(out)


def test_osa_config_kills_only_inside_its_container(
    containers, host_decoy, tmp_path, rally
):
    tag = uuid.uuid4().hex[:6]
    target = containers(f"infra1_keystone_container-{tag}")
    other = containers(f"infra1_keystone_container-{tag}x")
    config_file = generate_config(tmp_path, target.name, target.path)
    config = json.loads(open(config_file).read())
    assert config["services"]["keystone"] == {
        "driver": "osic_process",
        "hosts": ["127.0.0.1"],
        "args": {
            "unit": UNIT,
            "port": PORT,
            "containers": {"127.0.0.1": target.name},
            "lxc_path": target.path,
        },
    }
    [victim] = target.service_pids()
    [other_pid] = other.service_pids()
    assert victim != other_pid != host_decoy.pid
    clock = DeathClock(victim)

    task = {
        "version": 2,
        "title": "kill keystone in its LXC container",
        "subtasks": [
            {
                "title": "load under a container fault",
                "workloads": [
                    {
                        "scenario": {"Dummy.dummy": {"sleep": 0.2}},
                        "runner": {
                            "constant": {"times": 15, "concurrency": 1}
                        },
                        "hooks": [
                            {
                                "description": "kill keystone in LXC",
                                "action": {
                                    "osic_fault": {
                                        "action": "kill keystone service "
                                        "on one node",
                                        "config_file": config_file,
                                        "recover_within": 1,
                                    }
                                },
                                "trigger": {
                                    "event": {"unit": "iteration", "at": [3]}
                                },
                            }
                        ],
                    }
                ],
            }
        ],
    }
    res, task_uuid = rally.start_task(task)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    workload = rally.report_json(task_uuid)["tasks"][0]["subtasks"][0][
        "workloads"
    ][0]
    result = workload["hooks"][0]["results"][0]
    rec = result["fault"]

    # The effect: the httpd inside the container died, and the hook saw
    # it within 0.5 s.
    assert clock.died_at is not None
    assert rec["effect"] in ("process gone", "port closed")
    assert rec["pids_before"] == {"127.0.0.1": [victim]}
    latency = rec["effective_at"] - clock.died_at
    assert -0.1 < latency < 0.5, latency
    # Nothing in the container restarts it: the hook's restore
    # (systemctl start inside the container, via lxc-attach) did.
    assert result["status"] == "failed"
    assert "did not come back by itself" in result["error"]["msg"]
    assert rec["came_back"] == "restore"
    [new] = target.service_pids()
    assert new != victim
    assert rec["pids_after"] == {"127.0.0.1": [new]}
    assert new in probe.container_pids(target.name)
    ns_pid = target.attach("cat /run/web.pid").strip()
    assert probe.ns_pid_map(new) == int(ns_pid)
    assert probe.observe(
        {"unit": UNIT, "container": target.name, "port": PORT}
    )["port_open"]
    # Same unit, same program: in the other container and on the host,
    # both untouched.
    assert other.service_pids() == [other_pid]
    assert host_decoy.poll() is None
    print(
        f"\nLXC kill via rally: effect seen {latency * 1000:.0f} ms after "
        f"the death; trigger->effect "
        f"{rec['effective_at'] - rec['triggered_at']:.3f} s; "
        f"restore->healthy {rec['healthy_at'] - rec['restored_at']:.3f} s"
    )


def test_pid_file_inside_container(containers, host_decoy, tmp_path):
    """A hand-written target: PID file *inside* the container (its own
    PID namespace), the other container's identical PID file ignored."""
    tag = uuid.uuid4().hex[:6]
    target = containers(f"web-{tag}")
    other = containers(f"web-{tag}-2")
    [victim] = target.service_pids()
    [other_pid] = other.service_pids()
    args = {
        "pid_file": "/run/web.pid",
        "container": target.name,
        "lxc_path": target.path,
        "port": PORT,
        "start_cmd": f"systemctl start {UNIT}",
    }
    config = local_config({"web": args})
    for action, effect in (("freeze", "process frozen"), ("kill", None)):
        clock = DeathClock(victim) if action == "kill" else None
        rec = engine.run_fault(
            config,
            specs.FaultSpec(
                action=action,
                service="web",
                seconds=0.5 if action == "freeze" else None,
            ),
            recover_within=1,
            publish=False,
        )
        assert rec["pids_before"] == {"127.0.0.1": [victim]}, action
        if clock:
            # The listening socket closes while the killed process exits:
            # a 20 ms poll may see that first.
            assert rec["effect"] in ("process gone", "port closed")
            assert clock.died_at is not None
            assert -0.1 < rec["effective_at"] - clock.died_at < 0.5
            assert rec["came_back"] == "restore"
            [victim] = target.service_pids()
            assert rec["pids_after"] == {"127.0.0.1": [victim]}
        else:
            assert rec["effect"] == effect
            assert rec["passed"], rec["reason"]
            assert probe.state_of(victim) not in ("T", "t")
        assert other.service_pids() == [other_pid]
        assert host_decoy.poll() is None

"""Trigger-to-effect time: osic_fault's engine vs rally-openstack's
``fault_injection`` (os_faults.connect + human_api, exactly what that hook
runs), on the same action ("kill memcached") in the same run.

The stock os-faults executor hardcodes SSH and an empty environment, so
the benchmark runs a private sshd on 127.0.0.1 (own host key, own user
key, free port) and gives ansible-playbook a ./ansible.cfg (remote port,
key, our json callback) in a temp CWD. Every timestamp is written to a
JSON file; medians are printed.

    python benchmarks/bench_fault_hook.py [--runs 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from rally_osic.faults import engine, osf
from rally_osic.faults import spec as specs


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"bench: nothing listens on {port}")


class Memcached:
    def __init__(self, tmp, port):
        self.pid_file = os.path.join(tmp, f"mc-{port}.pid")
        self.argv = ["memcached", "-u", "root", "-l", "127.0.0.1"]
        self.argv += ["-p", str(port), "-U", "0", "-P", self.pid_file]
        self.proc = subprocess.Popen(self.argv)
        self.died_at = None
        threading.Thread(target=self._reap, daemon=True).start()
        wait_port(port)

    def _reap(self):
        self.proc.wait()
        self.died_at = time.time()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def start_sshd(tmp):
    port = free_port()
    for kind in ("host", "user"):
        subprocess.run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-f",
                os.path.join(tmp, f"{kind}_key"),
            ],
            check=True,
        )
    shutil.copy(
        os.path.join(tmp, "user_key.pub"), os.path.join(tmp, "authorized_keys")
    )
    os.chmod(tmp, 0o700)
    os.makedirs("/run/sshd", exist_ok=True)
    proc = subprocess.Popen(
        [
            "/usr/sbin/sshd",
            "-D",
            "-e",
            "-p",
            str(port),
            "-o",
            "ListenAddress=127.0.0.1",
            "-o",
            f"HostKey={tmp}/host_key",
            "-o",
            f"AuthorizedKeysFile={tmp}/authorized_keys",
            "-o",
            "PidFile=none",
            "-o",
            "StrictModes=no",
            "-o",
            "PermitRootLogin=prohibit-password",
        ],
        stderr=subprocess.DEVNULL,
    )
    wait_port(port)
    return proc, port, os.path.join(tmp, "user_key")


def run_stock(cwd, mc, port, sshd_port, key):
    """What rally-openstack's FaultInjectionHook.run() does."""
    import os_faults

    config = {
        "cloud_management": {"driver": "universal"},
        "node_discover": {
            "driver": "node_list",
            "args": [
                {
                    "ip": "127.0.0.1",
                    "auth": {"username": "root", "private_key_file": key},
                }
            ],
        },
        # grep for the unique port so that only this memcached matches
        "services": {
            "memcached": {
                "driver": "process",
                "args": {"grep": f"memcached -u root -l 127.0.0.1 -p {port} "},
                "hosts": ["127.0.0.1"],
            }
        },
    }
    old = os.getcwd()
    os.chdir(cwd)  # the stock executor reads only ./ansible.cfg
    try:
        t0 = time.time()
        injector = os_faults.connect(config)
        os_faults.human_api(injector, "kill memcached service on one node")
        t1 = time.time()
    finally:
        os.chdir(old)
    return {"triggered_at": t0, "finished_at": t1}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default="bench_fault_hook.json")
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="osic-bench-")
    sshd, sshd_port, key = start_sshd(tmp)
    with open(os.path.join(tmp, "ansible.cfg"), "w") as f:
        f.write(
            "[defaults]\n"
            f"remote_port = {sshd_port}\n"
            f"callback_plugins = {osf.CALLBACK_DIR}\n"
            "interpreter_python = /usr/bin/python3\n"
            "host_key_checking = False\n"
            f"local_tmp = {tmp}/ansible-local\n"
            f"remote_tmp = {tmp}/ansible-remote\n"
        )
    osf._ensure_ansible_on_path()
    rows = []
    try:
        for i in range(args.runs):
            for kind in ("osic_fault", "fault_injection"):
                port = free_port()
                mc = Memcached(tmp, port)
                time.sleep(0.2)
                try:
                    if kind == "osic_fault":
                        cfg = {
                            "cloud_management": {"driver": "universal"},
                            "node_discover": {
                                "driver": "node_list",
                                "args": [{"ip": "127.0.0.1"}],
                            },
                            "services": {
                                "memcached": {
                                    "driver": "osic_process",
                                    "args": {
                                        "pid_file": mc.pid_file,
                                        "port": port,
                                    },
                                }
                            },
                        }
                        rec = engine.run_fault(
                            cfg,
                            specs.parse_sentence(
                                "kill memcached service on one node"
                            ),
                            recover_within=0.5,
                            restore=False,
                            publish=False,
                        )
                        row = {
                            k: rec.get(k)
                            for k in (
                                "triggered_at",
                                "started_at",
                                "finished_at",
                                "effective_at",
                                "healthy_at",
                            )
                        }
                    else:
                        row = run_stock(tmp, mc, port, sshd_port, key)
                    deadline = time.time() + 30
                    while mc.died_at is None and time.time() < deadline:
                        time.sleep(0.01)
                    row.update(kind=kind, run=i, died_at=mc.died_at)
                    row["trigger_to_death"] = mc.died_at - row["triggered_at"]
                    row["hook_total"] = (
                        row["finished_at"] - row["triggered_at"]
                    )
                    if row.get("effective_at"):
                        row["observed_minus_death"] = (
                            row["effective_at"] - mc.died_at
                        )
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                finally:
                    mc.stop()
    finally:
        sshd.terminate()
        sshd.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    def med(kind, key):
        vals = [
            r[key]
            for r in rows
            if r["kind"] == kind and r.get(key) is not None
        ]
        return statistics.median(vals) if vals else None

    summary = {}
    for kind in ("osic_fault", "fault_injection"):
        summary[kind] = {
            k: med(kind, k)
            for k in ("trigger_to_death", "hook_total", "observed_minus_death")
        }
    a = summary["osic_fault"]["trigger_to_death"]
    b = summary["fault_injection"]["trigger_to_death"]
    summary["speedup_trigger_to_effect"] = b / a if a else None
    tmp_out = args.out + ".tmp"
    with open(tmp_out, "w") as f:
        json.dump({"runs": rows, "summary": summary}, f, indent=2)
    os.replace(tmp_out, args.out)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

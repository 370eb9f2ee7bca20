"""The README's demo, until the local OpenStack lab lands.

Starts a real HTTP service on 127.0.0.1, runs
task_templates/http_probe_under_fault.yaml against it with a real
``rally task start`` (the service is killed 8 s into the load and started
again 4 s later), and prints the fault SLA verdicts and where the Rally
JSON is.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "out" / "demo"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rally(*args: str, env: dict) -> subprocess.CompletedProcess:
    binary = pathlib.Path(sys.executable).with_name("rally")
    return subprocess.run(
        [str(binary), *args], env=env, capture_output=True, text=True
    )


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HOME": str(OUT),
        "OS_DATABASE__CONNECTION": f"sqlite:///{OUT}/rally.sqlite",
    }
    if not (OUT / "rally.sqlite").exists():
        rally("db", "create", env=env)
        rally("env", "create", "--name", "demo", env=env)
    port = free_port()
    www = OUT / "www"
    www.mkdir(exist_ok=True)
    (www / "index.html").write_text("ok\n")
    pidfile = OUT / "http.pid"
    server = (
        f"{sys.executable} -m http.server {port} --bind 127.0.0.1 "
        f"--directory {www}"
    )
    start = f"nohup {server} >/dev/null 2>&1 & echo $! > {pidfile}"
    subprocess.run(["sh", "-c", start], check=True)
    time.sleep(0.5)
    args = {
        "url": f"http://127.0.0.1:{port}/",
        "fault_cmd": f"sh -c 'kill -9 $(cat {pidfile})'",
        "restore_cmd": f"sh -c '{start}'",
        "fault_at": 8,
        "restore_at": 12,
        "duration": 30,
        "max_downtime": 10,
    }
    try:
        print("==> rally task start (30 s of load, fault at +8 s)")
        task = rally(
            "task",
            "start",
            str(ROOT / "task_templates" / "http_probe_under_fault.yaml"),
            "--task-args",
            json.dumps(args),
            env=env,
        )
        uuid = rally("task", "list", "--uuids-only", env=env).stdout.split()
        if not uuid:
            print(task.stdout[-2000:], task.stderr[-2000:], file=sys.stderr)
            return 1
        results = OUT / "results.json"
        rally(
            "task",
            "report",
            uuid[-1],
            "--json",
            "--out",
            str(results),
            env=env,
        )
        report = json.loads(results.read_text())
        for task_result in report["tasks"]:
            for subtask in task_result["subtasks"]:
                for workload in subtask["workloads"]:
                    for sla in workload["sla_results"]["sla"]:
                        print(f"  {sla['criterion']:18} {sla['detail']}")
        print(f"Rally JSON: {results}")
        return 0 if task.returncode == 0 else task.returncode
    finally:
        try:
            os.kill(int(pidfile.read_text()), signal.SIGTERM)
        except (OSError, ValueError):
            pass


if __name__ == "__main__":
    sys.exit(main())

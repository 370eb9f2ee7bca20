"""Run a real ``rally task start`` in an isolated Rally home.

Shared by the functional tests and by ``samples/`` regeneration:

    python -m tests.functional.report.rally_run OUT.json [RUNS]
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
RALLY = pathlib.Path(sys.executable).with_name("rally")


def run_rally_task(
    workdir: pathlib.Path,
    runs: int = 1,
    times: int = 120,
    rps: float = 10,
    fault_at: float = 4,
    restart_at: float = 7,
) -> pathlib.Path:
    """Start the flaky-service task; return the path of its Rally JSON."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["HOME"] = str(workdir)
    env["OS_DATABASE__CONNECTION"] = f"sqlite:///{workdir}/rally.sqlite"

    def rally(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(RALLY), "--plugin-paths", str(HERE / "rally_plugins"), *args],
            env=env,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=600,
        )

    for args in (("db", "create"), ("env", "create", "--name", "report")):
        done = rally(*args)
        if done.returncode:
            raise RuntimeError(f"rally {args}: {done.stderr[-2000:]}")
    task_args = {
        "runs": runs,
        "times": times,
        "rps": rps,
        "fault_at": fault_at,
        "restart_at": restart_at,
        "marker": str(workdir / "fault-marker"),
    }
    done = rally(
        "task",
        "start",
        str(HERE / "task.yaml.j2"),
        "--task-args",
        json.dumps(task_args),
    )
    # 2 = an SLA failed, which is what a fault test is expected to show.
    if done.returncode not in (0, 2):
        raise RuntimeError(f"rally task start: {done.stderr[-2000:]}")
    out = workdir / "results.json"
    done = rally("task", "report", "--json", "--out", str(out))
    if done.returncode:
        raise RuntimeError(f"rally task report: {done.stderr[-2000:]}")
    return out


if __name__ == "__main__":
    target = pathlib.Path(sys.argv[1])
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    with tempfile.TemporaryDirectory() as tmp:
        path = run_rally_task(pathlib.Path(tmp), runs=runs)
        target.write_bytes(path.read_bytes())
    print(target)

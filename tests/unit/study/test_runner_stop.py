"""Stopping a study stops Rally and every process of its group: Rally's
runner forks workers, and one that ignores SIGINT must not go on loading
the cloud. A small script stands in for the ``rally`` command here (real
processes, real signals); the real Rally is stopped in
tests/functional/faults/test_study_run.py."""

from __future__ import annotations

import signal
import sys
import time

import pytest

from rally_osic.study import runner

# Forks a worker that ignores SIGINT and waits; exits on SIGINT, as Rally
# does once it has aborted its task.
RALLY = f"""#!{sys.executable}
import signal, subprocess, sys, time
worker = subprocess.Popen([sys.executable, "-c", (
    "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "print(flush=True); time.sleep(300)")], stdout=subprocess.PIPE)
worker.stdout.readline()
print(worker.pid, flush=True)
time.sleep(300)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def rally(tmp_path):
    script = tmp_path / "rally"
    script.write_text(RALLY)
    script.chmod(0o755)
    log_path = tmp_path / "rally.log"

    def start():
        with open(log_path, "wb") as log:
            process = runner.Rally(str(script)).start(
                tmp_path / "task.yaml", "env", "tag", log
            )
        deadline = time.monotonic() + 30
        while not log_path.read_text().strip():
            assert time.monotonic() < deadline, "the script never started"
            time.sleep(0.05)
        return process, int(log_path.read_text())

    return start


@pytest.mark.parametrize("study_sigint", ["handled", "ignored (nohup)"])
def test_stop_leaves_no_worker_of_rally_behind(
    rally, monkeypatch, study_sigint
):
    if study_sigint.startswith("ignored"):
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        monkeypatch.setattr(runner, "STOP_GRACE", 20.0)
        process, worker = rally()
    finally:
        if study_sigint.startswith("ignored"):
            signal.signal(signal.SIGINT, previous)
    assert _alive(worker)
    started = time.monotonic()
    runner._stop(process)
    # Rally went at the SIGINT, well within the grace; only the worker
    # needed the SIGKILL to the group.
    assert process.returncode == -signal.SIGINT, process.returncode
    assert time.monotonic() - started < 10
    deadline = time.monotonic() + 5
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)  # init reaps the killed orphan
    assert not _alive(worker)


def test_a_rally_that_ignores_sigint_is_killed_after_the_grace(
    tmp_path, monkeypatch
):
    script = tmp_path / "rally"
    script.write_text(
        f"#!{sys.executable}\nimport signal, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(300)\n"
    )
    script.chmod(0o755)
    monkeypatch.setattr(runner, "STOP_GRACE", 1.0)
    with open(tmp_path / "log", "wb") as log:
        process = runner.Rally(str(script)).start(
            tmp_path / "task.yaml", "env", "tag", log
        )
    time.sleep(0.5)
    runner._stop(process)
    assert process.returncode == -signal.SIGKILL

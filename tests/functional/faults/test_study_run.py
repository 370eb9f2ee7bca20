"""``rally-osic study run`` for real: ``rally task start`` of catalogue
tests that kill a real HTTP server, an interruption in the middle, and a
resume that redoes nothing.

The catalogue here is a small one of the same format (``--catalogue``):
the package's tests need an OpenStack cloud, these need only the server.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from osic_fault_helpers import local_config

pytestmark = pytest.mark.functional

# 10 s of load a run: a 3 s baseline, the recovery limit of 5 s, 2 s more.
TIMING = {"baseline": 3, "recover_within": 5, "tail": 2}


def catalogue(url: str) -> dict:
    return {
        "version": 1,
        "defaults": TIMING,
        "sections": [
            {
                "section": "1",
                "title": "OsicProbe.http",
                "template": "study_fault.yaml",
                "args": {
                    "scenario": "OsicProbe.http",
                    "scenario_args": {"url": url, "timeout": 1.0},
                    "rps": 5,
                    "contexts": {},
                    "outage": 1,
                    "fault_analysis": {"hold": 1, "hold_operations": 3},
                },
                "tests": [
                    {
                        "number": "1.1",
                        "title": "Kill web service on one node",
                        "fault": {"service": "web", "action": "kill"},
                        "runs": 2,
                    },
                    {
                        "number": "1.2",
                        "title": "Restart web service on one node",
                        "fault": {"service": "web", "action": "restart"},
                    },
                    {
                        "number": "1.3",
                        "title": "Kill absent service on one node",
                        "fault": {"service": "absent", "action": "kill"},
                    },
                ],
            }
        ],
    }


@pytest.fixture
def study(rally, http_service, tmp_path):
    _, args = http_service
    faults = tmp_path / "os-faults.json"
    faults.write_text(json.dumps(local_config({"web": args})))
    cat = tmp_path / "catalogue.yaml"
    cat.write_text(yaml.safe_dump(catalogue(args["health_url"])))

    def start(*extra: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "rally_osic.cli", "study", "run", *extra],
            env={**os.environ, **rally.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            preexec_fn=_as_in_a_terminal,
            **kwargs,
        )

    return start, cat, faults, args


def _as_in_a_terminal() -> None:
    """Ctrl-C as a terminal's foreground job gets it: a test suite run in
    the background by a non-interactive shell (nohup ... &) inherits
    SIGINT ignored, and so would the study, which would then run on."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for(path, process, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"no {path} in {seconds} s"
        time.sleep(0.2)


def test_interrupted_study_resumes_without_redoing_a_run(study, tmp_path):
    start, cat, faults, _ = study
    out = tmp_path / "study"
    common = ["--catalogue", str(cat), "--os-faults-config", str(faults)]
    first = start(
        "--all",
        "--env",
        "local",
        "--out",
        str(out),
        "--skip-unavailable",
        "--settle",
        "20",
        *common,
    )
    # Ctrl-C (the whole process group, as a terminal sends it) while the
    # second run of 1.1 is under way.
    _wait_for(out / "logs" / "1.1-run-2.log", first, 180)
    time.sleep(1)
    os.killpg(first.pid, signal.SIGINT)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    done = out / "runs" / "1.1" / "run-1.json.gz"
    report = json.loads(gzip.decompress(done.read_bytes()))
    assert report["tasks"][0]["status"] == "finished"
    assert not (out / "runs" / "1.1" / "run-2.json.gz").exists()
    kept = done.stat().st_mtime_ns
    plan = json.loads((out / "study.json").read_text())
    assert [t["number"] for t in plan["tests"]] == ["1.1", "1.2"]
    (skipped,) = plan["skipped"]
    assert skipped["number"] == "1.3" and "absent" in skipped["reason"]

    resumed = start("--resume", str(out), "--os-faults-config", str(faults))
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert done.stat().st_mtime_ns == kept  # not run again
    finished = sorted(p.name for p in (out / "runs").glob("*/run-*"))
    assert finished == ["run-1.json.gz", "run-1.json.gz", "run-2.json.gz"]
    for path in (out / "runs").glob("*/run-*"):
        task = json.loads(gzip.decompress(path.read_bytes()))["tasks"][0]
        (workload,) = task["subtasks"][0]["workloads"]
        (hook,) = workload["hooks"]
        assert hook["results"][0]["status"] == "success", hook["results"]
        # Rally 5.1.1 drops the task's title from its JSON; the
        # subtask's carries the study's number too.
        subtask = task["subtasks"][0]["title"]
        assert f": {path.parent.name} " in subtask, subtask
    html = (out / "report" / "report.html").read_text()
    assert "Kill absent service" in html  # the skipped test is listed
    # The report keeps the catalogue's numbers and titles.
    assert "1.2 OsicProbe.http: Restart web service on one node" in html

    # 1.2 once more with a longer baseline: the new run has it, the first
    # is kept aside, and the report's outline says so.
    first = gzip.decompress(
        (out / "runs" / "1.2" / "run-1.json.gz").read_bytes()
    )
    again = start(
        "--resume",
        str(out),
        "--again",
        "1.2",
        "--task-args",
        '{"baseline": 4}',
        "--os-faults-config",
        str(faults),
        "--no-report",
    )
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert done.stat().st_mtime_ns == kept
    (aside,) = (out / "runs" / "1.2").glob("superseded-*/run-1.json.gz")
    assert gzip.decompress(aside.read_bytes()) == first
    assert [_fault_at(p) for p in sorted(out.glob("runs/1.2/**/run-1.*"))] == [
        4,
        TIMING["baseline"],
    ]
    outline = (out / "outline.yaml").read_text()
    assert "Run again: 1.2, with baseline=4" in outline


def _fault_at(path) -> float:
    task = json.loads(gzip.decompress(path.read_bytes()))["tasks"][0]
    (workload,) = task["subtasks"][0]["workloads"]
    (hook,) = workload["hooks"]
    return hook["config"]["trigger"]["event"]["at"][0]


def test_a_service_left_down_stops_the_study(study, tmp_path):
    start, cat, faults, args = study
    # The hook's restore cannot start it again.
    config = json.loads(faults.read_text())
    config["services"]["web"]["args"]["start_cmd"] = "true"
    faults.write_text(json.dumps(config))
    out = tmp_path / "study"
    run = start(
        "1.1",
        "1.2",
        "--env",
        "local",
        "--out",
        str(out),
        "--runs",
        "1",
        "--catalogue",
        str(cat),
        "--os-faults-config",
        str(faults),
        "--settle",
        "2",
        "--no-report",
    )
    _, err = run.communicate(timeout=300)
    assert run.returncode == 1, err
    (line,) = [x for x in err.splitlines() if "error:" in x]
    assert "after 1.1: still unhealthy" in line and "web" in line
    assert f"--resume {out}" in line
    assert (out / "runs" / "1.1" / "run-1.json.gz").exists()
    assert not (out / "runs" / "1.2").exists()
    # web was healthy when the study began: a resume while it is still
    # down checks it (it used to be set aside as "already unhealthy").
    assert json.loads((out / "study.json").read_text())["down_at_start"] == []
    resumed = start(
        "--resume",
        str(out),
        "--os-faults-config",
        str(faults),
        "--settle",
        "2",
        "--no-report",
    )
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 1, err
    (line,) = [x for x in err.splitlines() if "error:" in x]
    assert "before 1.2: still unhealthy" in line and "web" in line
    assert not (out / "runs" / "1.2").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["9.9", "--env", "local", "--out", "X"], "no test '9.9'"),
        (["1.1", "--env", "nosuch", "--out", "X"], "env 'nosuch'"),
        (["1.3", "--env", "local", "--out", "X"], "no service 'absent'"),
        (["--resume", "X"], "holds no study"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    study, tmp_path, argv, message
):
    start, cat, faults, _ = study
    out = tmp_path / "out"
    argv = [str(out) if a == "X" else a for a in argv]
    run = start(
        *argv, "--catalogue", str(cat), "--os-faults-config", str(faults)
    )
    _, err = run.communicate(timeout=120)
    assert run.returncode != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err
    assert not out.exists()

"""A real ``rally-osic report`` stopped by SIGTERM (to the process, and
to its whole process group with the chart workers): it exits 143 with one
line, removes its staging folder (and the -o folder it created), and the
earlier report and the user's files are untouched."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from tests.unit.report import factory

pytestmark = pytest.mark.functional

RALLY_OSIC = pathlib.Path(sys.executable).with_name("rally-osic")


@pytest.fixture(scope="module")
def big_results(tmp_path_factory):
    """Enough work (40 runs, SVG and PDF) that the report is still
    rendering seconds after its staging folder appears."""
    path = tmp_path_factory.mktemp("big") / "results.json"
    workloads = [
        factory.fault_workload(seed=i, iterations=2000, rps=20)
        for i in range(40)
    ]
    path.write_text(json.dumps(factory.document(workloads)))
    return path


def start(results, out):
    return subprocess.Popen(
        [
            str(RALLY_OSIC),
            "report",
            str(results),
            "-o",
            str(out),
            "-q",
            "--svg",
            "--pdf",
        ],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as from a shell
    )


def wait_for_staging(proc, out: pathlib.Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if out.is_dir() and any(
            p.name.startswith(".report-") for p in out.iterdir()
        ):
            return
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    raise AssertionError("no charts being drawn after 120 s")


@pytest.mark.parametrize("to_group", [False, True], ids=["process", "group"])
def test_sigterm_cleans_up_and_keeps_the_earlier_report(
    big_results, tmp_path, to_group
):
    out = tmp_path / "out"
    (out / "charts").mkdir(parents=True)
    (out / "report.html").write_text("earlier report")
    (out / "charts" / "0001.png").write_text("earlier chart")
    (out / "notes.txt").write_text("the user's")
    proc = start(big_results, out)
    wait_for_staging(proc, out)
    if to_group:
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert err == "rally-osic report: stopped by SIGTERM\n"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [
        "charts",
        "charts/0001.png",
        "notes.txt",
        "report.html",
    ]
    assert (out / "report.html").read_text() == "earlier report"
    assert (out / "charts" / "0001.png").read_text() == "earlier chart"


def test_sigterm_removes_the_folder_it_created(big_results, tmp_path):
    out = tmp_path / "new"
    proc = start(big_results, out)
    wait_for_staging(proc, out)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert not out.exists()

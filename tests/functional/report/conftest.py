import os
import pathlib
import subprocess
import sys

import pytest

from tests.functional.report.rally_run import RALLY, run_rally_task

ROOT = pathlib.Path(__file__).resolve().parents[3]
RALLY_OSIC = pathlib.Path(sys.executable).with_name("rally-osic")


@pytest.fixture(scope="session")
def rally_results(tmp_path_factory):
    """A real ``rally task start``: two runs of the flaky-service test."""
    workdir = tmp_path_factory.mktemp("rally")
    path = run_rally_task(workdir, runs=2, times=100, rps=10)
    return workdir, path


@pytest.fixture(scope="session")
def report_dir(rally_results, tmp_path_factory):
    """``rally-osic report`` of the real results, with the PDF."""
    _, results = rally_results
    out = tmp_path_factory.mktemp("report")
    done = subprocess.run(
        [
            str(RALLY_OSIC),
            "report",
            str(results),
            "-o",
            str(out),
            "--pdf",
            "--svg",
            "--outline",
            str(ROOT / "samples" / "outline.yaml"),
            "--metadata",
            str(ROOT / "samples" / "metadata.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return out


def rally_env(workdir: pathlib.Path) -> dict[str, str]:
    env = dict(os.environ)
    env["HOME"] = str(workdir)
    env["OS_DATABASE__CONNECTION"] = f"sqlite:///{workdir}/rally.sqlite"
    return env


__all__ = ["RALLY", "rally_env"]

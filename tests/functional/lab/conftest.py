"""A whole lab for the functional tests: up once per session, down at end.

It runs next to any lab the user keeps up (standard ports): its own state
directory and ``--port-offset`` (default 10000). The venvs are shared with
the default lab (``.lab/venvs``, rebuilt only when the pinned requirements
change), so only the first run on a machine pays for pip.

Environment: ``RALLY_OSIC_LAB_TEST_DIR`` (state dir, default a pytest tmp
dir), ``RALLY_OSIC_LAB_TEST_PORT_OFFSET``, ``RALLY_OSIC_LAB_TEST_VENVS``.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PORT_OFFSET = int(os.environ.get("RALLY_OSIC_LAB_TEST_PORT_OFFSET", "10000"))


def lab_cli(*args, timeout=900, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rally_osic.cli", "lab", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@dataclasses.dataclass
class Lab:
    state_dir: Path
    up_seconds: float

    def cli(self, action, *args, **kwargs):
        return lab_cli(action, "--state-dir", self.state_dir, *args, **kwargs)


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    state_dir = Path(
        os.environ.get("RALLY_OSIC_LAB_TEST_DIR")
        or tmp_path_factory.mktemp("lab")
    )
    venvs = Path(
        os.environ.get("RALLY_OSIC_LAB_TEST_VENVS") or REPO / ".lab" / "venvs"
    )
    options = []
    if not (state_dir / "lab.json").exists():
        options = ["--port-offset", PORT_OFFSET, "--venv-dir", venvs]
    started = time.monotonic()
    try:
        result = lab_cli("up", "--state-dir", state_dir, *options)
        assert result.returncode == 0, (
            f"lab up failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        )
        yield Lab(state_dir, time.monotonic() - started)
    finally:
        lab_cli("down", "--state-dir", state_dir, timeout=120)


@pytest.fixture(scope="session")
def lab_rally(lab, tmp_path_factory):
    """An isolated Rally (own HOME and SQLite) with the lab's env.

    ``lab env`` creates the Rally env "osic-lab" whose extras name the
    lab's exact os-faults config, where the ``osic_fault`` hook finds it.
    """
    from tests.functional.rally_cli import RallyCLI

    rally = RallyCLI(tmp_path_factory.mktemp("lab-rally"))
    rally.check("db", "create")
    result = lab.cli("env", "--name", "osic-lab", env=rally.env)
    assert result.returncode == 0, result.stdout + result.stderr
    return rally

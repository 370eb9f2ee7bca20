"""An installed wheel must find the report templates (package data)."""

import pathlib
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.functional


def test_wheel_ships_templates_and_css(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("rally_osic-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "rally_osic/report/assets/templates/study.html.j2" in names
    assert "rally_osic/report/assets/static/study.css" in names
    assert "rally_osic/plugins/exporters/whitepaper_html.py" in names

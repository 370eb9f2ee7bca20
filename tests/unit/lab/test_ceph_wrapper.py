"""The libvirt hosts' ``ceph`` retries the mon's refusal of a command
sent before the monmap, and only that. A script stands in for Ceph's CLI
here (the lab's e2e test runs the real one through Nova)."""

from __future__ import annotations

import os
import subprocess

from rally_osic.lab.services import DATA_DIR

WRAPPER = DATA_DIR / "osic_lab_ceph.sh"
REFUSED = "Error EPERM: problem getting command descriptions from mon."


def run(tmp_path, fails: int, error: str = REFUSED):
    counter = tmp_path / "calls"
    fake = tmp_path / "ceph"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo x >> "{counter}"\n'
        f'if [ "$(wc -l < "{counter}")" -le {fails} ]; then\n'
        f'  echo "{error}" >&2; exit 1\n'
        "fi\n"
        'echo "{\\"mons\\": []} $*"\n'
    )
    fake.chmod(0o755)
    result = subprocess.run(
        ["sh", str(WRAPPER), "mon", "dump", "--format=json"],
        capture_output=True,
        text=True,
        env={**os.environ, "OSIC_LAB_REAL_CEPH": str(fake)},
        timeout=30,
    )
    calls = len(counter.read_text().splitlines())
    return result, calls


def test_a_refused_command_is_sent_again(tmp_path):
    result, calls = run(tmp_path, fails=2)
    assert (result.returncode, calls) == (0, 3)
    assert result.stdout == '{"mons": []} mon dump --format=json\n'
    assert result.stderr == ""


def test_other_errors_and_a_lasting_refusal_are_passed_on(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    result, calls = run(tmp_path / "a", fails=1, error="Error ENOENT: x")
    assert (result.returncode, calls) == (1, 1)
    assert result.stderr == "Error ENOENT: x\n"
    result, calls = run(tmp_path / "b", fails=99)
    assert (result.returncode, calls) == (1, 5)
    assert result.stderr == REFUSED + "\n"

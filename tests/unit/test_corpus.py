"""The malformed-input corpus (tests/corpus): each file gives its one
line on stderr and its exit code, writes nothing, and never a traceback
(an exception escaping ``main`` fails the test)."""

from __future__ import annotations

import pathlib

import pytest
import yaml

from rally_osic import cli

CORPUS = pathlib.Path(__file__).resolve().parents[1] / "corpus"
EXPECTED = yaml.safe_load((CORPUS / "expected.yaml").read_text())


def cases(command: str):
    files = sorted(p.name for p in (CORPUS / command).iterdir())
    return [pytest.param(command, name, id=name) for name in files]


def argv(command: str, path: pathlib.Path, out: pathlib.Path) -> list[str]:
    if command == "faults-config":
        return [command, "--osa-inventory", str(path), "-o", str(out)]
    return [command, str(path), "-o", str(out), "-q", "--workers", "1"]


@pytest.mark.parametrize(
    "command, name", cases("faults-config") + cases("report")
)
def test_malformed_input_gives_one_line(command, name, tmp_path, capsys):
    assert name in EXPECTED[command], f"add {name} to expected.yaml"
    code, message = EXPECTED[command][name]
    out = tmp_path / "out"
    assert cli.main(argv(command, CORPUS / command / name, out)) == code
    captured = capsys.readouterr()
    if code == 0:
        assert captured.err == "" and out.exists()
        return
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith(f"rally-osic {command}: error: ")
    assert message in captured.err
    assert list(tmp_path.iterdir()) == []  # nothing written, no temp file


def test_every_expected_file_exists():
    for command, entries in EXPECTED.items():
        for name in entries:
            assert (CORPUS / command / name).is_file(), f"{command}/{name}"

"""The -o folder is the user's: only what the report wrote is replaced."""

from __future__ import annotations

import fcntl
import json
import os
import pathlib
import subprocess
import sys

import pytest

from rally_osic import cli
from rally_osic.report import outdir
from tests.unit.report import factory


def run(*argv):
    return cli.main(["report", *map(str, argv), "-q", "--workers", "1"])


def results(write_json, runs, name="results.json"):
    return write_json(factory.document(factory.study_workloads()[:runs]), name)


def tree(folder: pathlib.Path) -> list[str]:
    return sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()
    )


def test_users_files_in_the_folder_and_in_charts_stay(write_json, tmp_path):
    out = tmp_path / "out"
    (out / "charts").mkdir(parents=True)
    (out / "charts" / "my-notes.txt").write_text("mine")
    (out / "README").write_text("also mine")
    assert run(results(write_json, 2), "-o", out) == 0
    assert (out / "charts" / "my-notes.txt").read_text() == "mine"
    assert (out / "README").read_text() == "also mine"
    assert tree(out) == [
        ".rally-osic-report.json",
        "README",
        "charts/0001.png",
        "charts/0002.png",
        "charts/my-notes.txt",
        "fault-verdicts.xml",
        "report.html",
    ]


def test_charts_of_an_earlier_run_are_removed_only_if_it_wrote_them(
    write_json, tmp_path
):
    out = tmp_path / "out"
    assert run(results(write_json, 4), "-o", out, "--svg") == 0
    assert len(list((out / "charts").glob("*.svg"))) == 4
    (out / "charts" / "0009.png").write_text("a user's file by that name")
    assert run(results(write_json, 2, "two.json"), "-o", out) == 0
    assert sorted(p.name for p in (out / "charts").iterdir()) == [
        "0001.png",
        "0002.png",
        "0009.png",
    ]
    manifest = json.loads((out / outdir.MANIFEST).read_text())
    assert manifest["written"] == [
        "charts/0001.png",
        "charts/0002.png",
        "fault-verdicts.xml",
        "report.html",
    ]


def test_a_manifest_cannot_make_it_delete_outside_its_names(
    write_json, tmp_path
):
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "precious").write_text("x")
    (out / "charts").mkdir()
    (out / "charts" / ".hidden").write_text("x")
    (out / outdir.MANIFEST).write_text(
        json.dumps(
            {"written": ["../precious", "/etc/hostname", "charts/.hidden"]}
        )
    )
    assert run(results(write_json, 1), "-o", out) == 0
    assert (tmp_path / "precious").exists()
    assert (out / "charts" / ".hidden").exists()


@pytest.mark.parametrize(
    "output, message",
    [
        ("", "-o needs a folder name (got an empty one)"),
        ("   ", "-o needs a folder name"),
        ("a-file", "is a file, not a folder"),
    ],
)
def test_bad_output_is_refused_in_one_line(
    output, message, write_json, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("keep me")
    path = results(write_json, 1)
    before = tree(tmp_path)
    assert run(path, "-o", output) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert tree(tmp_path) == before
    assert (tmp_path / "a-file").read_text() == "keep me"


def test_leftovers_of_a_killed_run_are_removed(write_json, tmp_path):
    out = tmp_path / "out"
    (out / ".report-abc123" / "charts").mkdir(parents=True)
    (out / ".report-abc123" / "charts" / "0001.png").write_text("x")
    (out / ".charts.old").mkdir()
    assert run(results(write_json, 1), "-o", out) == 0
    assert not (out / ".report-abc123").exists()
    assert not (out / ".charts.old").exists()


def test_a_second_run_on_the_same_folder_is_refused(
    write_json, tmp_path, capsys
):
    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a running report holds it
        assert run(results(write_json, 1), "-o", out) == 1
    finally:
        os.close(fd)
    assert "another rally-osic report is writing this folder" in (
        capsys.readouterr().err
    )
    assert list(out.iterdir()) == []


def test_error_after_staging_removes_staging_and_the_new_folder(
    tmp_path, write_json, capsys
):
    workload = factory.fault_workload()
    workload["data"][-1]["duration"] = -1  # found while reading
    path = write_json(factory.document([factory.fault_workload(), workload]))
    out = tmp_path / "new" / "out"
    assert run(path, "-o", out) == 1
    assert not (tmp_path / "new" / "out").exists()
    assert "is negative" in capsys.readouterr().err


def test_unwritable_folder_is_one_line(tmp_path, write_json):
    """Root's writes pass any permission check, so as root the command
    runs without the capabilities that override file permissions
    (setpriv, util-linux): a real EACCES from the kernel."""
    path = results(write_json, 1)
    out = tmp_path / "locked"
    out.mkdir()
    (out / "report.html").write_text("previous")
    out.chmod(0o555)
    drop = (
        [
            "setpriv",
            "--bounding-set=-dac_override,-dac_read_search,-fowner",
            "--inh-caps=-dac_override,-dac_read_search,-fowner",
        ]
        if os.geteuid() == 0
        else []
    )
    code = (
        "import sys; from rally_osic import cli; "
        f"sys.exit(cli.main(['report', {str(path)!r}, '-o', {str(out)!r}, "
        "'-q', '--workers', '1']))"
    )
    try:
        done = subprocess.run(
            [*drop, sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": os.getcwd()},
        )
    finally:
        out.chmod(0o755)
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        f"rally-osic report: error: -o {out}: cannot write there: "
        "Permission denied\n"
    )
    assert tree(out) == ["report.html"]
    assert (out / "report.html").read_text() == "previous"


@pytest.mark.parametrize("existing", [True, False], ids=["existing", "new"])
def test_a_signal_right_after_a_mkdir_leaves_nothing(
    monkeypatch, tmp_path, existing
):
    """SIGTERM can land between creating a folder and remembering it."""
    out = tmp_path / "out"
    if existing:
        out.mkdir()
        (out / "mine").write_text("mine")
    real_mkdir = os.mkdir
    made = []

    def mkdir_then_signal(path, *args, **kwargs):
        real_mkdir(path, *args, **kwargs)
        made.append(pathlib.Path(path).name)
        raise KeyboardInterrupt  # as the handler would, after the call

    monkeypatch.setattr(os, "mkdir", mkdir_then_signal)
    with pytest.raises(KeyboardInterrupt):
        with outdir.OutputFolder(str(out)):
            pass
    monkeypatch.undo()
    assert made
    if existing:
        assert sorted(p.name for p in out.iterdir()) == ["mine"]
    else:
        assert not out.exists()

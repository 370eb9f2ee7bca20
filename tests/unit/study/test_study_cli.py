"""``rally-osic study list | render | run --dry-run`` and their errors."""

from __future__ import annotations

import json

import pytest
import yaml

from rally_osic import cli


def test_list_shows_every_test_and_why_some_cannot_run(capsys):
    assert cli.main(["study", "list", "--json"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(rows) == 106
    cert = next(r for r in rows if r["number"] == "7.2")
    assert cert["removed"].startswith("removed in Pike")
    assert cli.main(["study", "list", "--service", "nova-conductor"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("7.18 ") and "Kill nova-conductor" in out


def test_render_writes_a_plain_task_file(tmp_path, capsys):
    out = tmp_path / "task.yaml"
    code = cli.main(
        [
            "study",
            "render",
            "7.18",
            "--task-args",
            '{"baseline": 30, "outage": 5}',
            "-o",
            str(out),
        ]
    )
    assert code == 0
    task = yaml.safe_load(out.read_text())
    (workload,) = task["subtasks"][0]["workloads"]
    hook = workload["hooks"][0]["action"]["osic_fault"]
    assert hook["action"]["service"] == "nova-conductor"
    assert hook["restore_after"] == 5
    assert workload["hooks"][0]["trigger"]["event"]["at"] == [30]
    assert not out.read_text().startswith("\n")


def test_dry_run_prints_the_plan_and_says_it_takes_days(capsys):
    assert cli.main(["study", "run", "--all", "--env", "x", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "98 tests, 108 runs" in out
    assert "days" in out
    assert "4.9    skipped: removed in 2025.1" in out


def test_dry_run_of_a_shortened_test(capsys):
    argv = ["study", "run", "1.1", "--env", "x", "--dry-run", "--runs", "2"]
    args = '{"baseline": 30, "recover_within": 60, "tail": 10}'
    assert cli.main([*argv, "--task-args", args]) == 0
    out = capsys.readouterr().out
    assert "1 tests, 2 runs, about 0:04:20" in out  # 2 x (100 s + 30 s)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["render", "10.1"], "no test '10.1'"),
        (["render", "1.1", "--task-args", "[1]"], "must be a mapping"),
        (["render", "1.1", "--task-args", "{x"], "not valid JSON or YAML"),
        (["render", "4.7", "--variant", "new"], "no variant 'new'"),
        (["run", "--env", "x", "--out", "d"], "choose tests"),
        (["run", "1.1", "--out", "d"], "needs --env"),
        (["run", "--resume", "d", "1.1"], "give no selection"),
        (["run", "--resume", "d", "--again"], "--again needs"),
        (["run", "1.1", "--env", "x", "--out", "d", "--again"], "needs"),
        (["run", "1.1", "--env", "x", "--dry-run", "--runs", "0"], "--runs"),
        (
            ["run", "1.1", "--env", "x", "--dry-run", "--variant", "original"],
            "no chosen test has a variant",
        ),
    ],
)
def test_bad_input_is_one_line(capsys, argv, message):
    code = cli.main(["study", *argv])
    err = capsys.readouterr().err
    assert code in (1, 2)
    (line,) = err.strip().splitlines()
    assert line.startswith("rally-osic study: error: ") and message in line

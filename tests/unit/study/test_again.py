"""``study run --resume DIR --again``: chosen tests planned once more with
args of their own, their earlier files set aside, never deleted."""

from __future__ import annotations

import gzip
import json

import pytest

from rally_osic import cli
from rally_osic.study import catalogue as cat
from rally_osic.study import folder as fo
from rally_osic.study import runner


@pytest.fixture
def study(tmp_path):
    folder = fo.StudyFolder(tmp_path / "study")
    plan = fo.Plan(
        env="lab",
        tests=[fo.PlannedTest("1.1", 1), fo.PlannedTest("7.1", 1)],
        task_args={"baseline": 20, "tail": 5},
    )
    folder.create(plan)
    for number in ("1.1", "7.1"):
        folder.save_run(number, 1, b'{"tasks": []}')
        folder.save_task(number, f"task of {number}\n")
    (folder.path / "logs").mkdir()
    (folder.path / "logs" / "7.1-run-1.log").write_text("rally said\n")
    (folder.path / "notes.txt").write_text("the user's own\n")
    return folder


def test_chosen_runs_move_aside_and_the_plan_keeps_their_args(study):
    plan = study.load()
    aside = study.again(plan, ["7.1"], {"baseline": 90})

    assert not study.done("7.1", 1) and study.done("1.1", 1)
    assert runner.pending(study, study.load()) == [("7.1", 1)]
    kept = study.path / "runs" / "7.1" / aside
    assert sorted(p.name for p in kept.iterdir()) == [
        "7.1-run-1.log",
        "7.1.yaml",
        "run-1.json.gz",
    ]
    assert gzip.decompress((kept / "run-1.json.gz").read_bytes()) == (
        b'{"tasks": []}'
    )
    # The report reads runs/*/run-*.json.gz: set-aside runs are not in it.
    assert [p.parent.name for p in study.results()] == ["1.1"]
    assert (study.path / "notes.txt").read_text() == "the user's own\n"

    saved = json.loads(study.plan_file.read_text())
    assert saved["tests"] == [
        {"number": "1.1", "runs": 1},
        {"number": "7.1", "runs": 1, "task_args": {"baseline": 90}},
    ]
    (again,) = saved["again"]
    assert again["numbers"] == ["7.1"] and again["at"] in aside


def test_the_new_args_win_over_the_studys_and_its_section_args(study):
    plan = study.load()
    plan.task_args["section_args"] = {"7": {"baseline": 30, "rps": 1}}
    study.again(plan, ["7.1"], {"baseline": 90})
    plan = study.load()
    catalogue = cat.load(None)
    args = runner.planned_args(catalogue.get("7.1"), plan)
    assert (args["baseline"], args["tail"], args["rps"]) == (90, 5, 1)
    assert runner.planned_args(catalogue.get("1.1"), plan)["baseline"] == 20


def test_running_again_twice_keeps_both_earlier_runs(study, monkeypatch):
    stamps = iter(["2026-12-07T03:00:00+00:00", "2026-12-07T04:00:00+00:00"])
    monkeypatch.setattr(fo, "_now", lambda: next(stamps))
    first = study.again(study.load(), ["7.1"], {"baseline": 90})
    study.save_run("7.1", 1, b"second")
    second = study.again(study.load(), ["7.1"], {"baseline": 120})
    assert (first, second) == (
        "superseded-2026-12-07T030000Z",
        "superseded-2026-12-07T040000Z",
    )
    runs = study.path / "runs" / "7.1"
    assert gzip.decompress((runs / second / "run-1.json.gz").read_bytes()) == (
        b"second"
    )
    assert (runs / first / "run-1.json.gz").exists()
    assert [a["task_args"] for a in study.load().again] == [
        {"baseline": 90},
        {"baseline": 120},
    ]


def test_running_again_keeps_the_args_of_the_last_time(study):
    """A test run again with longer timings, then once more with no args
    (a busy machine spoilt the run) or one arg, keeps the longer ones."""
    study.again(study.load(), ["7.1"], {"baseline": 90, "rps": 0.25})
    study.again(study.load(), ["7.1"], {})
    study.again(study.load(), ["7.1"], {"fault_analysis": {"hold": 2}})
    plan = study.load()
    (test,) = [t for t in plan.tests if t.number == "7.1"]
    assert test.task_args == {
        "baseline": 90,
        "rps": 0.25,
        "fault_analysis": {"hold": 2},
    }
    args = runner.planned_args(cat.load(None).get("7.1"), plan)
    assert (args["baseline"], args["rps"], args["tail"]) == (90, 0.25, 5)
    text = runner.write_outline(study, plan, cat.load(None)).read_text()
    assert "Run again: 7.1, with no change over the args they last" in text


def test_the_outline_says_what_ran_again(study):
    plan = study.load()
    study.again(plan, ["7.1"], {"baseline": 90, "fault_analysis": {"hold": 2}})
    outline = runner.write_outline(study, study.load(), cat.load(None))
    text = outline.read_text()
    assert "Run again: 7.1, with baseline=90, fault_analysis.hold=2" in text


def test_dry_run_again_plans_without_moving_a_file(study, capsys):
    argv = ["study", "run", "--resume", str(study.path), "--again"]
    argv += ["--section", "7", "--task-args", '{"baseline": 90}']
    code = cli.main([*argv, "--dry-run"])
    assert code == 0, capsys.readouterr().err
    assert "7.1 " in capsys.readouterr().out
    assert study.done("7.1", 1) and not study.load().again


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["9.1"], "no test of the study in"),
        (
            ["7.1", "--task-args", '{"section_args": {}}'],
            "choose them with --section",
        ),
    ],
)
def test_again_refuses_what_it_cannot_do(study, capsys, extra, message):
    code = cli.main(
        ["study", "run", "--resume", str(study.path), "--again", *extra]
    )
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and message in line
    assert study.done("7.1", 1) and not study.load().again


def test_a_test_run_again_has_a_rally_tag_of_its_own(study):
    """The run is found in Rally by its tag: the one run again must not
    find the earlier task."""
    plan = study.load()
    before = [runner.study_tag(plan, n, 1) for n in ("1.1", "7.1")]
    study.again(plan, ["7.1"], {"baseline": 90})
    plan = study.load()
    after = [runner.study_tag(plan, n, 1) for n in ("1.1", "7.1")]
    assert after[0] == before[0] and after[1] != before[1]
    assert after[1].endswith("-7.1-1")


def test_running_again_twice_in_one_second_keeps_both(study, monkeypatch):
    monkeypatch.setattr(fo, "_now", lambda: "2026-12-07T03:00:00+00:00")
    first = study.again(study.load(), ["7.1"], {"baseline": 90})
    study.save_run("7.1", 1, b"second")
    second = study.again(study.load(), ["7.1"], {"baseline": 120})
    assert second == first + "-2"
    runs = study.path / "runs" / "7.1"
    assert (runs / first / "run-1.json.gz").exists()
    assert (runs / second / "run-1.json.gz").exists()

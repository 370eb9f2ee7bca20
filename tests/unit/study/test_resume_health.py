"""Which services a study checks between runs, first run and resume.

The cloud's state is a dict here; the real checks run in
tests/functional/faults/test_study_run.py.
"""

from __future__ import annotations

import pytest

from rally_osic.faults import health
from rally_osic.study import folder as fo
from rally_osic.study.runner import Health


@pytest.fixture()
def cloud(monkeypatch):
    state = {"api": "", "db": "", "cache": ""}
    monkeypatch.setattr(health, "checkable", lambda config: sorted(state))
    monkeypatch.setattr(
        health,
        "problems",
        lambda config, names: {n: state[n] for n in names if state[n]},
    )
    return state


def test_the_first_run_sets_aside_what_is_already_down(cloud):
    cloud["cache"] = "not running"
    said = []
    checks = Health({}, said.append)
    assert checks.down_at_start == ["cache"]
    assert checks.names == ["api", "db"]
    assert said == [
        "already unhealthy, not checked between runs: cache: not running"
    ]


def test_a_resume_checks_a_service_the_study_left_down(cloud):
    cloud["db"] = "not running"  # a stopped study left it down
    checks = Health({}, [].append, down_at_start=[])
    assert checks.names == ["api", "cache", "db"]
    assert checks.wait(0) == {"db": "not running"}


def test_a_resume_still_sets_aside_what_was_down_at_the_start(cloud):
    cloud["cache"] = "not running"
    said = []
    checks = Health({}, said.append, down_at_start=["cache"])
    assert checks.names == ["api", "db"]
    assert checks.wait(0) == {}
    assert said == ["unhealthy since the study began, not checked: cache"]


@pytest.mark.parametrize("down", [None, [], ["cache"]])
def test_the_plan_keeps_what_was_down(down):
    plan = fo.Plan(env="e", tests=[], task_args={}, down_at_start=down)
    assert fo.Plan.from_json(plan.to_json()).down_at_start == down

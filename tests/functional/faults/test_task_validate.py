"""``rally task validate`` (real Rally, own HOME and database) refuses
what would only fail minutes into the run: an osic_fault action the
hook's parser rejects, a stress without a kind or a duration, and a fault
SLA with no way to know the fault time."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.functional

LOAD = {
    "scenario": {"Dummy.dummy": {"sleep": 0}},
    "runner": {"constant": {"times": 2, "concurrency": 1}},
}
TRIGGER = {"event": {"unit": "iteration", "at": [1]}}


def task(hooks=(), sla=None):
    workload = dict(LOAD, hooks=list(hooks), sla=sla or {})
    return {
        "version": 2,
        "title": "validate",
        "subtasks": [{"title": "t", "workloads": [workload]}],
    }


def fault_hook(action, **extra):
    return {
        "action": {"osic_fault": {"action": action, **extra}},
        "trigger": TRIGGER,
    }


def validate(rally, document):
    path = rally.home / "task.json"
    path.write_text(json.dumps(document))
    result = rally.run("task", "validate", str(path))
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize(
    "hooks, sla, message",
    [
        (
            [fault_hook("asdf qwerty")],
            {},
            "cannot parse fault sentence 'asdf qwerty'",
        ),
        (
            [fault_hook({"node_action": "stress", "seconds": 30})],
            {},
            "stress needs a kind: cpu, memory, disk",
        ),
        (
            [fault_hook({"node_action": "stress", "stress": "cpu"})],
            {},
            "stress needs a duration (seconds > 0)",
        ),
        (
            [fault_hook("stress kernel for 10 seconds on one node")],
            {},
            "unknown stress target 'kernel'",
        ),
        (
            [fault_hook("disconnect management network on one node")],
            {},
            "action 'disconnect' is not supported",
        ),
        (
            [
                fault_hook(
                    "kill memcahced service on one node",
                    config={
                        "cloud_management": {"driver": "universal"},
                        "services": {
                            "memcached": {
                                "driver": "osic_process",
                                "args": {"pid_file": "/run/m.pid"},
                            }
                        },
                    },
                )
            ],
            {},
            "service 'memcahced' is not in the os-faults config hook config"
            " (it has memcached)",
        ),
        (
            [],
            {"fault_recovery": {"within": 60}},
            "fault_recovery has no fault_at and the workload has no "
            "osic_fault hook to measure the fault: set fault_at",
        ),
        (
            [
                {
                    "action": {"sys_call": "true"},
                    "trigger": TRIGGER,
                }
            ],
            {"fault_downtime": {"max": 5}},
            "fault_downtime has no fault_at and the workload has no "
            "osic_fault hook to measure the fault (its hooks: sys_call)",
        ),
        (
            [fault_hook("restart memcached service on one node")],
            {"fault_degradation": {"max_ratio": 3, "prefer_measured": False}},
            "fault_degradation has prefer_measured: false and no fault_at",
        ),
    ],
)
def test_validate_refuses_with_the_reason(rally, hooks, sla, message):
    code, output = validate(rally, task(hooks, sla))
    assert code != 0, output
    assert message in output, output
    assert "Traceback" not in output


def test_valid_tasks_pass(rally):
    """The checks refuse only what cannot run: these validate."""
    measured = task(
        [fault_hook("kill memcached service on one node")],
        {"fault_downtime": {"max": 5}, "fault_recovery": {"within": 60}},
    )
    triggered = task(
        [
            fault_hook(
                {
                    "node_action": "stress",
                    "stress": "cpu",
                    "seconds": 10,
                    "nodes": "one",
                }
            )
        ],
        {
            "fault_recovery": {
                "fault_at": {"unit": "iteration", "at": 1},
                "prefer_measured": False,
            }
        },
    )
    for document in (measured, triggered):
        code, output = validate(rally, document)
        assert code == 0, output

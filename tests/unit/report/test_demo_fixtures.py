"""The demo's keystone case, pinned on real Rally JSON.

Both files are ``rally task report --json`` of the demo's keystone task
(Authenticate.keystone at 5 rps for 75 s, memcached restarted at +25 s by
the osic_fault hook) on the lab:

* ``demo-keystone.json``: a run of ``./run demo`` on a fresh clone;
* ``demo-keystone-slow-end.json``: the same task with a second osic_fault
  hook freezing keystone for 0.5 s under the last two calls of the run, the
  slow end that the demo once showed and that read "never recovered".
"""

import json
import pathlib
import re
import statistics

import pytest

from rally_osic import cli

DATA = pathlib.Path(__file__).resolve().parents[2] / "data" / "verdicts"


def workload(name):
    document = json.loads((DATA / name).read_text())
    (task,) = document["tasks"]
    (subtask,) = task["subtasks"]
    (only,) = subtask["workloads"]
    return only


def verdicts(capsys, name):
    code = cli.main(["verdicts", str(DATA / name), "--json"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return code, {row["criterion"]: row for row in rows}


def test_the_slow_end_is_real_in_the_fixture():
    data = sorted(
        workload("demo-keystone-slow-end.json")["data"],
        key=lambda it: it["timestamp"],
    )
    origin = data[0]["timestamp"]
    median = statistics.median(it["duration"] for it in data)
    *before, second_last, last = data
    assert second_last["duration"] > 4 * median
    assert last["duration"] > 4 * median
    # At baseline for more than 25 s before them.
    stretch = [
        it
        for it in before
        if it["timestamp"] - origin >= second_last["timestamp"] - origin - 25
    ]
    assert len(stretch) >= 120
    assert statistics.median(it["duration"] for it in stretch) < 1.2 * median


def test_two_slow_calls_at_the_end_are_a_relapse_not_never_recovered(
    capsys,
):
    code, rows = verdicts(capsys, "demo-keystone-slow-end.json")
    assert code == 0
    recovery = rows["fault_recovery"]
    assert recovery["success"]
    assert re.match(
        r"recovered [0-9.]+ s after the fault, held 10 s and 5 operations "
        r"\(limit 300 s\); 1 relapse \([0-9.]+ s, worst [0-9.]+x baseline "
        r"mean, the last at the end of the run\): PASS",
        recovery["detail"],
    ), recovery["detail"]
    assert "relapse" in recovery["findings"]
    assert "not_back_to_baseline" not in recovery["findings"]


@pytest.mark.parametrize(
    "name", ["demo-keystone.json", "demo-keystone-slow-end.json"]
)
def test_the_stored_verdicts_are_the_current_ones(capsys, name):
    # Recorded with this method: Rally's run-time verdicts and the CLI's
    # agree to the letter.
    _, rows = verdicts(capsys, name)
    for row in rows.values():
        assert row["rally_at_run_time"] is None, row


def test_the_demo_run_recovered(capsys):
    code, rows = verdicts(capsys, "demo-keystone.json")
    assert code == 0
    assert rows["fault_recovery"]["detail"].startswith("recovered ")

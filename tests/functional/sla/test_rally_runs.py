"""The fault SLAs in real ``rally task start`` runs.

A real HTTP service on 127.0.0.1 is probed at 10 requests per second by
the package's OsicProbe.http scenario; Rally's own ``sys_call`` hook kills
it with SIGKILL a few seconds into the load and, in the transient case,
starts it again. A watcher thread records the real outage at 5 ms
resolution, and the SLA verdicts are checked against it.
"""

import re

import pytest

from rally_osic.measure import AnalysisConfig, FaultAnalysis, Timeline
from tests.functional.sla.service import HttpService, OutageWatcher

pytestmark = pytest.mark.functional

RATE = 10.0  # requests per second; one sampling interval is 0.1 s
KILL_AT = 4
RESTART_AT = 7


@pytest.fixture
def service(tmp_path):
    http = HttpService(tmp_path)
    http.start()
    watcher = OutageWatcher(http.port)
    watcher.start()
    yield http, watcher
    watcher.stop()
    http.stop()


def fault_task(service, hooks, sla, iterations):
    return {
        "version": 2,
        "title": "fault SLA functional test",
        "subtasks": [
            {
                "title": "http probe under a kill",
                "workloads": [
                    {
                        "scenario": {
                            "OsicProbe.http": {
                                "url": service.url,
                                "timeout": 1.0,
                            }
                        },
                        "runner": {"rps": {"times": iterations, "rps": RATE}},
                        "hooks": [
                            {
                                "description": description,
                                "action": {"sys_call": command},
                                "trigger": {
                                    "event": {"unit": "time", "at": [at]}
                                },
                            }
                            for description, command, at in hooks
                        ],
                        "sla": sla,
                    }
                ],
            }
        ],
    }


def only_workload(report):
    (task,) = report["tasks"]
    (subtask,) = task["subtasks"]
    (workload,) = subtask["workloads"]
    return workload


def verdicts(workload):
    return {
        r["criterion"]: (r["success"], r["detail"])
        for r in workload["sla_results"]["sla"]
    }


def test_transient_outage_is_measured_within_the_sampling_interval(
    rally, service
):
    http, watcher = service
    fault_at = {"unit": "time", "at": KILL_AT}
    task = fault_task(
        http,
        hooks=[
            ("kill the service", http.kill_command, KILL_AT),
            ("start it again", http.start_command, RESTART_AT),
        ],
        sla={
            "fault_downtime": {"max": 10, "fault_at": fault_at},
            # The load goes on 7 s after the restart: hold for 3 s.
            "fault_recovery": {"within": 60, "fault_at": fault_at, "hold": 3},
            "fault_degradation": {"max_ratio": 50, "fault_at": fault_at},
        },
        iterations=int(RATE * 14),
    )
    result, uuid = rally.start_task(task)
    assert result.returncode == 0, result.stdout[-2000:]
    assert rally.run("task", "sla-check", uuid).returncode == 0

    workload = only_workload(rally.report_json(uuid))
    results = verdicts(workload)
    assert all(success for success, _ in results.values()), results

    (real_outage,) = watcher.outages()
    real_down, real_up = real_outage
    real = real_up - real_down
    match = re.match(
        r"downtime (\d+\.\d) s ± (\d+\.\d) s in 1 outage, 1 full",
        results["fault_downtime"][1],
    )
    assert match, results["fault_downtime"][1]

    # Same figures, unrounded, from the stored iterations.
    timeline = Timeline.from_iterations(workload["data"])
    analysis = FaultAnalysis(timeline, KILL_AT, AnalysisConfig(hold=3))
    (outage,) = analysis.outages_after_fault
    interval = 1.0 / RATE
    jitter = 0.05  # scheduling of the rps runner's processes
    # The first and last failures each fall up to one interval inside the
    # real outage; the midpoint estimate is within one interval of it.
    assert real - 2 * interval - jitter <= outage.downtime <= real + jitter
    assert abs(outage.downtime + outage.uncertainty - real) <= interval + (
        jitter
    )
    assert float(match.group(1)) == pytest.approx(outage.downtime, abs=0.051)
    # The outage is placed where it really happened.
    assert abs(timeline.origin + outage.start - real_down) <= interval + (
        jitter
    )
    assert analysis.recovery.recovered
    assert analysis.recovery.at + timeline.origin >= real_up - jitter


def test_service_that_never_comes_back_fails_recovery(rally, service):
    http, watcher = service
    fault_at = {"unit": "time", "at": KILL_AT}
    task = fault_task(
        http,
        hooks=[("kill the service", http.kill_command, KILL_AT)],
        sla={
            "fault_downtime": {"max": 1, "fault_at": fault_at},
            "fault_recovery": {"fault_at": fault_at},
        },
        iterations=int(RATE * 9),
    )
    result, uuid = rally.start_task(task)
    assert result.returncode == 2  # Rally's exit code for SLA failures
    # Rally 5.1.1's sla-check exits with the number of failed criteria.
    assert rally.run("task", "sla-check", uuid).returncode == 2

    results = verdicts(only_workload(rally.report_json(uuid)))
    success, detail = results["fault_recovery"]
    assert not success
    assert re.match(
        r"never recovered: still failing for the last [0-9.]+ s "
        r"\(limit 300 s\): FAIL",
        detail,
    ), detail
    success, detail = results["fault_downtime"]
    assert not success
    assert "still failing at end of run" in detail
    (real_outage,) = watcher.outages()
    assert real_outage[1] is None


def test_abort_on_sla_failure_does_not_cut_the_recovery_short(rally, service):
    """add_iteration never fails, so Rally runs the whole load and the
    verdict covers the recovery too."""
    http, _ = service
    fault_at = {"unit": "time", "at": 2}
    task = fault_task(
        http,
        hooks=[
            ("kill the service", http.kill_command, 2),
            ("start it again", http.start_command, 4),
        ],
        sla={
            "fault_recovery": {
                "fault_at": fault_at,
                "min_baseline": 5,
                "hold": 1,
            }
        },
        iterations=int(RATE * 7),
    )
    result, uuid = rally.start_task(task, "--abort-on-sla-failure")
    assert result.returncode == 0, result.stdout[-2000:]
    workload = only_workload(rally.report_json(uuid))
    assert workload["total_iteration_count"] == int(RATE * 7)
    assert verdicts(workload)["fault_recovery"][0]


@pytest.mark.parametrize(
    ("sla", "message"),
    [
        (
            {"fault_downtime": {"max": 5, "maximum": 1}},
            "Additional properties are not allowed ('maximum' was unexpected)",
        ),
        ({"fault_downtime": {"max": -3}}, "-3 is less than the minimum of 0"),
        (
            {"fault_recovery": {"within": -1}},
            "-1 is less than the minimum of 0",
        ),
    ],
)
def test_task_validate_rejects_bad_sla_config(rally, tmp_path, sla, message):
    http = HttpService(tmp_path)  # never started: validation only
    task = fault_task(http, hooks=[], sla=sla, iterations=1)
    path = tmp_path / "bad.json"
    import json

    path.write_text(json.dumps(task))
    result = rally.run("task", "validate", str(path))
    assert result.returncode != 0
    assert message in result.stdout + result.stderr

"""The verdicts against known truth, in a real ``rally task start``.

A test scenario (rally_plugins/scripted_service.py) fails and slows down
at known times, and logs every call, so the truth is known call by call.
One real Rally task with three workloads:

* **transient**: an outage from +8 s to +11 s, 10x slower calls until
  +15 s, then healthy to +30 s;
* **slow end**: the same outage, then the last 3.5 s of the run slow:
  really slow, and reported as a relapse at the end, not hidden;
* **stays slow**: slow from the fault to the end: never recovered.

The stored Rally verdicts are compared with ``rally-osic verdicts`` on
the same file (one code path), which then re-judges the stored run with
limits and settings on either side of the truth: each verdict must flip
exactly there.
"""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.functional

HERE = pathlib.Path(__file__).resolve().parent
RATE = 10.0
SECONDS = 30
FAULT = 8.0
OUTAGE = (8.0, 11.0)
SLOW_UNTIL = 15.0
JITTER = 0.05  # scheduling of the rps runner's two processes
# The scripted slow calls are 10x the normal ones. Judging recovery with a
# 200 % margin (3x the threshold) keeps them unhealthy, while the jitter of
# a busy machine (a few 20 ms calls taking 40-60 ms now and then, see the
# A/A runs) cannot break a healthy stretch: the recovery figures then
# depend on the scripted truth alone. The stored verdicts, judged with the
# defaults, are checked against the CLI above.
TRUTH_ONLY = "recovery_margin=2.0"
WORKLOADS = {
    "transient": {"outages": [OUTAGE], "slow": [(OUTAGE[1], SLOW_UNTIL)]},
    "slow-end": {"outages": [OUTAGE], "slow": [(26.5, 1e9)]},
    "stays-slow": {"outages": [], "slow": [(FAULT, 1e9)]},
}


@pytest.fixture(scope="module")
def known_runs(rally, tmp_path_factory):
    """Run the task once; the Rally JSON and each workload's call log."""
    work = tmp_path_factory.mktemp("known-truth")
    at = {"unit": "time", "at": FAULT}
    workloads = []
    for name, schedule in WORKLOADS.items():
        workloads.append(
            {
                "description": name,
                "scenario": {
                    "OsicTest.scripted_service": {
                        "clock": str(work / f"{name}.clock"),
                        "truth": str(work / f"{name}.truth"),
                        **schedule,
                    }
                },
                "runner": {"rps": {"rps": RATE, "times": int(RATE * SECONDS)}},
                "sla": {
                    # Just above the true 3 s outage.
                    "fault_downtime": {"max": 3.2, "fault_at": at},
                    "fault_degradation": {"max_seconds": 30, "fault_at": at},
                    "fault_recovery": {"within": 60, "fault_at": at},
                },
            }
        )
    task = {
        "version": 2,
        "title": "known truth",
        "subtasks": [{"title": "scripted", "workloads": workloads}],
    }
    rally.env["RALLY_PLUGIN_PATHS"] = str(HERE / "rally_plugins")
    try:
        result, uuid = rally.start_task(task)
    finally:
        del rally.env["RALLY_PLUGIN_PATHS"]
    assert result.returncode in (0, 2), result.stdout[-3000:]
    path = work / "results.json"
    path.write_text(json.dumps(rally.report_json(uuid)))
    truth = {
        name: [
            json.loads(line)
            for line in (work / f"{name}.truth").read_text().splitlines()
        ]
        for name in WORKLOADS
    }
    return path, truth


def verdicts(path, *settings):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rally_osic.cli",
            "verdicts",
            str(path),
            "--json",
            *[f"--set={s}" for s in settings],
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    # Without a hook, a run's fault label is its workload description.
    by_workload: dict[str, dict[str, dict]] = {}
    for row in rows:
        by_workload.setdefault(row["fault"], {})[row["criterion"]] = row
    return done.returncode, by_workload


def workload_of(path, name):
    (task,) = json.loads(path.read_text())["tasks"]
    (subtask,) = task["subtasks"]
    (workload,) = [w for w in subtask["workloads"] if w["description"] == name]
    return workload


def interval(workload) -> float:
    starts = sorted(it["timestamp"] for it in workload["data"])
    return max(b - a for a, b in zip(starts, starts[1:]))


def test_stored_verdicts_are_what_the_cli_computes(known_runs):
    path, _ = known_runs
    _, judged = verdicts(path)
    for name in WORKLOADS:
        stored = {
            s["criterion"]: (s["success"], s["detail"])
            for s in workload_of(path, name)["sla_results"]["sla"]
            if s["criterion"].startswith("fault_")
        }
        again = {
            criterion: (row["success"], row["detail"])
            for criterion, row in judged[name].items()
        }
        assert again == stored, name


def test_downtime_flips_at_the_true_outage(known_runs):
    path, truth = known_runs
    workload = workload_of(path, "transient")
    step = interval(workload)
    failed_starts = [
        since for _, since, failing, _ in truth["transient"] if failing
    ]
    assert failed_starts, "the scripted outage never happened"
    true = OUTAGE[1] - OUTAGE[0]
    detail = {
        s["criterion"]: s["detail"] for s in workload["sla_results"]["sla"]
    }["fault_downtime"]
    downtime, plus_minus = map(
        float, re.match(r"downtime ([0-9.]+) s ± ([0-9.]+) s", detail).groups()
    )
    # First to last failed start lies inside the outage, one sampling
    # interval at most from each edge.
    assert true - 2 * step - JITTER <= downtime <= true + JITTER
    assert abs(downtime + plus_minus - true) <= step + JITTER
    run = "transient"
    _, above = verdicts(path, f"max={true + step + JITTER:.3f}")
    _, below = verdicts(path, f"max={true - 2 * step - JITTER:.3f}")
    assert above[run]["fault_downtime"]["success"]
    assert not below[run]["fault_downtime"]["success"]
    print(
        f"\nknown truth: outage {true:.1f} s, interval {step:.3f} s: "
        f"downtime {downtime:.2f} ± {plus_minus:.2f} s; PASS at max "
        f"{true + step + JITTER:.2f}, FAIL at {true - 2 * step - JITTER:.2f}",
        file=sys.stderr,
    )


def test_recovery_time_and_hold_flip_at_the_true_slow_period(known_runs):
    path, truth = known_runs
    workload = workload_of(path, "transient")
    step = interval(workload)
    run = "transient"
    true_ttr = SLOW_UNTIL - FAULT
    code, judged = verdicts(path, TRUTH_ONLY)
    detail = judged[run]["fault_recovery"]["detail"]
    ttr = float(re.match(r"recovered ([0-9.]+) s after", detail)[1])
    # The centred running mean (9 calls) reaches half a window past the
    # last slow call; one call wide, it is exact to one interval.
    assert abs(ttr - true_ttr) <= step * 5 + JITTER, detail
    _, narrow = verdicts(path, TRUTH_ONLY, "window=1", "persistence=3")
    ttr_narrow = float(
        re.match(
            r"recovered ([0-9.]+) s after",
            narrow[run]["fault_recovery"]["detail"],
        )[1]
    )
    assert abs(ttr_narrow - true_ttr) <= step + JITTER
    # Healthy from the end of the slow period to the end of the run.
    last_call = max(since for _, since, _, _ in truth["transient"])
    tail = last_call - SLOW_UNTIL
    _, holds = verdicts(path, TRUTH_ONLY, f"hold={tail - 2:.1f}")
    _, too_long = verdicts(path, TRUTH_ONLY, f"hold={tail + 2:.1f}")
    assert holds[run]["fault_recovery"]["success"]
    assert too_long[run]["fault_recovery"]["detail"].startswith(
        "run too short after the fault to judge recovery"
    )
    _, late = verdicts(path, TRUTH_ONLY, f"within={true_ttr - 1:.1f}")
    assert not late[run]["fault_recovery"]["success"]
    print(
        f"\nknown truth: slow until +{SLOW_UNTIL:g} s (true time to recover "
        f"{true_ttr:g} s): {ttr:.1f} s at window 9, {ttr_narrow:.1f} s at "
        f"window 1; recovered at hold {tail - 2:.1f} s, undetermined at "
        f"{tail + 2:.1f} s (healthy tail {tail:.1f} s)",
        file=sys.stderr,
    )


def test_real_slowness_at_the_end_is_reported(known_runs):
    path, truth = known_runs
    slowed = [since for _, since, _, slow in truth["slow-end"] if slow]
    assert slowed and min(slowed) >= 26.5
    _, judged = verdicts(path, TRUTH_ONLY)
    detail = judged["slow-end"]["fault_recovery"]["detail"]
    assert re.match(r"recovered [0-9.]+ s after the fault", detail), detail
    match = re.search(
        r"1 relapse \(([0-9.]+) s, worst ([0-9.]+)x baseline mean, the last "
        r"at the end of the run\)",
        detail,
    )
    assert match, detail
    # 10x slower calls for the last 3.5 s: the relapse shows both.
    assert 3.0 <= float(match[1]) <= 4.5
    assert float(match[2]) > 5
    findings = judged["slow-end"]["fault_recovery"]["findings"]
    assert "relapse" in findings


def test_a_service_that_stays_slow_never_recovers(known_runs):
    path, _ = known_runs
    _, judged = verdicts(path)
    row = judged["stays-slow"]["fault_recovery"]
    assert not row["success"]
    match = re.match(
        r"never recovered: still degraded for the last ([0-9.]+) s, "
        r"running mean ([0-9.]+)x the threshold",
        row["detail"],
    )
    assert match, row["detail"]
    assert abs(float(match[1]) - (SECONDS - FAULT)) <= 1.0
    assert float(match[2]) > 5

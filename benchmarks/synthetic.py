"""Synthetic Rally JSON (format 1.2) of fault tests, written streaming.

Shaped like ``rally task report --json`` output of an rps load with an
osic_fault-style fault: a baseline, an outage with failures (with Rally's
traceback), a degradation, then recovery; several concurrent operations.
"""

from __future__ import annotations

import json
import random
import uuid

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "rally/task/runner.py", line 69, in _run_scenario_once\n'
    "    getattr(scenario_inst, method_name)(**scenario_kwargs)\n"
) + "    at keystoneauth1.session.request(...)\n" * 60


def _iteration(rng, start, failed, slow):
    duration = rng.uniform(0.08, 0.14) * slow
    if failed:
        error = [
            "ServiceUnavailable",
            "Unable to establish connection to http://10.0.0.1:5000",
            TRACEBACK,
        ]
        duration = rng.uniform(0.01, 0.05)
    else:
        error = []
    return {
        "duration": duration,
        "timestamp": start,
        "idle_duration": 0.0,
        "error": error,
        "output": {"additive": [], "complete": []},
        "atomic_actions": [
            {
                "name": "keystone_v3.fetch_token",
                "children": [],
                "started_at": start,
                "finished_at": start + duration,
                **({"failed": True} if failed else {}),
            }
        ],
    }


def workload(rng, index, iterations, rps, hooks=True):
    """One workload dict; the fault lands at 40 % of the load."""
    origin = 1_790_000_000.0 + index * 10_000
    fault_iteration = int(iterations * 0.4)
    outage = range(
        fault_iteration + 20, fault_iteration + 20 + iterations // 20
    )
    degraded = range(outage.stop, outage.stop + iterations // 10)
    data = []
    for n in range(iterations):
        start = origin + n / rps + rng.uniform(0, 0.02)
        slow = 3.0 if n in degraded else 1.0
        data.append(_iteration(rng, start, n in outage, slow))
    # Rally stores iterations in completion order.
    data.sort(key=lambda it: it["timestamp"] + it["duration"])
    fault_time = fault_iteration / rps
    failed_count = len(outage)
    hook_list = []
    if hooks:
        started = origin + fault_time
        hook_list.append(
            {
                "config": {
                    "action": {
                        "fault_injection": {"action": "kill memcached"}
                    },
                    "trigger": {"event": {"unit": "time", "at": [fault_time]}},
                    "description": "Kill memcached service on one node",
                },
                "results": [
                    {
                        "status": "success",
                        "started_at": started,
                        "finished_at": started + 4.2,
                        "triggered_by": {"event_type": "time", "value": 1},
                    }
                ],
                "summary": {"success": 1},
            }
        )
    durations = [it["duration"] for it in data]
    load_duration = iterations / rps
    return {
        "uuid": str(uuid.UUID(int=rng.getrandbits(128))),
        "description": "Kill memcached service on one node",
        "runner": {"rps": {"times": iterations, "rps": rps}},
        "hooks": hook_list,
        "scenario": {"Authenticate.keystone": {}},
        "min_duration": min(durations),
        "max_duration": max(durations),
        "start_time": origin,
        "load_duration": load_duration,
        "full_duration": load_duration + 5,
        "statistics": {"durations": {"total": {}, "atomics": []}},
        "data": data,
        "failed_iteration_count": failed_count,
        "total_iteration_count": iterations,
        "created_at": "2026-11-21T10:00:00",
        "updated_at": "2026-11-21T10:10:00",
        "contexts": {"users": {"tenants": 1, "users_per_tenant": 1}},
        "contexts_results": [],
        "position": index,
        "pass_sla": failed_count == 0,
        "sla_results": {
            "sla": [
                {
                    "criterion": "fault_downtime",
                    "success": False,
                    "detail": "downtime 5.0 s ± 0.1 s in 1 outage (limit 1 s)"
                    ": FAIL (fault at +40.0 s, trigger)",
                }
            ]
        },
        "sla": {
            "fault_downtime": {
                "max": 1,
                "fault_at": {"unit": "time", "at": fault_time},
            }
        },
    }


def write_rally_json(
    path, workloads=100, iterations=1000, rps=10, seed=1, hooks=True
):
    """Write a Rally JSON file workload by workload (bounded memory)."""
    rng = random.Random(seed)
    with open(path, "w") as out:
        out.write(
            '{"info": {"rally_version": "5.1.1", "generated_at": '
            '"2026-11-21T10:10:00", "format_version": "1.2"}, "tasks": [{'
            '"uuid": "5a1e0000-0000-4000-8000-000000000001", '
            '"title": "Synthetic fault study", "description": "", '
            '"status": "finished", "tags": [], "env_uuid": "e", '
            '"env_name": "bench", "created_at": "2026-11-21T10:00:00", '
            '"updated_at": "2026-11-21T10:10:00", "pass_sla": false, '
            '"subtasks": [{"uuid": "s", "title": "synthetic", '
            '"description": "", "status": "finished", '
            '"created_at": "2026-11-21T10:00:00", '
            '"updated_at": "2026-11-21T10:10:00", "sla": {}, '
            '"workloads": ['
        )
        for index in range(workloads):
            if index:
                out.write(", ")
            json.dump(workload(rng, index, iterations, rps, hooks), out)
        out.write("]}]}]}")

"""A real ``rally task start``: the osic_fault hook and the package's fault
SLAs in one workload, probing the HTTP server that the hook kills."""

from __future__ import annotations

import re

import pytest
from osic_fault_helpers import local_config

pytestmark = pytest.mark.functional

FAULT_AT = re.compile(r"fault at \+([0-9.]+) s, (measured|trigger[^)]*)\)")


def test_slas_measure_from_the_hooks_effective_at(rally, http_service):
    svc, args = http_service
    task = {
        "version": 2,
        "title": "kill an HTTP server under load",
        "subtasks": [
            {
                "title": "probe under a fault",
                "workloads": [
                    {
                        "scenario": {
                            "OsicProbe.http": {
                                "url": args["health_url"],
                                "timeout": 1.0,
                            }
                        },
                        "runner": {"rps": {"times": 70, "rps": 10}},
                        "hooks": [
                            {
                                "description": "kill the server",
                                "action": {
                                    "osic_fault": {
                                        "action": {
                                            "service": "web",
                                            "action": "kill",
                                        },
                                        "config": local_config({"web": args}),
                                        "restore_after": 1.0,
                                        "recover_within": 5,
                                    }
                                },
                                "trigger": {
                                    "event": {"unit": "time", "at": [2]}
                                },
                            }
                        ],
                        "sla": {
                            # The configured trigger is deliberately
                            # wrong: the measured fault time must win.
                            "fault_downtime": {
                                "max": 5,
                                "fault_at": {"unit": "time", "at": 4},
                            },
                            # 7 s: about 3 s of load after the restore.
                            "fault_recovery": {
                                "within": 10,
                                "fault_at": {"unit": "time", "at": 4},
                                "hold": 2,
                            },
                        },
                    }
                ],
            }
        ],
    }
    res, uuid = rally.start_task(task)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    workload = rally.report_json(uuid)["tasks"][0]["subtasks"][0]["workloads"][
        0
    ]
    [hook] = workload["hooks"]
    result = hook["results"][0]
    assert result["status"] == "success", result.get("error")
    rec = result["fault"]
    assert rec["came_back"] == "restore"  # planned: restore_after
    assert rec["effect"] in (
        "process gone",
        "port closed",
        "health check failing",
    )
    assert abs(rec["effective_at"] - svc.died_at) < 0.5

    iterations = workload["data"]
    origin = min(it["timestamp"] for it in iterations)
    expected = rec["effective_at"] - origin
    failed = [it for it in iterations if it["error"]]
    assert failed, "the probe never saw the server down"
    first_failure = min(it["timestamp"] for it in failed) - origin

    slas = {s["criterion"]: s for s in workload["sla_results"]["sla"]}
    assert set(slas) == {"fault_downtime", "fault_recovery"}
    for sla in slas.values():
        assert sla["success"], sla["detail"]
        m = FAULT_AT.search(sla["detail"])
        assert m, sla["detail"]
        assert m.group(2) == "measured", sla["detail"]
        # The detail prints one decimal: it is the hook's effective_at.
        assert abs(float(m.group(1)) - expected) <= 0.051, (
            sla["detail"],
            expected,
        )
    # ... and not the configured trigger (+4 s) nor the hook's firing.
    assert abs(expected - 4) > 1
    assert abs(first_failure - expected) < 0.5
    downtime = float(
        re.search(r"downtime ([0-9.]+) s", slas["fault_downtime"]["detail"])[1]
    )
    outage = rec["healthy_at"] - rec["effective_at"]
    assert abs(downtime - outage) < 0.5, (downtime, outage)
    print(
        f"\nfault at +{expected:.3f} s (hook effective_at), trigger->effect "
        f"{rec['effective_at'] - rec['triggered_at']:.3f} s; SLA downtime "
        f"{downtime:.1f} s vs hook effect->healthy {outage:.3f} s; "
        + "; ".join(s["detail"] for s in slas.values())
    )

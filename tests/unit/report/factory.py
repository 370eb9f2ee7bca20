"""Synthetic Rally results (JSON 1.2 shape) for report tests and samples.

Each builder returns plain dicts exactly as ``rally task report --json``
lays them out, so tests can plant edge cases a real run rarely produces.
"""

from __future__ import annotations

import random
import uuid as uuid_module
from typing import Any

ORIGIN = 1_790_000_000.0


def make_uuid(rng: random.Random) -> str:
    return str(uuid_module.UUID(int=rng.getrandbits(128), version=4))


def osic_fault_hook(
    label: str, triggered: float, effective: float, healthy: float | None
) -> dict[str, Any]:
    """The osic_fault hook result shape the report reads (see faults.py)."""
    stamps = {
        "triggered_at": triggered,
        "started_at": triggered,
        "finished_at": triggered + 3.0,
        "effect_observed_at": effective,
    }
    if healthy is not None:
        stamps["healthy_again_at"] = healthy
    return {
        "config": {
            "description": label,
            "action": {"osic_fault": {"action": label.lower()}},
            "trigger": {"event": {"unit": "time", "at": [0]}},
        },
        "results": [
            {
                "status": "success",
                "started_at": triggered,
                "finished_at": triggered + 3.0,
                "triggered_by": {"event_type": "time", "value": 0},
                "output": {
                    "additive": [],
                    "complete": [
                        {
                            "title": "Fault timestamps",
                            "chart_plugin": "Table",
                            "data": {
                                "cols": ["moment", "epoch seconds"],
                                "rows": [[k, v] for k, v in stamps.items()],
                            },
                        }
                    ],
                },
            }
        ],
        "summary": {"success": 1},
    }


def fault_injection_hook(label: str, started: float, failed=False):
    result: dict[str, Any] = {
        "status": "failed" if failed else "success",
        "started_at": started,
        "finished_at": started + 4.0,
        "triggered_by": {"event_type": "time", "value": 0},
    }
    if failed:
        # Rally 5.1.1 stores a failed hook's error as a dict.
        result["error"] = {
            "etype": "OSFError",
            "msg": "no such service",
            "details": "Traceback...",
        }
    return {
        "config": {
            "description": label,
            "action": {
                "fault_injection": {
                    "action": label.lower(),
                    "verify": False,
                }
            },
            "trigger": {"event": {"unit": "time", "at": [0]}},
        },
        "results": [result],
        "summary": {result["status"]: 1},
    }


def fault_workload(
    scenario: str = "Authenticate.keystone",
    label: str = "Kill memcached service on one node",
    seed: int = 1,
    iterations: int = 300,
    rps: float = 5.0,
    fault_at: float = 20.0,
    effect_delay: float = 2.0,
    outage: tuple[float, float] | None = (22.0, 30.0),
    partial_until: float | None = None,
    degraded: tuple[float, float] | None = (30.0, 40.0),
    growing: bool = False,
    hook: str | None = "osic_fault",
    sla_fault_at: bool = True,
    error: tuple[str, str] = ("ServiceUnavailable", "HTTP 503"),
    base: float = 0.2,
    origin: float = ORIGIN,
    description: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A fault run; ``outage`` with None end means it never recovers."""
    rng = random.Random(seed)
    data = []
    load_seconds = iterations / rps
    for n in range(iterations):
        start = n / rps + rng.uniform(0, 0.01)
        duration = base * rng.uniform(0.85, 1.15)
        if growing:
            duration *= 1 + 2.0 * start / load_seconds
        failed = False
        if outage is not None:
            end = outage[1] if outage[1] is not None else float("inf")
            if outage[0] <= start < end:
                failed = True
                if partial_until and start < partial_until and n % 2:
                    failed = False
        if degraded and degraded[0] <= start < degraded[1] and not failed:
            duration *= 3.5
        data.append(
            {
                "duration": 0.02 if failed else duration,
                "timestamp": origin + start,
                "idle_duration": 0.0,
                "error": [error[0], error[1], "Traceback (most recent..."]
                if failed
                else [],
                "output": {"additive": [], "complete": []},
                "atomic_actions": [],
            }
        )
    data.sort(key=lambda it: it["timestamp"] + it["duration"])
    hooks = []
    if hook == "osic_fault":
        healthy = None
        if outage is not None and outage[1] is not None:
            healthy = origin + outage[1]
        hooks.append(
            osic_fault_hook(
                label,
                origin + fault_at,
                origin + fault_at + effect_delay,
                healthy,
            )
        )
    elif hook == "fault_injection":
        hooks.append(fault_injection_hook(label, origin + fault_at))
    sla: dict[str, Any] = {}
    if sla_fault_at:
        sla = {
            "fault_downtime": {
                "max": 5,
                "fault_at": {"unit": "time", "at": fault_at},
            },
            "fault_recovery": {
                "within": 60,
                "fault_at": {"unit": "time", "at": fault_at},
            },
        }
    failed_count = sum(1 for it in data if it["error"])
    sla_results = (
        [
            {
                "criterion": "fault_downtime",
                "success": failed_count * (1 / rps) <= 5,
                "detail": f"downtime about {failed_count / rps:.1f} s "
                "(limit 5 s)",
            },
            {
                "criterion": "fault_recovery",
                "success": outage is None or outage[1] is not None,
                "detail": "recovered"
                if outage is None or outage[1]
                else "never recovered: still failing at end of run",
            },
        ]
        if sla
        else []
    )
    workload = {
        "uuid": make_uuid(rng),
        "description": description if description is not None else label,
        "runner": {"rps": {"times": iterations, "rps": rps}},
        "hooks": hooks,
        "scenario": {scenario: {}},
        "min_duration": min(it["duration"] for it in data),
        "max_duration": max(it["duration"] for it in data),
        "start_time": origin,
        "load_duration": load_seconds,
        "full_duration": load_seconds + 3,
        "statistics": {"durations": {"total": {}, "atomics": []}},
        "data": data,
        "failed_iteration_count": failed_count,
        "total_iteration_count": iterations,
        "created_at": "2026-11-21T10:00:00",
        "updated_at": "2026-11-21T10:05:00",
        "contexts": {
            "users": {"tenants": 1, "users_per_tenant": 1},
            "credentials": {"password": "hunter2-secret"},
        },
        "contexts_results": [],
        "position": 0,
        "pass_sla": all(r["success"] for r in sla_results),
        "sla_results": {"sla": sla_results},
        "sla": sla,
    }
    workload.update(extra or {})
    return workload


def live_migration_workload(
    storage: str,
    tunnelled: bool,
    flavor: str,
    seed: int = 1,
    evacuations: int = 40,
    vms: int = 6,
    failures: int = 0,
    origin: float = ORIGIN,
) -> dict[str, Any]:
    """Host evacuations in the shape livemigration.py documents."""
    rng = random.Random(seed)
    size = {"small": 1.0, "medium": 1.8, "large": 3.0}.get(flavor, 1.0)
    slow = (1.3 if tunnelled else 1.0) * (2.0 if storage == "local" else 1.0)
    data = []
    clock = origin
    failed_left = failures
    for _ in range(evacuations):
        rows = []
        for vm in range(vms):
            success = True
            if failed_left and rng.random() < 0.2:
                success = False
                failed_left -= 1
            duration = 18 * size * slow * rng.uniform(0.8, 1.2)
            probe = rng.uniform(0.05, 0.4) * slow
            rows.append(
                [
                    f"vm-{vm + 1}",
                    success,
                    duration,
                    probe if success else None,
                    probe * rng.uniform(0.8, 0.95) if success else None,
                    0,
                    probe + rng.uniform(0.05, 0.3),
                ]
            )
        evacuation = sum(r[2] for r in rows) + rng.uniform(5, 10)
        data.append(
            {
                "duration": evacuation,
                "timestamp": clock,
                "idle_duration": 0.0,
                "error": [],
                "output": {
                    "additive": [],
                    "complete": [
                        {
                            "title": "Live migrations",
                            "chart_plugin": "Table",
                            "data": {
                                "cols": [
                                    "vm",
                                    "success",
                                    "duration",
                                    "probe_downtime",
                                    "libvirt_downtime",
                                    "tcp_bytes_lost",
                                    "tcp_max_stall",
                                ],
                                "rows": rows,
                            },
                        }
                    ],
                },
                "atomic_actions": [],
            }
        )
        clock += evacuation + 1
    return {
        "uuid": make_uuid(rng),
        "description": f"Evacuate a compute host ({flavor} VMs)",
        "runner": {"serial": {"times": evacuations}},
        "hooks": [],
        "scenario": {
            "OsicLiveMigration.evacuate_host": {
                "storage": storage,
                "tunnelled": tunnelled,
                "flavor": flavor,
                "vms": vms,
            }
        },
        "start_time": origin,
        "load_duration": clock - origin,
        "full_duration": clock - origin + 10,
        "data": data,
        "contexts": {},
        "sla_results": {"sla": []},
        "sla": {},
        "pass_sla": True,
        "position": 0,
    }


def document(
    workloads: list[dict[str, Any]],
    task_uuid: str = "0fa17000-0000-4000-8000-000000000001",
    title: str = "Synthetic fault study",
) -> dict[str, Any]:
    for position, workload in enumerate(workloads):
        workload["position"] = position
    return {
        "info": {
            "rally_version": "5.1.1",
            "generated_at": "2026-11-21T10:10:00",
            "format_version": "1.2",
        },
        "tasks": [
            {
                "uuid": task_uuid,
                "title": title,
                "description": "",
                "status": "finished",
                "tags": [],
                "env_uuid": "e0000000-0000-4000-8000-000000000001",
                "env_name": "lab",
                "created_at": "2026-11-21T10:00:00",
                "updated_at": "2026-11-21T10:10:00",
                "pass_sla": all(w.get("pass_sla") for w in workloads),
                "subtasks": [
                    {
                        "uuid": "5b000000-0000-4000-8000-000000000001",
                        "title": "fault tests",
                        "description": "",
                        "status": "finished",
                        "created_at": "2026-11-21T10:00:00",
                        "updated_at": "2026-11-21T10:10:00",
                        "sla": {},
                        "workloads": workloads,
                    }
                ],
            }
        ],
    }


def old_format(workloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same workloads as ``rally task results`` printed them."""
    entries = []
    for position, workload in enumerate(workloads):
        name, args = next(iter(workload["scenario"].items()))
        runner_type, runner = next(iter(workload["runner"].items()))
        entries.append(
            {
                "key": {
                    "name": name,
                    "pos": position,
                    "description": workload["description"],
                    "kw": {
                        "args": args,
                        "runner": {"type": runner_type, **runner},
                        "context": workload["contexts"],
                        "sla": workload["sla"],
                        "hooks": [h["config"] for h in workload["hooks"]],
                    },
                },
                "result": workload["data"],
                "sla": workload["sla_results"]["sla"],
                "hooks": workload["hooks"],
                "load_duration": workload["load_duration"],
                "full_duration": workload["full_duration"],
                "created_at": workload["created_at"],
            }
        )
    return entries


def study_workloads(seed: int = 1) -> list[dict[str, Any]]:
    """A small study touching every section of the report."""
    return [
        fault_workload(seed=seed, origin=ORIGIN),
        fault_workload(seed=seed + 1, origin=ORIGIN + 1000),
        fault_workload(
            scenario="Authenticate.keystone",
            label="Restart MySQL service on one node",
            seed=seed + 2,
            outage=None,
            degraded=(24.0, 34.0),
            hook="fault_injection",
            origin=ORIGIN + 2000,
        ),
        fault_workload(
            scenario="NeutronNetworks.create_and_list_networks",
            label="Kill neutron-server service on one node",
            seed=seed + 3,
            outage=(25.0, None),
            partial_until=35.0,
            degraded=None,
            growing=True,
            error=("Conflict", "Quota exceeded for resources: ['network']"),
            origin=ORIGIN + 3000,
        ),
        fault_workload(
            scenario="GlanceImages.list_images",
            label="Restart glance-api service on one node",
            seed=seed + 4,
            outage=None,
            degraded=None,
            hook=None,
            origin=ORIGIN + 4000,
        ),
    ]

"""Configuration of the fault criteria, as JSON-schema properties.

The SLA plugins build their ``CONFIG_SCHEMA`` from these, and
``rally-osic verdicts --set`` checks its overrides against the same
properties, so a setting means the same everywhere.

Pure module: data only, no Rally imports.
"""

from __future__ import annotations

from typing import Any

FAULT_AT_SCHEMA = {
    "description": "When the fault was triggered, as in the hook's "
    "trigger: seconds since the load started, or the iteration at whose "
    "start it fired.",
    "oneOf": [
        {
            "type": "object",
            "properties": {
                "unit": {"enum": ["time"]},
                "at": {"type": "number", "minimum": 0},
            },
            "required": ["unit", "at"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {
                "unit": {"enum": ["iteration"]},
                "at": {"type": "integer", "minimum": 1},
            },
            "required": ["unit", "at"],
            "additionalProperties": False,
        },
    ],
}

COMMON_PROPERTIES: dict[str, Any] = {
    "fault_at": FAULT_AT_SCHEMA,
    "prefer_measured": {
        "type": "boolean",
        "description": "Use the time at which the osic_fault hook of the "
        "same workload observed the fault taking effect, when there is "
        "one (default true).",
    },
    "cluster_gap": {
        "type": "integer",
        "minimum": 1,
        "description": "Consecutive successful operations that end an "
        "outage (default 5).",
    },
}

BASELINE_PROPERTIES: dict[str, Any] = {
    "percentile": {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 100,
        "description": "Percentile of the baseline durations used as the "
        "degradation threshold (default 95).",
    },
    "warmup_iterations": {
        "type": "integer",
        "minimum": 0,
        "description": "Iterations at the start left out of the baseline "
        "(default 0).",
    },
    "min_baseline": {
        "type": "integer",
        "minimum": 1,
        "description": "Fewest successful baseline samples needed for a "
        "verdict (default 10).",
    },
    "window": {
        "type": "integer",
        "minimum": 1,
        "description": "Operations in the centred running mean (default 9).",
    },
    "persistence": {
        "type": "integer",
        "minimum": 1,
        "description": "Consecutive operations the running mean must stay "
        "above the threshold to count as degradation (default 3).",
    },
}

RECOVERY_PROPERTIES: dict[str, Any] = {
    "hold": {
        "type": "number",
        "minimum": 0,
        "description": "Seconds the service must stay healthy (no failure, "
        "running mean at or under the threshold plus recovery_margin) to "
        "count as recovered (default 10).",
    },
    "hold_operations": {
        "type": "integer",
        "minimum": 0,
        "description": "Operations that stretch must also hold (default 5).",
    },
    "recovery_margin": {
        "type": "number",
        "minimum": 0,
        "description": "Relative margin over the threshold that still "
        "counts as back to baseline, e.g. 0.1 for 10 % (default 0.1).",
    },
    "min_shift": {
        "type": "number",
        "minimum": 0,
        "description": "Relative slow-down of the median after recovery "
        "reported as a lasting shift, e.g. 0.1 for 10 % (default 0.2: "
        "no-fault runs of the lab drift by up to 18 %).",
    },
}

LIMIT_PROPERTIES: dict[str, dict[str, Any]] = {
    "fault_downtime": {
        "max": {"type": "number", "minimum": 0},
        "full_only": {"type": "boolean"},
    },
    "fault_degradation": {
        "max_seconds": {"type": "number", "minimum": 0},
        "max_ratio": {"type": "number", "minimum": 1},
    },
    "fault_recovery": {
        "within": {"type": "number", "minimum": 0},
    },
}

CRITERIA = tuple(LIMIT_PROPERTIES)


def properties(criterion: str) -> dict[str, Any]:
    """Every configuration property of a fault criterion."""
    props = {**LIMIT_PROPERTIES[criterion], **COMMON_PROPERTIES}
    if criterion != "fault_downtime":
        props.update(BASELINE_PROPERTIES)
    if criterion == "fault_recovery":
        props.update(RECOVERY_PROPERTIES)
    return props


def schema(criterion: str) -> dict[str, Any]:
    """The JSON schema of a fault criterion's configuration."""
    extra: dict[str, Any] = {}
    if criterion == "fault_downtime":
        extra["required"] = ["max"]
    elif criterion == "fault_degradation":
        extra["anyOf"] = [
            {"required": ["max_seconds"]},
            {"required": ["max_ratio"]},
        ]
    return {
        "type": "object",
        "properties": properties(criterion),
        "additionalProperties": False,
        **extra,
    }

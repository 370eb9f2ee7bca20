"""When the fault happened in a workload, and where that figure came from.

Priority, best evidence first:

1. the ``osic_fault`` hook's measured timestamps: the time the effect was
   observed (the second chart line), and the trigger time (the first);
2. the ``started_at`` of any other hook result (rally-openstack's
   ``fault_injection``, ``sys_call``...) whose action looks like a fault;
3. the ``fault_at`` of the fault SLAs' configuration (the trigger as
   configured, not as observed).

Expected shape of the ``osic_fault`` hook result (see
:func:`measured_timestamps`): epoch seconds under names such as
``triggered_at``, ``started_at``, ``finished_at``, ``effect_observed_at``
and ``healthy_again_at``, either as a mapping at
``result["output"]["osic_fault"]`` (or ``result["osic_fault"]``), or in a
``result["output"]["complete"][i]`` item whose ``data`` is that mapping, a
``{"cols": [...], "rows": [[name, value], ...]}`` table or a list of
``[name, value]`` pairs. The package's own hook stores the mapping at
``result["fault"]`` (its fault record), which is read first.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any

from rally_osic.output import TITLE_LIMIT, shorten

OSIC_FAULT_HOOK = "osic_fault"
FAULT_SLAS = ("fault_downtime", "fault_degradation", "fault_recovery")
FAULT_WORDS = re.compile(
    r"fault|kill|restart|stop|reboot|stress|terminate|freeze|disconnect|"
    r"poweroff|power_off|crash|shutdown|partition|flap|evacuat",
    re.IGNORECASE,
)

# Accepted names of each measured moment, after lower-casing, with
# spaces and dashes turned into underscores and a trailing "_at" removed.
TIMESTAMP_ALIASES = {
    "triggered": "triggered",
    "trigger": "triggered",
    "fired": "triggered",
    "started": "started",
    "start": "started",
    "finished": "finished",
    "finish": "finished",
    "ended": "finished",
    "effect_observed": "effective",
    "effective": "effective",
    "effect": "effective",
    "observed": "effective",
    "took_effect": "effective",
    "healthy_again": "healthy",
    "healthy": "healthy",
    "recovered": "healthy",
    "back_healthy": "healthy",
}


@dataclasses.dataclass(frozen=True)
class FaultTime:
    """The fault of one workload; times in epoch seconds."""

    at: float  # the time the analysis uses
    triggered: float | None  # when it was triggered, if different
    source: str  # "measured", "hook", "trigger" (SLA config)
    label: str  # what the fault was, e.g. "Kill memcached on one node"
    finished: float | None = None
    healthy: float | None = None
    hook_failed: bool = False
    # The osic_fault hook's own evidence: how the target came back
    # ("itself", "restore", "never") and whether an unplanned restore was
    # needed (the study's "not restarted automatically").
    came_back: str | None = None
    restore_needed: bool = False


def measured_timestamps(result: Mapping[str, Any]) -> dict[str, float]:
    """Normalised timestamps of one osic_fault hook result, or {}."""
    # The osic_fault hook of this package stores its record (epoch
    # seconds: triggered_at, effective_at, healthy_at, ...) under "fault".
    candidates: list[Any] = [result.get("fault")]
    output = result.get("output")
    if isinstance(output, Mapping):
        candidates.append(output.get(OSIC_FAULT_HOOK))
        candidates.append(output.get("timestamps"))
        for item in output.get("complete") or []:
            if isinstance(item, Mapping):
                candidates.append(item.get("data"))
    candidates.append(result.get(OSIC_FAULT_HOOK))
    candidates.append(result.get("timestamps"))
    for candidate in candidates:
        found = _timestamps_from(candidate)
        if found:
            return found
    return {}


def _timestamps_from(value: Any) -> dict[str, float]:
    pairs: list[tuple[Any, Any]] = []
    if isinstance(value, Mapping):
        if "rows" in value and isinstance(value.get("rows"), list):
            pairs = [tuple(row[:2]) for row in value["rows"] if _pair(row)]
        else:
            pairs = list(value.items())
    elif isinstance(value, list):
        pairs = [tuple(row[:2]) for row in value if _pair(row)]
    found: dict[str, float] = {}
    for name, stamp in pairs:
        key = _normalise(name)
        stamp = _epoch(stamp)
        if key and stamp is not None and stamp > 1e8:
            found.setdefault(key, stamp)
    return found


def _pair(row: Any) -> bool:
    return isinstance(row, list | tuple) and len(row) >= 2


def _normalise(name: Any) -> str | None:
    if not isinstance(name, str):
        return None
    key = re.sub(r"[\s\-]+", "_", name.strip().lower())
    key = re.sub(r"_(at|time|timestamp)$", "", key)
    return TIMESTAMP_ALIASES.get(key)


def hook_action_name(hook: Mapping[str, Any]) -> str:
    action = (hook.get("config") or {}).get("action") or {}
    if isinstance(action, Mapping) and action:
        return str(next(iter(action)))
    return ""


def hook_label(hook: Mapping[str, Any]) -> str:
    """What the fault was, as a title: one line, bounded."""
    return shorten(" ".join(_hook_label(hook).split()), TITLE_LIMIT)


def _hook_label(hook: Mapping[str, Any]) -> str:
    config = hook.get("config") or {}
    if config.get("description"):
        return str(config["description"])
    action = config.get("action") or {}
    if isinstance(action, Mapping) and action:
        name, args = next(iter(action.items()))
        if isinstance(args, Mapping) and args.get("action"):
            return str(args["action"])
        return f"{name}: {args}"
    return "fault"


def find_fault(
    workload: Mapping[str, Any], load_origin: float, start_of_iteration
) -> FaultTime | None:
    """The fault of a workload, or None when nothing says there was one.

    ``start_of_iteration(n)`` gives the seconds since load start at which
    the n-th iteration started (for an SLA ``fault_at`` in iterations).
    """
    hooks = [h for h in workload.get("hooks") or [] if isinstance(h, Mapping)]
    measured = _from_osic_hook(hooks)
    if measured:
        return measured
    from_hook = _from_any_hook(hooks)
    if from_hook:
        return from_hook
    return _from_sla_config(workload, load_origin, start_of_iteration)


def _results(hook: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [r for r in hook.get("results") or [] if isinstance(r, Mapping)]


def _from_osic_hook(hooks) -> FaultTime | None:
    for hook in hooks:
        for result in _results(hook):
            stamps = measured_timestamps(result)
            if hook_action_name(hook) != OSIC_FAULT_HOOK and not stamps:
                continue
            triggered = stamps.get("triggered") or _epoch(
                result.get("started_at")
            )
            effective = stamps.get("effective")
            at = effective or triggered
            if at is None:
                continue
            return FaultTime(
                at=at,
                triggered=triggered if effective else None,
                source="measured" if effective else "hook",
                label=hook_label(hook),
                finished=stamps.get("finished")
                or _epoch(result.get("finished_at")),
                healthy=stamps.get("healthy"),
                hook_failed=result.get("status") == "failed",
                **_comeback(result.get("fault")),
            )
    return None


def _comeback(record: Any) -> dict[str, Any]:
    if not isinstance(record, Mapping):
        return {}
    came_back = record.get("came_back")
    return {
        "came_back": came_back if isinstance(came_back, str) else None,
        "restore_needed": record.get("restore_needed") is True,
    }


def _from_any_hook(hooks) -> FaultTime | None:
    """The earliest result of the hook that most looks like a fault."""

    def looks_like_fault(hook) -> bool:
        text = f"{hook_action_name(hook)} {hook_label(hook)}"
        return bool(FAULT_WORDS.search(text))

    ranked = sorted(
        (h for h in hooks if _results(h)),
        key=lambda h: (
            hook_action_name(h) != "fault_injection",
            not looks_like_fault(h),
        ),
    )
    for hook in ranked:
        results = sorted(
            (r for r in _results(hook) if _epoch(r.get("started_at"))),
            key=lambda r: (r.get("status") == "failed", r["started_at"]),
        )
        if results:
            first = results[0]
            return FaultTime(
                at=float(first["started_at"]),
                triggered=None,
                source="hook",
                label=hook_label(hook),
                finished=_epoch(first.get("finished_at")),
                hook_failed=first.get("status") == "failed",
            )
    return None


def _from_sla_config(
    workload, load_origin, start_of_iteration
) -> FaultTime | None:
    sla = workload.get("sla") or {}
    for name in FAULT_SLAS:
        fault_at = (sla.get(name) or {}).get("fault_at")
        if not isinstance(fault_at, Mapping):
            continue
        at = _number(fault_at.get("at"))
        if at is None or not 0 <= at <= 1e9:
            continue
        if fault_at.get("unit") == "iteration":
            start = start_of_iteration(int(at))
            if start is None:
                continue
            seconds = start
        else:
            seconds = float(at)
        return FaultTime(
            at=load_origin + seconds,
            triggered=None,
            source="trigger",
            label=shorten(
                " ".join(str(workload.get("description") or "fault").split()),
                TITLE_LIMIT,
            ),
        )
    return None


def _number(value: Any) -> float | None:
    """A finite number as float, else None (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _epoch(value: Any) -> float | None:
    """A time in epoch seconds (0 to the year 2286), else None."""
    value = _number(value)
    return value if value is not None and 0 < value < 1e10 else None

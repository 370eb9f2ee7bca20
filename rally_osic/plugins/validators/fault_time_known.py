"""Validator: a fault SLA will know when the fault happened."""

from __future__ import annotations

import sys

from rally.common import validation

FAULT_HOOK = "osic_fault"  # the hook that measures the fault time


def workload_being_validated(plugin_cfg) -> dict | None:
    """The workload whose SLA config is ``plugin_cfg``, or None.

    Rally passes an SLA's validators only the SLA's own config
    (``config=None``, rally/task/engine.py ``_validate_workload``), yet
    whether the fault time is known depends on the workload's hooks. The
    workload is the ``workload`` local of Rally's ``_validate_workload``
    up the stack; it is used only if it holds this very config object, so
    another Rally, where that is not found, skips the check (the verdict
    still says "no fault time" after the run).
    """
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "_validate_workload":
            workload = frame.f_locals.get("workload")
            if isinstance(workload, dict) and any(
                conf is plugin_cfg
                for conf in (workload.get("sla") or {}).values()
            ):
                return workload
        frame = frame.f_back
    return None


def hook_names(workload: dict) -> list[str]:
    """Action plugin names of the workload's hooks (Rally's task format
    holds each action as a ``(name, config)`` pair)."""
    names = []
    for hook in workload.get("hooks") or []:
        action = hook.get("action") if isinstance(hook, dict) else None
        if isinstance(action, list | tuple) and action:
            names.append(str(action[0]))
        elif isinstance(action, dict) and action:
            names.append(str(next(iter(action))))
    return names


@validation.configure(name="fault_time_known")
class FaultTimeKnownValidator(validation.Validator):
    """A fault SLA needs a fault time: its ``fault_at``, or the time that
    an ``osic_fault`` hook of the same workload measures (used unless
    ``prefer_measured`` is false). Without either, the criterion can only
    fail after the whole run; this says so at ``rally task validate``."""

    def validate(self, context, config, plugin_cls, plugin_cfg):
        if not isinstance(plugin_cfg, dict) or "fault_at" in plugin_cfg:
            return
        workload = workload_being_validated(plugin_cfg)
        if workload is None:
            return
        name = plugin_cls.get_name()
        hooks = hook_names(workload)
        if FAULT_HOOK not in hooks:
            others = f" (its hooks: {', '.join(hooks)})" if hooks else ""
            self.fail(
                f"{name} has no fault_at and the workload has no "
                f"{FAULT_HOOK} hook to measure the fault{others}: set "
                f"fault_at, e.g. {{unit: time, at: 120}} as in the hook's "
                "trigger"
            )
        if plugin_cfg.get("prefer_measured") is False:
            self.fail(
                f"{name} has prefer_measured: false and no fault_at, so it "
                "has no fault time: set fault_at"
            )

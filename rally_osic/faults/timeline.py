"""Pure timing and verdict logic of a fault (no I/O, no Rally).

The engine feeds :class:`Timeline` with observations of the target
(``{"pids": [...], "frozen": bool, "port_open": bool, "reachable": bool,
"health_ok": bool, "connected": bool}``, each key optional but ``pids``)
stamped with epoch times. The timeline decides when the fault took
effect, when the service was healthy again, and how it came back.
"""

from __future__ import annotations

import dataclasses

CAME_BACK_ITSELF = "itself"
CAME_BACK_RESTORE = "restore"
CAME_BACK_NEVER = "never"


def effect_of(baseline: dict, obs: dict) -> str | None:
    """Why obs shows the fault in effect compared with baseline, or None."""
    before = set(baseline.get("pids") or ())
    now = set(obs.get("pids") or ())
    if before and not now:
        return "process gone"
    if before and now and not (before & now):
        return "PID changed"
    if before and now and (before - now):
        # Only some of the processes died (a master before its workers):
        # the fault took effect, but nothing new came up yet.
        return "PID changed" if now - before else "processes partly gone"
    if obs.get("frozen") and not baseline.get("frozen"):
        return "process frozen"
    if baseline.get("port_open") and obs.get("port_open") is False:
        return "port closed"
    if baseline.get("reachable") and obs.get("reachable") is False:
        return "port unreachable"
    if baseline.get("health_ok") and obs.get("health_ok") is False:
        return "health check failing"
    return None


def partly_gone(baseline: dict, obs: dict) -> bool:
    """Some of the baseline's processes died and no new one came up."""
    before = set(baseline.get("pids") or ())
    now = set(obs.get("pids") or ())
    return bool(now) and now < before


def is_healthy(obs: dict, baseline: dict | None = None) -> bool:
    """Process running (not frozen), port open, health URL answering and
    (an RPC service) connected to its broker.

    With ``baseline``: the survivors of a multi-process service whose other
    processes died (for example the workers of a killed master, which die
    a moment later) are not a recovery.
    """
    if not obs.get("pids") or obs.get("frozen"):
        return False
    if baseline is not None and partly_gone(baseline, obs):
        return False
    return all(
        obs.get(key) is not False
        for key in ("port_open", "reachable", "health_ok", "connected")
    )


@dataclasses.dataclass
class Timeline:
    baseline: dict
    triggered_at: float
    effective_at: float | None = None
    effect: str | None = None
    healthy_at: float | None = None
    restore_started_at: float | None = None
    planned_restore: bool = False
    pids_after: list[int] | None = None
    observations: int = 0
    # start/plug/unfreeze: the "effect" is the service being up.
    expect_up: bool = False

    def feed(self, t: float, obs: dict) -> None:
        """One observation; call in time order."""
        self.observations += 1
        if self.effective_at is None:
            if t < self.triggered_at:
                return
            if self.expect_up:
                if is_healthy(obs):
                    self.effective_at = self.healthy_at = t
                    self.effect = "service up"
                    self.pids_after = list(obs.get("pids") or ())
                return
            reason = effect_of(self.baseline, obs)
            if reason:
                self.effective_at, self.effect = t, reason
                # A PID change may already be the recovery (restart).
                if is_healthy(obs, self.baseline):
                    self.healthy_at = t
                    self.pids_after = list(obs.get("pids") or ())
            return
        if self.healthy_at is None and is_healthy(obs, self.baseline):
            self.healthy_at = t
            self.pids_after = list(obs.get("pids") or ())

    @property
    def recovered(self) -> bool:
        return self.healthy_at is not None

    @property
    def came_back(self) -> str:
        if self.healthy_at is None:
            return CAME_BACK_NEVER
        if (
            self.restore_started_at is not None
            and self.healthy_at >= self.restore_started_at
        ):
            return CAME_BACK_RESTORE
        return CAME_BACK_ITSELF

    @property
    def downtime(self) -> float | None:
        if self.effective_at is None or self.healthy_at is None:
            return None
        return self.healthy_at - self.effective_at


def verdict(
    tl: Timeline, recover_within: float, name: str
) -> tuple[bool, str]:
    """(passed, one-line reason) for one target's timeline."""
    if tl.effective_at is None:
        return False, f"{name}: the fault had no observable effect"
    if tl.healthy_at is None:
        return False, (
            f"{name}: not healthy again within {recover_within:g} s "
            f"of the fault ({tl.effect})"
        )
    took = tl.healthy_at - tl.effective_at
    if tl.came_back == CAME_BACK_RESTORE and not tl.planned_restore:
        return False, (
            f"{name}: did not come back by itself within "
            f"{recover_within:g} s; the hook's restore brought it back"
        )
    if took > recover_within:
        return False, (
            f"{name}: healthy again only after {took:.1f} s "
            f"(recover_within {recover_within:g} s)"
        )
    return True, f"{name}: {tl.effect}, healthy again after {took:.2f} s"

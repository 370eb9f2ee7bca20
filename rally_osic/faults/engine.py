"""Run one fault, watch its effect and the recovery, restore if needed.

Used by the ``osic_fault`` Rally hook and by the benchmark. A fault is a
:class:`FaultSpec` (parsed from the hook config or from an os-faults
human-API sentence). :func:`run_fault` returns a JSON-able dict with every
timestamp (epoch seconds) and the verdict; it raises :class:`FaultError`
(one line) for bad input or an unreachable node.
"""

from __future__ import annotations

import dataclasses
import queue
import time

from rally_osic import faultclock
from rally_osic.faults import cloud as cloud_mod
from rally_osic.faults import osf
from rally_osic.faults import targets as tg
from rally_osic.faults import timeline as tl_mod
from rally_osic.faults import transport as tr
from rally_osic.faults.nodefaults import run_node_fault
from rally_osic.faults.spec import (
    NODE_ACTIONS,
    FaultError,
    FaultSpec,
    check_spec,
)
from rally_osic.faults.watch import Checker, Watcher


@dataclasses.dataclass
class NodeRun:
    host: str
    transport: tr.Transport
    target: tg.ServiceTarget
    timeline: tl_mod.Timeline
    state: dict
    detail: dict = dataclasses.field(default_factory=dict)


def run_fault(
    config: dict,
    spec: FaultSpec,
    recover_within: float = 300.0,
    restore: bool = True,
    restore_after: float | None = None,
    effect_timeout: float = 60.0,
    health_url: str | None = None,
    publish: bool = True,
) -> dict:
    check_spec(spec)
    cloud = osf.connect(config)
    try:
        if spec.action in NODE_ACTIONS:
            return run_node_fault(
                cloud, spec, recover_within, restore, effect_timeout, publish
            )
        return _run_service_fault(
            cloud,
            spec,
            recover_within,
            restore,
            restore_after,
            effect_timeout,
            health_url,
            publish,
        )
    finally:
        osf.close_transports(cloud)


def _run_service_fault(
    cloud,
    spec,
    recover_within,
    restore,
    restore_after,
    effect_timeout,
    health_url,
    publish,
):
    from os_faults.api import error as osf_error

    service = cloud_mod.get_service(cloud, spec.service)
    if not hasattr(service, "target"):
        return _run_stock_service_fault(cloud, service, spec, publish)
    target = service.target
    try:
        hosts = service.get_nodes().hosts
    except osf_error.OSFError as exc:
        raise FaultError(f"{spec.service}: {exc}") from None
    chosen = cloud_mod.select_hosts(
        hosts, spec.nodes, f"service {spec.service}"
    )
    sink: queue.Queue = queue.Queue()
    runs: list[NodeRun] = []
    for host in chosen:
        t = osf.transport_for_host(cloud, host)
        node_target = target.on(host.ip, host.fqdn)
        try:
            base = tg.probe(t, "snapshot", node_target.spec())
        except (tr.TransportError, tg.TargetError) as exc:
            raise FaultError(str(exc)) from None
        base.pop("t", None)
        if not base["pids"] and spec.action not in ("start", "plug"):
            raise FaultError(
                f"{spec.service} is not running on {host.ip}: nothing to fault"
            )
        url = health_url or node_target.health_url
        checker = Checker(host.ip, sink, url, host.ip, None)
        if spec.action == "unplug" and node_target.port:
            checker.host = node_target.address or host.ip
            checker.port = node_target.port
        base.update(checker.check())
        runs.append(
            NodeRun(
                host.ip,
                t,
                node_target,
                tl_mod.Timeline(baseline=dict(base), triggered_at=0.0),
                dict(base),
                {"checker": checker},
            )
        )
    life = effect_timeout + recover_within + 120
    watchers = [
        Watcher(r.transport, r.target.spec(), life, sink, r.host) for r in runs
    ]
    for r in runs:
        r.detail["checker"].start()
    by_host = {r.host: r for r in runs}
    out: dict = {
        "fault": spec.describe(),
        "service": spec.service,
        "action": spec.action,
        "recover_within": recover_within,
        "findings": [],
    }
    undo = {"freeze": "unfreeze", "unplug": "plug"}.get(spec.action)
    try:
        time.sleep(0.15)  # let the watchers take their first look
        _drain(sink, by_host)
        triggered_at = time.time()
        for r in runs:
            r.timeline.triggered_at = triggered_at
            r.timeline.expect_up = spec.action in ("start", "plug", "unfreeze")
        out["triggered_at"] = triggered_at
        out["started_at"] = time.time()
        action_error = None
        for r in runs:
            try:
                info = tg.perform(r.transport, r.target, spec.action)
            except (tg.TargetError, tr.TransportError) as exc:
                action_error = str(exc)
                break
            if info.get("t"):
                r.detail["signalled_at"] = info["t"]
        out["finished_at"] = time.time()
        if action_error:
            out["error"] = action_error
        timer_undo_at = None
        if undo and spec.seconds:
            timer_undo_at = out["started_at"] + spec.seconds
        published = False
        effect_deadline = out["finished_at"] + effect_timeout
        restore_done = False
        while True:
            _drain(sink, by_host, timeout=0.05)
            now = time.time()
            effects = [
                r.timeline.effective_at
                for r in runs
                if r.timeline.effective_at
            ]
            if effects and not published:
                published = True
                out["effective_at"] = min(effects)
                if publish:
                    faultclock.publish(
                        faultclock.PublishedFault(
                            triggered_at=triggered_at,
                            effective_at=min(effects),
                            description=spec.describe(),
                        )
                    )
            if timer_undo_at and now >= timer_undo_at:
                timer_undo_at = None
                for r in runs:
                    tg.perform(r.transport, r.target, undo)
                    r.timeline.restore_started_at = time.time()
                    r.timeline.planned_restore = True
                out["undone_at"] = time.time()
            if all(r.timeline.recovered for r in runs):
                break
            if not effects and now > effect_deadline:
                break
            if effects:
                since = min(effects)
                if (
                    restore_after is not None
                    and not restore_done
                    and now >= since + restore_after
                ):
                    restore_done = True
                    out["restored_at"] = _restore(
                        runs, target, spec, undo, planned=True
                    )
                if now >= since + recover_within and not restore_done:
                    break
                if restore_done and now >= out["restored_at"] + 60:
                    break
        if (
            restore
            and not restore_done
            and any(not r.timeline.recovered for r in runs)
        ):
            restore_done = True
            out["restored_at"] = _restore(
                runs, target, spec, undo, planned=False
            )
            deadline = time.time() + min(60.0, max(10.0, recover_within))
            while time.time() < deadline and not all(
                r.timeline.recovered for r in runs
            ):
                _drain(sink, by_host, timeout=0.05)
        elif undo and restore and not restore_done:
            # Never leave a process frozen or a port blocked.
            for r in runs:
                try:
                    tg.perform(r.transport, r.target, undo)
                except (tg.TargetError, tr.TransportError):
                    pass
        _drain(sink, by_host)
    finally:
        for w in watchers:
            w.stop()
        for r in runs:
            r.detail["checker"].stop()
    for r in runs:
        if r.timeline.recovered:
            r.timeline.pids_after = _settled_pids(r) or r.timeline.pids_after
    return _summarize(out, runs, recover_within, spec)


def _settled_pids(run, hold=1.0, limit=5.0, pause=0.2):
    """The target's PIDs once they have not changed for ``hold`` seconds.

    A forking daemon is healthy as soon as it listens, while the parent
    that forked the real server may still be alive: the PIDs seen at
    that moment are not the ones that serve. After ``limit`` seconds the
    last look is the answer.
    """
    last, since = None, None
    deadline = time.monotonic() + limit
    while True:
        try:
            look = tg.probe(run.transport, "snapshot", run.target.spec())
        except (tr.TransportError, tg.TargetError):
            return last
        pids = sorted(look.get("pids") or ())
        now = time.monotonic()
        if pids != last:
            last, since = pids, now
        if (pids and now - since >= hold) or now >= deadline:
            return last
        time.sleep(pause)


def _restore(runs, target, spec, undo, planned):
    at = time.time()
    for r in runs:
        if r.timeline.recovered:
            continue
        r.timeline.restore_started_at = at
        r.timeline.planned_restore = planned
        action = undo or "start"
        try:
            if action == "start" and r.state.get("pids"):
                # Still running (frozen/stuck): restart it instead.
                tg.perform(r.transport, r.target, "restart")
            else:
                tg.perform(r.transport, r.target, action)
            r.detail["restore"] = action
        except (tg.TargetError, tr.TransportError) as exc:
            r.detail["restore_error"] = str(exc)
    return at


def _drain(sink, by_host, timeout=0.0):
    try:
        item = sink.get(timeout=timeout) if timeout else sink.get_nowait()
    except queue.Empty:
        return
    while True:
        t, key, obs = item
        run = by_host.get(key)
        if run is not None:
            run.state.update(obs)
            run.timeline.feed(t, dict(run.state))
        try:
            item = sink.get_nowait()
        except queue.Empty:
            return


def _summarize(out, runs, recover_within, spec):
    nodes = []
    passed = "error" not in out
    reasons = [out["error"]] if "error" in out else []
    for r in runs:
        tl = r.timeline
        ok, why = tl_mod.verdict(
            tl, recover_within, f"{spec.service}@{r.host}"
        )
        if spec.action in ("start", "plug", "unfreeze"):
            ok, why = (
                tl.recovered,
                f"{spec.service}@{r.host}: "
                + ("healthy" if tl.recovered else "not healthy"),
            )
        passed = passed and ok
        if not ok:
            reasons.append(why)
        if tl.came_back == tl_mod.CAME_BACK_RESTORE and not tl.planned_restore:
            out["findings"].append(
                f"{spec.service} on {r.host} needed a manual restore "
                f"({r.detail.get('restore', 'start')}) to come back"
            )
        if "restore_error" in r.detail:
            out["findings"].append(
                f"restore of {spec.service} on {r.host} failed: "
                + r.detail["restore_error"]
            )
        nodes.append(
            {
                "host": r.host,
                "effect": tl.effect,
                "effective_at": tl.effective_at,
                "signalled_at": r.detail.get("signalled_at"),
                "healthy_at": tl.healthy_at,
                "came_back": tl.came_back,
                "downtime": tl.downtime,
                "pids_before": tl.baseline.get("pids") or [],
                "pids_after": tl.pids_after or [],
                "restore": r.detail.get("restore"),
            }
        )
    out["nodes"] = nodes
    out["effect"] = next((n["effect"] for n in nodes if n["effect"]), None)
    healthy = [n["healthy_at"] for n in nodes]
    out["healthy_at"] = (
        max(healthy) if healthy and None not in healthy else None
    )
    comebacks = {n["came_back"] for n in nodes}
    for how in (
        tl_mod.CAME_BACK_NEVER,
        tl_mod.CAME_BACK_RESTORE,
        tl_mod.CAME_BACK_ITSELF,
    ):
        if how in comebacks:
            out["came_back"] = how
            break
    out["restore_needed"] = any(
        n["came_back"] == tl_mod.CAME_BACK_RESTORE for n in nodes
    ) and not all(r.timeline.planned_restore for r in runs)
    out["pids_before"] = {n["host"]: n["pids_before"] for n in nodes}
    out["pids_after"] = {n["host"]: n["pids_after"] for n in nodes}
    out["passed"] = passed
    out["reason"] = (
        "; ".join(reasons)
        if reasons
        else (
            "; ".join(
                tl_mod.verdict(r.timeline, recover_within, spec.service)[1]
                for r in runs
            )
        )
    )
    return out


def _run_stock_service_fault(cloud, service, spec, publish):
    """A service of a stock os-faults driver: run through os-faults.

    os-faults' ``process`` driver greps loosely and kills every match, so
    destructive actions on it are refused.
    """
    if service.NAME == "process" and spec.action in (
        "kill",
        "freeze",
        "unfreeze",
    ):
        raise FaultError(
            f"service {spec.service!r} uses os-faults' 'process' driver, "
            "which signals every process matching its grep; use driver "
            "'osic_process' (pid_file/cmdline/unit)"
        )
    kwargs = {}
    if spec.seconds and spec.action == "freeze":
        kwargs["sec"] = int(spec.seconds)
    nodes = service.get_nodes()
    if spec.nodes == "one":
        kwargs["nodes"] = nodes.pick()
    elif spec.nodes != "all":
        kwargs["nodes"] = cloud.get_nodes(fqdns=list(spec.nodes))
    out = {"fault": spec.describe(), "service": spec.service, "findings": []}
    out["triggered_at"] = out["started_at"] = time.time()
    try:
        getattr(service, spec.action)(**kwargs)
    except Exception as exc:
        raise FaultError(f"os-faults {spec.action} failed: {exc}") from None
    out["finished_at"] = time.time()
    # No exact observer for stock drivers: the end of the action is the
    # best estimate of the effect.
    out["effective_at"] = out["finished_at"]
    out["effect"] = "action completed (not observed)"
    out["came_back"] = None
    out["passed"] = True
    out["reason"] = "stock os-faults driver: effect not observed"
    if publish:
        faultclock.publish(
            faultclock.PublishedFault(
                out["triggered_at"], out["effective_at"], spec.describe()
            )
        )
    return out

"""Node faults: power actions through os-faults' power drivers, and
time-bounded stress with stress-ng.
"""

from __future__ import annotations

import queue
import shlex
import time

from rally_osic import faultclock
from rally_osic.faults import cloud as cloud_mod
from rally_osic.faults import osf
from rally_osic.faults import transport as tr
from rally_osic.faults.spec import (
    STRESS_DEFAULT_SIZE,
    STRESS_TARGETS,
    FaultError,
)
from rally_osic.faults.watch import Watcher


def run_node_fault(cloud, spec, recover_within, restore, effect_timeout, pub):
    from os_faults.api import error as osf_error

    try:
        if spec.service:
            hosts = (
                cloud_mod.get_service(cloud, spec.service).get_nodes().hosts
            )
        else:
            hosts = cloud.get_nodes().hosts
    except osf_error.OSFError as exc:
        raise FaultError(f"nodes: {exc}") from None
    chosen = cloud_mod.select_hosts(hosts, spec.nodes, "node")
    if spec.action == "stress":
        return _run_stress(cloud, spec, chosen, recover_within, pub)
    return _run_power(
        cloud, spec, chosen, recover_within, restore, effect_timeout, pub
    )


def _alive(transport) -> bool:
    try:
        return transport.run("true", timeout=5).rc == 0
    except tr.TransportError:
        return False


def _run_power(cloud, spec, hosts, recover_within, restore, eff_to, pub):
    """reboot / poweroff / poweron / reset via os-faults' power drivers."""
    from os_faults.api import error as osf_error

    nodes = cloud.get_nodes().filter(lambda h: h in hosts)
    transports = {h.ip: osf.transport_for_host(cloud, h) for h in hosts}
    out = {"fault": spec.describe(), "action": spec.action, "findings": []}
    out["triggered_at"] = out["started_at"] = time.time()
    try:
        getattr(nodes, spec.action)()
    except (osf_error.OSFError, NotImplementedError) as exc:
        raise FaultError(f"{spec.action} failed: {exc}") from None
    out["finished_at"] = time.time()
    down, up = {}, {}
    deadline = time.time() + eff_to + recover_within
    while time.time() < deadline and len(up) < len(hosts):
        for ip, t in transports.items():
            ok = _alive(t)
            now = time.time()
            if not ok and ip not in down:
                down[ip] = now
            if ok and ip in down and ip not in up:
                up[ip] = now
        if spec.action == "poweron":
            up = {ip: time.time() for ip, t in transports.items() if _alive(t)}
            break
        time.sleep(0.5)
    if down:
        out["effective_at"] = min(down.values())
        out["effect"] = "node unreachable"
        if pub:
            faultclock.publish(
                faultclock.PublishedFault(
                    out["triggered_at"], out["effective_at"], spec.describe()
                )
            )
    missing = [ip for ip in transports if ip not in up]
    if missing and restore and spec.action == "poweroff":
        out["restored_at"] = time.time()
        nodes.poweron()
        out["findings"].append(
            f"node(s) {', '.join(missing)} needed a power-on to come back"
        )
    out["healthy_at"] = max(up.values()) if len(up) == len(hosts) else None
    out["came_back"] = "itself" if out["healthy_at"] else "never"
    out["passed"] = out["healthy_at"] is not None
    out["reason"] = (
        "nodes answering again"
        if out["passed"]
        else f"node(s) {', '.join(missing)} not back within "
        f"{recover_within:g} s"
    )
    return out


def _run_stress(cloud, spec, hosts, recover_within, pub):
    # check_spec has checked the target, duration and size.
    seconds = int(max(1, round(spec.seconds)))
    size = spec.size or STRESS_DEFAULT_SIZE.get(spec.stress, "")
    args = STRESS_TARGETS[spec.stress].format(
        workers=max(1, spec.workers),
        size=size,
        temp_path=shlex.quote(spec.temp_path or "/tmp"),
    )
    cmd = (
        f"command -v stress-ng >/dev/null || {{ echo 'stress-ng not "
        f"installed' >&2; exit 3; }}; nohup stress-ng {args} "
        f"--timeout {seconds}s >/dev/null 2>&1 & echo $!"
    )
    out = {"fault": spec.describe(), "action": "stress", "findings": []}
    sink: queue.Queue = queue.Queue()
    started = {}
    out["triggered_at"] = time.time()
    out["started_at"] = time.time()
    for h in hosts:
        t = osf.transport_for_host(cloud, h)
        try:
            res = t.check(cmd, timeout=30)
        except tr.TransportError as exc:
            raise FaultError(str(exc)) from None
        started[h.ip] = (t, int(res.stdout.split()[-1]))
    out["finished_at"] = time.time()
    out["effective_at"] = out["finished_at"]
    out["effect"] = f"stress-ng {spec.stress} running"
    if pub:
        faultclock.publish(
            faultclock.PublishedFault(
                out["triggered_at"], out["effective_at"], spec.describe()
            )
        )
    watchers = [
        Watcher(t, {"pids": [pid]}, seconds + 60, sink, ip)
        for ip, (t, pid) in started.items()
    ]
    ended: dict = {}
    deadline = time.time() + seconds + min(recover_within, 30)
    try:
        while time.time() < deadline and len(ended) < len(started):
            try:
                t_obs, ip, obs = sink.get(timeout=0.1)
            except queue.Empty:
                continue
            if not obs["pids"] and ip not in ended:
                ended[ip] = t_obs
    finally:
        for w in watchers:
            w.stop()
        for ip, (t, pid) in started.items():
            if ip not in ended:  # stop exactly the stress-ng we started
                t.run(f"kill -9 {shlex.quote(str(pid))} 2>/dev/null")
                out["findings"].append(f"stress-ng on {ip} had to be killed")
    out["pids_before"] = {}
    out["pids_after"] = {ip: [pid] for ip, (t, pid) in started.items()}
    out["healthy_at"] = max(ended.values()) if ended else None
    out["came_back"] = "itself" if len(ended) == len(started) else "restore"
    out["passed"] = len(ended) == len(started)
    out["reason"] = (
        f"stress ended after {seconds} s"
        if out["passed"]
        else "stress-ng did not end by itself"
    )
    return out

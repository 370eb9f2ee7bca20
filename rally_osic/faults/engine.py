"""Run one fault, watch its effect and the recovery, restore if needed.

Used by the ``osic_fault`` Rally hook and by the benchmark. A fault is a
:class:`FaultSpec` (parsed from the hook config or from an os-faults
human-API sentence). :func:`run_fault` returns a JSON-able dict with every
timestamp (epoch seconds) and the verdict; it raises :class:`FaultError`
(one line) for bad input or an unreachable node.
"""

from __future__ import annotations

import dataclasses
import json
import queue
import re
import shlex
import threading
import time
import urllib.error
import urllib.request

from rally_osic import faultclock
from rally_osic.faults import osf
from rally_osic.faults import targets as tg
from rally_osic.faults import timeline as tl_mod
from rally_osic.faults import transport as tr

NODE_ACTIONS = ("reboot", "poweroff", "poweron", "reset", "stress")
STRESS_TARGETS = {
    "cpu": "--cpu {workers} --cpu-load 100",
    "memory": "--vm {workers} --vm-bytes {size}",
    "disk": "--hdd {workers} --hdd-bytes {size} --temp-path {temp_path}",
}
# stress-ng sizes per worker: --vm-bytes, --hdd-bytes
STRESS_DEFAULT_SIZE = {"memory": "50%", "disk": "256M"}
STRESS_SIZE_RE = re.compile(r"^[0-9]+[bBkKmMgG%]?$")
POLL = 0.02


class FaultError(Exception):
    """Bad input or an unreachable node (one line)."""


@dataclasses.dataclass
class FaultSpec:
    action: str
    service: str | None = None
    nodes: object = "all"  # "one" | "all" | [names]
    seconds: float | None = None
    stress: str | None = None
    workers: int = 1
    sentence: str | None = None
    size: str | None = None  # stress-ng --vm-bytes / --hdd-bytes
    temp_path: str | None = None  # stress-ng --temp-path (disk)

    def describe(self) -> str:
        if self.sentence:
            return self.sentence
        what = (
            f"{self.action} {self.service} service"
            if self.service
            else (
                f"{self.action}" + (f" {self.stress}" if self.stress else "")
            )
        )
        nodes = (
            self.nodes if isinstance(self.nodes, str) else ",".join(self.nodes)
        )
        extra = f" for {self.seconds:g} s" if self.seconds else ""
        return f"{what} on {nodes} node(s){extra}"


def parse_sentence(sentence: str) -> FaultSpec:
    """An os-faults human-API sentence as a FaultSpec."""
    from os_faults.api import human

    text = sentence.lower().strip()
    for pattern in human.PATTERNS:
        m = re.search(pattern, text)
        if m:
            break
    else:
        raise FaultError(f"cannot parse fault sentence {sentence!r}")
    g = m.groupdict()
    action = g["action"].replace(" ", "_")
    node = g.get("node")
    if node in human.RANDOMNESS:
        nodes: object = "one"
    elif node and node not in human.ANYTHING:
        nodes = [node]
    else:
        nodes = "all"
    duration = float(g["duration"]) if g.get("duration") else None
    if g.get("container"):
        raise FaultError("container sentences are not supported; use osic")
    if action in NODE_ACTIONS:
        if action == "stress" and not g.get("target"):
            raise FaultError(f"stress needs a target: {sentence!r}")
        return FaultSpec(
            action=action,
            service=g.get("service"),
            nodes=nodes,
            seconds=duration,
            stress=g.get("target"),
            sentence=sentence,
        )
    return FaultSpec(
        action=action,
        service=g.get("service"),
        nodes=nodes,
        seconds=duration,
        sentence=sentence,
    )


def check_spec(spec: FaultSpec) -> FaultSpec:
    """``spec`` if it can run; else :class:`FaultError` with the reason.

    Only what can be told without the cloud, so that ``rally task
    validate`` and the hook at run time say the same thing.
    """
    if spec.action in NODE_ACTIONS:
        if spec.action == "stress":
            if not spec.stress:
                raise FaultError(
                    f"stress needs a kind: {', '.join(STRESS_TARGETS)}"
                )
            if spec.stress not in STRESS_TARGETS:
                raise FaultError(
                    f"unknown stress target {spec.stress!r} "
                    f"(one of {', '.join(STRESS_TARGETS)})"
                )
            if not spec.seconds or spec.seconds <= 0:
                raise FaultError("stress needs a duration (seconds > 0)")
            size = spec.size or STRESS_DEFAULT_SIZE.get(spec.stress, "")
            if size and not STRESS_SIZE_RE.match(size):
                raise FaultError(f"bad stress size {size!r} (e.g. 64M, 10%)")
    elif spec.action in tg.SERVICE_ACTIONS:
        if not spec.service:
            raise FaultError("no service named in the fault")
    else:
        supported = ", ".join((*tg.SERVICE_ACTIONS, *NODE_ACTIONS))
        raise FaultError(
            f"action {spec.action!r} is not supported (one of {supported})"
        )
    if spec.nodes not in ("one", "all") and not (
        isinstance(spec.nodes, list | tuple)
        and spec.nodes
        and all(isinstance(n, str) and n for n in spec.nodes)
    ):
        raise FaultError(
            f"nodes must be 'one', 'all' or a list of node names, not "
            f"{spec.nodes!r}"
        )
    return spec


# ------------------------------------------------------------- watching


class Watcher:
    """Streams probe observations of one target on one node."""

    def __init__(self, transport, spec, max_seconds, sink, key):
        self.transport = transport
        self.key = key
        self.sink = sink
        cmd = transport.python_probe_command(
            ["watch", json.dumps(spec), str(POLL), str(max_seconds)]
        )
        self.proc = transport.popen(cmd, input_text=tr.probe_source())
        self.local = isinstance(transport, tr.LocalTransport)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            recv = time.time()
            try:
                obs = json.loads(line)
            except ValueError:
                continue
            if "hb" in obs:
                continue
            node_t = obs.pop("t")
            # Same clock locally; over SSH trust our clock, not the node's.
            self.sink.put((node_t if self.local else recv, self.key, obs))

    def stop(self):
        import os
        import signal

        # The watcher runs in its own session: end the whole group (the
        # shell, python3, or the ssh client), nothing else.
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=5)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        self.thread.join(timeout=5)
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()


class Checker:
    """Controller-side checks: health URL and TCP reachability."""

    def __init__(self, key, sink, health_url=None, host=None, port=None):
        self.key, self.sink = key, sink
        self.health_url, self.host, self.port = health_url, host, port
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def check(self) -> dict:
        obs = {}
        if self.health_url:
            obs["health_ok"] = health_ok(self.health_url)
        if self.host and self.port:
            obs["reachable"] = reachable(self.host, self.port)
        return obs

    def start(self):
        self.thread.start()

    def _loop(self):
        while not self._stop.wait(0.1):
            self.sink.put((time.time(), self.key, self.check()))

    def stop(self):
        self._stop.set()
        self.thread.join(timeout=5)


def health_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (OSError, ValueError):
        return False


def reachable(host: str, port: int, timeout: float = 0.3) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------- runner


@dataclasses.dataclass
class NodeRun:
    host: str
    transport: tr.Transport
    target: tg.ServiceTarget
    timeline: tl_mod.Timeline
    state: dict
    detail: dict = dataclasses.field(default_factory=dict)


def _select(hosts, nodes, what):
    if not hosts:
        raise FaultError(f"{what} is not found on any node")
    if nodes == "one":
        import random

        return [random.choice(hosts)]
    if nodes == "all":
        return list(hosts)
    wanted = set(nodes)
    chosen = [h for h in hosts if h.ip in wanted or h.fqdn in wanted]
    missing = wanted - {h.ip for h in chosen} - {h.fqdn for h in chosen}
    if missing:
        raise FaultError(
            f"{what}: unknown node(s) {', '.join(sorted(missing))}"
        )
    return chosen


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
            return _run_node_fault(
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


def _get_service(cloud, name):
    from os_faults.api import error as osf_error

    if not name:
        raise FaultError("no service named in the fault")
    try:
        return cloud.get_service(name)
    except osf_error.OSFError as exc:
        raise FaultError(f"unknown service {name!r} ({exc})") from None
    except tg.TargetError as exc:
        raise FaultError(str(exc)) from None


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

    service = _get_service(cloud, spec.service)
    if not hasattr(service, "target"):
        return _run_stock_service_fault(cloud, service, spec, publish)
    target = service.target
    try:
        hosts = service.get_nodes().hosts
    except osf_error.OSFError as exc:
        raise FaultError(f"{spec.service}: {exc}") from None
    chosen = _select(hosts, spec.nodes, f"service {spec.service}")
    url = health_url or target.health_url
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
        checker = Checker(host.ip, sink, url, host.ip, None)
        if spec.action == "unplug" and target.port:
            checker.port = target.port
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
    return _summarize(out, runs, recover_within, spec)


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


# ------------------------------------------------------------ node faults


def _run_node_fault(cloud, spec, recover_within, restore, effect_timeout, pub):
    from os_faults.api import error as osf_error

    try:
        if spec.service:
            hosts = _get_service(cloud, spec.service).get_nodes().hosts
        else:
            hosts = cloud.get_nodes().hosts
    except osf_error.OSFError as exc:
        raise FaultError(f"nodes: {exc}") from None
    chosen = _select(hosts, spec.nodes, "node")
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

"""Exact fault targets and the actions on them.

A :class:`ServiceTarget` is the ``args`` of an ``osic_process`` service in
an os-faults config. It names the service's processes exactly (PID file,
exact command line, systemd unit, optionally inside one LXC container) so
that a fault touches its target and nothing else; os-faults' own
``process`` driver greps loosely and kills every match.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import time

from rally_osic.faults import transport as tr

SERVICE_ACTIONS = (
    "kill",
    "terminate",
    "stop",
    "start",
    "restart",
    "freeze",
    "unfreeze",
    "unplug",
    "plug",
)

IPTABLES_COMMENT = "rally-osic-fault"

TARGET_SCHEMA = {
    "type": "object",
    "properties": {
        "pid_file": {"type": "string", "minLength": 1},
        "cmdline": {
            "oneOf": [
                {"type": "string", "minLength": 1},
                {
                    "type": "array",
                    "items": {"type": "string"},
                    "minItems": 1,
                },
            ]
        },
        "unit": {"type": "string", "minLength": 1},
        "container": {"type": "string", "minLength": 1},
        "containers": {
            "type": "object",
            "additionalProperties": {"type": "string", "minLength": 1},
        },
        "lxc_path": {"type": "string"},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        # The address the port listens on, when several nodes share one
        # machine's port (127.0.1.1:3306, 127.0.1.2:3306, ...).
        "address": {"type": "string", "minLength": 1},
        # Healthy while one of its processes is connected to this port.
        "connected_port": {
            "type": "integer",
            "minimum": 1,
            "maximum": 65535,
        },
        "health_url": {"type": "string"},
        "start_cmd": {"type": "string"},
        "stop_cmd": {"type": "string"},
        "restart_cmd": {"type": "string"},
    },
    "anyOf": [
        {"required": ["pid_file"]},
        {"required": ["cmdline"]},
        {"required": ["unit"]},
    ],
    "additionalProperties": False,
}
# What may differ from node to node: ``per_host`` maps a node's ip or fqdn
# to these, over the service's own args.
PER_HOST_KEYS = (
    "pid_file",
    "cmdline",
    "unit",
    "port",
    "address",
    "connected_port",
    "health_url",
    "start_cmd",
    "stop_cmd",
    "restart_cmd",
)
TARGET_SCHEMA["properties"]["per_host"] = {
    "type": "object",
    "additionalProperties": {
        "type": "object",
        "properties": {
            key: TARGET_SCHEMA["properties"][key] for key in PER_HOST_KEYS
        },
        "additionalProperties": False,
    },
}


class TargetError(Exception):
    """A target is misconfigured or an action on it failed (one line)."""


@dataclasses.dataclass(frozen=True)
class ServiceTarget:
    name: str
    pid_file: str | None = None
    cmdline: tuple[str, ...] | None = None
    unit: str | None = None
    container: str | None = None
    containers: tuple[tuple[str, str], ...] = ()
    lxc_path: str | None = None
    port: int | None = None
    address: str | None = None
    connected_port: int | None = None
    health_url: str | None = None
    start_cmd: str | None = None
    stop_cmd: str | None = None
    restart_cmd: str | None = None
    per_host: tuple[tuple[str, tuple[tuple[str, object], ...]], ...] = ()

    @classmethod
    def from_args(cls, name: str, args: dict) -> ServiceTarget:
        import jsonschema

        try:
            jsonschema.validate(args, TARGET_SCHEMA)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path)
            raise TargetError(
                f"service {name!r}: invalid osic_process args"
                + (f" at {where}" if where else "")
                + f": {exc.message}"
            ) from None
        nested = ("cmdline", "containers", "per_host")
        fields = {k: v for k, v in args.items() if k not in nested}
        per_host = tuple(
            (host, tuple(sorted(_exact_cmdline(overrides).items())))
            for host, overrides in sorted((args.get("per_host") or {}).items())
        )
        return cls(
            name=name,
            cmdline=_exact_cmdline(args).get("cmdline"),
            containers=tuple(sorted((args.get("containers") or {}).items())),
            per_host=per_host,
            **fields,
        )

    def on(self, *host_names: str | None) -> ServiceTarget:
        """This target on one node: its ``per_host`` args over the
        service's, and its container from ``containers`` (both keyed by
        node ip or fqdn), as OSA names a container differently on every
        host."""
        target = self
        overrides = dict(self.per_host)
        for name in host_names:
            if name and name in overrides:
                target = dataclasses.replace(
                    target, **dict(overrides[name]), per_host=()
                )
                break
        mapping = dict(self.containers)
        for name in host_names:
            if name and name in mapping:
                return dataclasses.replace(target, container=mapping[name])
        return target

    def spec(self) -> dict:
        """The probe's target spec (see probe.py)."""
        spec: dict = {}
        for key in (
            "pid_file",
            "unit",
            "container",
            "port",
            "address",
            "connected_port",
        ):
            value = getattr(self, key)
            if value:
                spec[key] = value
        if self.cmdline:
            spec["cmdline"] = list(self.cmdline)
        return spec

    def inside(self, command: str) -> str:
        return tr.in_container(command, self.container, self.lxc_path)


def _exact_cmdline(args: dict) -> dict:
    """``args`` with its ``cmdline`` as a tuple (a string is split as a
    shell would)."""
    cmdline = args.get("cmdline")
    if cmdline is None:
        return dict(args)
    if isinstance(cmdline, str):
        cmdline = shlex.split(cmdline)
    return {**args, "cmdline": tuple(cmdline)}


def probe(transport: tr.Transport, mode: str, spec: dict, *extra: str) -> dict:
    """Run probe.py once on the node; its JSON answer."""
    cmd = transport.python_probe_command([mode, json.dumps(spec), *extra])
    res = transport.run(cmd, timeout=30, input=tr.probe_source())
    line = res.stdout.strip().splitlines()
    if not line:
        err = res.stderr.strip().splitlines()
        raise TargetError(
            f"{transport.host}: probe failed: "
            + (err[-1] if err else f"exit {res.rc}")
        )
    return json.loads(line[-1])


def _signal(transport, target: ServiceTarget, sig: str) -> dict:
    out = probe(transport, "signal", target.spec(), sig)
    if not out["pids"]:
        raise TargetError(
            f"{target.name} is not running on {transport.host} "
            "(nothing to signal)"
        )
    return out


def _wait_gone(transport, target, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not probe(transport, "snapshot", target.spec())["pids"]:
            return True
        time.sleep(0.2)
    return False


def _shell(transport, target: ServiceTarget, command: str, what: str):
    res = transport.run(target.inside(command), timeout=120)
    if res.rc != 0:
        err = (res.stderr.strip() or res.stdout.strip()).splitlines()
        raise TargetError(
            f"{what} {target.name} on {transport.host} failed "
            f"(exit {res.rc})" + (f": {err[-1]}" if err else "")
        )


def start(transport, target: ServiceTarget) -> None:
    if target.start_cmd:
        _shell(transport, target, target.start_cmd, "start")
    elif target.unit:
        _shell(transport, target, f"systemctl start {target.unit}", "start")
    else:
        raise TargetError(
            f"service {target.name!r} has no start_cmd: cannot start it"
        )


def stop(transport, target: ServiceTarget) -> None:
    if target.stop_cmd:
        _shell(transport, target, target.stop_cmd, "stop")
        return
    if target.unit:
        _shell(transport, target, f"systemctl stop {target.unit}", "stop")
        return
    _signal(transport, target, "TERM")
    if not _wait_gone(transport, target, 10.0):
        probe(transport, "signal", target.spec(), "KILL")


def restart(transport, target: ServiceTarget) -> None:
    if target.restart_cmd:
        _shell(transport, target, target.restart_cmd, "restart")
    elif target.unit:
        cmd = f"systemctl restart {target.unit}"
        _shell(transport, target, cmd, "restart")
    else:
        stop(transport, target)
        start(transport, target)


def _iptables(transport, target: ServiceTarget, op: str) -> None:
    if not target.port:
        raise TargetError(f"service {target.name!r} has no port to unplug")
    address = f"-d {shlex.quote(target.address)} " if target.address else ""
    rule = (
        f"INPUT -p tcp {address}--dport {target.port} -m comment "
        f"--comment {IPTABLES_COMMENT} -j DROP"
    )
    if op == "add":
        cmd = f"iptables -I {rule}"
    else:  # delete every copy of our rule, ignore "no such rule"
        cmd = f"while iptables -D {rule} 2>/dev/null; do :; done"
    if target.container:
        # The container's network namespace, entered from the host.
        ns = (
            f"nsenter -t $(lxc-info {_lxc_path_arg(target)}"
            f"-n {shlex.quote(target.container)} -pH) -n "
        )
        cmd = ns + "/bin/sh -c " + shlex.quote(cmd)
    res = transport.run(cmd, timeout=30)
    if res.rc != 0:
        err = res.stderr.strip().splitlines()
        raise TargetError(
            f"iptables on {transport.host} failed"
            + (f": {err[-1]}" if err else "")
        )


def _lxc_path_arg(target: ServiceTarget) -> str:
    return f"-P {shlex.quote(target.lxc_path)} " if target.lxc_path else ""


def perform(transport, target: ServiceTarget, action: str) -> dict:
    """Perform one service action on one node; details of what was done."""
    if action == "kill":
        return _signal(transport, target, "KILL")
    if action == "terminate":
        return _signal(transport, target, "TERM")
    if action == "freeze":
        return _signal(transport, target, "STOP")
    if action == "unfreeze":
        return probe(transport, "signal", target.spec(), "CONT")
    if action == "stop":
        stop(transport, target)
    elif action == "start":
        start(transport, target)
    elif action == "restart":
        restart(transport, target)
    elif action == "unplug":
        _iptables(transport, target, "add")
    elif action == "plug":
        _iptables(transport, target, "delete")
    else:
        raise TargetError(f"unknown service action {action!r}")
    return {}

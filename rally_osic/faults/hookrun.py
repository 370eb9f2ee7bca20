"""What the ``osic_fault`` hook does, without Rally: parse its config,
run the fault, shape the outputs (Rally ``Table`` charts) and verdict."""

from __future__ import annotations

import dataclasses
import datetime

from rally_osic.faults import engine, osf
from rally_osic.faults import spec as specs
from rally_osic.faults import targets as tg
from rally_osic.faults import transport as tr


@dataclasses.dataclass
class HookResult:
    passed: bool
    reason: str
    record: dict
    outputs: list
    etype: str = "FaultFailed"
    details: str = ""


def spec_from_config(action) -> specs.FaultSpec:
    """The fault of a hook's ``action``, checked by check_spec."""
    return specs.check_spec(_spec(action))


def _spec(action) -> specs.FaultSpec:
    if isinstance(action, str):
        return specs.parse_sentence(action)
    if "node_action" in action:
        return specs.FaultSpec(
            action=action["node_action"],
            service=action.get("service"),
            nodes=action.get("nodes", "one"),
            seconds=action.get("seconds"),
            stress=action.get("stress"),
            workers=action.get("workers", 1),
            size=action.get("size"),
            temp_path=action.get("temp_path"),
        )
    return specs.FaultSpec(
        action=action["action"],
        service=action["service"],
        nodes=action.get("nodes", "all"),
        seconds=action.get("seconds"),
    )


def check(hook_config: dict) -> None:
    """What ``rally task validate`` can check of a hook config without the
    cloud; raises the error the hook would fail with at run time.

    The action must parse and be able to run; an os-faults config given in
    the hook itself (``config`` or ``config_file``) must load, pass
    os-faults' schema, and (with the ``universal`` driver, which has no
    built-in services) name the service and the nodes of the fault.
    """
    spec = spec_from_config(hook_config["action"])
    if hook_config.get("config") is None and not hook_config.get(
        "config_file"
    ):
        return  # found at run time (env extras, $OS_FAULTS_CONFIG...)
    config, source = osf.find_config(hook_config)
    _check_config(config, spec, source)


def _check_config(config: dict, spec: specs.FaultSpec, source: str) -> None:
    import jsonschema
    import os_faults

    try:
        jsonschema.validate(config, os_faults.CONFIG_SCHEMA)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        raise osf.FaultConfigError(
            f"os-faults config {source}"
            + (f" at {where}" if where else "")
            + f": {exc.message}"
        ) from None
    services = config.get("services") or {}
    for name, service in services.items():
        if service.get("driver") == "osic_process":
            tg.ServiceTarget.from_args(name, service.get("args") or {})
    universal = config["cloud_management"].get("driver") == "universal"
    if universal and spec.service and spec.service not in services:
        raise osf.FaultConfigError(
            f"service {spec.service!r} is not in the os-faults config "
            f"{source} (it has {', '.join(sorted(services)) or 'none'})"
        )
    discover = config.get("node_discover") or {}
    if isinstance(spec.nodes, list) and discover.get("driver") == "node_list":
        known = set()
        for node in discover.get("args") or []:
            known.update(str(node.get(k)) for k in ("ip", "fqdn") if k in node)
        missing = [n for n in spec.nodes if n not in known]
        if missing:
            raise osf.FaultConfigError(
                f"node(s) {', '.join(missing)} not in the node list of the "
                f"os-faults config {source}"
            )


def _fmt(t):
    if not t:
        return "-"
    return datetime.datetime.fromtimestamp(
        t, tz=datetime.timezone.utc
    ).strftime("%H:%M:%S.%f")[:-3]


def outputs_for(record: dict) -> list:
    t0 = record.get("triggered_at")

    def rel(t):
        return "-" if not t or not t0 else f"{t - t0:+.3f}"

    rows = []
    for key in (
        "triggered_at",
        "started_at",
        "finished_at",
        "effective_at",
        "undone_at",
        "restored_at",
        "healthy_at",
    ):
        if record.get(key):
            rows.append([key, _fmt(record[key]), rel(record[key])])
    timing = {
        "title": f"Fault: {record.get('fault', '')}",
        "description": (
            f"effect: {record.get('effect') or 'not observed'}; came back: "
            f"{record.get('came_back') or '-'}; "
            f"{'PASSED' if record.get('passed') else 'FAILED'}: "
            f"{record.get('reason', '')}"
        ),
        "chart_plugin": "Table",
        "data": {
            "cols": ["event", "time (UTC)", "seconds after trigger"],
            "rows": rows,
        },
    }
    outs = [timing]
    nodes = record.get("nodes") or []
    if nodes:
        outs.append(
            {
                "title": "Fault targets",
                "chart_plugin": "Table",
                "data": {
                    "cols": [
                        "host",
                        "effect",
                        "effect after trigger (s)",
                        "downtime (s)",
                        "came back",
                        "PIDs before",
                        "PIDs after",
                    ],
                    "rows": [
                        [
                            n["host"],
                            n["effect"] or "-",
                            rel(n["effective_at"]),
                            "-"
                            if n["downtime"] is None
                            else f"{n['downtime']:.3f}",
                            n["came_back"],
                            " ".join(map(str, n["pids_before"])) or "-",
                            " ".join(map(str, n["pids_after"])) or "-",
                        ]
                        for n in nodes
                    ],
                },
            }
        )
    findings = record.get("findings") or []
    if findings:
        outs.append(
            {
                "title": "Fault findings",
                "chart_plugin": "Table",
                "data": {
                    "cols": ["finding"],
                    "rows": [[f] for f in findings],
                },
            }
        )
    return outs


def run(hook_config: dict, env_extras: dict | None = None) -> HookResult:
    try:
        config, source = osf.find_config(hook_config, env_extras)
        spec = spec_from_config(hook_config["action"])
        record = engine.run_fault(
            config,
            spec,
            recover_within=float(hook_config.get("recover_within", 300)),
            restore=bool(hook_config.get("restore", True)),
            restore_after=hook_config.get("restore_after"),
            effect_timeout=float(hook_config.get("effect_timeout", 60)),
            health_url=hook_config.get("health_url"),
        )
    except (
        osf.FaultConfigError,
        specs.FaultError,
        tg.TargetError,
        tr.TransportError,
    ) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        record = {"passed": False, "reason": reason, "error": reason}
        return HookResult(False, reason, record, [], etype=type(exc).__name__)
    record["config_source"] = source
    passed = bool(record.get("passed"))
    reason = record.get("reason", "")
    return HookResult(
        passed,
        reason,
        record,
        outputs_for(record),
        details="\n".join(record.get("findings") or []),
    )

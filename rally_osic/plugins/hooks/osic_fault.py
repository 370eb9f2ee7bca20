"""The ``osic_fault`` hook: inject a fault, observe it, judge the recovery."""

from __future__ import annotations

from rally import consts
from rally.common import logging, validation
from rally.task import hook

from rally_osic.faults.targets import SERVICE_ACTIONS
from rally_osic.plugins.validators import osic_fault_action

LOG = logging.getLogger(__name__)

_NODE_ACTIONS = ["reboot", "poweroff", "poweron", "reset", "stress"]
_NODES = {
    "oneOf": [
        {"enum": ["one", "all"]},
        {"type": "array", "items": {"type": "string"}, "minItems": 1},
    ]
}


@validation.add(osic_fault_action.OsicFaultActionValidator.get_name())
@hook.configure(name="osic_fault")
class OsicFaultHook(hook.HookAction):
    """Inject a fault with os-faults and measure when it took effect and
    whether (and how) the service came back.

    Unlike rally-openstack's ``fault_injection``, which only fires an
    os-faults command, this hook records, as its output and in the fields
    of its result (key ``fault``):

    * ``triggered_at``, ``started_at``, ``finished_at``: when the hook
      fired, when the action started and when it returned;
    * ``effective_at`` and ``effect``: when the fault was *observed*
      (process gone, PID changed, process frozen, port closed or
      unreachable), polled every 20 ms on the node;
    * ``healthy_at``: when every target was healthy again (process
      running and not frozen, port LISTENing, ``health_url`` answering
      below 500);
    * ``came_back``: ``itself``, ``restore`` (the hook had to start it:
      recorded as a finding) or ``never``; ``pids_before``/``pids_after``.

    The observed fault time is published to ``rally_osic.faultclock`` so
    that this package's fault SLAs of the same workload measure from it.

    The hook fails (one-line reason) if the fault has no observable
    effect, if the service is not healthy within ``recover_within``
    seconds of the effect, or on bad input (unknown service, unreachable
    node, malformed config); the Rally task itself goes on.

    Configuration:

    * ``action``: an os-faults human-API sentence
      (``"restart memcached service on one node"``,
      ``"freeze mysql service on all nodes for 10 seconds"``,
      ``"stress cpu for 30 seconds on one node"``), or an object:
      ``{"service": NAME, "action": kill|terminate|stop|start|restart|
      freeze|unfreeze|unplug|plug, "nodes": "one"|"all"|[hosts],
      "seconds": N}`` or ``{"node_action": reboot|poweroff|poweron|reset|
      stress, "nodes": ..., "stress": cpu|memory|disk, "seconds": N,
      "workers": N, "size": "64M"|"10%", "temp_path": DIR}`` (``size``
      per stress-ng worker, default 50% for memory and 256M for disk;
      ``temp_path``, where disk stress writes, default /tmp);
    * ``recover_within`` (s, default 300);
    * ``restore`` (default true): at the end, start (unfreeze, plug)
      whatever the fault left down, so the cloud is never left broken;
    * ``restore_after`` (s, optional): a planned outage; the hook brings
      the service back after that many seconds (not a finding);
    * ``effect_timeout`` (s, default 60); ``health_url`` (overrides the
      service's);
    * ``config_file`` or ``config``: the os-faults config. Otherwise the
      env extra ``os_faults_config`` (or ``cloud_config``), then
      ``$OS_FAULTS_CONFIG`` and ``os-faults.{json,yaml,yml}`` in the CWD,
      ``~/.config/openstack`` and ``/etc/openstack``.

    Services should use the ``osic_process`` driver (``pid_file``,
    ``cmdline``, ``unit``, ``container``, ``port``, ``health_url``,
    ``start_cmd``...): it matches processes exactly. os-faults' own
    ``process`` driver greps loosely, so kill/freeze on it are refused.
    """

    CONFIG_SCHEMA = {
        "type": "object",
        "$schema": consts.JSON_SCHEMA7,
        "properties": {
            "action": {
                "oneOf": [
                    {"type": "string", "minLength": 1},
                    {
                        "type": "object",
                        "properties": {
                            "service": {"type": "string"},
                            "action": {"enum": list(SERVICE_ACTIONS)},
                            "nodes": _NODES,
                            "seconds": {"type": "number", "minimum": 0},
                        },
                        "required": ["service", "action"],
                        "additionalProperties": False,
                    },
                    {
                        "type": "object",
                        "properties": {
                            "node_action": {"enum": _NODE_ACTIONS},
                            "nodes": _NODES,
                            "service": {"type": "string"},
                            "stress": {"enum": ["cpu", "memory", "disk"]},
                            "workers": {"type": "integer", "minimum": 1},
                            "size": {
                                "type": "string",
                                "pattern": "^[0-9]+[bBkKmMgG%]?$",
                            },
                            "temp_path": {"type": "string", "minLength": 1},
                            "seconds": {"type": "number", "minimum": 1},
                        },
                        "required": ["node_action"],
                        "additionalProperties": False,
                    },
                ]
            },
            "recover_within": {"type": "number", "exclusiveMinimum": 0},
            "restore": {"type": "boolean"},
            "restore_after": {"type": "number", "minimum": 0},
            "effect_timeout": {"type": "number", "exclusiveMinimum": 0},
            "health_url": {"type": "string"},
            "config_file": {"type": "string"},
            "config": {"type": "object"},
        },
        "required": ["action"],
        "additionalProperties": False,
    }

    def _env_extras(self) -> dict:
        try:
            from rally.env import env_mgr

            env = env_mgr.EnvManager.get(self.task["env_uuid"])
            return env.data.get("extras") or {}
        except Exception as exc:  # no env: config found elsewhere
            LOG.debug(f"osic_fault: no env extras: {exc}")
            return {}

    def run(self):
        from rally_osic.faults import hookrun

        result = hookrun.run(self.config, self._env_extras())
        self._result["fault"] = result.record
        for output in result.outputs:
            self.add_output(complete=output)
        if not result.passed:
            self.set_error(result.etype, result.reason, result.details)

"""task_templates/nova_boot_kill_conductor.yaml renders to a valid task."""

from pathlib import Path

import jsonschema
import pytest
import yaml

TEMPLATE = (
    Path(__file__).resolve().parents[3]
    / "task_templates"
    / "nova_boot_kill_conductor.yaml"
)


def render(**args) -> dict:
    from rally import api

    text = api._Task(None).render_template(
        task_template=TEMPLATE.read_text(), **args
    )
    return yaml.safe_load(text)


def _workload(task):
    assert task["version"] == 2
    (subtask,) = task["subtasks"]
    (workload,) = subtask["workloads"]
    return workload


def test_defaults_target_the_lab():
    workload = _workload(render())
    scenario = workload["scenario"]["NovaServers.boot_and_delete_server"]
    assert scenario == {
        "flavor": {"name": "m1.lab"},
        "image": {"name": "lab-image"},
    }
    assert workload["runner"]["rps"]["rps"] == 2
    assert workload["runner"]["rps"]["times"] == 240
    assert "network" in workload["contexts"]
    (hook,) = workload["hooks"]
    fault = hook["action"]["osic_fault"]
    assert fault["action"] == {
        "service": "nova-conductor",
        "action": "kill",
        "nodes": "one",
    }
    assert hook["trigger"] == {"event": {"unit": "time", "at": [30]}}
    assert workload["sla"]["fault_downtime"]["max"] == 60
    assert workload["sla"]["fault_recovery"]["within"] == 300
    assert "failure_rate" in workload["sla"]


def test_args_retarget_it():
    workload = _workload(
        render(
            service="keystone",
            action="restart",
            rps=5,
            duration=10,
            fault_at=3,
            use_network=False,
            os_faults_config="/x/os-faults.json",
        )
    )
    assert workload["runner"]["rps"]["times"] == 50
    assert "network" not in workload["contexts"]
    fault = workload["hooks"][0]["action"]["osic_fault"]
    assert fault["action"]["service"] == "keystone"
    assert fault["config_file"] == "/x/os-faults.json"
    assert workload["sla"]["fault_downtime"]["fault_at"]["at"] == 3


def test_baseline_has_no_fault():
    workload = _workload(render(with_fault=False))
    assert "hooks" not in workload
    assert set(workload["sla"]) == {"failure_rate"}


def test_hook_and_slas_match_the_plugin_schemas():
    try:
        from rally_osic.plugins.hooks import osic_fault
        from rally_osic.plugins.sla import fault_downtime, fault_recovery
    except ImportError as exc:  # the plugins are another module's work
        pytest.skip(f"fault plugins not importable: {exc}")
    workload = _workload(render())
    jsonschema.validate(
        workload["hooks"][0]["action"]["osic_fault"],
        osic_fault.OsicFaultHook.CONFIG_SCHEMA,
    )
    jsonschema.validate(
        workload["sla"]["fault_downtime"],
        fault_downtime.FaultDowntime.CONFIG_SCHEMA,
    )
    jsonschema.validate(
        workload["sla"]["fault_recovery"],
        fault_recovery.FaultRecovery.CONFIG_SCHEMA,
    )

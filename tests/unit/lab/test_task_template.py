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
    assert workload["runner"]["rps"]["rps"] == 0.5
    assert workload["runner"]["rps"]["times"] == 60
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


FAULT_TEMPLATES = {
    "keystone_restart_memcached.yaml": (
        "Authenticate.keystone",
        "memcached",
        "restart",
    ),
    "keystone_kill_keystone.yaml": (
        "Authenticate.keystone",
        "keystone",
        "kill",
    ),
    "glance_kill_glance_api.yaml": (
        "GlanceImages.list_images",
        "glance",
        "kill",
    ),
    "neutron_restart_neutron_server.yaml": (
        "NeutronNetworks.create_and_delete_networks",
        "neutron",
        "restart",
    ),
    "nova_boot_kill_conductor.yaml": (
        "NovaServers.boot_and_delete_server",
        "nova-conductor",
        "kill",
    ),
    "cinder_kill_cinder_api.yaml": (
        "CinderVolumes.list_volumes",
        "cinder-api",
        "kill",
    ),
    "swift_kill_swift_proxy.yaml": (
        "SwiftObjects.create_container_and_object_then_delete_all",
        "swift-proxy-server",
        "kill",
    ),
    "neutron_kill_dhcp_agent.yaml": (
        "NeutronNetworks.list_agents",
        "neutron-dhcp-agent",
        "kill",
    ),
}


def render_file(name: str, **args) -> dict:
    from rally import api

    text = (TEMPLATE.parent / name).read_text()
    return yaml.safe_load(
        api._Task(None).render_template(task_template=text, **args)
    )


def fault_sla_plugins() -> dict:
    from rally_osic.plugins.sla import (
        fault_degradation,
        fault_downtime,
        fault_recovery,
    )

    return {
        "fault_downtime": fault_downtime.FaultDowntime,
        "fault_degradation": fault_degradation.FaultDegradation,
        "fault_recovery": fault_recovery.FaultRecovery,
    }


@pytest.mark.parametrize("name", sorted(FAULT_TEMPLATES))
def test_fault_templates_render_with_defaults(name):
    from rally_osic.plugins.hooks import osic_fault

    scenario, service, action = FAULT_TEMPLATES[name]
    workload = _workload(render_file(name))
    assert list(workload["scenario"]) == [scenario]
    runner = workload["runner"]["rps"]
    (hook,) = workload["hooks"]
    fault = hook["action"]["osic_fault"]
    assert fault["action"] == {
        "service": service,
        "action": action,
        "nodes": "one",
    }
    (at,) = hook["trigger"]["event"]["at"]
    # A baseline of at least 10 samples, and load left after the fault.
    assert runner["rps"] * at >= 10
    assert runner["times"] / runner["rps"] >= at + 20
    for criterion, plugin in fault_sla_plugins().items():
        sla = workload["sla"][criterion]
        assert sla["fault_at"] == {"unit": "time", "at": at}, criterion
        jsonschema.validate(sla, plugin.CONFIG_SCHEMA)
    jsonschema.validate(fault, osic_fault.OsicFaultHook.CONFIG_SCHEMA)
    assert "failure_rate" in workload["sla"]
    retargeted = _workload(
        render_file(name, fault_at=7, max_ratio=4, with_fault=True)
    )
    assert retargeted["hooks"][0]["trigger"]["event"]["at"] == [7]
    assert retargeted["sla"]["fault_degradation"]["max_ratio"] == 4
    baseline = _workload(render_file(name, with_fault=False))
    assert "hooks" not in baseline
    assert set(baseline["sla"]) == {"failure_rate"}


def test_neutron_template_reproduces_the_growing_original_on_request():
    # The study's first runs listed networks that piled up; its fix, the
    # default, deletes them at the rate they are created.
    name = "neutron_restart_neutron_server.yaml"
    original = _workload(
        render_file(name, scenario="create_and_list_networks")
    )
    assert list(original["scenario"]) == [
        "NeutronNetworks.create_and_list_networks"
    ]
    assert original["contexts"]["quotas"] == {"neutron": {"network": -1}}


@pytest.mark.parametrize("name", sorted(FAULT_TEMPLATES))
def test_fault_analysis_reaches_every_fault_sla(name):
    settings = {
        "window": 25,
        "persistence": 10,
        "percentile": 99.5,
        "cluster_gap": 3,
        "hold": 15,
        "hold_operations": 8,
        "recovery_margin": 0.2,
        "min_shift": 0.05,
    }
    workload = _workload(render_file(name, fault_analysis=settings))
    for criterion, plugin in fault_sla_plugins().items():
        sla = workload["sla"][criterion]
        accepted = {
            key: value
            for key, value in settings.items()
            if key in plugin.CONFIG_SCHEMA["properties"]
        }
        assert {key: sla.get(key) for key in accepted} == accepted
        jsonschema.validate(sla, plugin.CONFIG_SCHEMA)
    assert workload["sla"]["fault_downtime"]["cluster_gap"] == 3
    assert workload["sla"]["fault_recovery"]["hold"] == 15
    assert "hold" not in workload["sla"]["fault_degradation"]


def test_http_probe_template_renders_with_fault_analysis():
    workload = _workload(
        render_file(
            "http_probe_under_fault.yaml",
            url="http://127.0.0.1:8080/",
            fault_cmd='sh -c "kill -9 $(cat /run/app.pid)"',
            restore_cmd="start-app",
            fault_analysis={"window": 15},
        )
    )
    assert workload["scenario"]["OsicProbe.http"]["url"].endswith(":8080/")
    assert [hook["action"]["sys_call"] for hook in workload["hooks"]] == [
        'sh -c "kill -9 $(cat /run/app.pid)"',
        "start-app",
    ]
    for criterion in ("fault_degradation", "fault_recovery"):
        assert workload["sla"][criterion]["window"] == 15
    for criterion in ("fault_downtime", "fault_degradation", "fault_recovery"):
        assert workload["sla"][criterion]["fault_at"]["at"] == 20
    assert "window" not in workload["sla"]["fault_downtime"]

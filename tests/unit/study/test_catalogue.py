"""The study catalogue: every test of both studies, and each one runnable."""

from __future__ import annotations

import pathlib

import pytest
import yaml

from rally_osic.faults import osa
from rally_osic.study import catalogue as cat
from rally_osic.study import render

OSA_INVENTORY = (
    pathlib.Path(__file__).resolve().parents[2]
    / "data"
    / "osa"
    / "openstack_inventory.json"
)
# Tests per section of "Tested scenarios - Graph Results" (../shared/
# reference/000_*.txt), and the live-migration matrix: 2 storages x 3
# transports x 3 flavors.
SECTIONS = {
    "1": 7,
    "2": 1,
    "3": 9,
    "4": 13,
    "5": 1,
    "6": 1,
    "7": 19,
    "8": 36,
    "9": 1,
    "LM": 18,
}
REMOVED = {
    "nova-cert",
    "nova-consoleauth",
    "glance-registry",
    "neutron-linuxbridge-agent",
}


@pytest.fixture(scope="module")
def catalogue():
    return cat.load()


def test_every_study_test_is_there_once_in_order(catalogue):
    counts: dict[str, int] = {}
    for entry in catalogue.entries:
        counts[entry.section] = counts.get(entry.section, 0) + 1
        assert entry.number == f"{entry.section}.{counts[entry.section]}"
    assert counts == SECTIONS


def test_titles_and_faults_agree(catalogue):
    for entry in catalogue.entries:
        if entry.section == "LM":
            assert entry.fault is None
            continue
        title = entry.title.lower()
        if entry.action in ("kill", "restart"):
            assert title.startswith(entry.action + " "), entry
            assert entry.service.lower() in title or (
                entry.service == "mysql" and "mysql" in title
            ), entry
        else:
            assert entry.action in ("stress", "reboot"), entry


def test_the_study_run_counts_where_it_gives_them(catalogue):
    counted = {e.number: e.runs for e in catalogue.entries if e.runs > 1}
    assert counted == {"1.1": 5, "1.2": 3, "1.7": 5}
    assert "five runs" in catalogue.get("1.1").runs_source


def test_removed_services_carry_their_release_and_counterpart(catalogue):
    removed = {e.service for e in catalogue.entries if e.removed}
    assert removed == REMOVED
    for entry in catalogue.entries:
        if entry.service in REMOVED:
            assert entry.removed.release and entry.removed.why
            assert "removed in" in entry.removed.reason()
    assert catalogue.get("4.9").removed.modern == ("neutron-openvswitch-agent")
    assert catalogue.get("7.2").removed.modern is None


def test_every_fault_maps_to_an_osa_target(catalogue):
    # The names faults-config --osa-inventory writes, and those of a real
    # OSA inventory's os-faults config where it deploys the service.
    osa_names = {
        name for units in osa.SERVICES.values() for name, _, _ in units
    }
    deployed = osa.to_os_faults(osa.load(str(OSA_INVENTORY)))["services"]
    for entry in catalogue.entries:
        if entry.service and not entry.removed:
            assert entry.service in osa_names, entry.number
    wanted = {e.service for e in catalogue.entries if e.service}
    for name in ("swift-object-auditor", "neutron-l3-agent", "mysql"):
        assert name in wanted and name in deployed


def test_every_fault_maps_to_a_lab_target(catalogue, tmp_path):
    from rally_osic.lab import config as lab_config
    from rally_osic.lab import envfiles, families, services

    lab = lab_config.LabConfig(
        tmp_path, families=families.resolve(families.optional_names())
    )
    aliases = {
        alias: name
        for family in families.enabled(lab)
        for alias, name in family.aliases.items()
    }
    config = envfiles.os_faults_osic_config(
        lab, services.build(lab), aliases=aliases
    )
    described = config["services"]
    for entry in catalogue.entries:
        if entry.service and not entry.removed:
            assert entry.service in described, entry.number
    # An alias is the very same target as the lab's own name.
    assert described["mysql"] == described["mariadb"]
    assert described["neutron-server"] == described["neutron"]
    assert described["nova-compute"] == described["nova-compute-1"]


def _workload(text: str) -> dict:
    task = yaml.safe_load(text)
    (subtask,) = task["subtasks"]
    (workload,) = subtask["workloads"]
    return task, workload


def test_every_test_renders_to_a_valid_task(catalogue):
    import jsonschema
    from rally import plugins
    from rally.task import scenario

    from rally_osic.plugins.hooks import osic_fault
    from rally_osic.plugins.sla import (
        fault_degradation,
        fault_downtime,
        fault_recovery,
    )

    plugins.load()  # Rally's, rally-openstack's and this package's
    slas = {
        "fault_downtime": fault_downtime.FaultDowntime,
        "fault_degradation": fault_degradation.FaultDegradation,
        "fault_recovery": fault_recovery.FaultRecovery,
    }
    for entry in catalogue.entries:
        task, workload = _workload(render.render(entry, cat.task_args(entry)))
        (name,) = workload["scenario"]
        scenario.Scenario.get(name)  # a plugin of Rally or rally-openstack
        if entry.section == "LM":
            assert workload["runner"]["serial"]["times"] == 40
            continue
        assert task["title"].startswith(f"{entry.number} {entry.title}")
        assert workload["runner"]["rps"]["times"] == int(
            workload["runner"]["rps"]["rps"] * 450
        )
        (hook,) = workload["hooks"]
        config = hook["action"]["osic_fault"]
        jsonschema.validate(config, osic_fault.OsicFaultHook.CONFIG_SCHEMA)
        assert config["action"] == entry.fault
        assert hook["trigger"]["event"]["at"] == [120]
        assert set(workload["sla"]) == {"failure_rate", *slas}
        for sla_name, plugin_class in slas.items():
            jsonschema.validate(
                workload["sla"][sla_name], plugin_class.CONFIG_SCHEMA
            )
        assert workload["sla"]["fault_recovery"]["within"] == 300


def test_user_args_merge_into_the_catalogues(catalogue):
    entry = catalogue.get("7.18")
    args = cat.task_args(
        entry, {"scenario_args": {"flavor": {"name": "m1.lab"}}, "rps": 1}
    )
    assert args["scenario_args"] == {
        "flavor": {"name": "m1.lab"},
        "image": {"name": "cirros"},
    }
    assert args["rps"] == 1 and entry.args["rps"] == 0.5  # not changed
    # Arguments for one section only.
    lab = {"section_args": {"7": {"scenario_args": {"image": {"name": "x"}}}}}
    assert cat.task_args(entry, lab)["scenario_args"]["image"] == {"name": "x"}
    keystone = cat.task_args(catalogue.get("1.1"), lab)
    assert "scenario_args" not in keystone and "section_args" not in keystone
    with pytest.raises(cat.CatalogueError, match="section_args"):
        cat.task_args(entry, {"section_args": {"7": [1]}})


def test_neutron_deletes_what_it_creates_unless_asked_for_the_original(
    catalogue,
):
    entry = catalogue.get("4.7")
    _, workload = _workload(render.render(entry, cat.task_args(entry)))
    assert list(workload["scenario"]) == [
        "NeutronNetworks.create_and_delete_networks"
    ]
    original = cat.task_args(entry, variant="original")
    _, workload = _workload(render.render(entry, original))
    assert list(workload["scenario"]) == [
        "NeutronNetworks.create_and_list_networks"
    ]
    with pytest.raises(cat.CatalogueError, match="no variant 'x'"):
        cat.task_args(entry, variant="x")


def test_live_migration_matrix_and_its_timing(catalogue):
    matrix = {
        (e.args["storage"], e.args["transport"], e.args["flavor"])
        for e in catalogue.entries
        if e.section == "LM"
    }
    assert len(matrix) == 18
    assert {t for _, t, _ in matrix} == {"native", "tunnelled", "native_tls"}
    tls = [
        e
        for e in catalogue.entries
        if e.args.get("transport") == ("native_tls")
    ]
    assert tls and not any(e.in_study for e in tls)
    # The study: 3.2 min to evacuate the host (shared, tunnelled, small),
    # 40 evacuations.
    entry = next(
        e
        for e in catalogue.entries
        if (
            e.args.get("storage"),
            e.args.get("transport"),
            e.args.get("flavor"),
        )
        == ("shared", "tunnelled", "small")
    )
    args = cat.task_args(entry)
    assert cat.estimated_seconds(entry, args) == pytest.approx(
        3.2 * 60 * 40 + cat.RUN_OVERHEAD
    )
    small = cat.task_args(entry, {"servers": 3, "round_trips": 1})
    assert cat.estimated_seconds(entry, small) == pytest.approx(
        3.2 * 60 * 2 / 2 + cat.RUN_OVERHEAD
    )


def test_a_fault_test_lasts_until_the_recovery_limit_has_passed(catalogue):
    entry = catalogue.get("1.1")
    assert cat.estimated_seconds(entry, cat.task_args(entry)) == (
        120 + 300 + 30 + cat.RUN_OVERHEAD
    )


def test_selection(catalogue):
    numbers = [e.number for e in catalogue.select(["8.2", "1.1", "8.2"])]
    assert numbers == ["1.1", "8.2"]
    kills = catalogue.select(services=["memcached"], actions=["kill"])
    assert [e.number for e in kills] == ["1.2", "3.9", "7.14", "8.26"]
    assert len(catalogue.select(sections=["LM"])) == 18
    with pytest.raises(cat.CatalogueError, match="no test '10.1'"):
        catalogue.select(["10.1"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 1\nsections: [", "not valid YAML"),
        ("version: 2\nsections: []", "not a version 1"),
        ("[]", "not a version 1"),
        (
            "version: 1\nsections:\n- {section: '1', title: t, template: x,"
            " tests: [{number: '1.1', title: a}, {number: '1.1', title: b}]}",
            "repeated test number '1.1'",
        ),
        (
            "version: 1\nsections:\n- {section: '1', title: t, template: x,"
            " tests: [{number: '1.1', title: a, runs: 0}]}",
            "runs must be 1 or more",
        ),
        ("version: 1\nsections:\n- {title: t}", "'section'"),
    ],
)
def test_a_bad_catalogue_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / "catalogue.yaml"
    path.write_text(text)
    with pytest.raises(cat.CatalogueError) as caught:
        cat.load(path)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_lm_cells_take_the_flavor_of_their_size_from_flavor_names():
    """lab env names its flavors by size: each LM cell boots the one of
    its own size, and the report can still tell the size (lab-large)."""
    import yaml

    from rally_osic.study import catalogue, render

    names = {"small": "lab-small", "medium": "lab-medium", "large": "x-large"}
    cat = catalogue.load(None)
    for number, wanted in (("LM.1", "lab-small"), ("LM.3", "x-large")):
        entry = cat.get(number)
        task = yaml.safe_load(
            render.render(
                entry, catalogue.task_args(entry, {"flavor_names": names})
            )
        )
        (workload,) = task["subtasks"][0]["workloads"]
        assert "flavors" not in workload["contexts"]  # none created
        servers = workload["contexts"]["osic_workload_servers"]
        assert servers["flavor"] == {"name": wanted}
        scenario = workload["scenario"]["OsicLiveMigration.evacuate_host"]
        assert scenario["flavor"] == wanted
    # Without it, the study's own flavor is created for the run.
    entry = cat.get("LM.2")
    task = yaml.safe_load(render.render(entry, catalogue.task_args(entry)))
    (workload,) = task["subtasks"][0]["workloads"]
    assert workload["contexts"]["flavors"][0]["name"] == "osic-lm-medium"

"""Service definitions, os-faults/Rally files: exact, unique targets."""

import subprocess

import jsonschema
import pytest

from rally_osic.lab import config as lab_config
from rally_osic.lab import envfiles, families, services


@pytest.fixture
def lab(tmp_path):
    return lab_config.load(tmp_path / "lab", create=True)


@pytest.fixture
def table(lab):
    return services.build(lab)


@pytest.fixture
def groups(lab):
    return {
        name: members
        for family in families.enabled(lab)
        for name, members in family.groups(lab).items()
    }


def _cmdline(service):
    """The running command line (RabbitMQ's VM carries the env marker)."""
    text = " ".join(service.argv)
    if service.name == "rabbitmq":
        text += " " + service.env["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"]
    return text


def _grep(pattern, text):
    """As os-faults does it: ps ax | grep -v grep | grep '<pattern>'."""
    return (
        subprocess.run(
            ["grep", pattern],
            input=text + "\n",
            capture_output=True,
            text=True,
        ).returncode
        == 0
    )


def test_every_service_matches_only_its_own_command_line(table):
    for service in table:
        assert service.match in _cmdline(service), service.name
        assert _grep(service.grep, _cmdline(service)), service.name
        for other in table:
            if other is not service:
                assert not _grep(service.grep, _cmdline(other)), (
                    service.name,
                    other.name,
                )


def test_match_contains_this_lab_or_its_port(lab, table):
    for service in table:
        assert (
            str(lab.state_dir) in service.match
            or str(service.port) in service.match
        ), service.name


def test_grep_escapes_regex_characters():
    assert services.bre_escape("/a.b/[x]*$^") == r"/a\.b/\[x\]\*\$\^"
    assert _grep(services.bre_escape("a.b"), "a.b")
    assert not _grep(services.bre_escape("a.b"), "axb")
    with pytest.raises(ValueError):
        services.bre_escape("it's")


def test_ports_follow_the_offset(tmp_path):
    lab = lab_config.load(tmp_path / "o", port_offset=10000, create=True)
    ports = {s.name: s.port for s in services.build(lab)}
    assert ports["mariadb"] == 13306
    assert ports["keystone"] == 15000
    assert ports["nova-api"] == 18774
    assert "--bind" in services.by_name(lab)["neutron"].argv


def test_os_faults_config_is_valid(lab, table, groups):
    import os_faults
    from os_faults.drivers.services import process

    config = envfiles.os_faults_config(lab, table, groups)
    jsonschema.validate(config, os_faults.CONFIG_SCHEMA)
    assert config["cloud_management"] == {"driver": "universal"}
    assert config["node_discover"]["args"][0]["ip"] == "127.0.0.1"
    assert "epmd" not in config["services"]
    for name, described in config["services"].items():
        assert described["driver"] == "process"
        jsonschema.validate(
            described["args"], process.ServiceAsProcess.CONFIG_SCHEMA
        )
        assert not described["args"]["grep"].startswith("-"), name
        assert f"--only {name}" in described["args"]["start_cmd"] or (
            name in groups
        )
    # The aggregate service matches both computes and nothing else.
    grep = config["services"]["nova-compute"]["args"]["grep"]
    matched = [s.name for s in table if _grep(grep, _cmdline(s))]
    assert matched == ["nova-compute-1", "nova-compute-2"]


def test_osic_variant_names_processes_exactly(lab, table):
    config = envfiles.os_faults_osic_config(lab, table)
    conductor = config["services"]["nova-conductor"]["args"]
    assert conductor["cmdline"] == list(
        services.by_name(lab)["nova-conductor"].argv
    )
    rabbit = config["services"]["rabbitmq"]["args"]
    assert rabbit["pid_file"].endswith("run/rabbitmq.pid")
    assert "cmdline" not in rabbit
    assert config["services"]["keystone"]["args"]["health_url"].startswith(
        "http://127.0.0.1:5000"
    )


def test_lab_services_json(lab, table):
    described = envfiles.lab_services(lab, table)
    keystone = described["services"]["keystone"]
    assert keystone["pidfile"].endswith("run/keystone.pid")
    assert keystone["port"] == 5000
    assert keystone["log_file"].endswith("log/keystone.log")
    assert keystone["argv"][1].endswith("bin/gunicorn")
    assert "lab up" in keystone["start_cmd"]
    assert set(described["services"]) == {s.name for s in table}


def test_rally_env_spec_is_valid(lab):
    from rally_openstack.environment.platforms import existing

    spec = envfiles.rally_env_spec(lab)
    platform = spec["existing@openstack"]
    jsonschema.validate(platform, existing.OpenStack.CONFIG_SCHEMA)
    assert platform["admin"]["password"] == lab.secrets["admin"]
    assert "OS_PASSWORD=" in envfiles.openrc(lab)

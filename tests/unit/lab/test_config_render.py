"""Lab settings and configuration rendering (no processes)."""

import base64
import configparser
import json

import pytest

from rally_osic.lab import config as lab_config
from rally_osic.lab import families, render


@pytest.fixture
def lab(tmp_path):
    return lab_config.load(tmp_path / "lab", port_offset=100, create=True)


def test_settings_are_stored_and_reused(lab):
    again = lab_config.load(lab.state_dir)
    assert again.port_offset == 100
    assert again.secrets == lab.secrets
    assert again.port("keystone") == 5100
    assert again.auth_url == "http://127.0.0.1:5100/v3"
    assert (lab.state_dir / "secrets.json").stat().st_mode & 0o077 == 0


def test_a_different_offset_for_an_existing_lab_is_refused(lab):
    with pytest.raises(ValueError, match="--port-offset 100"):
        lab_config.load(lab.state_dir, port_offset=0)


def test_a_missing_lab_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="lab up"):
        lab_config.load(tmp_path / "nothing")


def test_render_all_substitutes_every_placeholder(lab):
    render.render_all(lab)
    for family in families.enabled(lab):
        for _template, destination in family.templates:
            text = (lab.etc / destination).read_text()
            assert "${" not in text, destination
    nova = configparser.ConfigParser(interpolation=None)
    nova.read(lab.etc / "nova" / "nova.conf")
    assert nova["DEFAULT"]["compute_driver"] == (
        "fake.PredictableNodeUUIDDriver"
    )
    assert ":5772/" in nova["DEFAULT"]["transport_url"]
    assert nova["service_user"]["send_service_user_token"] == "true"
    keystone = configparser.ConfigParser(interpolation=None)
    keystone.read(lab.etc / "keystone" / "keystone.conf")
    assert keystone["identity"]["password_hash_rounds"] == "4"
    assert keystone["cache"]["memcache_servers"] == "127.0.0.1:11311"


def test_compute_ids_match_the_predictable_driver(lab):
    render.render_all(lab)
    for index, host in enumerate(("lab-compute-1", "lab-compute-2"), 1):
        conf = configparser.ConfigParser(interpolation=None)
        conf.read(lab.etc / "nova" / f"compute-{index}.conf")
        assert conf["DEFAULT"]["host"] == host
        state_path = conf["DEFAULT"]["state_path"]
        compute_id = (lab.data / "nova" / host / "compute_id").read_text()
        assert state_path.endswith(host)
        # nova.virt.fake.PredictableNodeUUIDDriver: uuid5(DNS, nodename)
        assert compute_id == render.compute_node_uuid(host)
    assert render.compute_node_uuid("lab-compute-1") == (
        "095a26dc-aaa7-585d-9bab-a5b71416c457"
    )


def test_keys_are_created_once(lab):
    render.render_all(lab)
    key = lab.etc / "keystone" / "fernet-keys" / "1"
    first = key.read_text()
    assert len(base64.urlsafe_b64decode(first)) == 32
    render.render_all(lab)
    assert key.read_text() == first


def test_settings_file_is_json(lab):
    stored = json.loads((lab.state_dir / "lab.json").read_text())
    assert stored["port_offset"] == 100

"""Dropping the libvirt hosts (``lab up --computes fake``): their
nova-compute services are deleted through Nova's API once the lab without
them is up, and still are after a lab up that failed first (no processes:
the stop and the API are stand-ins)."""

import pytest

from rally_osic.lab import catalog, families, lab, procs
from rally_osic.lab import config as lab_config


@pytest.fixture
def libvirt_lab(tmp_path, monkeypatch):
    config = lab_config.load(tmp_path / "lab", port_offset=24000, create=True)
    config = lab_config.save_families(config, families.resolve(["libvirt"]))
    monkeypatch.setattr(procs, "stop", lambda service, **kw: False)
    monkeypatch.setattr(lab, "_say", lambda text: None)
    monkeypatch.setattr(catalog, "admin_session", lambda config: "session")
    deleted = []

    def delete(self, session):
        assert session == "session"
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("keystone is not answering")
        deleted.append(self.name)
        return [f"deleted {self.name}"]

    libvirt = type(_family("libvirt"))
    monkeypatch.setattr(libvirt, "retire_in_cloud", delete)
    monkeypatch.setattr(libvirt, "fail_next", False, raising=False)
    return config, deleted


def _family(name):
    return next(f for f in families.all_families() if f.name == name)


def test_the_hosts_are_deleted_in_the_cloud_after_the_lab_is_up(
    libvirt_lab,
):
    config, deleted = libvirt_lab
    config = lab._disable(config, ["libvirt"])
    assert "libvirt" not in config.families
    assert deleted == []  # nothing is asked of the APIs before lab up
    lab._retire_in_cloud(config)
    assert deleted == ["libvirt"]
    lab._retire_in_cloud(config)  # once only
    assert deleted == ["libvirt"]


def test_a_failed_retire_is_done_by_the_next_lab_up(libvirt_lab):
    config, deleted = libvirt_lab
    config = lab._disable(config, ["libvirt"])
    type(_family("libvirt")).fail_next = True
    with pytest.raises(RuntimeError):
        lab._retire_in_cloud(config)
    assert deleted == []
    lab._retire_in_cloud(config)
    assert deleted == ["libvirt"]


def test_a_family_taken_again_is_not_retired(libvirt_lab):
    config, deleted = libvirt_lab
    config = lab._disable(config, ["libvirt"])
    config = lab_config.save_families(config, families.resolve(["libvirt"]))
    lab._retire_in_cloud(config)
    assert deleted == []

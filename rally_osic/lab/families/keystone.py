"""Keystone under gunicorn, with fernet keys the lab writes itself.

With several controllers, one keystone on each (keystone-1, ...), behind
HAProxy on the catalog address; they share the fernet keys, as
OpenStack-Ansible's keystone nodes do once it has synchronised them.
"""

from __future__ import annotations

from pathlib import Path

from rally_osic.lab import catalog, render, steps
from rally_osic.lab.config import REGION, LabConfig
from rally_osic.lab.families import Family, infra_ha
from rally_osic.lab.services import Service, web_apis


def _write_keys(repository: Path) -> None:
    # What keystone-manage fernet_setup/credential_setup create, without
    # two more keystone-manage runs: key 0 staged, key 1 primary.
    repository.mkdir(parents=True, exist_ok=True, mode=0o700)
    for index in ("0", "1"):
        key = repository / index
        if not key.exists():
            key.touch(mode=0o600)
            key.write_text(render.fernet_key())


class Keystone(Family):
    name = "keystone"
    summary = "Keystone (2 gunicorn workers)"
    venvs = ("services",)
    databases = ("keystone",)
    templates = (("keystone.conf", "keystone/keystone.conf"),)

    def render(self, config, values):
        super().render(config, values)
        _write_keys(config.etc / "keystone" / "fernet-keys")
        _write_keys(config.etc / "keystone" / "credential-keys")

    def services(self, config: LabConfig) -> list[Service]:
        return web_apis(config, "keystone", "keystone", 2, 4, family=self.name)

    def setup(self, run) -> None:
        sync(run.config)
        run.start_all([s.name for s in self.services(run.config)])
        if run.config.clustered:
            infra_ha.wait_served(run.config, "keystone")
        catalog.register(run.config)


def sync(config: LabConfig) -> None:
    if steps.is_done(config, "keystone"):
        return
    conf = str(config.etc / "keystone" / "keystone.conf")
    manage = steps.bin_path(config.services_venv, "keystone-manage")
    steps.run_logged(config, [manage, "--config-file", conf, "db_sync"])
    url = config.url("keystone")
    steps.run_logged(
        config,
        [
            manage,
            "--config-file",
            conf,
            "bootstrap",
            "--bootstrap-password",
            config.secrets["admin"],
            "--bootstrap-admin-url",
            url,
            "--bootstrap-internal-url",
            url,
            "--bootstrap-public-url",
            url,
            "--bootstrap-region-id",
            REGION,
        ],
    )
    steps.mark_done(config, "keystone")


FAMILY = Keystone()

"""Placement API."""

from __future__ import annotations

from rally_osic.lab import steps
from rally_osic.lab.config import LabConfig
from rally_osic.lab.families import CatalogEntry, Family
from rally_osic.lab.services import Service, web_apis


class Placement(Family):
    name = "placement"
    summary = "Placement API"
    venvs = ("services",)
    databases = ("placement",)
    service_users = ("placement",)
    catalog = (CatalogEntry("placement", "placement", "placement"),)
    templates = (("placement.conf", "placement/placement.conf"),)

    def services(self, config: LabConfig) -> list[Service]:
        return web_apis(config, "placement", "placement", family=self.name)

    def setup(self, run) -> None:
        config = run.config
        if steps.is_done(config, "placement"):
            return
        conf = str(config.etc / "placement" / "placement.conf")
        manage = steps.bin_path(config.services_venv, "placement-manage")
        steps.run_logged(config, [manage, "--config-file", conf, "db", "sync"])
        steps.mark_done(config, "placement")


FAMILY = Placement()

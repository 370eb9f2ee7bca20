"""Glance API (file store) and the lab's tiny image."""

from __future__ import annotations

import shutil

from rally_osic.lab import catalog, steps
from rally_osic.lab.config import LabConfig
from rally_osic.lab.families import CatalogEntry, Family
from rally_osic.lab.services import Service, web_apis

IMAGE_NAME = "lab-image"


class Glance(Family):
    name = "glance"
    summary = "Glance API, file store"
    aliases = {"glance-api": "glance"}
    venvs = ("services",)
    databases = ("glance",)
    service_users = ("glance",)
    catalog = (CatalogEntry("image", "glance", "glance"),)
    templates = (("glance-api.conf", "glance/glance-api.conf"),)

    def render(self, config, values):
        super().render(config, values)
        (config.data / "glance" / "images").mkdir(parents=True, exist_ok=True)
        paste = config.services_venv / "etc/glance/glance-api-paste.ini"
        if paste.exists():
            shutil.copyfile(paste, config.etc / "glance" / paste.name)

    def services(self, config: LabConfig) -> list[Service]:
        return web_apis(config, "glance", "glance", family=self.name)

    def setup(self, run) -> None:
        config = run.config
        if steps.is_done(config, "glance"):
            return
        conf = str(config.etc / "glance" / "glance-api.conf")
        manage = steps.bin_path(config.services_venv, "glance-manage")
        steps.run_logged(config, [manage, "--config-file", conf, "db_sync"])
        steps.mark_done(config, "glance")

    def ready(self, run) -> None:
        config = run.config
        if steps.is_done(config, "image"):
            return
        sess = catalog.admin_session(config)
        image_api = {"service_type": "image", "interface": "public"}
        images = sess.get(
            f"/v2/images?name={IMAGE_NAME}", endpoint_filter=image_api
        ).json()["images"]
        if not images:
            image = sess.post(
                "/v2/images",
                json={
                    "name": IMAGE_NAME,
                    "disk_format": "raw",
                    "container_format": "bare",
                    "visibility": "public",
                },
                endpoint_filter=image_api,
            ).json()
            sess.put(
                f"/v2/images/{image['id']}/file",
                data=b"\0" * 1024,
                headers={"Content-Type": "application/octet-stream"},
                endpoint_filter=image_api,
            )
        steps.mark_done(config, "image")


FAMILY = Glance()

"""Cinder: the API under gunicorn, the scheduler, and cinder-volume with
the RBD driver on the lab's Ceph (LVM cannot work here: no
device-mapper)."""

from __future__ import annotations

from rally_osic.lab import catalog, steps
from rally_osic.lab.config import LabConfig
from rally_osic.lab.families import CatalogEntry, Family, ceph
from rally_osic.lab.services import Service, command, venv_python, web_apis

VOLUME_HOST = "lab-storage@ceph"


def cinder_argv(config: LabConfig, binary: str) -> tuple[str, ...]:
    venv = config.venv("cinder")
    return (
        *venv_python(venv),
        str(venv / "bin" / binary),
        "--config-file",
        str(config.etc / "cinder" / "cinder.conf"),
    )


class Cinder(Family):
    name = "cinder"
    optional = True
    requires = ("ceph",)
    summary = "Cinder API, scheduler, volume (RBD driver on the lab's Ceph)"
    venvs = ("cinder",)
    databases = ("cinder",)
    service_users = ("cinder",)
    catalog = (
        CatalogEntry(
            "block-storage", "cinder", "cinder", "/v3/%(project_id)s"
        ),
        # Nova's [cinder] catalog_info default.
        CatalogEntry("volumev3", "cinderv3", "cinder", "/v3/%(project_id)s"),
    )
    templates = (("cinder.conf", "cinder/cinder.conf"),)

    def substitutions(self, config):
        return {"cinder_venv": str(config.venv("cinder"))}

    def render(self, config, values):
        super().render(config, values)
        for sub in ("lock", "coordination"):
            (config.data / "cinder" / sub).mkdir(parents=True, exist_ok=True)

    def services(self, config: LabConfig) -> list[Service]:
        conf = config.etc / "cinder" / "cinder.conf"
        services = web_apis(
            config,
            "cinder-api",
            "cinder",
            venv=config.venv("cinder"),
            family=self.name,
            port_name="cinder",
        )
        for binary in ("cinder-scheduler", "cinder-volume"):
            services.append(
                command(
                    config,
                    binary,
                    cinder_argv(config, binary),
                    f"{binary} --config-file {conf}",
                    health=config.amqp_health,
                    family=self.name,
                    settle=3.0,
                )
            )
        return services

    def setup(self, run) -> None:
        config = run.config
        ceph.link_bindings(config.venv("cinder"))
        if steps.is_done(config, "cinder"):
            return
        steps.run_logged(
            config,
            [
                steps.bin_path(config.venv("cinder"), "cinder-manage"),
                "--config-file",
                str(config.etc / "cinder" / "cinder.conf"),
                "db",
                "sync",
            ],
        )
        steps.mark_done(config, "cinder")

    def ready(self, run) -> None:
        wait_for_volume_service(run.config, timeout=90)

    def status(self, config, rows) -> None:
        try:
            states = service_states(config)
        except Exception:  # noqa: BLE001 - status must not crash
            return
        for row in rows:
            if row["name"] in ("cinder-scheduler", "cinder-volume"):
                state = states.get(row["name"])
                if state and row["pid"]:
                    row["healthy"] = state == "up"
                    row["detail"] = f"cinder: {state}"


VOLUME = {"service_type": "block-storage", "interface": "public"}


def service_states(config: LabConfig) -> dict[str, str]:
    sess = catalog.admin_session(config, timeout=10)
    response = sess.get(
        "/os-services", endpoint_filter=VOLUME, raise_exc=False
    )
    if response.status_code != 200:
        return {}
    return {
        item["binary"]: item["state"]
        for item in response.json()["services"]
        if item["status"] == "enabled"
    }


def wait_for_volume_service(config: LabConfig, timeout: float) -> None:
    """cinder-volume up, and its pool known to the scheduler. "Up" alone
    can be the heartbeat of the service's last life; a volume created
    before the restarted service has reported its capabilities fails
    ("No valid backend"), as one CI run's first volume did."""
    catalog.wait_until(
        lambda: (
            service_states(config).get("cinder-volume") == "up"
            and scheduler_pools(config)
        ),
        timeout,
        "cinder-volume (up, and its pool known to cinder-scheduler)",
        str(config.log / "cinder-volume.log"),
    )


def scheduler_pools(config: LabConfig) -> list[str]:
    """The pools cinder-scheduler can place a volume on."""
    sess = catalog.admin_session(config, timeout=10)
    response = sess.get(
        "/scheduler-stats/get_pools", endpoint_filter=VOLUME, raise_exc=False
    )
    if response.status_code != 200:
        return []
    return [pool["name"] for pool in response.json().get("pools", [])]


FAMILY = Cinder()

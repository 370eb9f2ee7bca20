"""Neutron API (ML2) under gunicorn, in its own venv."""

from __future__ import annotations

import shutil

from rally_osic.lab import steps
from rally_osic.lab.config import LabConfig
from rally_osic.lab.families import CatalogEntry, Family
from rally_osic.lab.services import DATA_DIR, Service, web_apis


def conf_args(config: LabConfig) -> list[str]:
    etc = config.etc / "neutron"
    return [
        "--config-file",
        str(etc / "neutron.conf"),
        "--config-file",
        str(etc / "ml2_conf.ini"),
    ]


def install_bind_all_driver(config: LabConfig) -> None:
    """Install data/osic_lab_bind_all.py as an ML2 mechanism driver."""
    site = steps.site_packages(config.neutron_venv)
    shutil.copyfile(
        DATA_DIR / "osic_lab_bind_all.py", site / "osic_lab_bind_all.py"
    )
    dist_info = site / "osic_lab_bind_all-1.0.dist-info"
    dist_info.mkdir(exist_ok=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: osic-lab-bind-all\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[neutron.ml2.mechanism_drivers]\n"
        "osic_lab_bind_all = osic_lab_bind_all:BindAllMechanismDriver\n"
    )
    (dist_info / "RECORD").write_text(
        "osic_lab_bind_all.py,,\nosic_lab_bind_all-1.0.dist-info/METADATA,,\n"
    )


class Neutron(Family):
    name = "neutron"
    summary = "Neutron API (ML2)"
    aliases = {"neutron-server": "neutron"}
    venvs = ("neutron",)
    databases = ("neutron",)
    service_users = ("neutron",)
    catalog = (CatalogEntry("network", "neutron", "neutron"),)
    templates = (
        ("neutron.conf", "neutron/neutron.conf"),
        ("ml2_conf.ini", "neutron/ml2_conf.ini"),
    )

    def substitutions(self, config):
        from rally_osic.lab.families.libvirt import HOSTS as LIBVIRT_HOSTS
        from rally_osic.lab.families.nova import COMPUTE_HOSTS

        if "neutron-agents" not in config.families:
            return {
                "ml2_tenant_types": "vxlan",
                "ml2_mechanism_drivers": "osic_lab_bind_all",
                "bind_all_hosts": "",
                "neutron_service_plugins": "router",
            }
        return {
            # The OVS agent has no tunnel endpoint to offer on one node:
            # tenant networks are VLANs on a bridge without uplink.
            "ml2_tenant_types": "vlan",
            "ml2_mechanism_drivers": "openvswitch,osic_lab_bind_all",
            "bind_all_hosts": ",".join(
                COMPUTE_HOSTS
                + (LIBVIRT_HOSTS if "libvirt" in config.families else ())
            ),
            "neutron_service_plugins": "router,metering",
        }

    def render(self, config, values):
        super().render(config, values)
        (config.data / "neutron" / "lock").mkdir(parents=True, exist_ok=True)

    def services(self, config: LabConfig) -> list[Service]:
        return web_apis(
            config,
            "neutron",
            "neutron",
            venv=config.neutron_venv,
            family=self.name,
        )

    def setup(self, run) -> None:
        config = run.config
        install_bind_all_driver(config)
        if steps.is_done(config, "neutron"):
            return
        steps.run_logged(
            config,
            [
                steps.bin_path(config.neutron_venv, "neutron-db-manage"),
                *conf_args(config),
                "upgrade",
                "head",
            ],
        )
        steps.mark_done(config, "neutron")


FAMILY = Neutron()

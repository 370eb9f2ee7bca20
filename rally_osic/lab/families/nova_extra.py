"""Nova's metadata API and console proxies, each a service of its own.

nova 34 has all three console proxies of the study's era but one:
novncproxy, spicehtml5proxy and serialproxy (nova-consoleauth and
nova-cert, which the study also killed, were removed from Nova in Train
and Pike). The metadata API is nova's WSGI app under gunicorn, answering
neutron's metadata agent (shared secret) as in the study's cloud.
"""

from __future__ import annotations

from rally_osic.lab import render
from rally_osic.lab.config import LabConfig
from rally_osic.lab.families import Family
from rally_osic.lab.families.nova import nova_argv
from rally_osic.lab.services import Service, command, web_api

# (binary, port name, web files of its Debian package)
PROXIES = (
    ("nova-novncproxy", "novncproxy", "/usr/share/novnc"),
    ("nova-spicehtml5proxy", "spicehtml5proxy", "/usr/share/spice-html5"),
    ("nova-serialproxy", "serialproxy", None),
)


class NovaExtra(Family):
    name = "nova-extra"
    optional = True
    summary = (
        "nova-api-metadata, nova-novncproxy, nova-spicehtml5proxy, "
        "nova-serialproxy"
    )
    debian_packages = ("novnc", "spice-html5")
    venvs = ("services",)

    def render(self, config, values):
        render.write(
            config, "nova-consoles.conf", "nova/nova-consoles.conf", values
        )

    def services(self, config: LabConfig) -> list[Service]:
        nova_conf = config.etc / "nova" / "nova.conf"
        consoles = config.etc / "nova" / "nova-consoles.conf"
        services = [
            web_api(
                config,
                "nova-api-metadata",
                "nova_metadata",
                port_name="nova-metadata",
                family=self.name,
            )
        ]
        for binary, port_name, web in PROXIES:
            argv = nova_argv(config, binary, consoles)
            if web:
                argv += ("--web", web)
            services.append(
                command(
                    config,
                    binary,
                    argv,
                    f"{binary} --config-file {nova_conf}",
                    port=config.port(port_name),
                    health=config.url(port_name, "/"),
                    family=self.name,
                )
            )
        return services


FAMILY = NovaExtra()

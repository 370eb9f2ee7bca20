"""Swift: a proxy with keystone auth, the three storage servers on a ring
the lab builds (one device directory), and every background daemon the
study killed, each its own process and pidfile."""

from __future__ import annotations

from rally_osic.lab import catalog, steps
from rally_osic.lab.config import HOST, LabConfig
from rally_osic.lab.families import CatalogEntry, Family
from rally_osic.lab.services import DATA_DIR, Service, command, venv_python

# Background daemons, by the server config file they read.
DAEMONS = {
    "object": ("auditor", "replicator", "updater", "expirer"),
    "container": ("auditor", "replicator", "updater", "sync"),
    "account": ("auditor", "reaper", "replicator"),
}
SERVERS = ("account", "container", "object")
PART_POWER = 8
DEVICE = "d1"


def swift_dir(config: LabConfig):
    return config.etc / "swift"


def _argv(config: LabConfig, binary: str, conf) -> tuple[str, ...]:
    venv = config.venv("swift")
    return (
        *venv_python(venv),
        str(DATA_DIR / "osic_lab_swift.py"),
        str(swift_dir(config)),
        binary,
        str(conf),
        # Log to stdout (the service's log): there is no /dev/log here.
        "-v",
    )


class Swift(Family):
    name = "swift"
    optional = True
    summary = (
        "Swift proxy (keystone auth), account/container/object servers, "
        "12 background daemons"
    )
    venvs = ("swift",)
    service_users = ("swift",)
    catalog = (
        CatalogEntry(
            "object-store", "swift", "swift-proxy", "/v1/AUTH_%(project_id)s"
        ),
    )
    templates = (
        ("swift.conf", "swift/swift.conf"),
        ("proxy-server.conf", "swift/proxy-server.conf"),
        ("account-server.conf", "swift/account-server.conf"),
        ("container-server.conf", "swift/container-server.conf"),
        ("object-server.conf", "swift/object-server.conf"),
        ("internal-client.conf", "swift/internal-client.conf"),
        ("container-reconciler.conf", "swift/container-reconciler.conf"),
    )

    def substitutions(self, config):
        secret = config.secrets["swift_hash"]
        values = {
            "swift_hash_prefix": secret[:12],
            "swift_hash_suffix": secret[12:],
            "swift_proxy_port": str(config.port("swift-proxy")),
        }
        for server in SERVERS:
            values[f"swift_{server}_port"] = str(
                config.port(f"swift-{server}")
            )
        return values

    def render(self, config, values):
        super().render(config, values)
        for sub in (f"devices/{DEVICE}", "recon"):
            (config.data / "swift" / sub).mkdir(parents=True, exist_ok=True)

    def services(self, config: LabConfig) -> list[Service]:
        etc = swift_dir(config)
        services = []

        def add(binary, conf, **fields):
            services.append(
                command(
                    config,
                    binary,
                    _argv(config, binary, conf),
                    f"{binary} {conf}",
                    family=self.name,
                    **fields,
                )
            )

        for server in SERVERS:
            port = config.port(f"swift-{server}")
            add(
                f"swift-{server}-server",
                etc / f"{server}-server.conf",
                port=port,
                health=config.url(f"swift-{server}", "/healthcheck"),
            )
        add(
            "swift-proxy-server",
            etc / "proxy-server.conf",
            port=config.port("swift-proxy"),
            health=config.url("swift-proxy", "/healthcheck"),
        )
        for server, daemons in DAEMONS.items():
            for daemon in daemons:
                add(
                    f"swift-{server}-{daemon}",
                    etc / f"{server}-server.conf",
                    settle=3.0,
                )
        add(
            "swift-container-reconciler",
            etc / "container-reconciler.conf",
            settle=3.0,
        )
        return services

    def groups(self, config):
        names = [s.name for s in self.services(config)]
        return {
            "swift-background": tuple(
                name for name in names if not name.endswith("-server")
            )
        }

    def setup(self, run) -> None:
        build_rings(run.config)

    def ready(self, run) -> None:
        """An authenticated account HEAD through the proxy: keystone
        auth, the rings and the three servers all work."""
        sess = catalog.admin_session(run.config)
        store = {"service_type": "object-store", "interface": "public"}

        def answers() -> bool:
            response = sess.head("", endpoint_filter=store, raise_exc=False)
            return response.status_code in (200, 204)

        catalog.wait_until(
            answers,
            60,
            "swift (account HEAD through the proxy)",
            str(run.config.log / "swift-proxy-server.log"),
        )


def build_rings(config: LabConfig) -> None:
    """One ring per server type, one replica, on the lab's one device."""
    if steps.is_done(config, "swift-rings"):
        return
    builder = steps.bin_path(config.venv("swift"), "swift-ring-builder")
    for server in SERVERS:
        path = swift_dir(config) / f"{server}.builder"
        path.unlink(missing_ok=True)  # of a set-up that did not finish
        port = config.port(f"swift-{server}")
        # part power, replicas, min_part_hours
        steps.run_logged(
            config, [builder, str(path), "create", str(PART_POWER), "1", "1"]
        )
        steps.run_logged(
            config,
            [builder, str(path), "add", f"r1z1-{HOST}:{port}/{DEVICE}", "100"],
        )
        steps.run_logged(config, [builder, str(path), "rebalance"])
    steps.mark_done(config, "swift-rings")


FAMILY = Swift()

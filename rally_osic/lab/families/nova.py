"""Nova: API, conductor, scheduler and two fake computes."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from rally_osic.lab import catalog, render, steps
from rally_osic.lab.config import LabConfig, write_atomic
from rally_osic.lab.families import CatalogEntry, Family
from rally_osic.lab.services import Service, command, venv_python, web_apis

WORKERS = ("nova-conductor", "nova-scheduler")
COMPUTE_HOSTS = ("lab-compute-1", "lab-compute-2")
FLAVOR = {"name": "m1.lab", "vcpus": 1, "ram": 128, "disk": 1}
COMPUTE = {"service_type": "compute", "interface": "public"}


def compute_node_uuid(host: str) -> str:
    """The node UUID that fake.PredictableNodeUUIDDriver reports."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, host))


def nova_argv(config: LabConfig, binary: str, *conf_files) -> tuple:
    argv = [*venv_python(config.services_venv)]
    argv.append(str(config.services_venv / "bin" / binary))
    for conf in (config.etc / "nova" / "nova.conf", *conf_files):
        argv += ["--config-file", str(conf)]
    return tuple(argv)


def controller_conf(config: LabConfig, index: int) -> Path:
    """What differs on controller ``index``: Nova's own host name, so
    that each conductor and scheduler is a service of its own."""
    return config.etc / "nova" / f"controller-{index}.conf"


def workers(config: LabConfig, family: str) -> list[Service]:
    """nova-conductor and nova-scheduler: once, or on every controller
    (``nova-conductor-1``, ...: one fault target ``nova-conductor``)."""
    nova_conf = config.etc / "nova" / "nova.conf"
    found = []
    for name in WORKERS:
        if not config.clustered:
            found.append(
                command(
                    config,
                    name,
                    nova_argv(config, name),
                    f"{name} --config-file {nova_conf}",
                    health=config.amqp_health,
                    family=family,
                )
            )
            continue
        for index, node in enumerate(config.nodes, start=1):
            own = controller_conf(config, index)
            found.append(
                command(
                    config,
                    f"{name}-{index}",
                    nova_argv(config, name, own),
                    f"{name} --config-file {nova_conf} --config-file {own}",
                    health=config.amqp_health,
                    family=family,
                    address=node,
                    target=name,
                )
            )
    return found


class Nova(Family):
    name = "nova"
    summary = "Nova API, conductor, scheduler, 2 fake computes"
    # nova-compute: in the exact (osic_process) config, the first compute,
    # one node's nova-compute as the study killed it; the os-faults
    # (process driver) config keeps its group of every compute.
    aliases = {
        "nova-api-os-compute": "nova-api",
        "nova-compute": "nova-compute-1",
    }
    venvs = ("services",)
    databases = ("nova_api", "nova_cell0", "nova_cell1")
    service_users = ("nova",)
    catalog = (CatalogEntry("compute", "nova", "nova-api", "/v2.1"),)
    templates = (("nova.conf", "nova/nova.conf"),)

    def render(self, config, values):
        super().render(config, values)
        for index in range(1, config.controllers + 1):
            if config.clustered:
                write_atomic(
                    controller_conf(config, index),
                    f"[DEFAULT]\nhost = controller-{index}\n",
                    0o644,
                )
        for index, host in enumerate(COMPUTE_HOSTS, start=1):
            render.write(
                config,
                "nova-compute.conf",
                f"nova/compute-{index}.conf",
                {**values, "compute_host": host},
            )
            state_path = config.data / "nova" / host
            (state_path / "instances").mkdir(parents=True, exist_ok=True)
            # Written before the first start: nova-compute refuses to start
            # when the node it finds does not match this file.
            compute_id = state_path / "compute_id"
            if not compute_id.exists():
                compute_id.write_text(compute_node_uuid(host))
        (config.data / "nova" / "lock").mkdir(parents=True, exist_ok=True)
        paste = config.services_venv / "etc/nova/api-paste.ini"
        if paste.exists():
            shutil.copyfile(paste, config.etc / "nova" / paste.name)

    def services(self, config: LabConfig) -> list[Service]:
        services = web_apis(config, "nova-api", "nova_api", family=self.name)
        services += workers(config, self.name)
        for index, _host in enumerate(COMPUTE_HOSTS, start=1):
            host_conf = config.etc / "nova" / f"compute-{index}.conf"
            services.append(
                command(
                    config,
                    f"nova-compute-{index}",
                    nova_argv(config, "nova-compute", host_conf),
                    f"config-file {host_conf}",
                    health=config.amqp_health,
                    family=self.name,
                )
            )
        return services

    def groups(self, config):
        return {
            "nova-compute": tuple(
                f"nova-compute-{index}"
                for index in range(1, len(COMPUTE_HOSTS) + 1)
            )
        }

    def setup(self, run) -> None:
        sync(run.config)

    def ready(self, run) -> None:
        config = run.config
        if not steps.is_done(config, "flavor"):
            sess = catalog.admin_session(config)
            flavors = sess.get("/flavors", endpoint_filter=COMPUTE).json()
            names = {flavor["name"] for flavor in flavors["flavors"]}
            if FLAVOR["name"] not in names:
                sess.post(
                    "/flavors",
                    json={"flavor": FLAVOR},
                    endpoint_filter=COMPUTE,
                )
            steps.mark_done(config, "flavor")
        wait_for_hypervisors(config, len(COMPUTE_HOSTS), timeout=120)

    def status(self, config, rows) -> None:
        """Nova's own view (service up/down) for its RPC services."""
        try:
            states = compute_service_states(config)
        except Exception as exc:  # noqa: BLE001 - status must not crash
            states, error = {}, str(exc).splitlines()[0][:60]
        else:
            error = ""
        hosts = {
            f"nova-compute-{index}": host
            for index, host in enumerate(COMPUTE_HOSTS, start=1)
        }
        for row in rows:
            name = row["name"]
            if not row["pid"] or not name.startswith(
                ("nova-conductor", "nova-scheduler", "nova-compute")
            ):
                continue
            if name in hosts:
                key = f"nova-compute@{hosts[name]}"
            elif name.rsplit("-", 1)[0] in WORKERS:
                binary, index = name.rsplit("-", 1)
                key = f"{binary}@controller-{index}"
            else:
                key = next((k for k in states if k.startswith(f"{name}@")), "")
            state = states.get(key)
            if state:
                row["healthy"] = state == "up"
                row["detail"] = f"nova: {state}"
            elif error:
                row["detail"] = f"nova api: {error}"


def sync(config: LabConfig) -> None:
    if steps.is_done(config, "nova"):
        return
    manage = [
        steps.bin_path(config.services_venv, "nova-manage"),
        "--config-file",
        str(config.etc / "nova" / "nova.conf"),
    ]
    steps.run_logged(config, manage + ["api_db", "sync"])
    steps.run_logged(
        config,
        manage
        + [
            "cell_v2",
            "map_cell0",
            "--database_connection",
            config.db_url("nova_cell0"),
        ],
    )
    if not steps.is_done(config, "nova-cell1"):
        create_cell = ["cell_v2", "create_cell", "--name", "cell1"]
        steps.run_logged(config, manage + create_cell)
        steps.mark_done(config, "nova-cell1")
    steps.run_logged(config, manage + ["db", "sync"])
    steps.mark_done(config, "nova")


def wait_for_hypervisors(
    config: LabConfig, count: int, timeout: float
) -> None:
    """Wait until nova lists ``count`` hypervisors (hosts discovered)."""
    sess = catalog.admin_session(config)

    def enough() -> bool:
        response = sess.get(
            "/os-hypervisors", endpoint_filter=COMPUTE, raise_exc=False
        )
        return (
            response.status_code == 200
            and len(response.json()["hypervisors"]) >= count
        )

    catalog.wait_until(
        enough,
        timeout,
        f"nova's {count} compute hosts",
        f"{config.log / 'nova-compute-1.log'} and "
        f"{config.log / 'nova-scheduler.log'}",
    )


def compute_service_states(config: LabConfig) -> dict[str, str]:
    """{"nova-conductor@host": "up"|"down", ...} from nova's service list."""
    sess = catalog.admin_session(config)
    response = sess.get(
        "/os-services", endpoint_filter=COMPUTE, raise_exc=False
    )
    if response.status_code != 200:
        return {}
    return {
        f"{item['binary']}@{item['host']}": item["state"]
        for item in response.json()["services"]
    }


FAMILY = Nova()

"""One-time setup of a lab: packages, venvs, databases, keys and catalog.

Every step leaves a marker (``data/.done-<step>``) and is skipped when it
is there, so ``lab up`` on an existing state directory only starts what is
down. Commands log to ``log/setup.log``; a failing one raises
:class:`SetupError` naming that log.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from rally_osic.lab import procs
from rally_osic.lab.config import HOST, REGION, LabConfig
from rally_osic.lab.render import DATABASES, SERVICE_USERS
from rally_osic.lab.services import DATA_DIR, _user

DEBIAN_PACKAGES = ("mariadb-server", "memcached", "rabbitmq-server")
FLAVOR = {"name": "m1.lab", "vcpus": 1, "ram": 128, "disk": 1}
IMAGE_NAME = "lab-image"
# (service type, service name, port name, path)
CATALOG = (
    ("image", "glance", "glance", ""),
    ("placement", "placement", "placement", ""),
    ("compute", "nova", "nova-api", "/v2.1"),
    ("network", "neutron", "neutron", ""),
)

SETPROCTITLE_STUB = '''"""No-op setproctitle of the rally-osic lab."""

import sys


def setproctitle(title):
    pass


def getproctitle():
    return " ".join(sys.argv)
'''

_log_lock = threading.Lock()


class SetupError(Exception):
    """A setup step failed; the message is one line."""


def _done(config: LabConfig, step: str) -> Path:
    return config.data / f".done-{step}"


def is_done(config: LabConfig, step: str) -> bool:
    return _done(config, step).exists()


def mark_done(config: LabConfig, step: str) -> None:
    config.data.mkdir(parents=True, exist_ok=True)
    _done(config, step).write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))


def run_logged(
    config: LabConfig,
    argv: list[str],
    timeout: float = 300,
    env: dict | None = None,
    input_text: str | None = None,
) -> None:
    """Run a setup command, appending its output to ``log/setup.log``."""
    log_file = config.log / "setup.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        result = subprocess.run(
            argv,
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=procs.clean_environment(env),
        )
        output, code = result.stdout + result.stderr, result.returncode
    except subprocess.TimeoutExpired as exc:
        output, code = f"{exc.stdout or ''}{exc.stderr or ''}", "timeout"
    except OSError as exc:
        output, code = str(exc), "not runnable"
    shown = " ".join(argv).replace(config.secrets.get("admin", "\0"), "***")
    with _log_lock, open(log_file, "a") as log:
        log.write(
            f"--- {time.strftime('%H:%M:%S')} "
            f"({time.monotonic() - started:.1f} s, exit {code}) {shown}\n"
            f"{output}"
        )
    if code != 0:
        words = [a for a in argv[1:] if not a.startswith(("-", "/"))]
        raise SetupError(
            f"'{' '.join([Path(argv[0]).name, *words[:2]])}' failed "
            f"(exit {code}); see {log_file}"
        )


def note(config: LabConfig, text: str) -> None:
    """A line in ``log/setup.log`` (phase timings of ``lab up``)."""
    config.log.mkdir(parents=True, exist_ok=True)
    with _log_lock, open(config.log / "setup.log", "a") as log:
        log.write(f"=== {time.strftime('%H:%M:%S')} {text}\n")


# --- Debian packages -------------------------------------------------------


def missing_debian_packages() -> list[str]:
    missing = []
    for package in DEBIAN_PACKAGES:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package],
            capture_output=True,
            text=True,
        )
        if "install ok installed" not in result.stdout:
            missing.append(package)
    return missing


def apt_command(packages: list[str]) -> str:
    return (
        "apt-get -o DPkg::Lock::Timeout=600 install -y "
        "--no-install-recommends " + " ".join(packages)
    )


def ensure_debian_packages(config: LabConfig) -> None:
    if not shutil.which("dpkg-query"):
        return  # not Debian: the binaries are checked when they start
    missing = missing_debian_packages()
    if not missing:
        return
    if os.geteuid() != 0:
        raise SetupError(
            "missing Debian packages; as root run: " + apt_command(missing)
        )
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    run_logged(
        config,
        ["apt-get", "-o", "DPkg::Lock::Timeout=600", "update", "-qq"],
        timeout=900,
        env=env,
    )
    run_logged(config, apt_command(missing).split(), timeout=900, env=env)


# --- venvs -----------------------------------------------------------------


def _requirements(name: str) -> Path:
    return DATA_DIR / f"requirements-{name}.txt"


def _venv_stamp(venv: Path) -> Path:
    return venv / ".osic-lab-requirements"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def venv_is_current(venv: Path, requirements: Path) -> bool:
    stamp = _venv_stamp(venv)
    return stamp.exists() and stamp.read_text().strip() == _digest(
        requirements
    )


def ensure_venvs(config: LabConfig) -> None:
    """Build the services and neutron venvs in parallel, if outdated."""
    jobs = []
    for name, venv in (
        ("services", config.services_venv),
        ("neutron", config.neutron_venv),
    ):
        requirements = _requirements(name)
        if venv_is_current(venv, requirements):
            continue
        jobs.append((venv, requirements))
    errors = []

    def build(venv: Path, requirements: Path) -> None:
        try:
            if not (venv / "bin" / "python").exists():
                run_logged(config, [config.python, "-m", "venv", str(venv)])
            run_logged(
                config,
                [
                    str(venv / "bin" / "pip"),
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    "--no-deps",
                    "-r",
                    str(requirements),
                ],
                timeout=900,
            )
            _venv_stamp(venv).write_text(_digest(requirements) + "\n")
        except SetupError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=build, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    install_bind_all_driver(config)


def _site_packages(venv: Path) -> Path:
    found = sorted((venv / "lib").glob("python3*/site-packages"))
    if not found:
        raise SetupError(f"no site-packages in {venv}")
    return found[0]


def install_bind_all_driver(config: LabConfig) -> None:
    """Install data/osic_lab_bind_all.py as an ML2 mechanism driver."""
    site = _site_packages(config.neutron_venv)
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
    # neutron_lib imports setproctitle, which the lab leaves out (see the
    # requirements file): a no-op stand-in keeps command lines stable.
    (site / "setproctitle.py").write_text(SETPROCTITLE_STUB)
    (dist_info / "RECORD").write_text(
        "osic_lab_bind_all.py,,\nosic_lab_bind_all-1.0.dist-info/METADATA,,\n"
    )


# --- MariaDB ---------------------------------------------------------------


def init_mariadb(config: LabConfig) -> None:
    if (config.data / "mariadb" / "mysql").is_dir():
        return
    shutil.rmtree(config.data / "mariadb", ignore_errors=True)
    run_logged(
        config,
        [
            "mariadb-install-db",
            f"--defaults-file={config.etc / 'mariadb' / 'my.cnf'}",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        ],
        timeout=120,
    )


def create_databases(config: LabConfig) -> None:
    if is_done(config, "databases"):
        return
    password = config.secrets["db"]
    statements = [
        f"CREATE DATABASE IF NOT EXISTS {name};" for name in DATABASES
    ]
    for host in (HOST, "localhost"):
        statements += [
            f"CREATE USER IF NOT EXISTS 'lab'@'{host}' "
            f"IDENTIFIED BY '{password}';",
            f"GRANT ALL PRIVILEGES ON *.* TO 'lab'@'{host}';",
        ]
    run_logged(
        config,
        [
            "mariadb",
            f"--socket={config.run / 'mariadb.sock'}",
            "-u",
            _user() if os.geteuid() != 0 else "root",
        ],
        input_text="\n".join(statements) + "\n",
        timeout=60,
    )
    mark_done(config, "databases")


# --- schema and bootstrap --------------------------------------------------


def _bin(config: LabConfig, name: str, venv: Path | None = None) -> str:
    return str((venv or config.services_venv) / "bin" / name)


def sync_keystone(config: LabConfig) -> None:
    if is_done(config, "keystone"):
        return
    conf = str(config.etc / "keystone" / "keystone.conf")
    manage = _bin(config, "keystone-manage")
    run_logged(config, [manage, "--config-file", conf, "db_sync"])
    url = config.url("keystone")
    run_logged(
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
    mark_done(config, "keystone")


def sync_glance_placement(config: LabConfig) -> None:
    if not is_done(config, "glance"):
        conf = str(config.etc / "glance" / "glance-api.conf")
        run_logged(
            config,
            [_bin(config, "glance-manage"), "--config-file", conf, "db_sync"],
        )
        mark_done(config, "glance")
    if not is_done(config, "placement"):
        conf = str(config.etc / "placement" / "placement.conf")
        run_logged(
            config,
            [_bin(config, "placement-manage"), "--config-file", conf]
            + ["db", "sync"],
        )
        mark_done(config, "placement")


def sync_neutron(config: LabConfig) -> None:
    if is_done(config, "neutron"):
        return
    etc = config.etc / "neutron"
    run_logged(
        config,
        [
            _bin(config, "neutron-db-manage", config.neutron_venv),
            "--config-file",
            str(etc / "neutron.conf"),
            "--config-file",
            str(etc / "ml2_conf.ini"),
            "upgrade",
            "head",
        ],
    )
    mark_done(config, "neutron")


def sync_nova(config: LabConfig) -> None:
    if is_done(config, "nova"):
        return
    manage = [
        _bin(config, "nova-manage"),
        "--config-file",
        str(config.etc / "nova" / "nova.conf"),
    ]
    run_logged(config, manage + ["api_db", "sync"])
    run_logged(
        config,
        manage
        + [
            "cell_v2",
            "map_cell0",
            "--database_connection",
            config.db_url("nova_cell0"),
        ],
    )
    if not is_done(config, "nova-cell1"):
        create_cell = ["cell_v2", "create_cell", "--name", "cell1"]
        run_logged(config, manage + create_cell)
        mark_done(config, "nova-cell1")
    run_logged(config, manage + ["db", "sync"])
    mark_done(config, "nova")


# --- catalog and resources (one Python process, keystoneauth1) -------------


def admin_session(config: LabConfig):
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    auth = v3.Password(
        auth_url=config.auth_url,
        username="admin",
        password=config.secrets["admin"],
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
    )
    return session.Session(auth=auth, timeout=30)


def _find(sess, path: str, key: str, **filters) -> dict | None:
    query = "&".join(f"{name}={value}" for name, value in filters.items())
    response = sess.get(
        f"{path}?{query}", endpoint_filter={"service_type": "identity"}
    )
    items = response.json()[key]
    return items[0] if items else None


def _ensure(sess, path: str, key: str, body: dict, **filters) -> dict:
    found = _find(sess, path, key, **filters)
    if found:
        return found
    response = sess.post(
        path,
        json={key[:-1]: body},
        endpoint_filter={"service_type": "identity"},
    )
    return response.json()[key[:-1]]


def register_catalog(config: LabConfig) -> None:
    """Service project, users, roles, services and endpoints."""
    if is_done(config, "catalog"):
        return
    sess = admin_session(config)
    project = _ensure(
        sess,
        "/v3/projects",
        "projects",
        {"name": "service", "domain_id": "default"},
        name="service",
    )
    roles = [
        _ensure(sess, "/v3/roles", "roles", {"name": name}, name=name)
        for name in ("admin", "service")
    ]
    for name in SERVICE_USERS:
        user = _ensure(
            sess,
            "/v3/users",
            "users",
            {
                "name": name,
                "domain_id": "default",
                "password": config.secrets["service"],
            },
            name=name,
        )
        for role in roles:
            sess.put(
                f"/v3/projects/{project['id']}/users/{user['id']}"
                f"/roles/{role['id']}",
                endpoint_filter={"service_type": "identity"},
            )
    for service_type, name, port_name, path in CATALOG:
        service = _ensure(
            sess,
            "/v3/services",
            "services",
            {"type": service_type, "name": name},
            type=service_type,
        )
        for interface in ("public", "internal", "admin"):
            _ensure(
                sess,
                "/v3/endpoints",
                "endpoints",
                {
                    "service_id": service["id"],
                    "interface": interface,
                    "region_id": REGION,
                    "url": config.url(port_name, path),
                },
                service_id=service["id"],
                interface=interface,
            )
    mark_done(config, "catalog")


def create_resources(config: LabConfig) -> None:
    """A flavor and a tiny image for scenarios (nova's driver is fake)."""
    if is_done(config, "resources"):
        return
    sess = admin_session(config)
    compute = {"service_type": "compute", "interface": "public"}
    flavors = sess.get("/flavors", endpoint_filter=compute).json()["flavors"]
    if not any(flavor["name"] == FLAVOR["name"] for flavor in flavors):
        sess.post("/flavors", json={"flavor": FLAVOR}, endpoint_filter=compute)
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
    mark_done(config, "resources")


def wait_for_hypervisors(
    config: LabConfig, count: int, timeout: float
) -> None:
    """Wait until nova lists ``count`` hypervisors (hosts discovered)."""
    sess = admin_session(config)
    compute = {"service_type": "compute", "interface": "public"}
    deadline = time.monotonic() + timeout
    found = 0
    while time.monotonic() < deadline:
        response = sess.get(
            "/os-hypervisors", endpoint_filter=compute, raise_exc=False
        )
        if response.status_code == 200:
            found = len(response.json()["hypervisors"])
            if found >= count:
                return
        time.sleep(1)
    raise SetupError(
        f"nova lists {found} of {count} compute hosts after {timeout:.0f} s;"
        f" see {config.log / 'nova-compute-1.log'} and "
        f"{config.log / 'nova-scheduler.log'}"
    )


def compute_service_states(config: LabConfig) -> dict[str, str]:
    """{"nova-conductor@host": "up"|"down", ...} from nova's service list."""
    sess = admin_session(config)
    response = sess.get(
        "/os-services",
        endpoint_filter={"service_type": "compute", "interface": "public"},
        raise_exc=False,
    )
    if response.status_code != 200:
        return {}
    return {
        f"{item['binary']}@{item['host']}": item["state"]
        for item in response.json()["services"]
    }

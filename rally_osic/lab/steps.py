"""Set-up machinery shared by every service family of the lab.

Every one-time step leaves a marker (``data/.done-<step>``) and is skipped
when it is there, so ``lab up`` on an existing state directory only starts
what is down. Commands log to ``log/setup.log``; a failing one raises
:class:`SetupError` naming that log. Debian packages and venvs are the
union of what the enabled families declare.
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
from rally_osic.lab.config import LabConfig
from rally_osic.lab.services import DATA_DIR

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


def clear_done(config: LabConfig, step: str) -> None:
    _done(config, step).unlink(missing_ok=True)


def run_logged(
    config: LabConfig,
    argv: list[str],
    timeout: float = 300,
    env: dict | None = None,
    input_text: str | None = None,
) -> str:
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
        stdout = result.stdout
    except subprocess.TimeoutExpired as exc:
        output, code = f"{exc.stdout or ''}{exc.stderr or ''}", "timeout"
        stdout = ""
    except OSError as exc:
        output, code, stdout = str(exc), "not runnable", ""
    shown = " ".join(argv)
    for name in ("admin", "service", "db", "rabbit"):
        secret = config.secrets.get(name)
        if secret:
            shown = shown.replace(secret, "***")
            output = output.replace(secret, "***")
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
    return stdout


def note(config: LabConfig, text: str) -> None:
    """A line in ``log/setup.log`` (phase timings of ``lab up``)."""
    config.log.mkdir(parents=True, exist_ok=True)
    with _log_lock, open(config.log / "setup.log", "a") as log:
        log.write(f"=== {time.strftime('%H:%M:%S')} {text}\n")


def bin_path(venv: Path, name: str) -> str:
    return str(venv / "bin" / name)


# --- Debian packages -------------------------------------------------------


def missing_debian_packages(packages: tuple[str, ...]) -> list[str]:
    missing = []
    for package in packages:
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


def ensure_debian_packages(
    config: LabConfig, packages: tuple[str, ...]
) -> None:
    if not shutil.which("dpkg-query"):
        return  # not Debian: the binaries are checked when they start
    missing = missing_debian_packages(packages)
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


def requirements_file(name: str) -> Path:
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


def ensure_venvs(config: LabConfig, names: list[str]) -> None:
    """Build the named venvs in parallel, those that are outdated."""
    jobs = []
    for name in names:
        venv = config.venv(name)
        requirements = requirements_file(name)
        if not venv_is_current(venv, requirements):
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
    for name in names:
        install_setproctitle_stub(config.venv(name))


def site_packages(venv: Path) -> Path:
    found = sorted((venv / "lib").glob("python3*/site-packages"))
    if not found:
        raise SetupError(f"no site-packages in {venv}")
    return found[0]


DIST_PACKAGES = Path("/usr/lib/python3/dist-packages")


def link_debian_modules(
    venv: Path, tag: str, package: str, patterns: tuple[str, ...]
) -> None:
    """Make modules of a Debian python3-* package (built for the
    system's CPython, which the venvs use) importable in ``venv``: a
    .pth file names a directory that links just those modules, so
    nothing else of the system's site-packages leaks in."""
    target = venv / f"osic-lab-{tag}"
    target.mkdir(exist_ok=True)
    for pattern in patterns:
        found = sorted(DIST_PACKAGES.glob(pattern))
        if not found:
            raise SetupError(
                f"{package} is not installed ({DIST_PACKAGES}/{pattern})"
            )
        for module in found:
            link = target / module.name
            if not link.is_symlink():
                link.symlink_to(module)
    (site_packages(venv) / f"osic-lab-{tag}.pth").write_text(f"{target}\n")


def install_setproctitle_stub(venv: Path) -> None:
    """The lab's venvs leave setproctitle out (see the requirements
    files), but neutron_lib and others import it: a no-op stand-in keeps
    the command lines, by which the lab and os-faults find processes."""
    stub = site_packages(venv) / "setproctitle.py"
    if not stub.exists() or stub.read_text() != SETPROCTITLE_STUB:
        stub.write_text(SETPROCTITLE_STUB)

"""How long the lab takes to come up, and how much memory it uses.

Measures, on a throw-away lab (own state dir, ``--port-offset``, so a lab
on the standard ports keeps running), with the optional service families
of ``--services`` (default: none, the core lab; ``all``: every one):

* ``empty``: empty state dir -> ``lab up`` -> ``lab env`` (a checked Rally
  env), with the venvs already built (``--venv-dir``); median of
  ``--repeat`` runs. Goal: < 180 s (core), < 240 s (every service).
* ``cold`` (``--cold``): the same, but also building the venvs from
  nothing (pip, with whatever pip cache the machine has); one run.
* ``restart``: existing state, every service down -> ``lab up``; median.
  Goal: < 30 s (core), < 45 s (every service).
* ``noop``: ``lab up`` while everything runs; median.
* ``rss``: RSS of every service tree right after ``lab up``, and the
  sums of RSS and of PSS (proportional set size: shared pages counted
  once, split among their users), since RSS counts the pages that the
  many Python processes share once per process. Goal: < 2.5 GiB (core),
  < 4 GiB (every service).
* the load average (1 min) before and after each run: the machine is
  shared.

``--controllers 3`` measures the study's topology (issue 14's budget:
``empty`` < 300 s, ``restart`` < 60 s, RSS < 8 GiB, with every service
the lab has at that size); its state dir is under /var/tmp, which the
Galera nodes' ``mysql`` user can enter.

Debian packages must be installed already. Usage::

    .venv/bin/python benchmarks/bench_lab.py [--repeat 3] [--cold]
        [--services all] [--controllers 3] [--port-offset 2000]
        [--venv-dir .lab/venvs] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOALS = {"empty": 180.0, "restart": 30.0, "rss_mib": 2560.0}
GOALS_ALL = {"empty": 240.0, "restart": 45.0, "rss_mib": 4096.0}
GOALS_HA = {"empty": 300.0, "restart": 60.0, "rss_mib": 8192.0}


def load_average() -> float:
    return os.getloadavg()[0]


def lab(*args: str, env: dict | None = None) -> float:
    """Run ``rally-osic lab ...``; its wall time, or exit on failure."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "rally_osic.cli", "lab", *args],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, **(env or {})},
    )
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(
            f"lab {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout[-1500:]}{result.stderr[-1500:]}"
        )
    return elapsed


def rally_home(root: Path) -> dict:
    home = root / "rally-home"
    home.mkdir(exist_ok=True)
    env = {
        "HOME": str(home),
        "OS_DATABASE__CONNECTION": f"sqlite:///{home}/rally.sqlite",
    }
    rally = str(Path(sys.executable).with_name("rally"))
    subprocess.run(
        [rally, "db", "create"],
        env={**os.environ, **env},
        capture_output=True,
        check=True,
        timeout=300,
    )
    return env


def from_empty(root: Path, args, venv_dir: Path, rally_env: dict) -> dict:
    state = root / "state"
    shutil.rmtree(state, ignore_errors=True)
    load = load_average()
    services = ["--services", args.services] if args.services else []
    if args.controllers > 1:
        services += ["--controllers", str(args.controllers)]
    up = lab(
        "up",
        "--state-dir",
        str(state),
        "--port-offset",
        str(args.port_offset),
        "--venv-dir",
        str(venv_dir),
        *services,
    )
    env = lab("env", "--state-dir", str(state), env=rally_env)
    return {
        "up": up,
        "env": env,
        "total": up + env,
        "state": state,
        "load": [round(load, 1), round(load_average(), 1)],
    }


def pss_kib(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def total_pss_mib(state: Path) -> float:
    """PSS of every process of the lab's services (and their workers)."""
    sys.path.insert(0, str(REPO))
    from rally_osic.lab import config as lab_config
    from rally_osic.lab import procs, services

    config = lab_config.load(state)
    total = 0
    for service in services.build(config):
        pid = procs.running_pid(service)
        if pid:
            total += sum(
                pss_kib(member) for member in procs.service_pids(service, pid)
            )
    return round(total / 1024)


def rss(state: Path) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "rally_osic.cli",
            "lab",
            "status",
            "--json",
            "--state-dir",
            str(state),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    rows = json.loads(out.stdout)
    per_service = {row["name"]: row["rss_mib"] for row in rows}
    return {
        "services": per_service,
        "total_mib": sum(per_service.values()),
        "pss_total_mib": total_pss_mib(state),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--port-offset", type=int, default=2000)
    parser.add_argument("--venv-dir", type=Path, default=REPO / ".lab/venvs")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--services",
        default="",
        help="optional families for lab up --services (e.g. all)",
    )
    parser.add_argument("--controllers", type=int, default=1)
    args = parser.parse_args()
    if args.controllers > 1:
        root = Path(tempfile.mkdtemp(prefix="bench-lab-", dir="/var/tmp"))
        root.chmod(0o755)
    else:
        root = Path(tempfile.mkdtemp(prefix="bench-lab-"))
    results: dict = {"repeat": args.repeat, "controllers": args.controllers}
    rally_env = rally_home(root)
    state = root / "state"
    failed = True
    try:
        if args.cold:
            cold_venvs = root / "venvs"
            run = from_empty(root, args, cold_venvs, rally_env)
            run.pop("state")
            results["cold"] = run
            lab("down", "--state-dir", str(state))
            shutil.rmtree(cold_venvs, ignore_errors=True)
        empty, restart, noop, restart_load = [], [], [], []
        for index in range(args.repeat):
            run = from_empty(root, args, args.venv_dir.resolve(), rally_env)
            run.pop("state")
            empty.append(run)
            if index == 0:
                results["rss"] = rss(state)
            noop.append(lab("up", "--state-dir", str(state)))
            lab("down", "--state-dir", str(state))
            restart_load.append(round(load_average(), 1))
            restart.append(lab("up", "--state-dir", str(state)))
            lab("down", "--state-dir", str(state))
        results["empty"] = {
            key: statistics.median(run[key] for run in empty)
            for key in ("up", "env", "total")
        }
        results["empty"]["runs"] = [round(r["total"], 1) for r in empty]
        results["empty"]["load"] = [r["load"] for r in empty]
        results["restart"] = {
            "median": statistics.median(restart),
            "runs": [round(value, 1) for value in restart],
            "load": restart_load,
        }
        results["services"] = args.services or "core"
        results["noop"] = {"median": statistics.median(noop)}
        failed = False
    finally:
        # Also after a failed run (lab() exits): never leave a lab up.
        if (state / "lab.json").exists():
            subprocess.run(
                [sys.executable, "-m", "rally_osic.cli", "lab", "down"]
                + ["--state-dir", str(state)],
                capture_output=True,
                timeout=300,
            )
        if failed:
            print(f"logs of the failed run kept in {state}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


def report(results: dict) -> None:
    goals = GOALS if results.get("services", "core") == "core" else GOALS_ALL
    if results.get("controllers", 1) > 1:
        goals = GOALS_HA

    def verdict(value: float, goal: float) -> str:
        return "ok" if value < goal else "OVER GOAL"

    print(
        f"services: {results.get('services', 'core')}, controllers: "
        f"{results.get('controllers', 1)}"
    )

    if "cold" in results:
        cold = results["cold"]
        print(
            f"cold (venvs + state from nothing): {cold['total']:.1f} s "
            f"(up {cold['up']:.1f} s, env {cold['env']:.1f} s)"
        )
    empty = results["empty"]
    print(
        f"empty state -> ready Rally env: median {empty['total']:.1f} s "
        f"(up {empty['up']:.1f} s, env {empty['env']:.1f} s; runs "
        f"{empty['runs']}; load average {empty['load']}) goal < "
        f"{goals['empty']:.0f} s: {verdict(empty['total'], goals['empty'])}"
    )
    restart = results["restart"]
    print(
        f"lab up with existing state: median {restart['median']:.1f} s "
        f"(runs {restart['runs']}; load average {restart['load']}) goal < "
        f"{goals['restart']:.0f} s: "
        f"{verdict(restart['median'], goals['restart'])}"
    )
    print(f"lab up while running: median {results['noop']['median']:.1f} s")
    memory = results["rss"]
    print(
        f"RSS of all services: {memory['total_mib']} MiB (PSS "
        f"{memory['pss_total_mib']} MiB) goal < {goals['rss_mib']:.0f} MiB: "
        f"{verdict(memory['total_mib'], goals['rss_mib'])}"
    )
    for name, mib in memory["services"].items():
        print(f"  {name:27} {mib:5} MiB")


if __name__ == "__main__":
    sys.exit(main())

"""The README's demo: a real OpenStack lab, two fault tests, one report.

1. ``rally-osic lab up --computes fake`` (the main lab: state dir
   ``.lab`` or ``$RALLY_OSIC_LAB_DIR``, standard ports; only what is
   down starts; the libvirt hosts of an earlier demo are stopped, so
   that the fault tests boot on the fake computes);
2. ``rally-osic lab env`` into the demo's own Rally home ``out/demo/``
   (``HOME`` and ``OS_DATABASE__CONNECTION`` point there, so the user's
   own Rally database is never touched);
3. ``task_templates/keystone_restart_memcached.yaml``: Authenticate.keystone
   at 5 rps, memcached restarted after a 25 s baseline;
4. ``task_templates/nova_boot_kill_conductor.yaml``: Nova boot-and-delete
   at 0.5 rps, nova-conductor killed after 30 s and started 10 s later;
5. a host evacuation on real guests: ``rally-osic lab up --computes
   libvirt`` adds two libvirt hosts, then
   ``task_templates/live_migration_evacuation.yaml`` live-migrates 2
   QEMU guests to the other host and back twice (block migration), with
   the native and then the native TLS transport (``--no-evacuation``
   skips it);
6. the Rally JSON of the four tasks (``out/demo/results/``) and one
   whitepaper report of them, HTML and PDF, in ``out/demo/report/``;
7. prints the verdicts and where the report is. The lab keeps running
   (``rally-osic lab down`` stops it).

``--controllers 3`` runs the two fault tests on the study's topology
instead: a lab of its own (``.lab-3-controllers`` unless ``--state-dir``
says otherwise) with three controllers behind HAProxy, each fault on one
of them, and no evacuation.

Every step is bounded; a failure prints one line (with the log to read)
and exits non-zero. Logs of each step are in ``out/demo/logs/``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "out" / "demo"
LOGS = OUT / "logs"
RESULTS = OUT / "results"
REPORT = OUT / "report"
BIN = Path(sys.executable).parent
ENV_NAME = "osic-lab"
sys.path.insert(0, str(ROOT))
from rally_osic.lab.config import default_state_dir  # noqa: E402

# Resolved with the user's HOME, before the demo's Rally home replaces it
# (--state-dir overrides it).
LAB_DIR = default_state_dir()
LAB_OPTIONS: list[str] = []

TASKS = (
    (
        "keystone",
        "keystone_restart_memcached.yaml",
        # 50 s after the fault: a busy machine slows keystone for 20 s
        # after a memcached restart, and recovery must hold 10 s more.
        {"rps": 5, "duration": 75, "fault_at": 25},
        "Authenticate.keystone at 5 rps, memcached restarted at +25 s",
    ),
    (
        "nova",
        "nova_boot_kill_conductor.yaml",
        {
            "rps": 0.5,
            "duration": 90,
            "fault_at": 30,
            "outage": 10,
            "timeout": 90,
        },
        "Nova boot-and-delete at 0.5 rps, nova-conductor killed at +30 s "
        "for 10 s",
    ),
)


# The evacuation: the study's scenario, shrunk (the study had 6 servers
# and 20 round trips); lab env's task args for the libvirt hosts, and
# the transport of each run. Not tunnelled: the lab's default local
# storage means block migration, which libvirt 9.0 refuses to tunnel.
EVACUATION = {"servers": 2, "round_trips": 2, "flavor": "small"}
TRANSPORTS = ("native", "native_tls")
EVACUATE = True


class DemoError(Exception):
    """One line for the user."""


def tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        raise DemoError(f"{name} not found next to {sys.executable}")
    return found


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


def run(
    argv: list[str], log_name: str, timeout: float, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run ``argv``; stdout and stderr also go to ``logs/<log_name>``."""
    log = LOGS / log_name
    try:
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired as exc:
        log.write_text(f"$ {' '.join(argv)}\n(timed out)\n")
        raise DemoError(
            f"{Path(argv[0]).name} {argv[1]} did not finish within "
            f"{timeout:.0f} s; see {log}"
        ) from exc
    log.write_text(
        f"$ {' '.join(argv)}\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )
    return result


def last_line(result: subprocess.CompletedProcess) -> str:
    lines = (result.stderr.strip() or result.stdout.strip()).splitlines()
    return lines[-1] if lines else f"exit {result.returncode}"


def rally_env() -> dict:
    return {
        **os.environ,
        "HOME": str(OUT),
        "OS_DATABASE__CONNECTION": f"sqlite:///{OUT}/rally.sqlite",
    }


def lab_up(extra: tuple[str, ...]) -> None:
    if "libvirt" in extra:
        step(
            f"rally-osic lab up {' '.join(extra)}: two compute hosts with "
            "libvirtd and QEMU (the first run builds the guest image)"
        )
    else:
        step(
            f"rally-osic lab up, state in {LAB_DIR} (the first run builds "
            "venvs and the databases: a few minutes)"
        )
    started = time.monotonic()
    # Streamed: the first run takes minutes and says what it does.
    log = LOGS / "lab-up.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                tool("rally-osic"),
                "lab",
                "up",
                "--state-dir",
                str(LAB_DIR),
                *LAB_OPTIONS,
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )
        lines = []
        try:
            for line in proc.stdout:
                out.write(line)
                lines.append(line.rstrip())
                if line.startswith(("started", "lab is up")):
                    print(f"    {line.rstrip()}", flush=True)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if proc.returncode != 0:
        # The lab's own one-line error names the service's log file.
        error = next(
            (x for x in reversed(lines) if "error" in x.lower()),
            lines[-1] if lines else f"exit {proc.returncode}",
        )
        raise DemoError(f"lab up failed: {error} (output in {log})")
    print(f"    lab up took {time.monotonic() - started:.0f} s", flush=True)


def lab_env(env: dict) -> None:
    step(f"rally-osic lab env (Rally env '{ENV_NAME}' in {OUT})")
    if not (OUT / "rally.sqlite").exists():
        created = run(
            [tool("rally"), "db", "create"], "rally-db.log", 120, env
        )
        if created.returncode != 0:
            raise DemoError(f"rally db create failed: {last_line(created)}")
    result = run(
        [
            tool("rally-osic"),
            "lab",
            "env",
            "--state-dir",
            str(LAB_DIR),
            "--name",
            ENV_NAME,
        ],
        "lab-env.log",
        600,
        env,
    )
    if result.returncode != 0:
        raise DemoError(
            f"lab env failed: {last_line(result)} (see {LOGS / 'lab-env.log'})"
        )


def run_task(key: str, template: str, args: dict, env: dict) -> Path:
    before = set(
        run(
            [tool("rally"), "task", "list", "--uuids-only"], "x.log", 120, env
        ).stdout.split()
    )
    log_name = f"task-{key}.log"
    started = time.monotonic()
    result = run(
        [
            tool("rally"),
            "task",
            "start",
            str(ROOT / "task_templates" / template),
            "--task-args",
            json.dumps(args),
            "--deployment",
            ENV_NAME,
        ],
        log_name,
        900,
        env,
    )
    uuids = [
        uuid
        for uuid in run(
            [tool("rally"), "task", "list", "--uuids-only"], "x.log", 120, env
        ).stdout.split()
        if uuid not in before
    ]
    # 0: every SLA passed; 2: the task ran, some SLA failed (a result).
    if result.returncode not in (0, 2) or not uuids:
        raise DemoError(
            f"rally task start {template} failed: {last_line(result)} "
            f"(see {LOGS / log_name})"
        )
    out = RESULTS / f"{key}.json"
    exported = run(
        [
            tool("rally"),
            "task",
            "report",
            uuids[-1],
            "--json",
            "--out",
            str(out),
        ],
        f"export-{key}.log",
        300,
        env,
    )
    if exported.returncode != 0 or not out.exists():
        raise DemoError(
            f"rally task report --json failed: {last_line(exported)}"
        )
    print(
        f"    task {uuids[-1]} in {time.monotonic() - started:.0f} s, "
        f"JSON: {out.relative_to(ROOT)}",
        flush=True,
    )
    return out


def evacuations(env: dict) -> list[Path]:
    """The libvirt hosts, then one evacuation task per transport."""
    lab_up(("--computes", "libvirt"))
    lab_env(env)
    args_file = LAB_DIR / "live-migration-args.json"
    try:
        lab_args = json.loads(args_file.read_text())
    except (OSError, ValueError) as exc:
        raise DemoError(f"{args_file}: {exc}") from None
    results = []
    for transport in TRANSPORTS:
        step(
            "rally task start live_migration_evacuation.yaml: 2 QEMU guests "
            f"to the other host and back twice, {transport} transport "
            "(about 2 minutes)"
        )
        args = {**lab_args, **EVACUATION, "transport": transport}
        results.append(
            run_task(
                f"evacuation-{transport}",
                "live_migration_evacuation.yaml",
                args,
                env,
            )
        )
    return results


def print_verdicts(path: Path) -> bool:
    passed = True
    for task in json.loads(path.read_text())["tasks"]:
        for subtask in task["subtasks"]:
            for workload in subtask["workloads"]:
                print(f"    {subtask['title']}")
                for hook in workload.get("hooks") or []:
                    for result in hook.get("results") or []:
                        fault = result.get("fault") or {}
                        if fault.get("effective_at"):
                            print(
                                f"      {'hook':18} {fault.get('effect')}, "
                                f"came back: {fault.get('came_back')}; "
                                f"{fault.get('reason', '')}"
                            )
                for sla in workload["sla_results"].get("sla", []):
                    passed &= bool(sla["success"])
                    print(f"      {sla['criterion']:18} {sla['detail']}")
    return passed


def parse_args(argv: list[str]) -> None:
    global LAB_DIR, EVACUATE
    parser = argparse.ArgumentParser(
        description="Run the rally-osic demo against the local lab."
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=LAB_DIR,
        help="lab state directory (default: %(default)s)",
    )
    parser.add_argument(
        "--port-offset",
        type=int,
        help="for a new lab: added to every standard port (when another "
        "service already uses them)",
    )
    parser.add_argument(
        "--no-evacuation",
        action="store_true",
        help="skip the live-migration evacuation on real guests (about "
        "5 minutes of the demo)",
    )
    parser.add_argument(
        "--venv-dir",
        type=Path,
        help="for a new lab: where its services venvs are (or go)",
    )
    parser.add_argument(
        "--controllers",
        type=int,
        default=1,
        choices=(1, 3),
        help="3: the fault tests on the study's topology (three "
        "controllers behind HAProxy, each fault on one of them), in a lab "
        "of its own (default state dir: the main lab's plus "
        "'-3-controllers'); no evacuation (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    LAB_DIR = args.state_dir.resolve()
    EVACUATE = not args.no_evacuation
    if args.controllers > 1:
        if args.state_dir == parser.get_default("state_dir"):
            # A lab's controllers are fixed when it is created.
            LAB_DIR = LAB_DIR.with_name(
                f"{LAB_DIR.name}-{args.controllers}-controllers"
            )
        LAB_OPTIONS.extend(["--controllers", str(args.controllers)])
        # The libvirt hosts' relays reach RabbitMQ on 127.0.0.1 only, so
        # lab up refuses them beside several controllers.
        if EVACUATE:
            print(
                "demo: --controllers 3 runs no evacuation (the libvirt "
                "hosts need a lab of one controller)",
                flush=True,
            )
        EVACUATE = False
    if args.port_offset is not None:
        LAB_OPTIONS.extend(["--port-offset", str(args.port_offset)])
    if args.venv_dir:
        LAB_OPTIONS.extend(["--venv-dir", str(args.venv_dir.resolve())])


def main(argv: list[str]) -> int:
    parse_args(argv)
    started = time.monotonic()
    for folder in (LOGS, RESULTS):
        folder.mkdir(parents=True, exist_ok=True)
    env = rally_env()
    try:
        # The fault tests boot their servers on the fake computes only:
        # the libvirt hosts a previous demo added would give Nova's
        # scheduler real QEMU guests to boot at 0.5 rps.
        lab_up(("--computes", "fake"))
        lab_env(env)
        results = []
        for key, template, args, text in TASKS:
            seconds = args["duration"] + 25
            step(f"rally task start {template}: {text} (about {seconds} s)")
            results.append(run_task(key, template, args, env))
        if EVACUATE:
            results.extend(evacuations(env))
        step(f"rally-osic report -> {REPORT.relative_to(ROOT)}/ (HTML, PDF)")
        report = run(
            [
                tool("rally-osic"),
                "report",
                *map(str, results),
                "-o",
                str(REPORT),
                "--pdf",
            ],
            "report.log",
            600,
        )
        if report.returncode != 0:
            raise DemoError(
                f"rally-osic report failed: {last_line(report)} "
                f"(see {LOGS / 'report.log'})"
            )
    except DemoError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 1
    step("verdicts")
    all_passed = all([print_verdicts(path) for path in results])
    print(
        f"\nDemo done in {time.monotonic() - started:.0f} s"
        f"{'' if all_passed else ' (some SLA failed: see the report)'}.\n"
        f"  Report: {REPORT / 'report.html'}\n"
        f"          {REPORT / 'report.pdf'}\n"
        f"  Rally:  HOME={OUT} OS_DATABASE__CONNECTION=sqlite:///{OUT}/"
        "rally.sqlite rally task list\n"
        "  The lab keeps running; stop it with: rally-osic lab down"
        + ("" if LAB_DIR == ROOT / ".lab" else f" --state-dir {LAB_DIR}")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Run a study's plan with ``rally task start``, run by run.

Each run: check that the cloud is healthy (the fault hook's checks), render
the test's task, ``rally task start`` it with a tag of its own, export its
Rally JSON into the study folder, and check the cloud again. A run that
Rally could not finish (crashed, aborted, no task) is recorded as failed
and the study goes on; a service still down after a run stops it, unless
``keep_going``. An interruption (Ctrl-C, SIGTERM) stops Rally's task and
leaves every finished run on disk for ``--resume``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

from rally_osic import errors
from rally_osic.study import catalogue as cat
from rally_osic.study import folder as fo
from rally_osic.study import render as rd

HEALTH_POLL = 5.0
STOP_GRACE = 60.0  # for Rally to abort its task after Ctrl-C


class StudyStopped(errors.CommandError):
    exit_code = 1


@dataclasses.dataclass
class Options:
    keep_going: bool = False
    settle: float = 300.0  # how long the cloud may take to be healthy
    os_faults_config: str | None = None
    report: bool = True
    pdf: bool = False


class Rally:
    """The ``rally`` CLI, for the few commands a study needs."""

    def __init__(self, binary: str | None = None) -> None:
        sibling = pathlib.Path(sys.executable).with_name("rally")
        self.binary = (
            binary
            or (str(sibling) if sibling.exists() else None)
            or shutil.which("rally")
        )
        if not self.binary:
            raise StudyStopped("no 'rally' command found on this machine")

    def _run(self, *args: str, timeout: float = 300):
        return subprocess.run(
            [self.binary, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def env_extras(self, env: str) -> dict:
        shown = self._run("env", "show", "--env", env, "--json")
        if shown.returncode != 0:
            raise StudyStopped(f"Rally env {env!r} does not exist")
        try:
            return json.loads(shown.stdout).get("extras") or {}
        except ValueError:
            raise StudyStopped(
                f"'rally env show --env {env}' did not print JSON"
            ) from None

    def start(self, task_file: pathlib.Path, env: str, tag: str, log):
        """``rally task start``; the process, writing into ``log``."""
        with _sigint_passed_on():
            return self._popen(task_file, env, tag, log)

    def _popen(self, task_file, env, tag, log):
        return subprocess.Popen(
            [
                self.binary,
                "task",
                "start",
                str(task_file),
                "--env",
                env,
                "--tag",
                tag,
                "--no-use",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            # A group of its own, for _stop to reach its workers; Ctrl-C
            # reaches it through _stop.
            start_new_session=True,
        )

    def find(self, env: str, tag: str) -> str | None:
        listed = self._run(
            "task", "list", "--env", env, "--tag", tag, "--uuids-only"
        )
        uuids = listed.stdout.split() if listed.returncode == 0 else []
        return uuids[-1] if uuids else None

    def export(self, uuid: str) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            out = pathlib.Path(tmp) / "task.json"
            done = self._run(
                "task", "report", uuid, "--json", "--out", str(out)
            )
            if done.returncode != 0 or not out.exists():
                raise StudyStopped(
                    f"'rally task report {uuid} --json' failed: "
                    + _last_line(done.stderr or done.stdout)
                )
            return out.read_bytes()


@contextlib.contextmanager
def _sigint_passed_on():
    """Rally aborts its task on SIGINT, and that is how :func:`_stop` asks
    it to. A study started with SIGINT ignored (``nohup ... &``) would
    hand that on to Rally: let Rally start with it handled."""
    ignored = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    )
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def _last_line(text: str) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


class Health:
    """The fault hook's checks on the services of the cloud's os-faults
    config, but those that were already unhealthy when the study first
    ran (``down_at_start``; ``None``: the study's first run, which
    finds them)."""

    def __init__(
        self,
        config: dict | None,
        say: Callable[[str], None],
        down_at_start: list[str] | None = None,
    ):
        self.config = config
        self.names: list[str] = []
        self.down_at_start = down_at_start
        if config is None:
            say("no os-faults config: the cloud's health is not checked")
            return
        from rally_osic.faults import health

        names = health.checkable(config)
        if down_at_start is None:
            down = health.problems(config, names)
            self.down_at_start = sorted(down)
            for name, problem in sorted(down.items()):
                say(
                    f"already unhealthy, not checked between runs: {name}: "
                    f"{problem}"
                )
        else:
            down = set(down_at_start)
            for name in sorted(down & set(names)):
                say(f"unhealthy since the study began, not checked: {name}")
        self.names = [name for name in names if name not in down]

    def wait(self, settle: float) -> dict[str, str]:
        """Problems left after waiting up to ``settle`` seconds."""
        if not self.names:
            return {}
        from rally_osic.faults import health

        deadline = time.monotonic() + settle
        while True:
            problems = health.problems(self.config, self.names)
            if not problems or time.monotonic() >= deadline:
                return problems
            time.sleep(min(HEALTH_POLL, max(0.0, deadline - time.monotonic())))


def study_tag(plan: fo.Plan, number: str, run: int) -> str:
    """Rally's tag of one run: unique to the study, and to each time a
    test was run again (the run is found by its tag)."""
    again = next(
        (a["at"] for a in reversed(plan.again) if number in a["numbers"]),
        "",
    )
    seed = plan.created + (f" again {again}" if again else "")
    token = hashlib.sha256(seed.encode()).hexdigest()[:8]
    return f"osic-study-{token}-{number}-{run}"


def pending(folder: fo.StudyFolder, plan: fo.Plan) -> list[tuple[str, int]]:
    return [
        (test.number, run)
        for test in plan.tests
        for run in range(1, test.runs + 1)
        if not folder.done(test.number, run)
    ]


def clock(seconds: float) -> str:
    seconds = int(round(max(0.0, seconds)))
    days, rest = divmod(seconds, 86400)
    text = f"{rest // 3600}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}d {text}" if days else text


def run_plan(
    folder: fo.StudyFolder,
    plan: fo.Plan,
    catalogue: cat.Catalogue,
    rally: Rally,
    options: Options,
    say: Callable[[str], None],
) -> dict:
    """Run what is left of the plan; counts of what happened."""
    todo = pending(folder, plan)
    total = sum(test.runs for test in plan.tests)
    done_before = total - len(todo)
    counts = {"finished": 0, "failed": 0, "skipped_before": done_before}
    if not todo:
        say(f"nothing left to run: all {total} runs are in {folder.path}")
        return counts
    config = os_faults_config_of(rally, plan.env, options)
    health = Health(config, say, plan.down_at_start)
    if config is not None and plan.down_at_start is None:
        plan.down_at_start = health.down_at_start
        folder.save(plan)
    estimates = {
        number: cat.estimated_seconds(
            catalogue.get(number), planned_args(catalogue.get(number), plan)
        )
        for number in {number for number, _ in todo}
    }
    began = time.monotonic()
    checked = False  # the cloud was found healthy right after the last run
    for index, (number, run) in enumerate(todo):
        entry = catalogue.get(number)
        runs = next(t.runs for t in plan.tests if t.number == number)
        left = sum(estimates[n] for n, _ in todo[index:])
        say(
            f"[{done_before + index + 1}/{total}] {number} run {run} of "
            f"{runs}: {entry.title} · elapsed "
            f"{clock(time.monotonic() - began)} · about {clock(left)} left"
        )
        if not checked:
            _check_health(health, options, folder, f"before {number}", say)
        args = planned_args(entry, plan)
        if options.os_faults_config:
            # The hook inside Rally uses the config the study checks with.
            args.setdefault(
                "os_faults_config", os.path.abspath(options.os_faults_config)
            )
        text = rd.render(entry, args)
        task_file = folder.save_task(number, text)
        outcome = _one_run(folder, plan, rally, number, run, task_file)
        counts[outcome] += 1
        checked = _check_health(
            health, options, folder, f"after {number}", say
        )
    return counts


def planned_args(entry: cat.Entry, plan: fo.Plan) -> dict:
    """The study's args for this test, then those it was run again with
    (``--again``), which win."""
    variant = plan.variant if plan.variant in entry.variants else None
    args = cat.task_args(entry, plan.task_args, variant)
    own = next(
        (t.task_args for t in plan.tests if t.number == entry.number), {}
    )
    return cat.merged(args, own)


def os_faults_config_of(rally: Rally, env: str, options: Options):
    from rally_osic.faults import osf

    extras = rally.env_extras(env)
    hook = (
        {"config_file": options.os_faults_config}
        if options.os_faults_config
        else {}
    )
    try:
        config, _ = osf.find_config(hook, extras)
    except osf.FaultConfigError as exc:
        if options.os_faults_config:
            raise StudyStopped(str(exc).splitlines()[0]) from None
        return None
    return config


def _check_health(health, options, folder, when, say) -> bool:
    """True when healthy; stops the study (or, going on, says so)."""
    problems = health.wait(options.settle)
    if not problems:
        return True
    listed = "; ".join(f"{k}: {v}" for k, v in sorted(problems.items()))
    if options.keep_going:
        say(
            f"{when}: still unhealthy after {options.settle:g} s: {listed} "
            "(going on: --keep-going)"
        )
        return False
    raise StudyStopped(
        f"{when}: still unhealthy after {options.settle:g} s: {listed}. "
        f"Finished runs are in {folder.path}; bring the service back and "
        f"continue with: rally-osic study run --resume {folder.path}"
    )


def _one_run(folder, plan, rally, number, run, task_file) -> str:
    tag = study_tag(plan, number, run)
    logs = folder.path / "logs"
    logs.mkdir(exist_ok=True)
    with open(logs / f"{number}-run-{run}.log", "wb") as log:
        process = rally.start(task_file, plan.env, tag, log)
        try:
            process.wait()
        except BaseException:
            _stop(process)
            raise
    uuid = rally.find(plan.env, tag)
    record = {"number": number, "run": run, "uuid": uuid, "tag": tag}
    if uuid is None:
        tail = _last_line(
            (logs / f"{number}-run-{run}.log").read_text(errors="replace")
        )
        folder.save_failure(number, run, {**record, "reason": tail})
        return "failed"
    report = rally.export(uuid)
    try:
        status = json.loads(report)["tasks"][0]["status"]
    except (ValueError, KeyError, IndexError, TypeError):
        status = "unreadable"
    if status != "finished":
        folder.save_failure(
            number,
            run,
            {**record, "status": status, "reason": f"Rally task {status}"},
        )
        return "failed"
    folder.save_run(number, run, report)
    return "finished"


def _stop(process: subprocess.Popen) -> None:
    """Rally aborts its task on SIGINT: send it to Rally's process group
    (its runner's worker processes are in it), give it time, then kill
    what is left of the group, so that no worker goes on loading the
    cloud after the study stopped. Rally is reaped only after that: an
    unreaped Rally keeps its group's number from being reused."""
    if process.returncode is not None:
        return
    try:
        if not _exited(process.pid, 0):
            _signal_group(process.pid, signal.SIGINT)
            _exited(process.pid, STOP_GRACE)
    finally:
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()


def _exited(pid: int, seconds: float) -> bool:
    """Whether ``pid`` has exited within ``seconds``, without reaping it."""
    deadline = time.monotonic() + seconds
    while True:
        state = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
        if state is not None or time.monotonic() >= deadline:
            return state is not None
        time.sleep(0.2)


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def write_outline(
    folder: fo.StudyFolder, plan: fo.Plan, catalogue: cat.Catalogue
) -> pathlib.Path:
    """The report's outline: what was planned, and what did not run."""
    import yaml

    numbers = ", ".join(t.number for t in plan.tests) or "none"
    introduction = (
        f"Tests of the OSIC studies' catalogue run against the Rally env "
        f"{plan.env}: {numbers}."
    )
    lines = []
    for skipped in plan.skipped:
        lines.append(
            f"Not run: {skipped['number']} {skipped['title']}: "
            f"{skipped['reason']}."
        )
    for again in plan.again:
        lines.append(
            f"Run again: {', '.join(again['numbers'])}, with "
            f"{_flat(again['task_args'])} over the args they last ran "
            f"with; the earlier runs are kept in runs/<number>/superseded-"
            f"{again['at']}/."
        )
    for failure in folder.failures():
        number = failure.get("number", "?")
        title = ""
        try:
            title = " " + catalogue.get(str(number)).title
        except errors.CommandError:
            pass
        lines.append(
            f"Failed run: {number}{title}, run {failure.get('run', '?')}: "
            f"{failure.get('reason', 'unknown')}."
        )
    outline = {
        "title": "Service availability and live-migration study",
        "introduction": introduction,
    }
    if lines:
        outline["conclusion"] = "\n\n".join(lines)
    path = folder.path / "outline.yaml"
    from rally_osic.files import write_atomic

    write_atomic(path, yaml.safe_dump(outline, sort_keys=False))
    return path


def _flat(args: dict, prefix: str = "") -> str:
    """``{"a": {"b": 1}}`` as ``a.b=1``, for a sentence."""
    parts = []
    for key, value in args.items():
        if isinstance(value, dict) and value:
            parts.append(_flat(value, f"{prefix}{key}."))
        else:
            parts.append(f"{prefix}{key}={json.dumps(value)}")
    return ", ".join(parts) or "no change"


def report(folder: fo.StudyFolder, outline: pathlib.Path, pdf: bool) -> int:
    results = folder.results()
    if not results:
        return 0
    command = [
        sys.executable,
        "-m",
        "rally_osic.cli",
        "report",
        *map(str, results),
        "-o",
        str(folder.path / "report"),
        "--outline",
        str(outline),
        "--quiet",
    ]
    if pdf:
        command.append("--pdf")
    return subprocess.run(command, env=dict(os.environ)).returncode

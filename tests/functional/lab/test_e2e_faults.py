"""End to end: the task templates, for real, against the test lab.

Each test runs ``rally task start task_templates/<template>`` (short task
args: a 25-40 s baseline, 35-60 s after the fault) against the session's lab
and checks, from the exported Rally JSON:

* the ``osic_fault`` hook saw the fault take effect and the service come
  back (its ``fault`` record), and the fault SLAs used that measured time;
* the SLA verdicts agree with what really happened. Independently of
  Rally and the hook, a thread probes the faulted service's TCP port every
  50 ms during the run: the port's closed window is the outage a client
  sees (connection refused). ``fault_downtime`` must match it (for
  memcached under keystone, a dependency only some calls need: be at most
  as long) within

      the SLA's own uncertainty (± half the gaps to the neighbouring
      successful calls) + one sampling interval (the longest gap between
      two iteration starts: an outage edge falls anywhere between two
      calls; about 1 / rps, but Rally's rps runner starts calls in pairs
      from its worker processes) + 0.15 s (two probe periods, and
      a call reaches the socket a few ms to 0.1 s after the iteration
      starts, its authentication first).

  The hook's own outage (``effective_at`` -> ``healthy_at``) is longer for
  the web APIs: gunicorn listens again before its workers have loaded the
  app, and calls made then wait and succeed (slow: degradation, not
  downtime) until the health URL answers. The tests check that the port
  window lies inside the hook's outage and print both.
  Nova under a nova-conductor kill has no port: calls wait in RabbitMQ
  instead of failing, and the backlog keeps nova slow for 30-100 s (in
  some runs past the end of the load). Its verdicts are checked against
  the data instead of required to pass: the failure rate, degradation
  present, and "still degraded" means the last running-mean window is
  above the baseline's p95. Neutron's verdicts are checked against the
  data the same way (slower last seconds after its recovery are a
  relapse, but its level can also drift up for good);
* the stored verdicts are exactly what ``rally-osic verdicts`` computes
  from the stored run (the SLAs, the report and the CLI share one code
  path);
* the report renders: ``rally-osic report`` of each result writes
  report.html, and the last test renders the whole set as one PDF.

The tests share one lab and one Rally (tests/functional/lab/conftest.py)
and run the tasks one after the other (the lab and Rally share 2 cores).
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rally_osic.lab import config as lab_config

pytestmark = pytest.mark.functional

REPO = Path(__file__).resolve().parents[3]
TEMPLATES = REPO / "task_templates"
PROBE_PERIOD = 0.05
EDGE = 0.15  # two probe periods + the call's way to the socket (see above)
FAULT_AT_RE = re.compile(r"fault at \+([0-9.]+) s, (measured|trigger)")
DOWNTIME_RE = re.compile(r"downtime ([0-9.]+) s ± ([0-9.]+) s")
DEGRADED_RE = re.compile(r"degraded ([0-9.]+) s")
RECOVERED_RE = re.compile(r"recovered ([0-9.]+) s after")
THRESHOLD_RE = re.compile(r"threshold p95 = ([0-9.]+) s")


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    template: str
    args: dict
    port_of: str | None  # lab service whose port is probed
    came_back: str  # restart: itself; kill + restore_after: restore
    why: str
    # The lab's nova (after a conductor kill) and neutron are too variable
    # on 2 cores to promise a PASS of every criterion; their verdicts are
    # checked against the data instead.
    must_pass: bool = True
    # Instead of every criterion: no call failed outside the fault, the
    # downtime passed, and the service got back to its baseline (a window
    # of calls at or under the threshold after it was healthy again).
    # What follows that is judged from the data: in one CI-like run the
    # restarted glance was back at 0.11 s a call within 2 s, held it 9 s,
    # then drifted to 0.15-0.30 s (2x) for the last 26 s of the run, and
    # fault_recovery read "never recovered: still degraded", as the data
    # say.
    must_recover: bool = False
    # The probed port is a dependency that only some calls need: calls
    # fail at most while it is closed, and may all succeed.
    dependency: bool = False

    def __str__(self) -> str:
        return self.name


# Baselines, tails and SLA settings, from runs on this 2-core machine:
# with stress-ng holding 60 % of both cores, keystone took up to 16 s after
# a memcached restart and neutron 20 s after its restart to get back to
# baseline; a CI run with 20 s tails ended both still degraded. Neutron's
# level also drifts by 20-30 % between quiet stretches (0.22 s vs 0.30 s a
# call), which a 20 s baseline does not see. Hence longer baselines and
# tails, a wider running mean (keystone's baseline is tight: p95 only 25 %
# above its mean, so a 2 s hiccup of a busy runner would count), and
# max_degraded 60, which keeps these tests about recovery rather than a
# policy limit on a slow machine. On a loaded run (load average 6) the
# restarted glance, one gunicorn worker, got calls at 5 rps faster than it
# served them: 15 s calls, still draining 25 s later. The kill tests run
# at 3 rps to leave it headroom. The lab's services are cold at their
# first calls (up to 4 s each), so the first 10 calls are no baseline.
STEADY_5RPS = {"window": 25, "persistence": 10, "warmup_iterations": 10}
STEADY_3RPS = {"window": 15, "persistence": 6, "warmup_iterations": 10}
KILL_FOR_5S = {
    "rps": 3,
    "duration": 70,
    "fault_at": 25,
    "outage": 5,
    "max_degraded": 60,
    "fault_analysis": STEADY_3RPS,
}
CASES = [
    Case(
        "keystone-memcached-restart",
        "keystone_restart_memcached.yaml",
        {
            "rps": 5,
            "duration": 65,
            "fault_at": 30,
            "max_degraded": 60,
            "fault_analysis": STEADY_5RPS,
        },
        "memcached",
        "itself",
        "a restart is stop + start: memcached's port is closed for a few "
        "hundred ms; keystone fails (500) only for calls that need the "
        "cache then, and is slow while the cache is cold",
        # Back at baseline 6-8 s after the restart in most runs; in one
        # quiet CI-like run keystone was back after 5 s and then drifted
        # slower for the rest of the run (median 54 ms rising to 67 ms
        # against 40-46 ms before the fault): "never recovered: still
        # degraded", which the data bear out. The verdict is checked
        # against the data, as for nova and neutron; downtime and the
        # hook's record must still match the truth.
        must_pass=False,
        # A CI run: memcached's port closed for 0.46 s, no call failed.
        dependency=True,
    ),
    Case(
        "keystone-kill",
        "keystone_kill_keystone.yaml",
        KILL_FOR_5S,
        "keystone",
        "restore",
        "kill -9 of gunicorn: connection refused until the hook's restore "
        "(5 s later) binds the port again",
        must_pass=False,
        must_recover=True,
    ),
    Case(
        "glance-kill",
        "glance_kill_glance_api.yaml",
        KILL_FOR_5S,
        "glance",
        "restore",
        "kill -9 of gunicorn: connection refused until the hook's restore "
        "(5 s later) binds the port again",
        must_pass=False,
        must_recover=True,
    ),
    Case(
        "nova-conductor-kill",
        "nova_boot_kill_conductor.yaml",
        # 0.5 rps: what the lab's nova sustains on 2 cores (boots take
        # 3-5 s); the slow-down after the restart lasts 20-30 s, hence the
        # 50 s tail (a longer slow-down is judged from the data). timeout:
        # a boot whose RPC message died with the conductor would wait
        # 300 s in BUILD.
        {
            "rps": 0.5,
            "duration": 80,
            "fault_at": 30,
            "outage": 8,
            "timeout": 90,
        },
        None,
        "restore",
        "RPC calls to the conductor wait in RabbitMQ: boots stall, then "
        "the backlog slows nova for 30-100 s; boots may time out",
        must_pass=False,
    ),
    Case(
        "neutron-server-restart",
        "neutron_restart_neutron_server.yaml",
        {
            "rps": 2,
            # 60 s after the restart, which most runs need 10-20 s of. In
            # one quiet CI-like run the restarted neutron-server (one
            # gunicorn worker, 8 threads) answered in 7-13 s for 55 s, a
            # backlog that 2 calls a second kept up until it drained. A
            # run that ends degraded is judged "never recovered", and the
            # verdict, whatever it is, is checked against the data below.
            "duration": 100,
            "fault_at": 40,
            "max_degraded": 60,
            "fault_analysis": {
                "window": 15,
                "persistence": 6,
                "warmup_iterations": 10,
            },
        },
        "neutron",
        "itself",
        "graceful stop (connection reset / refused) then start: refused "
        "until the new master binds the port",
        # Back to its baseline 10-20 s after the restart in most runs, 64 s
        # in the slowest seen (above); its baseline is tight (p95 0.25 s
        # for 0.19 s calls), and slower last seconds after that are a
        # relapse, not a failure to recover. But in one CI-like run it was
        # back at baseline 10 s after the restart, held it 30 s, then
        # drifted up to 1.4x (0.27 s a call) for the last 90 s of the load:
        # "never recovered: still degraded", as the data say. So its
        # verdicts, recovery included, are checked against the data.
        must_pass=False,
    ),
]


class PortWatch(threading.Thread):
    """Probe a TCP port on 127.0.0.1 every ``PROBE_PERIOD`` seconds."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.samples: list[tuple[float, bool]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            t = time.time()
            try:
                with socket.create_connection(
                    ("127.0.0.1", self.port), timeout=0.2
                ):
                    is_open = True
            except OSError:
                is_open = False
            self.samples.append((t, is_open))
            self._halt.wait(PROBE_PERIOD)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)

    def closed_window(self) -> tuple[float, float] | None:
        """(first closed sample, first open sample after it), or None."""
        closed = next((t for t, ok in self.samples if not ok), None)
        if closed is None:
            return None
        reopened = next(
            (t for t, ok in self.samples if ok and t > closed), None
        )
        assert reopened is not None, f"port {self.port} never reopened"
        return closed, reopened


@pytest.fixture(scope="module")
def running_lab(lab):
    """The session's lab, started again if a test took it down."""
    result = lab.cli("up", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return lab


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("e2e-results")


def render_report(results: list[Path], out: Path, *options: str):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "rally_osic.cli",
            "report",
            *map(str, results),
            "-o",
            str(out),
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _fault_slas_pass(slas: dict[str, dict]) -> bool:
    return all(
        slas[name]["success"]
        for name in ("fault_downtime", "fault_degradation", "fault_recovery")
    )


def _sla(workload: dict) -> dict[str, dict]:
    return {s["criterion"]: s for s in workload["sla_results"]["sla"]}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_template_under_real_fault(case, running_lab, lab_rally, results_dir):
    config = lab_config.load(running_lab.state_dir)
    watch = PortWatch(config.port(case.port_of)) if case.port_of else None
    if watch:
        watch.start()
    started = time.monotonic()
    try:
        run, uuid = lab_rally.start_template(
            TEMPLATES / case.template,
            case.args,
            "--deployment",
            "osic-lab",
            timeout=420,
        )
    finally:
        if watch:
            watch.stop()
    wall = time.monotonic() - started
    assert uuid, run.stdout[-3000:] + run.stderr[-2000:]
    report = lab_rally.report_json(uuid)
    out = results_dir / f"{case.name}.json"
    out.write_text(json.dumps(report))
    task = report["tasks"][0]
    assert task["status"] == "finished", run.stdout[-3000:] + run.stderr
    [workload] = task["subtasks"][0]["workloads"]
    iterations = workload["data"]
    # The sampling interval: Rally's rps runner splits the rate over its
    # worker processes, so starts come in pairs (at 2 rps: gaps of 0.26
    # and 0.74 s); the longest gap between two starts is the interval.
    starts = sorted(it["timestamp"] for it in iterations)
    interval = max(b - a for a, b in zip(starts, starts[1:]))
    slas = _sla(workload)
    details = "\n".join(s["detail"] for s in slas.values())
    # 0: every SLA passed; 2: the task ran and some SLA failed.
    all_passed = all(s["success"] for s in slas.values())
    assert run.returncode == (0 if all_passed else 2), run.stdout[-3000:]
    if case.must_pass:
        assert all_passed, details
    # The stored verdicts are what rally-osic verdicts computes from the
    # stored run: one code path for the SLAs, the report and the CLI.
    rejudged = subprocess.run(
        [
            sys.executable,
            "-m",
            "rally_osic.cli",
            "verdicts",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rejudged.returncode == (0 if _fault_slas_pass(slas) else 1), (
        rejudged.stderr
    )
    again = {
        row["criterion"]: (row["success"], row["detail"])
        for row in map(json.loads, rejudged.stdout.splitlines())
    }
    assert again == {
        name: (slas[name]["success"], slas[name]["detail"])
        for name in ("fault_downtime", "fault_degradation", "fault_recovery")
    }
    max_rate = case.args.get("max_failure_rate", 25)
    rate = 100.0 * sum(1 for it in iterations if it["error"]) / len(iterations)
    assert slas["failure_rate"]["success"] == (rate <= max_rate), details
    assert set(slas) == {
        "failure_rate",
        "fault_downtime",
        "fault_degradation",
        "fault_recovery",
    }

    # The hook saw the effect and the recovery.
    [hook] = workload["hooks"]
    [result] = hook["results"]
    assert result["status"] == "success", result.get("error")
    fault = result["fault"]
    assert fault["effective_at"] and fault["healthy_at"], fault
    assert fault["came_back"] == case.came_back, fault
    assert not fault["restore_needed"], fault  # planned restore only
    # The effect was observed while the hook acted on the target (how
    # soon is a benchmark's business, not a test's).
    assert fault["triggered_at"] <= fault["effective_at"], fault
    assert fault["effective_at"] <= result["finished_at"], fault
    outage = fault["healthy_at"] - fault["effective_at"]

    # Every fault SLA judged from the hook's measured effective_at.
    origin = min(it["timestamp"] for it in iterations)
    fault_at = fault["effective_at"] - origin
    for name in ("fault_downtime", "fault_degradation", "fault_recovery"):
        m = FAULT_AT_RE.search(slas[name]["detail"])
        assert m and m.group(2) == "measured", slas[name]["detail"]
        assert abs(float(m.group(1)) - fault_at) <= 0.051
    baseline_ok = [
        it
        for it in iterations
        if not it["error"]
        and it["timestamp"] + it["duration"] < fault["effective_at"]
    ]
    assert len(baseline_ok) >= 10, "baseline too small"

    # The failures are the fault's: none ended before it took effect.
    failed = sorted(
        (it for it in iterations if it["error"]),
        key=lambda it: it["timestamp"],
    )
    for it in failed:
        assert it["timestamp"] + it["duration"] >= fault["effective_at"] - (
            EDGE
        ), (it["timestamp"] - origin, it["error"][:2])

    m = DOWNTIME_RE.search(slas["fault_downtime"]["detail"])
    assert m, slas["fault_downtime"]["detail"]
    downtime, uncertainty = float(m[1]), float(m[2])
    degradation = slas["fault_degradation"]["detail"]
    degraded = float(DEGRADED_RE.search(degradation)[1])
    recovery = slas["fault_recovery"]["detail"].split(" (limit")[0]
    line = (
        f"{case.name}: SLA downtime {downtime:.1f} ± {uncertainty:.1f} s, "
        f"hook outage {outage:.2f} s ({fault['effect']}, came back "
        f"{fault['came_back']}), {len(failed)} failed of "
        f"{len(iterations)}, degraded {degraded:.1f} s, {recovery}; "
        f"SLAs {'all PASS' if all_passed else 'some FAIL'}; wall {wall:.0f} s"
    )
    if watch:
        window = watch.closed_window()
        assert window, f"the probe never saw port {watch.port} closed"
        closed, reopened = window
        # Calls fail from the moment the hook saw the effect: for a
        # graceful stop the health check fails and calls are reset
        # before the port closes.
        port_outage = reopened - min(closed, fault["effective_at"])
        line += (
            f"; effect to port open {port_outage:.2f} s (closed "
            f"{reopened - closed:.2f} s)"
        )
        # The port window lies inside the hook's outage ...
        assert closed >= fault["effective_at"] - EDGE, (closed, fault)
        assert reopened <= fault["healthy_at"] + EDGE, (reopened, fault)
        # ... and is the downtime the calls saw (tolerance: see the top).
        tolerance = uncertainty + interval + EDGE
        if case.dependency:
            assert downtime <= port_outage + tolerance, line
        else:
            assert abs(downtime - port_outage) <= tolerance, line
        # No failure after the port reopened (edge: one call in flight).
        for it in failed:
            assert it["timestamp"] <= reopened + EDGE, line
    else:
        # Nova: no port, and the clients' outage is not the conductor's:
        # boots wait in RabbitMQ (degradation), then the backlog keeps
        # nova slow and some boots may time out. The first failure is a
        # call in flight at the fault or made after it.
        assert degraded > 0, line
        if failed:
            in_flight = max(it["duration"] for it in baseline_ok)
            first = failed[0]["timestamp"]
            assert first >= fault["effective_at"] - in_flight - interval
    window = case.args.get("fault_analysis", {}).get("window", 9)
    check_recovery_verdict(
        slas, iterations, window, downtime - uncertainty, line
    )
    if case.must_recover:
        for name in ("failure_rate", "fault_downtime"):
            assert slas[name]["success"], (name, details)
        threshold = float(THRESHOLD_RE.search(degradation)[1])
        back = back_at_baseline(
            iterations, fault["healthy_at"], threshold, window
        )
        assert back is not None, (line, threshold)
        line += f"; back at baseline {back - fault['healthy_at']:.1f} s "
        line += "after healthy"
    print(f"\n{line}", file=sys.stderr)
    (results_dir / f"{case.name}.txt").write_text(line + "\n")

    # The report of this run renders.
    out_dir = results_dir / f"report-{case.name}"
    rendered = render_report([out], out_dir)
    assert rendered.returncode == 0, rendered.stderr
    html = (out_dir / "report.html").read_text()
    scenario = next(iter(workload["scenario"]))
    assert scenario in html
    assert hook["config"]["description"] in html
    verdicts = (out_dir / "fault-verdicts.xml").read_text()
    failures = sum(
        1
        for name in ("fault_downtime", "fault_degradation", "fault_recovery")
        if not slas[name]["success"]
    )
    assert f'failures="{failures}"' in verdicts


def test_whole_set_renders_as_one_pdf(results_dir):
    results = sorted(results_dir.glob("*.json"))
    if not results:
        pytest.skip("no e2e result to render")
    out_dir = results_dir / "report"
    started = time.monotonic()
    rendered = render_report(results, out_dir, "--pdf")
    assert rendered.returncode == 0, rendered.stderr
    pdf = (out_dir / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    assert len(list((out_dir / "charts").glob("*.png"))) == len(results)
    print(
        f"\nreport of {len(results)} runs (HTML + PDF) in "
        f"{time.monotonic() - started:.1f} s: {out_dir}",
        file=sys.stderr,
    )


def back_at_baseline(iterations, since, threshold, window):
    """When the first ``window`` successive successful calls started
    after ``since`` average at or under ``threshold``; None if never."""
    ok = sorted(
        (
            it
            for it in iterations
            if not it["error"] and it["timestamp"] >= since
        ),
        key=lambda it: it["timestamp"],
    )
    for first in range(len(ok) - window + 1):
        calls = ok[first : first + window]
        if sum(it["duration"] for it in calls) / window <= threshold:
            return calls[-1]["timestamp"]
    return None


def check_recovery_verdict(slas, iterations, window, earliest, line=""):
    """``fault_recovery``'s verdict, whatever it is, agrees with the data.

    ``earliest``: no recovery can be earlier (the downtime's lower edge);
    ``window``: the running mean's width in calls.
    """
    detail = slas["fault_recovery"]["detail"]
    line = line or detail
    last = max(iterations, key=lambda it: it["timestamp"])
    if slas["fault_recovery"]["success"]:
        # Back to baseline after the service was healthy again: not
        # before the last failure, and the run ends recovered.
        recovered = float(RECOVERED_RE.search(detail)[1])
        assert recovered >= earliest, line
        assert not last["error"], line
    elif "run too short" in detail:
        # Undetermined: the run ended healthy, but within a hold period of
        # its last trouble.
        assert not last["error"], line
    elif "still degraded" in detail:
        # Check it: the last running-mean window (the last `window`
        # successful calls) is above the degradation threshold (the
        # baseline's p95).
        threshold = float(
            THRESHOLD_RE.search(slas["fault_degradation"]["detail"])[1]
        )
        ok = sorted(
            (it for it in iterations if not it["error"]),
            key=lambda it: it["timestamp"],
        )
        tail = [it["duration"] for it in ok[-window:]]
        assert sum(tail) / len(tail) > threshold, (line, tail, threshold)
    else:
        # Still failing: failures among the last cluster_gap (5) calls.
        assert "still failing" in detail, line
        by_start = sorted(iterations, key=lambda it: it["timestamp"])
        assert any(it["error"] for it in by_start[-5:]), line

"""End to end: the lab's Cinder, Swift and Neutron agents under real faults.

The session's lab gains every optional family (``lab up --services
all``), then each test runs a template with ``rally task start`` and
checks, from the exported Rally JSON, as tests/functional/lab/
test_e2e_faults.py does: the ``osic_fault`` hook's record (the effect
and the recovery it measured), that the fault SLAs used that measured
time, and the verdicts against what really happened:

* cinder-api and swift-proxy-server killed for 5 s: an independent
  50 ms probe of the API's port sees the outage, and ``fault_downtime``
  matches it (tolerance: the SLA's own ± plus one sampling interval plus
  0.15 s, see test_e2e_faults.py). Swift's client tries a refused call
  again a second later, so its calls fail only until that long before
  the port reopens: the expected downtime is the port's outage less the
  time a failed call took to give up;
* swift-object-replicator killed: a background daemon, which the API
  must not notice: no failed call, no downtime, every SLA passes;
* neutron-dhcp-agent killed for 25 s under NeutronNetworks.list_agents:
  the API does not notice either, while neutron's own agent list, polled
  once a second by the test, shows the agent dead (agent_down_time 15 s)
  and alive again after the hook started it;
* every test of the study catalogue that current releases still have,
  rendered with the lab samples' task args, passes ``rally task
  validate`` against the lab's env.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import time

import pytest

from rally_osic.lab import config as lab_config
from tests.functional.lab.test_e2e_faults import (
    DOWNTIME_RE,
    EDGE,
    FAULT_AT_RE,
    REPO,
    TEMPLATES,
    PortWatch,
    check_recovery_verdict,
    render_report,
)

pytestmark = pytest.mark.functional

# As in test_e2e_faults.py: about 5 s running-mean windows, the cold
# first calls out of the baseline, room for a slow 2-core machine.
STEADY = {"window": 10, "persistence": 5, "warmup_iterations": 10}


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    template: str
    args: dict
    port_of: str | None  # BASE_PORTS name of the API probed
    api_unaffected: bool  # a background service: no failure expected
    # The client tries a refused call again after a backoff: rally-
    # openstack builds its swiftclient Connection with retries=1, and
    # swiftclient sleeps starting_backoff (1 s) before the second try.
    client_retries: bool = False

    def __str__(self) -> str:
        return self.name


# 30 s after the restore: the verdict is checked against the data.
KILL_5S = {
    "duration": 60,
    "fault_at": 25,
    "outage": 5,
    "max_degraded": 60,
    "fault_analysis": STEADY,
}
CASES = [
    Case(
        "cinder-api-kill",
        "cinder_kill_cinder_api.yaml",
        {"rps": 2, **KILL_5S},
        "cinder",
        False,
    ),
    Case(
        "swift-proxy-kill",
        "swift_kill_swift_proxy.yaml",
        {"rps": 2, **KILL_5S},
        "swift-proxy",
        False,
        client_retries=True,
    ),
    Case(
        "swift-object-replicator-kill",
        "swift_kill_swift_proxy.yaml",
        {"rps": 2, "service": "swift-object-replicator", **KILL_5S},
        None,
        True,
    ),
    Case(
        "neutron-dhcp-agent-kill",
        "neutron_kill_dhcp_agent.yaml",
        {
            "rps": 2,
            "duration": 90,
            "fault_at": 25,
            # Longer than agent_down_time (15 s) + one report (5 s).
            "outage": 25,
            "max_degraded": 60,
            "fault_analysis": STEADY,
        },
        None,
        True,
    ),
]


@pytest.fixture(scope="module")
def services_lab(lab):
    started = time.monotonic()
    result = lab.cli("up", "--services", "all", timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    print(
        f"\nlab up --services all on the running lab: "
        f"{time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )
    return lab


@pytest.fixture(scope="module")
def services_rally(services_lab, lab_rally):
    # The env's os-faults config must name the new services.
    result = services_lab.cli("env", "--name", "osic-lab", env=lab_rally.env)
    assert result.returncode == 0, result.stdout + result.stderr
    return lab_rally


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("e2e-services")


class AgentWatch(threading.Thread):
    """neutron's alive flag of one agent type, once a second."""

    def __init__(self, config, agent_type: str) -> None:
        super().__init__(daemon=True)
        self.config, self.agent_type = config, agent_type
        self.samples: list[tuple[float, bool | None]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        from rally_osic.lab import catalog

        sess = catalog.admin_session(self.config, timeout=5)
        network = {"service_type": "network", "interface": "public"}
        while not self._halt.is_set():
            t = time.time()
            try:
                agents = sess.get(
                    "/v2.0/agents", endpoint_filter=network
                ).json()["agents"]
                [agent] = [
                    a for a in agents if a["agent_type"] == self.agent_type
                ]
                alive = agent["alive"]
            except Exception:  # noqa: BLE001 - a failed poll is no sample
                alive = None
            self.samples.append((t, alive))
            self._halt.wait(1.0)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)


def _sla(workload: dict) -> dict[str, dict]:
    return {s["criterion"]: s for s in workload["sla_results"]["sla"]}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_service_under_real_fault(
    case, services_lab, services_rally, results_dir
):
    config = lab_config.load(services_lab.state_dir)
    watch = PortWatch(config.port(case.port_of)) if case.port_of else None
    agents = None
    if case.template.startswith("neutron"):
        agents = AgentWatch(config, "DHCP agent")
    for thread in (watch, agents):
        if thread:
            thread.start()
    started = time.monotonic()
    try:
        run, uuid = services_rally.start_template(
            TEMPLATES / case.template,
            case.args,
            "--deployment",
            "osic-lab",
            timeout=420,
        )
    finally:
        for thread in (watch, agents):
            if thread:
                thread.stop()
    wall = time.monotonic() - started
    assert uuid, run.stdout[-3000:] + run.stderr[-2000:]
    report = services_rally.report_json(uuid)
    out = results_dir / f"{case.name}.json"
    out.write_text(json.dumps(report))
    task = report["tasks"][0]
    assert task["status"] == "finished", run.stdout[-3000:] + run.stderr
    [workload] = task["subtasks"][0]["workloads"]
    iterations = workload["data"]
    starts = sorted(it["timestamp"] for it in iterations)
    interval = max(b - a for a, b in zip(starts, starts[1:]))
    slas = _sla(workload)
    details = "\n".join(s["detail"] for s in slas.values())
    all_passed = all(s["success"] for s in slas.values())
    assert run.returncode == (0 if all_passed else 2), run.stdout[-3000:]

    # The hook saw the target die and come back (the planned restore).
    [hook] = workload["hooks"]
    [result] = hook["results"]
    assert result["status"] == "success", result.get("error")
    fault = result["fault"]
    assert fault["effective_at"] and fault["healthy_at"], fault
    assert fault["came_back"] == "restore", fault
    assert not fault["restore_needed"], fault
    assert 0 <= fault["effective_at"] - fault["triggered_at"] < 2, fault
    # Whichever the hook saw first: the process gone (its watcher) or,
    # for an API, the health URL refused (its checker, same instant).
    assert fault["effect"] in (
        "process gone",
        "processes partly gone",
        "health check failing",
    ), fault
    pids_before = [p for ps in fault["pids_before"].values() for p in ps]
    pids_after = [p for ps in fault["pids_after"].values() for p in ps]
    assert (
        pids_before and pids_after and not set(pids_before) & set(pids_after)
    ), fault
    outage = fault["healthy_at"] - fault["effective_at"]
    assert outage >= case.args["outage"] - 0.5, fault

    origin = min(it["timestamp"] for it in iterations)
    fault_at = fault["effective_at"] - origin
    for name in ("fault_downtime", "fault_degradation", "fault_recovery"):
        m = FAULT_AT_RE.search(slas[name]["detail"])
        assert m and m.group(2) == "measured", slas[name]["detail"]
        assert abs(float(m.group(1)) - fault_at) <= 0.051
    failed = sorted(
        (it for it in iterations if it["error"]),
        key=lambda it: it["timestamp"],
    )
    m = DOWNTIME_RE.search(slas["fault_downtime"]["detail"])
    downtime, uncertainty = (float(m[1]), float(m[2])) if m else (0.0, 0.0)
    line = (
        f"{case.name}: SLA downtime {downtime:.1f} ± {uncertainty:.1f} s, "
        f"hook outage {outage:.2f} s, {len(failed)} failed of "
        f"{len(iterations)}; SLAs {'all PASS' if all_passed else 'FAIL'}; "
        f"wall {wall:.0f} s"
    )
    if case.api_unaffected:
        # A background service: the API never noticed.
        assert not failed, (line, [it["error"][:2] for it in failed])
        assert downtime == 0.0, line
        assert all_passed, details
    else:
        for it in failed:
            assert it["timestamp"] + it["duration"] >= (
                fault["effective_at"] - EDGE
            ), (it["timestamp"] - origin, it["error"][:2])
        assert failed, line
        window = watch.closed_window()
        assert window, f"the probe never saw port {watch.port} closed"
        closed, reopened = window
        port_outage = reopened - min(closed, fault["effective_at"])
        line += f"; port outage {port_outage:.2f} s"
        assert closed >= fault["effective_at"] - EDGE, (closed, fault)
        assert reopened <= fault["healthy_at"] + EDGE, (reopened, fault)
        expected, slack = port_outage, 0.0
        if case.client_retries:
            # A call fails only when both tries meet the closed port: one
            # made within a backoff of the reopening gets through on its
            # second try (slow: degradation, not downtime). So the failed
            # calls start up to "time to give up" before the reopening;
            # the spread of those times is the scheduler's.
            gave_up = [it["duration"] for it in failed]
            expected -= min(gave_up)
            slack = max(gave_up) - min(gave_up)
            line += f"; a failed call gave up after {min(gave_up):.2f} s"
        tolerance = uncertainty + interval + EDGE + slack
        assert abs(downtime - expected) <= tolerance, line
        for it in failed:
            assert it["timestamp"] <= reopened + EDGE, line
        # Checked against the data, not required to pass: in a CI run
        # swift was back at baseline 2 s after the proxy's restart, then
        # every proxy request took twice as long for 27 s (its log: PUT
        # median 0.047 s against 0.019 s; the storage servers under 1 ms
        # throughout), which ended 7 s before the load did: "run too
        # short to judge", as the data say.
        check_recovery_verdict(
            slas, iterations, STEADY["window"], downtime - uncertainty, line
        )
    if agents:
        dead = [t for t, alive in agents.samples if alive is False]
        assert dead, f"list_agents never showed the agent dead: {line}"
        assert dead[0] > fault["effective_at"], line
        back = [
            t
            for t, alive in agents.samples
            if alive and t > dead[-1] and t >= fault["healthy_at"] - 1
        ]
        assert back, f"list_agents never showed it alive again: {line}"
        line += (
            f"; list_agents: dead {dead[0] - fault['effective_at']:.1f} s "
            f"after the kill, alive {back[0] - fault['healthy_at']:.1f} s "
            f"after its restart"
        )
    print(f"\n{line}", file=sys.stderr)
    (results_dir / f"{case.name}.txt").write_text(line + "\n")
    rendered = render_report([out], results_dir / f"report-{case.name}")
    assert rendered.returncode == 0, rendered.stderr


def test_every_catalogue_test_validates_against_the_lab(
    services_rally, tmp_path
):
    """``rally task validate`` of every test of the study catalogue that
    current releases still have, rendered with the lab samples' task args
    (samples/lab-study-args.yaml), as one task against the lab's env:
    scenarios, contexts, hooks and SLAs are checked by Rally itself."""
    import yaml

    from rally_osic.study import catalogue as cat
    from rally_osic.study import render

    overrides = yaml.safe_load(
        (REPO / "samples" / "lab-study-args.yaml").read_text()
    )
    entries = [e for e in cat.load().entries if not e.removed]
    subtasks = []
    for entry in entries:
        task = yaml.safe_load(
            render.render(entry, cat.task_args(entry, overrides))
        )
        subtasks.extend(task["subtasks"])
    path = tmp_path / "catalogue.yaml"
    path.write_text(
        yaml.safe_dump(
            {"version": 2, "title": "catalogue", "subtasks": subtasks}
        )
    )
    started = time.monotonic()
    result = services_rally.run(
        "task",
        "validate",
        str(path),
        "--deployment",
        "osic-lab",
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    print(
        f"\nrally task validate of {len(subtasks)} catalogue tests: "
        f"{time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )

"""False alarms of the fault verdicts: A/A runs, judged at a fake fault.

A load with no fault at all is judged by the fault criteria at a fault
time that never happened. Every "degraded", "downtime" or "not recovered"
verdict is then a false alarm. Two sources of runs:

* ``synthetic``: 1,000 runs per noise model and timing, on the SLAs' own
  code path (rally_osic.measure.verdicts). The noise models are
  calibrated on the lab's keystone (see the README): independent
  log-normal noise, and autocorrelated noise (an AR(1) level drifting
  ±7 % with a 10 s correlation time, like the lab's quiet stretches),
  both with 0.5 % of calls 4x slower;
* ``lab``: stored Rally JSON of no-fault runs (``rally task report
  --json``), each judged at several fake fault times; ``lab-run`` makes
  them first with ``rally task start`` of the templates with
  ``with_fault: false`` against a running lab.

    python benchmarks/bench_false_alarms.py synthetic [--runs 1000]
    python benchmarks/bench_false_alarms.py lab-run --runs 10 \\
        --deployment osic-lab --out out/aa
    python benchmarks/bench_false_alarms.py lab out/aa/*.json

Prints, per setting, the share of runs with a false degradation period,
a failing fault_degradation (limit 30 s), false downtime, a failing
fault_recovery (split into never / undetermined) and a false lasting
shift.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import pathlib
import subprocess
import sys

import numpy as np

from rally_osic.measure import Timeline, verdicts
from rally_osic.measure import recovery as rec

ORIGIN = 1_790_000_000.0
# (name, rps, fault at, load seconds): the e2e keystone test's timing on
# the lab, and the study's (120 s baseline, 300 s to recover).
TIMINGS = {
    "lab": (5.0, 30.0, 80.0),
    "study": (5.0, 120.0, 420.0),
}
# window/persistence pairs: the defaults, and the e2e tests' 3 and 5 rps.
WINDOWS = ((9, 3), (15, 6), (25, 10))
MARGINS = (0.0, 0.05, 0.1, 0.2)
HOLDS = (5.0, 10.0, 20.0)
LIMITS = {"max_downtime": 30, "max_degraded": 30, "within": 300}


def synthetic_run(
    rng: np.random.Generator, model: str, rps: float, seconds: float
) -> Timeline:
    count = int(rps * seconds)
    # Two Rally worker processes: calls start in pairs, jittered.
    starts = np.arange(count) / rps + rng.uniform(0, 0.01, count)
    noise = rng.normal(0.0, 0.10, count)
    if model == "ar1":
        phi = math.exp(-1.0 / (10.0 * rps))
        innovations = rng.normal(0.0, 0.07 * math.sqrt(1 - phi**2), count)
        level = np.empty(count)
        level[0] = rng.normal(0.0, 0.07)
        for i in range(1, count):
            level[i] = phi * level[i - 1] + innovations[i]
        noise += level
    durations = 0.036 * np.exp(noise)
    spikes = rng.random(count) < 0.005
    durations[spikes] *= 4.0
    return Timeline.from_columns(
        ORIGIN + starts, durations, np.zeros(count, dtype=bool)
    )


def criteria(fault_at: float, window: int, persistence: int, **recovery):
    at = {"unit": "time", "at": fault_at}
    shared = {
        "fault_at": at,
        "window": window,
        "persistence": persistence,
    }
    return {
        "fault_downtime": {"max": LIMITS["max_downtime"], "fault_at": at},
        "fault_degradation": {"max_seconds": LIMITS["max_degraded"], **shared},
        "fault_recovery": {"within": LIMITS["within"], **shared, **recovery},
    }


def judge_run(timeline: Timeline, configs) -> dict[str, bool]:
    """The false alarms one A/A run raises under one setting."""
    found = {}
    down = verdicts.judge(
        "fault_downtime", configs["fault_downtime"], timeline
    )
    found["downtime"] = down.analysis.downtime > 0
    degr = verdicts.judge(
        "fault_degradation", configs["fault_degradation"], timeline
    )
    found["degraded"] = degr.analysis.degraded_seconds > 0
    found["degradation FAIL"] = not degr.success
    recv = verdicts.judge(
        "fault_recovery", configs["fault_recovery"], timeline
    )
    recovery = recv.analysis.recovery
    found["recovery FAIL"] = not recv.success
    found["never"] = recovery.state == rec.NEVER
    found["undetermined"] = recovery.state == rec.UNDETERMINED
    found["late"] = recovery.recovered and not recv.success
    found["shift"] = bool(
        recovery.recovered and recovery.shift and recovery.shift.lasting
    )
    found["ttr>0"] = bool(recovery.recovered and recovery.time_to_recover)
    return found


COLUMNS = (
    "degraded",
    "degradation FAIL",
    "downtime",
    "recovery FAIL",
    "never",
    "undetermined",
    "ttr>0",
    "shift",
)


def table(title: str, rows: list[tuple[str, collections.Counter, int]]):
    print(f"\n{title}\n")
    print("| setting | " + " | ".join(COLUMNS) + " |")
    print("|---|" + "---|" * len(COLUMNS))
    for setting, counts, total in rows:
        cells = [f"{100.0 * counts[c] / total:.1f} %" for c in COLUMNS]
        print(f"| {setting} | " + " | ".join(cells) + " |")


def settings():
    for window, persistence in WINDOWS:
        for margin in MARGINS:
            for hold in HOLDS:
                yield (
                    f"w{window}/p{persistence} margin {margin:g} hold "
                    f"{hold:g} s",
                    {
                        "window": window,
                        "persistence": persistence,
                        "recovery_margin": margin,
                        "hold": hold,
                    },
                )


def cmd_synthetic(args) -> None:
    for timing in args.timings:
        rps, fault_at, seconds = TIMINGS[timing]
        for model in ("iid", "ar1"):
            rng = np.random.default_rng(args.seed)
            runs = [
                synthetic_run(rng, model, rps, seconds)
                for _ in range(args.runs)
            ]
            rows = []
            for label, setting in settings():
                counts: collections.Counter = collections.Counter()
                window = setting.pop("window")
                persistence = setting.pop("persistence")
                configs = criteria(fault_at, window, persistence, **setting)
                for timeline in runs:
                    counts.update(
                        k for k, v in judge_run(timeline, configs).items() if v
                    )
                rows.append((label, counts, len(runs)))
            table(
                f"{model} noise, {timing} timing ({rps:g} rps, fault at "
                f"+{fault_at:g} s of {seconds:g} s), {len(runs)} runs",
                rows,
            )


def load_runs(paths: list[str]) -> list[Timeline]:
    timelines = []
    for name in paths:
        document = json.loads(pathlib.Path(name).read_text())
        for task in document["tasks"]:
            for subtask in task["subtasks"]:
                for workload in subtask["workloads"]:
                    timelines.append(
                        Timeline.from_iterations(workload["data"])
                    )
    return timelines


def cmd_lab(args) -> None:
    runs = load_runs(args.results)
    fake_faults = [float(t) for t in args.fault_at]
    rows = []
    for label, setting in settings():
        counts: collections.Counter = collections.Counter()
        window = setting.pop("window")
        persistence = setting.pop("persistence")
        total = 0
        for fault_at in fake_faults:
            configs = criteria(
                fault_at,
                window,
                persistence,
                warmup_iterations=args.warmup,
                **setting,
            )
            configs["fault_degradation"]["warmup_iterations"] = args.warmup
            for timeline in runs:
                counts.update(
                    k for k, v in judge_run(timeline, configs).items() if v
                )
                total += 1
        rows.append((label, counts, total))
    table(
        f"{len(runs)} stored no-fault runs x fake faults at "
        f"{', '.join(f'+{t:g}' for t in fake_faults)} s",
        rows,
    )


def cmd_lab_run(args) -> None:
    """No-fault runs of the templates with rally task start."""
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    templates = pathlib.Path(__file__).resolve().parents[1] / "task_templates"
    rally = str(pathlib.Path(sys.executable).with_name("rally"))
    for template, task_args in (
        ("keystone_restart_memcached.yaml", {"rps": 5, "duration": 80}),
        ("glance_kill_glance_api.yaml", {"rps": 3, "duration": 70}),
    ):
        for number in range(1, args.runs + 1):
            listed = subprocess.run(
                [rally, "task", "list", "--uuids-only"],
                capture_output=True,
                text=True,
            ).stdout.split()
            subprocess.run(
                [
                    rally,
                    "task",
                    "start",
                    str(templates / template),
                    "--task-args",
                    json.dumps({**task_args, "with_fault": False}),
                    "--deployment",
                    args.deployment,
                ],
                capture_output=True,
                check=False,
            )
            new = [
                uuid
                for uuid in subprocess.run(
                    [rally, "task", "list", "--uuids-only"],
                    capture_output=True,
                    text=True,
                ).stdout.split()
                if uuid not in listed
            ]
            if not new:
                sys.exit(f"rally task start {template} made no task")
            target = out / f"{template.split('_')[0]}-aa-{number:02d}.json"
            subprocess.run(
                [
                    rally,
                    "task",
                    "report",
                    new[-1],
                    "--json",
                    "--out",
                    str(target),
                ],
                capture_output=True,
                check=True,
            )
            print(f"{target}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    synthetic = sub.add_parser("synthetic")
    synthetic.add_argument("--runs", type=int, default=1000)
    synthetic.add_argument("--seed", type=int, default=11)
    synthetic.add_argument(
        "--timings", nargs="+", default=list(TIMINGS), choices=TIMINGS
    )
    lab = sub.add_parser("lab")
    lab.add_argument("results", nargs="+")
    lab.add_argument(
        "--fault-at", nargs="+", default=["20", "25", "30", "35", "40"]
    )
    lab.add_argument("--warmup", type=int, default=10)
    lab_run = sub.add_parser("lab-run")
    lab_run.add_argument("--runs", type=int, default=10)
    lab_run.add_argument("--deployment", default="osic-lab")
    lab_run.add_argument("--out", default="out/aa")
    args = parser.parse_args()
    {"synthetic": cmd_synthetic, "lab": cmd_lab, "lab-run": cmd_lab_run}[
        args.command
    ](args)


if __name__ == "__main__":
    main()

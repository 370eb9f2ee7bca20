"""Build the study: read runs, analyse and chart them, group them.

Reading is streamed one workload at a time; each fault run is reduced to
three columns and handed to a worker process that analyses it and writes
its chart, so reading and rendering overlap and use both cores.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import multiprocessing
import os
import pathlib
import re
import statistics
import sys
from array import array
from collections.abc import Callable, Iterable
from typing import Any

from rally_osic import errors
from rally_osic.measure import recovery as rec
from rally_osic.report import commentary, faults, livemigration, loader, runs
from rally_osic.report.errors import ReportInputError
from rally_osic.report.masking import mask

# Scenario-name prefixes and the service they exercise.
SERVICES = {
    "authenticate": "Keystone",
    "keystone": "Keystone",
    "nova": "Nova",
    "neutron": "Neutron",
    "cinder": "Cinder",
    "glance": "Glance",
    "swift": "Swift",
    "heat": "Heat",
    "octavia": "Octavia",
    "designate": "Designate",
    "manila": "Manila",
    "ironic": "Ironic",
    "sahara": "Sahara",
    "murano": "Murano",
    "senlin": "Senlin",
    "zaqar": "Zaqar",
    "gnocchi": "Gnocchi",
    "barbican": "Barbican",
    "magnum": "Magnum",
    "mistral": "Mistral",
    "monasca": "Monasca",
    "watcher": "Watcher",
    "quotas": "Quotas",
    "dummy": "Dummy (Rally self-test)",
}
POOL_THRESHOLD = 4  # fewer runs than this are processed in-process
CATALOGUE_TITLE = re.compile(r"^.+?: ((?:[1-9][0-9]*|LM)\.[1-9][0-9]*) (.+)$")


def service_of(scenario: str) -> str:
    prefix = scenario.split(".", 1)[0].lower()
    for name, service in SERVICES.items():
        if prefix.startswith(name):
            return service
    return scenario.split(".", 1)[0]


@dataclasses.dataclass
class Run:
    """A fault run: its input metadata (no columns) and its results."""

    number: int  # run number within its test, 1-based
    input: runs.RunInput
    result: runs.RunResult

    @property
    def passed(self) -> bool:
        """Rally ran iterations, and every fault criterion, judged now,
        and every other criterion it stored (failure_rate, ...) passed."""
        others = [
            r
            for r in self.input.sla_results
            if str(r.get("criterion")) not in faults.FAULT_SLAS
        ]
        return (
            self.result.iterations > 0
            and all(v.success for v in self.result.verdicts)
            and all(bool(r.get("success")) for r in others)
        )

    @property
    def rejudged(self) -> list[runs.CriterionVerdict]:
        """Fault criteria whose verdict differs from Rally's stored one."""
        return [v for v in self.result.verdicts if v.stored is not None]

    @property
    def anchor(self) -> str:
        return f"run-{self.input.key}"


@dataclasses.dataclass
class Test:
    """Runs of one scenario under one fault."""

    number: str  # e.g. "1.2"
    scenario: str
    fault: str
    service: str
    runs: list[Run]
    prose: list[str] = dataclasses.field(default_factory=list)

    @property
    def title(self) -> str:
        return self.fault

    @property
    def anchor(self) -> str:
        return "test-" + self.number.replace(".", "-")

    @property
    def passed(self) -> bool:
        return all(run.passed for run in self.runs)

    @property
    def runs_passed(self) -> int:
        return sum(run.passed for run in self.runs)

    @property
    def findings(self) -> list[str]:
        seen: dict[str, None] = {}
        for run in self.runs:
            for finding in run.result.findings:
                seen.setdefault(finding, None)
        return list(seen)

    def runs_with(self, finding: str) -> list[Run]:
        return [run for run in self.runs if finding in run.result.findings]

    @property
    def baseline_only(self) -> bool:
        return all(run.input.baseline_only for run in self.runs)

    def summary(self) -> str:
        """One sentence over all runs, from measured figures."""
        count = len(self.runs)
        if self.baseline_only:
            latencies = [r.result.latency for r in self.runs]
            text = f"{commentary.plural(count, 'run')} without a fault"
            p95s = [lat["p95"] for lat in latencies if lat]
            if p95s:
                text += (
                    f"; latency p95 {statistics.median(p95s):.3f} s "
                    "(median over the runs)"
                )
            failures = sum(r.result.failures for r in self.runs)
            return text + f"; {commentary.plural(failures, 'failed call')}."
        recoveries = [r.result.recovery for r in self.runs]
        never = sum(1 for r in recoveries if r and r.state == rec.NEVER)
        undetermined = sum(
            1 for r in recoveries if r and r.state == rec.UNDETERMINED
        )
        # A run Rally ran no iteration of measured nothing, not zero.
        downtimes = [
            r.result.downtime for r in self.runs if r.result.iterations
        ]
        text = (
            f"{self.runs_passed} of {commentary.plural(count, 'run')} passed"
        )
        if any(downtimes):
            median = commentary.seconds(statistics.median(downtimes))
            text += (
                f"; downtime median {median}"
                f", max {commentary.seconds(max(downtimes))}"
            )
        ttrs = [r.time_to_recover for r in recoveries if r and r.recovered]
        if ttrs and (
            any(downtimes) or any(r.result.degradations for r in self.runs)
        ):
            text += (
                "; recovery after "
                f"{commentary.seconds(statistics.median(ttrs))} (median)"
            )
        if never:
            text += f"; {never} did not recover before the end of the run"
        if undetermined:
            text += (
                f"; {undetermined} ended too soon after the fault to judge "
                "recovery"
            )
        not_run = sum(1 for r in self.runs if not r.result.iterations)
        if not_run:
            text += f"; Rally ran no iteration of {not_run}"
        return text + "."


@dataclasses.dataclass
class ServiceGroup:
    name: str
    number: str
    scenarios: list[tuple[str, list[Test]]]
    prose: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Study:
    tests: list[Test]
    services: list[ServiceGroup]
    live_migration: list[livemigration.LiveMigrationTable]
    tasks: list[loader.TaskInfo]
    sources: list[str]
    outline: dict[str, Any]
    metadata: dict[str, Any]
    env_info: dict[str, Any]
    chart_dir: pathlib.Path | None
    chart_formats: tuple[str, ...]

    @property
    def runs(self) -> list[Run]:
        return [run for test in self.tests for run in test.runs]

    @property
    def tests_passed(self) -> int:
        return sum(test.passed for test in self.tests)

    def by_finding(self) -> dict[str, list[Test]]:
        grouped: dict[str, list[Test]] = {
            key: [] for key in commentary.FINDINGS
        }
        for test in self.tests:
            for finding in test.findings:
                grouped.setdefault(finding, []).append(test)
        return grouped

    def anomalies(self) -> list[str]:
        """Anomaly findings that at least one test shows."""
        grouped = self.by_finding()
        return [key for key in commentary.ANOMALIES if grouped.get(key)]


ProgressCallback = Callable[[int, int], None]


def build_study(
    workloads: Iterable[loader.LoadedWorkload],
    outline: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    env_info: dict[str, Any] | None = None,
    chart_dir: pathlib.Path | None = None,
    chart_formats: tuple[str, ...] = ("png", "svg"),
    vector_charts: bool = False,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    overrides: dict[str, Any] | None = None,
    strict: bool = False,
) -> Study:
    """Read, analyse and chart every workload; group runs into tests.

    Charts are written as ``<run key>.<format>`` into ``chart_dir``.
    ``vector_charts`` also draws every chart as SVG for the PDF, kept in
    memory when SVG is not among the ``chart_formats`` written. A
    workload without a fault is a baseline-only run, or refused when
    ``strict``.
    """
    outline = outline or {}
    inputs: list[runs.RunInput] = []
    results: dict[str, runs.RunResult] = {}
    lm_runs: list[livemigration.LiveMigrationRun] = []
    tasks: dict[str, loader.TaskInfo] = {}
    sources: list[str] = []
    counts: collections.Counter = collections.Counter()
    workers = workers or min(2, os.cpu_count() or 1)
    drawn = chart_formats
    in_memory: tuple[str, ...] = ()
    if vector_charts and "svg" not in chart_formats:
        drawn, in_memory = (*chart_formats, "svg"), ("svg",)

    pool = None
    pending: list[concurrent.futures.Future] = []
    buffered: list[tuple[runs.RunInput, tuple[str, str]]] = []

    def submit(run: runs.RunInput, title: tuple[str, str]) -> None:
        nonlocal pool
        if pool is None:
            if drawn:
                from rally_osic.report import charts

                charts.warm_up()  # once, inherited by the forked workers
            context = multiprocessing.get_context(
                "fork" if sys.platform == "linux" else "spawn"
            )
            pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=workers,
                mp_context=context,
                # Signals to the whole group are the parent's to handle.
                initializer=errors.ignore_termination,
            )
        pending.append(
            pool.submit(
                _process, run, title, drawn, chart_dir, overrides, in_memory
            )
        )

    try:
        for loaded in workloads:
            if loaded.source not in sources:
                sources.append(loaded.source)
            task_key = loaded.task.uuid or loaded.source
            tasks.setdefault(task_key, loaded.task)
            if livemigration.is_live_migration(loaded.workload):
                lm_runs.append(
                    livemigration.extract(loaded.workload, loaded.task.uuid)
                )
                continue
            key = f"{len(inputs) + 1:04d}"
            run = runs.prepare(loaded, key, strict)
            test_key = (run.scenario, run.fault_label)
            counts[test_key] += 1
            title = (
                f"Rally task {run.task_uuid or run.source}",
                f"{run.scenario} — {run.fault_label} (run {counts[test_key]})",
            )
            inputs.append(_without_columns(run))
            if workers > 1 and (
                pool is not None or len(buffered) + 1 >= POOL_THRESHOLD
            ):
                for early in buffered:
                    submit(*early)
                buffered.clear()
                submit(run, title)
            else:
                buffered.append((run, title))
        if not inputs and not lm_runs:
            raise ReportInputError("no workloads found in the results")
        total = len(inputs)
        done = 0
        for run, title in buffered:
            result = _process(
                run, title, drawn, chart_dir, overrides, in_memory
            )
            results[result.key] = result
            done += 1
            if progress:
                progress(done, total)
        for future in concurrent.futures.as_completed(pending):
            result = future.result()
            results[result.key] = result
            done += 1
            if progress:
                progress(done, total)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    tests = group_tests(inputs, results, outline)
    return Study(
        tests=tests,
        services=group_services(tests, outline),
        live_migration=livemigration.tables(lm_runs, _study_figures(lm_runs)),
        tasks=list(tasks.values()),
        sources=sources,
        outline=outline,
        metadata=mask(metadata or {}),
        env_info=mask(env_info or {}),
        chart_dir=chart_dir,
        chart_formats=chart_formats,
    )


def _study_figures(lm_runs) -> dict:
    """The study's published figures per configuration, from the package's
    catalogue (only when there are live-migration runs to set them by)."""
    if not lm_runs:
        return {}
    from rally_osic.study import catalogue

    return livemigration.study_figures(catalogue.load().entries)


def _without_columns(run: runs.RunInput) -> runs.RunInput:
    empty = array("d")
    return dataclasses.replace(
        run, timestamps=empty, durations=empty, failed=array("b")
    )


def _process(
    run, title, formats, chart_dir, overrides, in_memory=()
) -> runs.RunResult:
    result = runs.process(run, title, formats, overrides)
    if chart_dir is not None:
        for fmt, content in result.charts.items():
            if fmt not in in_memory:
                (chart_dir / f"{run.key}.{fmt}").write_bytes(content)
                result.charts[fmt] = b""
    return result


def group_tests(
    inputs: list[runs.RunInput],
    results: dict[str, runs.RunResult],
    outline: dict[str, Any],
) -> list[Test]:
    grouped: dict[tuple[str, str], list[runs.RunInput]] = {}
    catalogued = [
        CATALOGUE_TITLE.match(run.subtask_title or "") for run in inputs
    ]
    by_number = all(catalogued)
    for run, match in zip(inputs, catalogued):
        # Tests of the study catalogue are its numbered tests, even where
        # two of them share a hook label (three stress tests, say).
        label = f"{match[1]} {match[2]}" if by_number else run.fault_label
        grouped.setdefault((run.scenario, label), []).append(run)
    scenario_order: dict[str, int] = {}
    for scenario, _ in grouped:
        scenario_order.setdefault(scenario, len(scenario_order))
    services_order: dict[str, int] = {}
    for scenario in scenario_order:
        services_order.setdefault(service_of(scenario), len(services_order))
    keys = sorted(
        grouped,
        key=lambda k: (
            services_order[service_of(k[0])],
            scenario_order[k[0]],
        ),
    )
    tests: list[Test] = []
    scenario_numbers: dict[str, int] = {}
    per_scenario: collections.Counter = collections.Counter()
    prose = outline.get("tests") or {}
    catalogue = _catalogue_numbers(grouped)
    if catalogue:
        keys.sort(key=lambda k: _number_order(catalogue[k][0]))
    for scenario, fault in keys:
        major = scenario_numbers.setdefault(
            scenario, len(scenario_numbers) + 1
        )
        per_scenario[scenario] += 1
        number = f"{major}.{per_scenario[scenario]}"
        label = fault
        if catalogue:
            number, label = catalogue[(scenario, fault)]
        test_runs = [
            Run(index, run, results[run.key])
            for index, run in enumerate(grouped[(scenario, fault)], 1)
        ]
        text = (
            prose.get(f"{scenario}: {fault}")
            or prose.get(number)
            or prose.get(fault)
            or ""
        )
        from rally_osic.report.outline import paragraphs

        tests.append(
            Test(
                number=number,
                scenario=scenario,
                fault=label,
                service=service_of(scenario),
                runs=test_runs,
                prose=paragraphs(text),
            )
        )
    return tests


def _catalogue_numbers(grouped) -> dict[tuple[str, str], tuple[str, str]]:
    """The study catalogue's number and title of each test, when every
    test comes from the catalogue (``rally-osic study run`` names its
    subtasks "scenario: 7.18 Kill nova-conductor service on one node")
    with one number of its own; else nothing, and tests are numbered in
    order of appearance."""
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for key, members in grouped.items():
        matches = [
            CATALOGUE_TITLE.match(run.subtask_title or "") for run in members
        ]
        if None in matches:
            return {}
        named = {(match[1], match[2]) for match in matches}
        if len(named) != 1:
            return {}
        (found[key],) = named
    numbers = [number for number, _ in found.values()]
    return found if len(set(numbers)) == len(numbers) else {}


def _number_order(number: str) -> tuple[int, int]:
    section, index = number.split(".")
    return (10**6 if section == "LM" else int(section), int(index))


def group_services(
    tests: list[Test], outline: dict[str, Any]
) -> list[ServiceGroup]:
    from rally_osic.report.outline import paragraphs

    services: dict[str, dict[str, list[Test]]] = {}
    for test in tests:
        services.setdefault(test.service, {}).setdefault(
            test.scenario, []
        ).append(test)
    prose = outline.get("services") or {}
    return [
        ServiceGroup(
            name=name,
            number=str(index),
            scenarios=list(scenarios.items()),
            prose=paragraphs(prose.get(name)),
        )
        for index, (name, scenarios) in enumerate(services.items(), 1)
    ]

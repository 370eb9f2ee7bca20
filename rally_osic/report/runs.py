"""One workload run: compact input, analysis, commentary and chart.

:func:`prepare` runs in the reading process and keeps only what the report
needs from a workload (three columns and small metadata), so a workload's
raw iterations can be dropped at once. :func:`process` is pure and
picklable: it runs in worker processes and returns a :class:`RunResult`.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from array import array
from typing import Any

from rally_osic.measure import (
    AnalysisConfig,
    Baseline,
    Degradation,
    FaultAnalysis,
    Outage,
    Recovery,
    Timeline,
)
from rally_osic.report import commentary, faults, livemigration
from rally_osic.report.errors import ReportInputError
from rally_osic.report.loader import LoadedWorkload
from rally_osic.report.masking import mask

QUOTA_WORDS = re.compile(
    r"quota|over ?limit|limit exceeded|exceeded|no valid host|"
    r"insufficient|out of (memory|space)|too many|\b413\b",
    re.IGNORECASE,
)
MAX_ERROR_KINDS = 8


@dataclasses.dataclass
class RunInput:
    """What the report keeps of one workload run."""

    key: str  # unique id of the run in the report
    task_uuid: str
    task_title: str
    workload_uuid: str
    scenario: str
    description: str
    fault: faults.FaultTime | None
    origin: float
    timestamps: array
    durations: array
    failed: array
    errors: list[tuple[str, str, int]]  # (type, message, count)
    sla_results: list[dict[str, Any]]
    pass_sla: bool | None
    runner: dict[str, Any]
    contexts: dict[str, Any]
    hooks: list[dict[str, Any]]
    scenario_args: dict[str, Any]
    analysis_config: AnalysisConfig
    source: str
    subtask_title: str


@dataclasses.dataclass
class RunResult:
    """Analysis, commentary and chart of one run (all picklable)."""

    key: str
    iterations: int
    failures: int
    load_seconds: float
    fault_at: float
    triggered_at: float | None
    fault_source: str
    fault_within_load: bool
    healthy_at: float | None
    baseline: Baseline
    outages: list[Outage]
    degradations: list[Degradation]
    downtime: float
    downtime_uncertainty: float
    degraded_seconds: float
    worst_degradation_ratio: float | None
    recovery: Recovery
    commentary: list[str]
    findings: list[str]  # error-type tags, see commentary.FINDINGS
    charts: dict[str, bytes]


def prepare(loaded: LoadedWorkload, key: str) -> RunInput:
    """Extract a fault run's columns and metadata from its workload."""
    workload = loaded.workload
    scenario, args = next(iter(workload["scenario"].items()))
    data = workload["data"]
    timestamps = array("d")
    durations = array("d")
    failed = array("b")
    error_counts: collections.Counter = collections.Counter()
    for iteration in data:
        timestamps.append(iteration["timestamp"])
        durations.append(iteration["duration"] or 0.0)
        error = iteration.get("error")
        failed.append(1 if error else 0)
        if error:
            error_counts[_error_kind(error)] += 1
    timeline = Timeline.from_columns(timestamps, durations, failed)
    fault = faults.find_fault(
        workload, timeline.origin, timeline.start_of_iteration
    )
    if fault is None:
        raise ReportInputError(
            f"{loaded.where} ({scenario}): no fault: no hook ran and no "
            "fault SLA sets fault_at, so there is nothing to measure "
            "against"
        )
    sla_results = workload.get("sla_results") or {}
    if isinstance(sla_results, dict):
        sla_results = sla_results.get("sla") or []
    return RunInput(
        key=key,
        task_uuid=loaded.task.uuid,
        task_title=loaded.task.title,
        workload_uuid=str(workload.get("uuid", "")),
        scenario=scenario,
        description=str(workload.get("description") or ""),
        fault=fault,
        origin=timeline.origin,
        timestamps=timestamps,
        durations=durations,
        failed=failed,
        errors=[
            (etype, message, count)
            for (etype, message), count in error_counts.most_common(
                MAX_ERROR_KINDS
            )
        ],
        sla_results=[r for r in sla_results if isinstance(r, dict)],
        pass_sla=workload.get("pass_sla"),
        runner=mask(workload.get("runner") or {}),
        contexts=mask(workload.get("contexts") or {}),
        hooks=[mask(_hook_config(h)) for h in workload.get("hooks") or []],
        scenario_args=mask(args or {}),
        analysis_config=analysis_config(workload.get("sla") or {}),
        source=loaded.source,
        subtask_title=loaded.subtask_title,
    )


def is_live_migration(loaded: LoadedWorkload) -> bool:
    return livemigration.is_live_migration(loaded.workload)


def _hook_config(hook: Any) -> dict[str, Any]:
    if not isinstance(hook, dict):
        return {}
    config = dict(hook.get("config") or {})
    results = [r for r in hook.get("results") or [] if isinstance(r, dict)]
    config["status"] = ", ".join(
        f"{name} {count}"
        for name, count in (hook.get("summary") or {}).items()
    )
    config["errors"] = [
        _hook_error_text(r["error"]) for r in results if r.get("error")
    ]
    return config


def _hook_error_text(error: Any) -> str:
    """Both shapes of a failed hook's error: Rally 5.1.1 stores a dict."""
    if isinstance(error, dict):
        parts = [error.get("etype"), error.get("msg")]
    elif isinstance(error, list | tuple):
        parts = list(error[:2])
    else:
        parts = [str(error)]
    return ": ".join(str(p) for p in parts if p not in (None, "", "n/a"))


def _error_kind(error: Any) -> tuple[str, str]:
    if isinstance(error, list | tuple):
        etype = str(error[0]) if error else "Error"
        message = str(error[1]) if len(error) > 1 else ""
    elif isinstance(error, dict):
        etype = str(error.get("etype") or error.get("type") or "Error")
        message = str(error.get("msg") or error.get("message") or "")
    else:
        etype, message = "Error", str(error)
    first_line = message.strip().splitlines()[0] if message.strip() else ""
    return etype, first_line[:300]


def analysis_config(sla: dict[str, Any]) -> AnalysisConfig:
    """The analysis settings of the workload's fault SLAs, so that the
    report measures exactly what the SLAs judged."""
    settings: dict[str, Any] = {}
    for name in faults.FAULT_SLAS:
        config = sla.get(name)
        if isinstance(config, dict):
            settings = {**config, **settings}
    try:
        return AnalysisConfig.from_options(settings)
    except (TypeError, ValueError):
        return AnalysisConfig()


def process(
    run: RunInput, title_lines: tuple[str, str], formats: tuple[str, ...]
) -> RunResult:
    """Analyse a run, describe it and draw its chart."""
    timeline = Timeline.from_columns(run.timestamps, run.durations, run.failed)
    fault = run.fault
    fault_at = fault.at - timeline.origin
    triggered_at = (
        fault.triggered - timeline.origin if fault.triggered else None
    )
    healthy_at = fault.healthy - timeline.origin if fault.healthy else None
    analysis = FaultAnalysis(timeline, fault_at, run.analysis_config)
    findings = classify(run, analysis)
    text = commentary.describe(
        analysis, triggered_at, healthy_at, fault.source, findings
    )
    charts_rendered = {}
    if formats:
        from rally_osic.report import charts

        charts_rendered = charts.render_chart(
            analysis, title_lines, triggered_at, formats
        )
    return RunResult(
        key=run.key,
        iterations=len(timeline),
        failures=int(timeline.failed.sum()),
        load_seconds=timeline.end,
        fault_at=fault_at,
        triggered_at=triggered_at,
        fault_source=fault.source,
        fault_within_load=analysis.fault_within_load,
        healthy_at=healthy_at,
        baseline=analysis.baseline,
        outages=analysis.outages_after_fault,
        degradations=analysis.degradations_after_fault,
        downtime=analysis.downtime,
        downtime_uncertainty=analysis.downtime_uncertainty,
        degraded_seconds=analysis.degraded_seconds,
        worst_degradation_ratio=analysis.worst_degradation_ratio,
        recovery=analysis.recovery,
        commentary=text,
        findings=findings,
        charts=charts_rendered,
    )


def classify(run: RunInput, analysis: FaultAnalysis) -> list[str]:
    """The whitepaper's error types that this run shows."""
    found = []
    if not analysis.fault_within_load:
        found.append("fault_outside_load")
        return found
    recovery = analysis.recovery
    if not recovery.recovered:
        found.append("failed_to_recover")
    elif analysis.outages_after_fault:
        found.append("transient_failures")
    elif analysis.degradations_after_fault:
        found.append("degradation")
    else:
        found.append("no_effect")
    baseline = analysis.baseline
    if baseline.trend is not None and baseline.trend.growing:
        found.append("growing_baseline")
    if not baseline.sufficient:
        found.append("small_baseline")
    if baseline.failures:
        found.append("failures_before_fault")
    if any(QUOTA_WORDS.search(f"{t} {m}") for t, m, _ in run.errors):
        found.append("resource_limit")
    return found

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
    schema,
    stats,
    verdicts,
)
from rally_osic.measure import recovery as rec
from rally_osic.output import (
    ERROR_MESSAGE_LIMIT,
    ERROR_TYPE_LIMIT,
    TEXT_LIMIT,
    TITLE_LIMIT,
    shorten,
)
from rally_osic.report import commentary, faults, livemigration
from rally_osic.report.errors import ReportInputError
from rally_osic.report.loader import LoadedWorkload
from rally_osic.report.masking import mask

# Not a bare "exceeded": every refused connection through requests reads
# "Max retries exceeded with url", and a killed API is no quota.
QUOTA_WORDS = re.compile(
    r"quota|over ?limit|limit exceeded|exceeded (?:the |your )?(?:\w+ )?"
    r"limit|no valid host|insufficient|out of (memory|space)|too many|"
    r"\b413\b",
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
    errors: list[tuple[str, str, int]]  # (type, message, count), shortened
    sla_results: list[dict[str, Any]]
    pass_sla: bool | None
    runner: dict[str, Any]
    contexts: dict[str, Any]
    hooks: list[dict[str, Any]]
    scenario_args: dict[str, Any]
    fault_slas: dict[str, dict[str, Any]]  # the workload's fault criteria
    source: str
    subtask_title: str
    # The whole type and first line of each error kind that was shortened
    # for display, keyed by its (type, message) in ``errors``.
    error_texts: dict[tuple[str, str], str] = dataclasses.field(
        default_factory=dict
    )

    @property
    def baseline_only(self) -> bool:
        """No fault in this run: a load test or a no-fault A/A run."""
        return self.fault is None

    @property
    def fault_label(self) -> str:
        return self.fault.label if self.fault else NO_FAULT_LABEL

    def error_rows(self) -> list[tuple[str, str, int, str | None]]:
        """(type, message, count, whole text if shortened) per kind."""
        return [
            (etype, message, count, self.error_texts.get((etype, message)))
            for etype, message, count in self.errors
        ]


NO_FAULT_LABEL = "No fault (baseline run)"


@dataclasses.dataclass(frozen=True)
class CriterionVerdict:
    """A fault criterion judged now, beside what Rally stored at run time."""

    criterion: str
    success: bool
    detail: str
    stored: tuple[bool, str] | None = None  # Rally's, when it differs
    configured: bool = True  # False: the report's default criterion


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
    recovery: Recovery | None  # None: no successful baseline operation
    verdicts: list[CriterionVerdict]
    commentary: list[str]
    findings: list[str]  # error-type tags, see commentary.FINDINGS
    charts: dict[str, bytes]
    # A baseline-only run: latency of its successful operations (mean,
    # median, p95, p99, max, in seconds); None for a fault run.
    latency: dict[str, float] | None = None


def prepare(
    loaded: LoadedWorkload, key: str, strict: bool = False
) -> RunInput:
    """Extract a run's columns and metadata from its workload.

    A workload without a fault is a baseline-only run (``fault`` None),
    unless ``strict``, which refuses it as before."""
    workload = loaded.workload
    scenario, args = next(iter(workload["scenario"].items()))
    data = workload["data"]
    timestamps = array("d")
    durations = array("d")
    failed = array("b")
    error_counts: collections.Counter = collections.Counter()
    error_texts: dict[tuple[str, str], str] = {}
    for iteration in data:
        timestamps.append(iteration["timestamp"])
        durations.append(iteration["duration"] or 0.0)
        error = iteration.get("error")
        failed.append(1 if error else 0)
        if error:
            kind, whole = _error_kind(error)
            error_counts[kind] += 1
            if whole is not None:
                error_texts.setdefault(kind, whole)
    timeline = Timeline.from_columns(timestamps, durations, failed)
    fault = faults.find_fault(
        workload, timeline.origin, timeline.start_of_iteration
    )
    if fault is None and strict:
        raise ReportInputError(
            f"{loaded.where} ({scenario}): no fault: no hook ran and no "
            "fault SLA sets fault_at, so there is nothing to measure "
            "against (--strict refuses baseline-only runs)"
        )
    sla_results = workload.get("sla_results") or {}
    if isinstance(sla_results, dict):
        sla_results = sla_results.get("sla") or []
    return RunInput(
        key=key,
        task_uuid=loaded.task.uuid,
        task_title=loaded.task.title,
        workload_uuid=str(workload.get("uuid", "")),
        scenario=shorten(scenario, TITLE_LIMIT),
        description=shorten(
            str(workload.get("description") or ""), TEXT_LIMIT
        ),
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
        fault_slas=fault_criteria(workload.get("sla") or {}),
        source=loaded.source,
        subtask_title=loaded.subtask_title,
        error_texts={
            kind: text
            for kind, text in error_texts.items()
            if kind in error_counts
        },
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


def _error_kind(error: Any) -> tuple[tuple[str, str], str | None]:
    """((type, first line of the message), shortened for display), and
    the whole type and first line when either had to be shortened."""
    if isinstance(error, list | tuple):
        etype = str(error[0]) if error else "Error"
        message = str(error[1]) if len(error) > 1 else ""
    elif isinstance(error, dict):
        etype = str(error.get("etype") or error.get("type") or "Error")
        message = str(error.get("msg") or error.get("message") or "")
    else:
        etype, message = "Error", str(error)
    first_line = message.strip().splitlines()[0] if message.strip() else ""
    kind = (
        shorten(etype, ERROR_TYPE_LIMIT),
        shorten(first_line, ERROR_MESSAGE_LIMIT),
    )
    whole = None if kind == (etype, first_line) else f"{etype}: {first_line}"
    return kind, whole


def fault_criteria(sla: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The workload's fault SLA configs, in the order of the criteria."""
    return {
        name: dict(sla[name])
        for name in schema.CRITERIA
        if isinstance(sla.get(name), dict)
    }


def with_overrides(
    criteria: dict[str, dict[str, Any]], overrides: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Each criterion's config with the overrides its schema knows."""
    return {
        name: {
            **config,
            **{
                key: value
                for key, value in overrides.items()
                if key in schema.properties(name)
            },
        }
        for name, config in criteria.items()
    }


def judge_run(
    run: RunInput, timeline: Timeline, overrides: dict[str, Any]
) -> list[verdicts.Verdict]:
    """The run's fault criteria, judged as the SLA plugins judge them.

    The fault time is the one the SLAs used at run time: the osic_fault
    hook's measured effect, else each criterion's own ``fault_at``. A
    workload without fault SLAs is judged on recovery with the defaults
    and the report's own fault time (a hook's start, say).
    """
    fault = run.fault
    if run.fault_slas:
        measured = None
        if fault is not None and fault.source == "measured":
            measured = fault.at - timeline.origin
            if not 0.0 <= measured <= timeline.end:
                measured = None
        return [
            _judge_checked(name, config, timeline, measured)
            for name, config in with_overrides(
                run.fault_slas, overrides
            ).items()
        ]
    if fault is None:
        return []  # a baseline-only run has no fault criterion to judge
    config = with_overrides({"fault_recovery": {}}, overrides)
    return [
        verdicts.judge(
            "fault_recovery",
            config["fault_recovery"],
            timeline,
            fault.at - timeline.origin,
            fault.source,
        )
    ]


def _judge_checked(name, config, timeline, measured) -> verdicts.Verdict:
    """Stored configs come from files: check them as Rally would have."""
    import jsonschema

    try:
        jsonschema.validate(config, schema.schema(name))
    except jsonschema.ValidationError as exc:
        return verdicts.Verdict(
            name, False, f"configuration not valid: {exc.message}: FAIL"
        )
    return verdicts.judge(name, config, timeline, measured)


def _chart_analysis(
    judged: list[verdicts.Verdict], timeline: Timeline, fault_at: float
) -> FaultAnalysis:
    """The analysis the figures and the chart show: that of the recovery
    verdict, else degradation's, else downtime's, so that they are the
    figures the verdicts were judged on."""
    by_name = {v.criterion: v for v in judged if v.analysis is not None}
    for name in ("fault_recovery", "fault_degradation", "fault_downtime"):
        if name in by_name:
            return by_name[name].analysis
    return FaultAnalysis(timeline, fault_at, AnalysisConfig())


def _recorded(run: RunInput, judged: list[verdicts.Verdict]):
    stored = {
        str(r.get("criterion")): (bool(r.get("success")), str(r.get("detail")))
        for r in run.sla_results
    }
    configured = bool(run.fault_slas)
    records = []
    for verdict in judged:
        before = stored.get(verdict.criterion)
        if before == (verdict.success, verdict.detail):
            before = None
        records.append(
            CriterionVerdict(
                verdict.criterion,
                verdict.success,
                verdict.detail,
                before if configured else None,
                configured,
            )
        )
    return records


def process(
    run: RunInput,
    title_lines: tuple[str, str],
    formats: tuple[str, ...],
    overrides: dict[str, Any] | None = None,
) -> RunResult:
    """Judge a run, describe it and draw its chart."""
    timeline = Timeline.from_columns(run.timestamps, run.durations, run.failed)
    if not len(timeline):
        return _process_without_iterations(run, timeline, overrides or {})
    fault = run.fault
    if fault is None:
        return _process_baseline_only(
            run, timeline, title_lines, formats, overrides or {}
        )
    judged = judge_run(run, timeline, overrides or {})
    analysis = _chart_analysis(judged, timeline, fault.at - timeline.origin)
    fault_source = next(
        (v.fault_source for v in judged if v.analysis is analysis),
        fault.source,
    )
    triggered_at = (
        fault.triggered - timeline.origin if fault.triggered else None
    )
    healthy_at = fault.healthy - timeline.origin if fault.healthy else None
    findings = classify(run, analysis)
    text = commentary.describe(
        analysis, triggered_at, healthy_at, fault_source, findings, fault
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
        fault_at=analysis.fault_at,
        triggered_at=triggered_at,
        fault_source=fault_source,
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
        verdicts=_recorded(run, judged),
        commentary=text,
        findings=findings,
        charts=charts_rendered,
    )


# Rally's criterion for an exception outside the iterations (a context
# that failed to set up).
CRASH_CRITERION = "something_went_wrong"


def not_run_reason(sla_results: list[dict]) -> str:
    """Why Rally ran no iteration, in its own words: the details of the
    criteria it failed (``something_went_wrong`` holds the exception of
    a context that failed to set up)."""
    failed = [r for r in sla_results if not r.get("success")]
    crashed = [r for r in failed if r.get("criterion") == CRASH_CRITERION]
    details = [str(r.get("detail") or r.get("criterion")) for r in crashed]
    details = details or [
        str(r.get("detail") or r.get("criterion")) for r in failed
    ]
    if not details:
        return "Rally recorded no reason"
    return shorten(mask("; ".join(details)), TEXT_LIMIT)


def _process_without_iterations(
    run: RunInput, timeline: Timeline, overrides: dict[str, Any]
) -> RunResult:
    """A workload Rally ran no iteration of (a context that failed to
    set up, say): a failed run with Rally's reason, no chart and nothing
    measured."""
    import math

    analysis = FaultAnalysis(timeline, math.inf, AnalysisConfig())
    reason = not_run_reason(run.sla_results)
    return RunResult(
        key=run.key,
        iterations=0,
        failures=0,
        load_seconds=0.0,
        fault_at=0.0,
        triggered_at=None,
        fault_source="none",
        fault_within_load=False,
        healthy_at=None,
        baseline=analysis.baseline,
        outages=[],
        degradations=[],
        downtime=0.0,
        downtime_uncertainty=0.0,
        degraded_seconds=0.0,
        worst_degradation_ratio=None,
        recovery=None,
        verdicts=_recorded(run, judge_run(run, timeline, overrides)),
        commentary=[f"Rally ran no iteration of this workload: {reason}."],
        findings=["no_iterations"],
        charts={},
    )


def _process_baseline_only(
    run: RunInput,
    timeline: Timeline,
    title_lines: tuple[str, str],
    formats: tuple[str, ...],
    overrides: dict[str, Any],
) -> RunResult:
    """A run without a fault: its chart, its latency and its baseline
    figures over the whole run (the threshold is the p95 of the run, the
    trend says whether durations grew), and "no fault in this run"."""
    import math

    settings: dict[str, Any] = {}
    for config in run.fault_slas.values():
        settings = {**config, **settings}
    try:
        config = AnalysisConfig.from_options(settings)
    except (TypeError, ValueError):
        config = AnalysisConfig()
    # Every operation ends before a fault that never comes.
    analysis = FaultAnalysis(timeline, math.inf, config)
    judged = judge_run(run, timeline, overrides)
    ok = timeline.durations[~timeline.failed]
    latency = None
    if len(ok):
        latency = {
            "mean": float(ok.mean()),
            "median": stats.percentile(ok, 50),
            "p95": stats.percentile(ok, 95),
            "p99": stats.percentile(ok, 99),
            "max": float(ok.max()),
        }
    findings = ["baseline_only"]
    trend = analysis.baseline.trend
    if trend is not None and trend.growing:
        findings.append("growing_baseline")
    if any(QUOTA_WORDS.search(f"{t} {m}") for t, m, _ in run.errors):
        findings.append("resource_limit")
    charts_rendered = {}
    if formats:
        from rally_osic.report import charts

        charts_rendered = charts.render_chart(
            analysis, title_lines, None, formats, fault=False
        )
    outages = analysis.outages
    return RunResult(
        key=run.key,
        iterations=len(timeline),
        failures=int(timeline.failed.sum()),
        load_seconds=timeline.end,
        fault_at=timeline.end,
        triggered_at=None,
        fault_source="none",
        fault_within_load=False,
        healthy_at=None,
        baseline=analysis.baseline,
        outages=outages,
        degradations=[],
        downtime=float(sum(o.downtime for o in outages)),
        downtime_uncertainty=float(sum(o.uncertainty for o in outages)),
        degraded_seconds=0.0,
        worst_degradation_ratio=None,
        recovery=None,
        verdicts=_recorded(run, judged),
        commentary=commentary.describe_baseline_only(
            analysis, latency, findings
        ),
        findings=findings,
        charts=charts_rendered,
        latency=latency,
    )


def classify(run: RunInput, analysis: FaultAnalysis) -> list[str]:
    """The whitepaper's error types that this run shows.

    "Needed a restart" rests on the fault hook's evidence (an unplanned
    restore, or a service that never came back); a service that came back
    by itself but whose calls stayed slow or failing is "not back to
    baseline", which is the load's evidence.
    """
    found = []
    if not analysis.fault_within_load:
        found.append("fault_outside_load")
        return found
    fault = run.fault
    if fault.restore_needed or fault.came_back == "never":
        found.append("needed_restart")
    recovery = analysis.recovery
    if recovery is None:
        pass
    elif recovery.state == rec.NEVER:
        if "needed_restart" not in found:
            found.append("not_back_to_baseline")
    elif recovery.state == rec.UNDETERMINED:
        found.append("recovery_undetermined")
    elif analysis.outages_after_fault:
        found.append("transient_failures")
    elif analysis.degradations_after_fault:
        found.append("degradation")
    else:
        found.append("no_effect")
    if recovery is not None and recovery.recovered:
        if recovery.relapses:
            found.append("relapse")
        if recovery.shift is not None and recovery.shift.lasting:
            found.append("lasting_shift")
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

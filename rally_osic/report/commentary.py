"""Plain-language commentary of a run, generated from measured figures.

Every sentence states a figure the analysis measured; nothing here
computes a new one.
"""

from __future__ import annotations

from rally_osic.measure import FaultAnalysis, Outage, verdicts
from rally_osic.measure import recovery as rec

# Error types of the whitepaper's "Results - Summary", in display order.
FINDINGS = {
    "needed_restart": "Failed to recover: needed a restart",
    "not_back_to_baseline": "Performance not back to baseline",
    "recovery_undetermined": "Run too short to judge recovery",
    "transient_failures": "Transient failures after the fault",
    "degradation": "Degradation without failures",
    "no_effect": "No measurable effect",
    "relapse": "Relapse after recovery",
    "lasting_shift": "Lasting shift: slower than before the fault",
    "growing_baseline": "Growing baseline (durations rise before the fault)",
    "resource_limit": "Probable quota or resource limit",
    "failures_before_fault": "Failures before the fault",
    "small_baseline": "Baseline too small to judge degradation",
    "fault_outside_load": "Fault outside the load",
    "baseline_only": "Baseline runs: no fault in the run",
    "no_iterations": "Rally ran no iteration",
}
# Error types of the results summary, each with its own table.
ERROR_TYPES = (
    "needed_restart",
    "not_back_to_baseline",
    "recovery_undetermined",
    "transient_failures",
    "degradation",
    "no_effect",
)
ANOMALIES = (
    "no_iterations",
    "relapse",
    "lasting_shift",
    "growing_baseline",
    "resource_limit",
    "failures_before_fault",
    "small_baseline",
    "fault_outside_load",
)


def seconds(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:.0f} s"
    return f"{value:.1f} s"


def at(value: float) -> str:
    return f"+{value:.0f} s" if abs(value) >= 100 else f"+{value:.1f} s"


def plural(count: int, word: str) -> str:
    if count == 1:
        return f"{count} {word}"
    return f"{count} {word}{'es' if word.endswith('s') else 's'}"


def describe(
    analysis: FaultAnalysis,
    triggered_at: float | None,
    healthy_at: float | None,
    source: str,
    findings: list[str],
    fault=None,
) -> list[str]:
    """Short paragraphs: fault, baseline, failures, degradation, verdict.

    ``fault`` is the run's :class:`rally_osic.report.faults.FaultTime`,
    whose hook evidence (how the target came back) is set beside the
    load's.
    """
    lines = [_fault_sentence(analysis, triggered_at, source)]
    if "fault_outside_load" in findings:
        lines.append(
            f"The fault at {at(analysis.fault_at)} lies outside the load "
            f"(0 to {at(analysis.timeline.end)}): nothing can be measured."
        )
        return lines
    lines.append(_baseline_sentence(analysis))
    outages = analysis.outages_after_fault
    for outage in outages:
        lines.append(_outage_sentence(outage, analysis))
    if outages:
        lines.append(
            f"Downtime in total: {seconds(analysis.downtime)} ± "
            f"{seconds(analysis.downtime_uncertainty)}."
        )
    lines.extend(_degradation_sentences(analysis))
    lines.extend(_recovery_sentences(analysis))
    lines.extend(_hook_sentences(analysis, healthy_at, fault))
    return lines


def describe_baseline_only(
    analysis: FaultAnalysis,
    latency: dict[str, float] | None,
    findings: list[str],
) -> list[str]:
    """A run without a fault: its load, latency and trend."""
    timeline = analysis.timeline
    failed = int(timeline.failed.sum())
    lines = [
        f"No fault in this run: a baseline run of "
        f"{plural(len(timeline), 'operation')} over "
        f"{seconds(timeline.end)}, {failed} failed."
    ]
    if latency is None:
        lines.append("No operation succeeded: there is no latency to show.")
        return lines
    lines.append(
        f"Latency of the successful operations: mean "
        f"{latency['mean']:.3f} s, median {latency['median']:.3f} s, p95 "
        f"{latency['p95']:.3f} s, p99 {latency['p99']:.3f} s, max "
        f"{latency['max']:.3f} s."
    )
    trend = analysis.baseline.trend
    if "growing_baseline" in findings and trend is not None:
        lines.append(
            f"Durations grew during the run: the median of the last third "
            f"is {trend.growth:.0%} above that of the first (Spearman rho "
            f"{trend.rho:.2f})."
        )
    return lines


def _recovery_sentences(analysis: FaultAnalysis) -> list[str]:
    recovery = analysis.recovery
    if recovery is None:
        return [
            "Without a successful operation before the fault, recovery "
            "cannot be judged against a baseline."
        ]
    hold = verdicts.hold_text(recovery)
    if recovery.state == rec.UNDETERMINED:
        return [
            "The run ended too soon after the fault to judge recovery: "
            f"the service was healthy for the last "
            f"{seconds(recovery.observed)}, and recovery asks for {hold}."
        ]
    if recovery.state == rec.NEVER:
        text = (
            f"The service did not recover: it was {recovery.reason} for "
            f"the last {seconds(recovery.unhealthy_for)} of the run"
        )
        if recovery.above_threshold is not None:
            text += (
                f", its running mean {recovery.above_threshold:.2f}× the "
                "threshold"
            )
        if recovery.healthy_from is not None:
            text += (
                f", after a healthy stretch from {at(recovery.healthy_from)}"
            )
        return [text + "."]
    outages = analysis.outages_after_fault
    if not outages and not analysis.degradations_after_fault:
        lines = [
            "The fault had no measurable effect: no failed operation and no "
            "degradation after it."
        ]
    elif recovery.time_to_recover == 0:
        lines = [
            f"The service stayed healthy for {hold} after the fault: it "
            "counts as recovered at once; what followed is a relapse."
        ]
    else:
        lines = [
            f"The service recovered {seconds(recovery.time_to_recover)} "
            f"after the fault (at {at(recovery.at)}) and then stayed "
            f"healthy for at least {hold}."
        ]
    if recovery.relapses:
        lines.append(f"After recovering: {verdicts.relapse_text(recovery)}.")
    if recovery.shift is not None and recovery.shift.lasting:
        shift = recovery.shift
        lines.append(
            f"Once recovered, its calls stayed {shift.ratio:.0%} slower than "
            f"the baseline (median of {plural(shift.samples, 'operation')}, "
            f"Mann-Whitney p = {shift.p_value:.1g}): a lasting shift, "
            "although it works."
        )
    return lines


def _hook_sentences(analysis, healthy_at, fault) -> list[str]:
    """The fault hook's evidence, and where it disagrees with the load."""
    came_back = getattr(fault, "came_back", None)
    restore_needed = getattr(fault, "restore_needed", False)
    recovery = analysis.recovery
    load_recovered = recovery is not None and recovery.recovered
    lines = []
    if restore_needed or came_back == "never":
        if came_back == "never":
            text = (
                "The fault hook never saw the target healthy again: it did "
                "not come back by itself, and a restart was needed"
            )
        else:
            text = (
                "The fault hook had to restart the target: it did not come "
                "back by itself"
            )
        if load_recovered:
            text += (
                "; the load recovered only after that restart"
                if came_back != "never"
                else "; yet the load recovered, so the hook's health check "
                "and the load disagree"
            )
        lines.append(text + ".")
    elif healthy_at is not None:
        how = " (it came back by itself)" if came_back == "itself" else ""
        text = (
            f"The fault hook saw the target healthy again at "
            f"{at(healthy_at)}{how}"
        )
        if recovery is not None and recovery.state == rec.NEVER:
            text += (
                ", but the load was not back to its baseline: the process "
                "was back, its performance was not"
            )
        lines.append(text + ".")
    return lines


def _fault_sentence(analysis, triggered_at, source) -> str:
    if triggered_at is not None:
        delay = analysis.fault_at - triggered_at
        return (
            f"The fault was triggered at {at(triggered_at)} and observed to "
            f"take effect at {at(analysis.fault_at)}, {seconds(delay)} later."
        )
    how = {
        "hook": "when the fault hook started",
        "trigger": "as configured in the fault SLA (trigger time, not "
        "observed)",
        "measured": "as measured by the fault hook",
    }.get(source, "")
    return f"The fault was injected at {at(analysis.fault_at)}, {how}."


def _baseline_sentence(analysis) -> str:
    baseline = analysis.baseline
    if baseline.samples == 0:
        return (
            "There is no successful operation before the fault: no baseline."
        )
    text = (
        f"Baseline: {plural(baseline.samples, 'successful operation')} "
        f"before the fault, mean {baseline.mean:.3f} s; degradation "
        f"threshold (p{baseline.percentile:g}) {baseline.threshold:.3f} s."
    )
    if not baseline.sufficient:
        text += (
            f" That is fewer than the {analysis.config.min_baseline} samples "
            "needed to judge degradation."
        )
    trend = baseline.trend
    if trend is not None and trend.growing:
        text += (
            f" Durations grew by {trend.growth:.0%} during the baseline "
            f"(rank correlation {trend.rho:.2f}), before any fault: resources "
            "may be piling up, or a quota or limit is near."
        )
    if baseline.failures:
        text += f" {plural(baseline.failures, 'operation')} failed before it."
    return text


def _outage_sentence(outage: Outage, analysis: FaultAnalysis) -> str:
    end_text = (
        "to the end of the run"
        if outage.open_ended
        else (f"to {at(outage.end)}")
    )
    count = plural(outage.failures, "failed operation")
    if outage.full:
        return (
            f"Only failures from {at(outage.start)} {end_text}: "
            f"{count}, downtime {seconds(outage.downtime)} ± "
            f"{seconds(outage.uncertainty)}."
        )
    full_runs = [run for run in outage.full_runs if run[1] > run[0]]
    longest = max(full_runs, key=lambda r: r[1] - r[0], default=None)
    text = (
        f"Failures coexist with successful operations from "
        f"{at(outage.start)} ({count}, "
        f"{plural(outage.successes, 'success')} in between)"
    )
    if longest is not None and longest[0] > outage.start:
        text += (
            f" for {seconds(longest[0] - outage.start)}, then only failures"
        )
        if outage.open_ended and longest[1] >= outage.end:
            text += f": downtime from {at(longest[0])} to the end"
        else:
            text += f" from {at(longest[0])} to {at(longest[1])}"
    else:
        text += f" {end_text}"
    return text + "."


def _degradation_sentences(analysis: FaultAnalysis) -> list[str]:
    periods = analysis.degradations_after_fault
    if not periods:
        return []
    mean = analysis.baseline.mean or 0.0
    worst = max(periods, key=lambda p: p.mean)
    text = (
        f"Performance degraded for {seconds(analysis.degraded_seconds)} after "
        f"the fault in {plural(len(periods), 'period')}"
    )
    if mean:
        text += (
            f"; the worst averaged {worst.mean:.3f} s per operation, "
            f"{worst.mean / mean:.1f}× the baseline mean"
        )
    if periods[-1].reaches_end:
        text += ", and was still degraded at the end of the run"
    return [text + "."]

"""Plain-language commentary of a run, generated from measured figures.

Every sentence states a figure the analysis measured; nothing here
computes a new one.
"""

from __future__ import annotations

from rally_osic.measure import FaultAnalysis, Outage

# Error types of the whitepaper's "Results - Summary", in display order.
FINDINGS = {
    "failed_to_recover": "Services failed to recover",
    "transient_failures": "Transient failures after the fault",
    "degradation": "Degradation without failures",
    "no_effect": "No measurable effect",
    "growing_baseline": "Growing baseline (durations rise before the fault)",
    "resource_limit": "Probable quota or resource limit",
    "failures_before_fault": "Failures before the fault",
    "small_baseline": "Baseline too small to judge degradation",
    "fault_outside_load": "Fault outside the load",
}
ANOMALIES = (
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
) -> list[str]:
    """Short paragraphs: fault, baseline, failures, degradation, verdict."""
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
    recovery = analysis.recovery
    if not outages and not analysis.degradations_after_fault:
        lines.append(
            "The fault had no measurable effect: no failed operation and no "
            "degradation after it."
        )
    elif recovery.recovered:
        lines.append(
            f"The service recovered {seconds(recovery.time_to_recover)} "
            f"after the fault (at {at(recovery.at)})."
        )
    else:
        lines.append(
            f"The service did not recover: {recovery.reason}. A manual "
            "restart may have been needed."
        )
    if healthy_at is not None:
        lines.append(
            f"The fault hook saw the target healthy again at {at(healthy_at)}."
        )
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

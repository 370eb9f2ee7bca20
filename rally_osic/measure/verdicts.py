"""The verdict of each fault criterion, with its one-line detail.

One code path for every judge: the SLA plugins call :func:`judge` at the
end of a Rally run, and the report and ``rally-osic verdicts`` call it on
stored results, so the three cannot disagree.

Pure module: no Rally imports, no I/O. Times are seconds since load start.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from rally_osic.measure import recovery as rec
from rally_osic.measure.analysis import AnalysisConfig, FaultAnalysis
from rally_osic.measure.schema import CRITERIA
from rally_osic.measure.timeline import Timeline

DEFAULT_WITHIN = 300.0


@dataclasses.dataclass(frozen=True)
class Verdict:
    criterion: str
    success: bool
    detail: str  # the one-line text of the SLA result
    fault_at: float | None = None
    fault_source: str = ""
    analysis: FaultAnalysis | None = dataclasses.field(
        default=None, compare=False, repr=False
    )


def fault_time(
    config: Mapping[str, Any],
    timeline: Timeline,
    measured_at: float | None,
    measured_source: str = "measured",
) -> tuple[float | None, str]:
    """Fault time in seconds since load start, and where it came from.

    A fault time measured by the osic_fault hook of the same workload
    wins over the configured trigger unless ``prefer_measured`` is false:
    the trigger says when the command was issued, not when the service
    was hit. Without a time, the second value says why.
    """
    if measured_at is not None and config.get("prefer_measured", True):
        return measured_at, measured_source
    fault_at = config.get("fault_at")
    if not isinstance(fault_at, Mapping):
        return None, (
            "no fault time: set fault_at, or run the osic_fault hook in "
            "this workload"
        )
    if fault_at.get("unit") == "iteration":
        start = timeline.start_of_iteration(int(fault_at["at"]))
        if start is None:
            return None, (
                f"fault at iteration {fault_at['at']} never happened: the "
                f"load ran {len(timeline)} iterations"
            )
        return start, f"trigger, iteration {fault_at['at']}"
    return float(fault_at["at"]), "trigger"


def judge(
    criterion: str,
    config: Mapping[str, Any],
    timeline: Timeline,
    measured_at: float | None = None,
    measured_source: str = "measured",
) -> Verdict:
    """Judge one fault criterion (``fault_downtime``, ...) on a run."""
    if criterion not in CRITERIA:
        raise ValueError(f"unknown fault criterion {criterion!r}")
    if not len(timeline):
        return Verdict(criterion, False, "no iterations to judge: FAIL")
    at, source = fault_time(config, timeline, measured_at, measured_source)
    if at is None:
        return Verdict(criterion, False, f"{source}: FAIL")
    analysis = FaultAnalysis(timeline, at, AnalysisConfig.from_options(config))
    if not analysis.fault_within_load:
        return Verdict(
            criterion,
            False,
            f"fault at +{at:.1f} s ({source}) is outside the load "
            f"(0 to +{timeline.end:.1f} s): FAIL",
            at,
            source,
            analysis,
        )
    success, detail = JUDGES[criterion](analysis, config)
    return Verdict(
        criterion,
        success,
        f"{detail}: {'PASS' if success else 'FAIL'}"
        f" (fault at +{at:.1f} s, {source})",
        at,
        source,
        analysis,
    )


def insufficient_baseline(analysis: FaultAnalysis) -> str | None:
    """A one-line reason when the baseline is too small to judge."""
    baseline = analysis.baseline
    if baseline.sufficient:
        return None
    return (
        f"baseline too small: {baseline.samples} successful samples before "
        f"the fault (need {analysis.config.min_baseline})"
    )


def judge_downtime(analysis, config) -> tuple[bool, str]:
    limit = config["max"]
    outages = analysis.outages_after_fault
    if config.get("full_only", False):
        downtime = sum(o.full_downtime for o in outages)
        label = "full downtime"
    else:
        downtime = analysis.downtime
        label = "downtime"
    uncertainty = analysis.downtime_uncertainty
    full = sum(1 for o in outages if o.full)
    shape = f"{len(outages)} outage{'s' if len(outages) != 1 else ''}"
    if outages:
        shape += f", {full} full, {len(outages) - full} partial"
        if outages[-1].open_ended:
            shape += ", still failing at end of run"
    return downtime <= limit, (
        f"{label} {downtime:.1f} s ± {uncertainty:.1f} s in {shape} "
        f"(limit {limit:g} s)"
    )


def judge_degradation(analysis, config) -> tuple[bool, str]:
    too_small = insufficient_baseline(analysis)
    if too_small:
        return False, too_small
    max_seconds = config.get("max_seconds")
    max_ratio = config.get("max_ratio")
    degraded = analysis.degraded_seconds
    ratio = analysis.worst_degradation_ratio
    success = True
    figures, limits = [f"degraded {degraded:.1f} s"], []
    if max_seconds is not None:
        success &= degraded <= max_seconds
        limits.append(f"{max_seconds:g} s")
    if ratio is not None:
        figures.append(f"worst period {ratio:.2f}x baseline mean")
    if max_ratio is not None:
        success &= ratio is None or ratio <= max_ratio
        limits.append(f"{max_ratio:g}x")
    baseline = analysis.baseline
    detail = (
        f"{', '.join(figures)} (limit {', '.join(limits)}); threshold "
        f"p{baseline.percentile:g} = {baseline.threshold:.3f} s from "
        f"{baseline.samples} baseline samples"
    )
    if baseline.trend and baseline.trend.growing:
        detail += (
            f"; baseline grows {baseline.trend.growth:+.0%} over time "
            f"(rho {baseline.trend.rho:.2f})"
        )
    return bool(success), detail


def judge_recovery(analysis, config) -> tuple[bool, str]:
    within = config.get("within", DEFAULT_WITHIN)
    too_small = insufficient_baseline(analysis)
    if too_small:
        return False, too_small
    recovery = analysis.recovery
    if recovery.state == rec.UNDETERMINED:
        return False, (
            "run too short after the fault to judge recovery "
            f"({recovery.observed:.1f} s observed, hold "
            f"{hold_text(recovery)}; limit {within:g} s)"
        )
    if recovery.state == rec.NEVER:
        figures = (
            f"{recovery.reason} for the last {recovery.unhealthy_for:.1f} s"
        )
        if recovery.above_threshold is not None:
            figures += (
                f", running mean {recovery.above_threshold:.2f}x the threshold"
            )
        return False, f"never recovered: {figures} (limit {within:g} s)"
    ttr = recovery.time_to_recover
    detail = (
        f"recovered {ttr:.1f} s after the fault, held "
        f"{hold_text(recovery)} (limit {within:g} s)"
    )
    if recovery.relapses:
        detail += "; " + relapse_text(recovery)
    shift = recovery.shift
    if shift is not None and shift.lasting:
        detail += "; " + shift_text(shift)
    return ttr <= within, detail


def hold_text(recovery: rec.Recovery) -> str:
    parts = [f"{recovery.hold:g} s"]
    if recovery.hold_operations:
        parts.append(f"{recovery.hold_operations} operations")
    return " and ".join(parts)


def relapse_text(recovery: rec.Recovery) -> str:
    relapses = recovery.relapses
    count = len(relapses)
    text = (
        f"{count} relapse{'s' if count != 1 else ''} "
        f"({recovery.relapse_seconds:.1f} s"
    )
    failures = sum(r.failures for r in relapses)
    if failures:
        text += f", {failures} failed"
    ratios = [r.worst_ratio for r in relapses if r.worst_ratio is not None]
    if ratios:
        text += f", worst {max(ratios):.2f}x baseline mean"
    if relapses[-1].reaches_end:
        text += ", the last at the end of the run"
    return text + ")"


def shift_text(shift: rec.Shift) -> str:
    return (
        f"lasting shift: median {shift.ratio:+.0%} against the baseline "
        f"after recovery (p = {shift.p_value:.1g}, {shift.samples} "
        "operations)"
    )


JUDGES = {
    "fault_downtime": judge_downtime,
    "fault_degradation": judge_degradation,
    "fault_recovery": judge_recovery,
}

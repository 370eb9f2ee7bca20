"""Fault analysis of one workload run, as the availability study defines it.

Every figure is judged against the run's own pre-fault baseline:

* **baseline**: the operations that finished before the fault, after an
  optional warm-up cut;
* **degradation threshold**: a percentile (95th by default) of the
  successful baseline durations;
* **running mean**: a centred running mean of successful durations, and
  **degradation periods** where it stays above the threshold for at least
  ``persistence`` consecutive operations (one slow operation in twenty is
  expected by the definition of the 95th percentile);
* **outages**: clusters of failed operations; a cluster ends once
  ``cluster_gap`` consecutive operations succeed. Downtime runs from the
  first to the last failed operation of a cluster, ± half the gaps to the
  neighbouring successful operations. A cluster with no success inside is a
  *full* outage, one where failures and successes are mixed is *partial*;
* **recovery**: from the fault until the failures stop and the running mean
  is back under the threshold. A run that ends while still failing or
  degraded never recovered.

Pure module: no Rally imports, no I/O. Times are seconds since load start.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools

from rally_osic.measure import stats
from rally_osic.measure.timeline import Timeline


@dataclasses.dataclass(frozen=True)
class AnalysisConfig:
    percentile: float = 95.0
    warmup_iterations: int = 0
    min_baseline: int = 10
    window: int = 5
    persistence: int = 3
    cluster_gap: int = 5
    trend_min_growth: float = 0.25
    trend_min_rho: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.percentile <= 100:
            raise ValueError("percentile must be in (0, 100]")
        for name in ("min_baseline", "window", "persistence", "cluster_gap"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.warmup_iterations < 0:
            raise ValueError("warmup_iterations must not be negative")


@dataclasses.dataclass(frozen=True)
class Trend:
    """Baseline durations growing with time (e.g. resources piling up)."""

    growth: float  # median of last third / median of first third - 1
    rho: float  # Spearman rank correlation of duration with time
    growing: bool


@dataclasses.dataclass(frozen=True)
class Baseline:
    samples: int  # successful baseline operations used
    failures: int  # failed operations inside the baseline window
    mean: float | None
    threshold: float | None
    percentile: float
    sufficient: bool
    trend: Trend | None


@dataclasses.dataclass(frozen=True)
class Degradation:
    """A period where the running mean stayed above the threshold."""

    start: float
    end: float
    operations: int
    mean: float  # mean duration of the operations in the period
    peak: float  # highest running mean inside the period
    reaches_end: bool  # still degraded at the last successful operation

    @property
    def length(self) -> float:
        return self.end - self.start


@dataclasses.dataclass(frozen=True)
class Outage:
    """A cluster of failed operations."""

    start: float  # start of the first failed operation
    end: float  # start of the last failed operation
    uncertainty: float  # ± seconds, half the gaps to neighbouring successes
    failures: int
    successes: int  # successful operations between first and last failure
    full_runs: tuple[tuple[float, float], ...]  # only-failure stretches
    starts_at_load_start: bool  # no success before it
    open_ended: bool  # fewer than cluster_gap successes after it

    @property
    def downtime(self) -> float:
        return self.end - self.start

    @property
    def full(self) -> bool:
        return self.successes == 0

    @property
    def full_downtime(self) -> float:
        return sum(end - start for start, end in self.full_runs)


@dataclasses.dataclass(frozen=True)
class Recovery:
    recovered: bool
    at: float | None  # seconds since load start
    time_to_recover: float | None  # seconds since the fault
    reason: str  # why it did not recover, or "" if it did


class FaultAnalysis:
    """Lazily computed analysis of a timeline around one fault.

    Each figure is computed on first access, so an SLA that only needs the
    outages never pays for the running mean.
    """

    def __init__(
        self,
        timeline: Timeline,
        fault_at: float,
        config: AnalysisConfig | None = None,
    ) -> None:
        self.timeline = timeline
        self.fault_at = fault_at
        self.config = config or AnalysisConfig()

    @property
    def fault_within_load(self) -> bool:
        return 0.0 <= self.fault_at <= self.timeline.end

    @functools.cached_property
    def baseline(self) -> Baseline:
        return compute_baseline(self.timeline, self.fault_at, self.config)

    @functools.cached_property
    def successful(self) -> tuple[list[float], list[float]]:
        """(starts, durations) of the successful operations."""
        return self.timeline.successful()

    @functools.cached_property
    def running_mean(self) -> tuple[list[float], list[float]]:
        """(start times, running means) of the successful operations."""
        starts, durations = self.successful
        return starts, stats.centered_running_mean(
            durations, self.config.window
        )

    @functools.cached_property
    def degradations(self) -> list[Degradation]:
        """All degradation periods of the run, before the fault included."""
        threshold = self.baseline.threshold
        if threshold is None:
            return []
        return degradation_periods(
            *self.successful,
            self.running_mean[1],
            threshold,
            self.config.persistence,
        )

    @functools.cached_property
    def degradations_after_fault(self) -> list[Degradation]:
        return [d for d in self.degradations if d.end > self.fault_at]

    @functools.cached_property
    def outages(self) -> list[Outage]:
        return find_outages(self.timeline, self.config.cluster_gap)

    @functools.cached_property
    def outages_after_fault(self) -> list[Outage]:
        return [o for o in self.outages if o.end >= self.fault_at]

    @property
    def downtime(self) -> float:
        return sum(o.downtime for o in self.outages_after_fault)

    @property
    def downtime_uncertainty(self) -> float:
        return sum(o.uncertainty for o in self.outages_after_fault)

    @property
    def degraded_seconds(self) -> float:
        return sum(
            d.end - max(d.start, self.fault_at)
            for d in self.degradations_after_fault
        )

    @property
    def worst_degradation_ratio(self) -> float | None:
        """Highest mean of a post-fault degradation period / baseline mean."""
        mean = self.baseline.mean
        periods = self.degradations_after_fault
        if not periods or not mean:
            return None
        return max(d.mean for d in periods) / mean

    @functools.cached_property
    def recovery(self) -> Recovery:
        return compute_recovery(
            self.timeline,
            self.fault_at,
            self.outages_after_fault,
            self.degradations_after_fault,
        )


def compute_baseline(
    timeline: Timeline, fault_at: float, config: AnalysisConfig
) -> Baseline:
    """Operations that started after the warm-up and ended before the fault.

    An operation still running when the fault hit may have been slowed by
    it, so it is not part of the baseline.
    """
    times: list[float] = []
    durations: list[float] = []
    failures = 0
    starts, lengths, failed = (
        timeline.starts,
        timeline.durations,
        timeline.failed,
    )
    for index in range(config.warmup_iterations, len(starts)):
        start = starts[index]
        if start >= fault_at:
            break
        if start + lengths[index] > fault_at:
            continue
        if failed[index]:
            failures += 1
        else:
            times.append(start)
            durations.append(lengths[index])
    if not durations:
        return Baseline(
            0, failures, None, None, config.percentile, False, None
        )
    sufficient = len(durations) >= config.min_baseline
    return Baseline(
        samples=len(durations),
        failures=failures,
        mean=sum(durations) / len(durations),
        threshold=stats.percentile(durations, config.percentile),
        percentile=config.percentile,
        sufficient=sufficient,
        trend=baseline_trend(times, durations, config) if sufficient else None,
    )


def baseline_trend(
    times: list[float], durations: list[float], config: AnalysisConfig
) -> Trend:
    """Whether baseline durations keep growing with time.

    Compares the medians of the first and last thirds, which a few
    outliers cannot move, and asks the rank correlation to agree so that a
    single step is not mistaken for a trend.
    """
    third = max(1, len(durations) // 3)
    first = stats.median(durations[:third])
    last = stats.median(durations[-third:])
    growth = (last / first - 1.0) if first > 0 else 0.0
    rho = stats.spearman_rho(times, durations)
    growing = growth >= config.trend_min_growth and rho >= config.trend_min_rho
    return Trend(growth=growth, rho=rho, growing=growing)


def degradation_periods(
    starts: list[float],
    durations: list[float],
    means: list[float],
    threshold: float,
    persistence: int,
) -> list[Degradation]:
    """Runs of >= persistence successful operations whose mean > threshold.

    ``starts``, ``durations`` and running ``means`` are those of the
    successful operations, in order.
    """
    # Running means come from prefix sums, whose rounding would otherwise
    # put a flat run of durations equal to the threshold "above" it.
    limit = threshold + 1e-9 * max(1.0, abs(threshold))
    periods: list[Degradation] = []
    run_start = None
    for index in range(len(means) + 1):
        above = index < len(means) and means[index] > limit
        if above and run_start is None:
            run_start = index
        elif not above and run_start is not None:
            if index - run_start >= persistence:
                span = range(run_start, index)
                periods.append(
                    Degradation(
                        start=starts[run_start],
                        end=max(starts[i] + durations[i] for i in span),
                        operations=index - run_start,
                        mean=sum(durations[i] for i in span)
                        / (index - run_start),
                        peak=max(means[i] for i in span),
                        reaches_end=index == len(means),
                    )
                )
            run_start = None
    return periods


def find_outages(timeline: Timeline, cluster_gap: int) -> list[Outage]:
    """Clusters of failures, split by ``cluster_gap`` consecutive successes."""
    starts, failed = timeline.starts, timeline.failed
    outages: list[Outage] = []
    count = len(starts)
    index = 0
    while index < count:
        if not failed[index]:
            index += 1
            continue
        first = index
        last = index
        successes_inside = 0
        streak = 0  # successes since the last failure
        index += 1
        while index < count and streak < cluster_gap:
            if failed[index]:
                successes_inside += streak
                streak = 0
                last = index
            else:
                streak += 1
            index += 1
        outages.append(
            _make_outage(timeline, first, last, successes_inside, cluster_gap)
        )
        index = last + 1
    return outages


def _make_outage(
    timeline: Timeline,
    first: int,
    last: int,
    successes_inside: int,
    cluster_gap: int,
) -> Outage:
    starts, failed = timeline.starts, timeline.failed
    previous_success = next(
        (i for i in range(first - 1, -1, -1) if not failed[i]), None
    )
    successes_after = 0
    next_success = None
    # Past the last failure come only successes until the cluster closes.
    for i in range(last + 1, len(starts)):
        if next_success is None:
            next_success = i
        successes_after += 1
        if successes_after >= cluster_gap:
            break
    gap_before = (
        starts[first] - starts[previous_success]
        if previous_success is not None
        else 0.0
    )
    gap_after = (
        starts[next_success] - starts[last]
        if next_success is not None
        else 0.0
    )
    full_runs = []
    run_first = None
    for i in range(first, last + 2):
        is_failure = i <= last and failed[i]
        if is_failure and run_first is None:
            run_first = i
        elif not is_failure and run_first is not None:
            full_runs.append((starts[run_first], starts[i - 1]))
            run_first = None
    return Outage(
        start=starts[first],
        end=starts[last],
        uncertainty=(gap_before + gap_after) / 2.0,
        failures=last - first + 1 - successes_inside,
        successes=successes_inside,
        full_runs=tuple(full_runs),
        starts_at_load_start=previous_success is None,
        open_ended=successes_after < cluster_gap,
    )


def compute_recovery(
    timeline: Timeline,
    fault_at: float,
    outages: list[Outage],
    degradations: list[Degradation],
) -> Recovery:
    """When failures stopped and the running mean was back under threshold.

    ``outages`` and ``degradations`` are those after the fault. Recovery is
    dated by evidence: the first successful operation after the last
    failure, and the end of the last degradation period.
    """
    if outages and outages[-1].open_ended:
        return Recovery(False, None, None, "still failing at end of run")
    if degradations and degradations[-1].reaches_end:
        return Recovery(False, None, None, "still degraded at end of run")
    recovered_at = fault_at
    if outages:
        recovered_at = max(
            recovered_at, _first_success_after(timeline, outages[-1].end)
        )
    if degradations:
        recovered_at = max(recovered_at, degradations[-1].end)
    return Recovery(True, recovered_at, recovered_at - fault_at, "")


def _first_success_after(timeline: Timeline, time: float) -> float:
    starts, failed = timeline.starts, timeline.failed
    for i in range(bisect.bisect_right(starts, time), len(starts)):
        if not failed[i]:
            return starts[i]
    return time

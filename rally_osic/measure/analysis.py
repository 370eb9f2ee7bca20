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
* **recovery**: the start of the first stretch after the fault that stays
  healthy for a hold period (see :mod:`rally_osic.measure.recovery`);
  trouble after it is a relapse, not a failure to recover.

Pure module: no Rally imports, no I/O. Times are seconds since load start.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from rally_osic.measure import stats
from rally_osic.measure.recovery import Recovery, compute_recovery
from rally_osic.measure.timeline import Timeline


@dataclasses.dataclass(frozen=True)
class AnalysisConfig:
    percentile: float = 95.0
    warmup_iterations: int = 0
    min_baseline: int = 10
    window: int = 9
    persistence: int = 3
    cluster_gap: int = 5
    hold: float = 10.0
    hold_operations: int = 5
    recovery_margin: float = 0.1
    min_shift: float = 0.2
    trend_min_growth: float = 0.25
    trend_min_rho: float = 0.5

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> AnalysisConfig:
        """Take the analysis settings out of a larger mapping, such as a
        fault SLA's config; other keys are ignored."""
        names = [field.name for field in dataclasses.fields(cls)]
        return cls(
            **{name: options[name] for name in names if name in options}
        )

    def __post_init__(self) -> None:
        if not 0 < self.percentile <= 100:
            raise ValueError("percentile must be in (0, 100]")
        for name in ("min_baseline", "window", "persistence", "cluster_gap"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in (
            "warmup_iterations",
            "hold",
            "hold_operations",
            "recovery_margin",
            "min_shift",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 <= value < 1e9):
                raise ValueError(f"{name} must be a number, at least 0")


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
    next_success: float | None  # start of the first success after it

    @property
    def downtime(self) -> float:
        return self.end - self.start

    @property
    def full(self) -> bool:
        return self.successes == 0

    @property
    def full_downtime(self) -> float:
        return sum(end - start for start, end in self.full_runs)


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
    def baseline_durations(self) -> np.ndarray:
        """Durations of the successful baseline operations."""
        inside = baseline_window(self.timeline, self.fault_at, self.config)
        return self.timeline.durations[inside & ~self.timeline.failed]

    @functools.cached_property
    def successful(self) -> tuple[np.ndarray, np.ndarray]:
        """(starts, durations) of the successful operations."""
        return self.timeline.successful()

    @functools.cached_property
    def running_mean(self) -> tuple[np.ndarray, np.ndarray]:
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
        return float(sum(o.downtime for o in self.outages_after_fault))

    @property
    def downtime_uncertainty(self) -> float:
        return float(sum(o.uncertainty for o in self.outages_after_fault))

    @property
    def degraded_seconds(self) -> float:
        return float(
            sum(
                d.end - max(d.start, self.fault_at)
                for d in self.degradations_after_fault
            )
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
    def recovery(self) -> Recovery | None:
        """None without a threshold (no successful baseline operation)."""
        baseline = self.baseline
        if baseline.threshold is None:
            return None
        timeline, config = self.timeline, self.config
        means = np.full(len(timeline), np.nan)
        means[~timeline.failed] = self.running_mean[1]
        return compute_recovery(
            timeline.starts,
            timeline.durations,
            timeline.failed,
            means,
            self.fault_at,
            baseline.threshold,
            baseline.mean,
            self.baseline_durations,
            hold=config.hold,
            hold_operations=config.hold_operations,
            margin=config.recovery_margin,
            persistence=config.persistence,
            merge_gap=config.cluster_gap,
            min_shift=config.min_shift,
        )


def baseline_window(
    timeline: Timeline, fault_at: float, config: AnalysisConfig
) -> np.ndarray:
    """Which operations make the baseline, failed ones included."""
    inside = timeline.starts + timeline.durations <= fault_at
    inside[: config.warmup_iterations] = False
    return inside


def compute_baseline(
    timeline: Timeline, fault_at: float, config: AnalysisConfig
) -> Baseline:
    """Operations that started after the warm-up and ended before the fault.

    An operation still running when the fault hit may have been slowed by
    it, so it is not part of the baseline.
    """
    inside = baseline_window(timeline, fault_at, config)
    ok = inside & ~timeline.failed
    failures = int(np.count_nonzero(inside & timeline.failed))
    times, samples = timeline.starts[ok], timeline.durations[ok]
    if not len(samples):
        return Baseline(
            0, failures, None, None, config.percentile, False, None
        )
    sufficient = len(samples) >= config.min_baseline
    return Baseline(
        samples=len(samples),
        failures=failures,
        mean=float(samples.mean()),
        threshold=stats.percentile(samples, config.percentile),
        percentile=config.percentile,
        sufficient=sufficient,
        trend=baseline_trend(times, samples, config) if sufficient else None,
    )


def baseline_trend(
    times: np.ndarray, durations: np.ndarray, config: AnalysisConfig
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


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first, last + 1) indexes of the runs of True in ``mask``."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def degradation_periods(
    starts: np.ndarray,
    durations: np.ndarray,
    means: np.ndarray,
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
    firsts, stops = _runs(means > limit)
    keep = stops - firsts >= persistence
    firsts, stops = firsts[keep], stops[keep]
    if not len(firsts):
        return []
    # Reduce each run alone: cut at its first index and at its stop (a
    # stop at the very end needs no cut). Runs are separated by at least
    # one operation under the limit, so the cuts strictly increase.
    cuts = np.column_stack((firsts, stops)).ravel()
    if cuts[-1] == len(means):
        cuts = cuts[:-1]
    ends = np.maximum.reduceat(starts + durations, cuts)[0::2]
    sums = np.add.reduceat(durations, cuts)[0::2]
    peaks = np.maximum.reduceat(means, cuts)[0::2]
    count = len(means)
    return [
        Degradation(
            start=float(starts[first]),
            end=float(ends[k]),
            operations=int(stop - first),
            mean=float(sums[k] / (stop - first)),
            peak=float(peaks[k]),
            reaches_end=bool(stop == count),
        )
        for k, (first, stop) in enumerate(zip(firsts, stops))
    ]


def find_outages(timeline: Timeline, cluster_gap: int) -> list[Outage]:
    """Clusters of failures, split by ``cluster_gap`` consecutive successes.

    The operation just before a cluster and the one just after it are
    successes by construction (a failure there would belong to the
    cluster), which gives the gaps of the uncertainty directly.
    """
    starts = timeline.starts
    count = len(starts)
    failures = np.flatnonzero(timeline.failed)
    if not len(failures):
        return []
    successes_between = np.diff(failures) - 1
    splits = np.flatnonzero(successes_between >= cluster_gap)
    firsts = failures[np.concatenate(([0], splits + 1))]
    lasts = failures[np.concatenate((splits, [len(failures) - 1]))]
    # Stretches of consecutive failures, for the full part of each outage.
    run_breaks = np.flatnonzero(successes_between > 0)
    run_firsts = failures[np.concatenate(([0], run_breaks + 1))]
    run_lasts = failures[np.concatenate((run_breaks, [len(failures) - 1]))]
    run_cluster = np.searchsorted(lasts, run_lasts)
    fail_counts = np.diff(
        np.concatenate((np.searchsorted(failures, firsts), [len(failures)]))
    )
    outages = []
    for k, (first, last) in enumerate(zip(firsts, lasts)):
        mine = run_cluster == k
        gap_before = starts[first] - starts[first - 1] if first > 0 else 0.0
        has_next = last + 1 < count
        gap_after = starts[last + 1] - starts[last] if has_next else 0.0
        outages.append(
            Outage(
                start=float(starts[first]),
                end=float(starts[last]),
                uncertainty=float(gap_before + gap_after) / 2.0,
                failures=int(fail_counts[k]),
                successes=int(last - first + 1 - fail_counts[k]),
                full_runs=tuple(
                    zip(
                        starts[run_firsts[mine]].tolist(),
                        starts[run_lasts[mine]].tolist(),
                    )
                ),
                starts_at_load_start=bool(first == 0),
                open_ended=bool(count - last - 1 < cluster_gap),
                next_success=float(starts[last + 1]) if has_next else None,
            )
        )
    return outages

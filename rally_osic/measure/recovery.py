"""Recovery that holds: when the service was back, and whether it stayed.

A service has **recovered** at R when, from R on, it stays healthy for a
hold period (``hold`` seconds and ``hold_operations`` operations). An
operation is *healthy* when it succeeded and the running mean around it is
at or under the degradation threshold plus a relative margin
(``recovery_margin``). A stretch above that limit counts only when it
lasts ``persistence`` operations, as for degradation.

After R, unhealthy stretches are **relapses**: they are reported, and they
count toward downtime and degradation, but they do not undo the recovery,
unless the last one lasts to the end of the run for at least a hold period
and as long as the stretch that held (then the run never recovered).
Without a stretch that holds, the run either **never recovered** (it ends
unhealthy: still failing, or still degraded) or is **undetermined** (it
ends healthy, but too soon after the last trouble to have held for the
hold period).

Once recovered, the healthy operations after R are compared with the
baseline: a service that works but stays steadily slower than before the
fault shows a **lasting shift**, its own finding.

Pure module: no Rally imports, no I/O. Times are seconds since load start.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rally_osic.measure import stats

RECOVERED = "recovered"
NEVER = "never recovered"
UNDETERMINED = "undetermined"
STILL_FAILING = "still failing"
STILL_DEGRADED = "still degraded"


@dataclasses.dataclass(frozen=True)
class Relapse:
    """Failures or degradation after the service had recovered."""

    start: float  # start of its first operation
    end: float  # end of its last operation
    operations: int
    failures: int
    worst_ratio: float | None  # highest running mean / baseline mean
    reaches_end: bool  # the run ended inside it

    @property
    def length(self) -> float:
        return self.end - self.start


@dataclasses.dataclass(frozen=True)
class Shift:
    """Healthy operations after recovery against the baseline."""

    ratio: float  # median after / median of the baseline - 1
    p_value: float  # two-sided Mann-Whitney U
    samples: int  # healthy operations after recovery
    lasting: bool  # slower by at least min_shift, and significant


@dataclasses.dataclass(frozen=True)
class Recovery:
    state: str  # RECOVERED, NEVER or UNDETERMINED
    at: float | None  # R, seconds since load start
    time_to_recover: float | None  # R - fault time
    reason: str  # STILL_FAILING / STILL_DEGRADED when never recovered
    hold: float  # the hold asked for, seconds
    hold_operations: int
    relapses: tuple[Relapse, ...] = ()
    unhealthy_for: float | None = None  # never: seconds unhealthy at end
    above_threshold: float | None = None  # never: last mean / threshold
    observed: float | None = None  # undetermined: healthy seconds at end
    healthy_from: float | None = None  # never: a stretch held, then this
    shift: Shift | None = None

    @property
    def recovered(self) -> bool:
        return self.state == RECOVERED

    @property
    def relapse_seconds(self) -> float:
        return float(sum(r.length for r in self.relapses))


def persistent(mask: np.ndarray, persistence: int) -> np.ndarray:
    """``mask`` keeping only its runs of at least ``persistence`` Trues."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    firsts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    kept = np.zeros(len(mask), dtype=bool)
    for first, stop in zip(firsts, stops):
        if stop - first >= persistence:
            kept[first:stop] = True
    return kept


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, stop) index pairs of the runs of True in ``mask``."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(
        zip(
            np.flatnonzero(edges == 1).tolist(),
            np.flatnonzero(edges == -1).tolist(),
        )
    )


def _episodes(
    unhealthy: np.ndarray, first: int, merge_gap: int
) -> list[tuple[int, int]]:
    """Unhealthy runs from index ``first`` on, merged when fewer than
    ``merge_gap`` healthy operations separate them (as outages are)."""
    merged: list[tuple[int, int]] = []
    for start, stop in _runs(unhealthy[first:]):
        start, stop = start + first, stop + first
        if merged and start - merged[-1][1] < merge_gap:
            merged[-1] = (merged[-1][0], stop)
        else:
            merged.append((start, stop))
    return merged


def compute_recovery(
    starts: np.ndarray,
    durations: np.ndarray,
    failed: np.ndarray,
    means: np.ndarray,
    fault_at: float,
    threshold: float,
    baseline_mean: float,
    baseline_durations: np.ndarray,
    *,
    hold: float,
    hold_operations: int,
    margin: float,
    persistence: int,
    merge_gap: int,
    min_shift: float,
    shift_p: float = 0.01,
) -> Recovery:
    """Recovery of one run; every operation in start order.

    ``means`` is the running mean at each operation (NaN where it failed).
    """
    count = len(starts)
    ends = starts + durations
    end_of_run = float(ends.max()) if count else 0.0
    # Prefix sums put a flat run equal to the limit "above" it (see
    # degradation_periods); the same tolerance here.
    limit = threshold * (1.0 + margin)
    limit += 1e-9 * max(1.0, abs(limit))
    ok = ~failed
    slow = np.zeros(count, dtype=bool)
    slow[ok] = persistent(means[ok] > limit, persistence)
    unhealthy = failed | slow
    settings = {"hold": hold, "hold_operations": hold_operations}

    after = np.flatnonzero(ends > fault_at)
    first = int(after[0]) if len(after) else count

    def never(episode_start: int, healthy_from: float | None) -> Recovery:
        failing = bool(failed[max(episode_start, count - merge_gap) :].any())
        last_mean = means[ok][-1] if ok.any() else np.nan
        above = None
        if not failing and np.isfinite(last_mean) and threshold > 0:
            above = _ratio(last_mean, threshold)
        return Recovery(
            NEVER,
            None,
            None,
            STILL_FAILING if failing else STILL_DEGRADED,
            unhealthy_for=end_of_run
            - max(fault_at, float(starts[episode_start])),
            above_threshold=above,
            healthy_from=healthy_from,
            **settings,
        )

    for start, stop in _runs(~unhealthy[first:]):
        start, stop = start + first, stop + first
        begins = (
            fault_at if start == first else max(fault_at, float(starts[start]))
        )
        until = float(starts[stop]) if stop < count else end_of_run
        if until - begins < hold or stop - start < hold_operations:
            continue
        episodes = _episodes(unhealthy, stop, merge_gap)
        if episodes and episodes[-1][1] == count:
            # Trouble to the end outweighs the recovery only when it is at
            # least as strong evidence: a whole hold period, and as long
            # as the stretch that held. A shorter one, such as a busy
            # machine's slow last seconds, is a relapse at the end.
            last = episodes[-1][0]
            trouble = end_of_run - float(starts[last])
            if trouble >= max(hold, until - begins) and count - last >= max(
                hold_operations, stop - start
            ):
                return never(last, begins)
        healthy_after = ~unhealthy[start:] & ok[start:]
        return Recovery(
            RECOVERED,
            begins,
            begins - fault_at,
            "",
            relapses=tuple(
                _relapse(a, b, starts, ends, failed, means, baseline_mean)
                for a, b in episodes
            ),
            shift=lasting_shift(
                durations[start:][healthy_after],
                baseline_durations,
                min_shift,
                shift_p,
            ),
            **settings,
        )
    if first < count and unhealthy[-1]:
        return never(_episodes(unhealthy, first, merge_gap)[-1][0], None)
    healthy_tail = 0.0
    if first < count:
        last_bad = np.flatnonzero(unhealthy[first:])
        begins = (
            float(starts[first + last_bad[-1] + 1])
            if len(last_bad)
            else fault_at
        )
        healthy_tail = max(0.0, end_of_run - begins)
    return Recovery(
        UNDETERMINED, None, None, "", observed=healthy_tail, **settings
    )


def _relapse(first, stop, starts, ends, failed, means, baseline_mean):
    inside = slice(first, stop)
    slow_means = means[inside][~failed[inside]]
    worst = None
    if len(slow_means) and baseline_mean:
        worst = _ratio(np.nanmax(slow_means), baseline_mean)
    return Relapse(
        start=float(starts[first]),
        end=float(ends[inside].max()),
        operations=int(stop - first),
        failures=int(failed[inside].sum()),
        worst_ratio=worst,
        reaches_end=bool(stop == len(starts)),
    )


def _ratio(value: float, reference: float) -> float | None:
    """value / reference, or None where it overflows (hostile input)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ratio = float(np.float64(value) / np.float64(reference))
    return ratio if np.isfinite(ratio) else None


def lasting_shift(
    after: np.ndarray,
    baseline: np.ndarray,
    min_shift: float,
    p_limit: float,
) -> Shift | None:
    """Whether healthy durations after recovery sit above the baseline.

    Medians, so that a few slow calls do not make a shift; the rank test
    asks the whole distribution to have moved, not its middle alone.
    """
    if len(after) < 2 or len(baseline) < 2:
        return None
    base = stats.median(baseline)
    if base <= 0:
        return None
    ratio = stats.median(after) / base - 1.0
    p_value = stats.mann_whitney_p(after, baseline)
    return Shift(
        ratio=ratio,
        p_value=p_value,
        samples=len(after),
        lasting=bool(ratio >= min_shift and p_value < p_limit),
    )

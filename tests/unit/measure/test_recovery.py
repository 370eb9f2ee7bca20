"""Table cases of recovery that holds, one operation per second unless
said otherwise (see helpers.timeline_from_pattern: "." 0.1 s, "S" 1.0 s,
"x" failed)."""

import numpy as np
import pytest

from rally_osic.measure import AnalysisConfig, FaultAnalysis, Timeline
from rally_osic.measure import recovery as rec
from tests.unit.measure.helpers import timeline_from_pattern

BASE = "." * 20
FAULT = 19.5
# 40 values spread evenly over ±2 ms, in a scrambled order: median 0.
NOISE = 0.004 * (((np.arange(40) * 17) % 40) / 39 - 0.5)


def recovery_of(pattern, fault_at=FAULT, interval=1.0, **config):
    timeline = timeline_from_pattern(pattern, interval=interval)
    return FaultAnalysis(timeline, fault_at, AnalysisConfig(**config)).recovery


def test_no_effect_recovers_at_the_fault():
    recovery = recovery_of(BASE + "." * 20)
    assert recovery.recovered
    assert recovery.at == FAULT and recovery.time_to_recover == 0.0
    assert recovery.relapses == ()


def test_recovery_is_the_start_of_the_first_stretch_that_holds():
    # Healthy for 3 s after the outage, a second outage, then for good.
    recovery = recovery_of(BASE + "xxx" + "..." + "xx" + "." * 20, window=1)
    assert recovery.recovered
    assert recovery.at == 28.0  # the first success after the 2nd outage
    assert recovery.time_to_recover == pytest.approx(8.5)


@pytest.mark.parametrize(
    ("hold", "hold_operations", "at"),
    [
        (2.0, 0, 23.0),  # the 3 s stretch after the 1st outage holds 2 s
        (3.0, 0, 23.0),  # 23.0 up to the next failure at 26.0: exactly 3 s
        (3.5, 0, 28.0),
        (0.0, 4, 28.0),  # 3 operations are not 4
        (2.0, 3, 23.0),
    ],
)
def test_hold_in_seconds_and_operations(hold, hold_operations, at):
    recovery = recovery_of(
        BASE + "xxx" + "..." + "xx" + "." * 20,
        window=1,
        hold=hold,
        hold_operations=hold_operations,
    )
    assert recovery.at == at


def test_demo_case_two_slow_calls_at_the_very_end_are_a_relapse():
    # The demo's keystone run: back at baseline for 25 s, then the last two
    # calls of the run are slow. That is a relapse at the end, not "never
    # recovered".
    pattern = BASE + "xxx" + "." * 25 + "SS"
    recovery = recovery_of(pattern, window=9, persistence=3)
    assert recovery.recovered
    assert recovery.at == 23.0
    (relapse,) = recovery.relapses
    assert relapse.reaches_end and relapse.failures == 0
    assert relapse.worst_ratio == pytest.approx((7 * 0.1 + 2 * 1.0) / 9 / 0.1)


def test_relapse_in_the_middle_is_counted_with_its_figures():
    pattern = BASE + "xxx" + "." * 15 + "xx.x" + "." * 15 + "SSSS" + "." * 15
    recovery = recovery_of(pattern, window=1)
    assert recovery.at == 23.0
    outage, slow = recovery.relapses
    assert (outage.start, outage.failures, outage.worst_ratio) == (
        38.0,
        3,
        pytest.approx(1.0),
    )
    assert (slow.start, slow.operations, slow.failures) == (57.0, 4, 0)
    assert slow.worst_ratio == pytest.approx(10.0)
    assert not slow.reaches_end
    assert recovery.relapse_seconds == pytest.approx(outage.length + 4.0)


def test_short_slow_blips_below_persistence_are_not_relapses():
    pattern = BASE + "." * 20 + "SS" + "." * 20
    recovery = recovery_of(pattern, window=1, persistence=3)
    assert recovery.recovered and recovery.relapses == ()


def test_never_recovered_still_failing_with_its_length():
    recovery = recovery_of(BASE + "x" * 15)
    assert recovery.state == rec.NEVER
    assert recovery.reason == rec.STILL_FAILING
    assert recovery.unhealthy_for == pytest.approx(14.01)
    assert recovery.above_threshold is None


def test_never_recovered_still_degraded_says_how_far_above():
    recovery = recovery_of(BASE + "xx" + "S" * 15, window=1)
    assert recovery.state == rec.NEVER
    assert recovery.reason == rec.STILL_DEGRADED
    assert recovery.unhealthy_for == pytest.approx(17.0)
    assert recovery.above_threshold == pytest.approx(10.0)


def test_run_too_short_after_the_fault_is_undetermined():
    recovery = recovery_of(BASE + "xxx" + "." * 6)
    assert recovery.state == rec.UNDETERMINED
    assert recovery.observed == pytest.approx(5.1)
    assert recovery.reason == ""


def test_a_run_that_ends_at_the_fault_is_undetermined():
    recovery = recovery_of(BASE, fault_at=19.95)
    assert recovery.state == rec.UNDETERMINED


def test_margin_separates_a_small_steady_shift_from_degradation():
    # After the outage every call is 8 % slower than the baseline p95.
    durations = [0.1] * 20 + [0.01] * 3 + [0.108] * 30
    failed = [False] * 20 + [True] * 3 + [False] * 30
    timeline = Timeline.from_columns(
        [float(i) for i in range(53)], durations, failed
    )

    def analyse(margin):
        config = AnalysisConfig(window=1, recovery_margin=margin)
        return FaultAnalysis(timeline, FAULT, config).recovery

    assert analyse(0.0).state == rec.NEVER
    assert analyse(0.1).recovered and analyse(0.1).at == 23.0


def test_lasting_shift_is_reported_with_its_size():
    before = 0.080 + NOISE
    after = 0.086 + NOISE
    durations = np.concatenate((before, [0.01] * 3, after))
    failed = [False] * 40 + [True] * 3 + [False] * 40
    timeline = Timeline.from_columns(
        [float(i) for i in range(83)], durations, failed
    )
    config = AnalysisConfig(recovery_margin=0.1, min_shift=0.05)
    recovery = FaultAnalysis(timeline, 39.5, config).recovery
    assert recovery.recovered
    assert recovery.shift.lasting
    assert recovery.shift.ratio == pytest.approx(0.075)
    assert recovery.shift.p_value < 1e-6
    strict = FaultAnalysis(
        timeline, 39.5, AnalysisConfig(recovery_margin=0.1, min_shift=0.1)
    ).recovery
    assert not strict.shift.lasting


def test_no_shift_when_back_to_the_same_level():
    durations = np.concatenate((0.08 + NOISE, [0.01] * 3, 0.08 + NOISE[::-1]))
    failed = [False] * 40 + [True] * 3 + [False] * 40
    timeline = Timeline.from_columns(
        [float(i) for i in range(83)], durations, failed
    )
    shift = FaultAnalysis(timeline, 39.5).recovery.shift
    assert not shift.lasting and shift.ratio == pytest.approx(0.0)


def test_recovery_at_sub_second_sampling():
    # 10 operations a second: the hold is counted in seconds, not calls.
    pattern = "." * 200 + "x" * 30 + "." * 95
    recovery = recovery_of(pattern, fault_at=19.95, interval=0.1)
    assert recovery.state == rec.UNDETERMINED
    assert recovery.observed == pytest.approx(9.5)
    longer = recovery_of(pattern + "." * 10, fault_at=19.95, interval=0.1)
    assert longer.recovered
    assert longer.at == pytest.approx(23.0)


@pytest.mark.parametrize(
    "config",
    [
        {"hold": -1},
        {"hold_operations": -1},
        {"recovery_margin": -0.1},
        {"min_shift": float("nan")},
        {"hold": float("inf")},
    ],
)
def test_invalid_recovery_settings_are_rejected(config):
    with pytest.raises(ValueError):
        AnalysisConfig(**config)


def test_trouble_to_the_end_for_a_whole_hold_is_never_recovered():
    # Healthy for 12 s after the fault, then failing for the last 15 s:
    # the failure held as long as the recovery did.
    recovery = recovery_of(BASE + "." * 12 + "x" * 15)
    assert recovery.state == rec.NEVER
    assert recovery.reason == rec.STILL_FAILING
    assert recovery.healthy_from == FAULT
    assert recovery.unhealthy_for == pytest.approx(14.01)
    # Shorter than the hold, the same trouble is a relapse at the end.
    relapsed = recovery_of(BASE + "." * 12 + "x" * 8)
    assert relapsed.recovered and relapsed.relapses[-1].reaches_end
    # Shorter than the stretch that held, it is a relapse at the end too.
    outlasted = recovery_of(BASE + "." * 20 + "x" * 15)
    assert outlasted.recovered and outlasted.at == FAULT
    (relapse,) = outlasted.relapses
    assert relapse.reaches_end and relapse.failures == 15
    # As long as that stretch, it is never recovered again.
    assert recovery_of(BASE + "." * 20 + "x" * 22).state == rec.NEVER

"""Table cases of the fault analysis, one operation per second."""

import pytest

from rally_osic.measure import AnalysisConfig, FaultAnalysis, Timeline
from tests.unit.measure.helpers import timeline_from_pattern

BASE = "." * 20  # 20 healthy operations; the fault hits at +19.5 s
FAULT = 19.5


def analyse(pattern, fault_at=FAULT, **config):
    return FaultAnalysis(
        timeline_from_pattern(pattern), fault_at, AnalysisConfig(**config)
    )


def test_transient_full_outage():
    analysis = analyse(BASE + "xxxx" + "." * 20)
    (outage,) = analysis.outages_after_fault
    assert (outage.start, outage.end) == (20.0, 23.0)
    assert outage.downtime == 3.0
    assert outage.uncertainty == pytest.approx(1.0)
    assert outage.full and outage.failures == 4
    assert not outage.open_ended
    assert analysis.recovery.recovered
    assert analysis.recovery.at == 24.0
    assert analysis.recovery.time_to_recover == pytest.approx(4.5)
    assert analysis.degradations == []


def test_partial_then_full_outage_to_the_end_never_recovers():
    analysis = analyse(BASE + "x.x.x" + "xxxxx")
    (outage,) = analysis.outages
    assert (outage.start, outage.end) == (20.0, 29.0)
    assert outage.successes == 2 and outage.failures == 8
    assert not outage.full
    assert outage.full_runs == ((20.0, 20.0), (22.0, 22.0), (24.0, 29.0))
    assert outage.full_downtime == 5.0
    assert outage.open_ended
    assert not analysis.recovery.recovered
    assert analysis.recovery.reason == "still failing"


@pytest.mark.parametrize(
    ("middle", "outages", "downtime", "uncertainty"),
    [
        ("x" + "." * 5 + "x", 2, 0.0, 2.0),  # gap of 5 successes splits
        ("x" + "." * 4 + "x", 1, 5.0, 1.0),  # gap of 4 does not
    ],
)
def test_cluster_gap_splits_outages(middle, outages, downtime, uncertainty):
    analysis = analyse(BASE + middle + "." * 10)
    assert len(analysis.outages_after_fault) == outages
    assert analysis.downtime == downtime
    assert analysis.downtime_uncertainty == pytest.approx(uncertainty)


def test_failures_before_the_fault_are_not_downtime():
    analysis = analyse("..........x........." + "." * 10)
    assert len(analysis.outages) == 1
    assert analysis.outages_after_fault == []
    assert analysis.downtime == 0.0
    assert analysis.baseline.failures == 1


def test_outage_at_load_start_has_no_gap_before():
    (outage,) = analyse("xxx" + "." * 10, fault_at=0.0).outages
    assert outage.starts_at_load_start
    assert outage.uncertainty == pytest.approx(0.5)


def test_degradation_period_with_exact_window():
    analysis = analyse(BASE + "S" * 6 + "." * 20, window=1)
    (period,) = analysis.degradations_after_fault
    assert (period.start, period.end) == (20.0, 26.0)
    assert period.operations == 6
    assert analysis.degraded_seconds == pytest.approx(6.0)
    assert analysis.worst_degradation_ratio == pytest.approx(10.0)
    assert analysis.recovery.time_to_recover == pytest.approx(6.5)


def test_a_single_slow_operation_is_not_degradation():
    analysis = analyse(BASE + "S" + "." * 20, window=1, persistence=3)
    assert analysis.degradations == []
    assert analysis.recovery.time_to_recover == 0.0


def test_degraded_until_the_end_never_recovers():
    analysis = analyse(BASE + "S" * 10, window=1)
    assert not analysis.recovery.recovered
    assert analysis.recovery.reason == "still degraded"


def test_centred_window_smears_degradation_around_slow_operations():
    analysis = analyse(BASE + "S" * 6 + "." * 20, window=5)
    (period,) = analysis.degradations
    assert (period.start, period.end) == (18.0, pytest.approx(27.1))


def test_threshold_is_the_configured_percentile_of_successes():
    durations = [0.1 * (i + 1) for i in range(20)] + [5.0] * 5
    timeline = Timeline.from_columns(
        [float(i) for i in range(25)], durations, [False] * 25
    )
    baseline = FaultAnalysis(
        timeline, 19.95, AnalysisConfig(percentile=50)
    ).baseline
    assert baseline.samples == 19  # op 19 ends at 21.0, after the fault
    assert baseline.threshold == pytest.approx(1.0)
    assert baseline.mean == pytest.approx(1.0)


def test_too_small_baseline_is_reported_not_raised():
    baseline = analyse(".....", fault_at=4.5).baseline
    assert baseline.samples == 5 and not baseline.sufficient
    assert baseline.threshold == pytest.approx(0.1)
    empty = analyse("xxxxx", fault_at=4.5).baseline
    assert empty.samples == 0 and empty.threshold is None


def test_warmup_is_cut_from_the_baseline():
    pattern = "S" * 5 + "." * 15 + "." * 10
    assert analyse(pattern).baseline.threshold == pytest.approx(1.0)
    cut = analyse(pattern, warmup_iterations=5).baseline
    assert cut.samples == 15
    assert cut.threshold == pytest.approx(0.1)


def test_growing_baseline_is_flagged():
    count = 60
    timeline = Timeline.from_columns(
        [float(i) for i in range(count)],
        [0.1 + 0.01 * i for i in range(count)],
        [False] * count,
    )
    trend = FaultAnalysis(timeline, 59.5).baseline.trend
    assert trend.growing and trend.rho == pytest.approx(1.0)
    assert trend.growth > 1.0


def test_flat_noisy_baseline_is_not_flagged():
    durations = [0.1 + 0.05 * ((i * 7) % 5) for i in range(60)]
    timeline = Timeline.from_columns(
        [float(i) for i in range(60)], durations, [False] * 60
    )
    assert not FaultAnalysis(timeline, 59.5).baseline.trend.growing


def test_fault_outside_load():
    assert not analyse(BASE, fault_at=100.0).fault_within_load
    assert analyse(BASE, fault_at=5.0).fault_within_load


@pytest.mark.parametrize(
    "config",
    [
        {"percentile": 0},
        {"percentile": 101},
        {"window": 0},
        {"persistence": 0},
        {"cluster_gap": 0},
        {"min_baseline": 0},
        {"warmup_iterations": -1},
    ],
)
def test_invalid_config_is_rejected(config):
    with pytest.raises(ValueError):
        AnalysisConfig(**config)


def test_config_from_options_ignores_other_keys():
    config = AnalysisConfig.from_options(
        {"max": 10, "window": 3, "percentile": 99, "fault_at": {}}
    )
    assert config == AnalysisConfig(window=3, percentile=99)

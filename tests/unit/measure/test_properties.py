"""Properties of the fault analysis over random runs (hypothesis)."""

import dataclasses
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from rally_osic.measure import AnalysisConfig, FaultAnalysis, Timeline


@st.composite
def runs(draw):
    count = draw(st.integers(1, 120))
    gaps = draw(
        st.lists(st.floats(0.001, 5.0), min_size=count, max_size=count)
    )
    durations = draw(
        st.lists(st.floats(0.0, 20.0), min_size=count, max_size=count)
    )
    failed = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    timestamps, now = [], 1_700_000_000.0
    for gap in gaps:
        now += gap
        timestamps.append(now)
    span = timestamps[-1] - timestamps[0] + durations[-1]
    fault_at = draw(st.floats(0.0, max(span, 0.0)))
    config = AnalysisConfig(
        window=draw(st.integers(1, 9)),
        persistence=draw(st.integers(1, 5)),
        cluster_gap=draw(st.integers(1, 6)),
        min_baseline=draw(st.integers(1, 10)),
    )
    return timestamps, durations, failed, fault_at, config


def summary(analysis):
    return (
        analysis.baseline,
        analysis.outages,
        analysis.degradations,
        analysis.recovery,
        [series.tolist() for series in analysis.running_mean],
    )


@given(runs(), st.randoms())
@settings(max_examples=200, deadline=None)
def test_storage_order_changes_nothing(run, rnd: random.Random):
    timestamps, durations, failed, fault_at, config = run
    ordered = Timeline.from_columns(timestamps, durations, failed)
    order = list(range(len(timestamps)))
    rnd.shuffle(order)
    shuffled = Timeline.from_columns(
        [timestamps[i] for i in order],
        [durations[i] for i in order],
        [failed[i] for i in order],
    )
    assert summary(FaultAnalysis(ordered, fault_at, config)) == summary(
        FaultAnalysis(shuffled, fault_at, config)
    )


@given(runs())
@settings(max_examples=300, deadline=None)
def test_downtime_is_bounded_by_the_run(run):
    timestamps, durations, failed, fault_at, config = run
    timeline = Timeline.from_columns(timestamps, durations, failed)
    analysis = FaultAnalysis(timeline, fault_at, config)
    assert 0.0 <= analysis.downtime <= timeline.end
    for outage in analysis.outages:
        assert 0.0 <= outage.full_downtime <= outage.downtime
        assert outage.uncertainty >= 0.0
    assert sum(o.failures for o in analysis.outages) == sum(failed)


@given(runs())
@settings(max_examples=300, deadline=None)
def test_outages_and_degradations_are_ordered_and_disjoint(run):
    timestamps, durations, failed, fault_at, config = run
    analysis = FaultAnalysis(
        Timeline.from_columns(timestamps, durations, failed), fault_at, config
    )
    for earlier, later in zip(analysis.outages, analysis.outages[1:]):
        assert earlier.end < later.start
    for period in analysis.degradations:
        assert period.start <= period.end
        assert period.operations >= config.persistence
    for earlier, later in zip(
        analysis.degradations, analysis.degradations[1:]
    ):
        assert earlier.start < later.start


@given(runs())
@settings(max_examples=300, deadline=None)
def test_recovery_happens_within_the_run(run):
    timestamps, durations, failed, fault_at, config = run
    timeline = Timeline.from_columns(timestamps, durations, failed)
    analysis = FaultAnalysis(timeline, fault_at, config)
    recovery = analysis.recovery
    if recovery is None:
        assert analysis.baseline.threshold is None
        return
    if recovery.recovered:
        assert recovery.at >= fault_at
        assert recovery.time_to_recover == recovery.at - fault_at
        assert recovery.at <= timeline.end + 1e-9
        for earlier, later in zip(recovery.relapses, recovery.relapses[1:]):
            assert earlier.start < later.start
        for relapse in recovery.relapses:
            assert relapse.start > recovery.at
            assert relapse.operations >= 1
    elif recovery.state == "never recovered":
        assert recovery.reason in ("still failing", "still degraded")
        assert 0.0 <= recovery.unhealthy_for <= timeline.end
    else:
        assert recovery.state == "undetermined"
        assert 0.0 <= recovery.observed <= timeline.end


@given(runs(), st.floats(0.0, 30.0), st.floats(0.0, 30.0))
@settings(max_examples=300, deadline=None)
def test_a_longer_hold_never_recovers_earlier(run, hold_a, hold_b):
    timestamps, durations, failed, fault_at, config = run
    timeline = Timeline.from_columns(timestamps, durations, failed)
    short, long = sorted((hold_a, hold_b))

    def recovery(hold):
        return FaultAnalysis(
            timeline, fault_at, dataclasses.replace(config, hold=hold)
        ).recovery

    quick, slow = recovery(short), recovery(long)
    if slow is not None and slow.recovered:
        if quick.recovered:
            assert quick.at <= slow.at
        else:
            # The one way back: trouble at the end that lasts the short
            # hold (though not the long one) outweighs the stretch that
            # held before it.
            assert quick.state == "never recovered"
            assert quick.healthy_from is not None
            assert quick.healthy_from <= slow.at


@given(runs(), st.floats(0.0, 2.0), st.floats(0.0, 2.0))
@settings(max_examples=300, deadline=None)
def test_a_wider_margin_never_recovers_later(run, margin_a, margin_b):
    timestamps, durations, failed, fault_at, config = run
    timeline = Timeline.from_columns(timestamps, durations, failed)
    tight, wide = sorted((margin_a, margin_b))

    def recovery(margin):
        return FaultAnalysis(
            timeline,
            fault_at,
            dataclasses.replace(config, recovery_margin=margin),
        ).recovery

    strict, lenient = recovery(tight), recovery(wide)
    if strict is not None and strict.recovered:
        assert lenient.recovered and lenient.at <= strict.at


@given(runs())
@settings(max_examples=100, deadline=None)
def test_no_failures_means_no_downtime(run):
    timestamps, durations, _, fault_at, config = run
    analysis = FaultAnalysis(
        Timeline.from_columns(timestamps, durations, [False] * len(durations)),
        fault_at,
        config,
    )
    assert analysis.outages == [] and analysis.downtime == 0.0

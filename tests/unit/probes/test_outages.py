"""Outages from sequence numbers (rally_osic/probes/outages.py)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rally_osic.probes import outages as ot


def record(lost=(), skipped=(), last=999, interval=0.001, t0=100.0):
    sent = last + 1 - sum(b - a + 1 for a, b in skipped)
    lost_count = sum(b - a + 1 for a, b in lost)
    return ot.ProbeRecord.from_json(
        {
            "interval": interval,
            "t0": t0,
            "last_slot": last,
            "sent": sent,
            "answered": sent - lost_count,
            "lost": [list(r) for r in lost],
            "skipped": [list(r) for r in skipped],
        }
    )


def test_no_loss_no_outage():
    assert ot.outages(record()) == []


@pytest.mark.parametrize(
    ("lost", "skipped", "expected"),
    [
        # one run of 200 lost slots at 1 ms: 200 ms
        ([(100, 299)], [], [(100, 299, 200, 0.2)]),
        # skipped slots inside an outage belong to it
        ([(100, 149), (160, 299)], [(150, 159)], [(100, 299, 190, 0.2)]),
        # an answered slot between two runs splits them
        (
            [(100, 149), (151, 160)],
            [],
            [(100, 149, 50, 0.05), (151, 160, 10, 0.01)],
        ),
    ],
)
def test_outages_count_slots_not_replies(lost, skipped, expected):
    found = ot.outages(record(lost, skipped))
    assert [
        (o.first_slot, o.last_slot, o.lost, round(o.duration, 6))
        for o in found
    ] == expected


def test_skipped_edges_are_uncertainty_not_downtime():
    (outage,) = ot.outages(record([(100, 199)], [(95, 99), (200, 202)]))
    assert outage.duration == pytest.approx(0.1)
    assert outage.uncertainty == pytest.approx(0.008)
    assert outage.start == pytest.approx(100.1)


def test_sparse_ping_misses_short_outages():
    # A 200 ms outage between two 500 ms pings is invisible to them.
    short = ot.sparse_ping(record([(600, 799)], last=1999), 0.5)
    assert (short.probes, short.lost, short.downtime) == (4, 0, 0.0)
    # A 1.2 s outage from 0.4 s covers the pings at 0.5, 1.0 and 1.5 s.
    long = ot.sparse_ping(record([(400, 1599)], last=1999), 0.5)
    assert long.lost == 3 and long.downtime == 1.5


def test_sparse_ping_takes_a_skipped_slot_from_its_neighbour():
    found = ot.sparse_ping(
        record([(495, 505)], skipped=[(500, 500)], last=999), 0.5
    )
    assert found.lost == 1


def test_runs_of():
    assert ot.runs_of([7, 1, 2, 3, 3]) == [[1, 3], [7, 7]]


def test_bad_runs_are_refused():
    with pytest.raises(ValueError):
        record([(10, 5)])
    with pytest.raises(ValueError):
        record([(10, 20), (15, 30)])


@given(
    st.sets(st.integers(0, 499), max_size=200),
    st.sets(st.integers(0, 499), max_size=50),
)
def test_downtime_is_lost_slots_plus_skipped_gaps(lost_slots, skipped_slots):
    skipped_slots -= lost_slots
    rec = record(
        [tuple(r) for r in ot.runs_of(lost_slots)],
        [tuple(r) for r in ot.runs_of(skipped_slots)],
        last=499,
    )
    found = ot.outages(rec)
    assert sum(o.lost for o in found) == len(lost_slots)
    covered = set()
    for o in found:
        span = set(range(o.first_slot, o.last_slot + 1))
        assert span <= lost_slots | skipped_slots
        covered |= span
    assert covered >= lost_slots
    assert ot.downtime(found) == pytest.approx(len(covered) * 0.001)


def test_summarize_reports_the_500ms_replay():
    summary = ot.summarize(
        {
            "interval": 0.01,
            "t0": 0.0,
            "last_slot": 299,
            "sent": 300,
            "answered": 200,
            "lost": [[100, 199]],
            "skipped": [],
        }
    )
    assert summary.downtime == pytest.approx(1.0)
    assert summary.to_json()["ping_500ms_downtime"] == 1.0

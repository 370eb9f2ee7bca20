import pytest

from rally_osic.measure import Timeline


def test_sorts_by_start_and_uses_first_start_as_origin():
    timeline = Timeline.from_iterations(
        [
            {"timestamp": 105.0, "duration": 1.0, "error": []},
            {"timestamp": 100.0, "duration": 9.0, "error": ["E", "m", "t"]},
            {"timestamp": 102.5, "duration": 0.5, "error": []},
        ]
    )
    assert timeline.origin == 100.0
    assert timeline.starts.tolist() == [0.0, 2.5, 5.0]
    assert timeline.durations.tolist() == [9.0, 0.5, 1.0]
    assert timeline.failed.tolist() == [True, False, False]
    assert timeline.end == 9.0


def test_missing_duration_counts_as_zero():
    timeline = Timeline.from_iterations(
        [{"timestamp": 1.0, "duration": None, "error": ["E", "m", "t"]}]
    )
    assert timeline.durations.tolist() == [0.0]


def test_start_of_iteration_is_one_based_and_bounded():
    timeline = Timeline.from_columns([10.0, 11.0], [0.1, 0.1], [0, 0])
    assert timeline.start_of_iteration(1) == 0.0
    assert timeline.start_of_iteration(2) == 1.0
    assert timeline.start_of_iteration(3) is None
    assert timeline.start_of_iteration(0) is None


def test_empty_timeline():
    timeline = Timeline.from_iterations([])
    assert len(timeline) == 0
    assert timeline.end == 0.0


def test_columns_of_different_sizes_are_rejected():
    with pytest.raises(ValueError):
        Timeline.from_columns([1.0], [1.0, 2.0], [False])


def test_successful_columns():
    timeline = Timeline.from_columns(
        [0.0, 1.0, 2.0], [0.1, 0.2, 0.3], [False, True, False]
    )
    starts, durations = timeline.successful()
    assert (starts.tolist(), durations.tolist()) == ([0.0, 2.0], [0.1, 0.3])

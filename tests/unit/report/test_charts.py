import numpy as np

from rally_osic.measure import FaultAnalysis, Timeline
from rally_osic.report import charts


def test_failure_intervals_merge_consecutive_failures():
    starts = [0, 1, 2, 3, 4, 5]
    durations = [0.1, 0.1, 0.1, 0.1, 0.1, 0.1]
    failed = [False, True, True, False, True, False]
    assert charts.failure_intervals(starts, durations, failed) == [
        (1.0, 2.1),
        (4.0, 4.1),
    ]


def test_running_mean_is_cut_across_failures():
    timeline = Timeline.from_columns(
        [0, 1, 2, 3, 4], [1, 1, 1, 1, 1], [False, False, True, False, False]
    )
    times, values = charts.broken_at_failures(
        timeline, np.array([0.0, 1.0, 3.0, 4.0]), np.array([1.0] * 4)
    )
    assert np.isnan(times[2]) and len(times) == 5


def test_renders_png_and_svg():
    rng = np.random.default_rng(1)
    starts = np.arange(200) * 0.5 + 1e9
    failed = (starts > 1e9 + 50) & (starts < 1e9 + 60)
    durations = rng.uniform(0.1, 0.2, 200)
    analysis = FaultAnalysis(
        Timeline.from_columns(starts, durations, failed), 45
    )
    rendered = charts.render_chart(
        analysis, ("Rally task x", "A.b — kill"), 43.0, ("png", "svg")
    )
    assert rendered["png"].startswith(b"\x89PNG")
    assert b"<svg" in rendered["svg"][:500]
    assert b"Failure Injection" in rendered["svg"]

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rally_osic.measure import stats


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        ([1.0], 95, 1.0),
        ([1.0, 2.0], 50, 1.5),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 0, 1.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 100, 5.0),
        ([5.0, 1.0, 4.0, 2.0, 3.0], 95, 4.8),
        ([float(v) for v in range(1, 21)], 95, 19.05),
    ],
)
def test_percentile_matches_numpy_linear(values, pct, expected):
    assert stats.percentile(values, pct) == pytest.approx(expected)


@given(
    st.lists(st.floats(0, 1e6), min_size=1, max_size=200),
    st.floats(0, 100),
)
def test_percentile_agrees_with_numpy(values, pct):
    numpy = pytest.importorskip("numpy")
    assert stats.percentile(values, pct) == pytest.approx(
        float(numpy.percentile(values, pct)), rel=1e-9, abs=1e-9
    )


def test_percentile_rejects_empty_and_out_of_range():
    with pytest.raises(ValueError):
        stats.percentile([], 50)
    with pytest.raises(ValueError):
        stats.percentile([1.0], 101)


@pytest.mark.parametrize(
    ("values", "window", "expected"),
    [
        ([1, 2, 3, 4, 5], 1, [1, 2, 3, 4, 5]),
        ([1, 2, 3, 4, 5], 3, [2, 2, 3, 4, 4]),
        ([0, 0, 9, 0, 0], 3, [3, 3, 3, 3, 3]),
        ([0, 0, 0, 0, 9], 3, [0, 0, 0, 3, 3]),
        ([1, 2, 3, 4, 5, 6], 4, [2.5, 2.5, 3.5, 4.5, 4.5, 4.5]),
        ([2, 4], 5, [3, 3]),
        ([], 3, []),
    ],
)
def test_centered_running_mean(values, window, expected):
    assert stats.centered_running_mean(values, window) == pytest.approx(
        expected
    )


@given(st.lists(st.floats(0, 1e3), max_size=100), st.integers(1, 30))
def test_running_mean_stays_within_range(values, window):
    means = stats.centered_running_mean(values, window)
    assert len(means) == len(values)
    if values:
        assert min(values) - 1e-9 <= min(means)
        assert max(means) <= max(values) + 1e-9


@given(st.lists(st.floats(0, 1e3), min_size=1, max_size=60), st.integers(1, 9))
def test_every_running_mean_averages_a_full_window(values, window):
    # Edges included: the last values (the recovery verdict) are judged on
    # as many operations as the middle ones.
    span = min(window, len(values))
    means = stats.centered_running_mean(values, window)
    windows = [
        sum(values[i : i + span]) / span for i in range(len(values) - span + 1)
    ]
    for mean in means:
        assert min(abs(mean - w) for w in windows) <= 1e-6 * (1 + mean)


@pytest.mark.parametrize(
    ("xs", "ys", "expected"),
    [
        ([1, 2, 3, 4], [10, 20, 30, 40], 1.0),
        ([1, 2, 3, 4], [4, 3, 2, 1], -1.0),
        ([1, 2, 3, 4], [1, 1, 1, 1], 0.0),
        ([1, 2, 3], [1, 9, 2], 0.5),
    ],
)
def test_spearman(xs, ys, expected):
    assert stats.spearman_rho(xs, ys) == pytest.approx(expected)


def test_spearman_is_invariant_to_monotonic_transform():
    xs = list(range(50))
    ys = [((i * 37) % 50) for i in xs]
    assert stats.spearman_rho(xs, ys) == pytest.approx(
        stats.spearman_rho(xs, [math.exp(y / 10) for y in ys])
    )


@pytest.mark.parametrize(
    ("xs", "ys", "expected"),
    [
        # scipy.stats.mannwhitneyu(..., alternative="two-sided",
        # method="asymptotic", use_continuity=True) on the same samples
        ([1, 2, 3, 4, 5], [6, 7, 8, 9, 10], 0.012185780355344813),
        (
            [0.1, 0.2, 0.2, 0.3, 0.5, 0.5],
            [0.2, 0.4, 0.5, 0.6, 0.6, 0.7, 0.9],
            0.050835582280956304,
        ),
        ([1, 1, 1], [1, 1, 2], 0.5049850750938458),
        ([2, 2, 2], [2, 2], 1.0),
    ],
)
def test_mann_whitney_matches_scipy(xs, ys, expected):
    assert stats.mann_whitney_p(xs, ys) == pytest.approx(expected, rel=1e-9)
    assert stats.mann_whitney_p(ys, xs) == pytest.approx(expected, rel=1e-9)

import numpy as np

from rally_osic.measure import AnalysisConfig, FaultAnalysis, Timeline
from rally_osic.report import commentary


def analysis_of(pattern, fault_at=20.0, rate=1.0):
    """pattern: one char per second, '.' success, 'x' failure, 's' slow."""
    starts = np.arange(len(pattern)) / rate
    noise = np.random.default_rng(1).uniform(0.9, 1.1, len(pattern))
    durations = np.array([0.5 if c == "s" else 0.1 for c in pattern]) * noise
    failed = np.array([c == "x" for c in pattern])
    timeline = Timeline.from_columns(starts + 1e9, durations, failed)
    return FaultAnalysis(timeline, fault_at, AnalysisConfig())


def text_of(analysis, triggered=None, healthy=None, source="hook"):
    return " ".join(
        commentary.describe(analysis, triggered, healthy, source, [])
    )


def test_partial_then_full_outage_to_the_end():
    pattern = "." * 30 + ".x" * 18 + "x" * 40
    text = text_of(analysis_of(pattern))
    assert "Failures coexist with successful operations from +31.0 s" in text
    assert "17 successes in between" in text
    assert (
        "for 34.0 s, then only failures: downtime from +65.0 s to the end"
        in (text)
    )
    assert "did not recover" in text


def test_full_outage_then_recovery():
    text = text_of(analysis_of("." * 30 + "x" * 10 + "." * 40))
    assert (
        "Only failures from +30.0 s to +39.0 s: 10 failed operations" in text
    )
    assert "recovered" in text


def test_no_effect():
    text = text_of(analysis_of("." * 80))
    assert "no measurable effect" in text


def test_measured_fault_mentions_trigger_and_delay():
    text = text_of(analysis_of("." * 80), triggered=17.5, source="measured")
    assert "triggered at +17.5 s and observed to take effect at +20.0 s" in (
        text
    )
    assert "2.5 s later" in text


def test_degradation_is_described_against_baseline():
    text = text_of(analysis_of("." * 30 + "s" * 10 + "." * 40))
    assert "Performance degraded for" in text
    assert "× the baseline mean" in text

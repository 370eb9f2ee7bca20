"""The fault SLA plugins, fed iterations directly (no Rally engine)."""

import pytest
from rally.plugins.common import validators  # noqa: F401 (registers them)
from rally.task import sla

from rally_osic import faultclock
from rally_osic.plugins.sla import (
    fault_degradation,
    fault_downtime,
    fault_recovery,
)

ORIGIN = 1_700_000_000.0


def iterations(pattern, interval=1.0):
    """One iteration per character: "." ok, "S" slow, "x" failed."""
    durations = {".": 0.1, "S": 1.0, "x": 0.01}
    return [
        {
            "timestamp": ORIGIN + i * interval,
            "duration": durations[c],
            "idle_duration": 0,
            "error": ["ConnectionError", "refused", "tb"] if c == "x" else [],
            "output": {"additive": [], "complete": []},
            "atomic_actions": [],
        }
        for i, c in enumerate(pattern)
    ]


def run_sla(cls, config, pattern, reverse=False):
    criterion = cls(config)
    items = iterations(pattern)
    for item in reversed(items) if reverse else items:
        assert criterion.add_iteration(item) is True
    return criterion.result()


TRANSIENT = "." * 20 + "xxxx" + "S" * 5 + "." * 20
AT_20 = {"unit": "time", "at": 19.5}


@pytest.fixture(autouse=True)
def no_published_faults():
    faultclock.clear()
    yield
    faultclock.clear()


@pytest.mark.parametrize(
    ("config", "success", "detail"),
    [
        (
            {"max": 5, "fault_at": AT_20},
            True,
            "downtime 3.0 s ± 1.0 s in 1 outage, 1 full, 0 partial "
            "(limit 5 s): PASS (fault at +19.5 s, trigger)",
        ),
        (
            {"max": 2.5, "fault_at": AT_20},
            False,
            "downtime 3.0 s ± 1.0 s in 1 outage, 1 full, 0 partial "
            "(limit 2.5 s): FAIL (fault at +19.5 s, trigger)",
        ),
        (
            {"max": 0, "fault_at": {"unit": "time", "at": 40}},
            True,
            "downtime 0.0 s ± 0.0 s in 0 outages (limit 0 s): PASS "
            "(fault at +40.0 s, trigger)",
        ),
    ],
)
def test_downtime(config, success, detail):
    result = run_sla(fault_downtime.FaultDowntime, config, TRANSIENT)
    assert result == {
        "criterion": "fault_downtime",
        "success": success,
        "detail": detail,
    }


def test_downtime_counts_only_full_stretches_when_asked():
    pattern = "." * 20 + "x.xxxx" + "." * 10  # 5 s in all, 3 s full
    config = {"max": 4, "fault_at": AT_20}
    assert not run_sla(fault_downtime.FaultDowntime, config, pattern)[
        "success"
    ]
    result = run_sla(
        fault_downtime.FaultDowntime, {**config, "full_only": True}, pattern
    )
    assert result["success"]
    assert result["detail"].startswith("full downtime 3.0 s")


def test_fault_at_iteration_uses_that_iteration_start():
    result = run_sla(
        fault_downtime.FaultDowntime,
        {"max": 5, "fault_at": {"unit": "iteration", "at": 21}},
        TRANSIENT,
    )
    assert result["detail"].endswith(
        "(fault at +20.0 s, trigger, iteration 21)"
    )


def test_fault_iteration_never_reached_fails_clearly():
    result = run_sla(
        fault_downtime.FaultDowntime,
        {"max": 5, "fault_at": {"unit": "iteration", "at": 500}},
        TRANSIENT,
    )
    assert not result["success"]
    assert result["detail"] == (
        "fault at iteration 500 never happened: the load ran 49 "
        "iterations: FAIL"
    )


def test_fault_after_the_load_fails_clearly():
    result = run_sla(
        fault_recovery.FaultRecovery,
        {"fault_at": {"unit": "time", "at": 500}},
        TRANSIENT,
    )
    assert not result["success"]
    assert "is outside the load" in result["detail"]


def test_no_fault_time_fails_clearly():
    result = run_sla(fault_recovery.FaultRecovery, {}, TRANSIENT)
    assert result == {
        "criterion": "fault_recovery",
        "success": False,
        "detail": "no fault time: set fault_at, or run the osic_fault hook "
        "in this workload: FAIL",
    }


def test_measured_fault_time_wins_over_trigger_unless_disabled():
    faultclock.publish(
        faultclock.PublishedFault(
            triggered_at=ORIGIN + 15.0, effective_at=ORIGIN + 19.8
        )
    )
    config = {"max": 5, "fault_at": {"unit": "time", "at": 15}}
    measured = run_sla(fault_downtime.FaultDowntime, config, TRANSIENT)
    assert measured["detail"].endswith("(fault at +19.8 s, measured)")
    configured = run_sla(
        fault_downtime.FaultDowntime,
        {**config, "prefer_measured": False},
        TRANSIENT,
    )
    assert configured["detail"].endswith("(fault at +15.0 s, trigger)")


def test_fault_published_outside_the_load_is_ignored():
    faultclock.publish(
        faultclock.PublishedFault(ORIGIN - 100.0, ORIGIN - 90.0)
    )
    result = run_sla(
        fault_downtime.FaultDowntime, {"max": 5, "fault_at": AT_20}, TRANSIENT
    )
    assert result["detail"].endswith("(fault at +19.5 s, trigger)")


@pytest.mark.parametrize(
    ("config", "success", "start"),
    [
        (
            {"max_seconds": 10, "window": 1},
            True,
            "degraded 5.0 s, worst period 10.00x baseline mean (limit 10 s)",
        ),
        ({"max_seconds": 4, "window": 1}, False, "degraded 5.0 s"),
        (
            {"max_ratio": 5, "window": 1},
            False,
            "degraded 5.0 s, worst period 10.00x baseline mean (limit 5x)",
        ),
    ],
)
def test_degradation(config, success, start):
    result = run_sla(
        fault_degradation.FaultDegradation,
        {**config, "fault_at": AT_20},
        TRANSIENT,
    )
    assert result["success"] is success
    assert result["detail"].startswith(start)
    assert (
        "threshold p95 = 0.100 s from 20 baseline samples"
        in (result["detail"])
    )


def test_degradation_reports_a_growing_baseline():
    criterion = fault_degradation.FaultDegradation(
        {"max_seconds": 1000, "fault_at": {"unit": "time", "at": 59.5}}
    )
    for i in range(70):
        criterion.add_iteration(
            {"timestamp": ORIGIN + i, "duration": 0.1 + 0.01 * i, "error": []}
        )
    assert "baseline grows" in criterion.result()["detail"]


@pytest.mark.parametrize(
    ("pattern", "config", "success", "detail"),
    [
        (
            TRANSIENT,
            {"window": 1},
            True,
            "recovered 9.5 s after the fault, held 10 s and 5 operations "
            "(limit 300 s): PASS",
        ),
        (
            TRANSIENT,
            {"window": 1, "within": 5},
            False,
            "recovered 9.5 s after the fault, held 10 s and 5 operations "
            "(limit 5 s): FAIL",
        ),
        (
            TRANSIENT + "SSS",
            {"window": 1},
            True,
            "recovered 9.5 s after the fault, held 10 s and 5 operations "
            "(limit 300 s); 1 relapse (3.0 s, worst 10.00x baseline mean, "
            "the last at the end of the run): PASS",
        ),
        (
            "." * 20 + "xxxxx",
            {},
            False,
            "never recovered: still failing for the last 4.0 s "
            "(limit 300 s): FAIL",
        ),
        (
            "." * 20 + "xxxxx" + "SSSSSS",
            {"window": 1},
            False,
            "never recovered: still degraded for the last 11.0 s, running "
            "mean 10.00x the threshold (limit 300 s): FAIL",
        ),
        (
            "." * 20 + "xxxxx" + "....",
            {"window": 1},
            False,
            "run too short after the fault to judge recovery (3.1 s "
            "observed, hold 10 s and 5 operations; limit 300 s): FAIL",
        ),
        (
            "." * 5 + "xxxxx",
            {},
            False,
            "baseline too small: 5 successful samples before the fault "
            "(need 10): FAIL",
        ),
    ],
)
def test_recovery(pattern, config, success, detail):
    result = run_sla(
        fault_recovery.FaultRecovery,
        {
            **config,
            "fault_at": {
                "unit": "time",
                "at": len(pattern) and 19.5 if len(pattern) > 10 else 4.5,
            },
        },
        pattern,
    )
    assert result["success"] is success
    assert result["detail"].startswith(detail)


@pytest.mark.parametrize(
    ("cls", "config"),
    [
        (fault_downtime.FaultDowntime, {"max": 2, "fault_at": AT_20}),
        (
            fault_degradation.FaultDegradation,
            {"max_seconds": 2, "fault_at": AT_20},
        ),
        (fault_recovery.FaultRecovery, {"within": 5, "fault_at": AT_20}),
    ],
)
def test_merge_equals_one_pass_and_order_does_not_matter(cls, config):
    items = iterations(TRANSIENT)
    whole = cls(config)
    for item in items:
        whole.add_iteration(item)
    left, right = cls(config), cls(config)
    for item in items[::2]:
        right.add_iteration(item)
    for item in reversed(items[1::2]):
        left.add_iteration(item)
    assert left.merge(right) is True
    assert left.result() == whole.result()


def test_verdict_is_recomputed_after_more_iterations():
    criterion = fault_recovery.FaultRecovery({"fault_at": AT_20})
    for item in iterations("." * 20 + "xxxx"):
        criterion.add_iteration(item)
    assert not criterion.result()["success"]
    for item in iterations("." * 24 + "." * 12)[24:]:
        criterion.add_iteration(item)
    assert criterion.result()["success"]


@pytest.mark.parametrize(
    ("name", "config", "message"),
    [
        ("fault_downtime", {"max": -1}, "-1 is less than the minimum of 0"),
        (
            "fault_downtime",
            {"max": 1, "bogus": 1},
            "Additional properties are not allowed ('bogus' was unexpected)",
        ),
        ("fault_downtime", {}, "'max' is a required property"),
        ("fault_recovery", {"within": -5}, "-5 is less than the minimum"),
        (
            "fault_degradation",
            {"percentile": 95},
            "is not valid under any of the given schemas",
        ),
        (
            "fault_recovery",
            {"fault_at": {"unit": "iteration", "at": 0.5}},
            "is not valid under any of the given schemas",
        ),
    ],
)
def test_bad_config_is_rejected(name, config, message):
    errors = sla.SLA.validate(
        name=name, context={}, config=None, plugin_cfg=config
    )
    assert errors and message in errors[0]


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("fault_downtime", {"max": 10, "fault_at": AT_20}),
        ("fault_degradation", {"max_ratio": 2, "percentile": 99}),
        ("fault_recovery", {}),
        (
            "fault_recovery",
            {"within": 60, "fault_at": {"unit": "iteration", "at": 100}},
        ),
    ],
)
def test_good_config_is_accepted(name, config):
    assert (
        sla.SLA.validate(name=name, context={}, config=None, plugin_cfg=config)
        == []
    )
